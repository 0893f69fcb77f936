/*
 * The proposer: election timers, phase 1 (Prepare, Promise) and the
 * recovery of accepted values that turns a candidate into a leader.
 */
#include "paxos_impl.h"

void sn__paxos_reset_timer(sn__paxos *p)
{
	uint64_t x = p->rand ? p->rand(p->rand_ud) : sn__splitmix64(&p->rng);

	p->election_elapsed = 0;
	p->heartbeat_elapsed = 0;
	p->timeout = p->election_ticks + (unsigned)(x % p->election_ticks);
}

void sn__paxos_rec_free(sn__paxos *p)
{
	for (size_t i = 0; i < p->n_rec; i++)
		sn__free(p->rec[i].data);
	p->n_rec = 0;
}

void sn__paxos_become_follower(sn__paxos *p, uint64_t lead)
{
	if (p->role == SN_ROLE_LEADER)
		sn__paxos_reads_fail(p);
	p->role = SN_ROLE_FOLLOWER;
	p->lead = lead;
	p->recovering = false;
	p->self_wait = false;
	p->uncommitted_bytes = 0;
	sn__paxos_rec_free(p);
	sn__paxos_reset_timer(p);
}

/* Merge one reported slot: the value with the highest ballot wins. */
static int rec_merge(sn__paxos *p, const sn_entry *e)
{
	size_t i = (size_t)(e->index - p->prep_commit - 1);
	sn__precov *r;
	void *copy = NULL;

	if (i >= p->n_rec) {
		int rv = sn__grow((void **)&p->rec, &p->cap_rec, i + 1,
				  sizeof *p->rec);
		if (rv)
			return rv;
		memset(p->rec + p->n_rec, 0, (i + 1 - p->n_rec) * sizeof *p->rec);
		p->n_rec = i + 1;
	}
	r = &p->rec[i];
	if (e->term <= r->ballot)
		return SN_OK;
	if (e->len) {
		copy = sn__malloc(e->len);
		if (!copy)
			return sn__err(SN_ENOMEM, "paxos: no memory");
		memcpy(copy, e->data, e->len);
	}
	sn__free(r->data);
	*r = (sn__precov){ e->term, e->type, copy, e->len };
	return SN_OK;
}

static size_t promised_count(const sn__paxos *p, int state)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n_prs; i++)
		n += p->prs[i].prom == state;
	return n;
}

/* Phase 1 won: every slot after our commit takes the highest-ballot value
 * a promiser reported (a NOOP where nobody reported one), accepted at our
 * ballot by ourselves, and replicated. No proposal is served until all of
 * them are chosen. */
static int write_recovered(sn__paxos *p)
{
	uint64_t c = p->prep_commit;

	sn__plog_truncate(&p->log, c + 1);
	for (size_t i = 0; i < p->n_rec; i++) {
		const sn__precov *r = &p->rec[i];
		int rv;
		if (r->ballot && !SN__MUTANT(SN__MUTANT_SKIP_RECOVERY))
			rv = sn__plog_append(&p->log, p->ballot, r->type,
					     r->data, r->len);
		else
			rv = sn__plog_append(&p->log, p->ballot, SN_ENTRY_NOOP,
					     NULL, 0);
		if (rv)
			return rv;
	}
	return SN_OK;
}

void sn__paxos_become_leader(sn__paxos *p)
{
	p->role = SN_ROLE_LEADER;
	p->lead = p->id;
	p->self_wait = false;
	sn__paxos_reset_timer(p);
	sn__log(SN_LOG_INFO, "paxos %llu: leads ballot %llu (recovering "
		"%llu..%llu)", (unsigned long long)p->id,
		(unsigned long long)p->ballot,
		(unsigned long long)p->prep_commit + 1,
		(unsigned long long)p->recover_to);
	sn__paxos_start_replication(p);
}

static void win_phase1(sn__paxos *p)
{
	p->recover_to = p->prep_commit + p->n_rec;
	if (write_recovered(p)) {
		/* Out of memory: give up this ballot, try again later. */
		sn__paxos_become_follower(p, 0);
		return;
	}
	sn__paxos_rec_free(p);
	p->match_ballot = 0;
	p->recovering = p->commit < p->recover_to;
	p->uncommitted_bytes = 0;
	if (p->n_prs == 1) {
		/* A lone voter leads only once its promise is durable: it
		 * writes at least one slot, and the persisted report of that
		 * write (which covers the hard state before it) makes it
		 * leader. */
		if (sn__plog_last(&p->log) == p->prep_commit) {
			sn__plog_append(&p->log, p->ballot, SN_ENTRY_NOOP,
					NULL, 0);
			p->recover_to = sn__plog_last(&p->log);
			p->recovering = true;
		}
		p->self_wait = true;
		return;
	}
	sn__paxos_become_leader(p);
}

static void maybe_win(sn__paxos *p)
{
	if (p->role == SN_ROLE_CANDIDATE && !p->self_wait &&
	    promised_count(p, SN__PROM_DONE) >= sn__paxos_quorum(p))
		win_phase1(p);
}

static uint64_t next_ballot(const sn__paxos *p)
{
	uint64_t seen = p->max_seen > p->promised ? p->max_seen : p->promised;

	return ((SN__BALLOT_ROUND(seen) + 1) << 16) | (uint64_t)(p->self + 1);
}

void sn__paxos_start_phase1(sn__paxos *p)
{
	uint64_t last = sn__plog_last(&p->log);
	sn__paxos_msg m = { 0 };

	if (p->role == SN_ROLE_LEADER)
		sn__paxos_reads_fail(p);
	sn__paxos_rec_free(p);
	p->role = SN_ROLE_CANDIDATE;
	p->lead = 0;
	p->recovering = false;
	p->self_wait = false;
	p->ballot = next_ballot(p);
	p->promised = p->max_seen = p->ballot;
	p->promised_to = p->id;
	p->prep_commit = p->commit;
	sn__paxos_reset_timer(p);
	for (size_t i = 0; i < p->n_prs; i++) {
		p->prs[i].prom = SN__PROM_NONE;
		p->prs[i].prom_next = p->commit + 1;
	}
	/* Our own promise: our accepted slots after the commit. It counts
	 * once durable, which any other member's Promise implies (the
	 * Prepares leave after the persist). */
	for (uint64_t i = p->commit + 1; i <= last; i++)
		if (rec_merge(p, sn__plog_at(&p->log, i))) {
			sn__paxos_become_follower(p, 0);
			return;
		}
	p->prs[p->self].prom = SN__PROM_DONE;
	sn__log(SN_LOG_INFO, "paxos %llu: phase 1 at ballot %llu (commit "
		"%llu)", (unsigned long long)p->id,
		(unsigned long long)p->ballot, (unsigned long long)p->commit);
	maybe_win(p);
	if (p->role != SN_ROLE_CANDIDATE || p->self_wait)
		return;
	m.type = SN__PAXOS_PREPARE;
	m.ballot = p->ballot;
	m.commit = p->commit;
	for (size_t i = 0; i < p->n_prs; i++)
		if (i != p->self)
			sn__paxos_send(p, true, p->prs[i].id, &m);
}

int sn__paxos_campaign(sn_engine *e)
{
	sn__paxos *p = (sn__paxos *)e;

	if (p->role == SN_ROLE_LEADER)
		return sn__err(SN_ESTATE, "paxos %llu: already the leader",
			       (unsigned long long)p->id);
	sn__paxos_start_phase1(p);
	return SN_OK;
}

static void check_quorum(sn__paxos *p)
{
	size_t active = 1;

	for (size_t i = 0; i < p->n_prs; i++) {
		if (i != p->self && p->prs[i].recent_active)
			active++;
		p->prs[i].recent_active = false;
	}
	if (active < sn__paxos_quorum(p)) {
		sn__log(SN_LOG_INFO, "paxos %llu: lost touch with a quorum, "
			"stepping down", (unsigned long long)p->id);
		sn__paxos_become_follower(p, 0);
	}
}

void sn__paxos_tick(sn_engine *e)
{
	sn__paxos *p = (sn__paxos *)e;

	p->election_elapsed++;
	if (p->role != SN_ROLE_LEADER) {
		if (p->election_elapsed >= p->timeout)
			sn__paxos_start_phase1(p);
		return;
	}
	if (++p->heartbeat_elapsed >= p->heartbeat_ticks) {
		p->heartbeat_elapsed = 0;
		sn__paxos_bcast_heartbeat(p);
	}
	if (p->election_elapsed < p->election_ticks)
		return;
	p->election_elapsed = 0;
	if (p->n_prs > 1)
		check_quorum(p);
}

static void on_reject(sn__paxos *p, const sn__paxos_msg *m,
		      sn__pprogress *pr)
{
	if (m->flags & SN__PAXOS_FLAG_BALLOT) {
		/* A higher ballot is promised: it will lead or time out. */
		if (m->hint > p->max_seen)
			p->max_seen = m->hint;
		if (m->hint > p->ballot) {
			sn__paxos_become_follower(p, 0);
			return;
		}
	}
	pr->prom = SN__PROM_REJECTED;
	if (p->n_prs - promised_count(p, SN__PROM_REJECTED) <
	    sn__paxos_quorum(p))
		sn__paxos_become_follower(p, 0);
}

void sn__paxos_on_promise(sn__paxos *p, const sn__paxos_msg *m,
			  uint64_t from)
{
	sn__pprogress *pr = sn__paxos_progress(p, from);

	if (p->role != SN_ROLE_CANDIDATE || m->ballot != p->ballot ||
	    pr->prom != SN__PROM_NONE)
		return; /* late, or for another round */
	if (m->reject) {
		on_reject(p, m, pr);
		return;
	}
	/* Parts are taken in order only: a lost part leaves the promise
	 * incomplete (the next round asks again). */
	if (m->index + 1 != pr->prom_next)
		return;
	for (size_t i = 0; i < m->n_entries; i++)
		if (rec_merge(p, &m->entries[i]))
			return;
	pr->prom_next += m->n_entries;
	if (m->flags & SN__PAXOS_FLAG_LAST) {
		pr->prom = SN__PROM_DONE;
		maybe_win(p);
	}
}
