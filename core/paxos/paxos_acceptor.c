/*
 * The acceptor's rules: promise a higher ballot (Prepare), accept values at
 * the promised ballot or a higher one (Accept), learn the leader's commit
 * (Accept, heartbeat). Replies that depend on a promise or an accepted
 * value travel in messages_after_persist: the hard state and the entries
 * they rest on are durable before anyone can count on them.
 */
#include "paxos_impl.h"

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/*
 * How far this acceptor holds, contiguously, what a leader of `ballot`
 * holds: slots known chosen (<= commit), then slots accepted at `ballot`.
 * Only grows while the ballot stays; a new ballot starts again from the
 * commit index. Old-ballot slots beyond it never count.
 */
uint64_t sn__paxos_match(sn__paxos *p, uint64_t ballot)
{
	if (p->match_ballot != ballot) {
		p->match_ballot = ballot;
		p->match = p->commit;
	}
	if (p->match < p->commit)
		p->match = p->commit;
	if (p->match < p->log.offset)
		p->match = p->log.offset;
	while (sn__plog_term(&p->log, p->match + 1) == ballot)
		p->match++;
	return p->match;
}

/* The leader of `ballot` has chosen everything through `leader_commit`;
 * this acceptor knows as much only where it holds the leader's values. */
void sn__paxos_learn_commit(sn__paxos *p, uint64_t leader_commit,
			    uint64_t ballot)
{
	uint64_t c = min_u64(leader_commit, sn__paxos_match(p, ballot));

	if (c > p->commit)
		p->commit = c;
}

static void reject_ballot(sn__paxos *p, const sn__paxos_msg *m, uint64_t to)
{
	sn__paxos_msg r = { 0 };

	r.type = m->type == SN__PAXOS_HEARTBEAT ? SN__PAXOS_HEARTBEAT_RESP
		 : m->type == SN__PAXOS_PREPARE ? SN__PAXOS_PROMISE
						: SN__PAXOS_ACCEPTED;
	r.reject = 1;
	r.flags = SN__PAXOS_FLAG_BALLOT;
	r.ballot = m->ballot;
	r.hint = p->promised;
	r.index = m->index;
	r.ctx = m->ctx;
	sn__paxos_send(p, false, to, &r);
}

bool sn__paxos_follow(sn__paxos *p, const sn__paxos_msg *m, uint64_t from)
{
	if (m->ballot < p->promised) {
		if (m->type == SN__PAXOS_ACCEPT &&
		    SN__MUTANT(SN__MUTANT_ACCEPT_LOWER_BALLOT))
			return true; /* the bug: accept below the promise */
		reject_ballot(p, m, from);
		return false;
	}
	if (m->ballot > p->promised) {
		if (p->role != SN_ROLE_FOLLOWER)
			sn__paxos_become_follower(p, from);
		p->promised = m->ballot;
		p->promised_to = from;
	}
	/* A leader at our promised ballot: it won phase 1. */
	p->lead = from;
	p->election_elapsed = 0;
	return true;
}

/* Phase 1b: every accepted slot after the candidate's commit `c`, in parts
 * of at most max_msg_bytes (at least one slot each), the last one marked. */
static void promise(sn__paxos *p, uint64_t ballot, uint64_t c, uint64_t to)
{
	uint64_t last = sn__plog_last(&p->log), next = c + 1;
	sn__paxos_msg m = { 0 };

	m.type = SN__PAXOS_PROMISE;
	m.ballot = ballot;
	m.commit = p->commit;
	do {
		size_t n = 0, bytes = 0;
		while (next + n <= last && n < SN__PAXOS_MAX_ENTRIES_PER_MSG) {
			const sn_entry *e = sn__plog_at(&p->log, next + n);
			size_t size = SN__PAXOS_ENTRY_HEADER + e->len;
			if (n && bytes + size > p->max_msg_bytes)
				break;
			bytes += size;
			n++;
		}
		m.index = next - 1;
		m.n_entries = n;
		m.entries = n ? (sn_entry *)sn__plog_at(&p->log, next) : NULL;
		m.flags = next + n > last ? SN__PAXOS_FLAG_LAST : 0;
		if (sn__paxos_send(p, true, to, &m))
			return; /* out of memory: the candidate retries */
		next += n;
	} while (next <= last);
}

void sn__paxos_on_prepare(sn__paxos *p, const sn__paxos_msg *m,
			  uint64_t from)
{
	sn__paxos_msg r = { 0 };

	if (m->ballot < p->promised ||
	    (m->ballot == p->promised && p->promised_to != from)) {
		reject_ballot(p, m, from);
		return;
	}
	if (p->commit > m->commit) {
		/* The candidate does not know everything we know chosen: it
		 * may not lead (compacted slots would escape recovery). */
		r.type = SN__PAXOS_PROMISE;
		r.reject = 1;
		r.flags = SN__PAXOS_FLAG_COMMIT;
		r.ballot = m->ballot;
		r.hint = p->commit;
		r.commit = p->commit;
		sn__paxos_send(p, false, from, &r);
		return;
	}
	if (m->ballot > p->promised) {
		if (p->role != SN_ROLE_FOLLOWER)
			sn__paxos_become_follower(p, 0);
		p->promised = m->ballot;
		p->promised_to = from;
		p->lead = 0;
	}
	p->election_elapsed = 0;
	promise(p, m->ballot, m->commit, from);
}

static void reply_accepted(sn__paxos *p, uint64_t to, uint64_t ballot,
			   uint64_t index, bool reject, uint64_t hint)
{
	sn__paxos_msg r = { 0 };

	r.type = SN__PAXOS_ACCEPTED;
	r.ballot = ballot;
	r.index = index;
	r.reject = reject;
	r.hint = hint;
	r.commit = p->commit;
	sn__paxos_send(p, true, to, &r);
}

void sn__paxos_on_accept(sn__paxos *p, const sn__paxos_msg *m,
			 uint64_t from)
{
	uint64_t b = m->ballot, s = m->index + 1;
	uint64_t match = sn__paxos_match(p, b);

	if (s > match + 1) {
		/* A gap: slots match+1 .. s-1 do not hold this ballot's
		 * values here. Continue from match + 1. */
		reply_accepted(p, from, b, m->index, true, match);
		return;
	}
	for (size_t i = 0; i < m->n_entries; i++) {
		const sn_entry *e = &m->entries[i];
		uint64_t x = s + i;
		int rv;
		/* Chosen slots are acknowledged, never rewritten; a slot
		 * already at this ballot holds this very value. */
		if (x <= p->commit || x <= p->log.offset ||
		    sn__plog_term(&p->log, x) == b)
			continue;
		/* Later slots stay: the log is written again from x on. */
		if (x <= sn__plog_last(&p->log))
			rv = sn__plog_set(&p->log, x, b, e->type, e->data,
					  e->len);
		else
			rv = sn__plog_append(&p->log, b, e->type, e->data,
					     e->len);
		if (rv)
			return; /* out of memory: the leader will resend */
	}
	sn__paxos_learn_commit(p, m->commit, b);
	reply_accepted(p, from, b, sn__paxos_match(p, b), false, 0);
}

void sn__paxos_on_heartbeat(sn__paxos *p, const sn__paxos_msg *m,
			    uint64_t from)
{
	sn__paxos_msg r = { 0 };

	sn__paxos_learn_commit(p, m->commit, m->ballot);
	r.type = SN__PAXOS_HEARTBEAT_RESP;
	r.ballot = m->ballot;
	r.ctx = m->ctx;
	sn__paxos_send(p, false, from, &r);
}
