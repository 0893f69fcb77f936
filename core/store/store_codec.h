/*
 * core/store/store_codec.h - byte-level helpers of the store shared by its
 * files (and by the fuzz target): a growing writer over sn_buf and the
 * encoding of results (what the dedup table keeps). No LMDB here.
 */
#ifndef SN__STORE_CODEC_H
#define SN__STORE_CODEC_H

#include "../base/base.h"
#include "store.h"

/* Command bytes: [u8 SN__STORE_CMD_MAGIC][u8 type][u64 client][u64 seq]... */
#define SN__STORE_CMD_MAGIC 0x53 /* 'S', version 1 of the encoding */

/* Appends to an sn_buf; the first failure sticks (checked once at the end). */
typedef struct sn__wbuf {
	sn_buf *b;
	bool oom;
} sn__wbuf;

void sn__wbuf_bytes(sn__wbuf *w, const void *p, size_t n);
void sn__wbuf_u8(sn__wbuf *w, uint8_t v);
void sn__wbuf_u32(sn__wbuf *w, uint32_t v);
void sn__wbuf_u64(sn__wbuf *w, uint64_t v);
/* Reserve n bytes and return where they start (NULL after a failure). */
uint8_t *sn__wbuf_reserve(sn__wbuf *w, size_t n);

/*
 * Result encoding (all little endian):
 *   [i32 status][u32 msglen][msg][u8 0][u64 revision][u8 flags: 1 succeeded]
 *   [u32 n_resps] n x { [u8 type][u64 count][u8 more][u32 n_kvs]
 *                       n_kvs x kv }
 *   kv = [u32 klen][key][u8 has_value][u32 vlen][value]
 *        [u64 create][u64 mod][u64 version][u64 lease]
 * The encoder is used incrementally by the apply code.
 */
void sn__res_begin(sn__wbuf *w, int status, const char *msg,
		   uint64_t revision, bool succeeded);
/* Patch revision/succeeded/n_resps of the result encoded at the start. */
void sn__res_patch(sn_buf *b, uint64_t revision, bool succeeded,
		   uint32_t n_resps);
/* Start a response; returns the offset of its n_kvs field. */
size_t sn__res_resp(sn__wbuf *w, uint8_t type);
void sn__res_resp_patch(sn_buf *b, size_t at, uint64_t count, bool more,
			uint32_t n_kvs);
void sn__res_kv(sn__wbuf *w, const sn__store_kv *kv);

/* Parse r->raw into the other fields of r (pointers into raw). */
int sn__res_decode(sn__store_result *r);
/* Parse a read encoded as a single response (type RANGE) into out. */
int sn__read_decode(sn__store_read *out);

/* The end of a range, as given by an op: etcd's conventions. */
typedef enum { SN__END_KEY, SN__END_INF, SN__END_BOUND } sn__end_kind;
sn__end_kind sn__end_kind_of(size_t elen, const void *end);

/* Bytewise compare, a shorter prefix first. */
int sn__bytes_cmp(const void *a, size_t alen, const void *b, size_t blen);

#endif
