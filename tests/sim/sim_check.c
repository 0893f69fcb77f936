/*
 * The safety invariants, checked as the run goes.
 *
 * The checkers keep three global records:
 *   - committed: every entry some node's commit index has covered, with the
 *     term in which it first became known committed (the observing node's
 *     term: commit indexes only move on a leader, and the leader is checked
 *     in the very step it moves, so this is the term that committed it);
 *   - applied: what the first state machine to reach each index applied;
 *   - seen: per index, the distinct (term, entry) pairs any log ever held;
 *   - the state machine after each prefix of committed and of applied (the
 *     register and the digest of the applied sequence), to compare
 *     snapshots and every node's state machine with.
 * and test, after every event:
 *   1. election safety: at most one leader per term, over all time;
 *   2. leader completeness: a node becoming leader of term T holds every
 *      entry committed in a term below T;
 *   3. committed entries never change or vanish: an entry is first seen
 *      committed only when a quorum of nodes holds it durably (in its
 *      storage's log, or covered by a snapshot in its store), every node's
 *      log agrees with the committed record up to the node's commit index,
 *      and no node rewrites or cuts its log below its own commit index;
 *   4. log matching (cheap form): one entry per (index, term) ever; the full
 *      prefix form is checked every FULL_CHECK_EVERY steps and at the end,
 *      over the indexes both logs still hold;
 *   5. state machine safety: every node applies the same entry at each
 *      index, in index order, and only what was committed; after each
 *      apply its state (register, digest of the applied sequence) equals
 *      the global one at that index; a snapshot taken, installed or
 *      restored from equals the committed history's state at its index;
 *   6. the engine's status agrees with what its readies described (last
 *      index and term, first index, snapshot index, applied), a node's
 *      first index never exceeds its snapshot index + 1, and nothing is
 *      handed out to apply beyond the commit and persisted indexes.
 * Indexes a node no longer holds (compacted, or behind an installed
 * snapshot) are covered by its snapshot, which is checked instead.
 */
#include "sim.h"

#include "log/memstore.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define FULL_CHECK_EVERY 1000

static sim_checker *ck(sim *s)
{
	return &s->ck;
}

/* Is `b` the entry `a` records at its index? For an engine that re-ballots
 * chosen values (Paxos), the value decides: one value per index, whatever
 * the ballot a replica holds it at. For Raft the term too. */
static bool same(const sim *s, const sim_entry *a, const sim_entry *b)
{
	return s->p.engine->reballots ? sim_entry_same_value(a, b)
				      : sim_entry_eq(a, b);
}

/* A duration in hundredths of the seed's election timeout. */
static sim_time sim_timeouts(const sim *s, sim_time d)
{
	sim_time et = (sim_time)s->pf.tuning.election_ticks * SIM_TICK;
	return et ? d * 100 / et : d;
}

static void seen_note(sim *s, uint64_t index, const sim_entry *e)
{
	sim_checker *c = ck(s);
	sim_seen_list *l;
	size_t old = c->n_seen;

	if (index > c->n_seen) {
		size_t cap = c->n_seen;
		c->seen = sim_grow(c->seen, &cap, index, sizeof *c->seen);
		for (size_t i = old; i < cap; i++)
			c->seen[i] = (sim_seen_list){ 0 };
		c->n_seen = cap;
	}
	l = &c->seen[index - 1];
	for (size_t i = 0; i < l->n; i++) {
		if (l->v[i].term != e->term)
			continue;
		if (!sim_entry_eq(&l->v[i].e, e))
			sim_violation(s, "log matching: index %" PRIu64
				      " term %" PRIu64 " holds two different "
				      "entries (values %" PRIu64 " and %" PRIu64
				      ")", index, e->term,
				      sim_entry_value(&l->v[i].e),
				      sim_entry_value(e));
		return;
	}
	l->v = sim_grow(l->v, &l->cap, l->n + 1, sizeof *l->v);
	l->v[l->n++] = (sim_seen){ e->term, *e };
}

/*
 * A log may hold anything beyond its own commit index: a stale leader may
 * append at an index committed elsewhere, a stale append may cut a suffix
 * that a newer leader committed meanwhile. What must never change is the
 * part the node itself knows committed (the record's side of that is
 * check_commit). n->commit_checked is the commit index seen at the last
 * step, a lower bound of the engine's.
 */
void sim_check_log_write(sim *s, sim_node *n, uint64_t index,
			 const sim_entry *e)
{
	const sim_entry *old = sim_log_at(&n->mem, index);

	if (index <= n->commit_checked && old && !sim_entry_eq(old, e))
		sim_violation(s, "node %" PRIu64 " overwrote entry %" PRIu64
			      " (term %" PRIu64 ", value %" PRIu64 ") below "
			      "its commit index %" PRIu64 " with term %" PRIu64
			      " value %" PRIu64, n->id, index, old->term,
			      sim_entry_value(old), n->commit_checked, e->term,
			      sim_entry_value(e));
	seen_note(s, index, e);
}

void sim_check_log_cut(sim *s, sim_node *n, uint64_t from)
{
	if (from <= n->commit_checked)
		sim_violation(s, "node %" PRIu64 " cut its log from %" PRIu64
			      ", below its commit index %" PRIu64, n->id, from,
			      n->commit_checked);
}

/* Extend the state-after-prefix record `v` (v[0] the empty state) with
 * entry `index` of `l`. */
static void sm_extend(sim_sm **v, size_t *cap, const sim_log *l,
		      uint64_t index)
{
	sim_sm next;

	if (!*cap) {
		*v = sim_grow(*v, cap, 1, sizeof **v);
		(*v)[0] = (sim_sm){ 0 };
	}
	next = (*v)[index - 1];
	sim_sm_apply(&next, index, sim_log_at(l, index));
	*v = sim_grow(*v, cap, index + 1, sizeof **v);
	(*v)[index] = next;
}

static bool sm_eq(const sim_sm *a, const sim_sm *b)
{
	return a->applied == b->applied && a->reg == b->reg &&
	       a->digest == b->digest;
}

/* Called once the node applied `e` at `index` (n->sm is updated). */
void sim_check_apply(sim *s, sim_node *n, uint64_t index,
		     const sim_entry *e)
{
	sim_checker *c = ck(s);
	const sim_entry *a = sim_log_at(&c->applied, index);
	const sim_entry *g = sim_log_at(&c->committed, index);

	if (a && !same(s, a, e)) {
		sim_violation(s, "state machines diverge at index %" PRIu64
			      ": node %" PRIu64 " applied term %" PRIu64
			      " value %" PRIu64 ", another applied term %"
			      PRIu64 " value %" PRIu64, index, n->id, e->term,
			      sim_entry_value(e), a->term, sim_entry_value(a));
		return;
	}
	if (!a && index != c->applied.n + 1) {
		sim_violation(s, "node %" PRIu64 " applied index %" PRIu64
			      " but no state machine has applied %zu", n->id,
			      index, c->applied.n + 1);
		return;
	}
	if (!a) {
		sim_log_append(&c->applied, e);
		sm_extend(&c->applied_sm, &c->cap_applied_sm, &c->applied,
			  index);
	}
	if (!sm_eq(&n->sm, &c->applied_sm[index]))
		sim_violation(s, "node %" PRIu64 " state after index %" PRIu64
			      " (register %" PRIu64 ", digest %016" PRIx64
			      ") differs from the applied history's (register "
			      "%" PRIu64 ", digest %016" PRIx64 ")", n->id,
			      index, n->sm.reg, n->sm.digest,
			      c->applied_sm[index].reg,
			      c->applied_sm[index].digest);
	if (g && !same(s, g, e))
		sim_violation(s, "node %" PRIu64 " applied at index %" PRIu64
			      " an entry other than the committed one", n->id,
			      index);
}

/*
 * A snapshot's state must be the committed history's at its index. Taken
 * snapshots are checked against the applied history (the commit record
 * catches up at the end of the step; the two are compared entry by
 * entry), restored ones (install, restart) against the committed one.
 */
void sim_check_snapshot(sim *s, sim_node *n, const sim_sm *sm,
			const char *what)
{
	sim_checker *c = ck(s);
	bool taken = strcmp(what, "taken") == 0;
	size_t have = taken ? c->applied.n : c->committed.n;
	const sim_sm *want;

	if (sm->applied == 0 || sm->applied > have) {
		sim_violation(s, "node %" PRIu64 " snapshot (%s) at index %"
			      PRIu64 " lies beyond the %s history (%zu)", n->id,
			      what, sm->applied, taken ? "applied" : "committed",
			      have);
		return;
	}
	want = taken ? &c->applied_sm[sm->applied]
		     : &c->commit_sm[sm->applied];
	if (!sm_eq(sm, want))
		sim_violation(s, "node %" PRIu64 " snapshot (%s) at index %"
			      PRIu64 " holds register %" PRIu64 " digest %016"
			      PRIx64 "; the history says register %" PRIu64
			      " digest %016" PRIx64, n->id, what, sm->applied,
			      sm->reg, sm->digest, want->reg, want->digest);
}

static void check_election(sim *s, sim_node *n, const sn_engine_status *st)
{
	sim_checker *c = ck(s);
	size_t lo = 0, hi = c->n_reigns;

	/* Terms mostly grow: look at the end first. */
	if (hi && c->reigns[hi - 1].term < st->term)
		lo = hi;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c->reigns[mid].term < st->term)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < c->n_reigns && c->reigns[lo].term == st->term) {
		if (c->reigns[lo].id != n->id)
			sim_violation(s, "two leaders in term %" PRIu64 ": nodes %"
				      PRIu64 " and %" PRIu64, st->term,
				      c->reigns[lo].id, n->id);
		return;
	}
	c->reigns = sim_grow(c->reigns, &c->cap_reigns, c->n_reigns + 1,
			     sizeof *c->reigns);
	memmove(c->reigns + lo + 1, c->reigns + lo,
		(c->n_reigns - lo) * sizeof *c->reigns);
	c->reigns[lo].term = st->term;
	c->reigns[lo].id = n->id;
	c->n_reigns++;
	if (s->samples.waiting_leader) {
		sim_samples *x = &s->samples;
		x->waiting_leader = false;
		if (x->n_elect < SIM_MAX_SAMPLES)
			x->elect[x->n_elect++] = sim_timeouts(s,
				s->now - x->since);
	}
}

/* Over the indexes the node still holds: those at or below its log's base
 * are covered by its snapshot (first index <= snapshot index + 1 is checked
 * in check_status, the snapshot's content when it was taken or restored). */
static void check_completeness(sim *s, sim_node *n, uint64_t term)
{
	sim_checker *c = ck(s);

	for (uint64_t i = n->mem.base + 1; i <= c->committed.n; i++) {
		const sim_entry *g = &c->committed.v[i - 1];
		const sim_entry *m = sim_log_at(&n->mem, i);
		if (c->commit_term[i - 1] >= term || (m && same(s, m, g)))
			continue;
		sim_violation(s, "leader completeness: node %" PRIu64
			      " leads term %" PRIu64 " without committed entry %"
			      PRIu64 " (term %" PRIu64 ", value %" PRIu64
			      ", committed in term %" PRIu64 ")", n->id, term, i,
			      g->term, sim_entry_value(g), c->commit_term[i - 1]);
		return;
	}
}

/* Does node n hold entry (index, e) durably: a snapshot in its store
 * covers it (a restart recovers from the newest), or its storage's
 * durable log holds it? */
static bool durable_on(const sim *s, sim_node *n, uint64_t index,
		       const sim_entry *e)
{
	sn_storage_state st;
	const sn_entry *d;
	uint64_t first;

	if (sim_node_snapshot_index(n) >= index)
		return true;
	sn__memstore_load(n->store, &st);
	first = st.n_entries ? st.entries[0].index : 0;
	if (!st.n_entries || index < first || index - first >= st.n_entries)
		return false;
	d = &st.entries[index - first];
	return (d->term == e->term || s->p.engine->reballots) &&
	       d->type == e->type && d->len == e->len &&
	       (!d->len || memcmp(d->data, e->data, d->len) == 0);
}

/* An entry becomes committed only once a quorum holds it durably: acks
 * travel in messages_after_persist and a leader counts its own log only up
 * to what it was told is persisted. Checked when the entry is first seen
 * committed; from then on no quorum member can lose it. */
static bool durable_on_quorum(sim *s, uint64_t index, const sim_entry *e)
{
	int have = 0;

	for (int i = 0; i < s->pf.n_nodes; i++)
		have += durable_on(s, &s->nodes[i], index, e);
	return have > s->pf.n_nodes / 2;
}

/* Extend or compare the committed record with the node's newly committed
 * entries. */
static void check_commit(sim *s, sim_node *n, const sn_engine_status *st)
{
	sim_checker *c = ck(s);

	if (st->commit < n->commit_checked) {
		sim_violation(s, "node %" PRIu64 " commit index went back from %"
			      PRIu64 " to %" PRIu64, n->id, n->commit_checked,
			      st->commit);
		return;
	}
	for (uint64_t i = n->commit_checked + 1; i <= st->commit; i++) {
		const sim_entry *m = sim_log_at(&n->mem, i);
		const sim_entry *g = sim_log_at(&c->committed, i);
		const sim_entry *a = sim_log_at(&c->applied, i);
		if (!m && i <= n->mem.base) {
			/* Covered by the node's snapshot: one it restored
			 * (checked against the committed record then), or one
			 * it took in this very step after applying entries
			 * whose commit the record has not seen yet. Its state
			 * at each applied index was checked against the
			 * applied record, so that record has its entry. */
			if (g)
				continue;
			if (a && n->sm.applied >= i && n->restored_at < i) {
				m = a;
			} else {
				sim_violation(s, "node %" PRIu64 " commits index "
					      "%" PRIu64 ", covered by its "
					      "snapshot, that was never seen "
					      "committed", n->id, i);
				return;
			}
		}
		if (!m) {
			sim_violation(s, "node %" PRIu64 " commit %" PRIu64
				      " beyond its log (last %" PRIu64 ")",
				      n->id, st->commit, sim_log_last(&n->mem));
			return;
		}
		if (g && !same(s, g, m)) {
			sim_violation(s, "committed entry %" PRIu64 " changed: "
				      "node %" PRIu64 " commits term %" PRIu64
				      " value %" PRIu64 ", earlier term %"
				      PRIu64 " value %" PRIu64, i, n->id,
				      m->term, sim_entry_value(m), g->term,
				      sim_entry_value(g));
			return;
		}
		if (g)
			continue;
		if (a && !same(s, a, m)) {
			sim_violation(s, "entry %" PRIu64 " was applied before "
				      "it was committed, and differs", i);
			return;
		}
		if (!durable_on_quorum(s, i, m)) {
			sim_violation(s, "entry %" PRIu64 " (term %" PRIu64
				      ") is committed but durable on fewer "
				      "than a quorum of disks", i, m->term);
			return;
		}
		sim_log_append(&c->committed, m);
		s->stats.commits++;
		if (s->samples.waiting_commit) {
			sim_samples *x = &s->samples;
			x->waiting_commit = false;
			if (x->n_recover < SIM_MAX_SAMPLES)
				x->recover[x->n_recover++] = sim_timeouts(s,
					s->now - x->since);
		}
		sm_extend(&c->commit_sm, &c->cap_commit_sm, &c->committed, i);
		c->commit_term = sim_grow(c->commit_term, &c->cap_commit_term,
					  i, sizeof *c->commit_term);
		c->commit_term[i - 1] = st->term;
	}
	n->commit_checked = st->commit;
}

/* The engine's status must match what its readies told us. */
static void check_status(sim *s, sim_node *n, const sn_engine_status *st)
{
	uint64_t last = sim_log_last(&n->mem);
	uint64_t last_term = sim_log_last_term(&n->mem);

	if (st->last_index != last || st->last_term != last_term)
		sim_violation(s, "node %" PRIu64 " status says last %" PRIu64
			      "/%" PRIu64 " but its readies wrote %" PRIu64 "/%"
			      PRIu64, n->id, st->last_index, st->last_term,
			      last, last_term);
	else if (st->first_index != n->mem.base + 1)
		sim_violation(s, "node %" PRIu64 " status says first index %"
			      PRIu64 " but its log starts at %" PRIu64, n->id,
			      st->first_index, n->mem.base + 1);
	else if (st->first_index > st->snapshot_index + 1)
		sim_violation(s, "node %" PRIu64 " first index %" PRIu64
			      " exceeds its snapshot index %" PRIu64 " + 1",
			      n->id, st->first_index, st->snapshot_index);
	else if (st->snapshot_index != n->last_snap)
		sim_violation(s, "node %" PRIu64 " status says snapshot %" PRIu64
			      " but the newest it was given is %" PRIu64, n->id,
			      st->snapshot_index, n->last_snap);
	else if (st->applied != n->sm.applied)
		sim_violation(s, "node %" PRIu64 " status says applied %" PRIu64
			      " but its state machine holds %" PRIu64, n->id,
			      st->applied, n->sm.applied);
	/* A state machine restored from a snapshot is ahead of `persisted`
	 * until the install is durable; entries handed out never are. */
	else if (st->applied > st->commit ||
		 (st->applied > st->persisted &&
		  n->restored_at != st->applied))
		sim_violation(s, "node %" PRIu64 " handed out entries to apply "
			      "through %" PRIu64 " beyond its commit %" PRIu64
			      " or persisted index %" PRIu64, n->id,
			      st->applied, st->commit, st->persisted);
	else if (st->commit > st->last_index)
		sim_violation(s, "node %" PRIu64 " commit %" PRIu64
			      " beyond its last index %" PRIu64, n->id,
			      st->commit, st->last_index);
	else if (st->term < n->last_term)
		sim_violation(s, "node %" PRIu64 " term went back from %" PRIu64
			      " to %" PRIu64, n->id, n->last_term, st->term);
}

static void check_node(sim *s, sim_node *n)
{
	sn_engine_status st;

	sn_engine_get_status(&st, n->eng);
	check_status(s, n, &st);
	if (s->violated)
		return;
	if (st.role == SN_ROLE_LEADER) {
		bool fresh = n->last_role != SN_ROLE_LEADER ||
			     n->last_term != st.term;
		check_election(s, n, &st);
		if (fresh) {
			sim_trace(s, "node %" PRIu64 " leads term %" PRIu64
				  " (last %" PRIu64 "/%" PRIu64 ", commit %"
				  PRIu64 ")", n->id, st.term, st.last_index,
				  st.last_term, st.commit);
			check_completeness(s, n, st.term);
		}
	}
	if (!s->violated)
		check_commit(s, n, &st);
	n->last_role = (int)st.role;
	n->last_term = st.term;
	n->st = st;
}

/* Log matching, prefix form: two logs that agree on (index, term) agree on
 * everything up to that index, over the indexes both still hold. An up
 * node's log is its engine's; a down node's, its storage's durable log. */
static void check_pair(sim *s, const sim_node *a, const sim_log *la,
		       const sim_node *b, const sim_log *lb)
{
	uint64_t lo = (la->base > lb->base ? la->base : lb->base) + 1;
	uint64_t hi = sim_log_last(la) < sim_log_last(lb) ? sim_log_last(la)
							  : sim_log_last(lb);
	uint64_t k = hi;

	while (k >= lo && sim_log_at(la, k)->term != sim_log_at(lb, k)->term)
		k--;
	for (uint64_t i = lo; i <= k; i++) {
		if (sim_entry_eq(sim_log_at(la, i), sim_log_at(lb, i)))
			continue;
		sim_violation(s, "log matching: nodes %" PRIu64 " and %" PRIu64
			      " agree on index %" PRIu64 " term %" PRIu64
			      " but differ at index %" PRIu64, a->id, b->id, k,
			      sim_log_at(la, k)->term, i);
		return;
	}
}

void sim_check_full(sim *s)
{
	sim_checker *c = ck(s);
	uint64_t k = c->applied.n < c->committed.n ? c->applied.n
						   : c->committed.n;
	sim_log durable[SIM_MAX_NODES] = { { 0 } };
	const sim_log *logs[SIM_MAX_NODES];

	for (int a = 0; a < s->pf.n_nodes; a++) {
		sim_node *n = &s->nodes[a];
		if (!n->up)
			sim_node_durable_log(n, &durable[a]);
		logs[a] = n->up ? &n->mem : &durable[a];
	}
	for (int a = 0; a < s->pf.n_nodes && !s->violated &&
			s->p.engine->log_matching; a++)
		for (int b = a + 1; b < s->pf.n_nodes && !s->violated; b++)
			check_pair(s, &s->nodes[a], logs[a], &s->nodes[b],
				   logs[b]);
	for (int a = 0; a < s->pf.n_nodes; a++)
		sim_log_free(&durable[a]);
	for (uint64_t i = 1; i <= k && !s->violated; i++)
		if (!same(s, &c->applied.v[i - 1], &c->committed.v[i - 1]))
			sim_violation(s, "applied entry %" PRIu64 " differs "
				      "from the committed one", i);
}

void sim_check_step(sim *s)
{
	for (int i = 0; i < s->pf.n_nodes && !s->violated; i++)
		if (s->nodes[i].up)
			check_node(s, &s->nodes[i]);
	if (!s->violated && s->steps % FULL_CHECK_EVERY == 0)
		sim_check_full(s);
}

void sim_check_free(sim *s)
{
	sim_checker *c = ck(s);

	for (size_t i = 0; i < c->n_seen; i++)
		free(c->seen[i].v);
	free(c->seen);
	free(c->reigns);
	free(c->commit_term);
	free(c->commit_sm);
	free(c->applied_sm);
	sim_log_free(&c->committed);
	sim_log_free(&c->applied);
	*c = (sim_checker){ 0 };
}
