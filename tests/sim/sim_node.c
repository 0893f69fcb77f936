/*
 * A simulated node: one engine, its storage and snapshot store, and its
 * register state machine.
 *
 * Storage is the in-memory implementation of the <senate/sys/storage.h>
 * seam (core/log/memstore.h): sn_storage_append() and sn_storage_install()
 * queue writes that stay pending until the simulator calls
 * sn__memstore_sync() for that node, one SIM_EV_SYNC event per write at a
 * random latency (writes overlap, like group commit, and complete in
 * order). Only then does the write's callback send the ready's
 * `messages_after_persist` and call sn_engine_persisted(). A crash is
 * sn__memstore_crash(): every pending write is lost, the durable image
 * stays. Snapshots live in the node's sn__memsnap store: complete ones
 * (durable at once, like a committed snapshot file) and partial ones being
 * received in chunks.
 *
 * A restart recovers like a node runtime must: the durable image from
 * sn__memstore_load(), the newest complete snapshot from the store (an
 * install interrupted between the two is finished first), the state
 * machine restored from that snapshot (applied = its index), and the engine
 * re-applies the committed entries after it.
 */
#include "sim.h"

#include "log/memstore.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static uint64_t node_rand(void *userdata)
{
	return sim_rng_next(userdata);
}

sim_node *sim_node_by_id(sim *s, uint64_t id)
{
	if (id < 1 || id > (uint64_t)s->pf.n_nodes)
		return NULL;
	return &s->nodes[id - 1];
}

/* The up node that leads the highest term, or -1. */
int sim_find_leader(sim *s)
{
	int best = -1;
	uint64_t term = 0;

	for (int i = 0; i < s->pf.n_nodes; i++) {
		sn_engine_status st;
		if (!s->nodes[i].up)
			continue;
		sn_engine_get_status(&st, s->nodes[i].eng);
		if (st.role == SN_ROLE_LEADER && st.term >= term) {
			best = i;
			term = st.term;
		}
	}
	return best;
}

bool sim_node_paused(const sim *s, const sim_node *n)
{
	return s->now < n->paused_until;
}

void sim_node_init(sim *s, sim_node *n)
{
	unsigned k = s->pf.snap_every;

	if (sn__memstore_open(&n->store) != SN_OK ||
	    !(n->snaps = sn__memsnap_new())) {
		fprintf(stderr, "senate-sim: out of memory\n");
		abort();
	}
	/* Nodes snapshot at different points: K plus up to half of it. */
	n->snap_every = k + (unsigned)sim_rng_below(&s->rng_fault, k / 2 + 1);
}

uint64_t sim_node_snapshot_index(const sim_node *n)
{
	sn_snapshot_meta m;

	return sn__memsnap_latest(n->snaps, &m, NULL, NULL) == SN_OK ? m.index
								      : 0;
}

void sim_node_durable_log(sim_node *n, sim_log *out)
{
	sn_storage_state st;

	sn__memstore_load(n->store, &st);
	sim_log_from_state(out, &st, false);
}

/* ---- outstanding storage writes --------------------------------------- */

static sim_write *write_new(sim *s, sim_node *n)
{
	sim_write *w = sim_alloc(sizeof *w);

	memset(w, 0, sizeof *w);
	w->s = s;
	w->n = n;
	w->gen = n->gen;
	w->prev = n->writes_tail;
	if (n->writes_tail)
		n->writes_tail->next = w;
	else
		n->writes = w;
	n->writes_tail = w;
	return w;
}

static void write_free(sim_node *n, sim_write *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		n->writes = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		n->writes_tail = w->prev;
	for (size_t i = 0; i < w->n_after; i++)
		free((void *)w->after[i].data);
	free(w->after);
	free(w);
}

static void writes_free(sim_node *n)
{
	while (n->writes)
		write_free(n, n->writes);
}

/* The snapshot marker is durable: the storage may drop what it covers. */
static void compact_storage(sim *s, sim_node *n, uint64_t upto)
{
	int rv = sn_storage_compact(n->store, upto);

	if (rv != SN_OK)
		sim_violation(s, "node %" PRIu64 " storage compaction to %"
			      PRIu64 " refused: %s (%s)", n->id, upto,
			      sn_strerror(rv), sn_errmsg());
}

/* Step 4 of engine.h: the ready's writes are durable. */
static void on_write_done(void *userdata, int status)
{
	sim_write *w = userdata;
	sim *s = w->s;
	sim_node *n = w->n;

	if (status != SN_OK) {
		sim_violation(s, "node %" PRIu64 " storage write failed: %s",
			      n->id, sn_strerror(status));
	} else if (n->up && n->gen == w->gen) {
		/* What was written into partial snapshots before this write
		 * is durable with it (an over-approximation: chunks written
		 * after its submission are counted too, a milder crash). */
		sn__memsnap_sync(n->snaps);
		if (w->compact_upto)
			compact_storage(s, n, w->compact_upto);
	}
	if (status == SN_OK && w->final && n->up && n->gen == w->gen) {
		for (size_t i = 0; i < w->n_after; i++)
			sim_net_send(s, n->idx, &w->after[i]);
		if (w->p_index)
			sn_engine_persisted(n->eng, w->p_index, w->p_term);
	}
	write_free(n, w);
}

/* The write just queued completes at a random latency, after the ones
 * before it. */
static void schedule_sync(sim *s, sim_node *n)
{
	sim_time lat = sim_rng_range(&s->rng_disk, 1, s->pf.disk_max);

	if (n->wq_last_done < s->now + lat)
		n->wq_last_done = s->now + lat;
	sim_schedule(s, n->wq_last_done, SIM_EV_SYNC, n->idx, n->gen, 0);
}

/* The oldest pending write is durable now. */
void sim_node_sync(sim *s, sim_node *n)
{
	(void)s;
	sn__memstore_sync(n->store, 1);
}

/* ---- start, crash, restart --------------------------------------------- */

/* Does the durable log fit the snapshot `snap`: it was installed, or the
 * log holds its entry, or the log was compacted exactly up to it? */
static bool log_fits(const sn_storage_state *st, const sn_snapshot_meta *snap)
{
	uint64_t first, last;

	if (st->has_snapshot && st->snapshot.index == snap->index &&
	    st->snapshot.term == snap->term)
		return true;
	if (!st->n_entries)
		return false;
	first = st->entries[0].index;
	last = first + st->n_entries - 1;
	if (first == snap->index + 1)
		return true;
	return first <= snap->index && snap->index <= last &&
	       st->entries[snap->index - first].term == snap->term;
}

/*
 * A compacted log must be covered by the snapshot the storage recovered:
 * the node records each snapshot it takes (sn_storage_snapshot) and only
 * then compacts the storage.
 */
static bool covered(sim *s, sim_node *n, const sn_storage_state *st)
{
	uint64_t need = st->n_entries ? st->entries[0].index - 1
				      : st->hard_state.commit;
	uint64_t have = st->has_snapshot ? st->snapshot.index : 0;

	if (need <= have)
		return true;
	sim_violation(s, "node %" PRIu64 " storage recovered a log that starts "
		      "after %" PRIu64 " but a snapshot only through %" PRIu64,
		      n->id, need, have);
	return false;
}

/*
 * Recovery. The snapshot store may hold a snapshot newer than the storage's
 * install marker: one taken locally (the log then fits it), or an install
 * interrupted after the snapshot was made durable (which replaced the older
 * ones) and before its marker was. The latter is finished now, as a node
 * runtime's recovery must: record the install, synchronously.
 */
static bool recover(sim *s, sim_node *n, sn_storage_state *st)
{
	sn_snapshot_meta snap;
	bool has = sn__memsnap_latest(n->snaps, &snap, NULL, NULL) == SN_OK;
	int rv;

	sn__memstore_load(n->store, st);
	if (st->has_snapshot &&
	    (!has || snap.index < st->snapshot.index ||
	     (snap.index == st->snapshot.index &&
	      snap.term != st->snapshot.term))) {
		sim_violation(s, "node %" PRIu64 " storage marks snapshot %"
			      PRIu64 "/%" PRIu64 " installed but its store "
			      "holds %" PRIu64 "/%" PRIu64, n->id,
			      st->snapshot.index, st->snapshot.term,
			      has ? snap.index : 0, has ? snap.term : 0);
		return false;
	}
	if (!covered(s, n, st))
		return false;
	if (!has)
		return true;
	if (!log_fits(st, &snap)) {
		/* An empty log may also have been compacted up to a local
		 * snapshot: recording the install is harmless then. Only a
		 * log that does not continue from it proves a lost marker. */
		if (st->n_entries)
			s->stats.finished_installs++;
		sim_trace(s, "node %" PRIu64 " recovery: snapshot %" PRIu64
			  "/%" PRIu64 " has no install marker; recording it",
			  n->id, snap.index, snap.term);
		rv = sn_storage_install(n->store, &snap, NULL, NULL);
		if (rv != SN_OK) {
			sim_violation(s, "node %" PRIu64 " recovery: install of "
				      "snapshot %" PRIu64 " refused: %s (%s)",
				      n->id, snap.index, sn_strerror(rv),
				      sn_errmsg());
			return false;
		}
		sn__memstore_sync(n->store, SIZE_MAX);
		sn__memstore_load(n->store, st);
	}
	st->has_snapshot = 1;
	st->snapshot = snap;
	return true;
}

static void trace_restart(sim *s, sim_node *n, const sn_storage_state *st)
{
	if (!s->p.verbose)
		return;
	sim_trace(s, "%s node %" PRIu64 " from storage: term %" PRIu64
		  " vote %" PRIu64 " commit %" PRIu64 ", entries %" PRIu64
		  "..%" PRIu64 ", snapshot %" PRIu64, n->gen ? "restart" :
		  "start", n->id, st->hard_state.term, st->hard_state.vote,
		  st->hard_state.commit,
		  st->n_entries ? st->entries[0].index : 0,
		  st->n_entries ? st->entries[st->n_entries - 1].index : 0,
		  st->has_snapshot ? st->snapshot.index : 0);
}

/* The transfer a crash interrupted, as sn_snapshot_writer_resume() finds
 * it: the newest partial snapshot, when it is newer than the log's commit
 * and holds some bytes. */
static bool find_partial(sim_node *n, const sn_storage_state *st,
			 sn_snapshot_meta *meta, uint64_t *off, uint32_t *crc)
{
	const void *data;
	size_t len;

	*off = 0;
	*crc = 0;
	if (sn__memsnap_partial_latest(n->snaps, meta, &data, &len) != SN_OK ||
	    meta->index <= st->hard_state.commit || len == 0)
		return false;
	*off = len;
	*crc = sn__crc32c(0, data, len);
	return true;
}

/* Create the engine from storage: a fresh node, or a restart. */
void sim_node_start(sim *s, sim_node *n)
{
	sn_snapshot_meta partial;
	uint64_t p_off;
	uint32_t p_crc;
	bool partial_ok;
	sn_storage_state st;
	sim_engine_args a;
	int rv;

	if (!recover(s, n, &st))
		return;
	trace_restart(s, n, &st);
	n->sm = (sim_sm){ 0 };
	n->restored_at = 0;
	n->last_snap = 0;
	if (st.has_snapshot) {
		if (!sim_snap_restore(s, n, &st.snapshot, "restart"))
			return;
		s->stats.snap_restarts++;
	}
	partial_ok = find_partial(n, &st, &partial, &p_off, &p_crc);
	if (n->gen)
		s->stats.restarts++;
	a = (sim_engine_args){
		.id = n->id, .group = SIM_GROUP, .voters = s->voters,
		.n_voters = (size_t)s->pf.n_nodes, .tuning = &s->pf.tuning,
		.rand = node_rand, .rand_userdata = &n->eng_rng,
		.hard_state = &st.hard_state, .entries = st.entries,
		.n_entries = st.n_entries, .applied = n->sm.applied,
		.snapshot = st.has_snapshot ? &st.snapshot : NULL,
		.snapshot_read = sim_snap_read, .snapshot_userdata = n,
		.partial = partial_ok ? &partial : NULL,
		.partial_offset = p_off, .partial_crc = p_crc,
	};
	n->rcv.resume_at = partial_ok ? p_off : 0;
	sim_rng_seed(&n->eng_rng, s->p.seed, 1000 * (uint64_t)(n->idx + 1) +
			n->gen);
	rv = s->p.engine->create(&n->eng, &a);
	if (rv) {
		sim_violation(s, "node %" PRIu64 " cannot start from its "
			      "storage: %s (%s)", n->id, sn_strerror(rv),
			      sn_errmsg());
		return;
	}
	sim_log_from_state(&n->mem, &st, true);
	n->up = true;
	n->paused_until = 0;
	n->commit_checked = 0;
	n->last_role = SN_ROLE_FOLLOWER;
	n->last_term = st.hard_state.term;
	sim_schedule(s, s->now + sim_rng_range(&s->rng_fault, 1,
					       n->tick_period),
		     SIM_EV_TICK, n->idx, n->gen, 0);
}

void sim_node_crash(sim *s, sim_node *n)
{
	sim_client_on_crash(s, n);
	sn_engine_free(n->eng);
	n->eng = NULL;
	/* A power cut: pending writes are lost, their callbacks never run. */
	sn__memstore_crash(n->store);
	writes_free(n);
	sim_snap_transfer_cut(s, n);
	/* A partial snapshot's temporary file may be lost, or keep its
	 * synced bytes and some (possibly damaged) of the rest. */
	sn__memsnap_crash(n->snaps, node_rand, &s->rng_disk);
	n->wq_last_done = 0;
	n->up = false;
	n->gen++; /* orphans this incarnation's ticks and syncs */
	n->paused_until = 0;
}

void sim_node_stats(sim *s, sim_node *n)
{
	sn__memstore_stats ms;

	sn__memstore_stats_get(n->store, &ms);
	s->stats.writes += ms.writes;
	s->stats.synced += ms.synced;
	s->stats.dropped += ms.dropped;
	s->stats.early_acks += ms.early_acks;
}

void sim_node_free(sim_node *n)
{
	sn_engine_free(n->eng);
	n->eng = NULL;
	if (n->store) {
		/* Drop what is pending: close would run the callbacks. */
		sn__memstore_crash(n->store);
		sn_storage_close(n->store);
		n->store = NULL;
	}
	writes_free(n);
	sn__memsnap_free(n->snaps);
	n->snaps = NULL;
	sim_log_free(&n->mem);
}

void sim_node_tick(sim *s, sim_node *n)
{
	sn_engine_tick(n->eng);
	sim_schedule(s, s->now + n->tick_period, SIM_EV_TICK, n->idx, n->gen,
		     0);
}

/* ---- handling a ready --------------------------------------------------- */

static bool to_sim_entry(sim *s, sim_node *n, const sn_entry *e,
			 sim_entry *out)
{
	if (e->len > SIM_PAYLOAD) {
		sim_violation(s, "node %" PRIu64 " produced entry %" PRIu64
			      " of %zu bytes; the simulator only proposes %d",
			      n->id, e->index, e->len, SIM_PAYLOAD);
		return false;
	}
	memset(out, 0, sizeof *out);
	out->term = e->term;
	out->type = e->type;
	out->len = (uint32_t)e->len;
	if (e->len)
		memcpy(out->data, e->data, e->len);
	return true;
}

/* Step 3 seen from the engine's side: its log now holds rd->entries. */
static void update_mem_log(sim *s, sim_node *n, const sn_ready *rd)
{
	uint64_t first, last;
	sim_entry e;

	if (!rd->n_entries)
		return;
	first = rd->entries[0].index;
	last = first + rd->n_entries - 1;
	if (first <= n->mem.base || first > sim_log_last(&n->mem) + 1) {
		sim_violation(s, "node %" PRIu64 " wrote entries from %" PRIu64
			      " but its log holds %" PRIu64 "..%" PRIu64,
			      n->id, first, n->mem.base + 1,
			      sim_log_last(&n->mem));
		return;
	}
	if (last < sim_log_last(&n->mem))
		sim_check_log_cut(s, n, last + 1);
	sim_log_truncate(&n->mem, first);
	for (size_t i = 0; i < rd->n_entries; i++) {
		if (rd->entries[i].index != first + i) {
			sim_violation(s, "node %" PRIu64 " wrote non-consecutive "
				      "entries", n->id);
			return;
		}
		if (!to_sim_entry(s, n, &rd->entries[i], &e))
			return;
		sim_check_log_write(s, n, first + i, &e);
		sim_log_append(&n->mem, &e);
	}
}

/* What the ready's last write does once durable (step 4). Filled before
 * the write is queued: a storage may call back at once. */
static void prepare_final(sim_write *w, const sn_ready *rd)
{
	w->final = true;
	if (rd->n_entries) {
		w->p_index = rd->entries[rd->n_entries - 1].index;
		w->p_term = rd->entries[rd->n_entries - 1].term;
	} else if (rd->install) {
		w->p_index = rd->install->index;
		w->p_term = rd->install->term;
	}
	w->n_after = rd->n_messages_after_persist;
	if (!w->n_after)
		return;
	w->after = sim_alloc(w->n_after * sizeof *w->after);
	for (size_t i = 0; i < w->n_after; i++) {
		const sn_message *m = &rd->messages_after_persist[i];
		void *data = sim_alloc(m->len ? m->len : 1);
		if (m->len)
			memcpy(data, m->data, m->len);
		w->after[i] = *m;
		w->after[i].data = data;
	}
}

static void refused(sim *s, sim_node *n, const char *what, int rv)
{
	sim_violation(s, "node %" PRIu64 " storage refused %s: %s (%s)", n->id,
		      what, sn_strerror(rv), sn_errmsg());
}

/* Step 2's install: the snapshot file is complete (commit it: durable),
 * the state machine is restored from it, its marker is recorded. */
static void install(sim *s, sim_node *n, const sn_ready *rd, bool final)
{
	const sn_snapshot_meta *meta = rd->install;
	sim_write *w;
	int rv;

	rv = sn__memsnap_commit(n->snaps, meta);
	if (rv != SN_OK) {
		sim_violation(s, "node %" PRIu64 " was told to install snapshot %"
			      PRIu64 "/%" PRIu64 " but its chunks do not make "
			      "it: %s (%s)", n->id, meta->index, meta->term,
			      sn_strerror(rv), sn_errmsg());
		return;
	}
	sim_snap_installed(s, n, meta);
	if (!sim_snap_restore(s, n, meta, "install"))
		return;
	/* The engine's log now starts after the snapshot; what it held after
	 * it is gone, which must all lie beyond its commit index. */
	if (sim_log_last(&n->mem) > meta->index)
		sim_check_log_cut(s, n, meta->index + 1);
	sim_log_reset(&n->mem, meta->index, meta->term);
	w = write_new(s, n);
	if (final)
		prepare_final(w, rd);
	rv = sn_storage_install(n->store, meta, on_write_done, w);
	if (rv != SN_OK) {
		write_free(n, w);
		refused(s, n, "an install", rv);
		return;
	}
	schedule_sync(s, n);
}

int sim_node_record_snapshot(sim *s, sim_node *n, const sn_snapshot_meta *meta,
			     uint64_t upto)
{
	sim_write *w = write_new(s, n);
	int rv;

	w->compact_upto = upto;
	rv = sn_storage_snapshot(n->store, meta, on_write_done, w);
	if (rv != SN_OK) {
		write_free(n, w);
		return rv;
	}
	schedule_sync(s, n);
	return SN_OK;
}

static void append(sim *s, sim_node *n, const sn_ready *rd)
{
	sim_write *w = write_new(s, n);
	int rv;

	prepare_final(w, rd);
	rv = sn_storage_append(n->store,
			       rd->has_hard_state ? &rd->hard_state : NULL,
			       rd->entries, rd->n_entries, on_write_done, w);
	if (rv != SN_OK) {
		write_free(n, w);
		refused(s, n, "an append", rv);
		return;
	}
	schedule_sync(s, n);
}

static void apply(sim *s, sim_node *n, const sn_entry *ce)
{
	const sim_entry *mine = sim_log_at(&n->mem, ce->index);
	uint64_t value;
	sim_entry e;

	if (!to_sim_entry(s, n, ce, &e))
		return;
	if (ce->index != n->sm.applied + 1) {
		sim_violation(s, "node %" PRIu64 " applied index %" PRIu64
			      " after %" PRIu64, n->id, ce->index,
			      n->sm.applied);
		return;
	}
	if (!mine || !sim_entry_eq(mine, &e)) {
		sim_violation(s, "node %" PRIu64 " applied entry %" PRIu64
			      " that differs from its log", n->id, ce->index);
		return;
	}
	sim_sm_apply(&n->sm, ce->index, &e);
	n->restored_at = 0;
	sim_check_apply(s, n, ce->index, &e);
	value = sim_entry_value(&e);
	if (value && value == s->probe_value)
		n->probe_applied = true;
	sim_client_on_apply(s, n, ce->index, &e);
}

static void handle_ready(sim *s, sim_node *n, const sn_ready *rd)
{
	/* A ready whose only durable work is snapshot chunks (or that only
	 * has messages to send once durable) still waits for a sync: chunk
	 * acknowledgements promise durability too. */
	bool need_append = rd->has_hard_state || rd->n_entries ||
			   (!rd->install && (rd->n_messages_after_persist ||
					     rd->n_snapshot_chunks));

	/* 1. */
	for (size_t i = 0; i < rd->n_messages; i++)
		sim_net_send(s, n->idx, &rd->messages[i]);
	/* 2. */
	for (size_t i = 0; i < rd->n_snapshot_chunks && !s->violated; i++)
		sim_snap_chunk_written(s, n, &rd->snapshot_chunks[i]);
	if (rd->install && !s->violated)
		install(s, n, rd, !need_append);
	/* 3. */
	if (!s->violated)
		update_mem_log(s, n, rd);
	if (need_append && !s->violated)
		append(s, n, rd);
	/* 5. */
	for (size_t i = 0; i < rd->n_committed && !s->violated; i++)
		apply(s, n, &rd->committed[i]);
	/* 6. */
	for (size_t i = 0; i < rd->n_reads && !s->violated; i++)
		sim_client_on_read(s, n, &rd->reads[i]);
	if (!s->violated && n->sm.applied >= n->last_snap + n->snap_every)
		sim_snap_take(s, n);
}

void sim_node_drain(sim *s, sim_node *n)
{
	sn_ready rd;

	for (int rounds = 0; n->up && !s->violated; rounds++) {
		int rv = sn_engine_ready(n->eng, &rd);
		if (rv == 0)
			return;
		if (rv < 0 || rounds > 1000) {
			sim_violation(s, "node %" PRIu64 " ready failed: %s",
				      n->id, rv < 0 ? sn_strerror(rv) :
				      "no end of readies");
			return;
		}
		handle_ready(s, n, &rd);
		/* 7. */
		if (n->up)
			sn_engine_advance(n->eng);
	}
}
