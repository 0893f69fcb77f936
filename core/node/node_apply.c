/*
 * The apply thread: applies committed batches to the state machine, hands
 * each proposer its result, completes reads once their index is applied,
 * restores received snapshots and takes local ones.
 */
#define _POSIX_C_SOURCE 200809L

#include "node_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void sn__ap_free(sn__ap *ap)
{
	if (!ap)
		return;
	sn__free(ap->entries);
	sn__free(ap->arena);
	sn__free(ap->voters);
	sn__free(ap);
}

void sn__node_ap_post(sn_node *n, sn__ap *ap)
{
	pthread_mutex_lock(&n->ap_mu);
	ap->next = NULL;
	if (n->ap_tail)
		n->ap_tail->next = ap;
	else
		n->ap_head = ap;
	n->ap_tail = ap;
	pthread_cond_signal(&n->ap_cv);
	pthread_mutex_unlock(&n->ap_mu);
}

/* ---- proposals in flight ------------------------------------------------ */

int sn__node_pend_add(sn_node *n, uint64_t index, uint64_t term,
		      sn_node_cb cb, void *ud)
{
	size_t lo, hi, live;
	int rv;

	pthread_mutex_lock(&n->pend_mu);
	/* Compact the consumed front before growing. */
	if (n->pend_head && n->pend_head == n->n_pend) {
		n->n_pend = n->pend_head = 0;
	} else if (n->pend_head > 64 && n->pend_head * 2 > n->n_pend) {
		live = n->n_pend - n->pend_head;
		memmove(n->pend, n->pend + n->pend_head, live * sizeof *n->pend);
		n->n_pend = live;
		n->pend_head = 0;
	}
	rv = sn__grow((void **)&n->pend, &n->cap_pend, n->n_pend + 1,
		      sizeof *n->pend);
	if (rv == SN_OK) {
		/* Sorted by index (a new leader may reuse lower indexes). */
		lo = n->pend_head;
		hi = n->n_pend;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (n->pend[mid].index <= index)
				lo = mid + 1;
			else
				hi = mid;
		}
		memmove(n->pend + lo + 1, n->pend + lo,
			(n->n_pend - lo) * sizeof *n->pend);
		n->pend[lo] = (sn__pending){ index, term, cb, ud };
		n->n_pend++;
	}
	pthread_mutex_unlock(&n->pend_mu);
	return rv;
}

/* Take the first pending proposal at or below `index`, if any. */
static bool pend_take(sn_node *n, uint64_t index, sn__pending *out)
{
	bool got = false;

	pthread_mutex_lock(&n->pend_mu);
	if (n->pend_head < n->n_pend && n->pend[n->pend_head].index <= index) {
		*out = n->pend[n->pend_head++];
		got = true;
	}
	pthread_mutex_unlock(&n->pend_mu);
	return got;
}

void sn__node_fail_all(sn_node *n, int code)
{
	sn__pending p;
	sn__pread r;

	while (pend_take(n, UINT64_MAX, &p)) {
		p.cb(p.ud, code, p.index, NULL, 0);
		sn__node_done(n);
	}
	for (;;) {
		bool got = false;
		pthread_mutex_lock(&n->pend_mu);
		if (n->n_preads) {
			r = n->preads[--n->n_preads];
			got = true;
		}
		pthread_mutex_unlock(&n->pend_mu);
		if (!got)
			break;
		r.cb(r.ud, code, 0, NULL, 0);
		sn__node_done(n);
	}
	/* Reads already waiting on the apply thread. */
	pthread_mutex_lock(&n->ap_mu);
	sn__ap *ap = n->ap_reads;
	n->ap_reads = NULL;
	pthread_mutex_unlock(&n->ap_mu);
	while (ap) {
		sn__ap *next = ap->next;
		ap->cb(ap->ud, code, 0, NULL, 0);
		sn__node_done(n);
		sn__ap_free(ap);
		ap = next;
	}
}

uint64_t sn__node_snapshot_bytes = 64u << 20;

/* ---- applying ----------------------------------------------------------- */

static uint64_t last_snap(sn_node *n)
{
	pthread_mutex_lock(&n->ap_mu);
	uint64_t s = n->last_snap;
	pthread_mutex_unlock(&n->ap_mu);
	return s;
}

static void publish(sn_node *n)
{
	uint64_t snap = last_snap(n);

	pthread_mutex_lock(&n->stat_mu);
	n->st_applied = n->applied;
	n->st_snap = snap;
	pthread_mutex_unlock(&n->stat_mu);
}

/* Complete the reads whose index is applied. */
static void serve_reads(sn_node *n)
{
	sn__ap *ready = NULL, **pp;

	pthread_mutex_lock(&n->ap_mu);
	pp = &n->ap_reads;
	while (*pp) {
		sn__ap *ap = *pp;
		if (ap->index <= n->applied) {
			*pp = ap->next;
			ap->next = ready;
			ready = ap;
		} else {
			pp = &ap->next;
		}
	}
	pthread_mutex_unlock(&n->ap_mu);
	while (ready) {
		sn__ap *next = ready->next;
		ready->cb(ready->ud, SN_OK, ready->index, NULL, 0);
		sn__node_done(n);
		sn__ap_free(ready);
		ready = next;
	}
}

/* The state machine's `what` (apply, flush) of entries e[0..k) failed:
 * stop the node, naming them (sn_errmsg() says why). */
static void sm_failed(sn_node *n, int rv, const char *what,
		      const sn_entry *e, size_t k)
{
	char msg[200];

	snprintf(msg, sizeof msg, "%s", sn_errmsg());
	sn__node_stop(n, rv, "the state machine failed to %s entries "
		      "%llu..%llu: %s", what, (unsigned long long)e[0].index,
		      (unsigned long long)e[k - 1].index, msg);
}

static void apply_batch(sn_node *n, sn_entry *e, size_t k)
{
	sn_buf *res;
	int rv;

	/* What the state machine already held at open is not applied again. */
	while (k && e->index <= n->skip_upto) {
		e++;
		k--;
	}
	if (!k)
		return;
	for (size_t i = 0; i < k; i++)
		n->snap_bytes += e[i].len;
	res = sn__calloc(k, sizeof *res);
	if (!res) {
		sn__node_stop(n, SN_ENOMEM, "apply: out of memory");
		return;
	}
	rv = n->sm.apply(n->sm.userdata, e, k, res);
	if (rv)
		sm_failed(n, rv, "apply", e, k);
	for (size_t i = 0; i < k; i++) {
		sn__pending p;
		/* Proposals at or below this index are decided now: the one
		 * at this index with our term is ours; any other lost. */
		while (pend_take(n, e[i].index, &p)) {
			if (rv == SN_OK && p.index == e[i].index &&
			    p.term == e[i].term)
				p.cb(p.ud, SN_OK, p.index, res[i].ptr,
				     res[i].size);
			else
				p.cb(p.ud, rv ? SN_ESTOPPED : SN_ENOTLEADER,
				     p.index, NULL, 0);
			sn__node_done(n);
		}
		sn_buf_dispose(&res[i]);
	}
	sn__free(res);
	/* The proposers have their results (their entries are durable in
	 * the log); now the state machine makes the batch visible, and only
	 * then does it count as applied (reads, snapshots). */
	if (rv == SN_OK && n->sm.flush &&
	    (rv = n->sm.flush(n->sm.userdata)) != SN_OK)
		sm_failed(n, rv, "flush", e, k);
	if (rv == SN_OK) {
		n->applied = e[k - 1].index;
		n->applied_term = e[k - 1].term;
	}
}

static void restore(sn_node *n, sn__ap *ap)
{
	sn_snapshot_reader *r = NULL;
	sn_snapshot_meta m;
	int rv = sn_snapshot_reader_open(&r, &m, n->snap_dir);

	if (rv == SN_OK && (m.index != ap->meta.index ||
			    m.term != ap->meta.term))
		rv = sn__err(SN_ESTATE, "newest snapshot is %llu, not %llu",
			     (unsigned long long)m.index,
			     (unsigned long long)ap->meta.index);
	if (rv == SN_OK)
		rv = n->sm.restore(n->sm.userdata, &m, r);
	sn_snapshot_reader_close(r);
	if (rv) {
		char msg[200];
		snprintf(msg, sizeof msg, "%s", sn_errmsg());
		sn__node_stop(n, rv, "restoring snapshot %llu: %s",
			      (unsigned long long)ap->meta.index, msg);
		return;
	}
	n->applied = ap->meta.index;
	n->applied_term = ap->meta.term;
	pthread_mutex_lock(&n->ap_mu);
	n->last_snap = ap->meta.index;
	pthread_mutex_unlock(&n->ap_mu);
	n->skip_upto = 0;
	/* Proposals the snapshot covers: their outcome is in the state, but
	 * not their results. */
	sn__pending p;
	while (pend_take(n, ap->meta.index, &p)) {
		p.cb(p.ud, SN_ESTATE, p.index, NULL, 0);
		sn__node_done(n);
	}
}

/* Copy `len` bytes from fd `in` (at offset 0) into the writer. */
static int copy_into(int in, sn_snapshot_writer *w, uint64_t len)
{
	static const size_t chunk = 64 << 10;
	uint8_t *buf = sn__malloc(chunk);
	uint64_t off = 0;
	int rv = SN_OK;

	if (!buf)
		return sn__err(SN_ENOMEM, "snapshot: out of memory");
	while (off < len && rv == SN_OK) {
		size_t want = len - off < chunk ? (size_t)(len - off) : chunk;
		ssize_t got = pread(in, buf, want, (off_t)off);
		if (got <= 0) {
			rv = sn__err(SN_EIO, "snapshot: reading the copy: %s",
				     got ? strerror(errno) : "short");
			break;
		}
		rv = sn_snapshot_write(w, off, buf, (size_t)got);
		off += (uint64_t)got;
	}
	sn__free(buf);
	return rv;
}

/* CRC32C and size of what fd holds. */
static int measure(int fd, uint64_t *size, uint32_t *crc)
{
	uint8_t buf[64 << 10];
	uint64_t off = 0;

	*crc = 0;
	for (;;) {
		ssize_t got = pread(fd, buf, sizeof buf, (off_t)off);
		if (got < 0)
			return sn__err(SN_EIO, "snapshot: %s", strerror(errno));
		if (got == 0)
			break;
		*crc = sn__crc32c(*crc, buf, (size_t)got);
		off += (uint64_t)got;
	}
	*size = off;
	return SN_OK;
}

/*
 * A local snapshot: the state machine writes its copy into a scratch file,
 * which becomes a snapshot file (size and CRC32C in its header). `live`:
 * through snapshot_live, which says which index and term the copy holds
 * (in *m); otherwise m's index and term are the caller's (the applied
 * ones: the apply thread calls it between batches).
 */
static int write_snapshot(sn_node *n, sn_snapshot_meta *m, bool live)
{
	size_t len = strlen(n->snap_dir) + 32;
	char *path = sn__malloc(len);
	sn_snapshot_writer *w = NULL;
	int fd, rv;

	if (!path)
		return sn__err(SN_ENOMEM, "snapshot: out of memory");
	snprintf(path, len, "%s/scratch-XXXXXX", n->snap_dir);
	fd = mkstemp(path);
	if (fd < 0) {
		rv = sn__err(SN_EIO, "snapshot scratch file: %s",
			     strerror(errno));
		sn__free(path);
		return rv;
	}
	rv = live ? n->sm.snapshot_live(n->sm.userdata, fd, &m->index,
					&m->term)
		  : n->sm.snapshot(n->sm.userdata, fd);
	if (rv == SN_OK && (!m->index || !m->term))
		rv = sn__err(SN_EINVAL, "the state machine's snapshot holds "
			     "no entry (index %llu, term %llu)",
			     (unsigned long long)m->index,
			     (unsigned long long)m->term);
	if (rv == SN_OK)
		rv = measure(fd, &m->size, &m->crc);
	if (rv == SN_OK && m->size == 0)
		rv = sn__err(SN_EINVAL, "the state machine wrote an empty "
			     "snapshot");
	if (rv == SN_OK)
		rv = sn_snapshot_writer_open(&w, n->snap_dir, m);
	if (rv == SN_OK)
		rv = copy_into(fd, w, m->size);
	if (w)
		rv = rv == SN_OK ? sn_snapshot_writer_commit(w)
				 : (sn_snapshot_writer_close(w), rv);
	close(fd);
	unlink(path);
	sn__free(path);
	if (rv)
		sn__log(SN_LOG_WARN, "node %llu: snapshot at %llu failed: %s",
			(unsigned long long)n->id,
			(unsigned long long)m->index, sn_errmsg());
	else
		sn__log(SN_LOG_INFO, "node %llu: snapshot at %llu (%llu "
			"bytes)", (unsigned long long)n->id,
			(unsigned long long)m->index,
			(unsigned long long)m->size);
	return rv;
}

/* Tell the loop thread (which tells the engine and the WAL). */
static void post_taken(sn_node *n, const sn_snapshot_meta *m)
{
	sn__ev *ev = sn__calloc(1, sizeof *ev);

	if (ev && n->n_voters)
		ev->voters = sn__calloc(n->n_voters, sizeof *ev->voters);
	if (!ev || (n->n_voters && !ev->voters)) {
		sn__ev_free(ev);
		pthread_mutex_lock(&n->ap_mu);
		n->snap_in_progress = false;
		pthread_mutex_unlock(&n->ap_mu);
		return;
	}
	memcpy(ev->voters, n->voters, n->n_voters * sizeof *ev->voters);
	ev->kind = SN__EV_SNAP_TAKEN;
	ev->meta = *m;
	ev->meta.voters = ev->voters;
	sn__node_post(n, ev);
}

/* On the apply thread, between batches (a state machine without
 * snapshot_live). */
static void take_snapshot(sn_node *n)
{
	sn_snapshot_meta m = { n->applied, n->applied_term, 0, 0, n->voters,
			       n->n_voters };

	if (write_snapshot(n, &m, false) != SN_OK)
		return;
	pthread_mutex_lock(&n->ap_mu);
	n->last_snap = m.index;
	n->snap_in_progress = true;
	pthread_mutex_unlock(&n->ap_mu);
	post_taken(n, &m);
}

/* The snapshot thread: takes a snapshot through snapshot_live whenever
 * the apply thread asks (snap_wanted), while applying goes on. */
void *sn__node_snap(void *arg)
{
	sn_node *n = arg;

	sn__thread_name("sn-snap");
	pthread_mutex_lock(&n->ap_mu);
	for (;;) {
		while (!n->snap_quit && !n->snap_wanted)
			pthread_cond_wait(&n->snap_cv, &n->ap_mu);
		if (n->snap_quit)
			break;
		n->snap_wanted = false;
		pthread_mutex_unlock(&n->ap_mu);
		sn_snapshot_meta m = { 0, 0, 0, 0, n->voters, n->n_voters };
		int rv = sn__node_stopped(n) ? SN_ESTOPPED
					     : write_snapshot(n, &m, true);
		pthread_mutex_lock(&n->ap_mu);
		/* A snapshot installed meanwhile may be newer than this one:
		 * then this one is of no use. */
		bool use = rv == SN_OK && m.index > n->last_snap;
		if (use)
			n->last_snap = m.index;
		else
			n->snap_in_progress = false;
		pthread_mutex_unlock(&n->ap_mu);
		if (use) {
			pthread_mutex_lock(&n->stat_mu);
			n->st_snap = m.index;
			pthread_mutex_unlock(&n->stat_mu);
			post_taken(n, &m);
		}
		pthread_mutex_lock(&n->ap_mu);
	}
	pthread_mutex_unlock(&n->ap_mu);
	return NULL;
}

/* Entries of consecutive batches applied together (one state-machine
 * call: for the store, one LMDB transaction and one sync). */
#define MERGE_MAX_ENTRIES 4096
/* The largest committed batch the loop thread applies itself: what a
 * busy leader commits per ready (tens of entries at 64 clients), not a
 * follower's catch-up after a partition, which would hold the loop (and
 * its heartbeats) up. */
#define APPLY_HERE_MAX_ENTRIES 256
#define APPLY_HERE_MAX_BYTES (1u << 20)

/* After a batch (apply thread, or the loop in sn__node_apply_here): serve
 * reads, publish, and ask for a snapshot when one is due. `busy` and
 * `snap` were read under ap_mu before the batch. */
static void after_apply(sn_node *n, bool busy, uint64_t snap)
{
	if (sn__node_stopped(n)) {
		sn__node_fail_all(n, SN_ESTOPPED);
		return;
	}
	serve_reads(n);
	publish(n);
	if (n->has_sm_snapshot && !busy && n->applied_term &&
	    (n->applied >= snap + n->snapshot_entries ||
	     n->snap_bytes >= sn__node_snapshot_bytes)) {
		n->snap_bytes = 0;
		if (n->sm.snapshot_live) {
			pthread_mutex_lock(&n->ap_mu);
			n->snap_in_progress = true;
			n->snap_wanted = true;
			pthread_cond_signal(&n->snap_cv);
			pthread_mutex_unlock(&n->ap_mu);
		} else {
			take_snapshot(n);
			publish(n);
		}
	}
}

void *sn__node_apply(void *arg)
{
	sn_node *n = arg;
	sn__thread_name("sn-apply");
	sn_entry *merged = NULL;
	size_t merged_cap = 0;

	for (;;) {
		sn__ap *ap, *more = NULL, **more_tail = &more;
		size_t total;
		uint64_t snap;
		bool busy;

		pthread_mutex_lock(&n->ap_mu);
		while (!n->ap_quit && !n->ap_head)
			pthread_cond_wait(&n->ap_cv, &n->ap_mu);
		if (n->ap_quit) {
			pthread_mutex_unlock(&n->ap_mu);
			break;
		}
		ap = n->ap_head;
		n->ap_head = ap->next;
		ap->next = NULL;
		if (ap->kind == SN__AP_READ) {
			ap->next = n->ap_reads;
			n->ap_reads = ap;
			ap = NULL;
		}
		/* Committed batches queued behind this one join it (reads in
		 * between wait on the apply thread as usual: they are served
		 * once applied reaches their index). */
		total = ap && ap->kind == SN__AP_ENTRIES ? ap->n : 0;
		while (total && n->ap_head && total < MERGE_MAX_ENTRIES) {
			sn__ap *x = n->ap_head;
			if (x->kind == SN__AP_READ) {
				n->ap_head = x->next;
				x->next = n->ap_reads;
				n->ap_reads = x;
				continue;
			}
			if (x->kind != SN__AP_ENTRIES ||
			    total + x->n > MERGE_MAX_ENTRIES)
				break;
			n->ap_head = x->next;
			x->next = NULL;
			*more_tail = x;
			more_tail = &x->next;
			total += x->n;
		}
		if (!n->ap_head)
			n->ap_tail = NULL;
		busy = n->snap_in_progress;
		snap = n->last_snap;
		n->ap_busy = true;
		pthread_mutex_unlock(&n->ap_mu);

		if (ap && !sn__node_stopped(n)) {
			if (ap->kind != SN__AP_ENTRIES) {
				restore(n, ap);
			} else if (!more) {
				apply_batch(n, ap->entries, ap->n);
			} else if (sn__grow((void **)&merged, &merged_cap, total,
					    sizeof *merged)) {
				sn__node_stop(n, SN_ENOMEM,
					      "apply: out of memory");
			} else {
				size_t k = ap->n;
				memcpy(merged, ap->entries, k * sizeof *merged);
				for (sn__ap *x = more; x; x = x->next) {
					memcpy(merged + k, x->entries,
					       x->n * sizeof *merged);
					k += x->n;
				}
				apply_batch(n, merged, k);
			}
		}
		sn__ap_free(ap);
		while (more) {
			sn__ap *x = more;
			more = x->next;
			sn__ap_free(x);
		}
		after_apply(n, busy, snap);
		pthread_mutex_lock(&n->ap_mu);
		n->ap_busy = false;
		pthread_mutex_unlock(&n->ap_mu);
	}
	sn__free(merged);
	return NULL;
}

bool sn__node_apply_here(sn_node *n, const sn_entry *entries, size_t k)
{
	uint64_t snap;
	size_t bytes = 0;
	bool busy;

	/* Only a state machine whose snapshots do not run here (a local
	 * snapshot must not stop the loop), only batches up to the bounds,
	 * and only when nothing is queued for the apply thread and it is
	 * idle: the order of applying stays the order of committing. */
	if (k > APPLY_HERE_MAX_ENTRIES ||
	    (n->has_sm_snapshot && !n->sm.snapshot_live))
		return false;
	for (size_t i = 0; i < k; i++)
		bytes += entries[i].len;
	if (bytes > APPLY_HERE_MAX_BYTES)
		return false;
	pthread_mutex_lock(&n->ap_mu);
	if (n->ap_head || n->ap_busy || n->ap_quit) {
		pthread_mutex_unlock(&n->ap_mu);
		return false;
	}
	n->ap_busy = true;
	busy = n->snap_in_progress;
	snap = n->last_snap;
	pthread_mutex_unlock(&n->ap_mu);
	if (!sn__node_stopped(n))
		apply_batch(n, (sn_entry *)entries, k);
	after_apply(n, busy, snap);
	pthread_mutex_lock(&n->ap_mu);
	n->ap_busy = false;
	if (n->ap_head) /* a read posted by another thread meanwhile */
		pthread_cond_signal(&n->ap_cv);
	pthread_mutex_unlock(&n->ap_mu);
	return true;
}
