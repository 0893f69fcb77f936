/*
 * core/store/store_cmd.c - the encoding of store commands (the bytes of log
 * entries) and of their results. Decoding never trusts a length or a count:
 * commands come from the log, i.e. from clients through the leader.
 *
 * Command = [u8 magic][u8 type][u64 client_id][u64 seq] body
 *   PUT / DELETE: one op body
 *   TXN:          [u32 n_cmps] cmps [u32 n_success] ops [u32 n_failure] ops
 * op  = [u8 type] then
 *   PUT:    [u32 klen][key][u32 vlen][value][u64 lease][u8 flags: 1 prev_kv]
 *   DELETE: [u32 klen][key][u32 elen][end][u8 flags: 1 prev_kv]
 *   RANGE:  [u32 klen][key][u32 elen][end][u64 limit]
 *           [u8 flags: 2 keys_only, 4 count_only]
 * cmp = [u8 target][u8 result][u32 klen][key]
 *       then VALUE: [u32 vlen][value], others: [u64 number]
 * A PUT / DELETE command's op carries no type byte (the command type says).
 */
#include "store_codec.h"

#define FLAG_PREV_KV 1u
#define FLAG_KEYS_ONLY 2u
#define FLAG_COUNT_ONLY 4u

/* ---- writer ---------------------------------------------------------- */

uint8_t *sn__wbuf_reserve(sn__wbuf *w, size_t n)
{
	sn_buf *b = w->b;
	uint8_t *p;

	if (w->oom)
		return NULL;
	if (n > SIZE_MAX - b->size ||
	    sn__grow(&b->ptr, &b->reserved, b->size + n, 1) != SN_OK) {
		w->oom = true;
		return NULL;
	}
	p = (uint8_t *)b->ptr + b->size;
	b->size += n;
	return p;
}

void sn__wbuf_bytes(sn__wbuf *w, const void *p, size_t n)
{
	uint8_t *d = sn__wbuf_reserve(w, n);
	if (d && n)
		memcpy(d, p, n);
}

void sn__wbuf_u8(sn__wbuf *w, uint8_t v)
{
	uint8_t *d = sn__wbuf_reserve(w, 1);
	if (d)
		sn__put_u8(d, v);
}

void sn__wbuf_u32(sn__wbuf *w, uint32_t v)
{
	uint8_t *d = sn__wbuf_reserve(w, 4);
	if (d)
		sn__put_u32(d, v);
}

void sn__wbuf_u64(sn__wbuf *w, uint64_t v)
{
	uint8_t *d = sn__wbuf_reserve(w, 8);
	if (d)
		sn__put_u64(d, v);
}

int sn__bytes_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n ? memcmp(a, b, n) : 0;

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

sn__end_kind sn__end_kind_of(size_t elen, const void *end)
{
	if (elen == 0)
		return SN__END_KEY;
	if (elen == 1 && ((const uint8_t *)end)[0] == 0)
		return SN__END_INF;
	return SN__END_BOUND;
}

/* ---- command encoders ------------------------------------------------ */

static int check_op(const sn__store_op *op, const char *where)
{
	if (op->type < SN__STORE_OP_PUT || op->type > SN__STORE_OP_RANGE)
		return sn__err(SN_EINVAL, "store %s: unknown op type %u",
			       where, op->type);
	if (op->klen > SN__STORE_KEY_HARD_MAX ||
	    op->elen > SN__STORE_KEY_HARD_MAX)
		return sn__err(SN_ETOOLARGE,
			       "store %s: key of %zu bytes exceeds the hard "
			       "bound of %u", where,
			       op->klen > op->elen ? op->klen : op->elen,
			       SN__STORE_KEY_HARD_MAX);
	if (op->type == SN__STORE_OP_PUT &&
	    op->vlen > SN__STORE_VALUE_HARD_MAX)
		return sn__err(SN_ETOOLARGE,
			       "store %s: value of %zu bytes exceeds the hard "
			       "bound of %u", where, op->vlen,
			       SN__STORE_VALUE_HARD_MAX);
	return SN_OK;
}

static void put_op_body(sn__wbuf *w, const sn__store_op *op)
{
	sn__wbuf_u32(w, (uint32_t)op->klen);
	sn__wbuf_bytes(w, op->key, op->klen);
	switch (op->type) {
	case SN__STORE_OP_PUT:
		sn__wbuf_u32(w, (uint32_t)op->vlen);
		sn__wbuf_bytes(w, op->value, op->vlen);
		sn__wbuf_u64(w, op->lease);
		sn__wbuf_u8(w, op->prev_kv ? FLAG_PREV_KV : 0);
		break;
	case SN__STORE_OP_DELETE:
		sn__wbuf_u32(w, (uint32_t)op->elen);
		sn__wbuf_bytes(w, op->end, op->elen);
		sn__wbuf_u8(w, op->prev_kv ? FLAG_PREV_KV : 0);
		break;
	default:
		sn__wbuf_u32(w, (uint32_t)op->elen);
		sn__wbuf_bytes(w, op->end, op->elen);
		sn__wbuf_u64(w, op->limit);
		sn__wbuf_u8(w, (uint8_t)((op->keys_only ? FLAG_KEYS_ONLY : 0) |
					 (op->count_only ? FLAG_COUNT_ONLY
							 : 0)));
		break;
	}
}

static void put_header(sn__wbuf *w, uint8_t type, uint64_t client_id,
		       uint64_t seq)
{
	w->b->size = 0;
	sn__wbuf_u8(w, SN__STORE_CMD_MAGIC);
	sn__wbuf_u8(w, type);
	sn__wbuf_u64(w, client_id);
	sn__wbuf_u64(w, seq);
}

static int finish(sn__wbuf *w)
{
	if (w->oom) {
		w->b->size = 0;
		return sn__err(SN_ENOMEM, "store command: out of memory");
	}
	return SN_OK;
}

static int cmd_single(sn_buf *out, uint8_t type, uint64_t client_id,
		      uint64_t seq, const sn__store_op *op)
{
	sn__wbuf w = { out, false };
	int rv = check_op(op, "command");

	if (rv != SN_OK)
		return rv;
	put_header(&w, type, client_id, seq);
	put_op_body(&w, op);
	return finish(&w);
}

int sn__store_cmd_put(sn_buf *out, uint64_t client_id, uint64_t seq,
		      const void *key, size_t klen, const void *val,
		      size_t vlen, uint64_t lease, bool prev_kv)
{
	sn__store_op op = { 0 };

	op.type = SN__STORE_OP_PUT;
	op.key = key;
	op.klen = klen;
	op.value = val;
	op.vlen = vlen;
	op.lease = lease;
	op.prev_kv = prev_kv;
	return cmd_single(out, SN__STORE_CMD_PUT, client_id, seq, &op);
}

int sn__store_cmd_delete_range(sn_buf *out, uint64_t client_id, uint64_t seq,
			       const void *key, size_t klen, const void *end,
			       size_t elen, bool prev_kv)
{
	sn__store_op op = { 0 };

	op.type = SN__STORE_OP_DELETE;
	op.key = key;
	op.klen = klen;
	op.end = end;
	op.elen = elen;
	op.prev_kv = prev_kv;
	return cmd_single(out, SN__STORE_CMD_DELETE, client_id, seq, &op);
}

static int check_cmp(const sn__store_cmp *c)
{
	if (c->target < SN__STORE_CMP_VALUE || c->target > SN__STORE_CMP_LEASE)
		return sn__err(SN_EINVAL, "store txn: unknown compare target "
			       "%u", c->target);
	if (c->result < SN__STORE_CMP_EQUAL ||
	    c->result > SN__STORE_CMP_GREATER)
		return sn__err(SN_EINVAL, "store txn: unknown compare result "
			       "%u", c->result);
	if (c->klen > SN__STORE_KEY_HARD_MAX ||
	    (c->target == SN__STORE_CMP_VALUE &&
	     c->vlen > SN__STORE_VALUE_HARD_MAX))
		return sn__err(SN_ETOOLARGE, "store txn: compare key or value "
			       "exceeds the hard bounds");
	return SN_OK;
}

static int put_ops(sn__wbuf *w, const sn__store_op *ops, size_t n)
{
	sn__wbuf_u32(w, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		int rv = check_op(&ops[i], "txn");
		if (rv != SN_OK)
			return rv;
		sn__wbuf_u8(w, ops[i].type);
		put_op_body(w, &ops[i]);
	}
	return SN_OK;
}

int sn__store_cmd_txn(sn_buf *out, uint64_t client_id, uint64_t seq,
		      const sn__store_cmp *cmps, size_t n_cmps,
		      const sn__store_op *success, size_t n_success,
		      const sn__store_op *failure, size_t n_failure)
{
	sn__wbuf w = { out, false };
	int rv;

	if (n_cmps > SN__STORE_MAX_TXN_OPS ||
	    n_success > SN__STORE_MAX_TXN_OPS ||
	    n_failure > SN__STORE_MAX_TXN_OPS)
		return sn__err(SN_EINVAL, "store txn: more than %d compares or "
			       "ops in a branch", SN__STORE_MAX_TXN_OPS);
	put_header(&w, SN__STORE_CMD_TXN, client_id, seq);
	sn__wbuf_u32(&w, (uint32_t)n_cmps);
	for (size_t i = 0; i < n_cmps; i++) {
		const sn__store_cmp *c = &cmps[i];
		if ((rv = check_cmp(c)) != SN_OK)
			goto fail;
		sn__wbuf_u8(&w, c->target);
		sn__wbuf_u8(&w, c->result);
		sn__wbuf_u32(&w, (uint32_t)c->klen);
		sn__wbuf_bytes(&w, c->key, c->klen);
		if (c->target == SN__STORE_CMP_VALUE) {
			sn__wbuf_u32(&w, (uint32_t)c->vlen);
			sn__wbuf_bytes(&w, c->value, c->vlen);
		} else {
			sn__wbuf_u64(&w, c->number);
		}
	}
	if ((rv = put_ops(&w, success, n_success)) != SN_OK ||
	    (rv = put_ops(&w, failure, n_failure)) != SN_OK)
		goto fail;
	return finish(&w);
fail:
	out->size = 0;
	return rv;
}

/* ---- command decoder ------------------------------------------------- */

static int malformed(const char *what)
{
	return sn__err(SN_EMALFORMED, "store command: %s", what);
}

/* A u32 length then that many bytes, at most `max`. */
static bool get_blob(sn__reader *r, const void **p, size_t *n, uint32_t max)
{
	uint32_t len = sn__get_u32(r);

	if (r->bad || len > max || len > r->left) {
		r->bad = true;
		return false;
	}
	*n = len;
	*p = sn__get_bytes(r, len);
	return true;
}

static int get_op_body(sn__reader *r, sn__store_op *op)
{
	uint8_t flags;

	if (!get_blob(r, &op->key, &op->klen, SN__STORE_KEY_HARD_MAX))
		return malformed("truncated or oversized key");
	if (op->type == SN__STORE_OP_PUT) {
		if (!get_blob(r, &op->value, &op->vlen,
			      SN__STORE_VALUE_HARD_MAX))
			return malformed("truncated or oversized value");
		op->lease = sn__get_u64(r);
	} else if (!get_blob(r, &op->end, &op->elen, SN__STORE_KEY_HARD_MAX)) {
		return malformed("truncated or oversized range end");
	}
	if (op->type == SN__STORE_OP_RANGE)
		op->limit = sn__get_u64(r);
	flags = sn__get_u8(r);
	if (r->bad)
		return malformed("truncated op");
	if (op->type == SN__STORE_OP_RANGE) {
		if (flags & ~(FLAG_KEYS_ONLY | FLAG_COUNT_ONLY))
			return malformed("unknown range flags");
		op->keys_only = flags & FLAG_KEYS_ONLY;
		op->count_only = flags & FLAG_COUNT_ONLY;
	} else {
		if (flags & ~FLAG_PREV_KV)
			return malformed("unknown op flags");
		op->prev_kv = flags & FLAG_PREV_KV;
	}
	return SN_OK;
}

static int get_ops(sn__reader *r, sn__store_op *ops, size_t *n)
{
	uint32_t count = sn__get_u32(r);

	if (r->bad)
		return malformed("truncated txn");
	if (count > SN__STORE_MAX_TXN_OPS)
		return malformed("too many ops in a txn branch");
	for (uint32_t i = 0; i < count; i++) {
		sn__store_op *op = &ops[i];
		int rv;
		memset(op, 0, sizeof *op);
		op->type = sn__get_u8(r);
		if (r->bad)
			return malformed("truncated txn op");
		if (op->type < SN__STORE_OP_PUT || op->type > SN__STORE_OP_RANGE)
			return malformed("unknown txn op type");
		if ((rv = get_op_body(r, op)) != SN_OK)
			return rv;
	}
	*n = count;
	return SN_OK;
}

static int get_cmps(sn__reader *r, sn__store_cmd *c)
{
	uint32_t count = sn__get_u32(r);

	if (r->bad)
		return malformed("truncated txn");
	if (count > SN__STORE_MAX_TXN_OPS)
		return malformed("too many compares in a txn");
	for (uint32_t i = 0; i < count; i++) {
		sn__store_cmp *cmp = &c->cmps[i];
		memset(cmp, 0, sizeof *cmp);
		cmp->target = sn__get_u8(r);
		cmp->result = sn__get_u8(r);
		if (r->bad)
			return malformed("truncated compare");
		if (cmp->target < SN__STORE_CMP_VALUE ||
		    cmp->target > SN__STORE_CMP_LEASE)
			return malformed("unknown compare target");
		if (cmp->result < SN__STORE_CMP_EQUAL ||
		    cmp->result > SN__STORE_CMP_GREATER)
			return malformed("unknown compare result");
		if (!get_blob(r, &cmp->key, &cmp->klen, SN__STORE_KEY_HARD_MAX))
			return malformed("truncated or oversized compare key");
		if (cmp->target == SN__STORE_CMP_VALUE) {
			if (!get_blob(r, &cmp->value, &cmp->vlen,
				      SN__STORE_VALUE_HARD_MAX))
				return malformed("truncated or oversized "
						 "compare value");
		} else {
			cmp->number = sn__get_u64(r);
		}
		if (r->bad)
			return malformed("truncated compare");
	}
	c->n_cmps = count;
	return SN_OK;
}

static int decode_body(sn__reader *r, sn__store_cmd *out)
{
	int rv;

	switch (out->type) {
	case SN__STORE_CMD_PUT:
	case SN__STORE_CMD_DELETE:
		out->op.type = out->type == SN__STORE_CMD_PUT
				       ? SN__STORE_OP_PUT
				       : SN__STORE_OP_DELETE;
		rv = get_op_body(r, &out->op);
		break;
	case SN__STORE_CMD_TXN:
		rv = get_cmps(r, out);
		if (rv == SN_OK)
			rv = get_ops(r, out->success, &out->n_success);
		if (rv == SN_OK)
			rv = get_ops(r, out->failure, &out->n_failure);
		break;
	default:
		rv = malformed("unknown command type");
	}
	return rv;
}

int sn__store_cmd_decode(sn__store_cmd *out, const void *data, size_t len)
{
	sn__reader r = { data, len, false };
	uint8_t magic;
	int rv;

	out->type = 0;
	out->n_cmps = out->n_success = out->n_failure = 0;
	memset(&out->op, 0, sizeof out->op);
	magic = sn__get_u8(&r);
	out->type = sn__get_u8(&r);
	out->client_id = sn__get_u64(&r);
	out->seq = sn__get_u64(&r);
	if (r.bad)
		rv = malformed("shorter than its header");
	else if (magic != SN__STORE_CMD_MAGIC)
		rv = malformed("unknown encoding (bad magic byte)");
	else
		rv = decode_body(&r, out);
	if (rv == SN_OK && r.left != 0)
		rv = sn__err(SN_EMALFORMED, "store command: %zu trailing bytes",
			     r.left);
	if (rv != SN_OK)
		out->type = 0; /* nothing half-decoded looks valid */
	return rv;
}

/* ---- results --------------------------------------------------------- */

#define RES_HEAD_REV_AT(msglen) (4 + 4 + (msglen) + 1)

void sn__res_begin(sn__wbuf *w, int status, const char *msg,
		   uint64_t revision, bool succeeded)
{
	size_t mlen = msg ? strlen(msg) : 0;

	w->b->size = 0;
	sn__wbuf_u32(w, (uint32_t)status);
	sn__wbuf_u32(w, (uint32_t)mlen);
	sn__wbuf_bytes(w, msg, mlen);
	sn__wbuf_u8(w, 0);
	sn__wbuf_u64(w, revision);
	sn__wbuf_u8(w, succeeded ? 1 : 0);
	sn__wbuf_u32(w, 0);
}

void sn__res_patch(sn_buf *b, uint64_t revision, bool succeeded,
		   uint32_t n_resps)
{
	uint8_t *p = b->ptr;
	sn__reader r = { p, b->size, false };
	size_t at;

	sn__get_u32(&r);
	at = RES_HEAD_REV_AT(sn__get_u32(&r));
	p = sn__put_u64(p + at, revision);
	p = sn__put_u8(p, succeeded ? 1 : 0);
	sn__put_u32(p, n_resps);
}

size_t sn__res_resp(sn__wbuf *w, uint8_t type)
{
	size_t at;

	sn__wbuf_u8(w, type);
	sn__wbuf_u64(w, 0);
	sn__wbuf_u8(w, 0);
	at = w->b->size;
	sn__wbuf_u32(w, 0);
	return at;
}

void sn__res_resp_patch(sn_buf *b, size_t at, uint64_t count, bool more,
			uint32_t n_kvs)
{
	uint8_t *p = (uint8_t *)b->ptr + at - 9;

	p = sn__put_u64(p, count);
	p = sn__put_u8(p, more ? 1 : 0);
	sn__put_u32(p, n_kvs);
}

void sn__res_kv(sn__wbuf *w, const sn__store_kv *kv)
{
	sn__wbuf_u32(w, (uint32_t)kv->klen);
	sn__wbuf_bytes(w, kv->key, kv->klen);
	sn__wbuf_u8(w, kv->value ? 1 : 0);
	sn__wbuf_u32(w, (uint32_t)(kv->value ? kv->vlen : 0));
	if (kv->value)
		sn__wbuf_bytes(w, kv->value, kv->vlen);
	sn__wbuf_u64(w, kv->create_revision);
	sn__wbuf_u64(w, kv->mod_revision);
	sn__wbuf_u64(w, kv->version);
	sn__wbuf_u64(w, kv->lease);
}

static bool get_kv(sn__reader *r, sn__store_kv *kv)
{
	const void *p;
	uint8_t has;

	if (!get_blob(r, &p, &kv->klen, UINT32_MAX))
		return false;
	kv->key = p;
	has = sn__get_u8(r);
	if (!get_blob(r, &p, &kv->vlen, UINT32_MAX) || has > 1)
		return false;
	kv->value = has ? p : NULL;
	kv->create_revision = sn__get_u64(r);
	kv->mod_revision = sn__get_u64(r);
	kv->version = sn__get_u64(r);
	kv->lease = sn__get_u64(r);
	return !r->bad;
}

/* One response: header then kvs into a fresh array. */
static bool get_resp(sn__reader *r, sn__store_resp *resp)
{
	uint8_t more;
	uint32_t n;

	resp->type = sn__get_u8(r);
	resp->count = sn__get_u64(r);
	more = sn__get_u8(r);
	n = sn__get_u32(r);
	/* Each kv takes at least 41 bytes: bounds the allocation. */
	if (r->bad || more > 1 || n > r->left / 41)
		return false;
	resp->more = more;
	resp->kvs = n ? sn__calloc(n, sizeof *resp->kvs) : NULL;
	if (n && !resp->kvs)
		return false;
	resp->n_kvs = n;
	for (uint32_t i = 0; i < n; i++)
		if (!get_kv(r, &resp->kvs[i]))
			return false;
	return true;
}

static void free_resps(sn__store_resp *resps, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sn__free(resps[i].kvs);
	sn__free(resps);
}

int sn__res_decode(sn__store_result *res)
{
	sn__reader r = { res->raw.ptr, res->raw.size, false };
	const void *msg;
	size_t mlen;
	uint32_t n;
	uint8_t flags;

	res->status = (int)sn__get_u32(&r);
	/* The message is followed by a NUL, so it points into raw. */
	if (!get_blob(&r, &msg, &mlen, 4096) || sn__get_u8(&r) != 0)
		goto bad;
	res->revision = sn__get_u64(&r);
	flags = sn__get_u8(&r);
	n = sn__get_u32(&r);
	if (r.bad || flags > 1 || n > r.left / 14)
		goto bad;
	res->succeeded = flags & 1;
	res->message = msg;
	res->resps = n ? sn__calloc(n, sizeof *res->resps) : NULL;
	if (n && !res->resps)
		return sn__err(SN_ENOMEM, "store result: out of memory");
	res->n_resps = n;
	for (uint32_t i = 0; i < n; i++)
		if (!get_resp(&r, &res->resps[i]))
			goto bad;
	if (r.left != 0)
		goto bad;
	return SN_OK;
bad:
	free_resps(res->resps, res->n_resps);
	res->resps = NULL;
	res->n_resps = 0;
	res->message = "";
	return sn__err(SN_ECORRUPT, "store: a stored result does not decode");
}

int sn__store_result_decode(sn__store_result *out, const void *data,
			    size_t len)
{
	memset(out, 0, sizeof *out);
	out->message = "";
	if (len && sn_buf_append(&out->raw, data, len) != SN_OK)
		return sn__err(SN_ENOMEM, "store result: out of memory");
	if (sn__res_decode(out) != SN_OK)
		return sn__err(SN_EMALFORMED,
			       "store: %zu bytes are not a store result", len);
	return SN_OK;
}

void sn__store_result_dispose(sn__store_result *r)
{
	if (!r)
		return;
	free_resps(r->resps, r->n_resps);
	sn_buf_dispose(&r->raw);
	memset(r, 0, sizeof *r);
	r->message = "";
}

int sn__read_decode(sn__store_read *out)
{
	sn__reader r = { out->raw.ptr, out->raw.size, false };
	sn__store_resp resp = { 0 };

	if (!get_resp(&r, &resp) || r.left != 0) {
		sn__free(resp.kvs);
		return sn__err(SN_ECORRUPT, "store: a read does not decode");
	}
	out->kvs = resp.kvs;
	out->n_kvs = resp.n_kvs;
	out->count = resp.count;
	out->more = resp.more;
	return SN_OK;
}

void sn__store_read_dispose(sn__store_read *r)
{
	if (!r)
		return;
	sn__free(r->kvs);
	sn_buf_dispose(&r->raw);
	memset(r, 0, sizeof *r);
}
