/*
 * The engines the simulator can drive. Each row maps the simulator's
 * per-seed knobs (sim_tuning) onto the engine's own options, knows how to
 * print the engine's messages for a trace, and says which of the checkers'
 * Raft-specific properties hold for it (sim.h: log_matching, reballots).
 */
#include "sim.h"

#include <senate/paxos.h>
#include <senate/raft.h>

#include "paxos/paxos_msg.h"
#include "raft/raft_msg.h"

#include <inttypes.h>

static int raft_create(sn_engine **out, const sim_engine_args *a)
{
	const size_t entry = SIM_PAYLOAD + SN__RAFT_ENTRY_HEADER;
	sn_raft_options o;
	size_t window;
	int rv = sn_raft_options_init(&o, SN_RAFT_OPTIONS_VERSION);

	if (rv)
		return rv;
	o.id = a->id;
	o.group = a->group;
	o.voters = a->voters;
	o.n_voters = a->n_voters;
	o.election_ticks = a->tuning->election_ticks;
	o.heartbeat_ticks = a->tuning->heartbeat_ticks;
	o.disable_pre_vote = !a->tuning->pre_vote;
	o.disable_check_quorum = !a->tuning->check_quorum;
	/* Raft counts each entry's wire header against max_msg_bytes, which
	 * is also the snapshot chunk size: the slack (less than one entry)
	 * varies the chunks without changing what an append carries. */
	o.max_msg_bytes = a->tuning->entries_per_msg * entry +
			  a->tuning->msg_slack % entry;
	o.max_inflight_msgs = a->tuning->max_inflight_msgs;
	/* A window of whole chunks. Appends count the same bytes: never
	 * below the append window, so appends stay paced by
	 * max_inflight_msgs alone. */
	window = a->tuning->window_chunks;
	if (!window && a->tuning->window_share) {
		size_t chunks = a->tuning->snap_bytes / o.max_msg_bytes + 1;
		window = (chunks * a->tuning->window_share + 999) / 1000;
	}
	if (window && window < o.max_inflight_msgs)
		window = o.max_inflight_msgs;
	if (window)
		o.max_inflight_bytes = window * o.max_msg_bytes;
	if (a->tuning->max_uncommitted_bytes)
		o.max_uncommitted_bytes = a->tuning->max_uncommitted_bytes;
	o.rand = a->rand;
	o.rand_userdata = a->rand_userdata;
	o.hard_state = a->hard_state;
	o.entries = a->entries;
	o.n_entries = a->n_entries;
	o.applied = a->applied;
	o.snapshot = a->snapshot;
	o.snapshot_read = a->snapshot_read;
	o.snapshot_userdata = a->snapshot_userdata;
	o.snapshot_partial = a->partial;
	o.snapshot_partial_offset = a->partial_offset;
	o.snapshot_partial_crc = a->partial_crc;
	return sn_raft_new(out, &o);
}

static void raft_describe(char *buf, size_t cap, const void *data,
			  size_t len)
{
	sn__raft_msg m;

	if (sn__raft_msg_decode(&m, data, len) != SN_OK) {
		snprintf(buf, cap, "<%zu undecodable bytes>", len);
		return;
	}
	if (m.type == SN__RAFT_SNAP)
		snprintf(buf, cap,
			 "SNAP t=%" PRIu64 " i=%" PRIu64 " lt=%" PRIu64
			 " c=%" PRIu64 " off=%" PRIu64 " len=%zu size=%" PRIu64,
			 m.term, m.index, m.log_term, m.commit, m.offset, m.len,
			 m.snap_size);
	else
		snprintf(buf, cap,
			 "%s%s t=%" PRIu64 " i=%" PRIu64 " lt=%" PRIu64
			 " c=%" PRIu64 " h=%" PRIu64 " ctx=%" PRIu64 " n=%zu",
			 sn__raft_msg_type_name(m.type),
			 m.reject ? " REJECT" : "", m.term, m.index, m.log_term,
			 m.commit, m.hint, m.ctx, m.n_entries);
	sn__raft_msg_free(&m);
}

/* The wire layout starts: u8 version, u8 type, u8 reject (raft_msg.h). */
static int raft_classify(const void *data, size_t len)
{
	const uint8_t *p = data;

	if (len < 3)
		return SIM_MSG_OTHER;
	if (p[1] == SN__RAFT_SNAP)
		return SIM_MSG_SNAP;
	if (p[1] == SN__RAFT_SNAP_RESP && p[2])
		return SIM_MSG_SNAP_REJECT;
	return SIM_MSG_OTHER;
}

/* Multi-Paxos has no PreVote or CheckQuorum switch (check-quorum is always
 * on); every other knob maps as for Raft. */
static int paxos_create(sn_engine **out, const sim_engine_args *a)
{
	const size_t entry = SIM_PAYLOAD + SN__PAXOS_ENTRY_HEADER;
	sn_paxos_options o;
	size_t window;
	int rv = sn_paxos_options_init(&o, SN_PAXOS_OPTIONS_VERSION);

	if (rv)
		return rv;
	o.id = a->id;
	o.group = a->group;
	o.voters = a->voters;
	o.n_voters = a->n_voters;
	o.election_ticks = a->tuning->election_ticks;
	o.heartbeat_ticks = a->tuning->heartbeat_ticks;
	o.max_msg_bytes = a->tuning->entries_per_msg * entry +
			  a->tuning->msg_slack % entry;
	o.max_inflight_msgs = a->tuning->max_inflight_msgs;
	window = a->tuning->window_chunks;
	if (!window && a->tuning->window_share) {
		size_t chunks = a->tuning->snap_bytes / o.max_msg_bytes + 1;
		window = (chunks * a->tuning->window_share + 999) / 1000;
	}
	if (window && window < o.max_inflight_msgs)
		window = o.max_inflight_msgs;
	if (window)
		o.max_inflight_bytes = window * o.max_msg_bytes;
	if (a->tuning->max_uncommitted_bytes)
		o.max_uncommitted_bytes = a->tuning->max_uncommitted_bytes;
	o.rand = a->rand;
	o.rand_userdata = a->rand_userdata;
	o.hard_state = a->hard_state;
	o.entries = a->entries;
	o.n_entries = a->n_entries;
	o.applied = a->applied;
	o.snapshot = a->snapshot;
	o.snapshot_read = a->snapshot_read;
	o.snapshot_userdata = a->snapshot_userdata;
	o.snapshot_partial = a->partial;
	o.snapshot_partial_offset = a->partial_offset;
	o.snapshot_partial_crc = a->partial_crc;
	return sn_paxos_new(out, &o);
}

/* Ballots print as round.position. */
static void paxos_describe(char *buf, size_t cap, const void *data,
			   size_t len)
{
	sn__paxos_msg m;

	if (sn__paxos_msg_decode(&m, data, len) != SN_OK) {
		snprintf(buf, cap, "<%zu undecodable bytes>", len);
		return;
	}
	if (m.type == SN__PAXOS_SNAP)
		snprintf(buf, cap,
			 "SNAP b=%" PRIu64 ".%" PRIu64 " i=%" PRIu64
			 " lt=%" PRIu64 " off=%" PRIu64 " len=%zu size=%" PRIu64,
			 SN__BALLOT_ROUND(m.ballot), SN__BALLOT_POS(m.ballot),
			 m.index, m.log_term, m.offset, m.len, m.snap_size);
	else
		snprintf(buf, cap,
			 "%s%s%s b=%" PRIu64 ".%" PRIu64 " i=%" PRIu64
			 " c=%" PRIu64 " h=%" PRIu64 " ctx=%" PRIu64 " n=%zu",
			 sn__paxos_msg_type_name(m.type),
			 m.reject ? " REJECT" : "",
			 (m.flags & SN__PAXOS_FLAG_LAST) ? " LAST" : "",
			 SN__BALLOT_ROUND(m.ballot), SN__BALLOT_POS(m.ballot),
			 m.index, m.commit, m.hint, m.ctx, m.n_entries);
	sn__paxos_msg_free(&m);
}

/* The wire layout starts: u8 version, u8 type, u8 reject (paxos_msg.h). */
static int paxos_classify(const void *data, size_t len)
{
	const uint8_t *p = data;

	if (len < 3)
		return SIM_MSG_OTHER;
	if (p[1] == SN__PAXOS_SNAP)
		return SIM_MSG_SNAP;
	if (p[1] == SN__PAXOS_SNAP_RESP && p[2])
		return SIM_MSG_SNAP_REJECT;
	return SIM_MSG_OTHER;
}

static const sim_engine_kind kinds[] = {
	{ "raft", raft_create, raft_describe, raft_classify, true, false },
	{ "paxos", paxos_create, paxos_describe, paxos_classify, false, true },
};

const sim_engine_kind *sim_engine_find(const char *name)
{
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (name && strcmp(kinds[i].name, name) == 0)
			return &kinds[i];
	return NULL;
}

const char *sim_engine_names(void)
{
	static char names[128];

	if (!names[0])
		for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
			snprintf(names + strlen(names),
				 sizeof names - strlen(names), "%s%s",
				 i ? ", " : "", kinds[i].name);
	return names;
}
