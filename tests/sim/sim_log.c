/*
 * Logs as the simulator keeps them: each node's in-memory view (what its
 * engine's readies said), each node's disk, and the checkers' global logs.
 * Entries are stored by value: every payload the simulator proposes fits in
 * SIM_PAYLOAD bytes, so comparing entries is a memcmp.
 */
#include "sim.h"

#include <stdlib.h>
#include <string.h>

void sim_log_truncate(sim_log *l, uint64_t from)
{
	if (from >= 1 && from <= l->n)
		l->n = (size_t)from - 1;
}

void sim_log_append(sim_log *l, const sim_entry *e)
{
	l->v = sim_grow(l->v, &l->cap, l->n + 1, sizeof *l->v);
	l->v[l->n++] = *e;
}

void sim_log_copy(sim_log *dst, const sim_log *src)
{
	dst->n = 0;
	dst->v = sim_grow(dst->v, &dst->cap, src->n, sizeof *dst->v);
	if (src->n)
		memcpy(dst->v, src->v, src->n * sizeof *src->v);
	dst->n = src->n;
}

void sim_log_free(sim_log *l)
{
	free(l->v);
	*l = (sim_log){ 0 };
}

const sim_entry *sim_log_at(const sim_log *l, uint64_t index)
{
	return index >= 1 && index <= l->n ? &l->v[index - 1] : NULL;
}

bool sim_entry_eq(const sim_entry *a, const sim_entry *b)
{
	return a->term == b->term && a->type == b->type && a->len == b->len &&
	       memcmp(a->data, b->data, a->len) == 0;
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

uint64_t sim_entry_value(const sim_entry *e)
{
	if (e->type != SN_ENTRY_NORMAL || e->len != SIM_PAYLOAD)
		return 0;
	return get_u64(e->data);
}
