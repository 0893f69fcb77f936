/*
 * Writes the committed seed corpus of the fuzz targets (tests/fuzz/corpus/)
 * with the real encoders. Not part of the build; to regenerate:
 *
 *   cc -std=c11 -Icore/include -Icore tests/fuzz/gen_corpus.c \
 *      core/base/?*.c core/log/wal_record.c core/log/snapshot_meta.c \
 *      -lpthread -o /tmp/gen_corpus && /tmp/gen_corpus tests/fuzz/corpus
 */
#include "log/snapshot.h"
#include "log/wal_record.h"

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

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: gen_corpus DIR\n");
		return 2;
	}
	root = argv[1];
	snapshot_seeds();
	wal_seeds();
	return 0;
}
