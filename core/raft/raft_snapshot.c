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

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static int start_transfer(sn__raft *r, sn__progress *pr)
{
	int rv = sn__snap_meta_copy(&pr->snap, &pr->snap_voters, &r->snap);

	if (rv)
		return rv;
	pr->state = SN__PR_SNAPSHOT;
	pr->snap_sent = pr->snap_acked = pr->snap_acked_at_hb = 0;
	pr->snap_stalls = 0;
	pr->snap_rewound = UINT64_MAX;
	pr->probe_sent = false;
	pr->infl_start = pr->infl_count = pr->infl_bytes = 0;
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
	return pr->state != SN__PR_SNAPSHOT || pr->snap.index < r->log.offset;
}

/* Unacknowledged bytes stay within the window, except that one chunk may
 * always be in flight. */
static bool window_has_room(const sn__progress *pr, uint64_t window,
			    size_t chunk)
{
	uint64_t unacked = pr->snap_sent - pr->snap_acked;
	uint64_t next = min_u64(chunk, pr->snap.size - pr->snap_sent);

	return unacked == 0 || unacked + next <= window;
}

void sn__raft_send_snapshot(sn__raft *r, sn__progress *pr)
{
	size_t chunk = r->max_msg_bytes;
	uint64_t window = r->max_inflight_bytes > chunk ? r->max_inflight_bytes
						      : chunk;
	sn__raft_msg m = { 0 };
	void *buf;

	if (!r->snap.index || !r->snapshot_read) {
		sn__log(SN_LOG_ERROR, "raft %llu: follower %llu needs entries "
			"before %llu, but no snapshot can be read",
			(unsigned long long)r->id, (unsigned long long)pr->id,
			(unsigned long long)r->log.offset + 1);
		return;
	}
	if (need_new_transfer(r, pr) && start_transfer(r, pr))
		return;
	if (pr->snap_sent >= pr->snap.size ||
	    !window_has_room(pr, window, chunk))
		return;
	buf = sn__malloc(chunk);
	if (!buf)
		return;
	m.type = SN__RAFT_SNAP;
	m.term = r->term;
	m.index = pr->snap.index;
	m.log_term = pr->snap.term;
	m.commit = r->commit;
	m.snap_size = pr->snap.size;
	m.snap_crc = pr->snap.crc;
	m.n_voters = pr->snap.n_voters;
	m.voters = (uint64_t *)pr->snap.voters;
	while (pr->snap_sent < pr->snap.size &&
	       window_has_room(pr, window, chunk)) {
		size_t want = (size_t)min_u64(chunk, pr->snap.size - pr->snap_sent);
		size_t got = 0;
		int rv = r->snapshot_read(r->snapshot_ud, &pr->snap,
					  pr->snap_sent, buf, want, &got);
		if (rv || got != want) {
			sn__log(SN_LOG_WARN, "raft %llu: reading snapshot %llu "
				"at %llu failed (%d)", (unsigned long long)r->id,
				(unsigned long long)pr->snap.index,
				(unsigned long long)pr->snap_sent, rv);
			/* Gone: take the newest. Otherwise retry this chunk
			 * on the next ack or stalled heartbeat. */
			if (rv == SN_ENOTFOUND && pr->snap.index != r->snap.index)
				start_transfer(r, pr);
			break;
		}
		m.offset = pr->snap_sent;
		m.data = buf;
		m.len = want;
		if (sn__raft_send(r, false, pr->id, &m))
			break;
		pr->snap_sent += want;
	}
	sn__free(buf);
}

void sn__raft_on_snapshot_response(sn__raft *r, const sn__raft_msg *m,
				   uint64_t from)
{
	sn__progress *pr = sn__raft_progress(r, from);

	pr->recent_active = true;
	if (pr->state != SN__PR_SNAPSHOT || m->index != pr->snap.index)
		return; /* about a transfer that is over */
	if (m->reject) {
		/* Stale (the follower only goes back to 0), or a resend from
		 * there is already on its way: nothing new. */
		if (m->hint && m->hint < pr->snap_acked)
			return;
		if (m->hint == pr->snap_acked && pr->snap_sent > m->hint &&
		    pr->snap_rewound == m->hint)
			return;
		/* The follower holds a different prefix: resume there. */
		pr->snap_sent = pr->snap_acked = m->hint;
		pr->snap_rewound = m->hint;
	} else if (m->hint > pr->snap_acked) {
		pr->snap_acked = m->hint;
	}
	/* An ack already in flight when the leader rewound: never resend
	 * what the follower holds, and keep sent - acked from wrapping. */
	if (pr->snap_sent < pr->snap_acked)
		pr->snap_sent = pr->snap_acked;
	if (!m->reject && m->hint == m->ctx) {
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
	}
	sn__raft_send_snapshot(r, pr);
}

/* Called on each heartbeat response: after three without progress, the
 * chunks in flight are presumed lost and resent from the acked offset. */
void sn__raft_snapshot_heartbeat(sn__raft *r, sn__progress *pr)
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
