/*
 * libFuzzer target: the store's decoders (core/store/store_cmd.c): the
 * command decoder (log entry bytes, i.e. client input through the leader)
 * and the result decoder (the records of the dedup table).
 *
 * Properties checked on every input, besides "no crash, no sanitizer
 * report": a command that decodes re-encodes with the real encoders to
 * exactly the same bytes (one encoding per command), counts stay within
 * SN__STORE_MAX_TXN_OPS, and a decoded result's pointers stay inside its
 * bytes.
 */
#include "store/store_codec.h"

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "store_cmd_fuzz: %s failed "       \
				"(line %d)\n", #cond, __LINE__);           \
			abort();                                           \
		}                                                          \
	} while (0)

static sn__store_cmd cmd;

static void reencode(const uint8_t *data, size_t size)
{
	sn_buf b = SN_BUF_INIT;
	const sn__store_op *op = &cmd.op;
	int rv;

	switch (cmd.type) {
	case SN__STORE_CMD_PUT:
		rv = sn__store_cmd_put(&b, cmd.client_id, cmd.seq, op->key,
				       op->klen, op->value, op->vlen,
				       op->lease, op->prev_kv);
		break;
	case SN__STORE_CMD_DELETE:
		rv = sn__store_cmd_delete_range(&b, cmd.client_id, cmd.seq,
						op->key, op->klen, op->end,
						op->elen, op->prev_kv);
		break;
	default:
		CHECK(cmd.type == SN__STORE_CMD_TXN);
		CHECK(cmd.n_cmps <= SN__STORE_MAX_TXN_OPS &&
		      cmd.n_success <= SN__STORE_MAX_TXN_OPS &&
		      cmd.n_failure <= SN__STORE_MAX_TXN_OPS);
		rv = sn__store_cmd_txn(&b, cmd.client_id, cmd.seq, cmd.cmps,
				       cmd.n_cmps, cmd.success, cmd.n_success,
				       cmd.failure, cmd.n_failure);
		break;
	}
	CHECK(rv == SN_OK);
	CHECK(b.size == size);
	CHECK(memcmp(b.ptr, data, size) == 0);
	sn_buf_dispose(&b);
}

static bool inside(const void *p, size_t n, const sn_buf *b)
{
	const uint8_t *lo = b->ptr, *q = p;
	return n == 0 || (q >= lo && q + n <= lo + b->size);
}

static void result(const uint8_t *data, size_t size)
{
	sn__store_result r;

	memset(&r, 0, sizeof r);
	r.raw.ptr = malloc(size ? size : 1);
	CHECK(r.raw.ptr != NULL);
	if (size)
		memcpy(r.raw.ptr, data, size);
	r.raw.size = r.raw.reserved = size;
	if (sn__res_decode(&r) == SN_OK) {
		CHECK(inside(r.message, strlen(r.message) + 1, &r.raw));
		for (size_t i = 0; i < r.n_resps; i++)
			for (size_t j = 0; j < r.resps[i].n_kvs; j++) {
				const sn__store_kv *kv = &r.resps[i].kvs[j];
				CHECK(inside(kv->key, kv->klen, &r.raw));
				CHECK(!kv->value ||
				      inside(kv->value, kv->vlen, &r.raw));
			}
	}
	/* The raw buffer is freed by dispose, with the arrays. */
	sn__store_result_dispose(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int rv = sn__store_cmd_decode(&cmd, data, size);

	CHECK(rv == SN_OK || rv == SN_EMALFORMED);
	if (rv == SN_OK)
		reencode(data, size);
	else
		CHECK(cmd.type == 0);
	result(data, size);
	return 0;
}
