/* Message intake: validation of untrusted input, the term rules, and
 * dispatch by role. */
#include "raft_impl.h"

int sn__raft_send(sn__raft *r, bool after_persist, uint64_t to,
		  const sn__raft_msg *m)
{
	uint8_t *buf;
	int rv = sn__outbox_msg(&r->ob, after_persist, "raft", r->group,
				r->id, to, sn__raft_msg_size(m), &buf);

	if (rv == SN_OK)
		sn__raft_msg_encode(m, buf);
	return rv;
}

static int drop(sn__raft *r, const sn_message *m, const char *why)
{
	r->dropped++;
	sn__log(SN_LOG_WARN, "raft %llu: dropped message from %llu: %s",
		(unsigned long long)r->id, (unsigned long long)m->from, why);
	return sn__err(SN_EMALFORMED, "raft %llu: dropped message from %llu: "
		       "%s", (unsigned long long)r->id,
		       (unsigned long long)m->from, why);
}

/* Facts that no correct peer can send, checked before any state changes. */
static const char *impossible(const sn__raft *r, const sn__raft_msg *m)
{
	if (m->index == 0 && m->log_term != 0 &&
	    (m->type == SN__RAFT_APP || m->type == SN__RAFT_VOTE ||
	     m->type == SN__RAFT_PREVOTE))
		return "index 0 (the empty log) with a non-zero term";
	if (m->type == SN__RAFT_APP) {
		if (m->log_term > m->term)
			return "append with prev term above message term";
		for (size_t i = 0; i < m->n_entries; i++) {
			uint64_t t = m->entries[i].term;
			uint64_t prev = i ? m->entries[i - 1].term : m->log_term;
			if (t > m->term || t < prev || t == 0)
				return "append with impossible entry terms";
		}
	}
	if (m->type == SN__RAFT_SNAP &&
	    (m->index == 0 || m->log_term == 0 || m->log_term > m->term ||
	     m->snap_size == 0))
		return "snapshot chunk with impossible index, term or size";
	if ((m->type == SN__RAFT_VOTE || m->type == SN__RAFT_PREVOTE) &&
	    m->log_term > m->term)
		return "vote request with last term above its term";
	if (m->type == SN__RAFT_HEARTBEAT_RESP && m->term == r->term &&
	    r->role == SN_ROLE_LEADER && m->ctx > r->read_round)
		return "heartbeat response for a read round never sent";
	if (m->type == SN__RAFT_APP_RESP && !m->reject &&
	    m->term == r->term && r->role == SN_ROLE_LEADER &&
	    m->index > sn__log_last(&r->log))
		return "append response beyond the leader's log";
	return NULL;
}

static bool in_lease(const sn__raft *r)
{
	return r->check_quorum && r->lead != 0 &&
	       r->election_elapsed < r->election_ticks;
}

/* Answer a message from an older term, so a stale leader or candidate
 * learns the current term; otherwise it is ignored. */
static void on_stale(sn__raft *r, const sn__raft_msg *m, uint64_t from)
{
	sn__raft_msg resp = { 0 };

	resp.term = r->term;
	if ((r->check_quorum || r->pre_vote) &&
	    (m->type == SN__RAFT_APP || m->type == SN__RAFT_HEARTBEAT ||
	     m->type == SN__RAFT_SNAP)) {
		resp.type = SN__RAFT_APP_RESP;
		/* Reject at index 0: matches nothing the leader tracks. */
		resp.reject = 1;
		sn__raft_send(r, false, from, &resp);
	} else if (m->type == SN__RAFT_PREVOTE) {
		resp.type = SN__RAFT_PREVOTE_RESP;
		resp.reject = 1;
		sn__raft_send(r, false, from, &resp);
	}
}

/* Apply the term rules; returns false when the message is consumed. */
static bool check_term(sn__raft *r, const sn__raft_msg *m, uint64_t from)
{
	bool vote_req = m->type == SN__RAFT_VOTE || m->type == SN__RAFT_PREVOTE;

	if (m->term > r->term) {
		if (vote_req && !(m->flags & SN__RAFT_FLAG_TRANSFER) &&
		    in_lease(r))
			return false; /* a live leader exists: ignore */
		if (m->type == SN__RAFT_PREVOTE ||
		    (m->type == SN__RAFT_PREVOTE_RESP && !m->reject))
			return true; /* pre-votes never change the term */
		if (m->type == SN__RAFT_APP || m->type == SN__RAFT_HEARTBEAT ||
		    m->type == SN__RAFT_SNAP)
			sn__raft_become_follower(r, m->term, from);
		else
			sn__raft_become_follower(r, m->term, 0);
		return true;
	}
	if (m->term < r->term) {
		on_stale(r, m, from);
		return false;
	}
	return true;
}

static void step_leader(sn__raft *r, const sn__raft_msg *m, uint64_t from)
{
	switch (m->type) {
	case SN__RAFT_APP_RESP:
		sn__raft_on_append_response(r, m, from);
		break;
	case SN__RAFT_HEARTBEAT_RESP:
		sn__raft_on_heartbeat_response(r, m, from);
		break;
	case SN__RAFT_SNAP_RESP:
		sn__raft_on_snapshot_response(r, m, from);
		break;
	default:
		break; /* late votes, a second leader is impossible */
	}
}

static void step_candidate(sn__raft *r, const sn__raft_msg *m, uint64_t from)
{
	switch (m->type) {
	case SN__RAFT_APP:
		sn__raft_become_follower(r, m->term, from);
		sn__raft_on_append(r, m, from);
		break;
	case SN__RAFT_HEARTBEAT:
		sn__raft_become_follower(r, m->term, from);
		sn__raft_on_heartbeat(r, m, from);
		break;
	case SN__RAFT_SNAP:
		sn__raft_become_follower(r, m->term, from);
		sn__raft_on_snapshot(r, m, from);
		break;
	case SN__RAFT_VOTE_RESP:
	case SN__RAFT_PREVOTE_RESP:
		sn__raft_on_vote_response(r, m, from);
		break;
	default:
		break;
	}
}

static void step_follower(sn__raft *r, const sn__raft_msg *m, uint64_t from)
{
	switch (m->type) {
	case SN__RAFT_APP:
		r->election_elapsed = 0;
		r->lead = from;
		sn__raft_on_append(r, m, from);
		break;
	case SN__RAFT_HEARTBEAT:
		r->election_elapsed = 0;
		r->lead = from;
		sn__raft_on_heartbeat(r, m, from);
		break;
	case SN__RAFT_SNAP:
		r->election_elapsed = 0;
		r->lead = from;
		sn__raft_on_snapshot(r, m, from);
		break;
	case SN__RAFT_TIMEOUT_NOW:
		sn__raft_start_election(r, false, true);
		break;
	default:
		break;
	}
}

int sn__raft_step(sn_engine *e, const sn_message *in)
{
	sn__raft *r = (sn__raft *)e;
	sn__raft_msg m;
	const char *why;
	int rv;

	if (in->group != r->group)
		return drop(r, in, "wrong group");
	if (in->to != r->id)
		return drop(r, in, "addressed to another member");
	if (in->from == r->id || !sn__raft_progress(r, in->from))
		return drop(r, in, "sender is not a peer");
	rv = sn__raft_msg_decode(&m, in->data, in->len);
	if (rv == SN_ENOMEM)
		return rv;
	if (rv)
		return drop(r, in, sn_errmsg());
	why = impossible(r, &m);
	if (why) {
		sn__raft_msg_free(&m);
		return drop(r, in, why);
	}

	if (check_term(r, &m, in->from)) {
		if (m.type == SN__RAFT_VOTE || m.type == SN__RAFT_PREVOTE)
			sn__raft_on_vote_request(r, &m, in->from);
		else if (r->role == SN_ROLE_LEADER)
			step_leader(r, &m, in->from);
		else if (r->role == SN_ROLE_FOLLOWER)
			step_follower(r, &m, in->from);
		else
			step_candidate(r, &m, in->from);
	}
	sn__raft_msg_free(&m);
	return SN_OK;
}
