/* Message intake: validation of untrusted input and dispatch by type and
 * role. Ballots order everything; no message ever lowers a promise. */
#include "paxos_impl.h"

int sn__paxos_send(sn__paxos *p, bool after_persist, uint64_t to,
		   const sn__paxos_msg *m)
{
	uint8_t *buf;
	int rv = sn__outbox_msg(&p->ob, after_persist, "paxos", p->group,
				p->id, to, sn__paxos_msg_size(m), &buf);

	if (rv == SN_OK)
		sn__paxos_msg_encode(m, buf);
	return rv;
}

static int drop(sn__paxos *p, const sn_message *m, const char *why)
{
	p->dropped++;
	sn__log(SN_LOG_WARN, "paxos %llu: dropped message from %llu: %s",
		(unsigned long long)p->id, (unsigned long long)m->from, why);
	return sn__err(SN_EMALFORMED, "paxos %llu: dropped message from %llu: "
		       "%s", (unsigned long long)p->id,
		       (unsigned long long)m->from, why);
}

static bool from_owner(int type)
{
	return type == SN__PAXOS_PREPARE || type == SN__PAXOS_ACCEPT ||
	       type == SN__PAXOS_HEARTBEAT || type == SN__PAXOS_SNAP;
}

static bool valid_ballot(sn__paxos *p, uint64_t b)
{
	return b == 0 || sn__paxos_owner(p, b) != NULL;
}

/* Facts that no correct peer can send, checked before any state changes. */
static const char *impossible(sn__paxos *p, const sn__paxos_msg *m,
			      uint64_t from)
{
	if (m->ballot == 0 || !valid_ballot(p, m->ballot))
		return "a ballot no member owns";
	if (from_owner(m->type) && sn__paxos_owner(p, m->ballot)->id != from)
		return "a ballot its sender does not own";
	if (m->reject && (m->flags & SN__PAXOS_FLAG_BALLOT) &&
	    (m->hint < m->ballot || !valid_ballot(p, m->hint)))
		return "a ballot reject without a higher ballot";
	for (size_t i = 0; i < m->n_entries; i++) {
		uint64_t b = m->entries[i].term;
		if (m->type == SN__PAXOS_ACCEPT && b != m->ballot)
			return "an Accept carrying another ballot's values";
		if (m->type == SN__PAXOS_PROMISE &&
		    (b > m->ballot || !valid_ballot(p, b)))
			return "a Promise reporting an impossible ballot";
	}
	if (m->type == SN__PAXOS_PROMISE && m->reject && m->n_entries)
		return "a rejected Promise carrying values";
	if (m->type == SN__PAXOS_ACCEPTED && m->reject &&
	    !(m->flags & SN__PAXOS_FLAG_BALLOT) && m->hint >= m->index)
		return "a gap reject that is no gap";
	if (m->type == SN__PAXOS_SNAP &&
	    (m->index == 0 || m->log_term == 0 || m->snap_size == 0))
		return "a snapshot chunk with impossible index, ballot or size";
	if (m->type == SN__PAXOS_HEARTBEAT_RESP && !m->reject &&
	    m->ballot == p->ballot && p->role == SN_ROLE_LEADER &&
	    m->ctx > p->read_round)
		return "a heartbeat response for a read round never sent";
	return NULL;
}

/* Responses to our own ballot, as leader. */
static void step_leader(sn__paxos *p, const sn__paxos_msg *m, uint64_t from)
{
	if (m->reject && (m->flags & SN__PAXOS_FLAG_BALLOT)) {
		if (m->hint > p->max_seen)
			p->max_seen = m->hint;
		if (m->ballot == p->ballot && m->hint > p->ballot) {
			sn__log(SN_LOG_INFO, "paxos %llu: ballot %llu "
				"superseded by %llu", (unsigned long long)p->id,
				(unsigned long long)p->ballot,
				(unsigned long long)m->hint);
			sn__paxos_become_follower(p, 0);
		}
		return;
	}
	if (m->ballot != p->ballot)
		return; /* about an earlier ballot of ours */
	switch (m->type) {
	case SN__PAXOS_ACCEPTED:
		sn__paxos_on_accepted(p, m, from);
		break;
	case SN__PAXOS_HEARTBEAT_RESP:
		sn__paxos_on_heartbeat_response(p, m, from);
		break;
	case SN__PAXOS_SNAP_RESP:
		sn__paxos_on_snapshot_response(p, m, from);
		break;
	default:
		break; /* late promises */
	}
}

static void dispatch(sn__paxos *p, const sn__paxos_msg *m, uint64_t from)
{
	switch (m->type) {
	case SN__PAXOS_PREPARE:
		sn__paxos_on_prepare(p, m, from);
		return;
	case SN__PAXOS_ACCEPT:
		if (sn__paxos_follow(p, m, from))
			sn__paxos_on_accept(p, m, from);
		return;
	case SN__PAXOS_HEARTBEAT:
		if (sn__paxos_follow(p, m, from))
			sn__paxos_on_heartbeat(p, m, from);
		return;
	case SN__PAXOS_SNAP:
		if (sn__paxos_follow(p, m, from))
			sn__paxos_on_snapshot(p, m, from);
		return;
	case SN__PAXOS_PROMISE:
		if (m->reject && m->hint > p->max_seen &&
		    (m->flags & SN__PAXOS_FLAG_BALLOT))
			p->max_seen = m->hint;
		sn__paxos_on_promise(p, m, from);
		return;
	default:
		if (p->role == SN_ROLE_LEADER)
			step_leader(p, m, from);
		else if (m->reject && (m->flags & SN__PAXOS_FLAG_BALLOT) &&
			 m->hint > p->max_seen)
			p->max_seen = m->hint;
		return;
	}
}

int sn__paxos_step(sn_engine *e, const sn_message *in)
{
	sn__paxos *p = (sn__paxos *)e;
	sn__paxos_msg m;
	const char *why;
	int rv;

	if (in->group != p->group)
		return drop(p, in, "wrong group");
	if (in->to != p->id)
		return drop(p, in, "addressed to another member");
	if (in->from == p->id || !sn__paxos_progress(p, in->from))
		return drop(p, in, "sender is not a peer");
	rv = sn__paxos_msg_decode(&m, in->data, in->len);
	if (rv == SN_ENOMEM)
		return rv;
	if (rv)
		return drop(p, in, sn_errmsg());
	why = impossible(p, &m, in->from);
	if (why) {
		sn__paxos_msg_free(&m);
		return drop(p, in, why);
	}
	if (m.ballot > p->max_seen)
		p->max_seen = m.ballot;
	dispatch(p, &m, in->from);
	sn__paxos_msg_free(&m);
	return SN_OK;
}
