/*
 * Writes the committed seed corpus of the fuzz targets (tests/fuzz/corpus/)
 * with the real encoders. Not part of the build; to regenerate:
 *
 *   cc -std=c11 -Icore/include -Icore tests/fuzz/gen_corpus.c \
 *      core/base/?*.c core/log/wal_record.c core/log/snapshot_meta.c \
 *      core/store/store_cmd.c \
 *      -lpthread -o /tmp/gen_corpus && /tmp/gen_corpus tests/fuzz/corpus
 */
#include "log/snapshot.h"
#include "log/wal_record.h"
#include "store/store_codec.h"

#include <stdio.h>
#include <stdlib.h>

static const char *root;

static void put(const char *dir, const char *name, const void *p, size_t n)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s/%s", root, dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

static void snapshot_seeds(void)
{
	uint64_t v[5] = {1, 2, 3, 0x1234567890abcdefULL, 5};
	sn_snapshot_meta m = {100, 7, 5, 0, v, 3};
	uint8_t buf[256];
	size_t len;

	m.crc = sn__crc32c(0, "hello", 5);
	sn__snapshot_meta_encode(buf, sizeof buf, &m, &len);
	put("snapshot_meta", "three-voters", buf, len);
	memcpy(buf + len, "hello", 5);
	put("snapshot_meta", "three-voters-with-data", buf, len + 5);
	put("snapshot_meta", "truncated", buf, len - 3);

	m.n_voters = 0;
	m.index = 1;
	m.term = 1;
	m.size = 0;
	m.crc = 0;
	sn__snapshot_meta_encode(buf, sizeof buf, &m, &len);
	put("snapshot_meta", "no-voters", buf, len);

	m.voters = v;
	m.n_voters = 5;
	m.index = UINT64_MAX;
	m.term = UINT64_MAX;
	m.size = UINT64_MAX;
	m.crc = 0xffffffffu;
	sn__snapshot_meta_encode(buf, sizeof buf, &m, &len);
	put("snapshot_meta", "max-fields", buf, len);

	put("snapshot_meta", "name",
	    "snap-0000000000000064-0000000000000007.snap", 43);
}

static void wal_seeds(void)
{
	uint8_t buf[1024], *p, *body;
	uint64_t v[3] = {1, 2, 3};
	sn_entry e = {5, 2, 0, "payload", 7};
	sn_hard_state hs = {2, 1, 4};
	sn_snapshot_meta m = {40, 2, 1000, 0xabcdef01u, v, 3};
	sn__wal_checkpoint cp = {4096, 39, 2};
	size_t n;

	p = sn__wal_put_entry(buf, &e);
	put("wal_record", "entry", buf, (size_t)(p - buf));
	p = sn__wal_put_hard_state(buf, &hs);
	put("wal_record", "hard-state", buf, (size_t)(p - buf));
	p = sn__wal_put_snapshot(buf, &m, SN__WAL_SNAP_RESET);
	put("wal_record", "snapshot", buf, (size_t)(p - buf));
	p = sn__wal_put_checkpoint(buf, &cp);
	put("wal_record", "checkpoint", buf, (size_t)(p - buf));

	/* A frame with three records, then a segment with that frame. */
	body = buf + SN__WAL_SEG_HEADER + SN__WAL_FRAME_HEADER;
	p = sn__wal_put_hard_state(body, &hs);
	p = sn__wal_put_entry(p, &e);
	e.index++;
	e.len = 0;
	p = sn__wal_put_entry(p, &e);
	sn__wal_frame_header_put(body - SN__WAL_FRAME_HEADER,
				 (uint32_t)(p - body), 3);
	*p++ = SN__WAL_FRAME_TRAILER;
	n = (size_t)(p - (body - SN__WAL_FRAME_HEADER));
	put("wal_record", "frame", body - SN__WAL_FRAME_HEADER, n);
	sn__wal_seg_header_put(buf, 1);
	put("wal_record", "segment", buf, SN__WAL_SEG_HEADER + n);
	put("wal_record", "segment-torn", buf, SN__WAL_SEG_HEADER + n - 4);
	put("wal_record", "name", "wal-0000000000000001.log", 24);
}

static void put_buf(const char *name, const sn_buf *b)
{
	put("store_cmd", name, b->ptr, b->size);
}

static void store_seeds(void)
{
	sn_buf b = SN_BUF_INIT;
	sn__wbuf w = { &b, false };
	sn__store_kv kv = { (const uint8_t *)"key", 3, (const uint8_t *)"v",
			    1, 1, 2, 2, 0 };
	sn__store_cmp cmps[2] = {
		{ SN__STORE_CMP_VALUE, SN__STORE_CMP_EQUAL, "k", 1, "v", 1, 0 },
		{ SN__STORE_CMP_MOD, SN__STORE_CMP_LESS, "k", 1, NULL, 0, 9 },
	};
	sn__store_op ops[3] = {
		{ SN__STORE_OP_PUT, "k", 1, NULL, 0, "v", 1, 7, 0, true,
		  false, false },
		{ SN__STORE_OP_DELETE, "a", 1, "\0", 1, NULL, 0, 0, 0, false,
		  false, false },
		{ SN__STORE_OP_RANGE, "a", 1, "b", 1, NULL, 0, 0, 10, false,
		  true, false },
	};
	size_t at;

	sn__store_cmd_put(&b, 1, 2, "key", 3, "value", 5, 0, true);
	put_buf("put", &b);
	sn__store_cmd_delete_range(&b, 0, 0, "a", 1, "b", 1, false);
	put_buf("delete-range", &b);
	sn__store_cmd_txn(&b, 3, 4, cmps, 2, ops, 3, ops, 1);
	put_buf("txn", &b);
	sn__store_cmd_txn(&b, 0, 0, NULL, 0, NULL, 0, NULL, 0);
	put_buf("txn-empty", &b);

	/* A result: OK, one range response with one kv. */
	sn__res_begin(&w, SN_OK, "", 5, true);
	at = sn__res_resp(&w, SN__STORE_OP_RANGE);
	sn__res_kv(&w, &kv);
	sn__res_resp_patch(&b, at, 1, false, 1);
	sn__res_patch(&b, 5, true, 1);
	put_buf("result", &b);
	sn__res_begin(&w, SN_ETOOLARGE, "put: value too large", 5, false);
	put_buf("result-refused", &b);
	sn_buf_dispose(&b);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: gen_corpus DIR\n");
		return 2;
	}
	root = argv[1];
	snapshot_seeds();
	wal_seeds();
	store_seeds();
	return 0;
}
