/*
 * core/log/snapshot.h - the snapshot file header codec (internal).
 *
 * A complete snapshot is one file, DIR/snap-<index>-<term>.snap (each
 * number as 16 lower-case hex digits), made of a header that carries the
 * metadata, followed by exactly `size` bytes of data. The header
 * (all integers little-endian):
 *
 *   off  len  field
 *     0    4  magic       "SNSP" (0x53 0x4e 0x53 0x50)
 *     4    4  version     1
 *     8    4  header_len  52 + 8 * n_voters: where the data starts
 *    12    4  n_voters    <= SN__SNAPSHOT_MAX_VOTERS
 *    16    8  index
 *    24    8  term
 *    32    8  size        bytes of data after the header
 *    40    4  data_crc    CRC32C of the data
 *    44    4  flags       0 (readers refuse anything else)
 *    48  8*n  voters
 *  48+8n   4  header_crc  CRC32C of bytes [0, 48 + 8n)
 *
 * See docs/storage-format.md ("Snapshot files").
 */
#ifndef SN__LOG_SNAPSHOT_H
#define SN__LOG_SNAPSHOT_H

#include "../base/base.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SN__SNAPSHOT_MAGIC 0x50534e53u /* "SNSP" read as little-endian */
#define SN__SNAPSHOT_VERSION 1u
#define SN__SNAPSHOT_FIXED_LEN 48u    /* header bytes before the voters */
#define SN__SNAPSHOT_MAX_VOTERS 4096u /* bounds what a decoder allocates */
#define SN__SNAPSHOT_MAX_HEADER (SN__SNAPSHOT_FIXED_LEN + 8u * \
				 SN__SNAPSHOT_MAX_VOTERS + 4u)

/* Bytes of the header for `n_voters` voters (0 when n_voters is too many). */
size_t sn__snapshot_meta_size(size_t n_voters);

/*
 * Encode `meta` as a header into buf[0, cap). *len_out gets its length.
 * SN_EINVAL: too many voters, or voters NULL with n_voters > 0.
 * SN_ETOOLARGE: cap is too small.
 */
int sn__snapshot_meta_encode(void *buf, size_t cap, const sn_snapshot_meta *meta,
			     size_t *len_out);

/*
 * Read the fixed part of a header in buf[0, len) and tell the full header's
 * length in *header_len (the decoder needs that many bytes). SN_ECORRUPT
 * when it is not a snapshot header (magic, version, flags, voter count,
 * length) or when len < SN__SNAPSHOT_FIXED_LEN.
 */
int sn__snapshot_meta_peek(const void *buf, size_t len, size_t *header_len);

/*
 * Decode a header from buf[0, len) (trailing bytes are ignored; they are
 * the data). The voters go to voters[0, voters_cap) and meta->voters
 * points there. *header_len (if not NULL) gets the header's length.
 * SN_ECORRUPT: truncated, a bad field or a header CRC mismatch.
 * SN_ETOOLARGE: more voters than voters_cap. Never reads outside buf.
 */
int sn__snapshot_meta_decode(sn_snapshot_meta *meta, uint64_t *voters,
			     size_t voters_cap, const void *buf, size_t len,
			     size_t *header_len);

/* "snap-<16 hex>-<16 hex>.snap" into name[SN__SNAPSHOT_NAME_MAX]. */
#define SN__SNAPSHOT_NAME_MAX 96
void sn__snapshot_name(char *name, uint64_t index, uint64_t term);
/* Parse a complete snapshot's name; false when it is not one. */
bool sn__snapshot_parse_name(const char *name, uint64_t *index, uint64_t *term);

#ifdef __cplusplus
}
#endif

#endif
