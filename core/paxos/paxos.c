/* Multi-Paxos engine: life cycle, options, and the ready/advance hand-off. */
#include "paxos_impl.h"

#include <stdlib.h>

int sn_paxos_options_init(sn_paxos_options *opts, unsigned version)
{
	if (!opts || version != SN_PAXOS_OPTIONS_VERSION)
		return sn__err(SN_EINVAL, "sn_paxos_options_init: unknown "
			       "version %u", version);
	memset(opts, 0, sizeof *opts);
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

static int check_voters(const sn_paxos_options *o)
{
	bool self = false;

	if (o->id == 0)
		return sn__err(SN_EINVAL, "sn_paxos_new: id must be non-zero");
	if (!o->voters || o->n_voters == 0)
		return sn__err(SN_EINVAL, "sn_paxos_new: no voters");
	if (o->n_voters > SN__PAXOS_MAX_VOTERS)
		return sn__err(SN_EINVAL, "sn_paxos_new: %zu voters, at most "
			       "%u (a ballot has 16 bits of position)",
			       o->n_voters, SN__PAXOS_MAX_VOTERS);
	for (size_t i = 0; i < o->n_voters; i++) {
		if (o->voters[i] == 0)
			return sn__err(SN_EINVAL, "sn_paxos_new: voter id 0");
		for (size_t j = 0; j < i; j++)
			if (o->voters[j] == o->voters[i])
				return sn__err(SN_EINVAL, "sn_paxos_new: voter "
					       "%llu listed twice",
					       (unsigned long long)o->voters[i]);
		self |= o->voters[i] == o->id;
	}
	if (!self)
		return sn__err(SN_EINVAL, "sn_paxos_new: id %llu is not a "
			       "voter", (unsigned long long)o->id);
	return SN_OK;
}

static int check_log(const sn_paxos_options *o)
{
	const sn_hard_state *hs = o->hard_state;
	const sn_snapshot_meta *snap = o->snapshot;
	uint64_t last = 0;

	if (o->n_entries && !o->entries)
		return sn__err(SN_EINVAL, "sn_paxos_new: entries is NULL");
	if (snap && (snap->index == 0 || snap->term == 0 ||
		     (snap->n_voters && !snap->voters)))
		return sn__err(SN_EINVAL, "sn_paxos_new: invalid snapshot meta");
	if (o->snapshot_partial && (o->snapshot_partial->index == 0 ||
				    o->snapshot_partial->term == 0 ||
				    (o->snapshot_partial->n_voters &&
				     !o->snapshot_partial->voters)))
		return sn__err(SN_EINVAL, "sn_paxos_new: invalid partial "
			       "snapshot meta");
	if (o->n_entries && o->entries[0].index > (snap ? snap->index : 0) + 1)
		return sn__err(SN_EINVAL, "sn_paxos_new: entries start at "
			       "%llu, after a gap",
			       (unsigned long long)o->entries[0].index);
	if (o->n_entries && snap && o->entries[0].index <= snap->index) {
		uint64_t at = snap->index - o->entries[0].index;
		if (at >= o->n_entries ||
		    o->entries[at].term != snap->term)
			return sn__err(SN_EINVAL, "sn_paxos_new: the entries "
				       "do not reach or agree with the "
				       "snapshot at %llu",
				       (unsigned long long)snap->index);
	}
	if (o->n_entries && !snap && o->entries[0].index != 1)
		return sn__err(SN_EINVAL, "sn_paxos_new: entries must start at "
			       "1 without a snapshot");
	for (size_t i = 0; i < o->n_entries; i++) {
		const sn_entry *e = &o->entries[i];
		if (e->index != o->entries[0].index + i)
			return sn__err(SN_EINVAL, "sn_paxos_new: entry %zu has "
				       "index %llu, not consecutive", i,
				       (unsigned long long)e->index);
		if (e->term == 0 || SN__BALLOT_POS(e->term) == 0 ||
		    SN__BALLOT_POS(e->term) > o->n_voters ||
		    e->type > SN_ENTRY_NOOP || (e->len && !e->data))
			return sn__err(SN_EINVAL, "sn_paxos_new: entry %llu is "
				       "invalid (ballot, type or data)",
				       (unsigned long long)e->index);
	}
	if (o->n_entries)
		last = o->entries[o->n_entries - 1].index;
	if (snap && snap->index > last)
		last = snap->index;
	if (hs && hs->commit > last)
		return sn__err(SN_EINVAL, "sn_paxos_new: commit %llu beyond "
			       "the last entry %llu",
			       (unsigned long long)hs->commit,
			       (unsigned long long)last);
	if ((o->n_entries || snap) && !hs)
		return sn__err(SN_EINVAL, "sn_paxos_new: a log without a "
			       "hard state");
	if (o->applied > (hs ? hs->commit : 0) &&
	    (!snap || o->applied > snap->index))
		return sn__err(SN_EINVAL, "sn_paxos_new: applied beyond "
			       "commit");
	return SN_OK;
}

static int check_options(const sn_paxos_options *o)
{
	int rv;

	if (o->version != SN_PAXOS_OPTIONS_VERSION)
		return sn__err(SN_EINVAL, "sn_paxos_new: options version %u, "
			       "expected %u", o->version,
			       SN_PAXOS_OPTIONS_VERSION);
	rv = check_voters(o);
	if (rv)
		return rv;
	if (DEFAULT(o->heartbeat_ticks, 1u) >= DEFAULT(o->election_ticks, 10u))
		return sn__err(SN_EINVAL, "sn_paxos_new: heartbeat_ticks must "
			       "be below election_ticks");
	if (o->max_inflight_msgs > (1u << 16))
		return sn__err(SN_EINVAL, "sn_paxos_new: max_inflight_msgs %zu "
			       "above the limit 65536", o->max_inflight_msgs);
	return check_log(o);
}

static void paxos_destroy(sn_engine *e)
{
	sn__paxos *p = (sn__paxos *)e;

	for (size_t i = 0; i < p->n_prs; i++) {
		sn__inflights_free(&p->prs[i].infl);
		sn__snap_send_free(&p->prs[i].snap);
	}
	sn__free(p->prs);
	sn__plog_free(&p->log);
	sn__paxos_rec_free(p);
	sn__free(p->rec);
	sn__free(p->reads);
	sn__outbox_free(&p->ob);
	sn__free(p->rd_ents);
	sn__free(p->rd_committed);
	sn__paxos_snapshot_free(p);
	sn__free(p);
}

static int restore_log(sn__paxos *p, const sn_paxos_options *o)
{
	size_t skip = 0;
	int rv;

	if (o->snapshot) {
		rv = sn__snap_meta_copy(&p->snap, &p->snap_voters, o->snapshot);
		if (rv)
			return rv;
		p->log.offset = o->snapshot->index;
		p->log.offset_term = o->snapshot->term;
		if (o->n_entries && o->entries[0].index <= o->snapshot->index) {
			p->log.offset = o->entries[0].index;
			p->log.offset_term = o->entries[0].term;
			skip = 1;
		}
	}
	for (size_t i = skip; i < o->n_entries; i++) {
		const sn_entry *e = &o->entries[i];
		rv = sn__plog_append(&p->log, e->term, e->type, e->data, e->len);
		if (rv)
			return rv;
		/* Accepting at a ballot implies having promised it. */
		if (e->term > p->promised) {
			p->promised = e->term;
			p->promised_to = sn__paxos_owner(p, e->term)->id;
		}
	}
	p->log.unstable = sn__plog_last(&p->log) + 1;
	p->log.persisted = sn__plog_last(&p->log);
	return SN_OK;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int init_voters(sn__paxos *p, const sn_paxos_options *o)
{
	uint64_t *ids = sn__calloc(o->n_voters, sizeof *ids);

	p->prs = sn__calloc(o->n_voters, sizeof *p->prs);
	if (!ids || !p->prs) {
		sn__free(ids);
		return sn__err(SN_ENOMEM, "sn_paxos_new: no memory");
	}
	memcpy(ids, o->voters, o->n_voters * sizeof *ids);
	qsort(ids, o->n_voters, sizeof *ids, cmp_u64);
	p->n_prs = o->n_voters;
	for (size_t i = 0; i < o->n_voters; i++) {
		p->prs[i].id = ids[i];
		if (ids[i] == o->id)
			p->self = i;
		if (sn__inflights_init(&p->prs[i].infl, p->max_inflight_msgs)) {
			sn__free(ids);
			return sn__err(SN_ENOMEM, "sn_paxos_new: no memory");
		}
	}
	sn__free(ids);
	return SN_OK;
}

static int paxos_init(sn__paxos *p, const sn_paxos_options *o)
{
	int rv;

	p->id = o->id;
	p->group = o->group;
	p->election_ticks = DEFAULT(o->election_ticks, 10u);
	p->heartbeat_ticks = DEFAULT(o->heartbeat_ticks, 1u);
	p->max_msg_bytes = DEFAULT(o->max_msg_bytes, (size_t)1 << 20);
	p->max_inflight_msgs = DEFAULT(o->max_inflight_msgs, (size_t)256);
	p->max_inflight_bytes = DEFAULT(o->max_inflight_bytes, (size_t)32 << 20);
	p->max_uncommitted_bytes =
		DEFAULT(o->max_uncommitted_bytes, (size_t)64 << 20);
	p->max_entry_bytes = DEFAULT(o->max_entry_bytes, (size_t)1 << 20);
	p->max_pending_reads = DEFAULT(o->max_pending_reads, (size_t)4096);
	p->rand = o->rand;
	p->rand_ud = o->rand_userdata;
	p->rng = DEFAULT(o->seed, o->id);
	p->snapshot_read = o->snapshot_read;
	p->snapshot_ud = o->snapshot_userdata;

	rv = init_voters(p, o);
	if (rv)
		return rv;
	if (o->hard_state) {
		p->promised = o->hard_state->term;
		p->promised_to = o->hard_state->vote;
		p->commit = o->hard_state->commit;
	}
	rv = restore_log(p, o);
	if (rv)
		return rv;
	p->applied = o->applied;
	if (o->snapshot) {
		if (p->commit < o->snapshot->index)
			p->commit = o->snapshot->index;
		if (p->applied < o->snapshot->index)
			p->applied = o->snapshot->index;
	}
	rv = sn__snap_rcv_resume(&p->rcv, p->commit, o->snapshot_partial,
				 o->snapshot_partial_offset,
				 o->snapshot_partial_crc);
	if (rv)
		return rv;
	p->max_seen = p->promised;
	p->prev_hs = (sn_hard_state){ p->promised, p->promised_to, p->commit };
	p->role = SN_ROLE_FOLLOWER;
	sn__paxos_reset_timer(p);
	return SN_OK;
}

static uint64_t apply_to(const sn__paxos *p)
{
	return p->commit < p->log.persisted ? p->commit : p->log.persisted;
}

static bool hs_changed(const sn__paxos *p)
{
	return p->prev_hs.term != p->promised ||
	       p->prev_hs.vote != p->promised_to ||
	       p->prev_hs.commit != p->commit;
}

static int paxos_has_ready(const sn_engine *e)
{
	const sn__paxos *p = (const sn__paxos *)e;

	if (p->ready_pending)
		return 0;
	return sn__outbox_pending(&p->ob) || p->rcv.n_out ||
	       p->install.index || p->bcast_pending ||
	       apply_to(p) > p->applied ||
	       p->log.unstable <= sn__plog_last(&p->log) || hs_changed(p);
}

static int copy_entries(sn__paxos *p, sn_entry **dst, size_t *cap,
			uint64_t from, uint64_t to, size_t *n_out)
{
	size_t n = to >= from ? (size_t)(to - from + 1) : 0;
	int rv = sn__grow((void **)dst, cap, n, sizeof **dst);

	if (rv)
		return rv;
	for (size_t i = 0; i < n; i++)
		(*dst)[i] = *sn__plog_at(&p->log, from + i);
	*n_out = n;
	return SN_OK;
}

/* Record what this ready writes, to tell which write a later
 * sn_engine_persisted() reports. */
static int note_write(sn__paxos *p, const sn_ready *rd)
{
	if (rd->n_entries) {
		const sn_entry *last = &rd->entries[rd->n_entries - 1];
		uint64_t first = rd->install ? rd->install->index
					     : rd->entries[0].index;
		return sn__plog_handed(&p->log, first, last->index, last->term);
	}
	if (rd->install)
		return sn__plog_handed(&p->log, rd->install->index,
				       rd->install->index, rd->install->term);
	return SN_OK;
}

static void hand_install(sn__paxos *p, sn_ready *rd)
{
	if (!p->install.index)
		return;
	sn__free(p->rd_install_voters);
	p->rd_install = p->install;
	p->rd_install_voters = p->install_voters;
	p->install_voters = NULL;
	p->install.index = 0;
	rd->install = &p->rd_install;
}

static int paxos_ready(sn_engine *e, sn_ready *rd)
{
	sn__paxos *p = (sn__paxos *)e;
	uint64_t last, to;
	int rv;

	memset(rd, 0, sizeof *rd);
	if (p->ready_pending)
		return sn__err(SN_ESTATE, "sn_engine_ready: previous ready "
			       "not advanced");
	if (p->bcast_pending && p->role == SN_ROLE_LEADER)
		sn__paxos_bcast_accept(p, false);
	p->bcast_pending = false;
	if (!paxos_has_ready(e))
		return 0;

	last = sn__plog_last(&p->log);
	to = apply_to(p);
	rv = copy_entries(p, &p->rd_ents, &p->cap_rd_ents, p->log.unstable,
			  last, &rd->n_entries);
	if (rv == SN_OK)
		rv = copy_entries(p, &p->rd_committed, &p->cap_rd_committed,
				  p->applied + 1, to, &rd->n_committed);
	if (rv)
		return rv;
	rd->entries = p->rd_ents;
	rd->committed = p->rd_committed;
	hand_install(p, rd);
	if (note_write(p, rd)) {
		/* Without the record a durable report would be ignored: hand
		 * the slots out again next time. */
		rd->n_entries = 0;
		last = p->log.unstable - 1;
	}
	p->log.unstable = last + 1;
	if (to > p->applied)
		p->applied = to;

	rd->hard_state = (sn_hard_state){ p->promised, p->promised_to,
					  p->commit };
	if (SN__MUTANT(SN__MUTANT_NO_PERSIST_PROMISE)) {
		rd->hard_state.term = 0;
		rd->hard_state.vote = 0;
	}
	rd->has_hard_state = hs_changed(p);
	p->prev_hs = (sn_hard_state){ p->promised, p->promised_to, p->commit };

	sn__outbox_ready(&p->ob, rd);

	sn__snap_rcv_ready(&p->rcv, &rd->snapshot_chunks,
			   &rd->n_snapshot_chunks);

	p->ready_pending = true;
	return 1;
}

static void paxos_advance(sn_engine *e)
{
	sn__paxos *p = (sn__paxos *)e;

	if (!p->ready_pending)
		return;
	sn__outbox_advance(&p->ob);
	sn__snap_rcv_advance(&p->rcv);
	sn__free(p->rd_install_voters);
	p->rd_install_voters = NULL;
	sn__plog_bury(&p->log);
	p->ready_pending = false;
}

static void paxos_status(const sn_engine *e, sn_engine_status *st)
{
	const sn__paxos *p = (const sn__paxos *)e;
	uint64_t last = sn__plog_last(&p->log);

	*st = (sn_engine_status){
		.id = p->id,
		.group = p->group,
		.role = p->role,
		.term = p->promised,
		.vote = p->promised_to,
		.leader = p->lead,
		.first_index = p->log.offset + 1,
		.last_index = last,
		.last_term = sn__plog_term(&p->log, last),
		.commit = p->commit,
		.applied = p->applied,
		.persisted = p->log.persisted,
		.dropped = p->dropped,
		.snapshot_index = p->snap.index,
	};
}

static const sn__engine_ops paxos_ops = {
	.name = "paxos",
	.step = sn__paxos_step,
	.tick = sn__paxos_tick,
	.propose = sn__paxos_propose,
	.read_index = sn__paxos_read_index,
	.transfer_leader = sn__paxos_transfer_leader,
	.campaign = sn__paxos_campaign,
	.has_ready = paxos_has_ready,
	.ready = paxos_ready,
	.advance = paxos_advance,
	.persisted = sn__paxos_persisted,
	.snapshot_taken = sn__paxos_snapshot_taken,
	.compact = sn__paxos_compact,
	.status = paxos_status,
	.destroy = paxos_destroy,
};

int sn_paxos_new(sn_engine **out, const sn_paxos_options *opts)
{
	sn__paxos *p;
	int rv;

	if (!out)
		return sn__err(SN_EINVAL, "sn_paxos_new: out is NULL");
	*out = NULL;
	if (!opts)
		return sn__err(SN_EINVAL, "sn_paxos_new: options are required "
			       "(id and voters)");
	rv = check_options(opts);
	if (rv)
		return rv;
	p = sn__calloc(1, sizeof *p);
	if (!p)
		return sn__err(SN_ENOMEM, "sn_paxos_new: no memory");
	p->base.ops = &paxos_ops;
	rv = paxos_init(p, opts);
	if (rv) {
		paxos_destroy(&p->base);
		return rv;
	}
	*out = &p->base;
	return SN_OK;
}

size_t sn__paxos_quorum(const sn__paxos *p)
{
	return p->n_prs / 2 + 1;
}

sn__pprogress *sn__paxos_progress(sn__paxos *p, uint64_t id)
{
	for (size_t i = 0; i < p->n_prs; i++)
		if (p->prs[i].id == id)
			return &p->prs[i];
	return NULL;
}

sn__pprogress *sn__paxos_owner(sn__paxos *p, uint64_t b)
{
	uint64_t pos = SN__BALLOT_POS(b);

	if (pos == 0 || pos > p->n_prs)
		return NULL;
	return &p->prs[pos - 1];
}
