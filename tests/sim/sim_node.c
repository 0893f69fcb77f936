/*
 * A simulated node: one engine, its disk and its register state machine.
 *
 * Storage model: a ready's hard state and entries become one pending write
 * that turns durable after a random latency, in FIFO order. Only then does
 * the disk change, do `messages_after_persist` leave and is
 * sn_engine_persisted() called. A crash throws away the engine and every
 * pending write; a restart rebuilds the engine from the disk alone.
 *
 * The state machine is not durable: a restarted node passes applied = 0 and
 * the engine re-delivers every committed entry from index 1. That keeps the
 * model small and makes every restart re-check the whole committed prefix.
 */
#include "sim.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static uint64_t node_rand(void *userdata)
{
	return sim_rng_next(userdata);
}

sim_node *sim_node_by_id(sim *s, uint64_t id)
{
	if (id < 1 || id > (uint64_t)s->pf.n_nodes)
		return NULL;
	return &s->nodes[id - 1];
}

/* The up node that leads the highest term, or -1. */
int sim_find_leader(sim *s)
{
	int best = -1;
	uint64_t term = 0;

	for (int i = 0; i < s->pf.n_nodes; i++) {
		sn_engine_status st;
		if (!s->nodes[i].up)
			continue;
		sn_engine_get_status(&st, s->nodes[i].eng);
		if (st.role == SN_ROLE_LEADER && st.term >= term) {
			best = i;
			term = st.term;
		}
	}
	return best;
}

bool sim_node_paused(const sim *s, const sim_node *n)
{
	return s->now < n->paused_until;
}

static void to_sn_entries(const sim_log *l, sn_entry *out)
{
	for (size_t i = 0; i < l->n; i++)
		out[i] = (sn_entry){ i + 1, l->v[i].term, l->v[i].type,
				     l->v[i].data, l->v[i].len };
}

/* Create the engine from the disk: a fresh node, or a restart. */
void sim_node_start(sim *s, sim_node *n)
{
	sn_entry *ents = sim_alloc((n->disk.n + 1) * sizeof *ents);
	sim_engine_args a = {
		.id = n->id, .group = SIM_GROUP, .voters = s->voters,
		.n_voters = (size_t)s->pf.n_nodes, .tuning = &s->pf.tuning,
		.rand = node_rand, .rand_userdata = &n->eng_rng,
		.hard_state = &n->disk_hs, .entries = ents,
		.n_entries = n->disk.n, .applied = 0,
	};
	int rv;

	sim_rng_seed(&n->eng_rng, s->p.seed, 1000 * (uint64_t)(n->idx + 1) +
			n->gen);
	to_sn_entries(&n->disk, ents);
	rv = s->p.engine->create(&n->eng, &a);
	free(ents);
	if (rv) {
		sim_violation(s, "node %" PRIu64 " cannot start from its disk: "
			      "%s (%s)", n->id, sn_strerror(rv), sn_errmsg());
		return;
	}
	n->up = true;
	n->paused_until = 0;
	sim_log_copy(&n->mem, &n->disk);
	n->applied = 0;
	n->reg = 0;
	n->commit_checked = 0;
	n->last_role = SN_ROLE_FOLLOWER;
	n->last_term = n->disk_hs.term;
	sim_schedule(s, s->now + sim_rng_range(&s->rng_fault, 1,
					       n->tick_period),
		     SIM_EV_TICK, n->idx, n->gen, 0);
}

static void write_free(sim_write *w)
{
	free(w->ents);
	for (size_t i = 0; i < w->n_after; i++)
		free((void *)w->after[i].data);
	free(w->after);
}

void sim_node_crash(sim *s, sim_node *n)
{
	sim_client_on_crash(s, n);
	sn_engine_free(n->eng);
	n->eng = NULL;
	for (size_t i = 0; i < n->wq_n; i++)
		write_free(&n->wq[(n->wq_head + i) % n->wq_cap]);
	n->wq_head = n->wq_n = 0;
	n->wq_last_done = 0;
	n->up = false;
	n->gen++; /* orphans this incarnation's ticks and syncs */
	n->paused_until = 0;
}

void sim_node_free(sim_node *n)
{
	sn_engine_free(n->eng);
	n->eng = NULL;
	for (size_t i = 0; i < n->wq_n; i++)
		write_free(&n->wq[(n->wq_head + i) % n->wq_cap]);
	free(n->wq);
	sim_log_free(&n->mem);
	sim_log_free(&n->disk);
}

void sim_node_tick(sim *s, sim_node *n)
{
	sn_engine_tick(n->eng);
	sim_schedule(s, s->now + n->tick_period, SIM_EV_TICK, n->idx, n->gen,
		     0);
}

static bool to_sim_entry(sim *s, sim_node *n, const sn_entry *e,
			 sim_entry *out)
{
	if (e->len > SIM_PAYLOAD) {
		sim_violation(s, "node %" PRIu64 " produced entry %" PRIu64
			      " of %zu bytes; the simulator only proposes %d",
			      n->id, e->index, e->len, SIM_PAYLOAD);
		return false;
	}
	memset(out, 0, sizeof *out);
	out->term = e->term;
	out->type = e->type;
	out->len = (uint32_t)e->len;
	if (e->len)
		memcpy(out->data, e->data, e->len);
	return true;
}

/* Step 2 seen from the engine's side: its log now holds rd->entries. */
static void update_mem_log(sim *s, sim_node *n, const sn_ready *rd)
{
	uint64_t first, last;
	sim_entry e;

	if (!rd->n_entries)
		return;
	first = rd->entries[0].index;
	last = first + rd->n_entries - 1;
	if (first < 1 || first > n->mem.n + 1) {
		sim_violation(s, "node %" PRIu64 " wrote entries from %" PRIu64
			      " but its log ends at %zu", n->id, first,
			      n->mem.n);
		return;
	}
	if (last < n->mem.n)
		sim_check_log_cut(s, n, last + 1);
	sim_log_truncate(&n->mem, first);
	for (size_t i = 0; i < rd->n_entries; i++) {
		if (rd->entries[i].index != first + i) {
			sim_violation(s, "node %" PRIu64 " wrote non-consecutive "
				      "entries", n->id);
			return;
		}
		if (!to_sim_entry(s, n, &rd->entries[i], &e))
			return;
		sim_check_log_write(s, n, first + i, &e);
		sim_log_append(&n->mem, &e);
	}
}

/* Copy what the disk and the network still need: the ready dies at
 * advance. */
static void queue_write(sim *s, sim_node *n, const sn_ready *rd)
{
	sim_write w = { 0 };
	sim_time lat = sim_rng_range(&s->rng_disk, 1, s->pf.disk_max);

	w.has_hs = rd->has_hard_state;
	w.hs = rd->hard_state;
	w.n_ents = rd->n_entries;
	if (w.n_ents) {
		w.first = rd->entries[0].index;
		w.ents = sim_alloc(w.n_ents * sizeof *w.ents);
		for (size_t i = 0; i < w.n_ents; i++)
			to_sim_entry(s, n, &rd->entries[i], &w.ents[i]);
	}
	w.n_after = rd->n_messages_after_persist;
	if (w.n_after) {
		w.after = sim_alloc(w.n_after * sizeof *w.after);
		for (size_t i = 0; i < w.n_after; i++) {
			const sn_message *m = &rd->messages_after_persist[i];
			void *data = sim_alloc(m->len ? m->len : 1);
			if (m->len)
				memcpy(data, m->data, m->len);
			w.after[i] = *m;
			w.after[i].data = data;
		}
	}
	if (n->wq_n == n->wq_cap) {
		/* grow the ring, unrolling it to start at 0 */
		size_t cap = n->wq_cap ? 2 * n->wq_cap : 8;
		sim_write *q = sim_alloc(cap * sizeof *q);
		for (size_t i = 0; i < n->wq_n; i++)
			q[i] = n->wq[(n->wq_head + i) % n->wq_cap];
		free(n->wq);
		n->wq = q;
		n->wq_cap = cap;
		n->wq_head = 0;
	}
	n->wq[(n->wq_head + n->wq_n++) % n->wq_cap] = w;
	/* FIFO: a write is durable no earlier than the one before it; writes
	 * overlap (group commit), so the queue does not add up latencies. */
	if (n->wq_last_done < s->now + lat)
		n->wq_last_done = s->now + lat;
	sim_schedule(s, n->wq_last_done, SIM_EV_SYNC, n->idx, n->gen, 0);
}

/* The oldest pending write is durable now. */
void sim_node_sync(sim *s, sim_node *n)
{
	sim_write w;

	if (!n->wq_n)
		return;
	w = n->wq[n->wq_head];
	n->wq_head = (n->wq_head + 1) % n->wq_cap;
	n->wq_n--;
	if (w.has_hs)
		n->disk_hs = w.hs;
	if (w.n_ents) {
		sim_log_truncate(&n->disk, w.first);
		for (size_t i = 0; i < w.n_ents; i++)
			sim_log_append(&n->disk, &w.ents[i]);
	}
	for (size_t i = 0; i < w.n_after && n->up; i++)
		sim_net_send(s, n->idx, &w.after[i]);
	if (w.n_ents)
		sn_engine_persisted(n->eng, w.first + w.n_ents - 1,
				    w.ents[w.n_ents - 1].term);
	write_free(&w);
}

static void apply(sim *s, sim_node *n, const sn_entry *ce)
{
	const sim_entry *mine = sim_log_at(&n->mem, ce->index);
	uint64_t value;
	sim_entry e;

	if (!to_sim_entry(s, n, ce, &e))
		return;
	if (ce->index != n->applied + 1) {
		sim_violation(s, "node %" PRIu64 " applied index %" PRIu64
			      " after %" PRIu64, n->id, ce->index, n->applied);
		return;
	}
	if (!mine || !sim_entry_eq(mine, &e)) {
		sim_violation(s, "node %" PRIu64 " applied entry %" PRIu64
			      " that differs from its log", n->id, ce->index);
		return;
	}
	sim_check_apply(s, n, ce->index, &e);
	n->applied = ce->index;
	value = sim_entry_value(&e);
	if (value)
		n->reg = value;
	if (value && value == s->probe_value)
		n->probe_applied = true;
	sim_client_on_apply(s, n, ce->index, &e);
}

static void handle_ready(sim *s, sim_node *n, const sn_ready *rd)
{
	for (size_t i = 0; i < rd->n_messages; i++)
		sim_net_send(s, n->idx, &rd->messages[i]);
	update_mem_log(s, n, rd);
	if (rd->has_hard_state || rd->n_entries ||
	    rd->n_messages_after_persist)
		queue_write(s, n, rd);
	for (size_t i = 0; i < rd->n_committed && !s->violated; i++)
		apply(s, n, &rd->committed[i]);
	for (size_t i = 0; i < rd->n_reads; i++)
		sim_client_on_read(s, n, &rd->reads[i]);
}

void sim_node_drain(sim *s, sim_node *n)
{
	sn_ready rd;

	for (int rounds = 0; n->up && !s->violated; rounds++) {
		int rv = sn_engine_ready(n->eng, &rd);
		if (rv == 0)
			return;
		if (rv < 0 || rounds > 1000) {
			sim_violation(s, "node %" PRIu64 " ready failed: %s",
				      n->id, rv < 0 ? sn_strerror(rv) :
				      "no end of readies");
			return;
		}
		handle_ready(s, n, &rd);
		sn_engine_advance(n->eng);
	}
}
