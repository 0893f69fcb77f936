/*
 * libFuzzer target: the snapshot file header decoder (core/log/snapshot.h).
 *
 * Properties checked on every input, besides "no crash, no sanitizer
 * report": a header that decodes re-encodes to exactly the same bytes
 * (one encoding per meta, so no two files mean the same thing), peek and
 * decode agree on the header's length, and a caller with too little room
 * for the voters gets SN_ETOOLARGE, never an overflow.
 */
#include "log/snapshot.h"

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "snapshot_meta_fuzz: %s failed "   \
				"(line %d)\n", #cond, __LINE__);           \
			abort();                                           \
		}                                                          \
	} while (0)

static uint64_t voters[SN__SNAPSHOT_MAX_VOTERS];
static uint8_t reenc[SN__SNAPSHOT_MAX_HEADER];

static void names(const uint8_t *data, size_t size)
{
	char name[64];
	uint64_t index, term;
	size_t n = size < sizeof name - 1 ? size : sizeof name - 1;

	memcpy(name, data, n);
	name[n] = '\0';
	if (sn__snapshot_parse_name(name, &index, &term)) {
		char again[SN__SNAPSHOT_NAME_MAX];
		sn__snapshot_name(again, index, term);
		CHECK(strcmp(again, name) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sn_snapshot_meta m;
	size_t peeked = 0, hlen = 0, len = 0;
	int peek_rv, rv;

	names(data, size);
	peek_rv = sn__snapshot_meta_peek(data, size, &peeked);
	CHECK(peek_rv == SN_OK || peek_rv == SN_ECORRUPT);
	if (peek_rv == SN_OK)
		CHECK(peeked >= SN__SNAPSHOT_FIXED_LEN + 4 &&
		      peeked <= SN__SNAPSHOT_MAX_HEADER);

	rv = sn__snapshot_meta_decode(&m, voters, SN__SNAPSHOT_MAX_VOTERS,
				      data, size, &hlen);
	CHECK(rv == SN_OK || rv == SN_ECORRUPT);
	if (rv != SN_OK)
		return 0;
	CHECK(peek_rv == SN_OK && hlen == peeked && hlen <= size);
	CHECK(m.n_voters <= SN__SNAPSHOT_MAX_VOTERS);
	CHECK(m.n_voters == 0 || m.voters == voters);

	CHECK(sn__snapshot_meta_encode(reenc, sizeof reenc, &m, &len) == SN_OK);
	CHECK(len == hlen && memcmp(reenc, data, hlen) == 0);

	if (m.n_voters > 0) {
		sn_snapshot_meta small;
		uint64_t few[1];
		size_t cap = m.n_voters - 1 < 1 ? m.n_voters - 1 : 1;
		rv = sn__snapshot_meta_decode(&small, few, cap, data, size,
					      NULL);
		CHECK(rv == SN_ETOOLARGE);
	}
	return 0;
}
