/*
 * core/base/snap_rcv.h - the receiving side of the chunked snapshot
 * transfer, shared by the engines (internal).
 *
 * A member behind its leader's compacted log receives the snapshot in
 * chunks. sn__snap_rcv keeps the transfer in progress (its meta, how many
 * bytes were handed out to be written, their CRC32C) and the chunks waiting
 * to be handed out in the next ready. sn__snap_rcv_chunk() judges one
 * incoming chunk and says what to answer; the engine sends the answer in
 * its own message format and, on a complete and verified snapshot, installs
 * it. A transfer that a restart interrupted is picked up again with
 * sn__snap_rcv_resume().
 */
#ifndef SN__SNAP_RCV_H
#define SN__SNAP_RCV_H

#include "base.h"

typedef struct sn__snap_rcv {
	sn_snapshot_meta meta; /* being received; index 0: none */
	uint64_t *voters;      /* meta.voters points here */
	uint64_t offset;       /* bytes handed out so far */
	uint32_t crc;          /* CRC32C of those bytes */
	/* chunks for the next ready, and those of the ready handed out */
	sn_snapshot_chunk *out, *rd;
	size_t n_out, cap_out, n_rd, cap_rd;
} sn__snap_rcv;

/* The answer to one chunk. */
typedef struct sn__snap_verdict {
	uint64_t hint;      /* the offset to report (the size when done) */
	bool reject;        /* a gap, a duplicate, another snapshot, a CRC
			       mismatch: continue at `hint` */
	bool after_persist; /* the answer promises durability: it waits */
	bool install;       /* complete and verified: install r->meta */
	bool crc_failed;    /* complete but corrupt: the transfer starts over */
} sn__snap_verdict;

/* Copy `src` into *dst, its voters into a new *voters array (the old one
 * is freed). SN_ENOMEM. */
int sn__snap_meta_copy(sn_snapshot_meta *dst, uint64_t **voters,
		       const sn_snapshot_meta *src);

/*
 * Judge the chunk [offset, offset + len) of snapshot `m` for a member whose
 * log is committed through `commit`: queue it to be handed out when it
 * continues the transfer, and fill *v. Returns SN_OK, or SN_ENOMEM (then
 * nothing changed and nothing is to be answered).
 */
int sn__snap_rcv_chunk(sn__snap_rcv *r, uint64_t commit,
		       const sn_snapshot_meta *m, uint64_t offset,
		       const void *data, size_t len, sn__snap_verdict *v);

/* Continue receiving `m` at `offset` (CRC32C of the bytes before: crc)
 * after a restart; a no-op when `m` is NULL, at or below `commit`, or
 * complete. SN_ENOMEM. */
int sn__snap_rcv_resume(sn__snap_rcv *r, uint64_t commit,
			const sn_snapshot_meta *m, uint64_t offset,
			uint32_t crc);

/* The chunks for a new ready (those of the previous one are released). */
void sn__snap_rcv_ready(sn__snap_rcv *r, const sn_snapshot_chunk **chunks,
			size_t *n);
/* The ready was acknowledged: release its chunks. */
void sn__snap_rcv_advance(sn__snap_rcv *r);
void sn__snap_rcv_free(sn__snap_rcv *r);

#endif
