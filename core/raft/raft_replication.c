/* Log replication: proposals, per-follower progress with flow control
 * (probe / replicate, in-flight limits), appends, and the commit rule. */
#include "raft_impl.h"

#include <stdlib.h>

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* ---- in-flight window of one follower ---- */

static bool inflights_full(const sn__raft *r, const sn__progress *pr)
{
	return sn__inflights_full(&pr->infl, r->max_inflight_bytes);
}

static void become_probe(sn__progress *pr)
{
	pr->state = SN__PR_PROBE;
	pr->probe_sent = false;
	sn__inflights_reset(&pr->infl);
}

static void become_replicate(sn__progress *pr)
{
	pr->state = SN__PR_REPLICATE;
	pr->next = pr->match + 1;
	sn__inflights_reset(&pr->infl);
}

static bool paused(const sn__raft *r, const sn__progress *pr)
{
	if (pr->state == SN__PR_SNAPSHOT)
		return true; /* entries wait until the snapshot is in */
	return pr->state == SN__PR_PROBE ? pr->probe_sent
					 : inflights_full(r, pr);
}

/* ---- leadership ---- */

void sn__raft_become_leader(sn__raft *r)
{
	uint64_t last = sn__log_last(&r->log);

	r->role = SN_ROLE_LEADER;
	r->lead = r->id;
	r->transferee = 0;
	r->uncommitted_bytes = 0;
	sn__raft_reset_timer(r);
	for (size_t i = 0; i < r->n_prs; i++) {
		sn__progress *pr = &r->prs[i];
		pr->match = 0;
		pr->next = last + 1;
		pr->recent_active = true;
		pr->read_ack = 0;
		become_probe(pr);
	}
	r->prs[r->self].match = r->log.persisted;
	/* The empty entry of the new term: committing it commits every
	 * earlier entry (Figure 8) and unblocks ReadIndex. A lone voter
	 * wrote it already as a candidate. */
	if (sn__log_term(&r->log, last) != r->term &&
	    sn__log_append(&r->log, r->term, SN_ENTRY_NOOP, NULL, 0) == SN_OK)
		sn__raft_bcast_append(r, true);
	sn__raft_maybe_commit(r);
}

int sn__raft_propose(sn_engine *e, uint64_t *index_out, const void *data,
		     size_t len)
{
	sn__raft *r = (sn__raft *)e;
	int rv;

	if (r->role != SN_ROLE_LEADER)
		return sn__err(SN_ENOTLEADER, "raft %llu: not the leader "
			       "(leader %llu)", (unsigned long long)r->id,
			       (unsigned long long)r->lead);
	if (r->transferee)
		return sn__err(SN_ENOTLEADER, "raft %llu: transferring "
			       "leadership to %llu", (unsigned long long)r->id,
			       (unsigned long long)r->transferee);
	if (len > r->max_entry_bytes)
		return sn__err(SN_ETOOLARGE, "raft: entry of %zu bytes exceeds "
			       "max_entry_bytes %zu", len, r->max_entry_bytes);
	if (r->uncommitted_bytes &&
	    r->uncommitted_bytes + len > r->max_uncommitted_bytes)
		return sn__err(SN_EBUSY, "raft: %zu uncommitted bytes, limit "
			       "%zu", r->uncommitted_bytes,
			       r->max_uncommitted_bytes);
	rv = sn__log_append(&r->log, r->term, SN_ENTRY_NORMAL, data, len);
	if (rv)
		return rv;
	r->uncommitted_bytes += len;
	r->bcast_pending = true; /* batched: sent at the next ready */
	if (index_out)
		*index_out = sn__log_last(&r->log);
	return SN_OK;
}

/* ---- sending ---- */

void sn__raft_send_append(sn__raft *r, sn__progress *pr, bool send_empty)
{
	uint64_t last = sn__log_last(&r->log);
	sn__raft_msg m = { 0 };
	size_t bytes = 0, n = 0;

	if (paused(r, pr))
		return;
	if (pr->next - 1 < r->log.offset) {
		/* The entries it needs were compacted away. */
		sn__raft_send_snapshot(r, pr);
		return;
	}
	/* Entry headers count too, so many tiny entries cannot make a message
	 * larger than max_msg_bytes (gRPC refuses messages above 4 MiB). */
	while (pr->next + n <= last && n < SN__RAFT_MAX_ENTRIES_PER_MSG) {
		const sn_entry *e = sn__log_at(&r->log, pr->next + n);
		size_t size = SN__RAFT_ENTRY_HEADER + e->len;
		if (n && bytes + size > r->max_msg_bytes)
			break;
		bytes += size;
		n++;
	}
	if (!n && !send_empty)
		return;
	m.type = SN__RAFT_APP;
	m.term = r->term;
	m.index = pr->next - 1;
	m.log_term = sn__log_term(&r->log, m.index);
	m.commit = r->commit;
	m.n_entries = n;
	m.entries = n ? (sn_entry *)sn__log_at(&r->log, pr->next) : NULL;
	if (sn__raft_send(r, false, pr->id, &m))
		return;
	if (pr->state == SN__PR_REPLICATE && n) {
		pr->next += n;
		sn__inflights_add(&pr->infl, pr->next - 1, bytes);
	} else if (pr->state == SN__PR_PROBE) {
		pr->probe_sent = true;
	}
}

void sn__raft_bcast_append(sn__raft *r, bool send_empty)
{
	for (size_t i = 0; i < r->n_prs; i++)
		if (i != r->self)
			sn__raft_send_append(r, &r->prs[i], send_empty);
}

void sn__raft_bcast_heartbeat(sn__raft *r)
{
	sn__raft_msg m = { 0 };

	m.type = SN__RAFT_HEARTBEAT;
	m.term = r->term;
	m.ctx = r->read_round;
	for (size_t i = 0; i < r->n_prs; i++) {
		if (i == r->self)
			continue;
		/* Never ask a follower to commit what it may not hold. */
		m.commit = min_u64(r->prs[i].match, r->commit);
		sn__raft_send(r, false, r->prs[i].id, &m);
	}
}

/* ---- the commit rule ---- */

static int cmp_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

void sn__raft_commit_to(sn__raft *r, uint64_t commit)
{
	if (commit <= r->commit)
		return;
	if (r->role == SN_ROLE_LEADER) {
		for (uint64_t i = r->commit + 1; i <= commit; i++) {
			const sn_entry *e = sn__log_at(&r->log, i);
			if (e->term == r->term)
				r->uncommitted_bytes -= e->len <
					r->uncommitted_bytes ? e->len
					: r->uncommitted_bytes;
		}
	}
	r->commit = commit;
}

bool sn__raft_maybe_commit(sn__raft *r)
{
	uint64_t matches[64], *m = matches, mci;

	if (r->n_prs > 64) {
		m = sn__calloc(r->n_prs, sizeof *m);
		if (!m)
			return false;
	}
	for (size_t i = 0; i < r->n_prs; i++)
		m[i] = r->prs[i].match;
	qsort(m, r->n_prs, sizeof *m, cmp_desc);
	mci = m[sn__raft_quorum(r) - 1];
	if (m != matches)
		sn__free(m);
	/* Figure 8: only an entry of the current term is committed by
	 * counting replicas; older ones commit with it. */
	if (mci <= r->commit ||
	    (sn__log_term(&r->log, mci) != r->term &&
	     !SN__MUTANT(SN__MUTANT_COMMIT_OLD_TERM)))
		return false;
	sn__raft_commit_to(r, mci);
	sn__raft_reads_on_commit(r);
	return true;
}

void sn__raft_persisted(sn_engine *e, uint64_t index, uint64_t term)
{
	sn__raft *r = (sn__raft *)e;

	if (index <= r->log.persisted || index >= r->log.unstable ||
	    sn__log_term(&r->log, index) != term)
		return; /* stale: the entry was replaced meanwhile */
	r->log.persisted = index;
	if (r->role == SN_ROLE_CANDIDATE && r->n_prs == 1 && term == r->term) {
		sn__raft_become_leader(r); /* its term is durable now */
		return;
	}
	if (r->role == SN_ROLE_LEADER) {
		r->prs[r->self].match = index;
		if (sn__raft_maybe_commit(r))
			sn__raft_bcast_append(r, true);
	}
}

/* ---- the follower side ---- */

/* The highest index <= index whose term is <= term: where a rejected
 * leader should probe next, skipping a whole conflicting term at once. */
static uint64_t find_conflict_by_term(const sn__raft *r, uint64_t index,
				      uint64_t term)
{
	while (index > 0 && sn__log_term(&r->log, index) > term)
		index--;
	return index;
}

static void reply_append(sn__raft *r, uint64_t to, uint64_t index,
			 bool reject, uint64_t hint)
{
	sn__raft_msg resp = { 0 };

	resp.type = SN__RAFT_APP_RESP;
	resp.term = r->term;
	resp.index = index;
	resp.reject = reject;
	resp.hint = hint;
	resp.log_term = sn__log_term(&r->log, hint);
	sn__raft_send(r, true, to, &resp);
}

void sn__raft_on_append(sn__raft *r, const sn__raft_msg *m, uint64_t from)
{
	uint64_t last = sn__log_last(&r->log), last_new, i;

	if (m->index < r->commit) {
		reply_append(r, from, r->commit, false, 0);
		return;
	}
	if (m->index > last || sn__log_term(&r->log, m->index) != m->log_term) {
		uint64_t hint = find_conflict_by_term(
			r, min_u64(m->index, last), m->log_term);
		reply_append(r, from, m->index, true, hint);
		return;
	}
	/* Skip what we already hold; replace from the first conflict. */
	for (i = 0; i < m->n_entries; i++) {
		const sn_entry *e = &m->entries[i];
		if (sn__log_term(&r->log, e->index) != e->term)
			break;
	}
	/* m->index >= commit here, so a conflict never touches a committed
	 * entry. */
	if (i < m->n_entries && m->entries[i].index <= last)
		sn__log_truncate(&r->log, m->entries[i].index);
	for (; i < m->n_entries; i++) {
		const sn_entry *e = &m->entries[i];
		if (sn__log_append(&r->log, e->term, e->type, e->data, e->len))
			return; /* out of memory: the leader will retry */
	}
	last_new = m->index + m->n_entries;
	sn__raft_commit_to(r, min_u64(m->commit, last_new));
	reply_append(r, from, last_new, false, 0);
}

void sn__raft_on_heartbeat(sn__raft *r, const sn__raft_msg *m, uint64_t from)
{
	sn__raft_msg resp = { 0 };

	sn__raft_commit_to(r, min_u64(m->commit, sn__log_last(&r->log)));
	resp.type = SN__RAFT_HEARTBEAT_RESP;
	resp.term = r->term;
	resp.ctx = m->ctx;
	sn__raft_send(r, false, from, &resp);
}

/* ---- the leader side of responses ---- */

static bool maybe_decrease(sn__progress *pr, uint64_t rejected,
			   uint64_t hint)
{
	if (pr->state == SN__PR_SNAPSHOT)
		return false; /* the snapshot decides what comes next */
	if (pr->state == SN__PR_REPLICATE) {
		if (rejected <= pr->match)
			return false; /* stale */
		pr->next = pr->match + 1;
		return true;
	}
	if (pr->next - 1 != rejected)
		return false; /* stale */
	pr->next = min_u64(rejected, hint + 1);
	if (pr->next < pr->match + 1)
		pr->next = pr->match + 1;
	pr->probe_sent = false;
	return true;
}

void sn__raft_on_append_response(sn__raft *r, const sn__raft_msg *m,
				 uint64_t from)
{
	sn__progress *pr = sn__raft_progress(r, from);

	pr->recent_active = true;
	if (m->reject) {
		/* The leader's half of the conflict search: skip back past
		 * every index whose term exceeds the follower's term there. */
		uint64_t hint = m->hint;
		if (m->log_term)
			hint = find_conflict_by_term(r, min_u64(hint,
						     sn__log_last(&r->log)),
						     m->log_term);
		if (maybe_decrease(pr, m->index, hint)) {
			if (pr->state == SN__PR_REPLICATE)
				become_probe(pr);
			sn__raft_send_append(r, pr, true);
		}
		return;
	}
	if (m->index > pr->match) {
		pr->match = m->index;
		if (pr->next < m->index + 1)
			pr->next = m->index + 1;
		if (pr->state == SN__PR_PROBE)
			become_replicate(pr);
		else if (pr->state == SN__PR_REPLICATE)
			sn__inflights_free_to(&pr->infl, m->index);
		else if (pr->match >= r->log.offset)
			become_probe(pr); /* caught up without the snapshot */
		if (sn__raft_maybe_commit(r))
			sn__raft_bcast_append(r, true);
		sn__raft_transfer_check(r, pr);
	} else if (pr->state == SN__PR_PROBE) {
		pr->probe_sent = false;
	}
	/* Keep the pipeline full. */
	while (pr->next <= sn__log_last(&r->log) && !paused(r, pr)) {
		uint64_t before = pr->next;
		sn__raft_send_append(r, pr, false);
		if (pr->state == SN__PR_PROBE || pr->next == before)
			break;
	}
}

void sn__raft_on_heartbeat_response(sn__raft *r, const sn__raft_msg *m,
				    uint64_t from)
{
	sn__progress *pr = sn__raft_progress(r, from);

	pr->recent_active = true;
	if (pr->state == SN__PR_SNAPSHOT) {
		sn__raft_snapshot_heartbeat(r, pr);
		goto reads;
	}
	pr->probe_sent = false;
	/* A full window with no acks: let one more message probe it. */
	if (pr->state == SN__PR_REPLICATE && inflights_full(r, pr))
		sn__inflights_free_first(&pr->infl);
	/* An empty append re-syncs a follower whose appends were lost: it
	 * rejects, and the leader falls back to probing. */
	if (pr->match < sn__log_last(&r->log))
		sn__raft_send_append(r, pr, true);
reads:
	if (m->ctx > pr->read_ack) {
		pr->read_ack = m->ctx;
		sn__raft_reads_on_ack(r);
	}
}
