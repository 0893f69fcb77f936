/*
 * The workload: clients of one replicated register.
 *
 * Each client has at most one operation outstanding and sends it to the
 * node it believes leads. A write proposes a value never used before (the
 * op's number), so the committed log alone tells which write a read saw. A
 * write is acknowledged when the node it was proposed on applies the entry
 * carrying it; a read goes through sn_engine_read_index() and returns the
 * node's register once the node has applied up to the read index. Anything
 * refused, replaced, cut short by a crash or timed out is recorded as
 * failed (no effect) or unknown (maybe took effect), never retried with the
 * same value.
 *
 * The last client is the heal phase's liveness probe: it writes a fresh
 * value through the current leader and the run ends once every node has
 * applied it.
 */
#include "sim.h"

#include <inttypes.h>
#include <stdlib.h>

static sim_time op_timeout(const sim *s)
{
	return 4ull * s->pf.tuning.election_ticks * SIM_TICK;
}

void sim_clients_init(sim *s)
{
	s->n_clients = s->pf.n_clients + 1;
	s->clients = sim_alloc((size_t)s->n_clients * sizeof *s->clients);
	for (int c = 0; c < s->n_clients; c++) {
		s->clients[c].guess =
			(int)sim_rng_below(&s->rng_client, s->pf.n_nodes);
		s->clients[c].op = -1;
		s->clients[c].probe = c == s->n_clients - 1;
		if (!s->clients[c].probe)
			sim_schedule(s, s->now + sim_rng_range(&s->rng_client,
					1, s->pf.think_max),
				     SIM_EV_CLIENT, -1, 0, (uint64_t)c);
	}
}

void sim_clients_free(sim *s)
{
	free(s->clients);
	free(s->ops);
	s->clients = NULL;
	s->ops = NULL;
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static void encode_write(const sim *s, uint64_t value, uint8_t *p)
{
	put_u64(p, value);
	put_u64(p + 8, sim_mix(value ^ s->p.seed)); /* makes payloads distinct
						     beyond the value */
}

static long op_new(sim *s, int c, sim_node *n, bool is_write)
{
	sim_op *op;

	s->ops = sim_grow(s->ops, &s->cap_ops, s->n_ops + 1, sizeof *s->ops);
	op = &s->ops[s->n_ops];
	*op = (sim_op){ .client = c, .node = n->idx, .node_gen = n->gen,
			.is_write = is_write, .inv = ++s->stamp,
			.status = SIM_OP_PENDING };
	if (is_write)
		op->value = s->n_ops + 1;
	return (long)s->n_ops++;
}

static void client_next(sim *s, int c, sim_time after)
{
	s->clients[c].op = -1;
	sim_schedule(s, s->now + after, SIM_EV_CLIENT, -1, 0, (uint64_t)c);
}

/* A refused client backs off a little before it asks again. */
static sim_time think(sim *s, int status)
{
	sim_time t = 1 + sim_rng_below(&s->rng_client, s->pf.think_max);

	return status == SIM_OP_FAILED ? t + SIM_TICK : t;
}

static void op_end(sim *s, long i, int status, bool respond)
{
	sim_op *op = &s->ops[i];
	sim_client *cl = &s->clients[op->client];

	op->status = status;
	if (respond)
		op->resp = ++s->stamp;
	sim_trace(s, "client %d %s v=%" PRIu64 " at node %" PRIu64 ": %s",
		  op->client, op->is_write ? "write" : "read", op->value,
		  s->nodes[op->node].id,
		  status == SIM_OP_OK ? "ok" :
		  status == SIM_OP_FAILED ? "failed" : "unknown");
	if (cl->probe && status == SIM_OP_OK)
		cl->op = -1; /* done: wait for every node to apply it */
	else
		client_next(s, op->client, think(s, status));
}

static void update_guess(sim *s, sim_client *cl, sim_node *n)
{
	sim_node *l = NULL;
	sn_engine_status st;

	if (n->up) {
		sn_engine_get_status(&st, n->eng);
		l = sim_node_by_id(s, st.leader);
	}
	cl->guess = l ? l->idx
		      : (int)sim_rng_below(&s->rng_client, s->pf.n_nodes);
}

static void issue(sim *s, int c, sim_node *n, bool is_write)
{
	long i = op_new(s, c, n, is_write);
	sim_op *op = &s->ops[i];
	uint8_t payload[SIM_PAYLOAD];
	int rv;

	if (is_write) {
		encode_write(s, op->value, payload);
		rv = sn_engine_propose(&op->index, n->eng, payload,
				       sizeof payload);
	} else {
		rv = sn_engine_read_index(n->eng, (uint64_t)i + 1);
	}
	sim_trace(s, "client %d %s v=%" PRIu64 " to node %" PRIu64
		  ": %s index %" PRIu64, c, is_write ? "write" : "read",
		  op->value, n->id, sn_strerror(rv), op->index);
	s->clients[c].op = i;
	if (rv != SN_OK) {
		update_guess(s, &s->clients[c], n);
		op_end(s, i, SIM_OP_FAILED, false);
		return;
	}
	if (s->clients[c].probe) {
		s->probe_value = op->value;
		for (int k = 0; k < s->pf.n_nodes; k++)
			s->nodes[k].probe_applied = false;
	}
	sim_schedule(s, s->now + op_timeout(s), SIM_EV_OP_TIMEOUT, -1, 0,
		     (uint64_t)i);
}

void sim_client_act(sim *s, int c)
{
	sim_client *cl = &s->clients[c];
	sim_node *n;

	if (cl->op >= 0 || (cl->probe && !s->healing))
		return;
	if (cl->probe) {
		int t = sim_find_leader(s);
		if (t < 0 || (s->probe_value &&
			      s->ops[s->probe_value - 1].status == SIM_OP_OK)) {
			if (t < 0)
				client_next(s, c, SIM_TICK);
			return;
		}
		cl->guess = t;
	}
	n = &s->nodes[cl->guess];
	if (!n->up) {
		update_guess(s, cl, n);
		client_next(s, c, think(s, SIM_OP_FAILED));
		return;
	}
	if (sim_node_paused(s, n)) {
		client_next(s, c, n->paused_until - s->now);
		return;
	}
	issue(s, c, n, cl->probe ||
		     sim_rng_chance(&s->rng_client, s->pf.write_share));
}

/* Is op `i` still waiting on this incarnation of node n? */
static bool waiting_on(const sim *s, long i, const sim_node *n)
{
	const sim_op *op = &s->ops[i];

	return op->status == SIM_OP_PENDING && op->node == n->idx &&
	       op->node_gen == n->gen;
}

void sim_client_on_apply(sim *s, sim_node *n, uint64_t index,
			 const sim_entry *e)
{
	for (int c = 0; c < s->n_clients; c++) {
		long i = s->clients[c].op;
		sim_op *op;
		if (i < 0 || !waiting_on(s, i, n))
			continue;
		op = &s->ops[i];
		if (op->is_write && op->index == index) {
			/* Another entry at our index means ours is gone. */
			op_end(s, i, sim_entry_value(e) == op->value ?
					     SIM_OP_OK : SIM_OP_UNKNOWN,
			       sim_entry_value(e) == op->value);
		} else if (!op->is_write && op->read_confirmed &&
			   n->sm.applied >= op->index) {
			op->value = n->sm.reg;
			op_end(s, i, SIM_OP_OK, true);
		}
	}
}

void sim_client_on_read(sim *s, sim_node *n, const sn_read_state *rs)
{
	long i = (long)rs->ctx - 1;
	sim_op *op;

	if (rs->ctx == 0 || rs->ctx > s->n_ops) {
		sim_violation(s, "node %" PRIu64 " returned a read state for "
			      "unknown ctx %" PRIu64, n->id, rs->ctx);
		return;
	}
	op = &s->ops[i];
	if (op->is_write || op->node != n->idx) {
		sim_violation(s, "node %" PRIu64 " returned a read state for "
			      "ctx %" PRIu64 " it was never given", n->id,
			      rs->ctx);
		return;
	}
	if (!waiting_on(s, i, n) || s->clients[op->client].op != i)
		return; /* timed out meanwhile */
	if (rs->status != SN_OK) {
		op_end(s, i, SIM_OP_FAILED, false);
		return;
	}
	op->read_confirmed = true;
	op->index = rs->index;
	if (n->sm.applied >= op->index) {
		op->value = n->sm.reg;
		op_end(s, i, SIM_OP_OK, true);
	}
}

void sim_client_on_crash(sim *s, sim_node *n)
{
	for (int c = 0; c < s->n_clients; c++) {
		long i = s->clients[c].op;
		if (i >= 0 && waiting_on(s, i, n))
			op_end(s, i, s->ops[i].is_write ? SIM_OP_UNKNOWN
							: SIM_OP_FAILED,
			       false);
	}
}

/*
 * The node's state machine jumped to a snapshot through `index` (an
 * install): a write waiting at an index it covers was never applied here,
 * so its fate is unknown to this node; a confirmed read it covers is
 * served from the restored register.
 */
void sim_client_on_restore(sim *s, sim_node *n, uint64_t index)
{
	for (int c = 0; c < s->n_clients; c++) {
		long i = s->clients[c].op;
		sim_op *op;
		if (i < 0 || !waiting_on(s, i, n))
			continue;
		op = &s->ops[i];
		if (op->is_write && op->index <= index) {
			op_end(s, i, SIM_OP_UNKNOWN, false);
		} else if (!op->is_write && op->read_confirmed &&
			   op->index <= index) {
			op->value = n->sm.reg;
			op_end(s, i, SIM_OP_OK, true);
		}
	}
	/* The heal's probe counts as applied once a snapshot covers it. */
	if (s->probe_value) {
		const sim_op *p = &s->ops[s->probe_value - 1];
		const sim_entry *e = sim_log_at(&s->ck.committed, p->index);
		if (p->index && p->index <= index && e &&
		    sim_entry_value(e) == s->probe_value)
			n->probe_applied = true;
	}
}

void sim_op_timeout(sim *s, uint64_t i)
{
	sim_op *op = &s->ops[i];

	if (op->status != SIM_OP_PENDING ||
	    s->clients[op->client].op != (long)i)
		return;
	op_end(s, (long)i, op->is_write ? SIM_OP_UNKNOWN : SIM_OP_FAILED,
	       false);
}
