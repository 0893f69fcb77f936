/* Timers, elections (PreVote, votes, TimeoutNow) and role changes. */
#include "raft_impl.h"

void sn__raft_reset_timer(sn__raft *r)
{
	uint64_t x = r->rand ? r->rand(r->rand_ud) : sn__splitmix64(&r->rng);

	r->election_elapsed = 0;
	r->heartbeat_elapsed = 0;
	r->timeout = r->election_ticks + (unsigned)(x % r->election_ticks);
}

void sn__raft_become_follower(sn__raft *r, uint64_t term, uint64_t lead)
{
	if (r->role == SN_ROLE_LEADER)
		sn__raft_reads_fail(r);
	if (term != r->term) {
		r->term = term;
		r->vote = 0;
	}
	r->role = SN_ROLE_FOLLOWER;
	r->lead = lead;
	r->transferee = 0;
	r->uncommitted_bytes = 0;
	sn__raft_reset_timer(r);
}

static size_t tally(const sn__raft *r, int8_t value)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n_prs; i++)
		n += r->prs[i].vote == value;
	return n;
}

void sn__raft_start_election(sn__raft *r, bool pre, bool transfer)
{
	uint64_t last = sn__log_last(&r->log);
	sn__raft_msg m = { 0 };

	if (r->role == SN_ROLE_LEADER)
		sn__raft_reads_fail(r);
	r->role = pre ? SN_ROLE_PRECANDIDATE : SN_ROLE_CANDIDATE;
	r->lead = 0;
	r->transferee = 0;
	if (!pre) {
		r->term++;
		r->vote = r->id;
	}
	sn__raft_reset_timer(r);
	for (size_t i = 0; i < r->n_prs; i++)
		r->prs[i].vote = -1;
	r->prs[r->self].vote = 1;
	if (tally(r, 1) >= sn__raft_quorum(r)) {
		/* A lone voter wins its own vote, but may lead only once the
		 * new term is durable, or a crash could let it lead the same
		 * term twice with different entries. It writes the term's
		 * empty entry now, and sn__raft_persisted() makes it leader
		 * when that entry (and the term and vote before it) is on
		 * disk. */
		if (pre)
			sn__raft_start_election(r, false, transfer);
		else
			sn__log_append(&r->log, r->term, SN_ENTRY_NOOP, NULL, 0);
		return;
	}

	m.type = pre ? SN__RAFT_PREVOTE : SN__RAFT_VOTE;
	m.term = pre ? r->term + 1 : r->term;
	m.index = last;
	m.log_term = sn__log_term(&r->log, last);
	m.flags = transfer ? SN__RAFT_FLAG_TRANSFER : 0;
	for (size_t i = 0; i < r->n_prs; i++)
		if (i != r->self)
			/* The self-vote must be durable before anyone can
			 * count on it: VOTE waits for the persist. */
			sn__raft_send(r, !pre, r->prs[i].id, &m);
}

int sn__raft_campaign(sn_engine *e)
{
	sn__raft *r = (sn__raft *)e;

	if (r->role == SN_ROLE_LEADER)
		return sn__err(SN_ESTATE, "raft %llu: already the leader",
			       (unsigned long long)r->id);
	sn__raft_start_election(r, r->pre_vote, false);
	return SN_OK;
}

void sn__raft_tick(sn_engine *e)
{
	sn__raft *r = (sn__raft *)e;

	r->election_elapsed++;
	if (r->role != SN_ROLE_LEADER) {
		if (r->election_elapsed >= r->timeout)
			sn__raft_start_election(r, r->pre_vote, false);
		return;
	}
	if (++r->heartbeat_elapsed >= r->heartbeat_ticks) {
		r->heartbeat_elapsed = 0;
		sn__raft_bcast_heartbeat(r);
	}
	if (r->election_elapsed < r->election_ticks)
		return;
	r->election_elapsed = 0;
	r->transferee = 0; /* a transfer gets one election timeout */
	if (r->check_quorum) {
		size_t active = 1;
		for (size_t i = 0; i < r->n_prs; i++) {
			if (i != r->self && r->prs[i].recent_active)
				active++;
			r->prs[i].recent_active = false;
		}
		if (active < sn__raft_quorum(r))
			sn__raft_become_follower(r, r->term, 0);
	}
}

static bool log_up_to_date(const sn__raft *r, const sn__raft_msg *m)
{
	uint64_t last = sn__log_last(&r->log);
	uint64_t last_term = sn__log_term(&r->log, last);

	if (SN__MUTANT(SN__MUTANT_VOTE_NO_LOG_CHECK))
		return true;
	return m->log_term > last_term ||
	       (m->log_term == last_term && m->index >= last);
}

void sn__raft_on_vote_request(sn__raft *r, const sn__raft_msg *m,
			      uint64_t from)
{
	bool pre = m->type == SN__RAFT_PREVOTE;
	bool can_vote = r->vote == from || (r->vote == 0 && r->lead == 0) ||
			(pre && m->term > r->term);
	sn__raft_msg resp = { 0 };

	resp.type = pre ? SN__RAFT_PREVOTE_RESP : SN__RAFT_VOTE_RESP;
	if (can_vote && log_up_to_date(r, m)) {
		/* A granted pre-vote answers in the term it was asked for. */
		resp.term = m->term;
		if (!pre) {
			r->vote = from;
			r->election_elapsed = 0;
		}
	} else {
		resp.term = r->term;
		resp.reject = 1;
	}
	sn__raft_send(r, !pre, from, &resp);
}

void sn__raft_on_vote_response(sn__raft *r, const sn__raft_msg *m,
			       uint64_t from)
{
	bool pre = m->type == SN__RAFT_PREVOTE_RESP;
	sn__progress *pr = sn__raft_progress(r, from);
	size_t q = sn__raft_quorum(r);

	if (pre != (r->role == SN_ROLE_PRECANDIDATE))
		return; /* a response to an earlier phase */
	if (pre && !m->reject && m->term != r->term + 1)
		return; /* a grant for an older pre-vote round */
	if (pr->vote == -1)
		pr->vote = m->reject ? 0 : 1;
	if (tally(r, 1) >= q) {
		if (pre)
			sn__raft_start_election(r, false, false);
		else
			sn__raft_become_leader(r);
	} else if (tally(r, 0) >= q) {
		sn__raft_become_follower(r, r->term, 0);
	}
}
