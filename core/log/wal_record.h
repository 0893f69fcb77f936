/*
 * core/log/wal_record.h - the WAL's on-disk codec (internal): segment
 * headers, frames and records. Pure: no I/O, no allocation, so the fuzz
 * target and the recovery code share it. docs/storage-format.md describes
 * the same bytes for people who write their own tools.
 *
 * A segment file wal-<16 hex seq>.log:
 *
 *   segment header (32 bytes)
 *     0   8  magic    "SNWAL\0\0\1"
 *     8   4  version  1
 *    12   4  flags    0 (readers refuse anything else)
 *    16   8  seq      equals the seq in the file name
 *    24   4  reserved 0
 *    28   4  crc      CRC32C of bytes [0, 28)
 *   frames, back to back, then zero bytes to the end of the file.
 *
 * A frame is what one write + one fdatasync puts on disk (a group commit):
 *
 *     0   4  magic      "SNFR"
 *     4   4  body_len   bytes of records that follow the header (>= 1)
 *     8   4  n_records  number of records in the body (>= 1)
 *    12   4  crc        CRC32C of bytes [0, 12)
 *    16   .  body       n_records records
 *     .   1  trailer    0xA5, so that a complete frame never ends in a zero
 *
 * A record, inside a frame body:
 *
 *     0   4  len        bytes of type + payload (>= 1)
 *     4   4  crc        CRC32C of bytes [0, 4) followed by [8, 8 + len)
 *     8   1  type       SN__WAL_REC_*
 *     9   .  payload    len - 1 bytes, by type (all integers little-endian):
 *
 *   ENTRY       u64 index, u64 term, u32 entry type, data (the rest)
 *   HARD_STATE  u64 term, u64 vote, u64 commit
 *   SNAPSHOT    u32 flags (bit 0: RESET, the log restarts after `index`;
 *               bit 1: TAKEN, a snapshot of the local state machine that
 *               the log reaches; neither: a segment head's marker),
 *               u64 index, u64 term, u64 size, u32 crc, u32 n_voters,
 *               u64 voters[n_voters]
 *   CHECKPOINT  u64 prev_end (where the previous segment's frames end),
 *               u64 last_index, u64 last_term (the log when the segment
 *               was started)
 */
#ifndef SN__LOG_WAL_RECORD_H
#define SN__LOG_WAL_RECORD_H

#include "../base/base.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SN__WAL_SEG_MAGIC "SNWAL\0\0\1"
#define SN__WAL_SEG_VERSION 1u
#define SN__WAL_SEG_HEADER 32u

#define SN__WAL_FRAME_MAGIC 0x52464e53u /* "SNFR" read as little-endian */
#define SN__WAL_FRAME_HEADER 16u
#define SN__WAL_FRAME_TRAILER 0xa5u
/* Bytes a frame adds around its body: header + trailer. */
#define SN__WAL_FRAME_OVERHEAD (SN__WAL_FRAME_HEADER + 1u)

#define SN__WAL_REC_HEADER 8u
/* Largest len field a record may carry (and a frame's body_len). */
#define SN__WAL_MAX_REC_LEN 0x7fffff00u
#define SN__WAL_MAX_VOTERS 4096u

enum sn__wal_rec_type {
	SN__WAL_REC_ENTRY = 1,
	SN__WAL_REC_HARD_STATE = 2,
	SN__WAL_REC_SNAPSHOT = 3,
	SN__WAL_REC_CHECKPOINT = 4
};

#define SN__WAL_SNAP_RESET 1u
#define SN__WAL_SNAP_TAKEN 2u

typedef struct sn__wal_checkpoint {
	uint64_t prev_end;
	uint64_t last_index;
	uint64_t last_term;
} sn__wal_checkpoint;

/* A decoded record. Pointers point into the decoded buffer. */
typedef struct sn__wal_rec {
	uint8_t type;
	sn_entry entry;             /* ENTRY */
	sn_hard_state hs;           /* HARD_STATE */
	uint32_t snap_flags;        /* SNAPSHOT */
	sn_snapshot_meta snap;      /* SNAPSHOT; voters is NULL: see below */
	const uint8_t *voters_le;   /* SNAPSHOT: n_voters little-endian u64 */
	sn__wal_checkpoint cp;      /* CHECKPOINT */
} sn__wal_rec;

/* ---- segment header and names ---- */

void sn__wal_seg_header_put(uint8_t hdr[SN__WAL_SEG_HEADER], uint64_t seq);
/* SN_OK with *seq, or SN_ECORRUPT (message says why) when the header in
 * p[0, len) is short, has a bad magic, version, flags or CRC. */
int sn__wal_seg_header_check(const uint8_t *p, size_t len, uint64_t *seq);

#define SN__WAL_NAME_MAX 40
/* "wal-<16 hex>.log" (temp: "wal-<16 hex>.log.tmp") */
void sn__wal_seg_name(char name[SN__WAL_NAME_MAX], uint64_t seq, bool temp);
/* 1: a segment name (sets *seq); 2: a temp name; 0: something else. */
int sn__wal_parse_name(const char *name, uint64_t *seq);

/* ---- records ---- */

/* Encoded size of each record (SIZE_MAX if it would be too large). */
size_t sn__wal_entry_rec_size(size_t data_len);
size_t sn__wal_snapshot_rec_size(size_t n_voters);
#define SN__WAL_HARD_STATE_REC_SIZE (SN__WAL_REC_HEADER + 1u + 24u)
#define SN__WAL_CHECKPOINT_REC_SIZE (SN__WAL_REC_HEADER + 1u + 24u)

/* Encode one record at p (which has room for its size); returns p + size. */
uint8_t *sn__wal_put_entry(uint8_t *p, const sn_entry *e);
uint8_t *sn__wal_put_hard_state(uint8_t *p, const sn_hard_state *hs);
uint8_t *sn__wal_put_snapshot(uint8_t *p, const sn_snapshot_meta *m,
			      uint32_t flags);
uint8_t *sn__wal_put_checkpoint(uint8_t *p, const sn__wal_checkpoint *cp);

/*
 * Decode the record at p[0, avail): SN_OK with *rec and *used (its size),
 * or SN_ECORRUPT (short, bad CRC, unknown type, malformed payload). Never
 * reads outside p[0, avail).
 */
int sn__wal_rec_decode(sn__wal_rec *rec, const uint8_t *p, size_t avail,
		       size_t *used);
/* The i-th voter of a decoded SNAPSHOT record. */
uint64_t sn__wal_rec_voter(const sn__wal_rec *rec, size_t i);

/* ---- frames ---- */

enum sn__wal_frame_status {
	SN__FRAME_OK = 0,
	SN__FRAME_ZERO,       /* the header is all zero bytes */
	SN__FRAME_SHORT,      /* fewer than a header's bytes, or the frame
				 runs past the end of the buffer */
	SN__FRAME_BAD_HEADER, /* magic, CRC or a length field is wrong */
	SN__FRAME_BAD_BODY    /* header fine; a record or the trailer is not */
};

typedef struct sn__wal_frame {
	const uint8_t *body;
	uint32_t body_len;
	uint32_t n_records;
	size_t size; /* whole frame: header + body + trailer (once the header
			checked out, even when the rest did not) */
} sn__wal_frame;

/* Write a frame header for a body of `body_len` bytes and `n` records. */
void sn__wal_frame_header_put(uint8_t hdr[SN__WAL_FRAME_HEADER],
			      uint32_t body_len, uint32_t n);

/* Check the frame at p[0, avail): the header, then every record's CRC and
 * the trailer. Returns an sn__wal_frame_status. */
int sn__wal_frame_parse(sn__wal_frame *f, const uint8_t *p, size_t avail);

#ifdef __cplusplus
}
#endif

#endif
