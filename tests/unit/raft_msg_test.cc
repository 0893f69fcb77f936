/*
 * raft_msg_test.cc - the Raft wire codec (core/raft/raft_msg.h): round trips,
 * the exact layout, and refusal of every malformed encoding.
 */
#include <gtest/gtest.h>

#include <senate/senate.h>
extern "C" {
#include "raft/raft_msg.h"
}

#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace {

using Bytes = std::vector<uint8_t>;

struct Sample {
	sn__raft_msg m;
	std::vector<sn_entry> ents;
	std::vector<std::string> datas;
	std::vector<uint64_t> voters;
	std::string chunk;
};

/* One message of every type, every field distinct; APP carries entries. */
std::vector<Sample> Samples()
{
	std::vector<Sample> out;
	for (int t = SN__RAFT_APP; t <= SN__RAFT_MSG_TYPE_MAX; t++) {
		Sample s;
		std::memset(&s.m, 0, sizeof s.m);
		s.m.type = (uint8_t)t;
		s.m.reject = (t == SN__RAFT_APP_RESP || t == SN__RAFT_VOTE_RESP) ? 1 : 0;
		s.m.flags = t == SN__RAFT_VOTE ? SN__RAFT_FLAG_TRANSFER : 0;
		s.m.term = 0x0102030405060708ULL + t;
		s.m.index = 1000 + t;
		s.m.log_term = 900 + t;
		s.m.commit = 800 + t;
		s.m.hint = 700 + t;
		s.m.ctx = 0xfedcba9876543210ULL - t;
		if (t == SN__RAFT_APP) {
			s.datas = {"hello", "", std::string("bin\0ary\xff", 8),
				   std::string(300, 'z')};
			uint32_t types[] = {SN_ENTRY_NORMAL, SN_ENTRY_NOOP,
					    SN_ENTRY_NORMAL, SN_ENTRY_NORMAL};
			for (size_t i = 0; i < s.datas.size(); i++) {
				sn_entry e;
				e.index = s.m.index + 1 + i;
				e.term = 40 + i;
				e.type = types[i];
				e.data = s.datas[i].data();
				e.len = s.datas[i].size();
				s.ents.push_back(e);
			}
		}
		if (t == SN__RAFT_SNAP) {
			s.voters = {1, 2, 0xffffffffffffffffULL};
			s.chunk = std::string("snap\0shot", 9);
			s.m.snap_size = 5000;
			s.m.snap_crc = 0xdeadbeef;
			s.m.offset = 4000;
		}
		out.push_back(std::move(s));
	}
	/* Pointers into `datas` must be refreshed after the moves above. */
	for (Sample &s : out) {
		for (size_t i = 0; i < s.ents.size(); i++)
			s.ents[i].data = s.datas[i].data();
		s.m.entries = s.ents.empty() ? nullptr : s.ents.data();
		s.m.n_entries = s.ents.size();
		s.m.voters = s.voters.empty() ? nullptr : s.voters.data();
		s.m.n_voters = s.voters.size();
		s.m.data = s.chunk.empty() ? nullptr : s.chunk.data();
		s.m.len = s.chunk.size();
	}
	return out;
}

Bytes Enc(const sn__raft_msg &m)
{
	Bytes b(sn__raft_msg_size(&m));
	sn__raft_msg_encode(&m, b.data());
	return b;
}

/* Decode from an exactly sized heap copy, so ASan sees any over-read. */
int Dec(const Bytes &b, sn__raft_msg *m)
{
	std::memset(m, 0, sizeof *m);
	uint8_t *copy = b.empty() ? nullptr : new uint8_t[b.size()];
	if (copy)
		std::memcpy(copy, b.data(), b.size());
	int rc = sn__raft_msg_decode(m, copy, b.size());
	if (rc == SN_OK) {
		/* Entry data must point into the decoded buffer. */
		for (size_t i = 0; i < m->n_entries; i++) {
			const uint8_t *d = static_cast<const uint8_t *>(m->entries[i].data);
			if (m->entries[i].len) {
				EXPECT_GE(d, copy);
				EXPECT_LE(d + m->entries[i].len, copy + b.size());
			}
		}
		sn__raft_msg_free(m);
		m->entries = nullptr;
	}
	delete[] copy;
	return rc;
}

void ExpectSame(const sn__raft_msg &a, const sn__raft_msg &b)
{
	EXPECT_EQ(a.type, b.type);
	EXPECT_EQ(a.reject, b.reject);
	EXPECT_EQ(a.flags, b.flags);
	EXPECT_EQ(a.term, b.term);
	EXPECT_EQ(a.index, b.index);
	EXPECT_EQ(a.log_term, b.log_term);
	EXPECT_EQ(a.commit, b.commit);
	EXPECT_EQ(a.hint, b.hint);
	EXPECT_EQ(a.ctx, b.ctx);
	EXPECT_EQ(a.snap_size, b.snap_size);
	EXPECT_EQ(a.snap_crc, b.snap_crc);
	EXPECT_EQ(a.offset, b.offset);
	ASSERT_EQ(a.n_voters, b.n_voters);
	for (size_t i = 0; i < a.n_voters; i++)
		EXPECT_EQ(a.voters[i], b.voters[i]) << i;
	ASSERT_EQ(a.len, b.len);
	if (a.len) {
		EXPECT_EQ(0, std::memcmp(a.data, b.data, a.len));
	}
	ASSERT_EQ(a.n_entries, b.n_entries);
	for (size_t i = 0; i < a.n_entries; i++) {
		EXPECT_EQ(a.index + 1 + i, b.entries[i].index) << i;
		EXPECT_EQ(a.entries[i].term, b.entries[i].term) << i;
		EXPECT_EQ(a.entries[i].type, b.entries[i].type) << i;
		ASSERT_EQ(a.entries[i].len, b.entries[i].len) << i;
		if (a.entries[i].len) {
			EXPECT_EQ(0, std::memcmp(a.entries[i].data, b.entries[i].data,
						 a.entries[i].len)) << i;
		}
	}
}

uint64_t Get64(const Bytes &b, size_t off)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | b[off + i];
	return v;
}
uint32_t Get32(const Bytes &b, size_t off)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | b[off + i];
	return v;
}
void Put32(Bytes &b, size_t off, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[off + i] = (uint8_t)(v >> (8 * i));
}

constexpr size_t kCountOff = SN__RAFT_MSG_HEADER - 4; /* u32 n_entries */

Bytes AppWith(const std::vector<std::string> &datas)
{
	sn__raft_msg m;
	std::memset(&m, 0, sizeof m);
	m.type = SN__RAFT_APP;
	m.term = 3;
	m.index = 10;
	m.log_term = 2;
	std::vector<sn_entry> es;
	for (size_t i = 0; i < datas.size(); i++)
		es.push_back({11 + i, 3, SN_ENTRY_NORMAL, datas[i].data(),
			      datas[i].size()});
	m.entries = es.empty() ? nullptr : es.data();
	m.n_entries = es.size();
	return Enc(m);
}

} // namespace

TEST(RaftMsg, RoundTripEveryType)
{
	for (Sample &s : Samples()) {
		SCOPED_TRACE(sn__raft_msg_type_name(s.m.type));
		Bytes b = Enc(s.m);
		size_t expect = SN__RAFT_MSG_HEADER;
		for (size_t i = 0; i < s.m.n_entries; i++)
			expect += SN__RAFT_ENTRY_HEADER + s.m.entries[i].len;
		if (s.m.type == SN__RAFT_SNAP) /* size crc n voters offset len */
			expect += 8 + 4 + 4 + 8 * s.m.n_voters + 8 + 4 + s.m.len;
		EXPECT_EQ(expect, b.size());

		sn__raft_msg d;
		std::memset(&d, 0, sizeof d);
		uint8_t *copy = new uint8_t[b.size()];
		std::memcpy(copy, b.data(), b.size());
		ASSERT_EQ(SN_OK, sn__raft_msg_decode(&d, copy, b.size()))
			<< sn_errmsg();
		ExpectSame(s.m, d);
		sn__raft_msg_free(&d);
		delete[] copy;

		/* Re-encoding the decoded message gives the same bytes. */
		sn__raft_msg d2;
		std::memset(&d2, 0, sizeof d2);
		ASSERT_EQ(SN_OK, sn__raft_msg_decode(&d2, b.data(), b.size()));
		Bytes again(sn__raft_msg_size(&d2));
		sn__raft_msg_encode(&d2, again.data());
		sn__raft_msg_free(&d2);
		EXPECT_EQ(b, again);
	}
}

TEST(RaftMsg, EmptyAppendRoundTrips)
{
	Bytes b = AppWith({});
	EXPECT_EQ(SN__RAFT_MSG_HEADER, b.size());
	sn__raft_msg d;
	ASSERT_EQ(SN_OK, Dec(b, &d));
	EXPECT_EQ(0u, d.n_entries);
	EXPECT_EQ(10u, d.index);
	EXPECT_EQ(2u, d.log_term);
}

TEST(RaftMsg, LayoutIsLittleEndianAsDocumented)
{
	std::vector<Sample> samples = Samples();
	const sn__raft_msg &m = samples[0].m; /* APP with entries */
	Bytes b = Enc(m);
	EXPECT_EQ(1, b[0]); /* version */
	EXPECT_EQ(SN__RAFT_APP, b[1]);
	EXPECT_EQ(m.reject, b[2]);
	EXPECT_EQ(m.flags, b[3]);
	EXPECT_EQ(m.term, Get64(b, 4));
	EXPECT_EQ(m.index, Get64(b, 12));
	EXPECT_EQ(m.log_term, Get64(b, 20));
	EXPECT_EQ(m.commit, Get64(b, 28));
	EXPECT_EQ(m.hint, Get64(b, 36));
	EXPECT_EQ(m.ctx, Get64(b, 44));
	EXPECT_EQ(m.n_entries, Get32(b, 52));
	size_t off = SN__RAFT_MSG_HEADER;
	for (size_t i = 0; i < m.n_entries; i++) {
		EXPECT_EQ(m.entries[i].term, Get64(b, off));
		EXPECT_EQ(m.entries[i].type, b[off + 8]);
		EXPECT_EQ(m.entries[i].len, Get32(b, off + 9));
		off += SN__RAFT_ENTRY_HEADER + m.entries[i].len;
	}
	EXPECT_EQ(b.size(), off);
}

TEST(RaftMsg, EveryTruncationIsMalformed)
{
	for (Sample &s : Samples()) {
		Bytes full = Enc(s.m);
		for (size_t len = 0; len < full.size(); len++) {
			Bytes cut(full.begin(), full.begin() + len);
			sn__raft_msg d;
			sn_errmsg_clear();
			ASSERT_EQ(SN_EMALFORMED, Dec(cut, &d))
				<< sn__raft_msg_type_name(s.m.type) << " cut to "
				<< len << " of " << full.size() << " bytes";
			EXPECT_STRNE("", sn_errmsg());
		}
	}
}

TEST(RaftMsg, TrailingBytesAreMalformed)
{
	for (Sample &s : Samples()) {
		Bytes b = Enc(s.m);
		b.push_back(0);
		sn__raft_msg d;
		EXPECT_EQ(SN_EMALFORMED, Dec(b, &d))
			<< sn__raft_msg_type_name(s.m.type) << " + 1 byte";
	}
}

TEST(RaftMsg, BadVersionOrTypeIsMalformed)
{
	Bytes good = Enc(Samples()[6].m); /* HEARTBEAT */
	for (uint8_t v : {0, 2, 0x7f, 0xff}) {
		Bytes b = good;
		b[0] = v;
		sn__raft_msg d;
		sn_errmsg_clear();
		EXPECT_EQ(SN_EMALFORMED, Dec(b, &d)) << "version " << int(v);
		EXPECT_STRNE("", sn_errmsg());
	}
	for (uint8_t t : {0, SN__RAFT_MSG_TYPE_MAX + 1, 0x80, 0xff}) {
		Bytes b = good;
		b[1] = t;
		sn__raft_msg d;
		sn_errmsg_clear();
		EXPECT_EQ(SN_EMALFORMED, Dec(b, &d)) << "type " << int(t);
		EXPECT_STRNE("", sn_errmsg());
	}
}

TEST(RaftMsg, EntryCountThatLiesIsMalformed)
{
	Bytes good = AppWith({"abc", "defg"});
	for (uint32_t n : {3u, 1u, 0u, 1000u, SN__RAFT_MAX_ENTRIES_PER_MSG,
			   SN__RAFT_MAX_ENTRIES_PER_MSG + 1, 0xffffffffu}) {
		Bytes b = good;
		Put32(b, kCountOff, n);
		sn__raft_msg d;
		EXPECT_EQ(SN_EMALFORMED, Dec(b, &d)) << "count " << n << " for 2";
	}
}

TEST(RaftMsg, EntryLengthThatLiesIsMalformed)
{
	Bytes good = AppWith({"abcdef"});
	const size_t len_off = SN__RAFT_MSG_HEADER + 9;
	for (uint32_t n : {7u, 5u, 0u, 1000u, 0x7fffffffu, 0xffffffffu}) {
		Bytes b = good;
		Put32(b, len_off, n);
		sn__raft_msg d;
		EXPECT_EQ(SN_EMALFORMED, Dec(b, &d)) << "length " << n << " for 6";
	}
	/* The second of two entries lies. */
	Bytes two = AppWith({"abc", "xyz"});
	Put32(two, SN__RAFT_MSG_HEADER + SN__RAFT_ENTRY_HEADER + 3 + 9, 4);
	sn__raft_msg d;
	EXPECT_EQ(SN_EMALFORMED, Dec(two, &d));
}

namespace {
struct Cap {
	size_t max_request = 0;
	size_t limit = 1 << 20;
};
void *CapMalloc(void *ud, size_t n)
{
	Cap *c = static_cast<Cap *>(ud);
	if (n > c->max_request)
		c->max_request = n;
	return n > c->limit ? nullptr : std::malloc(n);
}
void *CapRealloc(void *ud, void *p, size_t n)
{
	Cap *c = static_cast<Cap *>(ud);
	if (n > c->max_request)
		c->max_request = n;
	return n > c->limit ? nullptr : std::realloc(p, n);
}
void CapFree(void *, void *p) { std::free(p); }
} // namespace

/* A 56-byte message that claims a million entries is malformed, not a reason
 * to allocate tens of megabytes first (input from a peer is not trusted). */
TEST(RaftMsg, LyingCountDoesNotAllocateBeyondTheBuffer)
{
	Bytes b = AppWith({});
	Put32(b, kCountOff, SN__RAFT_MAX_ENTRIES_PER_MSG);
	Cap cap;
	sn_allocator a = {SN_ALLOCATOR_VERSION, CapMalloc, CapRealloc, CapFree,
			  &cap};
	ASSERT_EQ(SN_OK, sn_allocator_set(&a));
	sn__raft_msg d;
	int rc = Dec(b, &d);
	ASSERT_EQ(SN_OK, sn_allocator_set(nullptr));
	EXPECT_EQ(SN_EMALFORMED, rc)
		<< "largest allocation attempted: " << cap.max_request << " bytes";
}

/* SN__RAFT_MAX_ENTRIES_PER_MSG is the protocol's bound on entries per APP: a
 * count above it is malformed even when the bytes are all there. */
TEST(RaftMsg, CountAboveTheProtocolMaximumIsMalformed)
{
	const uint32_t n = SN__RAFT_MAX_ENTRIES_PER_MSG + 1;
	sn__raft_msg m;
	std::memset(&m, 0, sizeof m);
	m.type = SN__RAFT_APP;
	m.term = 1;
	std::vector<sn_entry> es(n);
	for (uint32_t i = 0; i < n; i++)
		es[i] = {i + 1, 1, SN_ENTRY_NORMAL, nullptr, 0};
	m.entries = es.data();
	m.n_entries = n;
	Bytes b = Enc(m);
	sn__raft_msg d;
	EXPECT_EQ(SN_EMALFORMED, Dec(b, &d));

	/* Exactly the maximum is fine. */
	m.n_entries = n - 1;
	b = Enc(m);
	EXPECT_EQ(SN_OK, Dec(b, &d));
}

TEST(RaftMsg, TypeNamesAreDistinct)
{
	std::set<std::string> names;
	for (int t = SN__RAFT_APP; t <= SN__RAFT_MSG_TYPE_MAX; t++) {
		const char *n = sn__raft_msg_type_name(t);
		ASSERT_NE(nullptr, n) << t;
		EXPECT_GT(std::strlen(n), 0u);
		EXPECT_TRUE(names.insert(n).second) << n;
	}
}

namespace {
/* Decoding arbitrary bytes never crashes; what it accepts re-encodes to the
 * very same bytes (the codec is canonical). */
void FuzzOne(const Bytes &b)
{
	sn__raft_msg d;
	std::memset(&d, 0, sizeof d);
	uint8_t *copy = b.empty() ? nullptr : new uint8_t[b.size()];
	if (copy)
		std::memcpy(copy, b.data(), b.size());
	int rc = sn__raft_msg_decode(&d, copy, b.size());
	ASSERT_TRUE(rc == SN_OK || rc == SN_EMALFORMED) << rc;
	if (rc == SN_OK) {
		Bytes again(sn__raft_msg_size(&d));
		sn__raft_msg_encode(&d, again.data());
		EXPECT_EQ(b, again) << "accepted bytes do not re-encode the same";
		sn__raft_msg_free(&d);
	}
	delete[] copy;
}
} // namespace

TEST(RaftMsg, RandomBytesNeverCrash)
{
	uint64_t seed = 0x5eed;
	for (int iter = 0; iter < 20000; iter++) {
		size_t len = sn__splitmix64(&seed) % 160;
		Bytes b(len);
		for (auto &x : b)
			x = (uint8_t)sn__splitmix64(&seed);
		/* Make half of them look plausible so the decoder goes deep. */
		if (len >= 2 && (iter & 1)) {
			b[0] = 1;
			b[1] = (uint8_t)(1 + sn__splitmix64(&seed) % SN__RAFT_MSG_TYPE_MAX);
			if (len >= SN__RAFT_MSG_HEADER)
				Put32(b, kCountOff, (uint32_t)(sn__splitmix64(&seed) % 4));
		}
		FuzzOne(b);
		if (HasFatalFailure())
			return;
	}
}

TEST(RaftMsg, MutatedEncodingsNeverCrash)
{
	std::vector<Bytes> seeds;
	for (Sample &s : Samples())
		seeds.push_back(Enc(s.m));
	seeds.push_back(AppWith({"a", "bb", "ccc"}));
	uint64_t seed = 42;
	int accepted = 0;
	for (int iter = 0; iter < 20000; iter++) {
		Bytes b = seeds[sn__splitmix64(&seed) % seeds.size()];
		int flips = 1 + sn__splitmix64(&seed) % 3;
		for (int f = 0; f < flips; f++)
			b[sn__splitmix64(&seed) % b.size()] ^=
				(uint8_t)(1u << (sn__splitmix64(&seed) % 8));
		if (sn__splitmix64(&seed) % 4 == 0)
			b.resize(sn__splitmix64(&seed) % (b.size() + 1));
		sn__raft_msg d;
		std::memset(&d, 0, sizeof d);
		if (Dec(b, &d) == SN_OK)
			accepted++;
		FuzzOne(b);
		if (HasFatalFailure())
			return;
	}
	/* Flipping field bits still yields many valid messages. */
	EXPECT_GT(accepted, 1000);
}
