/* Snapshots: what the engine is told exists, compaction behind it, and the
 * chunked, flow-controlled, resumable transfer to a lagging acceptor (the
 * same scheme as the Raft engine's). An acceptor installing a snapshot keeps
 * its accepted slots beyond it: a chosen value may rest on them. */
#include "paxos_impl.h"

void sn__paxos_snapshot_free(sn__paxos *p)
{
	sn__free(p->snap_voters);
	sn__free(p->install_voters);
	sn__free(p->rd_install_voters);
	sn__snap_rcv_free(&p->rcv);
}

int sn__paxos_snapshot_taken(sn_engine *e, const sn_snapshot_meta *meta)
{
	sn__paxos *p = (sn__paxos *)e;
	uint64_t term = sn__plog_term(&p->log, meta->index);

	if (meta->index <= p->snap.index && meta->index <= p->applied)
		return SN_OK; /* not newer than what we have */
	if (meta->index > p->applied || meta->index < p->log.offset)
		return sn__err(SN_EINVAL, "paxos: snapshot at %llu outside the "
			       "log [%llu, applied %llu]",
			       (unsigned long long)meta->index,
			       (unsigned long long)p->log.offset,
			       (unsigned long long)p->applied);
	if (meta->term != term || meta->size == 0)
		return sn__err(SN_EINVAL, "paxos: snapshot at %llu has term "
			       "%llu (log says %llu) or no data",
			       (unsigned long long)meta->index,
			       (unsigned long long)meta->term,
			       (unsigned long long)term);
	return sn__snap_meta_copy(&p->snap, &p->snap_voters, meta);
}

int sn__paxos_compact(sn_engine *e, uint64_t index)
{
	sn__paxos *p = (sn__paxos *)e;

	if (index > p->snap.index || index > p->applied)
		return sn__err(SN_EINVAL, "paxos: compact to %llu, but the "
			       "newest snapshot is at %llu (applied %llu)",
			       (unsigned long long)index,
			       (unsigned long long)p->snap.index,
			       (unsigned long long)p->applied);
	sn__plog_compact(&p->log, index);
	return SN_OK;
}

/* ---- the leader streams ---- */

static int start_transfer(sn__paxos *p, sn__pprogress *pr)
{
	int rv = sn__snap_send_start(&pr->snap, &p->snap);

	if (rv)
		return rv;
	pr->state = SN__PR_SNAPSHOT;
	pr->probe_sent = false;
	sn__inflights_reset(&pr->infl);
	sn__log(SN_LOG_INFO, "paxos %llu: sending snapshot %llu (%llu bytes) "
		"to %llu", (unsigned long long)p->id,
		(unsigned long long)p->snap.index,
		(unsigned long long)p->snap.size, (unsigned long long)pr->id);
	return SN_OK;
}

/* Keep streaming the snapshot in flight while it can be read and the log
 * still continues from it: restarting with every newer snapshot would never
 * finish when snapshots are taken faster than one transfer completes. */
static bool need_new_transfer(const sn__paxos *p, const sn__pprogress *pr)
{
	return pr->state != SN__PR_SNAPSHOT ||
	       pr->snap.meta.index < p->log.offset;
}

typedef struct chunk_ctx {
	sn__paxos *p;
	uint64_t to;
} chunk_ctx;

static int send_chunk(void *ctx, const sn__snap_send *s, uint64_t offset,
		      const void *data, size_t len)
{
	chunk_ctx *c = ctx;
	sn__paxos_msg m = { 0 };

	m.type = SN__PAXOS_SNAP;
	m.ballot = c->p->ballot;
	m.index = s->meta.index;
	m.log_term = s->meta.term;
	m.commit = c->p->commit;
	m.snap_size = s->meta.size;
	m.snap_crc = s->meta.crc;
	m.n_voters = s->meta.n_voters;
	m.voters = (uint64_t *)s->meta.voters;
	m.offset = offset;
	m.data = data;
	m.len = len;
	return sn__paxos_send(c->p, false, c->to, &m);
}

void sn__paxos_send_snapshot(sn__paxos *p, sn__pprogress *pr)
{
	chunk_ctx ctx = { p, pr->id };
	sn__snap_src src = {
		.engine = "paxos",
		.id = p->id,
		.read = p->snapshot_read,
		.read_ud = p->snapshot_ud,
		.chunk = p->max_msg_bytes,
		.window = p->max_inflight_bytes > p->max_msg_bytes
				  ? p->max_inflight_bytes : p->max_msg_bytes,
		.send = send_chunk,
		.ctx = &ctx,
	};

	if (!p->snap.index || !p->snapshot_read) {
		sn__log(SN_LOG_ERROR, "paxos %llu: acceptor %llu needs entries "
			"before %llu, but no snapshot can be read",
			(unsigned long long)p->id, (unsigned long long)pr->id,
			(unsigned long long)p->log.offset + 1);
		return;
	}
	if (need_new_transfer(p, pr) && start_transfer(p, pr))
		return;
	/* Gone: take the newest. Otherwise the chunk is retried on the next
	 * ack or stalled heartbeat. */
	if (sn__snap_send_chunks(&pr->snap, &src) == SN_ENOTFOUND &&
	    pr->snap.meta.index != p->snap.index)
		start_transfer(p, pr);
}

void sn__paxos_on_snapshot_response(sn__paxos *p, const sn__paxos_msg *m,
				    uint64_t from)
{
	sn__pprogress *pr = sn__paxos_progress(p, from);

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
		sn__log(SN_LOG_INFO, "paxos %llu: acceptor %llu installed "
			"snapshot %llu", (unsigned long long)p->id,
			(unsigned long long)from, (unsigned long long)m->index);
		sn__paxos_send_accept(p, pr, true);
		return;
	default:
		sn__paxos_send_snapshot(p, pr);
	}
}

/* Called on each heartbeat response: after three without progress, the
 * chunks in flight are presumed lost and resent from the acked offset. */
void sn__paxos_snapshot_heartbeat(sn__paxos *p, sn__pprogress *pr)
{
	if (sn__snap_send_stalled(&pr->snap))
		sn__paxos_send_snapshot(p, pr);
}

/* ---- the acceptor receives ---- */

static void reply(sn__paxos *p, uint64_t to, const sn__paxos_msg *m,
		  uint64_t offset, bool reject, bool after_persist)
{
	sn__paxos_msg resp = { 0 };

	resp.type = SN__PAXOS_SNAP_RESP;
	resp.ballot = m->ballot;
	resp.index = m->index;
	resp.hint = offset;
	resp.ctx = m->snap_size;
	resp.reject = reject;
	sn__paxos_send(p, after_persist, to, &resp);
}

static void install(sn__paxos *p)
{
	sn_snapshot_meta *meta = &p->rcv.meta;

	sn__log(SN_LOG_INFO, "paxos %llu: installing snapshot %llu (term %llu)",
		(unsigned long long)p->id, (unsigned long long)meta->index,
		(unsigned long long)meta->term);
	if (sn__snap_meta_copy(&p->install, &p->install_voters, meta) ||
	    sn__snap_meta_copy(&p->snap, &p->snap_voters, meta))
		return;
	sn__plog_install(&p->log, meta->index, meta->term);
	if (p->commit < meta->index)
		p->commit = meta->index;
	p->applied = meta->index;
	p->rcv.meta.index = 0;
}

void sn__paxos_on_snapshot(sn__paxos *p, const sn__paxos_msg *m,
			 uint64_t from)
{
	sn_snapshot_meta meta = { m->index, m->log_term, m->snap_size,
				  m->snap_crc, m->voters, m->n_voters };
	sn__snap_verdict v;

	if (sn__snap_rcv_chunk(&p->rcv, p->commit, &meta, m->offset,
			       m->data, m->len, &v))
		return;
	if (v.crc_failed)
		sn__log(SN_LOG_WARN, "paxos %llu: snapshot %llu from %llu fails "
			"its CRC; starting over", (unsigned long long)p->id,
			(unsigned long long)m->index, (unsigned long long)from);
	if (v.install)
		install(p);
	reply(p, from, m, v.hint, v.reject, v.after_persist);
}
