/*
 * libFuzzer target: the WAL's decoders (core/log/wal_record.h): segment
 * headers, frames, records, file names.
 *
 * Properties checked on every input, besides "no crash, no sanitizer
 * report": a record that decodes re-encodes to exactly the same bytes, a
 * frame that parses holds exactly n_records decodable records filling its
 * body, and a parsed file name prints back to itself.
 */
#include "log/wal_record.h"

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "wal_record_fuzz: %s failed "      \
				"(line %d)\n", #cond, __LINE__);           \
			abort();                                           \
		}                                                          \
	} while (0)

static uint64_t voters[SN__WAL_MAX_VOTERS];

/* Encode `rec` again and compare with the `used` bytes it came from. */
static void roundtrip(const sn__wal_rec *rec, const uint8_t *p, size_t used)
{
	size_t size = 0;
	uint8_t *buf, *end = NULL;
	sn_snapshot_meta m;

	switch (rec->type) {
	case SN__WAL_REC_ENTRY:
		size = sn__wal_entry_rec_size(rec->entry.len);
		break;
	case SN__WAL_REC_HARD_STATE:
		size = SN__WAL_HARD_STATE_REC_SIZE;
		break;
	case SN__WAL_REC_SNAPSHOT:
		size = sn__wal_snapshot_rec_size(rec->snap.n_voters);
		break;
	case SN__WAL_REC_CHECKPOINT:
		size = SN__WAL_CHECKPOINT_REC_SIZE;
		break;
	default:
		CHECK(!"decoded a record of unknown type");
	}
	CHECK(size == used);
	buf = malloc(size);
	CHECK(buf != NULL);
	switch (rec->type) {
	case SN__WAL_REC_ENTRY:
		end = sn__wal_put_entry(buf, &rec->entry);
		break;
	case SN__WAL_REC_HARD_STATE:
		end = sn__wal_put_hard_state(buf, &rec->hs);
		break;
	case SN__WAL_REC_SNAPSHOT:
		m = rec->snap;
		for (size_t i = 0; i < m.n_voters; i++)
			voters[i] = sn__wal_rec_voter(rec, i);
		m.voters = voters;
		end = sn__wal_put_snapshot(buf, &m, rec->snap_flags);
		break;
	case SN__WAL_REC_CHECKPOINT:
		end = sn__wal_put_checkpoint(buf, &rec->cp);
		break;
	}
	CHECK(end == buf + size);
	CHECK(memcmp(buf, p, size) == 0);
	free(buf);
}

static void records(const uint8_t *p, size_t left)
{
	while (left > 0) {
		sn__wal_rec rec;
		size_t used = 0;
		int rv = sn__wal_rec_decode(&rec, p, left, &used);
		CHECK(rv == SN_OK || rv == SN_ECORRUPT);
		if (rv != SN_OK)
			return;
		CHECK(used > SN__WAL_REC_HEADER && used <= left);
		roundtrip(&rec, p, used);
		p += used;
		left -= used;
	}
}

static void frame(const uint8_t *data, size_t size)
{
	sn__wal_frame f;
	const uint8_t *p;
	size_t left;
	int st = sn__wal_frame_parse(&f, data, size);

	CHECK(st >= SN__FRAME_OK && st <= SN__FRAME_BAD_BODY);
	if (st != SN__FRAME_OK)
		return;
	CHECK(f.size == SN__WAL_FRAME_OVERHEAD + (size_t)f.body_len &&
	      f.size <= size);
	CHECK(f.body[f.body_len] == SN__WAL_FRAME_TRAILER);
	p = f.body;
	left = f.body_len;
	for (uint32_t i = 0; i < f.n_records; i++) {
		sn__wal_rec rec;
		size_t used = 0;
		CHECK(sn__wal_rec_decode(&rec, p, left, &used) == SN_OK);
		roundtrip(&rec, p, used);
		p += used;
		left -= used;
	}
	CHECK(left == 0);
}

static void names(const uint8_t *data, size_t size)
{
	char name[64], again[SN__WAL_NAME_MAX];
	uint64_t seq;
	size_t n = size < sizeof name - 1 ? size : sizeof name - 1;
	int kind;

	memcpy(name, data, n);
	name[n] = '\0';
	kind = sn__wal_parse_name(name, &seq);
	CHECK(kind >= 0 && kind <= 2);
	if (kind) {
		sn__wal_seg_name(again, seq, kind == 2);
		CHECK(strcmp(again, name) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t seq;
	int rv = sn__wal_seg_header_check(data, size, &seq);

	CHECK(rv == SN_OK || rv == SN_ECORRUPT);
	if (rv == SN_OK) {
		uint8_t hdr[SN__WAL_SEG_HEADER];
		sn__wal_seg_header_put(hdr, seq);
		/* Fails if the check ignores a field (e.g. `reserved`). */
		CHECK(memcmp(hdr, data, SN__WAL_SEG_HEADER) == 0);
		/* The frames of a segment follow its header. */
		frame(data + SN__WAL_SEG_HEADER, size - SN__WAL_SEG_HEADER);
	}
	frame(data, size);
	records(data, size);
	names(data, size);
	return 0;
}
