/*
 * The chaos schedule, and the heal that ends it.
 *
 * During the chaos phase a fault strikes every few ticks; which kind is
 * drawn with the seed's weights (sim_profile), so seeds differ in character
 * as well as in detail: some crash leaders relentlessly, some mostly
 * partition, some pause processes. Every fault undoes itself later (a crash
 * schedules its restart, a partition its heal), and the heal phase undoes
 * whatever is left.
 */
#include "sim.h"

#include <inttypes.h>

enum {
	F_CRASH, F_PARTITION, F_ONEWAY, F_ISOLATE, F_HEAL, F_PAUSE,
	F_CAMPAIGN, F_TRANSFER, F_WEATHER, F_COUNT
};

static int draw_kind(sim *s)
{
	const sim_profile *pf = &s->pf;
	const unsigned w[F_COUNT] = {
		pf->w_crash, pf->w_partition, pf->w_oneway, pf->w_isolate,
		pf->w_heal, pf->w_pause, pf->w_campaign, pf->w_transfer,
		pf->w_weather,
	};
	unsigned total = 0, pick;

	for (int k = 0; k < F_COUNT; k++)
		total += w[k];
	pick = (unsigned)sim_rng_below(&s->rng_fault, total);
	for (int k = 0; k < F_COUNT; k++) {
		if (pick < w[k])
			return k;
		pick -= w[k];
	}
	return F_HEAL;
}

static sim_time election_time(const sim *s)
{
	return (sim_time)s->pf.tuning.election_ticks * SIM_TICK;
}

/* A node to hit: the leader with probability `bias`, else any up node. */
static int victim(sim *s, unsigned bias)
{
	int up[SIM_MAX_NODES], n = 0, l = sim_find_leader(s);

	if (l >= 0 && sim_rng_chance(&s->rng_fault, bias))
		return l;
	for (int i = 0; i < s->pf.n_nodes; i++)
		if (s->nodes[i].up)
			up[n++] = i;
	return n ? up[sim_rng_below(&s->rng_fault, (uint64_t)n)] : -1;
}

static void crash_node(sim *s, sim_node *n, const char *why)
{
	sim_time down;

	/* Quick restarts matter: a node back within a tick still finds its
	 * term's votes and appends in flight. */
	if (sim_rng_chance(&s->rng_fault, s->pf.quick_restart))
		down = sim_rng_range(&s->rng_fault, 1, SIM_TICK);
	else
		down = sim_rng_range(&s->rng_fault, SIM_TICK,
				     3 * election_time(s));
	sim_trace(s, "FAULT crash node %" PRIu64 " for %" PRIu64 "%s", n->id,
		  down, why);
	if (sim_find_leader(s) == n->idx && !s->samples.waiting_leader &&
	    !s->samples.waiting_commit) {
		s->stats.leader_crashes++;
		s->samples.since = s->now;
		s->samples.waiting_leader = s->samples.waiting_commit = true;
	}
	sim_node_crash(s, n);
	sim_schedule(s, s->now + down, SIM_EV_RESTART, n->idx, n->gen, 0);
}

static void crash(sim *s)
{
	int v = victim(s, s->pf.leader_bias);

	if (v >= 0)
		crash_node(s, &s->nodes[v], "");
}

/*
 * Leaders that die young. A new leader is sometimes crashed within a tick or
 * two of its election, or right after its commit index first moves, often
 * before its own first entry is durable on a quorum. That is the shape of
 * Raft's Figure 8: entries of an old term half replicated by one short
 * reign, a conflicting entry left by another, and a third leader that
 * replicates the old entry to a quorum and dies before its own entry
 * follows.
 */
static void maybe_assassin(sim *s, sim_node *n, sim_time within)
{
	if (sim_rng_chance(&s->rng_fault, s->pf.assassin))
		sim_schedule(s, s->now + sim_rng_range(&s->rng_fault, 0,
						       within),
			     SIM_EV_ASSASSIN, n->idx, n->gen, 0);
}

void sim_fault_watch(sim *s)
{
	for (int i = 0; i < s->pf.n_nodes && !s->healing; i++) {
		sim_node *n = &s->nodes[i];
		if (!n->up || n->st.role != SN_ROLE_LEADER)
			continue;
		if (n->watched_term != n->st.term) {
			n->watched_term = n->st.term;
			n->watched_commit = n->st.commit;
			maybe_assassin(s, n, 2 * SIM_TICK);
		} else if (n->watched_commit != UINT64_MAX &&
			   n->st.commit > n->watched_commit) {
			n->watched_commit = UINT64_MAX;
			maybe_assassin(s, n, SIM_TICK / 2);
		}
	}
}

void sim_fault_assassin(sim *s, int node, uint64_t gen)
{
	sim_node *n = &s->nodes[node];

	if (n->up && n->gen == gen && !s->healing)
		crash_node(s, n, " (young leader)");
}

static void links_clear(sim *s)
{
	for (int a = 0; a < SIM_MAX_NODES; a++)
		for (int b = 0; b < SIM_MAX_NODES; b++)
			s->cut[a][b] = false;
}

/* Cut links by `kind`; the newest partition's heal is the one that counts. */
static void partition(sim *s, int kind)
{
	int nn = s->pf.n_nodes;
	int x = (int)sim_rng_below(&s->rng_fault, (uint64_t)nn);
	int y = (x + 1 + (int)sim_rng_below(&s->rng_fault,
					    (uint64_t)nn - 1)) % nn;
	int dir = (int)sim_rng_below(&s->rng_fault, 3); /* in, out, both */
	bool side[SIM_MAX_NODES];

	if (kind == F_PARTITION) {
		links_clear(s);
		for (int i = 0; i < nn; i++)
			side[i] = sim_rng_chance(&s->rng_fault, 500);
		for (int a = 0; a < nn; a++)
			for (int b = 0; b < nn; b++)
				s->cut[a][b] = side[a] != side[b];
		sim_trace(s, "FAULT partition (bipartition)");
	} else if (kind == F_ONEWAY) {
		s->cut[x][y] = true;
		sim_trace(s, "FAULT one-way cut %" PRIu64 "->%" PRIu64,
			  s->nodes[x].id, s->nodes[y].id);
	} else {
		for (int b = 0; b < nn; b++) {
			if (b == x)
				continue;
			s->cut[x][b] |= dir != 0;
			s->cut[b][x] |= dir != 1;
		}
		sim_trace(s, "FAULT isolate node %" PRIu64 " (%s)",
			  s->nodes[x].id, dir == 0 ? "in" :
			  dir == 1 ? "out" : "both ways");
	}
	s->partition++;
	sim_schedule(s, s->now + sim_rng_range(&s->rng_fault,
					       election_time(s) / 2,
					       4 * election_time(s)),
		     SIM_EV_LINKS_HEAL, -1, 0, s->partition);
}

static void pause_node(sim *s)
{
	int v = victim(s, 500);

	if (v < 0)
		return;
	s->nodes[v].paused_until =
		s->now + sim_rng_range(&s->rng_fault, SIM_TICK,
				       3 * election_time(s));
	sim_trace(s, "FAULT pause node %" PRIu64 " until %" PRIu64,
		  s->nodes[v].id, s->nodes[v].paused_until);
}

static void nudge(sim *s, int kind)
{
	int v = victim(s, kind == F_TRANSFER ? 1000 : 0);
	sim_node *n;
	int rv, to;

	if (v < 0 || sim_node_paused(s, &s->nodes[v]))
		return;
	n = &s->nodes[v];
	if (kind == F_CAMPAIGN) {
		rv = sn_engine_campaign(n->eng);
		sim_trace(s, "FAULT campaign at node %" PRIu64 ": %s", n->id,
			  sn_strerror(rv));
		return;
	}
	to = (v + 1 + (int)sim_rng_below(&s->rng_fault,
					 (uint64_t)s->pf.n_nodes - 1)) %
	     s->pf.n_nodes;
	rv = sn_engine_transfer_leader(n->eng, s->nodes[to].id);
	sim_trace(s, "FAULT transfer from node %" PRIu64 " to %" PRIu64
		  ": %s", n->id, s->nodes[to].id, sn_strerror(rv));
}

static void weather(sim *s)
{
	s->pf.drop = (unsigned)sim_rng_below(&s->rng_fault, 200);
	s->pf.delay_max = (unsigned)sim_rng_range(&s->rng_fault, 2, 3 *
						  SIM_TICK);
	if (s->pf.slow_max < s->pf.delay_max)
		s->pf.slow_max = s->pf.delay_max;
	sim_trace(s, "FAULT weather: drop %u/1000, delay up to %u",
		  s->pf.drop, s->pf.delay_max);
}

void sim_fault_strike(sim *s)
{
	int kind;

	if (s->healing)
		return;
	kind = draw_kind(s);
	switch (kind) {
	case F_CRASH: crash(s); break;
	case F_PARTITION:
	case F_ONEWAY:
	case F_ISOLATE: partition(s, kind); break;
	case F_HEAL:
		links_clear(s);
		sim_trace(s, "FAULT heal links");
		break;
	case F_PAUSE: pause_node(s); break;
	case F_CAMPAIGN:
	case F_TRANSFER: nudge(s, kind); break;
	default: weather(s); break;
	}
	sim_schedule(s, s->now + sim_rng_range(&s->rng_fault, 1,
					       2 * s->pf.fault_gap),
		     SIM_EV_FAULT, -1, 0, 0);
}

void sim_fault_restart(sim *s, int node, uint64_t gen)
{
	sim_node *n = &s->nodes[node];

	if (n->up || n->gen != gen)
		return; /* already brought back by the heal */
	sim_node_start(s, n);
}

void sim_fault_links_heal(sim *s, uint64_t number)
{
	if (number == s->partition && !s->healing) {
		links_clear(s);
		sim_trace(s, "links healed");
	}
}

/* End of chaos: every link back, every node up and awake, a reliable
 * network; the liveness probe starts and the clock for it runs. */
void sim_fault_heal_all(sim *s)
{
	s->healing = true;
	links_clear(s);
	if (s->pf.delay_max > SIM_TICK)
		s->pf.delay_max = SIM_TICK;
	for (int i = 0; i < s->pf.n_nodes; i++) {
		sim_node *n = &s->nodes[i];
		if (!n->up)
			sim_node_start(s, n);
		n->paused_until = 0;
	}
	s->heal_deadline = s->now + 50 * election_time(s);
	sim_trace(s, "HEAL: reliable network, all nodes up; deadline %" PRIu64,
		  s->heal_deadline);
	sim_schedule(s, s->now, SIM_EV_CLIENT, -1, 0,
		     (uint64_t)s->n_clients - 1);
}
