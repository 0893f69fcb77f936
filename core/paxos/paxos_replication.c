/*
 * Phase 2: proposals, per-acceptor progress with flow control (probe /
 * replicate, in-flight limits, as in the Raft engine), Accepts, and the
 * commit rule: a slot is chosen once a quorum accepted it at the leader's
 * ballot (the leader's own acceptance counts once durable).
 */
#include "paxos_impl.h"

#include <stdlib.h>

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* ---- in-flight window of one acceptor ---- */

static bool inflights_full(const sn__paxos *p, const sn__pprogress *pr)
{
	return sn__inflights_full(&pr->infl, p->max_inflight_bytes);
}

static void become_probe(sn__pprogress *pr)
{
	pr->state = SN__PR_PROBE;
	pr->probe_sent = false;
	sn__inflights_reset(&pr->infl);
}

static void become_replicate(sn__pprogress *pr)
{
	pr->state = SN__PR_REPLICATE;
	pr->next = pr->match + 1;
	sn__inflights_reset(&pr->infl);
}

static bool paused(const sn__paxos *p, const sn__pprogress *pr)
{
	if (pr->state == SN__PR_SNAPSHOT)
		return true;
	return pr->state == SN__PR_PROBE ? pr->probe_sent
					 : inflights_full(p, pr);
}

/* ---- leadership ---- */

void sn__paxos_start_replication(sn__paxos *p)
{
	for (size_t i = 0; i < p->n_prs; i++) {
		sn__pprogress *pr = &p->prs[i];
		pr->match = 0;
		/* Every acceptor needs the recovered slots at our ballot. */
		pr->next = p->prep_commit + 1;
		pr->recent_active = true;
		pr->read_ack = 0;
		become_probe(pr);
	}
	p->prs[p->self].match = p->log.persisted;
	sn__paxos_bcast_accept(p, true);
	sn__paxos_maybe_commit(p);
}

int sn__paxos_propose(sn_engine *e, uint64_t *index_out, const void *data,
		      size_t len)
{
	sn__paxos *p = (sn__paxos *)e;
	int rv;

	if (p->role != SN_ROLE_LEADER)
		return sn__err(SN_ENOTLEADER, "paxos %llu: not the leader "
			       "(leader %llu)", (unsigned long long)p->id,
			       (unsigned long long)p->lead);
	if (p->recovering)
		return sn__err(SN_ENOTLEADER, "paxos %llu: recovering slots "
			       "through %llu first", (unsigned long long)p->id,
			       (unsigned long long)p->recover_to);
	if (len > p->max_entry_bytes)
		return sn__err(SN_ETOOLARGE, "paxos: entry of %zu bytes exceeds "
			       "max_entry_bytes %zu", len, p->max_entry_bytes);
	if (p->uncommitted_bytes &&
	    p->uncommitted_bytes + len > p->max_uncommitted_bytes)
		return sn__err(SN_EBUSY, "paxos: %zu uncommitted bytes, limit "
			       "%zu", p->uncommitted_bytes,
			       p->max_uncommitted_bytes);
	rv = sn__plog_append(&p->log, p->ballot, SN_ENTRY_NORMAL, data, len);
	if (rv)
		return rv;
	p->uncommitted_bytes += len;
	p->bcast_pending = true; /* batched: sent at the next ready */
	if (index_out)
		*index_out = sn__plog_last(&p->log);
	return SN_OK;
}

/* ---- sending ---- */

void sn__paxos_send_accept(sn__paxos *p, sn__pprogress *pr, bool send_empty)
{
	uint64_t last = sn__plog_last(&p->log);
	sn__paxos_msg m = { 0 };
	size_t bytes = 0, n = 0;
	int rv;

	if (paused(p, pr))
		return;
	if (pr->next - 1 < p->log.offset) {
		sn__paxos_send_snapshot(p, pr);
		return;
	}
	while (pr->next + n <= last && n < SN__PAXOS_MAX_ENTRIES_PER_MSG) {
		const sn_entry *e = sn__plog_at(&p->log, pr->next + n);
		size_t size = SN__PAXOS_ENTRY_HEADER + e->len;
		if (n && bytes + size > p->max_msg_bytes)
			break;
		bytes += size;
		n++;
	}
	if (!n && !send_empty)
		return;
	m.type = SN__PAXOS_ACCEPT;
	m.ballot = p->ballot;
	m.index = pr->next - 1;
	m.commit = p->commit;
	m.n_entries = n;
	if (n) {
		/* Slots through our commit may hold a chosen value at an
		 * older ballot: proposing it at ours is what phase 2 does
		 * with a value it knows (and it keeps one value per slot and
		 * ballot). */
		m.entries = sn__calloc(n, sizeof *m.entries);
		if (!m.entries)
			return;
		for (size_t i = 0; i < n; i++) {
			m.entries[i] = *sn__plog_at(&p->log, pr->next + i);
			m.entries[i].term = p->ballot;
		}
	}
	rv = sn__paxos_send(p, false, pr->id, &m);
	sn__free(m.entries);
	if (rv)
		return;
	if (pr->state == SN__PR_REPLICATE && n) {
		pr->next += n;
		sn__inflights_add(&pr->infl, pr->next - 1, bytes);
	} else if (pr->state == SN__PR_PROBE) {
		pr->probe_sent = true;
	}
}

void sn__paxos_bcast_accept(sn__paxos *p, bool send_empty)
{
	for (size_t i = 0; i < p->n_prs; i++)
		if (i != p->self)
			sn__paxos_send_accept(p, &p->prs[i], send_empty);
}

void sn__paxos_bcast_heartbeat(sn__paxos *p)
{
	sn__paxos_msg m = { 0 };

	m.type = SN__PAXOS_HEARTBEAT;
	m.ballot = p->ballot;
	m.commit = p->commit;
	m.ctx = p->read_round;
	for (size_t i = 0; i < p->n_prs; i++)
		if (i != p->self)
			sn__paxos_send(p, false, p->prs[i].id, &m);
}

/* ---- the commit rule ---- */

static int cmp_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

static void commit_to(sn__paxos *p, uint64_t commit)
{
	for (uint64_t i = p->commit + 1; i <= commit; i++) {
		const sn_entry *e = sn__plog_at(&p->log, i);
		if (i > p->recover_to && e)
			p->uncommitted_bytes -= min_u64(e->len,
							p->uncommitted_bytes);
	}
	p->commit = commit;
	if (p->recovering && p->commit >= p->recover_to) {
		p->recovering = false;
		sn__paxos_reads_on_recovered(p);
	}
}

bool sn__paxos_maybe_commit(sn__paxos *p)
{
	uint64_t matches[64], *m = matches, mci;

	if (p->role != SN_ROLE_LEADER)
		return false;
	if (p->n_prs > 64) {
		m = sn__calloc(p->n_prs, sizeof *m);
		if (!m)
			return false;
	}
	for (size_t i = 0; i < p->n_prs; i++)
		m[i] = p->prs[i].match;
	qsort(m, p->n_prs, sizeof *m, cmp_desc);
	mci = m[sn__paxos_quorum(p) - 1];
	if (m != matches)
		sn__free(m);
	if (mci <= p->commit)
		return false;
	commit_to(p, mci);
	return true;
}

void sn__paxos_persisted(sn_engine *e, uint64_t index, uint64_t term)
{
	sn__paxos *p = (sn__paxos *)e;

	if (!sn__plog_durable(&p->log, index, term))
		return; /* stale: not a write we handed out, or nothing new */
	if (p->self_wait && p->role == SN_ROLE_CANDIDATE &&
	    p->log.persisted >= sn__plog_last(&p->log))
		sn__paxos_become_leader(p); /* our promise is durable now */
	if (p->role == SN_ROLE_LEADER) {
		p->prs[p->self].match = p->log.persisted;
		if (sn__paxos_maybe_commit(p))
			sn__paxos_bcast_accept(p, true);
	}
}

/* ---- responses ---- */

static bool maybe_decrease(sn__pprogress *pr, uint64_t rejected,
			   uint64_t hint)
{
	if (pr->state == SN__PR_SNAPSHOT)
		return false;
	if (pr->state == SN__PR_REPLICATE) {
		if (rejected <= pr->match)
			return false; /* stale */
	} else if (pr->next - 1 != rejected) {
		return false; /* stale */
	}
	pr->next = max_u64(pr->match, hint) + 1;
	pr->probe_sent = false;
	return true;
}

static void fill_pipeline(sn__paxos *p, sn__pprogress *pr)
{
	while (pr->next <= sn__plog_last(&p->log) && !paused(p, pr)) {
		uint64_t before = pr->next;
		sn__paxos_send_accept(p, pr, false);
		if (pr->state == SN__PR_PROBE || pr->next == before)
			break;
	}
}

void sn__paxos_on_accepted(sn__paxos *p, const sn__paxos_msg *m,
			   uint64_t from)
{
	sn__pprogress *pr = sn__paxos_progress(p, from);
	uint64_t match;

	pr->recent_active = true;
	if (m->reject) {
		if (maybe_decrease(pr, m->index, m->hint)) {
			if (pr->state == SN__PR_REPLICATE)
				become_probe(pr);
			sn__paxos_send_accept(p, pr, true);
		}
		return;
	}
	match = min_u64(m->index, sn__plog_last(&p->log));
	if (match > pr->match) {
		pr->match = match;
		if (pr->next < match + 1)
			pr->next = match + 1;
		if (pr->state == SN__PR_PROBE)
			become_replicate(pr);
		else if (pr->state == SN__PR_REPLICATE)
			sn__inflights_free_to(&pr->infl, match);
		else if (pr->match >= p->log.offset)
			become_probe(pr); /* caught up without the snapshot */
		if (sn__paxos_maybe_commit(p))
			sn__paxos_bcast_accept(p, true);
	} else if (pr->state == SN__PR_PROBE) {
		pr->probe_sent = false;
	}
	fill_pipeline(p, pr);
	/* It may learn a commit it could not when it was last told one. */
	if (m->commit < min_u64(p->commit, pr->match) &&
	    pr->next > sn__plog_last(&p->log))
		sn__paxos_send_accept(p, pr, true);
}

void sn__paxos_on_heartbeat_response(sn__paxos *p, const sn__paxos_msg *m,
				     uint64_t from)
{
	sn__pprogress *pr = sn__paxos_progress(p, from);

	pr->recent_active = true;
	if (pr->state == SN__PR_SNAPSHOT) {
		sn__paxos_snapshot_heartbeat(p, pr);
	} else {
		pr->probe_sent = false;
		/* A full window with no acks: let one more message probe. */
		if (pr->state == SN__PR_REPLICATE && inflights_full(p, pr))
			sn__inflights_free_first(&pr->infl);
		if (pr->match < sn__plog_last(&p->log))
			sn__paxos_send_accept(p, pr, true);
	}
	if (m->ctx > pr->read_ack) {
		pr->read_ack = m->ctx;
		sn__paxos_reads_on_ack(p);
	}
}
