/*
 * The node runtime: options, recovery at open, the public calls, close.
 * The loop thread is in node_loop.c, the apply thread in node_apply.c.
 */
#define _POSIX_C_SOURCE 200809L

#include "node_impl.h"
#include "../base/storage_impl.h"

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

int sn_node_options_init(sn_node_options *opts, unsigned version)
{
	static const sn_node_options def = SN_NODE_OPTIONS_INIT;

	if (!opts || version < 1 || version > SN_NODE_OPTIONS_VERSION)
		return sn__err(SN_EINVAL, "sn_node_options_init: unknown "
			       "version %u", version);
	*opts = def;
	opts->version = version;
	return SN_OK;
}

/* ---- small helpers ------------------------------------------------------ */

void sn__ev_free(sn__ev *ev)
{
	if (!ev)
		return;
	for (size_t i = 0; i < ev->n_after; i++)
		sn__free((void *)ev->after[i].data);
	sn__free(ev->after);
	sn__free(ev->buf);
	sn__free(ev->voters);
	sn__free(ev);
}

void sn__node_post(sn_node *n, sn__ev *ev)
{
	pthread_mutex_lock(&n->mu);
	ev->next = NULL;
	if (n->tail)
		n->tail->next = ev;
	else
		n->head = ev;
	n->tail = ev;
	if (ev->kind == SN__EV_MSG)
		n->n_msgs++;
	pthread_cond_signal(&n->cv);
	pthread_mutex_unlock(&n->mu);
}

void sn__node_stop(sn_node *n, int code, const char *fmt, ...)
{
	va_list ap;
	bool first;

	pthread_mutex_lock(&n->stat_mu);
	first = n->err == SN_OK;
	if (first) {
		n->err = code;
		va_start(ap, fmt);
		vsnprintf(n->errmsg, sizeof n->errmsg, fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&n->stat_mu);
	if (first)
		sn__log(SN_LOG_ERROR, "node %llu stopped (%s): %s",
			(unsigned long long)n->id, sn_strerror(code),
			n->errmsg);
}

bool sn__node_stopped(sn_node *n)
{
	bool s;

	pthread_mutex_lock(&n->stat_mu);
	s = n->err != SN_OK;
	pthread_mutex_unlock(&n->stat_mu);
	return s;
}

static char *join(const char *dir, const char *name)
{
	size_t len = strlen(dir) + strlen(name) + 2;
	char *p = sn__malloc(len);

	if (p)
		snprintf(p, len, "%s/%s", dir, name);
	return p;
}

static int check_options(const sn_node_options *o)
{
	bool self = false;

	if (!o || o->version < 1 || o->version > SN_NODE_OPTIONS_VERSION)
		return sn__err(SN_EINVAL, "sn_node_open: options missing or of "
			       "an unknown version");
	if (!o->id || !o->voters || !o->n_voters)
		return sn__err(SN_EINVAL, "sn_node_open: id and voters are "
			       "required");
	for (size_t i = 0; i < o->n_voters; i++)
		self |= o->voters[i] == o->id;
	if (!self)
		return sn__err(SN_EINVAL, "sn_node_open: id %llu is not a "
			       "voter", (unsigned long long)o->id);
	if (!o->data_dir || !*o->data_dir)
		return sn__err(SN_EINVAL, "sn_node_open: data_dir is required");
	if (!o->transport || !o->transport->send)
		return sn__err(SN_EINVAL, "sn_node_open: a transport with a "
			       "send function is required");
	if (!o->sm || !o->sm->apply)
		return sn__err(SN_EINVAL, "sn_node_open: a state machine with "
			       "an apply function is required");
	if ((o->sm->snapshot ||
	     (o->version >= 3 && o->sm->snapshot_live)) && !o->sm->restore)
		return sn__err(SN_EINVAL, "sn_node_open: a state machine that "
			       "takes snapshots must restore them");
	if (o->engine && strcmp(o->engine, "raft") != 0 &&
	    strcmp(o->engine, "paxos") != 0)
		return sn__err(SN_EINVAL, "sn_node_open: unknown engine \"%s\" "
			       "(raft or paxos)", o->engine);
	if (o->heartbeat_ticks && o->election_ticks &&
	    o->heartbeat_ticks >= o->election_ticks)
		return sn__err(SN_EINVAL, "sn_node_open: heartbeat_ticks must "
			       "be below election_ticks");
	return SN_OK;
}

/* ---- recovery ----------------------------------------------------------- */

/* Does the recovered log continue from snapshot `m` (a local snapshot,
 * whose marker may be missing), rather than contradict it? */
static bool log_fits(const sn_storage_state *st, const sn_snapshot_meta *m)
{
	uint64_t first, last;

	if (st->has_snapshot && st->snapshot.index == m->index &&
	    st->snapshot.term == m->term)
		return true;
	if (!st->n_entries)
		return false;
	first = st->entries[0].index;
	last = first + st->n_entries - 1;
	if (first == m->index + 1)
		return true;
	return first <= m->index && m->index <= last &&
	       st->entries[m->index - first].term == m->term;
}

typedef struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	int status;
} waiter;

static void wake(void *ud, int status)
{
	waiter *w = ud;

	pthread_mutex_lock(&w->mu);
	w->done = true;
	w->status = status;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* Record the install of `m` and wait for it (recovery only). */
static int install_now(sn_storage *st, const sn_snapshot_meta *m)
{
	waiter w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
		     false, SN_OK };
	int rv = sn_storage_install(st, m, wake, &w);

	if (rv)
		return rv;
	pthread_mutex_lock(&w.mu);
	while (!w.done)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	return w.status;
}

static uint64_t seed_of(uint64_t id)
{
	struct timespec ts;
	uint64_t s;

	clock_gettime(CLOCK_REALTIME, &ts);
	s = id * 0x9e3779b97f4a7c15ull ^ (uint64_t)ts.tv_nsec ^
	    ((uint64_t)ts.tv_sec << 20);
	return sn__splitmix64(&s) | 1;
}

static int new_engine(sn_node *n, const sn_node_options *o,
		      const sn_storage_state *s, const sn_snapshot_meta *snap,
		      uint64_t applied, const sn_snapshot_meta *partial,
		      uint64_t p_off, uint32_t p_crc)
{
	if (o->engine && strcmp(o->engine, "paxos") == 0) {
		sn_paxos_options p;
		sn_paxos_options_init(&p, SN_PAXOS_OPTIONS_VERSION);
		p.id = o->id;
		p.group = o->group;
		p.voters = o->voters;
		p.n_voters = o->n_voters;
		p.election_ticks = o->election_ticks;
		p.heartbeat_ticks = o->heartbeat_ticks;
		p.max_entry_bytes = n->max_entry_bytes;
		p.seed = seed_of(o->id);
		p.hard_state = &s->hard_state;
		p.entries = s->entries;
		p.n_entries = s->n_entries;
		p.applied = applied;
		p.snapshot = snap;
		p.snapshot_read = sn__node_snapshot_read;
		p.snapshot_userdata = n;
		p.snapshot_partial = partial;
		p.snapshot_partial_offset = p_off;
		p.snapshot_partial_crc = p_crc;
		return sn_paxos_new(&n->eng, &p);
	}
	sn_raft_options r;
	sn_raft_options_init(&r, SN_RAFT_OPTIONS_VERSION);
	r.id = o->id;
	r.group = o->group;
	r.voters = o->voters;
	r.n_voters = o->n_voters;
	r.election_ticks = o->election_ticks;
	r.heartbeat_ticks = o->heartbeat_ticks;
	r.max_entry_bytes = n->max_entry_bytes;
	r.seed = seed_of(o->id);
	r.hard_state = &s->hard_state;
	r.entries = s->entries;
	r.n_entries = s->n_entries;
	r.applied = applied;
	r.snapshot = snap;
	r.snapshot_read = sn__node_snapshot_read;
	r.snapshot_userdata = n;
	r.snapshot_partial = partial;
	r.snapshot_partial_offset = p_off;
	r.snapshot_partial_crc = p_crc;
	return sn_raft_new(&n->eng, &r);
}

/*
 * The recovery order of docs/engine-seam.md: the WAL; the newest snapshot
 * file (finishing an install whose marker a crash lost); the state machine
 * restored when it is behind that snapshot; a transfer to resume; the
 * engine.
 */
static int recover(sn_node *n, const sn_node_options *o)
{
	sn_wal_options wo;
	sn_storage_state s;
	sn_snapshot_reader *r = NULL;
	sn_snapshot_meta snap, partial;
	bool has_snap, has_partial = false;
	uint64_t sm_applied, applied, floor;
	int rv;

	sn_wal_options_init(&wo, SN_WAL_OPTIONS_VERSION);
	wo.dir = n->wal_dir;
	wo.no_sync = o->no_sync;
	rv = sn__wal_open_inline(&n->st, &s, &wo);
	if (rv)
		return rv;
	rv = sn_snapshot_reader_open(&r, &snap, n->snap_dir);
	if (rv != SN_OK && rv != SN_ENOTFOUND)
		return rv;
	has_snap = rv == SN_OK;
	if (s.has_snapshot && (!has_snap || snap.index < s.snapshot.index)) {
		rv = sn__err(SN_ECORRUPT, "node: the WAL records snapshot %llu "
			     "but %s holds %s", (unsigned long long)
			     s.snapshot.index, n->snap_dir,
			     has_snap ? "an older one" : "none");
		goto out;
	}
	if (has_snap && !log_fits(&s, &snap)) {
		/* A received snapshot became durable, its install marker did
		 * not: record it now, then read the log again. */
		sn__log(SN_LOG_WARN, "node %llu: finishing the install of "
			"snapshot %llu", (unsigned long long)n->id,
			(unsigned long long)snap.index);
		rv = install_now(n->st, &snap);
		if (rv)
			goto out;
		sn_storage_close(n->st);
		n->st = NULL;
		rv = sn__wal_open_inline(&n->st, &s, &wo);
		if (rv)
			goto out;
	}
	sm_applied = o->sm->applied ? o->sm->applied(o->sm->userdata) : 0;
	if (has_snap && sm_applied < snap.index) {
		rv = o->sm->restore(o->sm->userdata, &snap, r);
		if (rv) {
			rv = sn__err(rv, "node: restoring snapshot %llu failed",
				     (unsigned long long)snap.index);
			goto out;
		}
		sm_applied = snap.index;
	}
	n->skip_upto = sm_applied;
	n->applied = sm_applied;
	n->last_snap = has_snap ? snap.index : 0;
	n->applied_term = has_snap && sm_applied == snap.index ? snap.term : 0;
	/* The engine re-hands what the state machine may not hold; never
	 * beyond what the log knows committed. */
	floor = s.hard_state.commit;
	if (has_snap && snap.index > floor)
		floor = snap.index;
	applied = sm_applied < floor ? sm_applied : floor;
	if (has_snap && applied < snap.index)
		applied = snap.index;

	rv = sn_snapshot_writer_resume(&n->rcv, &partial, n->snap_dir);
	if (rv == SN_OK) {
		if (partial.index > floor) {
			has_partial = true;
			n->rcv_meta = partial;
			n->rcv_meta.voters = NULL;
			n->rcv_meta.n_voters = 0;
			n->rcv_open = true;
		} else {
			sn_snapshot_writer_close(n->rcv);
			n->rcv = NULL;
		}
	} else if (rv != SN_ENOTFOUND) {
		goto out;
	}
	rv = new_engine(n, o, &s, has_snap ? &snap : NULL, applied,
			has_partial ? &partial : NULL,
			has_partial ? sn_snapshot_writer_offset(n->rcv) : 0,
			has_partial ? sn_snapshot_writer_crc(n->rcv) : 0);
	if (rv == SN_OK)
		sn__log(SN_LOG_INFO, "node %llu: recovered WAL up to index %llu "
			"(commit %llu), snapshot %llu, state machine at %llu",
			(unsigned long long)n->id,
			(unsigned long long)(s.n_entries
				? s.entries[s.n_entries - 1].index : 0),
			(unsigned long long)s.hard_state.commit,
			(unsigned long long)(has_snap ? snap.index : 0),
			(unsigned long long)sm_applied);
out:
	sn_snapshot_reader_close(r);
	return rv;
}

/* ---- open / close ------------------------------------------------------- */

static void node_free(sn_node *n)
{
	sn__ev *ev, *next;
	sn__ap *ap, *apn;

	sn_engine_free(n->eng);
	for (ev = n->head; ev; ev = next) {
		next = ev->next;
		if ((ev->kind == SN__EV_PROPOSE || ev->kind == SN__EV_READ) &&
		    ev->cb) {
			ev->cb(ev->ud, SN_ESTOPPED, 0, NULL, 0);
			n->in_flight--;
		}
		sn__ev_free(ev);
	}
	for (ap = n->ap_head; ap; ap = apn) {
		apn = ap->next;
		sn__ap_free(ap);
	}
	for (ap = n->ap_reads; ap; ap = apn) {
		apn = ap->next;
		sn__ap_free(ap);
	}
	if (n->rcv)
		sn_snapshot_writer_close(n->rcv);
	sn_snapshot_reader_close(n->snd);
	sn__free(n->pend);
	sn__free(n->preads);
	sn__free(n->voters);
	sn__free(n->wal_dir);
	sn__free(n->snap_dir);
	pthread_mutex_destroy(&n->mu);
	pthread_cond_destroy(&n->cv);
	pthread_mutex_destroy(&n->pend_mu);
	pthread_mutex_destroy(&n->ap_mu);
	pthread_cond_destroy(&n->ap_cv);
	pthread_cond_destroy(&n->snap_cv);
	pthread_mutex_destroy(&n->stat_mu);
	sn__free(n);
}

static int make_dir(const char *path)
{
	if (mkdir(path, 0755) == 0 || errno == EEXIST)
		return SN_OK;
	return sn__err(SN_EIO, "node: cannot create %s: %s", path,
		       strerror(errno));
}

int sn_node_open(sn_node **out, const sn_node_options *o)
{
	sn_node *n;
	int rv;

	if (!out)
		return sn__err(SN_EINVAL, "sn_node_open: NULL out");
	*out = NULL;
	rv = check_options(o);
	if (rv)
		return rv;
	n = sn__calloc(1, sizeof *n);
	if (!n)
		return sn__err(SN_ENOMEM, "sn_node_open: out of memory");
	pthread_mutex_init(&n->mu, NULL);
	pthread_cond_init(&n->cv, NULL);
	pthread_mutex_init(&n->pend_mu, NULL);
	pthread_mutex_init(&n->ap_mu, NULL);
	pthread_cond_init(&n->ap_cv, NULL);
	pthread_cond_init(&n->snap_cv, NULL);
	pthread_mutex_init(&n->stat_mu, NULL);
	n->id = o->id;
	n->group = o->group;
	n->tick_ms = o->tick_ms ? o->tick_ms : 100;
	n->snapshot_entries = o->snapshot_entries ? o->snapshot_entries
						  : 100000;
	n->snapshot_trailing = o->snapshot_trailing;
	n->max_pending = o->max_pending ? o->max_pending : 10000;
	n->max_entry_bytes = o->max_entry_bytes ? o->max_entry_bytes
						: (size_t)1 << 20;
	n->transport = *o->transport;
	/* Field by field: a version 1 caller's struct has no flush. */
	n->sm.userdata = o->sm->userdata;
	n->sm.applied = o->sm->applied;
	n->sm.apply = o->sm->apply;
	n->sm.snapshot = o->sm->snapshot;
	n->sm.restore = o->sm->restore;
	n->sm.flush = o->version >= 2 ? o->sm->flush : NULL;
	n->sm.snapshot_live = o->version >= 3 ? o->sm->snapshot_live : NULL;
	n->has_sm_snapshot = o->sm->snapshot || n->sm.snapshot_live;
	n->voters = sn__calloc(o->n_voters, sizeof *n->voters);
	n->wal_dir = join(o->data_dir, "wal");
	n->snap_dir = join(o->data_dir, "snap");
	if (!n->voters || !n->wal_dir || !n->snap_dir) {
		node_free(n);
		return sn__err(SN_ENOMEM, "sn_node_open: out of memory");
	}
	memcpy(n->voters, o->voters, o->n_voters * sizeof *n->voters);
	n->n_voters = o->n_voters;
	rv = make_dir(o->data_dir);
	if (rv == SN_OK)
		rv = make_dir(n->snap_dir);
	if (rv == SN_OK)
		rv = recover(n, o);
	if (rv) {
		char msg[512];
		snprintf(msg, sizeof msg, "%s", sn_errmsg());
		sn_storage_close(n->st);
		node_free(n);
		return sn__err(rv, "%s", msg);
	}
	sn_engine_get_status(&n->est, n->eng);
	n->st_applied = n->applied;
	n->st_snap = n->last_snap;
	if (pthread_create(&n->apply, NULL, sn__node_apply, n) != 0) {
		sn_storage_close(n->st);
		node_free(n);
		return sn__err(SN_ENOMEM, "sn_node_open: cannot start the "
			       "apply thread");
	}
	n->apply_started = true;
	if (n->sm.snapshot_live) {
		if (pthread_create(&n->snap, NULL, sn__node_snap, n) != 0) {
			sn_node_close(n);
			return sn__err(SN_ENOMEM, "sn_node_open: cannot start "
				       "the snapshot thread");
		}
		n->snap_started = true;
	}
	if (pthread_create(&n->loop, NULL, sn__node_loop, n) != 0) {
		n->loop_started = false;
		sn_node_close(n);
		return sn__err(SN_ENOMEM, "sn_node_open: cannot start the "
			       "loop thread");
	}
	n->loop_started = true;
	*out = n;
	return SN_OK;
}

void sn_node_close(sn_node *n)
{
	if (!n)
		return;
	if (n->loop_started) {
		pthread_mutex_lock(&n->mu);
		n->quit = true;
		pthread_cond_signal(&n->cv);
		pthread_mutex_unlock(&n->mu);
		pthread_join(n->loop, NULL);
	}
	/* Runs the callbacks of queued writes: they post into the inbox,
	 * which nobody reads any more; node_free() releases it. */
	sn_storage_close(n->st);
	n->st = NULL;
	if (n->apply_started) {
		pthread_mutex_lock(&n->ap_mu);
		n->ap_quit = true;
		pthread_cond_signal(&n->ap_cv);
		pthread_mutex_unlock(&n->ap_mu);
		pthread_join(n->apply, NULL);
	}
	if (n->snap_started) { /* a copy under way is finished first */
		pthread_mutex_lock(&n->ap_mu);
		n->snap_quit = true;
		pthread_cond_signal(&n->snap_cv);
		pthread_mutex_unlock(&n->ap_mu);
		pthread_join(n->snap, NULL);
	}
	sn__node_fail_all(n, SN_ESTOPPED);
	node_free(n);
}

/* ---- requests ----------------------------------------------------------- */

static int admit(sn_node *n)
{
	int rv = SN_OK;

	if (sn__node_stopped(n))
		return sn__err(SN_ESTOPPED, "node %llu stopped: %s",
			       (unsigned long long)n->id, n->errmsg);
	pthread_mutex_lock(&n->pend_mu);
	if (n->in_flight >= n->max_pending)
		rv = sn__err(SN_EBUSY, "node %llu: %zu requests in flight",
			     (unsigned long long)n->id, n->in_flight);
	else
		n->in_flight++;
	pthread_mutex_unlock(&n->pend_mu);
	return rv;
}

void sn__node_done(sn_node *n)
{
	pthread_mutex_lock(&n->pend_mu);
	n->in_flight--;
	pthread_mutex_unlock(&n->pend_mu);
}

int sn_node_propose(sn_node *n, const void *data, size_t len, sn_node_cb cb,
		    void *userdata)
{
	sn__ev *ev;
	int rv;

	if (!n || !cb || (len && !data))
		return sn__err(SN_EINVAL, "sn_node_propose: NULL argument");
	if (len > n->max_entry_bytes)
		return sn__err(SN_ETOOLARGE, "sn_node_propose: %zu bytes, the "
			       "limit is %zu", len, n->max_entry_bytes);
	rv = admit(n);
	if (rv)
		return rv;
	ev = sn__calloc(1, sizeof *ev);
	if (ev && len)
		ev->buf = sn__malloc(len);
	if (!ev || (len && !ev->buf)) {
		sn__ev_free(ev);
		sn__node_done(n);
		return sn__err(SN_ENOMEM, "sn_node_propose: out of memory");
	}
	if (len)
		memcpy(ev->buf, data, len);
	ev->len = len;
	ev->kind = SN__EV_PROPOSE;
	ev->cb = cb;
	ev->ud = userdata;
	sn__node_post(n, ev);
	return SN_OK;
}

int sn_node_read(sn_node *n, sn_node_cb cb, void *userdata)
{
	sn__ev *ev;
	int rv;

	if (!n || !cb)
		return sn__err(SN_EINVAL, "sn_node_read: NULL argument");
	rv = admit(n);
	if (rv)
		return rv;
	ev = sn__calloc(1, sizeof *ev);
	if (!ev) {
		sn__node_done(n);
		return sn__err(SN_ENOMEM, "sn_node_read: out of memory");
	}
	ev->kind = SN__EV_READ;
	ev->cb = cb;
	ev->ud = userdata;
	sn__node_post(n, ev);
	return SN_OK;
}

#define SN__NODE_MAX_INBOX 65536

int sn_node_receive(sn_node *n, const sn_message *m)
{
	sn__ev *ev;
	bool full;

	if (!n || !m || (m->len && !m->data))
		return sn__err(SN_EINVAL, "sn_node_receive: NULL argument");
	if (m->to != n->id || m->group != n->group)
		return sn__err(SN_EINVAL, "sn_node_receive: message for member "
			       "%llu of group %llu reached member %llu of "
			       "group %llu", (unsigned long long)m->to,
			       (unsigned long long)m->group,
			       (unsigned long long)n->id,
			       (unsigned long long)n->group);
	if (sn__node_stopped(n))
		return sn__err(SN_ESTOPPED, "node %llu stopped",
			       (unsigned long long)n->id);
	pthread_mutex_lock(&n->mu);
	full = n->n_msgs >= SN__NODE_MAX_INBOX;
	pthread_mutex_unlock(&n->mu);
	if (full)
		return sn__err(SN_EBUSY, "node %llu: inbox full",
			       (unsigned long long)n->id);
	ev = sn__calloc(1, sizeof *ev);
	if (ev && m->len)
		ev->buf = sn__malloc(m->len);
	if (!ev || (m->len && !ev->buf)) {
		sn__ev_free(ev);
		return sn__err(SN_ENOMEM, "sn_node_receive: out of memory");
	}
	if (m->len)
		memcpy(ev->buf, m->data, m->len);
	ev->kind = SN__EV_MSG;
	ev->msg = *m;
	ev->msg.data = ev->buf;
	ev->len = m->len;
	sn__node_post(n, ev);
	return SN_OK;
}

int sn_node_campaign(sn_node *n)
{
	sn__ev *ev;

	if (!n)
		return sn__err(SN_EINVAL, "sn_node_campaign: NULL node");
	if (sn__node_stopped(n))
		return sn__err(SN_ESTOPPED, "node %llu stopped",
			       (unsigned long long)n->id);
	ev = sn__calloc(1, sizeof *ev);
	if (!ev)
		return sn__err(SN_ENOMEM, "sn_node_campaign: out of memory");
	ev->kind = SN__EV_CAMPAIGN;
	sn__node_post(n, ev);
	return SN_OK;
}

void sn_node_status_get(sn_node *n, sn_node_status *out)
{
	if (!n || !out)
		return;
	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&n->stat_mu);
	out->engine = n->est;
	out->applied = n->st_applied;
	out->snapshot_index = n->st_snap;
	out->error = n->err;
	snprintf(out->errmsg, sizeof out->errmsg, "%s", n->errmsg);
	pthread_mutex_unlock(&n->stat_mu);
}
