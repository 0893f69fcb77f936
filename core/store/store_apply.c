/*
 * core/store/store_apply.c - applying committed entries: one LMDB write
 * transaction per batch; per entry the client dedup check, validation
 * against the limits, then the command itself. Everything here must be a
 * function of the entries and the store's contents alone (no clock, no
 * randomness, no batch boundaries), so that replicas agree.
 */
#define _POSIX_C_SOURCE 200809L /* pthread_rwlock_t */
#include "store_impl.h"

#include <stdio.h>

/* The state of the batch being applied. */
typedef struct batch {
	sn__store *st;
	MDB_txn *txn;
	uint64_t revision; /* current revision inside the txn */
} batch;

/* ---- dedup table ------------------------------------------------------- */

static void be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t from_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Forget the clients idle for more than client_idle entries before
 * `index`. Run before every entry, so batch boundaries do not matter. */
static int evict_idle(batch *b, uint64_t index)
{
	sn__store *st = b->st;
	MDB_cursor *cur;
	MDB_val k, v;
	int rv = SN_OK;
	int rc = mdb_cursor_open(b->txn, st->idle, &cur);

	if (rc != 0)
		return sn__store_mdb_err(rc, "store: idle cursor");
	for (;;) {
		uint8_t id[8];
		MDB_val ck = { 8, id };
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		if (rc != 0)
			break;
		if (k.mv_size != 16) {
			rv = sn__err(SN_ECORRUPT, "store: bad idle record");
			break;
		}
		/* Entries hold increasing indexes: last < index. */
		if (index - from_be64(k.mv_data) <= st->client_idle)
			break;
		memcpy(id, (uint8_t *)k.mv_data + 8, 8);
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
		rc = mdb_del(b->txn, st->clients, &ck, NULL);
		if (rc != 0 && rc != MDB_NOTFOUND)
			break;
	}
	mdb_cursor_close(cur);
	if (rv == SN_OK && rc != 0 && rc != MDB_NOTFOUND)
		rv = sn__store_mdb_err(rc, "store: evict clients");
	return rv;
}

/*
 * A known client's record: SN_OK with *seq, *last_index and the stored
 * result, or SN_ENOTFOUND.
 */
static int client_get(batch *b, uint64_t client, uint64_t *seq,
		      uint64_t *last, MDB_val *result)
{
	uint8_t id[8];
	MDB_val k = { 8, id }, v;
	int rc;

	be64(id, client);
	rc = mdb_get(b->txn, b->st->clients, &k, &v);
	if (rc == MDB_NOTFOUND)
		return SN_ENOTFOUND;
	if (rc != 0)
		return sn__store_mdb_err(rc, "store: client table");
	if (v.mv_size < 16)
		return sn__err(SN_ECORRUPT, "store: bad client record");
	*seq = sn__get_u64(&(sn__reader){ v.mv_data, 8, false });
	*last = sn__get_u64(&(sn__reader){ (uint8_t *)v.mv_data + 8, 8,
					   false });
	result->mv_data = (uint8_t *)v.mv_data + 16;
	result->mv_size = v.mv_size - 16;
	return SN_OK;
}

/* Record {seq, index, result} for the client; move it in the idle order. */
static int client_put(batch *b, uint64_t client, uint64_t seq,
		      uint64_t index, const sn_buf *result)
{
	sn__store *st = b->st;
	uint8_t id[8], ik[16];
	MDB_val k = { 8, id }, v, idk = { 16, ik }, empty = { 0, NULL };
	uint64_t oseq, olast;
	MDB_val ores;
	int rc = client_get(b, client, &oseq, &olast, &ores);

	if (rc != SN_OK && rc != SN_ENOTFOUND)
		return rc;
	if (rc == SN_OK) {
		be64(ik, olast);
		be64(ik + 8, client);
		rc = mdb_del(b->txn, st->idle, &idk, NULL);
		if (rc != 0 && rc != MDB_NOTFOUND)
			return sn__store_mdb_err(rc, "store: idle table");
	}
	be64(id, client);
	v.mv_size = 16 + result->size;
	if ((rc = mdb_put(b->txn, st->clients, &k, &v, MDB_RESERVE)) != 0)
		return sn__store_mdb_err(rc, "store: client table");
	sn__put_u64(sn__put_u64(v.mv_data, seq), index);
	if (result->size)
		memcpy((uint8_t *)v.mv_data + 16, result->ptr, result->size);
	be64(ik, index);
	be64(ik + 8, client);
	if ((rc = mdb_put(b->txn, st->idle, &idk, &empty, 0)) != 0)
		return sn__store_mdb_err(rc, "store: idle table");
	return SN_OK;
}

/* ---- validation -------------------------------------------------------- */

/* Check a key (and a range end) against the limits; msg gets the reason. */
static int check_key(const sn__store *st, const char *what, size_t klen,
		     size_t elen, char *msg, size_t cap)
{
	if (klen == 0) {
		snprintf(msg, cap, "%s: empty key", what);
		return SN_EINVAL;
	}
	if (klen > st->max_key || elen > st->max_key) {
		snprintf(msg, cap, "%s: key of %zu bytes exceeds the limit "
			 "of %u", what, klen > elen ? klen : elen,
			 st->max_key);
		return SN_ETOOLARGE;
	}
	return SN_OK;
}

static int check_op(const sn__store *st, const sn__store_op *op, char *msg,
		    size_t cap)
{
	static const char *names[] = { "", "put", "delete", "range" };
	int rv = check_key(st, names[op->type], op->klen, op->elen, msg, cap);

	if (rv == SN_OK && op->type == SN__STORE_OP_PUT &&
	    op->vlen > st->max_value) {
		snprintf(msg, cap, "put: value of %zu bytes exceeds the limit "
			 "of %u", op->vlen, st->max_value);
		rv = SN_ETOOLARGE;
	}
	return rv;
}

/* The whole command, before anything runs: a refused one changes nothing. */
static int check_cmd(const sn__store *st, const sn__store_cmd *c, char *msg,
		     size_t cap)
{
	int rv;

	if (c->type != SN__STORE_CMD_TXN)
		return check_op(st, &c->op, msg, cap);
	for (size_t i = 0; i < c->n_cmps; i++) {
		const sn__store_cmp *cmp = &c->cmps[i];
		if ((rv = check_key(st, "compare", cmp->klen, 0, msg, cap)))
			return rv;
		if (cmp->target == SN__STORE_CMP_VALUE &&
		    cmp->vlen > st->max_value) {
			snprintf(msg, cap, "compare: value of %zu bytes "
				 "exceeds the limit of %u", cmp->vlen,
				 st->max_value);
			return SN_ETOOLARGE;
		}
	}
	for (size_t i = 0; i < c->n_success; i++)
		if ((rv = check_op(st, &c->success[i], msg, cap)))
			return rv;
	for (size_t i = 0; i < c->n_failure; i++)
		if ((rv = check_op(st, &c->failure[i], msg, cap)))
			return rv;
	return SN_OK;
}

/* ---- execution --------------------------------------------------------- */

static int cmp3(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b;
}

static int compare_holds(batch *b, const sn__store_cmp *c, bool *holds)
{
	sn__store_kv kv = { 0 };
	int rv = sn__kv_get(b->txn, b->st->kv, c->key, c->klen, &kv);
	int r;

	if (rv != SN_OK && rv != SN_ENOTFOUND)
		return rv;
	if (rv == SN_ENOTFOUND && c->target == SN__STORE_CMP_VALUE) {
		*holds = false; /* as etcd: no value to compare */
		return SN_OK;
	}
	switch (c->target) {
	case SN__STORE_CMP_VALUE:
		r = sn__bytes_cmp(kv.value, kv.vlen, c->value, c->vlen);
		break;
	case SN__STORE_CMP_VERSION:
		r = cmp3(kv.version, c->number);
		break;
	case SN__STORE_CMP_CREATE:
		r = cmp3(kv.create_revision, c->number);
		break;
	case SN__STORE_CMP_MOD:
		r = cmp3(kv.mod_revision, c->number);
		break;
	default:
		r = cmp3(kv.lease, c->number);
		break;
	}
	switch (c->result) {
	case SN__STORE_CMP_EQUAL: *holds = r == 0; break;
	case SN__STORE_CMP_NOT_EQUAL: *holds = r != 0; break;
	case SN__STORE_CMP_LESS: *holds = r < 0; break;
	default: *holds = r > 0; break;
	}
	return SN_OK;
}

/* Run one op at revision `rev`, appending its response to w. */
static int run_op(batch *b, sn__wbuf *w, const sn__store_op *op, uint64_t rev,
		  bool *changed)
{
	size_t at;
	uint64_t n = 0;
	bool had = false;
	int rv;

	switch (op->type) {
	case SN__STORE_OP_PUT:
		at = sn__res_resp(w, SN__STORE_OP_PUT);
		rv = sn__kv_put(b->st, b->txn, op, rev,
				op->prev_kv ? w : NULL, &had);
		*changed = true;
		if (rv == SN_OK && !w->oom)
			sn__res_resp_patch(w->b, at, 0, false,
					   op->prev_kv && had ? 1 : 0);
		return rv;
	case SN__STORE_OP_DELETE:
		at = sn__res_resp(w, SN__STORE_OP_DELETE);
		rv = sn__kv_delete_range(b->st, b->txn, op->key, op->klen,
					 op->end, op->elen,
					 op->prev_kv ? w : NULL, &n);
		if (n)
			*changed = true;
		if (rv == SN_OK && !w->oom)
			sn__res_resp_patch(w->b, at, n, false,
					   op->prev_kv ? (uint32_t)n : 0);
		return rv;
	default:
		return sn__kv_range(w, b->txn, b->st->kv, op->key, op->klen,
				    op->end, op->elen, op->limit,
				    (op->keys_only ? SN__STORE_KEYS_ONLY : 0) |
				    (op->count_only ? SN__STORE_COUNT_ONLY
						    : 0));
	}
}

/*
 * Run a valid command, encoding its result into w. Every write of the
 * command carries revision+1; the revision moves only if something changed.
 */
static int run_cmd(batch *b, sn__wbuf *w, const sn__store_cmd *c)
{
	uint64_t rev = b->revision + 1;
	const sn__store_op *ops = &c->op;
	size_t n = 1;
	bool changed = false, ok = true;
	int rv;

	sn__res_begin(w, SN_OK, "", 0, false);
	if (c->type == SN__STORE_CMD_TXN) {
		for (size_t i = 0; i < c->n_cmps && ok; i++)
			if ((rv = compare_holds(b, &c->cmps[i], &ok)) != SN_OK)
				return rv;
		ops = ok ? c->success : c->failure;
		n = ok ? c->n_success : c->n_failure;
	}
	for (size_t i = 0; i < n; i++)
		if ((rv = run_op(b, w, &ops[i], rev, &changed)) != SN_OK)
			return rv;
	if (changed)
		b->revision = rev;
	if (w->oom)
		return sn__err(SN_ENOMEM, "store: out of memory");
	sn__res_patch(w->b, b->revision, c->type == SN__STORE_CMD_TXN && ok,
		      (uint32_t)n);
	return SN_OK;
}

/* The encoded result of a refused command. */
static int refuse(batch *b, sn__wbuf *w, int code, const char *msg)
{
	sn__res_begin(w, code, msg, b->revision, false);
	return w->oom ? sn__err(SN_ENOMEM, "store: out of memory") : SN_OK;
}

/* Apply one entry (index > applied); its encoded result goes to out. */
static int apply_one(batch *b, const sn_entry *e, sn_buf *out, bool *dup)
{
	sn__store *st = b->st;
	sn__store_cmd *c = st->cmd;
	sn__wbuf w = { out, false };
	char msg[256];
	uint64_t seq = 0, last = 0;
	MDB_val stored;
	int rv;

	*dup = false;
	if ((rv = evict_idle(b, e->index)) != SN_OK)
		return rv;
	if (e->type == SN_ENTRY_NOOP)
		return refuse(b, &w, SN_OK, "");
	if (e->type != SN_ENTRY_NORMAL) {
		snprintf(msg, sizeof msg, "entry of unknown type %u", e->type);
		return refuse(b, &w, SN_EMALFORMED, msg);
	}
	if (sn__store_cmd_decode(c, e->data, e->len) != SN_OK)
		return refuse(b, &w, SN_EMALFORMED, sn_errmsg());
	if (c->client_id) {
		rv = client_get(b, c->client_id, &seq, &last, &stored);
		if (rv != SN_OK && rv != SN_ENOTFOUND)
			return rv;
		if (rv == SN_OK && c->seq == seq) {
			*dup = true;
			out->size = 0;
			sn__wbuf_bytes(&w, stored.mv_data, stored.mv_size);
			return w.oom ? sn__err(SN_ENOMEM, "store: out of "
					       "memory")
				     : SN_OK;
		}
		if (c->seq <= seq) {
			snprintf(msg, sizeof msg, "stale request: seq %llu of "
				 "client %llu is below its last (%llu)",
				 (unsigned long long)c->seq,
				 (unsigned long long)c->client_id,
				 (unsigned long long)seq);
			return refuse(b, &w, SN_ESTATE, msg);
		}
	}
	rv = check_cmd(st, c, msg, sizeof msg);
	rv = rv != SN_OK ? refuse(b, &w, rv, msg) : run_cmd(b, &w, c);
	if (rv == SN_OK && c->client_id)
		rv = client_put(b, c->client_id, c->seq, e->index, out);
	return rv;
}

static int put_meta(batch *b, const sn_entry *last)
{
	uint8_t a[16], r[8];
	MDB_val ka = { 7, "applied" }, va = { 16, a };
	MDB_val kr = { 8, "revision" }, vr = { 8, r };
	int rc;

	sn__put_u64(sn__put_u64(a, last->index), last->term);
	sn__put_u64(r, b->revision);
	if ((rc = mdb_put(b->txn, b->st->meta, &ka, &va, 0)) != 0 ||
	    (rc = mdb_put(b->txn, b->st->meta, &kr, &vr, 0)) != 0)
		return sn__store_mdb_err(rc, "store: meta");
	return SN_OK;
}

/* Check the indexes: skipped ones at or below applied, then no gap. */
static int check_indexes(const sn__store *st, const sn_entry *entries,
			 size_t n, size_t *first)
{
	uint64_t applied = sn__store_applied(st, NULL), want;
	size_t i = 0;

	while (i < n && entries[i].index <= applied)
		i++;
	*first = i;
	for (want = applied + 1; i < n; i++, want++)
		if (entries[i].index != want)
			return sn__err(SN_EINVAL, "store apply: entry %llu "
				       "where %llu was expected",
				       (unsigned long long)entries[i].index,
				       (unsigned long long)want);
	return SN_OK;
}

static void results_init(sn__store_result *results, size_t n, size_t first,
			 uint64_t revision)
{
	if (!results)
		return;
	for (size_t i = 0; i < n; i++) {
		memset(&results[i], 0, sizeof results[i]);
		results[i].message = "";
		results[i].skipped = i < first;
		results[i].revision = revision;
	}
}

static void results_dispose(sn__store_result *results, size_t n)
{
	if (results)
		for (size_t i = 0; i < n; i++)
			sn__store_result_dispose(&results[i]);
}

int sn__store_commit(sn__store *st)
{
	if (!st->pending)
		return SN_OK;
	int rc = mdb_txn_commit(st->pending);
	st->pending = NULL;
	if (rc != 0)
		return sn__store_mdb_err(rc, "store: commit");
	st->revision = st->pending_revision;
	sn__store_set_applied(st, st->pending_index, st->pending_term);
	return SN_OK;
}

int sn__store_apply(sn__store *st, const sn_entry *entries, size_t n,
		    sn__store_result *results)
{
	int rv = sn__store_apply_pending(st, entries, n, results);
	if (rv == SN_OK && (rv = sn__store_commit(st)) != SN_OK)
		results_dispose(results, n);
	return rv;
}

int sn__store_apply_pending(sn__store *st, const sn_entry *entries, size_t n,
			    sn__store_result *results)
{
	batch b = { st, NULL, st->revision };
	size_t first;
	int rc, rv;

	if ((rv = sn__store_commit(st)) != SN_OK)
		return rv;
	if (st->broken || !st->env)
		return sn__err(SN_ESTATE, "store: closed after a failed "
			       "restore");
	if ((rv = check_indexes(st, entries, n, &first)) != SN_OK) {
		results_init(results, n, 0, st->revision);
		return rv;
	}
	results_init(results, n, first, st->revision);
	if (first == n)
		return SN_OK;
	if ((rc = mdb_txn_begin(st->env, NULL, 0, &b.txn)) != 0)
		return sn__store_mdb_err(rc, "store: begin");
	for (size_t i = first; i < n; i++) {
		sn_buf *out = results ? &results[i].raw : &st->res;
		bool dup;
		if ((rv = apply_one(&b, &entries[i], out, &dup)) != SN_OK)
			goto fail;
		if (results) {
			if ((rv = sn__res_decode(&results[i])) != SN_OK)
				goto fail;
			results[i].duplicate = dup;
		}
	}
	if ((rv = put_meta(&b, &entries[n - 1])) != SN_OK)
		goto fail;
	st->pending = b.txn;
	st->pending_revision = b.revision;
	st->pending_index = entries[n - 1].index;
	st->pending_term = entries[n - 1].term;
	return SN_OK;
fail:
	if (b.txn)
		mdb_txn_abort(b.txn);
	results_dispose(results, n);
	return rv;
}
