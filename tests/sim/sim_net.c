/*
 * The event queue and the network.
 *
 * Events sit in a binary min-heap ordered by (time, scheduling sequence), so
 * equal times resolve the same way on every replay. The network copies each
 * message on send and decides its fate then (drop, delay, duplicate, a
 * truncated copy); partitions and crashed or paused receivers are judged at
 * delivery time, which is what a real link does with packets already on
 * the wire.
 *
 * A link behaves like a stream between two peers: messages of normal
 * latency arrive in the order they were sent; a "slow" message (the seed's
 * slow share, up to several election timeouts) is held back and overtaken,
 * which is where reordering and stale messages come from. With --reorder
 * every message gets its own delay instead, so that even consecutive
 * messages on one link arrive in any order.
 */
#include "sim.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static bool ev_before(const sim_event *a, const sim_event *b)
{
	return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

void sim_heap_push(sim *s, sim_event ev)
{
	sim_heap *h = &s->heap;
	size_t i;

	ev.seq = s->seq++;
	h->v = sim_grow(h->v, &h->cap, h->n + 1, sizeof *h->v);
	i = h->n++;
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!ev_before(&ev, &h->v[parent]))
			break;
		h->v[i] = h->v[parent];
		i = parent;
	}
	h->v[i] = ev;
}

bool sim_heap_pop(sim *s, sim_event *out)
{
	sim_heap *h = &s->heap;
	sim_event last;
	size_t i = 0;

	if (h->n == 0)
		return false;
	*out = h->v[0];
	last = h->v[--h->n];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && ev_before(&h->v[c + 1], &h->v[c]))
			c++;
		if (!ev_before(&h->v[c], &last))
			break;
		h->v[i] = h->v[c];
		i = c;
	}
	if (h->n)
		h->v[i] = last;
	return true;
}

void sim_heap_free(sim *s)
{
	for (size_t i = 0; i < s->heap.n; i++)
		sim_msg_free(s->heap.v[i].msg);
	free(s->heap.v);
	s->heap = (sim_heap){ 0 };
}

void sim_schedule(sim *s, sim_time at, int kind, int node, uint64_t gen,
		  uint64_t arg)
{
	sim_event ev = { .at = at, .kind = kind, .node = node, .gen = gen,
			 .arg = arg };
	sim_heap_push(s, ev);
}

void sim_msg_free(sim_msg *m)
{
	if (m) {
		free(m->data);
		free(m);
	}
}

static sim_msg *msg_copy(int from, int to, const void *data, size_t len)
{
	sim_msg *m = sim_alloc(sizeof *m);

	m->from = from;
	m->to = to;
	m->len = len;
	m->data = sim_alloc(len ? len : 1);
	if (len)
		memcpy(m->data, data, len);
	return m;
}

static sim_time delay(sim *s, bool *slow)
{
	const sim_profile *pf = &s->pf;

	*slow = !s->healing && sim_rng_chance(&s->rng_net, pf->slow);
	if (*slow)
		return sim_rng_range(&s->rng_net, pf->delay_max, pf->slow_max);
	return sim_rng_range(&s->rng_net, 1, pf->delay_max);
}

/* Put one copy on the wire. `truncated` copies must be refused by the
 * receiving engine as malformed. */
static void wire(sim *s, int from, int to, const sn_message *m,
		 bool truncated)
{
	size_t len = m->len;
	sim_event ev = { 0 };
	bool slow;

	if (truncated)
		len = (size_t)sim_rng_below(&s->rng_net, m->len);
	ev.at = s->now + delay(s, &slow);
	if (!s->p.reorder && !slow) {
		if (ev.at < s->link_last[from][to])
			ev.at = s->link_last[from][to];
		s->link_last[from][to] = ev.at;
	}
	ev.kind = SIM_EV_DELIVER;
	ev.node = to;
	ev.arg = truncated;
	ev.msg = msg_copy(from, to, m->data, len);
	sim_heap_push(s, ev);
}

void sim_net_send(sim *s, int from, const sn_message *m)
{
	sim_node *dst = sim_node_by_id(s, m->to);
	const sim_profile *pf = &s->pf;
	bool chaos = !s->healing;
	int cls;

	s->stats.msgs++;
	if (m->group != SIM_GROUP || m->from != s->nodes[from].id || !dst ||
	    dst->idx == from) {
		sim_violation(s, "node %" PRIu64 " sent a message with a bad "
			      "envelope {group %" PRIu64 ", from %" PRIu64
			      ", to %" PRIu64 "}", s->nodes[from].id,
			      m->group, m->from, m->to);
		return;
	}
	cls = s->p.engine->classify(m->data, m->len);
	s->stats.chunks_sent += cls == SIM_MSG_SNAP;
	s->stats.chunk_rejects += cls == SIM_MSG_SNAP_REJECT;
	if (chaos && sim_rng_chance(&s->rng_net, pf->drop)) {
		s->stats.chunks_lost += cls == SIM_MSG_SNAP;
		return;
	}
	wire(s, from, dst->idx, m, false);
	if (chaos && sim_rng_chance(&s->rng_net, pf->dup))
		wire(s, from, dst->idx, m, false);
	if (chaos && m->len && sim_rng_chance(&s->rng_net, pf->trunc))
		wire(s, from, dst->idx, m, true);
}

static void trace_msg(sim *s, const char *what, const sim_msg *m)
{
	char desc[256];

	if (!s->p.verbose)
		return;
	s->p.engine->describe(desc, sizeof desc, m->data, m->len);
	sim_trace(s, "%s %" PRIu64 "->%" PRIu64 " %s", what,
		  s->nodes[m->from].id, s->nodes[m->to].id, desc);
}

void sim_net_deliver(sim *s, const sim_event *ev)
{
	sim_msg *m = ev->msg;
	sim_node *dst = &s->nodes[m->to];
	sn_message sm = { SIM_GROUP, s->nodes[m->from].id, dst->id, m->data,
			  m->len };
	int rv;

	if (!dst->up || s->cut[m->from][m->to]) {
		if (!ev->arg &&
		    s->p.engine->classify(m->data, m->len) == SIM_MSG_SNAP)
			s->stats.chunks_lost++;
		trace_msg(s, dst->up ? "lost (partition)" : "lost (down)", m);
		sim_msg_free(m);
		return;
	}
	if (sim_node_paused(s, dst)) {
		/* A stalled process reads its socket when it wakes up. */
		sim_event later = *ev;
		later.at = dst->paused_until;
		sim_heap_push(s, later);
		return;
	}
	trace_msg(s, ev->arg ? "deliver (truncated)" : "deliver", m);
	rv = sn_engine_step(dst->eng, &sm);
	if (ev->arg && rv != SN_EMALFORMED)
		sim_violation(s, "node %" PRIu64 " accepted a truncated message "
			      "(%zu bytes) with %d instead of SN_EMALFORMED",
			      dst->id, m->len, rv);
	else if (!ev->arg && rv != SN_OK)
		sim_violation(s, "node %" PRIu64 " refused a message from %"
			      PRIu64 ": %s (%s)", dst->id, sm.from,
			      sn_strerror(rv), sn_errmsg());
	sim_msg_free(m);
}
