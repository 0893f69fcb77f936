/* Snapshots: what the engine is told exists, compaction behind it, and the
 * chunked, flow-controlled, resumable transfer to a lagging follower. */
#include "raft_impl.h"

void sn__raft_snapshot_free(sn__raft *r)
{
	sn__free(r->snap_voters);
	sn__free(r->install_voters);
	sn__free(r->rd_install_voters);
	sn__snap_rcv_free(&r->rcv);
}

int sn__raft_snapshot_taken(sn_engine *e, const sn_snapshot_meta *meta)
{
	sn__raft *r = (sn__raft *)e;
	uint64_t term = sn__log_term(&r->log, meta->index);

	if (meta->index <= r->snap.index && meta->index <= r->applied)
		return SN_OK; /* not newer than what we have */
	if (meta->index > r->applied || meta->index < r->log.offset)
		return sn__err(SN_EINVAL, "raft: snapshot at %llu outside the "
			       "log [%llu, applied %llu]",
			       (unsigned long long)meta->index,
			       (unsigned long long)r->log.offset,
			       (unsigned long long)r->applied);
	if (meta->term != term || meta->size == 0)
		return sn__err(SN_EINVAL, "raft: snapshot at %llu has term "
			       "%llu (log says %llu) or no data",
			       (unsigned long long)meta->index,
			       (unsigned long long)meta->term,
			       (unsigned long long)term);
	return sn__snap_meta_copy(&r->snap, &r->snap_voters, meta);
}

int sn__raft_compact(sn_engine *e, uint64_t index)
{
	sn__raft *r = (sn__raft *)e;

	if (index > r->snap.index || index > r->applied)
		return sn__err(SN_EINVAL, "raft: compact to %llu, but the "
			       "newest snapshot is at %llu (applied %llu)",
			       (unsigned long long)index,
			       (unsigned long long)r->snap.index,
			       (unsigned long long)r->applied);
	sn__log_compact(&r->log, index);
	return SN_OK;
}

/* ---- the leader streams ---- */

static int start_transfer(sn__raft *r, sn__progress *pr)
{
	int rv = sn__snap_send_start(&pr->snap, &r->snap);

	if (rv)
		return rv;
	pr->state = SN__PR_SNAPSHOT;
	pr->probe_sent = false;
	sn__inflights_reset(&pr->infl);
	sn__log(SN_LOG_INFO, "raft %llu: sending snapshot %llu (%llu bytes) "
		"to %llu", (unsigned long long)r->id,
		(unsigned long long)r->snap.index,
		(unsigned long long)r->snap.size, (unsigned long long)pr->id);
	return SN_OK;
}

/* Keep streaming the snapshot in flight while it can be read and the log
 * still continues from it: restarting with every newer snapshot would never
 * finish when snapshots are taken faster than one transfer completes. */
static bool need_new_transfer(const sn__raft *r, const sn__progress *pr)
{
	return pr->state != SN__PR_SNAPSHOT ||
	       pr->snap.meta.index < r->log.offset;
}

typedef struct chunk_ctx {
	sn__raft *r;
	uint64_t to;
} chunk_ctx;

static int send_chunk(void *ctx, const sn__snap_send *s, uint64_t offset,
		      const void *data, size_t len)
{
	chunk_ctx *c = ctx;
	sn__raft_msg m = { 0 };

	m.type = SN__RAFT_SNAP;
	m.term = c->r->term;
	m.index = s->meta.index;
	m.log_term = s->meta.term;
	m.commit = c->r->commit;
	m.snap_size = s->meta.size;
	m.snap_crc = s->meta.crc;
	m.n_voters = s->meta.n_voters;
	m.voters = (uint64_t *)s->meta.voters;
	m.offset = offset;
	m.data = data;
	m.len = len;
	return sn__raft_send(c->r, false, c->to, &m);
}

void sn__raft_send_snapshot(sn__raft *r, sn__progress *pr)
{
	chunk_ctx ctx = { r, pr->id };
	sn__snap_src src = {
		.engine = "raft",
		.id = r->id,
		.read = r->snapshot_read,
		.read_ud = r->snapshot_ud,
		.chunk = r->max_msg_bytes,
		.window = r->max_inflight_bytes > r->max_msg_bytes
				  ? r->max_inflight_bytes : r->max_msg_bytes,
		.send = send_chunk,
		.ctx = &ctx,
	};

	if (!r->snap.index || !r->snapshot_read) {
		sn__log(SN_LOG_ERROR, "raft %llu: follower %llu needs entries "
			"before %llu, but no snapshot can be read",
			(unsigned long long)r->id, (unsigned long long)pr->id,
			(unsigned long long)r->log.offset + 1);
		return;
	}
	if (need_new_transfer(r, pr) && start_transfer(r, pr))
		return;
	/* Gone: take the newest. Otherwise the chunk is retried on the next
	 * ack or stalled heartbeat. */
	if (sn__snap_send_chunks(&pr->snap, &src) == SN_ENOTFOUND &&
	    pr->snap.meta.index != r->snap.index)
		start_transfer(r, pr);
}

void sn__raft_on_snapshot_response(sn__raft *r, const sn__raft_msg *m,
				   uint64_t from)
{
	sn__progress *pr = sn__raft_progress(r, from);

	pr->recent_active = true;
	if (pr->state != SN__PR_SNAPSHOT || m->index != pr->snap.meta.index)
		return; /* about a transfer that is over */
	switch (sn__snap_send_answer(&pr->snap, m->reject, m->hint, m->ctx)) {
	case SN__SNAP_SEND_IGNORE:
		return;
	case SN__SNAP_SEND_DONE:
		/* Installed: replicate entries from after the snapshot. */
		if (pr->match < m->index)
			pr->match = m->index;
		pr->next = pr->match + 1;
		pr->state = SN__PR_PROBE;
		pr->probe_sent = false;
		sn__log(SN_LOG_INFO, "raft %llu: follower %llu installed "
			"snapshot %llu", (unsigned long long)r->id,
			(unsigned long long)from, (unsigned long long)m->index);
		sn__raft_send_append(r, pr, true);
		return;
	default:
		sn__raft_send_snapshot(r, pr);
	}
}

/* Called on each heartbeat response: after three without progress, the
 * chunks in flight are presumed lost and resent from the acked offset. */
void sn__raft_snapshot_heartbeat(sn__raft *r, sn__progress *pr)
{
	if (sn__snap_send_stalled(&pr->snap))
		sn__raft_send_snapshot(r, pr);
}

/* ---- the follower receives ---- */

static void reply(sn__raft *r, uint64_t to, const sn__raft_msg *m,
		  uint64_t offset, bool reject, bool after_persist)
{
	sn__raft_msg resp = { 0 };

	resp.type = SN__RAFT_SNAP_RESP;
	resp.term = r->term;
	resp.index = m->index;
	resp.hint = offset;
	resp.ctx = m->snap_size;
	resp.reject = reject;
	sn__raft_send(r, after_persist, to, &resp);
}

static void install(sn__raft *r)
{
	sn_snapshot_meta *meta = &r->rcv.meta;

	sn__log(SN_LOG_INFO, "raft %llu: installing snapshot %llu (term %llu)",
		(unsigned long long)r->id, (unsigned long long)meta->index,
		(unsigned long long)meta->term);
	if (sn__snap_meta_copy(&r->install, &r->install_voters, meta) ||
	    sn__snap_meta_copy(&r->snap, &r->snap_voters, meta))
		return;
	sn__log_reset(&r->log, meta->index, meta->term);
	if (r->commit < meta->index)
		r->commit = meta->index;
	r->applied = meta->index;
	r->rcv.meta.index = 0;
}

void sn__raft_on_snapshot(sn__raft *r, const sn__raft_msg *m,
			 uint64_t from)
{
	sn_snapshot_meta meta = { m->index, m->log_term, m->snap_size,
				  m->snap_crc, m->voters, m->n_voters };
	sn__snap_verdict v;

	if (sn__snap_rcv_chunk(&r->rcv, r->commit, &meta, m->offset,
			       m->data, m->len, &v))
		return;
	if (v.crc_failed)
		sn__log(SN_LOG_WARN, "raft %llu: snapshot %llu from %llu fails "
			"its CRC; starting over", (unsigned long long)r->id,
			(unsigned long long)m->index, (unsigned long long)from);
	if (v.install)
		install(r);
	reply(r, from, m, v.hint, v.reject, v.after_persist);
}
