/* Raft engine: life cycle, options, and the ready/advance hand-off. */
#include "raft_impl.h"

/* Bytes of the options struct that `version` has (0: unknown version). */
static size_t options_size(unsigned version)
{
	switch (version) {
	case 1:
		return offsetof(sn_raft_options, snapshot_partial);
	case 2:
		return sizeof(sn_raft_options);
	default:
		return 0;
	}
}

int sn_raft_options_init(sn_raft_options *opts, unsigned version)
{
	if (!opts || !options_size(version))
		return sn__err(SN_EINVAL, "sn_raft_options_init: unknown "
			       "version %u", version);
	memset(opts, 0, options_size(version));
	opts->version = version;
	opts->election_ticks = 10;
	opts->heartbeat_ticks = 1;
	opts->max_msg_bytes = 1u << 20;
	opts->max_inflight_msgs = 256;
	opts->max_inflight_bytes = 32u << 20;
	opts->max_uncommitted_bytes = 64u << 20;
	opts->max_entry_bytes = 1u << 20;
	opts->max_pending_reads = 4096;
	return SN_OK;
}

#define DEFAULT(field, value) ((field) ? (field) : (value))

static int check_options(const sn_raft_options *o)
{
	const sn_hard_state *hs = o->hard_state;
	uint64_t last = 0;
	bool self = false;

	if (!options_size(o->version))
		return sn__err(SN_EINVAL, "sn_raft_new: options version %u, "
			       "expected 1..%u", o->version,
			       SN_RAFT_OPTIONS_VERSION);
	if (o->id == 0)
		return sn__err(SN_EINVAL, "sn_raft_new: id must be non-zero");
	if (!o->voters || o->n_voters == 0)
		return sn__err(SN_EINVAL, "sn_raft_new: no voters");
	for (size_t i = 0; i < o->n_voters; i++) {
		if (o->voters[i] == 0)
			return sn__err(SN_EINVAL, "sn_raft_new: voter id 0");
		for (size_t j = 0; j < i; j++)
			if (o->voters[j] == o->voters[i])
				return sn__err(SN_EINVAL, "sn_raft_new: voter "
					       "%llu listed twice",
					       (unsigned long long)o->voters[i]);
		self |= o->voters[i] == o->id;
	}
	if (!self)
		return sn__err(SN_EINVAL, "sn_raft_new: id %llu is not a voter",
			       (unsigned long long)o->id);
	if (DEFAULT(o->heartbeat_ticks, 1u) >= DEFAULT(o->election_ticks, 10u))
		return sn__err(SN_EINVAL, "sn_raft_new: heartbeat_ticks must "
			       "be below election_ticks");
	if (o->max_inflight_msgs > (1u << 16))
		return sn__err(SN_EINVAL, "sn_raft_new: max_inflight_msgs %zu "
			       "above the limit 65536", o->max_inflight_msgs);
	if (o->n_entries && !o->entries)
		return sn__err(SN_EINVAL, "sn_raft_new: entries is NULL");
	if (o->snapshot && (o->snapshot->index == 0 ||
			    o->snapshot->term == 0 ||
			    (o->snapshot->n_voters && !o->snapshot->voters)))
		return sn__err(SN_EINVAL, "sn_raft_new: invalid snapshot meta");
	if (o->version >= 2 && o->snapshot_partial &&
	    (o->snapshot_partial->index == 0 ||
	     o->snapshot_partial->term == 0 ||
	     (o->snapshot_partial->n_voters && !o->snapshot_partial->voters)))
		return sn__err(SN_EINVAL, "sn_raft_new: invalid partial "
			       "snapshot meta");
	if (o->n_entries && o->entries[0].index >
	    (o->snapshot ? o->snapshot->index : 0) + 1)
		return sn__err(SN_EINVAL, "sn_raft_new: entries start at %llu, "
			       "after a gap", (unsigned long long)
			       o->entries[0].index);
	if (o->n_entries && o->snapshot &&
	    o->entries[0].index <= o->snapshot->index) {
		/* A trailing window must reach the snapshot and agree. */
		uint64_t at = o->snapshot->index - o->entries[0].index;
		if (at >= o->n_entries)
			return sn__err(SN_EINVAL, "sn_raft_new: entries end "
				       "before the snapshot at %llu",
				       (unsigned long long)o->snapshot->index);
		if (o->entries[at].term != o->snapshot->term)
			return sn__err(SN_EINVAL, "sn_raft_new: entry %llu has "
				       "term %llu, the snapshot says %llu",
				       (unsigned long long)o->snapshot->index,
				       (unsigned long long)o->entries[at].term,
				       (unsigned long long)o->snapshot->term);
	}
	if (o->n_entries && !o->snapshot && o->entries[0].index != 1)
		return sn__err(SN_EINVAL, "sn_raft_new: entries must start at "
			       "1 without a snapshot");
	for (size_t i = 0; i < o->n_entries; i++) {
		const sn_entry *e = &o->entries[i];
		if (e->index != o->entries[0].index + i)
			return sn__err(SN_EINVAL, "sn_raft_new: entry %zu has "
				       "index %llu, not consecutive", i,
				       (unsigned long long)e->index);
		if (e->term == 0 || (i && e->term < o->entries[i - 1].term) ||
		    (hs && e->term > hs->term) || e->type > SN_ENTRY_NOOP ||
		    (e->len && !e->data))
			return sn__err(SN_EINVAL, "sn_raft_new: entry %llu is "
				       "invalid (term, type or data)",
				       (unsigned long long)e->index);
	}
	if (o->n_entries)
		last = o->entries[o->n_entries - 1].index;
	if (o->snapshot && o->snapshot->index > last)
		last = o->snapshot->index;
	if (hs && hs->commit > last)
		return sn__err(SN_EINVAL, "sn_raft_new: commit %llu beyond the "
			       "last entry %llu", (unsigned long long)hs->commit,
			       (unsigned long long)last);
	if ((o->n_entries || o->snapshot) && !hs)
		return sn__err(SN_EINVAL, "sn_raft_new: a log without a "
			       "hard state");
	if (o->applied > (hs ? hs->commit : 0) &&
	    (!o->snapshot || o->applied > o->snapshot->index))
		return sn__err(SN_EINVAL, "sn_raft_new: applied beyond commit");
	return SN_OK;
}

static void raft_destroy(sn_engine *e)
{
	sn__raft *r = (sn__raft *)e;

	for (size_t i = 0; i < r->n_prs; i++) {
		sn__inflights_free(&r->prs[i].infl);
		sn__snap_send_free(&r->prs[i].snap);
	}
	sn__free(r->prs);
	sn__log_free(&r->log);
	sn__free(r->reads);
	sn__outbox_free(&r->ob);
	sn__free(r->rd_ents);
	sn__free(r->rd_committed);
	sn__raft_snapshot_free(r);
	sn__free(r);
}

/* The recovered log starts after the snapshot, or - when storage kept a
 * trailing window behind it - after the first recovered entry, whose term
 * then anchors the log. */
static int restore_log(sn__raft *r, const sn_raft_options *o)
{
	size_t skip = 0;
	int rv;

	if (o->snapshot) {
		rv = sn__snap_meta_copy(&r->snap, &r->snap_voters, o->snapshot);
		if (rv)
			return rv;
		r->log.offset = o->snapshot->index;
		r->log.offset_term = o->snapshot->term;
		if (o->n_entries && o->entries[0].index <= o->snapshot->index) {
			r->log.offset = o->entries[0].index;
			r->log.offset_term = o->entries[0].term;
			skip = 1;
		}
	}
	for (size_t i = skip; i < o->n_entries; i++) {
		const sn_entry *e = &o->entries[i];
		rv = sn__log_append(&r->log, e->term, e->type, e->data, e->len);
		if (rv)
			return rv;
	}
	r->log.unstable = sn__log_last(&r->log) + 1;
	r->log.persisted = sn__log_last(&r->log);
	return SN_OK;
}

static int raft_init(sn__raft *r, const sn_raft_options *o)
{
	int rv;

	r->id = o->id;
	r->group = o->group;
	r->election_ticks = DEFAULT(o->election_ticks, 10u);
	r->heartbeat_ticks = DEFAULT(o->heartbeat_ticks, 1u);
	r->pre_vote = !o->disable_pre_vote;
	r->check_quorum = !o->disable_check_quorum;
	r->max_msg_bytes = DEFAULT(o->max_msg_bytes, (size_t)1 << 20);
	r->max_inflight_msgs = DEFAULT(o->max_inflight_msgs, (size_t)256);
	r->max_inflight_bytes = DEFAULT(o->max_inflight_bytes, (size_t)32 << 20);
	r->max_uncommitted_bytes =
		DEFAULT(o->max_uncommitted_bytes, (size_t)64 << 20);
	r->max_entry_bytes = DEFAULT(o->max_entry_bytes, (size_t)1 << 20);
	r->max_pending_reads = DEFAULT(o->max_pending_reads, (size_t)4096);
	r->rand = o->rand;
	r->rand_ud = o->rand_userdata;
	r->rng = DEFAULT(o->seed, o->id);
	r->snapshot_read = o->snapshot_read;
	r->snapshot_ud = o->snapshot_userdata;

	r->prs = sn__calloc(o->n_voters, sizeof *r->prs);
	if (!r->prs)
		return sn__err(SN_ENOMEM, "sn_raft_new: no memory");
	r->n_prs = o->n_voters;
	for (size_t i = 0; i < o->n_voters; i++) {
		r->prs[i].id = o->voters[i];
		if (o->voters[i] == o->id)
			r->self = i;
		if (sn__inflights_init(&r->prs[i].infl, r->max_inflight_msgs))
			return sn__err(SN_ENOMEM, "sn_raft_new: no memory");
	}
	rv = restore_log(r, o);
	if (rv)
		return rv;
	if (o->hard_state) {
		r->term = o->hard_state->term;
		r->vote = o->hard_state->vote;
		r->commit = o->hard_state->commit;
	}
	r->applied = o->applied;
	if (o->snapshot) {
		/* The state machine was restored from the snapshot. */
		if (r->commit < o->snapshot->index)
			r->commit = o->snapshot->index;
		if (r->applied < o->snapshot->index)
			r->applied = o->snapshot->index;
	}
	if (o->version >= 2) {
		rv = sn__snap_rcv_resume(&r->rcv, r->commit,
					 o->snapshot_partial,
					 o->snapshot_partial_offset,
					 o->snapshot_partial_crc);
		if (rv)
			return rv;
	}
	r->prev_hs = (sn_hard_state){ r->term, r->vote, r->commit };
	r->role = SN_ROLE_FOLLOWER;
	sn__raft_reset_timer(r);
	return SN_OK;
}

static int raft_has_ready(const sn_engine *e)
{
	const sn__raft *r = (const sn__raft *)e;
	uint64_t apply_to = r->commit < r->log.persisted ? r->commit
							 : r->log.persisted;

	if (r->ready_pending)
		return 0;
	return sn__outbox_pending(&r->ob) || r->rcv.n_out ||
	       r->install.index ||
	       r->bcast_pending || apply_to > r->applied ||
	       r->log.unstable <= sn__log_last(&r->log) ||
	       r->prev_hs.term != r->term || r->prev_hs.vote != r->vote ||
	       r->prev_hs.commit != r->commit;
}

/* Copy entry descriptors [from, to] into a ready-owned array, so that log
 * growth during the ready's life cannot move them. */
static int copy_entries(sn__raft *r, sn_entry **dst, size_t *cap,
			uint64_t from, uint64_t to, size_t *n_out)
{
	size_t n = to >= from ? (size_t)(to - from + 1) : 0;
	int rv = sn__grow((void **)dst, cap, n, sizeof **dst);

	if (rv)
		return rv;
	for (size_t i = 0; i < n; i++)
		(*dst)[i] = *sn__log_at(&r->log, from + i);
	*n_out = n;
	return SN_OK;
}

static int raft_ready(sn_engine *e, sn_ready *rd)
{
	sn__raft *r = (sn__raft *)e;
	uint64_t last, apply_to;
	int rv;

	memset(rd, 0, sizeof *rd);
	if (r->ready_pending)
		return sn__err(SN_ESTATE, "sn_engine_ready: previous ready "
			       "not advanced");
	if (r->bcast_pending && r->role == SN_ROLE_LEADER)
		sn__raft_bcast_append(r, false);
	r->bcast_pending = false;
	if (!raft_has_ready(e))
		return 0;

	last = sn__log_last(&r->log);
	apply_to = r->commit < r->log.persisted ? r->commit : r->log.persisted;
	rv = copy_entries(r, &r->rd_ents, &r->cap_rd_ents, r->log.unstable,
			  last, &rd->n_entries);
	if (rv == SN_OK)
		rv = copy_entries(r, &r->rd_committed, &r->cap_rd_committed,
				  r->applied + 1, apply_to, &rd->n_committed);
	if (rv)
		return rv;

	rd->entries = r->rd_ents;
	rd->committed = r->rd_committed;
	r->log.unstable = last + 1;
	if (apply_to > r->applied)
		r->applied = apply_to;

	rd->hard_state = (sn_hard_state){ r->term, r->vote, r->commit };
	if (SN__MUTANT(SN__MUTANT_NO_PERSIST_VOTE))
		rd->hard_state.vote = 0;
	rd->has_hard_state = r->prev_hs.term != r->term ||
			     r->prev_hs.vote != r->vote ||
			     r->prev_hs.commit != r->commit;
	r->prev_hs = (sn_hard_state){ r->term, r->vote, r->commit };

	sn__outbox_ready(&r->ob, rd);

	sn__snap_rcv_ready(&r->rcv, &rd->snapshot_chunks,
			   &rd->n_snapshot_chunks);
	if (r->install.index) {
		sn__free(r->rd_install_voters);
		r->rd_install = r->install;
		r->rd_install_voters = r->install_voters;
		r->install_voters = NULL;
		r->install.index = 0;
		rd->install = &r->rd_install;
	}

	r->ready_pending = true;
	return 1;
}

static void raft_advance(sn_engine *e)
{
	sn__raft *r = (sn__raft *)e;

	if (!r->ready_pending)
		return;
	sn__outbox_advance(&r->ob);
	sn__snap_rcv_advance(&r->rcv);
	sn__free(r->rd_install_voters);
	r->rd_install_voters = NULL;
	sn__log_bury(&r->log);
	r->ready_pending = false;
}

static void raft_status(const sn_engine *e, sn_engine_status *st)
{
	const sn__raft *r = (const sn__raft *)e;
	uint64_t last = sn__log_last(&r->log);

	*st = (sn_engine_status){
		.id = r->id,
		.group = r->group,
		.role = r->role,
		.term = r->term,
		.vote = r->vote,
		.leader = r->lead,
		.first_index = r->log.offset + 1,
		.last_index = last,
		.last_term = sn__log_term(&r->log, last),
		.commit = r->commit,
		.applied = r->applied,
		.persisted = r->log.persisted,
		.dropped = r->dropped,
		.snapshot_index = r->snap.index,
	};
}

static const sn__engine_ops raft_ops = {
	.name = "raft",
	.step = sn__raft_step,
	.tick = sn__raft_tick,
	.propose = sn__raft_propose,
	.read_index = sn__raft_read_index,
	.transfer_leader = sn__raft_transfer_leader,
	.campaign = sn__raft_campaign,
	.has_ready = raft_has_ready,
	.ready = raft_ready,
	.advance = raft_advance,
	.persisted = sn__raft_persisted,
	.snapshot_taken = sn__raft_snapshot_taken,
	.compact = sn__raft_compact,
	.status = raft_status,
	.destroy = raft_destroy,
};

int sn_raft_new(sn_engine **out, const sn_raft_options *opts)
{
	sn__raft *r;
	int rv;

	if (!out)
		return sn__err(SN_EINVAL, "sn_raft_new: out is NULL");
	*out = NULL;
	if (!opts)
		return sn__err(SN_EINVAL, "sn_raft_new: options are required "
			       "(id and voters)");
	rv = check_options(opts);
	if (rv)
		return rv;
	r = sn__calloc(1, sizeof *r);
	if (!r)
		return sn__err(SN_ENOMEM, "sn_raft_new: no memory");
	r->base.ops = &raft_ops;
	rv = raft_init(r, opts);
	if (rv) {
		raft_destroy(&r->base);
		return rv;
	}
	*out = &r->base;
	return SN_OK;
}

size_t sn__raft_quorum(const sn__raft *r)
{
	return r->n_prs / 2 + 1;
}

sn__progress *sn__raft_progress(sn__raft *r, uint64_t id)
{
	for (size_t i = 0; i < r->n_prs; i++)
		if (r->prs[i].id == id)
			return &r->prs[i];
	return NULL;
}
