/*
 * The engines the simulator can drive. Each row maps the simulator's
 * per-seed knobs (sim_tuning) onto the engine's own options and knows how to
 * print the engine's messages for a trace. Multi-Paxos plugs in as one more
 * row once <senate/paxos.h> exists.
 */
#include "sim.h"

#include <senate/raft.h>

#include "raft/raft_msg.h"

#include <inttypes.h>

static int raft_create(sn_engine **out, const sim_engine_args *a)
{
	sn_raft_options o;
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
	/* Raft counts each entry's wire header against max_msg_bytes. */
	o.max_msg_bytes = a->tuning->entries_per_msg *
			  (SIM_PAYLOAD + SN__RAFT_ENTRY_HEADER);
	o.max_inflight_msgs = a->tuning->max_inflight_msgs;
	if (a->tuning->max_uncommitted_bytes)
		o.max_uncommitted_bytes = a->tuning->max_uncommitted_bytes;
	o.rand = a->rand;
	o.rand_userdata = a->rand_userdata;
	o.hard_state = a->hard_state;
	o.entries = a->entries;
	o.n_entries = a->n_entries;
	o.applied = a->applied;
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
	snprintf(buf, cap,
		 "%s%s t=%" PRIu64 " i=%" PRIu64 " lt=%" PRIu64 " c=%" PRIu64
		 " h=%" PRIu64 " ctx=%" PRIu64 " n=%zu",
		 sn__raft_msg_type_name(m.type), m.reject ? " REJECT" : "",
		 m.term, m.index, m.log_term, m.commit, m.hint, m.ctx,
		 m.n_entries);
	sn__raft_msg_free(&m);
}

static const sim_engine_kind kinds[] = {
	{ "raft", raft_create, raft_describe },
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
