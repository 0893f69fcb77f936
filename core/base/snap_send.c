/* The sending side of the chunked snapshot transfer (snap_send.h). */
#include "snap_send.h"
#include "snap_rcv.h" /* sn__snap_meta_copy */

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

int sn__snap_send_start(sn__snap_send *s, const sn_snapshot_meta *m)
{
	int rv = sn__snap_meta_copy(&s->meta, &s->voters, m);

	if (rv)
		return rv;
	s->sent = s->acked = s->acked_at_hb = 0;
	s->stalls = 0;
	s->rewound = UINT64_MAX;
	return SN_OK;
}

/* Unacknowledged bytes stay within the window, except that one chunk may
 * always be in flight. */
static bool window_has_room(const sn__snap_send *s, uint64_t window,
			    size_t chunk)
{
	uint64_t unacked = s->sent - s->acked;
	uint64_t next = min_u64(chunk, s->meta.size - s->sent);

	return unacked == 0 || unacked + next <= window;
}

int sn__snap_send_chunks(sn__snap_send *s, const sn__snap_src *src)
{
	int ret = SN_OK;
	void *buf;

	if (s->sent >= s->meta.size ||
	    !window_has_room(s, src->window, src->chunk))
		return SN_OK;
	buf = sn__malloc(src->chunk);
	if (!buf)
		return SN_OK;
	while (s->sent < s->meta.size &&
	       window_has_room(s, src->window, src->chunk)) {
		size_t want = (size_t)min_u64(src->chunk,
					      s->meta.size - s->sent);
		size_t got = 0;
		int rv = src->read(src->read_ud, &s->meta, s->sent, buf, want,
				   &got);
		if (rv || got != want) {
			sn__log(SN_LOG_WARN, "%s %llu: reading snapshot %llu "
				"at %llu failed (%d)", src->engine,
				(unsigned long long)src->id,
				(unsigned long long)s->meta.index,
				(unsigned long long)s->sent, rv);
			ret = rv ? rv : SN_EIO;
			break;
		}
		if (src->send(src->ctx, s, s->sent, buf, want))
			break;
		s->sent += want;
	}
	sn__free(buf);
	return ret;
}

int sn__snap_send_answer(sn__snap_send *s, bool reject, uint64_t hint,
			 uint64_t size)
{
	if (reject) {
		/* Stale (the member only goes back to 0), or a resend from
		 * there is already on its way: nothing new. */
		if (hint && hint < s->acked)
			return SN__SNAP_SEND_IGNORE;
		if (hint == s->acked && s->sent > hint && s->rewound == hint)
			return SN__SNAP_SEND_IGNORE;
		/* The member holds a different prefix: resume there. */
		s->sent = s->acked = hint;
		s->rewound = hint;
	} else if (hint > s->acked) {
		s->acked = hint;
	}
	/* An ack already in flight when the leader rewound: never resend
	 * what the member holds, and keep sent - acked from wrapping. */
	if (s->sent < s->acked)
		s->sent = s->acked;
	if (!reject && hint == size)
		return SN__SNAP_SEND_DONE;
	return SN__SNAP_SEND_MORE;
}

bool sn__snap_send_stalled(sn__snap_send *s)
{
	if (s->acked != s->acked_at_hb) {
		s->acked_at_hb = s->acked;
		s->stalls = 0;
		return false;
	}
	if (++s->stalls < 3)
		return false;
	s->stalls = 0;
	s->sent = s->acked;
	s->rewound = s->acked;
	return true;
}

void sn__snap_send_free(sn__snap_send *s)
{
	sn__free(s->voters);
	s->voters = NULL;
}
