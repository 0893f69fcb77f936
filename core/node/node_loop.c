/*
 * The loop thread: the only one that touches the engine. It takes events
 * from the inbox (messages, proposals, reads, finished writes, snapshots),
 * ticks the engine every tick_ms, and handles each ready in the order of
 * <senate/sys/engine.h>.
 */
#define _POSIX_C_SOURCE 200809L

#include "node_impl.h"
#include "../base/storage_impl.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the leader streams a snapshot: the engine's snapshot_read hook ---- */

int sn__node_snapshot_read(void *ud, const sn_snapshot_meta *meta,
			   uint64_t offset, void *buf, size_t len,
			   size_t *n_read)
{
	sn_node *n = ud;

	if (!n->snd || n->snd_meta.index != meta->index ||
	    n->snd_meta.term != meta->term) {
		sn_snapshot_meta m;
		sn_snapshot_reader_close(n->snd);
		n->snd = NULL;
		int rv = sn_snapshot_reader_open(&n->snd, &m, n->snap_dir);
		if (rv)
			return rv;
		n->snd_meta = m;
		n->snd_meta.voters = NULL; /* belongs to the reader */
		if (m.index != meta->index || m.term != meta->term)
			return sn__err(SN_ENOTFOUND, "node: snapshot %llu is "
				       "gone (newest: %llu)",
				       (unsigned long long)meta->index,
				       (unsigned long long)m.index);
	}
	return sn_snapshot_read(n->snd, offset, buf, len, n_read);
}

/* ---- handling a ready --------------------------------------------------- */

static void send_all(sn_node *n, const sn_message *m, size_t k)
{
	for (size_t i = 0; i < k; i++)
		n->transport.send(n->transport.userdata, &m[i]);
}

/* Step 2: write received chunks into the snapshot's temporary file. */
static int write_chunks(sn_node *n, const sn_ready *rd)
{
	int rv;

	for (size_t i = 0; i < rd->n_snapshot_chunks; i++) {
		const sn_snapshot_chunk *c = &rd->snapshot_chunks[i];
		const sn_snapshot_meta *m = c->meta;
		if (!n->rcv_open || n->rcv_meta.index != m->index ||
		    n->rcv_meta.term != m->term ||
		    n->rcv_meta.size != m->size || n->rcv_meta.crc != m->crc) {
			if (n->rcv)
				sn_snapshot_writer_close(n->rcv);
			n->rcv = NULL;
			n->rcv_open = false;
			rv = sn_snapshot_writer_open(&n->rcv, n->snap_dir, m);
			if (rv)
				return rv;
			n->rcv_meta = *m;
			n->rcv_meta.voters = NULL;
			n->rcv_meta.n_voters = 0;
			n->rcv_open = true;
		}
		rv = sn_snapshot_write(n->rcv, c->offset, c->data, c->len);
		if (rv)
			return rv;
	}
	/* The chunks' acknowledgements promise durability. */
	return rd->n_snapshot_chunks ? sn_snapshot_writer_sync(n->rcv) : SN_OK;
}

/* Step 2's install: commit the file, have the apply thread restore the
 * state machine from it, record the install in the WAL. */
static int install(sn_node *n, const sn_snapshot_meta *m)
{
	sn__ap *ap;
	int rv;

	if (!n->rcv_open || n->rcv_meta.index != m->index ||
	    n->rcv_meta.term != m->term)
		return sn__err(SN_ESTATE, "node: told to install snapshot %llu "
			       "that was not received",
			       (unsigned long long)m->index);
	rv = sn_snapshot_writer_commit(n->rcv); /* frees the writer */
	n->rcv = NULL;
	n->rcv_open = false;
	if (rv)
		return rv;
	sn__log(SN_LOG_INFO, "node %llu: installed snapshot %llu (term %llu, "
		"%llu bytes)", (unsigned long long)n->id,
		(unsigned long long)m->index, (unsigned long long)m->term,
		(unsigned long long)m->size);
	ap = sn__calloc(1, sizeof *ap);
	if (ap && m->n_voters)
		ap->voters = sn__calloc(m->n_voters, sizeof *ap->voters);
	if (!ap || (m->n_voters && !ap->voters)) {
		sn__ap_free(ap);
		return sn__err(SN_ENOMEM, "node: out of memory");
	}
	ap->kind = SN__AP_RESTORE;
	ap->meta = *m;
	if (m->n_voters)
		memcpy(ap->voters, m->voters, m->n_voters * sizeof *ap->voters);
	ap->meta.voters = ap->voters;
	sn__node_ap_post(n, ap);
	return sn_storage_install(n->st, m, NULL, NULL);
}

static void on_write(void *ud, int status)
{
	sn__ev *ev = ud;
	sn_node *n = (sn_node *)ev->next; /* stashed at submission */

	ev->next = NULL;
	ev->status = status;
	sn__node_post(n, ev);
}

/* Steps 3 and 4: one ordered WAL write; once durable, the messages that
 * wait for it go out and the engine hears what is persisted. */
static int write_log(sn_node *n, const sn_ready *rd)
{
	sn__ev *ev = sn__calloc(1, sizeof *ev);
	int rv;

	if (!ev)
		return sn__err(SN_ENOMEM, "node: out of memory");
	ev->kind = SN__EV_WRITE_DONE;
	if (rd->n_entries) {
		ev->index = rd->entries[rd->n_entries - 1].index;
		ev->term = rd->entries[rd->n_entries - 1].term;
	} else if (rd->install) {
		ev->index = rd->install->index;
		ev->term = rd->install->term;
	}
	if (rd->n_messages_after_persist) {
		ev->after = sn__calloc(rd->n_messages_after_persist,
				       sizeof *ev->after);
		if (!ev->after) {
			sn__ev_free(ev);
			return sn__err(SN_ENOMEM, "node: out of memory");
		}
		for (size_t i = 0; i < rd->n_messages_after_persist; i++) {
			const sn_message *m = &rd->messages_after_persist[i];
			void *d = sn__malloc(m->len ? m->len : 1);
			if (!d) {
				sn__ev_free(ev);
				return sn__err(SN_ENOMEM, "node: out of memory");
			}
			if (m->len)
				memcpy(d, m->data, m->len);
			ev->after[i] = *m;
			ev->after[i].data = d;
			ev->n_after = i + 1;
		}
	}
	ev->next = (sn__ev *)n; /* for on_write */
	rv = sn_storage_append(n->st, rd->has_hard_state ? &rd->hard_state
							 : NULL,
			       rd->entries, rd->n_entries, on_write, ev);
	if (rv) {
		ev->next = NULL;
		sn__ev_free(ev);
	}
	return rv;
}

/* Step 5: hand committed entries to the apply thread (copied). */
static int hand_committed(sn_node *n, const sn_ready *rd)
{
	size_t bytes = 0;
	sn__ap *ap;
	uint8_t *p;

	if (!rd->n_committed)
		return SN_OK;
	if (sn__node_apply_here(n, rd->committed, rd->n_committed))
		return SN_OK;
	for (size_t i = 0; i < rd->n_committed; i++)
		bytes += rd->committed[i].len;
	ap = sn__calloc(1, sizeof *ap);
	if (ap) {
		ap->entries = sn__calloc(rd->n_committed, sizeof *ap->entries);
		ap->arena = sn__malloc(bytes ? bytes : 1);
	}
	if (!ap || !ap->entries || !ap->arena) {
		sn__ap_free(ap);
		return sn__err(SN_ENOMEM, "node: out of memory");
	}
	ap->kind = SN__AP_ENTRIES;
	ap->n = rd->n_committed;
	p = ap->arena;
	for (size_t i = 0; i < rd->n_committed; i++) {
		ap->entries[i] = rd->committed[i];
		ap->entries[i].data = p;
		if (rd->committed[i].len)
			memcpy(p, rd->committed[i].data, rd->committed[i].len);
		p += rd->committed[i].len;
	}
	sn__node_ap_post(n, ap);
	return SN_OK;
}

/* Step 6: a read whose index is known waits on the apply thread. */
static void hand_reads(sn_node *n, const sn_ready *rd)
{
	for (size_t i = 0; i < rd->n_reads; i++) {
		const sn_read_state *rs = &rd->reads[i];
		sn__pread pr = { 0, NULL, NULL };
		bool found = false;

		pthread_mutex_lock(&n->pend_mu);
		for (size_t j = 0; j < n->n_preads; j++)
			if (n->preads[j].ctx == rs->ctx) {
				pr = n->preads[j];
				n->preads[j] = n->preads[--n->n_preads];
				found = true;
				break;
			}
		pthread_mutex_unlock(&n->pend_mu);
		if (!found)
			continue;
		if (rs->status != SN_OK) {
			pr.cb(pr.ud, rs->status, 0, NULL, 0);
			sn__node_done(n);
			continue;
		}
		sn__ap *ap = sn__calloc(1, sizeof *ap);
		if (!ap) {
			pr.cb(pr.ud, SN_ENOMEM, 0, NULL, 0);
			sn__node_done(n);
			continue;
		}
		ap->kind = SN__AP_READ;
		ap->index = rs->index;
		ap->cb = pr.cb;
		ap->ud = pr.ud;
		sn__node_ap_post(n, ap);
	}
}

/* Whether step 5 may run first: committed entries that are already
 * durable here (none of them is written by this ready) and no snapshot in
 * this ready that the apply thread must restore before them. A leader's
 * ready that commits is of this kind: its proposers then get their answers
 * without waiting for the sends (the new commit index to the followers). */
static bool commit_first(const sn_ready *rd)
{
	return rd->n_committed && !rd->install && !rd->n_snapshot_chunks &&
	       (!rd->n_entries || rd->committed[rd->n_committed - 1].index <
					  rd->entries[0].index);
}

static void handle_ready(sn_node *n)
{
	sn_ready rd;
	int rv;

	while (!sn__node_stopped(n) && sn_engine_ready(n->eng, &rd) == 1) {
		bool early = commit_first(&rd);
		rv = early ? hand_committed(n, &rd) : SN_OK;
		if (rv == SN_OK) {
			send_all(n, rd.messages, rd.n_messages);
			rv = write_chunks(n, &rd);
		}
		if (rv == SN_OK && rd.install)
			rv = install(n, rd.install);
		if (rv == SN_OK && (rd.has_hard_state || rd.n_entries ||
				    rd.n_messages_after_persist ||
				    rd.install || rd.n_snapshot_chunks))
			rv = write_log(n, &rd);
		if (rv == SN_OK && !early)
			rv = hand_committed(n, &rd);
		if (rv != SN_OK) {
			char msg[256];
			int first = sn_storage_error(n->st, msg, sizeof msg);
			/* A write refused because the WAL already stopped:
			 * report what stopped it, not the refusal. */
			if (rv == SN_ESTOPPED && first != SN_OK) {
				sn__node_stop(n, first, "WAL: %s", msg);
			} else {
				snprintf(msg, sizeof msg, "%s", sn_errmsg());
				sn__node_stop(n, rv, "%s", msg);
			}
			sn_engine_advance(n->eng);
			sn__node_fail_all(n, SN_ESTOPPED);
			return;
		}
		hand_reads(n, &rd);
		sn_engine_advance(n->eng);
	}
}

/* ---- events ------------------------------------------------------------- */

static void on_marker(void *ud, int status)
{
	sn__ev *ev = ud;
	sn_node *n = (sn_node *)ev->next;

	ev->next = NULL;
	ev->status = status;
	sn__node_post(n, ev);
}

/* The apply thread made a snapshot: tell the engine, compact it, record
 * the snapshot in the WAL, and compact the WAL once that is durable. */
static void snap_taken(sn_node *n, sn__ev *ev)
{
	uint64_t upto = ev->meta.index > n->snapshot_trailing
				? ev->meta.index - n->snapshot_trailing
				: 0;
	sn__ev *mk;
	int rv = sn_engine_snapshot_taken(n->eng, &ev->meta);

	if (rv) {
		sn__log(SN_LOG_WARN, "node %llu: snapshot %llu refused: %s",
			(unsigned long long)n->id,
			(unsigned long long)ev->meta.index, sn_errmsg());
		return;
	}
	if (upto)
		sn_engine_compact(n->eng, upto);
	mk = sn__calloc(1, sizeof *mk);
	if (!mk)
		return;
	mk->kind = SN__EV_MARKER_DONE;
	mk->index = upto;
	mk->next = (sn__ev *)n;
	rv = sn_storage_snapshot(n->st, &ev->meta, on_marker, mk);
	if (rv) {
		sn__ev_free(mk);
		sn__log(SN_LOG_WARN, "node %llu: snapshot %llu not recorded: "
			"%s", (unsigned long long)n->id,
			(unsigned long long)ev->meta.index, sn_errmsg());
	}
}

static void handle(sn_node *n, sn__ev *ev)
{
	uint64_t index = 0;
	int rv;

	switch (ev->kind) {
	case SN__EV_MSG:
		sn_engine_step(n->eng, &ev->msg);
		break;
	case SN__EV_PROPOSE:
		if (sn__node_stopped(n)) {
			rv = SN_ESTOPPED;
		} else {
			rv = sn_engine_propose(&index, n->eng, ev->buf, ev->len);
			if (rv == SN_OK) {
				sn_engine_status st;
				sn_engine_get_status(&st, n->eng);
				rv = sn__node_pend_add(n, index, st.term,
						       ev->cb, ev->ud);
				if (rv == SN_OK)
					break;
			}
		}
		ev->cb(ev->ud, rv, 0, NULL, 0);
		sn__node_done(n);
		break;
	case SN__EV_READ:
		rv = SN_ESTOPPED;
		if (!sn__node_stopped(n)) {
			pthread_mutex_lock(&n->pend_mu);
			uint64_t ctx = ++n->next_ctx;
			rv = sn__grow((void **)&n->preads, &n->cap_preads,
				      n->n_preads + 1, sizeof *n->preads);
			if (rv == SN_OK)
				n->preads[n->n_preads++] =
					(sn__pread){ ctx, ev->cb, ev->ud };
			pthread_mutex_unlock(&n->pend_mu);
			if (rv == SN_OK) {
				rv = sn_engine_read_index(n->eng, ctx);
				if (rv == SN_OK)
					break;
				pthread_mutex_lock(&n->pend_mu);
				n->n_preads--; /* the one just added */
				pthread_mutex_unlock(&n->pend_mu);
			}
		}
		ev->cb(ev->ud, rv, 0, NULL, 0);
		sn__node_done(n);
		break;
	case SN__EV_WRITE_DONE:
		if (ev->status != SN_OK) {
			char why[256];
			int first = sn_storage_error(n->st, why, sizeof why);
			sn__node_stop(n, first != SN_OK ? first : ev->status,
				      "WAL: %s", why);
			sn__node_fail_all(n, SN_ESTOPPED);
			break;
		}
		if (sn__node_stopped(n))
			break;
		send_all(n, ev->after, ev->n_after);
		if (ev->index)
			sn_engine_persisted(n->eng, ev->index, ev->term);
		break;
	case SN__EV_SNAP_TAKEN:
		if (!sn__node_stopped(n))
			snap_taken(n, ev);
		pthread_mutex_lock(&n->ap_mu);
		n->snap_in_progress = false;
		pthread_mutex_unlock(&n->ap_mu);
		break;
	case SN__EV_MARKER_DONE:
		if (ev->status == SN_OK && ev->index && !sn__node_stopped(n))
			sn_storage_compact(n->st, ev->index);
		break;
	case SN__EV_CAMPAIGN:
		sn_engine_campaign(n->eng);
		break;
	}
}

static void publish(sn_node *n)
{
	sn_engine_status st;
	sn_role was;

	sn_engine_get_status(&st, n->eng);
	pthread_mutex_lock(&n->stat_mu);
	was = n->est.role;
	n->est = st;
	pthread_mutex_unlock(&n->stat_mu);
	if (was == st.role || (was != SN_ROLE_LEADER &&
			       st.role != SN_ROLE_LEADER))
		return;
	sn__log(SN_LOG_INFO, "node %llu: %s (term %llu)",
		(unsigned long long)n->id,
		st.role == SN_ROLE_LEADER ? "elected leader" : "lost leadership",
		(unsigned long long)st.term);
	/* A leader's WAL syncs on the storage thread, so that the loop goes
	 * on meanwhile (answers, proposals, acknowledgements, heartbeats); a
	 * follower's loop writes inline: its acknowledgement waits for the
	 * sync anyway, and a thread hand-off would only add to it. */
	if (sn__wal_set_inline(n->st, st.role != SN_ROLE_LEADER) != SN_OK)
		sn__log(SN_LOG_WARN, "node %llu: WAL stays on the loop thread: "
			"%s", (unsigned long long)n->id, sn_errmsg());
}

void *sn__node_loop(void *arg)
{
	sn_node *n = arg;
	uint64_t next_tick = now_ms() + n->tick_ms;

	sn__thread_name("sn-loop");

	for (;;) {
		sn__ev *batch;

		pthread_mutex_lock(&n->mu);
		while (!n->quit && !n->head && now_ms() < next_tick) {
			uint64_t wait = next_tick - now_ms();
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += (time_t)(wait / 1000);
			ts.tv_nsec += (long)(wait % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&n->cv, &n->mu, &ts);
		}
		if (n->quit) {
			pthread_mutex_unlock(&n->mu);
			break;
		}
		batch = n->head;
		n->head = n->tail = NULL;
		n->n_msgs = 0;
		pthread_mutex_unlock(&n->mu);

		while (batch) {
			sn__ev *ev = batch;
			batch = ev->next;
			ev->next = NULL;
			handle(n, ev);
			sn__ev_free(ev);
		}
		if (now_ms() >= next_tick) {
			sn_engine_tick(n->eng);
			next_tick += n->tick_ms;
			if (next_tick < now_ms()) /* a long stall: no burst */
				next_tick = now_ms() + n->tick_ms;
		}
		handle_ready(n);
		publish(n);
	}
	return NULL;
}
