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

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static int start_transfer(sn__paxos *p, sn__pprogress *pr)
{
	int rv = sn__snap_meta_copy(&pr->snap, &pr->snap_voters, &p->snap);

	if (rv)
		return rv;
	pr->state = SN__PR_SNAPSHOT;
	pr->snap_sent = pr->snap_acked = pr->snap_acked_at_hb = 0;
	pr->snap_stalls = 0;
	pr->snap_rewound = UINT64_MAX;
	pr->probe_sent = false;
	pr->infl_start = pr->infl_count = pr->infl_bytes = 0;
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
	return pr->state != SN__PR_SNAPSHOT || pr->snap.index < p->log.offset;
}

/* Unacknowledged bytes stay within the window, except that one chunk may
 * always be in flight. */
static bool window_has_room(const sn__pprogress *pr, uint64_t window,
			    size_t chunk)
{
	uint64_t unacked = pr->snap_sent - pr->snap_acked;
	uint64_t next = min_u64(chunk, pr->snap.size - pr->snap_sent);

	return unacked == 0 || unacked + next <= window;
}

void sn__paxos_send_snapshot(sn__paxos *p, sn__pprogress *pr)
{
	size_t chunk = p->max_msg_bytes;
	uint64_t window = p->max_inflight_bytes > chunk ? p->max_inflight_bytes
						      : chunk;
	sn__paxos_msg m = { 0 };
	void *buf;

	if (!p->snap.index || !p->snapshot_read) {
		sn__log(SN_LOG_ERROR, "paxos %llu: acceptor %llu needs entries "
			"before %llu, but no snapshot can be read",
			(unsigned long long)p->id, (unsigned long long)pr->id,
			(unsigned long long)p->log.offset + 1);
		return;
	}
	if (need_new_transfer(p, pr) && start_transfer(p, pr))
		return;
	if (pr->snap_sent >= pr->snap.size ||
	    !window_has_room(pr, window, chunk))
		return;
	buf = sn__malloc(chunk);
	if (!buf)
		return;
	m.type = SN__PAXOS_SNAP;
	m.ballot = p->ballot;
	m.index = pr->snap.index;
	m.log_term = pr->snap.term;
	m.commit = p->commit;
	m.snap_size = pr->snap.size;
	m.snap_crc = pr->snap.crc;
	m.n_voters = pr->snap.n_voters;
	m.voters = (uint64_t *)pr->snap.voters;
	while (pr->snap_sent < pr->snap.size &&
	       window_has_room(pr, window, chunk)) {
		size_t want = (size_t)min_u64(chunk, pr->snap.size - pr->snap_sent);
		size_t got = 0;
		int rv = p->snapshot_read(p->snapshot_ud, &pr->snap,
					  pr->snap_sent, buf, want, &got);
		if (rv || got != want) {
			sn__log(SN_LOG_WARN, "paxos %llu: reading snapshot %llu "
				"at %llu failed (%d)", (unsigned long long)p->id,
				(unsigned long long)pr->snap.index,
				(unsigned long long)pr->snap_sent, rv);
			/* Gone: take the newest. Otherwise retry this chunk
			 * on the next ack or stalled heartbeat. */
			if (rv == SN_ENOTFOUND && pr->snap.index != p->snap.index)
				start_transfer(p, pr);
			break;
		}
		m.offset = pr->snap_sent;
		m.data = buf;
		m.len = want;
		if (sn__paxos_send(p, false, pr->id, &m))
			break;
		pr->snap_sent += want;
	}
	sn__free(buf);
}

void sn__paxos_on_snapshot_response(sn__paxos *p, const sn__paxos_msg *m,
				   uint64_t from)
{
	sn__pprogress *pr = sn__paxos_progress(p, from);

	pr->recent_active = true;
	if (pr->state != SN__PR_SNAPSHOT || m->index != pr->snap.index)
		return; /* about a transfer that is over */
	if (m->reject) {
		/* Stale (the acceptor only goes back to 0), or a resend from
		 * there is already on its way: nothing new. */
		if (m->hint && m->hint < pr->snap_acked)
			return;
		if (m->hint == pr->snap_acked && pr->snap_sent > m->hint &&
		    pr->snap_rewound == m->hint)
			return;
		/* The acceptor holds a different prefix: resume there. */
		pr->snap_sent = pr->snap_acked = m->hint;
		pr->snap_rewound = m->hint;
	} else if (m->hint > pr->snap_acked) {
		pr->snap_acked = m->hint;
	}
	/* An ack already in flight when the leader rewound: never resend
	 * what the acceptor holds, and keep sent - acked from wrapping. */
	if (pr->snap_sent < pr->snap_acked)
		pr->snap_sent = pr->snap_acked;
	if (!m->reject && m->hint == m->ctx) {
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
	}
	sn__paxos_send_snapshot(p, pr);
}

/* Called on each heartbeat response: after three without progress, the
 * chunks in flight are presumed lost and resent from the acked offset. */
void sn__paxos_snapshot_heartbeat(sn__paxos *p, sn__pprogress *pr)
{
	if (pr->snap_acked != pr->snap_acked_at_hb) {
		pr->snap_acked_at_hb = pr->snap_acked;
		pr->snap_stalls = 0;
		return;
	}
	if (++pr->snap_stalls < 3)
		return;
	pr->snap_stalls = 0;
	pr->snap_sent = pr->snap_acked;
	pr->snap_rewound = pr->snap_acked;
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
