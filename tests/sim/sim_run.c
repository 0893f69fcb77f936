/*
 * One seed, start to finish.
 *
 * The seed picks a profile (cluster size, engine knobs, network weather,
 * which faults to favour, the workload mix), then the event loop runs a
 * chaos phase of `steps` events followed by a heal phase that must reach a
 * goal within 50 election timeouts: a leader, and a fresh write applied on
 * every node. Every event is one step; after each step every node's readies
 * are handled and the checkers run. The first violation ends the run.
 */
#include "sim.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void *sim_alloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (!p) {
		fprintf(stderr, "senate-sim: out of memory\n");
		abort();
	}
	return p;
}

void *sim_grow(void *p, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 8;

	if (need <= *cap)
		return p;
	while (n < need)
		n *= 2;
	p = realloc(p, n * elem);
	if (!p) {
		fprintf(stderr, "senate-sim: out of memory\n");
		abort();
	}
	*cap = n;
	return p;
}

void sim_violation(sim *s, const char *fmt, ...)
{
	va_list ap;
	int off;

	if (s->violated)
		return;
	s->violated = true;
	off = snprintf(s->reason, sizeof s->reason,
		       "at step %" PRIu64 " (t=%" PRIu64 "): ", s->steps,
		       s->now);
	va_start(ap, fmt);
	vsnprintf(s->reason + off, sizeof s->reason - (size_t)off, fmt, ap);
	va_end(ap);
	sim_trace(s, "VIOLATION %s", s->reason);
}

void sim_trace(sim *s, const char *fmt, ...)
{
	va_list ap;

	if (!s->p.verbose)
		return;
	printf("[t=%7" PRIu64 " #%6" PRIu64 "] ", s->now, s->steps);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/*
 * The seed's profile. The cluster size is drawn first and always, so that
 * `--nodes X` with the size a seed would pick replays the very same run.
 * Five nodes are favoured: that is where the Figure-8 history lives.
 */
void sim_derive_profile(sim_profile *pf, uint64_t seed, int n_nodes)
{
	sim_rng r;
	uint64_t size = 0;
	sim_tuning *t = &pf->tuning;

	sim_rng_seed(&r, seed, 1);
	size = sim_rng_below(&r, 10);
	pf->n_nodes = n_nodes ? n_nodes : size < 3 ? 3 : size < 5 ? 4 : 5;

	t->election_ticks = (unsigned)sim_rng_range(&r, 5, 10);
	t->heartbeat_ticks = (unsigned)sim_rng_range(&r, 1, 2);
	t->pre_vote = sim_rng_chance(&r, 600);
	t->check_quorum = sim_rng_chance(&r, 600);
	/* An append carries 1..4 client entries: small batches let a leader
	 * die with an old-term entry replicated but its own not yet. */
	t->entries_per_msg = (size_t)sim_rng_range(&r, 1, 4);
	t->max_inflight_msgs = (size_t)sim_rng_range(&r, 1, 8);
	t->max_uncommitted_bytes = sim_rng_chance(&r, 200) ?
		SIM_PAYLOAD * (size_t)sim_rng_range(&r, 2, 8) : 0;

	pf->n_clients = (int)sim_rng_range(&r, 1, 4);
	pf->write_share = (unsigned)sim_rng_range(&r, 400, 800);
	pf->think_max = (unsigned)sim_rng_range(&r, 1, 3) * SIM_TICK;

	pf->drop = (unsigned)sim_rng_below(&r, 100);
	pf->dup = (unsigned)sim_rng_below(&r, 50);
	pf->slow = (unsigned)sim_rng_below(&r, 50);
	pf->trunc = sim_rng_chance(&r, 300) ? (unsigned)sim_rng_range(&r, 1, 5)
					    : 0;
	pf->delay_max = (unsigned)sim_rng_range(&r, 2, 15);
	pf->slow_max = (unsigned)sim_rng_range(&r, 2, 4) * t->election_ticks *
		       SIM_TICK;
	pf->disk_max = (unsigned)sim_rng_range(&r, 1, 20);

	pf->fault_gap = (unsigned)sim_rng_range(&r, 1, 6) * SIM_TICK;
	pf->w_crash = (unsigned)sim_rng_range(&r, 2, 12);
	pf->w_partition = (unsigned)sim_rng_below(&r, 6);
	pf->w_oneway = (unsigned)sim_rng_below(&r, 4);
	pf->w_isolate = (unsigned)sim_rng_below(&r, 4);
	pf->w_heal = (unsigned)sim_rng_range(&r, 1, 6);
	pf->w_pause = (unsigned)sim_rng_below(&r, 4);
	pf->w_campaign = (unsigned)sim_rng_below(&r, 4);
	pf->w_transfer = (unsigned)sim_rng_below(&r, 3);
	pf->w_weather = (unsigned)sim_rng_below(&r, 3);
	pf->leader_bias = (unsigned)sim_rng_range(&r, 300, 900);
	pf->quick_restart = (unsigned)sim_rng_range(&r, 100, 700);
	pf->assassin = (unsigned)sim_rng_below(&r, 600);

	/*
	 * Half the seeds (three in four of the three-node ones) are storms of
	 * short reigns: leaders are crashed young and come back quickly,
	 * appends carry one entry and wait for their answer. That is where an
	 * engine that commits an old-term entry by counting replicas (Raft's
	 * Figure 8) gets caught: the old entry reaches a quorum one append
	 * before the new leader's own. Three nodes get there most often (the
	 * history needs fewer nodes in just the right state).
	 */
	if (sim_rng_chance(&r, pf->n_nodes == 3 ? 750 : 500)) {
		t->election_ticks = (unsigned)sim_rng_range(&r, 4, 6);
		t->entries_per_msg = 1;
		t->max_inflight_msgs = (size_t)sim_rng_range(&r, 1, 2);
		pf->w_crash = (unsigned)sim_rng_range(&r, 8, 16);
		pf->assassin = (unsigned)sim_rng_range(&r, 500, 950);
		pf->quick_restart = (unsigned)sim_rng_range(&r, 500, 900);
	}

	/*
	 * Snapshots: every K applied entries, a trailing window behind them,
	 * a few KB each, so that a follower that misses a little needs one
	 * and a transfer takes many chunks (a chunk is max_msg_bytes: the
	 * append size plus a slack below one entry). Half the seeds stream a
	 * snapshot in one burst (the engine's default window); the others
	 * with a window of half to all of a snapshot's chunks, so that flow
	 * control runs but a transfer still outruns the leader's next
	 * snapshot (docs/simulator.md, "Known engine findings").
	 */
	pf->snap_every = (unsigned)sim_rng_range(&r, 5, 40);
	pf->snap_trailing = (unsigned)sim_rng_range(&r, 0, 10);
	pf->snap_pad = (unsigned)sim_rng_range(&r, 2048, 5120);
	t->msg_slack = (unsigned)sim_rng_below(&r, 1000);
	t->snap_bytes = pf->snap_pad + 48 + 256; /* sim_snap.c: the mean */
	t->window_chunks = 0;
	t->window_share = sim_rng_chance(&r, 500) ?
		(unsigned)sim_rng_range(&r, 500, 1000) : 0;
}

static void setup(sim *s)
{
	sim_rng_seed(&s->rng_net, s->p.seed, 2);
	sim_rng_seed(&s->rng_disk, s->p.seed, 3);
	sim_rng_seed(&s->rng_fault, s->p.seed, 4);
	sim_rng_seed(&s->rng_client, s->p.seed, 5);
	for (int i = 0; i < s->pf.n_nodes; i++)
		s->voters[i] = (uint64_t)i + 1;
	for (int i = 0; i < s->pf.n_nodes && !s->violated; i++) {
		sim_node *n = &s->nodes[i];
		n->idx = i;
		n->id = (uint64_t)i + 1;
		/* clocks drift: a node ticks every 9, 10 or 11 units */
		n->tick_period = SIM_TICK - 1 +
				 (unsigned)sim_rng_below(&s->rng_fault, 3);
		sim_node_init(s, n);
		sim_node_start(s, n);
	}
	sim_clients_init(s);
	sim_schedule(s, sim_rng_range(&s->rng_fault, 1, 2 * s->pf.fault_gap),
		     SIM_EV_FAULT, -1, 0, 0);
}

/* Events aimed at a node's incarnation that died, or deferred while the
 * node is paused, are filtered here. */
static bool node_event_live(sim *s, const sim_event *ev)
{
	sim_node *n = &s->nodes[ev->node];
	sim_event later;

	if (!n->up || ev->gen != n->gen)
		return false;
	if (!sim_node_paused(s, n))
		return true;
	later = *ev;
	later.at = n->paused_until;
	sim_heap_push(s, later);
	return false;
}

static void dispatch(sim *s, const sim_event *ev)
{
	switch (ev->kind) {
	case SIM_EV_DELIVER:
		sim_net_deliver(s, ev);
		break;
	case SIM_EV_TICK:
		if (node_event_live(s, ev))
			sim_node_tick(s, &s->nodes[ev->node]);
		break;
	case SIM_EV_SYNC:
		if (node_event_live(s, ev))
			sim_node_sync(s, &s->nodes[ev->node]);
		break;
	case SIM_EV_CLIENT:
		sim_client_act(s, (int)ev->arg);
		break;
	case SIM_EV_OP_TIMEOUT:
		sim_op_timeout(s, ev->arg);
		break;
	case SIM_EV_FAULT:
		sim_fault_strike(s);
		break;
	case SIM_EV_RESTART:
		sim_fault_restart(s, ev->node, ev->gen);
		break;
	case SIM_EV_LINKS_HEAL:
		sim_fault_links_heal(s, ev->arg);
		break;
	case SIM_EV_ASSASSIN:
		sim_fault_assassin(s, ev->node, ev->gen);
		break;
	}
}

static void settle(sim *s)
{
	for (int i = 0; i < s->pf.n_nodes; i++)
		sim_node_drain(s, &s->nodes[i]);
	sim_check_step(s);
	sim_fault_watch(s);
}

static bool goal_reached(const sim *s)
{
	if (!s->probe_value)
		return false;
	for (int i = 0; i < s->pf.n_nodes; i++)
		if (!s->nodes[i].up || !s->nodes[i].probe_applied)
			return false;
	return true;
}

static void liveness_failed(sim *s)
{
	char who[256] = "";
	size_t off = 0;

	for (int i = 0; i < s->pf.n_nodes && off < sizeof who; i++) {
		const sn_engine_status *st = &s->nodes[i].st;
		off += (size_t)snprintf(who + off, sizeof who - off,
					"%s%" PRIu64 ":%s/t%" PRIu64 "/c%" PRIu64
					"/a%" PRIu64, i ? " " : "",
					s->nodes[i].id,
					st->role == SN_ROLE_LEADER ? "L" :
					st->role == SN_ROLE_FOLLOWER ? "F" : "C",
					st->term, st->commit,
					s->nodes[i].sm.applied);
	}
	sim_violation(s, "liveness: no fresh write applied on every node "
		      "within 50 election timeouts of the heal (probe value %"
		      PRIu64 "; node:role/term/commit/applied %s)",
		      s->probe_value, who);
}

static void loop(sim *s)
{
	sim_event ev;

	settle(s);
	while (!s->violated) {
		if (!s->healing && s->steps >= s->p.steps) {
			sim_fault_heal_all(s);
			settle(s);
			continue;
		}
		if (!sim_heap_pop(s, &ev)) {
			sim_violation(s, "the event queue ran dry");
			return;
		}
		s->now = ev.at;
		s->steps++;
		dispatch(s, &ev);
		settle(s);
		if (s->healing && goal_reached(s))
			return;
		if (s->healing && s->now > s->heal_deadline)
			liveness_failed(s);
	}
}

static void summary(sim *s)
{
	const sim_stats *t = &s->stats;
	size_t ok = 0, terms = 0;

	if (!s->p.verbose && !getenv("SIM_SUMMARY"))
		return;
	for (size_t i = 0; i < s->n_ops; i++)
		ok += s->ops[i].status == SIM_OP_OK;
	terms = s->ck.n_reigns;
	printf("summary seed %" PRIu64 ": %" PRIu64 " steps, t=%" PRIu64
	       ", %zu committed, %zu leaders, %zu ops (%zu ok)\n", s->p.seed,
	       s->steps, s->now, s->ck.committed.n, terms, s->n_ops, ok);
	printf("  snapshots: %" PRIu64 " taken, %" PRIu64 " compactions, %"
	       PRIu64 " installs (%" PRIu64 " chunked, most chunks %" PRIu64
	       ", %" PRIu64 " after an interruption), %" PRIu64
	       " transfers cut\n", t->snaps_taken, t->compactions, t->installs,
	       t->chunked_installs, t->max_chunks, t->resumed_installs,
	       t->interrupted);
	printf("  chunks: %" PRIu64 " sent, %" PRIu64 " lost, %" PRIu64
	       " resume requests, %" PRIu64 " written\n", t->chunks_sent,
	       t->chunks_lost, t->chunk_rejects, t->chunks_written);
	printf("  storage: %" PRIu64 " writes, %" PRIu64 " synced, %" PRIu64
	       " lost in crashes, %" PRIu64 " acked early; %" PRIu64
	       " restarts (%" PRIu64 " from a snapshot, %" PRIu64
	       " finished an install, %" PRIu64 " resumed a transfer)\n",
	       t->writes, t->synced, t->dropped, t->early_acks, t->restarts,
	       t->snap_restarts, t->finished_installs, t->restart_resumes);
}

static void teardown(sim *s)
{
	for (int i = 0; i < s->pf.n_nodes; i++)
		sim_node_free(&s->nodes[i]);
	sim_heap_free(s);
	sim_clients_free(s);
	sim_check_free(s);
	free(s);
}

/* The seed's character, first line of a --verbose trace. */
static void trace_profile(sim *s)
{
	const sim_profile *pf = &s->pf;
	const sim_tuning *t = &pf->tuning;

	sim_trace(s, "seed %" PRIu64 ": %d nodes, %d clients, election %u"
		  " heartbeat %u prevote %d checkquorum %d entries/msg %zu "
		  "inflight %zu uncommitted %zu; drop %u dup %u slow %u "
		  "trunc %u delay %u..%u disk %u; fault gap %u; snapshot "
		  "every %u trailing %u pad %u, msg slack %u, window %zu "
		  "chunks or %u/1000 of one (0: burst); links %s",
		  s->p.seed, pf->n_nodes, pf->n_clients, t->election_ticks,
		  t->heartbeat_ticks, t->pre_vote, t->check_quorum,
		  t->entries_per_msg, t->max_inflight_msgs,
		  t->max_uncommitted_bytes, pf->drop, pf->dup, pf->slow,
		  pf->trunc, pf->delay_max, pf->slow_max, pf->disk_max,
		  pf->fault_gap, pf->snap_every, pf->snap_trailing,
		  pf->snap_pad, t->msg_slack, t->window_chunks,
		  t->window_share,
		  s->p.reorder ? "reorder" : "fifo");
}

bool sim_run(const sim_params *p, char *reason, size_t cap, int *n_nodes,
	     sim_stats *stats, sim_samples *samples)
{
	sim *s = calloc(1, sizeof *s);
	bool ok;

	if (!s) {
		snprintf(reason, cap, "out of memory");
		return false;
	}
	s->p = *p;
	sim_digest_values_only = p->engine->reballots;
	sim_derive_profile(&s->pf, p->seed, p->n_nodes);
	if (p->snap_window >= 0) {
		s->pf.tuning.window_chunks = (size_t)p->snap_window;
		s->pf.tuning.window_share = 0;
	}
	*n_nodes = s->pf.n_nodes;
	trace_profile(s);
	setup(s);
	loop(s);
	if (!s->violated)
		sim_check_full(s);
	if (!s->violated)
		sim_check_linearizable(s);
	for (int i = 0; i < s->pf.n_nodes; i++)
		sim_node_stats(s, &s->nodes[i]);
	summary(s);
	ok = !s->violated;
	if (!ok)
		snprintf(reason, cap, "%s", s->reason);
	s->stats.end = s->now;
	*stats = s->stats;
	if (samples)
		*samples = s->samples;
	teardown(s);
	return ok;
}
