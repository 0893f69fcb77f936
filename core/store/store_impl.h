/*
 * core/store/store_impl.h - the store's object and its LMDB layout, shared
 * by the files of core/store/.
 *
 * LMDB databases (named, in one environment):
 *   "meta"    "format" -> [u32 1][u32 SN__STORE_PREFIX]
 *             "applied" -> [u64 index][u64 term], "revision" -> [u64]
 *   "kv"      user keys, in buckets (below)
 *   "clients" [u64 BE client_id] -> [u64 seq][u64 last_index][result]
 *   "idle"    [u64 BE last_index][u64 BE client_id] -> "" (eviction order)
 *
 * LMDB keys are at most 511 bytes, user keys up to 64 KiB: a user key K is
 * filed under the LMDB key K[0 : min(|K|, SN__STORE_PREFIX)], whose value is
 * a bucket of every user key with that LMDB key, sorted by the rest of the
 * key (the suffix). A key shorter than the prefix length is alone in its
 * bucket with an empty suffix. Iterating LMDB keys in order and each
 * bucket in order gives the user keys in bytewise order. Bucket entry:
 *   [u32 suffix_len][u32 vlen][u64 create][u64 mod][u64 version]
 *   [u64 lease][suffix][value]
 */
#ifndef SN__STORE_IMPL_H
#define SN__STORE_IMPL_H

#include "store_codec.h"

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>

#define SN__STORE_FORMAT 1
#define SN__STORE_PREFIX 480 /* fixed: snapshots move between replicas */
#define SN__BUCKET_HDR 40

struct sn__store {
	MDB_env *env;
	MDB_dbi meta, kv, clients, idle;
	char *dir;
	size_t map_size;
	uint32_t max_key, max_value;
	uint64_t client_idle;
	bool no_sync;
	bool lazy;         /* commits unsynced; store.state tracks it */
	char boot[64];     /* this boot's id (lazy) */
	bool broken; /* a restore failed half-way */
	/* A batch applied but not committed (sn__store_apply_pending), with
	 * what becomes current when it is. */
	MDB_txn *pending;
	uint64_t pending_revision, pending_index, pending_term;
	_Atomic uint64_t revision;
	/* The applied index and term change together, under meta_lock. */
	pthread_mutex_t meta_lock;
	uint64_t applied, applied_term;
	/* Readers hold it shared; restore (which swaps the env) exclusive. */
	pthread_rwlock_t lock;
	sn__store_cmd *cmd;     /* decoded command being applied */
	sn_buf bucket, bucket2; /* scratch for bucket rewrites */
	sn_buf keys;            /* scratch: keys a delete-range removes */
	sn_buf res;             /* scratch: a result nobody asked for */
};

/* An LMDB return code as an sn_error_code, with a message. */
int sn__store_mdb_err(int rc, const char *what);

void sn__store_set_applied(sn__store *st, uint64_t index, uint64_t term);

/* Open / close the env of st->dir and load applied/revision. */
int sn__store_env_open(sn__store *st);
/* `sync`: flush LMDB to disk first (a clean close); SN_OK or the error of
 * that flush. The env is closed either way. */
int sn__store_env_close(sn__store *st, bool sync);

/* ---- buckets and iteration (store_kv.c) ------------------------------ */

typedef struct sn__kv_iter {
	MDB_cursor *cur;
	MDB_val k, v;   /* the current bucket */
	size_t off;     /* current entry within v */
	bool valid;
	sn__store_kv kv; /* current key-value (pointers into LMDB / keybuf) */
	sn_buf keybuf;   /* a key assembled from prefix + suffix */
	int rc;          /* an LMDB error that ended the iteration */
} sn__kv_iter;

/* Position on the first key >= key. */
int sn__kv_iter_seek(sn__kv_iter *it, MDB_txn *txn, MDB_dbi dbi,
		     const void *key, size_t klen);
int sn__kv_iter_next(sn__kv_iter *it);
void sn__kv_iter_close(sn__kv_iter *it);

/* Look a key up: SN_OK (kv filled, pointers into LMDB), SN_ENOTFOUND. */
int sn__kv_get(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
	       sn__store_kv *kv);
/*
 * Put a key at revision rev. When prev is not NULL and the key existed,
 * its old kv is appended to w as a result kv and *had_prev set.
 */
int sn__kv_put(sn__store *st, MDB_txn *txn, const sn__store_op *op,
	       uint64_t rev, sn__wbuf *prev, bool *had_prev);
/* Delete one key (SN_ENOTFOUND when absent). */
int sn__kv_del(sn__store *st, MDB_txn *txn, const void *key, size_t klen);
/* Delete [key, end); *deleted = how many; their kvs appended to prev
 * (as result kvs) unless prev is NULL. */
int sn__kv_delete_range(sn__store *st, MDB_txn *txn, const void *key,
			size_t klen, const void *end, size_t elen,
			sn__wbuf *prev, uint64_t *deleted);

/*
 * Encode a RANGE response of [key, end) into w (as sn__res_resp does):
 * limit 0 = all, SN__STORE_KEYS_ONLY / SN__STORE_COUNT_ONLY.
 */
int sn__kv_range(sn__wbuf *w, MDB_txn *txn, MDB_dbi dbi, const void *key,
		 size_t klen, const void *end, size_t elen, uint64_t limit,
		 unsigned flags);

#endif
