/*
 * core/base/snap_send.h - the sending side of the chunked snapshot
 * transfer, shared by the engines (internal).
 *
 * A leader whose member is behind its compacted log streams it a snapshot
 * in chunks, within a window of unacknowledged bytes. sn__snap_send is the
 * transfer to one member: the snapshot being streamed (kept until the
 * transfer ends, so a newer snapshot does not restart it), what was sent
 * and what the member reported durable. The engine decides when a transfer
 * starts and what its member state becomes; these functions keep the
 * offsets, read the chunks through sn_snapshot_read_fn and hand each to the
 * engine to send in its own message format. The receiving side is
 * snap_rcv.h.
 */
#ifndef SN__SNAP_SEND_H
#define SN__SNAP_SEND_H

#include "base.h"

typedef struct sn__snap_send {
	sn_snapshot_meta meta; /* being streamed */
	uint64_t *voters;      /* meta.voters points here */
	uint64_t sent;         /* next offset to send */
	uint64_t acked;        /* bytes the member reported durable */
	uint64_t acked_at_hb;  /* `acked` at the last heartbeat */
	unsigned stalls;       /* heartbeats since without progress */
	uint64_t rewound;      /* offset last resent from, UINT64_MAX none */
} sn__snap_send;

/* Where the chunks come from and where they go, in the engine's terms. */
typedef struct sn__snap_src {
	const char *engine;        /* "raft", "paxos": for the log */
	uint64_t id;               /* the sender, for the log */
	sn_snapshot_read_fn read;
	void *read_ud;
	size_t chunk;              /* bytes per message */
	uint64_t window;           /* unacknowledged bytes (>= chunk) */
	/* Send [offset, offset + len) of s->meta; non-zero: stop for now. */
	int (*send)(void *ctx, const sn__snap_send *s, uint64_t offset,
		    const void *data, size_t len);
	void *ctx;
} sn__snap_src;

/* What an answer of the member means for the transfer. */
enum {
	SN__SNAP_SEND_IGNORE = 0, /* stale, or a resend is on its way */
	SN__SNAP_SEND_MORE = 1,   /* send what the window allows */
	SN__SNAP_SEND_DONE = 2    /* installed: the transfer is over */
};

/* Start streaming `m` from offset 0 (a copy; the old one is released).
 * SN_ENOMEM. */
int sn__snap_send_start(sn__snap_send *s, const sn_snapshot_meta *m);

/*
 * Send chunks from s->sent while the window has room. Returns SN_OK, or
 * the error of a chunk that could not be read (logged; SN_EIO when it came
 * back short): the engine may start over with a newer snapshot, otherwise
 * the chunk is retried on the next answer or stalled heartbeat.
 */
int sn__snap_send_chunks(sn__snap_send *s, const sn__snap_src *src);

/* The member answered: `reject` (continue at `hint`) or acknowledged
 * `hint` bytes of a snapshot of `size` bytes. SN__SNAP_SEND_*. */
int sn__snap_send_answer(sn__snap_send *s, bool reject, uint64_t hint,
			 uint64_t size);

/* Called on each heartbeat response: true after three without progress,
 * when the chunks in flight are presumed lost and the transfer rewound to
 * the acknowledged offset (then send again). */
bool sn__snap_send_stalled(sn__snap_send *s);

void sn__snap_send_free(sn__snap_send *s);

#endif
