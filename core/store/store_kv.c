/*
 * core/store/store_kv.c - user keys on LMDB: buckets of keys sharing their
 * first SN__STORE_PREFIX bytes (see store_impl.h), an iterator over user
 * keys in order, and point get / put / delete / delete-range / range.
 */
#define _POSIX_C_SOURCE 200809L /* pthread_rwlock_t */
#include "store_impl.h"

/* One parsed bucket entry. */
typedef struct bentry {
	uint32_t slen, vlen;
	uint64_t create, mod, version, lease;
	const uint8_t *suffix, *value;
	size_t size; /* bytes of the whole entry */
} bentry;

/* Parse the entry at `off` of a bucket; false if it does not fit. */
static bool bentry_at(const MDB_val *v, size_t off, bentry *e)
{
	sn__reader r = { (const uint8_t *)v->mv_data + off, v->mv_size - off,
			 false };

	if (off >= v->mv_size)
		return false;
	e->slen = sn__get_u32(&r);
	e->vlen = sn__get_u32(&r);
	e->create = sn__get_u64(&r);
	e->mod = sn__get_u64(&r);
	e->version = sn__get_u64(&r);
	e->lease = sn__get_u64(&r);
	e->suffix = sn__get_bytes(&r, e->slen);
	e->value = sn__get_bytes(&r, e->vlen);
	e->size = SN__BUCKET_HDR + (size_t)e->slen + e->vlen;
	return !r.bad;
}

static void bentry_put(sn__wbuf *w, const void *suffix, uint32_t slen,
		       const void *value, uint32_t vlen, uint64_t create,
		       uint64_t mod, uint64_t version, uint64_t lease)
{
	sn__wbuf_u32(w, slen);
	sn__wbuf_u32(w, vlen);
	sn__wbuf_u64(w, create);
	sn__wbuf_u64(w, mod);
	sn__wbuf_u64(w, version);
	sn__wbuf_u64(w, lease);
	sn__wbuf_bytes(w, suffix, slen);
	sn__wbuf_bytes(w, value, vlen);
}

static int corrupt(void)
{
	return sn__err(SN_ECORRUPT, "store: a key bucket does not parse");
}

static size_t prefix_len(size_t klen)
{
	return klen < SN__STORE_PREFIX ? klen : SN__STORE_PREFIX;
}

/* ---- iterator --------------------------------------------------------- */

/* Fill it->kv from the entry at it->off, moving to later buckets when the
 * current one is exhausted. */
static int iter_load(sn__kv_iter *it)
{
	bentry e;
	int rc;

	while (it->off >= it->v.mv_size) {
		rc = mdb_cursor_get(it->cur, &it->k, &it->v, MDB_NEXT);
		if (rc == MDB_NOTFOUND) {
			it->valid = false;
			return SN_OK;
		}
		if (rc != 0)
			return sn__store_mdb_err(rc, "store: key iteration");
		it->off = 0;
	}
	if (!bentry_at(&it->v, it->off, &e))
		return corrupt();
	it->kv.create_revision = e.create;
	it->kv.mod_revision = e.mod;
	it->kv.version = e.version;
	it->kv.lease = e.lease;
	it->kv.value = e.value;
	it->kv.vlen = e.vlen;
	if (e.slen == 0) {
		it->kv.key = it->k.mv_data;
		it->kv.klen = it->k.mv_size;
	} else {
		sn__wbuf w = { &it->keybuf, false };
		it->keybuf.size = 0;
		sn__wbuf_bytes(&w, it->k.mv_data, it->k.mv_size);
		sn__wbuf_bytes(&w, e.suffix, e.slen);
		if (w.oom)
			return sn__err(SN_ENOMEM, "store: out of memory");
		it->kv.key = it->keybuf.ptr;
		it->kv.klen = it->keybuf.size;
	}
	it->valid = true;
	return SN_OK;
}

int sn__kv_iter_seek(sn__kv_iter *it, MDB_txn *txn, MDB_dbi dbi,
		     const void *key, size_t klen)
{
	int rc;

	memset(it, 0, sizeof *it);
	rc = mdb_cursor_open(txn, dbi, &it->cur);
	if (rc != 0)
		return sn__store_mdb_err(rc, "store: cursor");
	it->k.mv_data = (void *)key;
	it->k.mv_size = prefix_len(klen);
	rc = mdb_cursor_get(it->cur, &it->k, &it->v, MDB_SET_RANGE);
	if (rc == MDB_NOTFOUND)
		return SN_OK;
	if (rc != 0)
		return sn__store_mdb_err(rc, "store: key seek");
	if ((rc = iter_load(it)) != SN_OK)
		return rc;
	/* The bucket may start with keys below `key`. */
	while (it->valid &&
	       sn__bytes_cmp(it->kv.key, it->kv.klen, key, klen) < 0)
		if ((rc = sn__kv_iter_next(it)) != SN_OK)
			return rc;
	return SN_OK;
}

int sn__kv_iter_next(sn__kv_iter *it)
{
	bentry e;

	if (!it->valid)
		return SN_OK;
	if (!bentry_at(&it->v, it->off, &e))
		return corrupt();
	it->off += e.size;
	return iter_load(it);
}

void sn__kv_iter_close(sn__kv_iter *it)
{
	if (it->cur)
		mdb_cursor_close(it->cur);
	it->cur = NULL;
	sn_buf_dispose(&it->keybuf);
}

/* Is the iterator's key still inside [key, end)? */
static bool in_range(const sn__kv_iter *it, const void *key, size_t klen,
		     const void *end, size_t elen)
{
	if (!it->valid)
		return false;
	switch (sn__end_kind_of(elen, end)) {
	case SN__END_KEY:
		return sn__bytes_cmp(it->kv.key, it->kv.klen, key, klen) == 0;
	case SN__END_INF:
		return true;
	default:
		return sn__bytes_cmp(it->kv.key, it->kv.klen, end, elen) < 0;
	}
}

/* ---- point operations ------------------------------------------------- */

/* Find the entry of `key` in its bucket *v: its offset, or -1. */
static int bucket_find(const MDB_val *v, const void *key, size_t klen,
		       bentry *e, size_t *at)
{
	const uint8_t *suffix = (const uint8_t *)key + prefix_len(klen);
	size_t slen = klen - prefix_len(klen);

	for (size_t off = 0; off < v->mv_size; off += e->size) {
		int c;
		if (!bentry_at(v, off, e))
			return corrupt();
		c = sn__bytes_cmp(e->suffix, e->slen, suffix, slen);
		if (c == 0) {
			*at = off;
			return SN_OK;
		}
		if (c > 0)
			break;
	}
	return SN_ENOTFOUND;
}

int sn__kv_get(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
	       sn__store_kv *kv)
{
	MDB_val k = { prefix_len(klen), (void *)key }, v;
	bentry e;
	size_t at;
	int rc = mdb_get(txn, dbi, &k, &v);

	if (rc == MDB_NOTFOUND)
		return SN_ENOTFOUND;
	if (rc != 0)
		return sn__store_mdb_err(rc, "store: get");
	if ((rc = bucket_find(&v, key, klen, &e, &at)) != SN_OK)
		return rc;
	kv->key = key;
	kv->klen = klen;
	kv->value = e.value;
	kv->vlen = e.vlen;
	kv->create_revision = e.create;
	kv->mod_revision = e.mod;
	kv->version = e.version;
	kv->lease = e.lease;
	return SN_OK;
}

/* Write the rebuilt bucket, or delete it when empty. */
static int bucket_store(MDB_txn *txn, MDB_dbi dbi, MDB_val *k,
			const sn__wbuf *w)
{
	MDB_val v = { w->b->size, w->b->ptr };
	int rc;

	if (w->oom)
		return sn__err(SN_ENOMEM, "store: out of memory");
	rc = v.mv_size ? mdb_put(txn, dbi, k, &v, 0) : mdb_del(txn, dbi, k,
								NULL);
	return rc ? sn__store_mdb_err(rc, "store: write") : SN_OK;
}

int sn__kv_put(sn__store *st, MDB_txn *txn, const sn__store_op *op,
	       uint64_t rev, sn__wbuf *prev, bool *had_prev)
{
	size_t plen = prefix_len(op->klen);
	const uint8_t *suffix = (const uint8_t *)op->key + plen;
	uint32_t slen = (uint32_t)(op->klen - plen);
	MDB_val k = { plen, (void *)op->key }, v = { 0, NULL };
	sn__wbuf w = { &st->bucket, false };
	bool placed = false;
	bentry e;
	int rc = mdb_get(txn, st->kv, &k, &v);

	if (rc != 0 && rc != MDB_NOTFOUND)
		return sn__store_mdb_err(rc, "store: get");
	if (had_prev)
		*had_prev = false;
	st->bucket.size = 0;
	/* v stays valid until the mdb_put below. */
	for (size_t off = 0; off < v.mv_size; off += e.size) {
		int c;
		if (!bentry_at(&v, off, &e))
			return corrupt();
		c = sn__bytes_cmp(e.suffix, e.slen, suffix, slen);
		if (c > 0 && !placed) {
			bentry_put(&w, suffix, slen, op->value,
				   (uint32_t)op->vlen, rev, rev, 1, op->lease);
			placed = true;
		}
		if (c != 0) {
			sn__wbuf_bytes(&w, (const uint8_t *)v.mv_data + off,
				       e.size);
			continue;
		}
		bentry_put(&w, suffix, slen, op->value, (uint32_t)op->vlen,
			   e.create, rev, e.version + 1, op->lease);
		placed = true;
		if (prev) {
			sn__store_kv kv = { op->key, op->klen, e.value, e.vlen,
					    e.create, e.mod, e.version,
					    e.lease };
			sn__res_kv(prev, &kv);
		}
		if (had_prev)
			*had_prev = true;
	}
	if (!placed)
		bentry_put(&w, suffix, slen, op->value, (uint32_t)op->vlen,
			   rev, rev, 1, op->lease);
	return bucket_store(txn, st->kv, &k, &w);
}

int sn__kv_del(sn__store *st, MDB_txn *txn, const void *key, size_t klen)
{
	MDB_val k = { prefix_len(klen), (void *)key }, v;
	sn__wbuf w = { &st->bucket, false };
	bentry e;
	size_t at;
	int rc = mdb_get(txn, st->kv, &k, &v);

	if (rc == MDB_NOTFOUND)
		return SN_ENOTFOUND;
	if (rc != 0)
		return sn__store_mdb_err(rc, "store: get");
	if ((rc = bucket_find(&v, key, klen, &e, &at)) != SN_OK)
		return rc;
	st->bucket.size = 0;
	sn__wbuf_bytes(&w, v.mv_data, at);
	sn__wbuf_bytes(&w, (const uint8_t *)v.mv_data + at + e.size,
		       v.mv_size - at - e.size);
	return bucket_store(txn, st->kv, &k, &w);
}

int sn__kv_delete_range(sn__store *st, MDB_txn *txn, const void *key,
			size_t klen, const void *end, size_t elen,
			sn__wbuf *prev, uint64_t *deleted)
{
	sn__wbuf keys = { &st->keys, false };
	sn__kv_iter it;
	uint64_t n = 0;
	int rv;

	/* Collect first: deleting rewrites the buckets under the cursor. */
	st->keys.size = 0;
	rv = sn__kv_iter_seek(&it, txn, st->kv, key, klen);
	while (rv == SN_OK && in_range(&it, key, klen, end, elen)) {
		sn__wbuf_u32(&keys, (uint32_t)it.kv.klen);
		sn__wbuf_bytes(&keys, it.kv.key, it.kv.klen);
		if (prev)
			sn__res_kv(prev, &it.kv);
		n++;
		rv = sn__kv_iter_next(&it);
	}
	sn__kv_iter_close(&it);
	if (rv != SN_OK)
		return rv;
	if (keys.oom)
		return sn__err(SN_ENOMEM, "store: out of memory");
	for (size_t off = 0; off < st->keys.size;) {
		const uint8_t *p = (const uint8_t *)st->keys.ptr + off;
		uint32_t len = (uint32_t)p[0] | (uint32_t)p[1] << 8 |
			       (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
		if ((rv = sn__kv_del(st, txn, p + 4, len)) != SN_OK)
			return rv;
		off += 4 + (size_t)len;
	}
	*deleted = n;
	return SN_OK;
}

int sn__kv_range(sn__wbuf *w, MDB_txn *txn, MDB_dbi dbi, const void *key,
		 size_t klen, const void *end, size_t elen, uint64_t limit,
		 unsigned flags)
{
	size_t at = sn__res_resp(w, SN__STORE_OP_RANGE);
	bool count_only = flags & SN__STORE_COUNT_ONLY;
	uint64_t count = 0;
	uint32_t n = 0;
	sn__kv_iter it;
	int rv = sn__kv_iter_seek(&it, txn, dbi, key, klen);

	while (rv == SN_OK && in_range(&it, key, klen, end, elen)) {
		count++;
		if (!count_only && (limit == 0 || n < limit)) {
			sn__store_kv kv = it.kv;
			if (flags & SN__STORE_KEYS_ONLY) {
				kv.value = NULL;
				kv.vlen = 0;
			}
			sn__res_kv(w, &kv);
			n++;
		}
		rv = sn__kv_iter_next(&it);
	}
	sn__kv_iter_close(&it);
	if (rv != SN_OK)
		return rv;
	if (w->oom)
		return sn__err(SN_ENOMEM, "store: out of memory");
	sn__res_resp_patch(w->b, at, count, !count_only && count > n, n);
	return SN_OK;
}
