/*
 * Logs as the simulator keeps them: each node's in-memory view (what its
 * engine's readies said), a node's durable log read back from its storage,
 * and the checkers' global logs. Entries are stored by value: every payload
 * the simulator proposes fits in SIM_PAYLOAD bytes, so comparing entries is
 * a memcmp. A node's log may start after a base (compaction, a snapshot).
 */
#include "sim.h"

#include <stdlib.h>
#include <string.h>

uint64_t sim_log_last(const sim_log *l)
{
	return l->base + l->n;
}

uint64_t sim_log_last_term(const sim_log *l)
{
	return l->n ? l->v[l->n - 1].term : l->base_term;
}

void sim_log_truncate(sim_log *l, uint64_t from)
{
	if (from > l->base && from <= sim_log_last(l))
		l->n = (size_t)(from - l->base - 1);
}

void sim_log_compact(sim_log *l, uint64_t upto)
{
	size_t k;

	if (upto <= l->base || upto > sim_log_last(l))
		return;
	k = (size_t)(upto - l->base);
	l->base_term = l->v[k - 1].term;
	memmove(l->v, l->v + k, (l->n - k) * sizeof *l->v);
	l->n -= k;
	l->base = upto;
}

void sim_log_reset(sim_log *l, uint64_t base, uint64_t base_term)
{
	l->n = 0;
	l->base = base;
	l->base_term = base_term;
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
	dst->base = src->base;
	dst->base_term = src->base_term;
}

static void entry_from(sim_entry *out, const sn_entry *e)
{
	memset(out, 0, sizeof *out);
	out->term = e->term;
	out->type = e->type;
	out->len = (uint32_t)(e->len < SIM_PAYLOAD ? e->len : SIM_PAYLOAD);
	if (out->len)
		memcpy(out->data, e->data, out->len);
}

void sim_log_from_state(sim_log *l, const sn_storage_state *st, bool anchor)
{
	uint64_t first = st->n_entries ? st->entries[0].index : 0;
	const sn_snapshot_meta *snap = st->has_snapshot ? &st->snapshot : NULL;
	size_t skip = 0;
	sim_entry e;

	if (snap && (!st->n_entries || first == snap->index + 1)) {
		sim_log_reset(l, snap->index, snap->term);
	} else if (snap && anchor && first <= snap->index) {
		/* The engine anchors the log at its first recovered entry. */
		sim_log_reset(l, first, st->entries[0].term);
		skip = 1;
	} else if (st->n_entries) {
		sim_log_reset(l, first - 1, 0); /* base term unknown */
	} else {
		sim_log_reset(l, 0, 0);
	}
	for (size_t i = skip; i < st->n_entries; i++) {
		entry_from(&e, &st->entries[i]);
		sim_log_append(l, &e);
	}
}

void sim_log_free(sim_log *l)
{
	free(l->v);
	*l = (sim_log){ 0 };
}

const sim_entry *sim_log_at(const sim_log *l, uint64_t index)
{
	return index > l->base && index <= l->base + l->n
		       ? &l->v[index - l->base - 1] : NULL;
}

bool sim_entry_eq(const sim_entry *a, const sim_entry *b)
{
	return a->term == b->term && a->type == b->type && a->len == b->len &&
	       memcmp(a->data, b->data, a->len) == 0;
}

bool sim_entry_same_value(const sim_entry *a, const sim_entry *b)
{
	return a->type == b->type && a->len == b->len &&
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
