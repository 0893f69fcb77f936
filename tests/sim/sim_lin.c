/*
 * Linearizability of the register history, checked once at the end.
 *
 * Every write carries a value no other write uses, so the committed log
 * fixes the order in which the writes took effect: w_1, w_2, ..., w_m (the
 * normal entries in index order); v_0 = 0 is the register's initial value.
 * A linearization must put each write w_k at a point p_k inside
 * [inv(w_k), resp(w_k)] with p_1 < p_2 < ..., and each read that returned
 * v_j at a point inside [inv(r), resp(r)] after p_j and before p_{j+1}.
 *
 * Every constraint on the points is an upper bound or a lower bound that
 * only grows with earlier points, so the earliest points are the best ones:
 *
 *   p_k = max(p_{k-1}, inv(w_k), inv(r) for each read r that returned
 *         v_{k-1})
 *
 * and the history is linearizable if and only if
 *   - p_k <= resp(w_k) for every acknowledged write (unknown writes have no
 *     response, hence no bound), and
 *   - p_j <= resp(r) for every read r that returned v_j (p_0 = 0).
 * Stamps are unique (one per invocation or response), so `<=` between two
 * different events is `<` in time and the strict orderings come for free.
 *
 * Before that, the history must be explicable at all: a committed value
 * nobody wrote, a value committed twice or at another index than it was
 * proposed at, a refused write that committed, an acknowledged write that
 * is not in the committed log, or a read of a value that never committed:
 * each is a violation.
 */
#include "sim.h"

#include <inttypes.h>
#include <stdlib.h>

typedef struct lin {
	uint64_t *order;   /* order[k] = value of w_k, k = 1..m */
	uint64_t m;
	uint64_t *pos;     /* pos[value] = k, 0 when never committed */
	uint64_t *latest;  /* latest[j] = largest inv of a read of v_j */
	uint64_t *point;   /* point[k] = p_k */
} lin;

/* Number the committed writes, w_1 .. w_m. */
static void order_writes(sim *s, lin *l)
{
	const sim_log *g = &s->ck.committed;

	for (uint64_t i = 1; i <= g->n && !s->violated; i++) {
		uint64_t v = sim_entry_value(&g->v[i - 1]);
		const sim_op *op;
		if (g->v[i - 1].type != SN_ENTRY_NORMAL)
			continue;
		if (v == 0 || v > s->n_ops || !s->ops[v - 1].is_write) {
			sim_violation(s, "committed entry %" PRIu64 " carries a "
				      "value no client wrote", i);
			return;
		}
		op = &s->ops[v - 1];
		if (l->pos[v])
			sim_violation(s, "value %" PRIu64 " committed twice", v);
		else if (op->status == SIM_OP_FAILED)
			sim_violation(s, "write %" PRIu64 " was refused yet "
				      "committed", v);
		else if (op->index != i)
			sim_violation(s, "write %" PRIu64 " proposed at index %"
				      PRIu64 " committed at %" PRIu64, v,
				      op->index, i);
		l->order[++l->m] = v;
		l->pos[v] = l->m;
	}
}

/* Every acknowledged write committed; every read saw a committed value. */
static void check_outcomes(sim *s, lin *l)
{
	for (size_t i = 0; i < s->n_ops && !s->violated; i++) {
		const sim_op *op = &s->ops[i];
		uint64_t j;
		if (op->status != SIM_OP_OK)
			continue;
		if (op->is_write) {
			if (!l->pos[op->value])
				sim_violation(s, "acknowledged write %" PRIu64
					      " is not in the committed log",
					      op->value);
			continue;
		}
		j = op->value && op->value <= s->n_ops ? l->pos[op->value] : 0;
		if (op->value && !j) {
			sim_violation(s, "read %zu returned value %" PRIu64
				      " that never committed", i + 1,
				      op->value);
			continue;
		}
		if (op->inv > l->latest[j])
			l->latest[j] = op->inv;
	}
}

static void place_points(sim *s, lin *l)
{
	uint64_t p = 0;

	l->point[0] = 0;
	for (uint64_t k = 1; k <= l->m && !s->violated; k++) {
		const sim_op *w = &s->ops[l->order[k] - 1];
		if (w->inv > p)
			p = w->inv;
		if (l->latest[k - 1] > p)
			p = l->latest[k - 1];
		l->point[k] = p;
		if (w->status == SIM_OP_OK && p > w->resp)
			sim_violation(s, "not linearizable: write %" PRIu64
				      " (#%" PRIu64 " in commit order) cannot "
				      "take effect before stamp %" PRIu64
				      " (its invocation, an earlier write or a "
				      "read of the value before it) but was "
				      "acknowledged at %" PRIu64,
				      w->value, k, p, w->resp);
	}
}

static void check_reads(sim *s, lin *l)
{
	for (size_t i = 0; i < s->n_ops && !s->violated; i++) {
		const sim_op *op = &s->ops[i];
		uint64_t j;
		if (op->is_write || op->status != SIM_OP_OK)
			continue;
		j = op->value ? l->pos[op->value] : 0;
		if (l->point[j] > op->resp)
			sim_violation(s, "not linearizable: read %zu [%" PRIu64
				      ", %" PRIu64 "] at node %" PRIu64
				      " returned value %" PRIu64 " (#%" PRIu64
				      " in commit order) before that write "
				      "could take effect (stamp %" PRIu64 ")",
				      i + 1,
				      op->inv, op->resp, s->nodes[op->node].id,
				      op->value, j, l->point[j]);
	}
}

void sim_check_linearizable(sim *s)
{
	size_t n = s->n_ops + 2;
	lin l = {
		.order = calloc(n, sizeof(uint64_t)),
		.pos = calloc(n, sizeof(uint64_t)),
		.latest = calloc(n, sizeof(uint64_t)),
		.point = calloc(n, sizeof(uint64_t)),
	};

	if (!l.order || !l.pos || !l.latest || !l.point) {
		sim_violation(s, "out of memory in the linearizability check");
	} else {
		order_writes(s, &l);
		if (!s->violated)
			check_outcomes(s, &l);
		if (!s->violated)
			place_points(s, &l);
		if (!s->violated)
			check_reads(s, &l);
	}
	free(l.order);
	free(l.pos);
	free(l.latest);
	free(l.point);
}
