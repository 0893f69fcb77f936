/*
 * wal_record_test.cc - core/log/wal_record.c: segment headers, file names,
 * records and frames; the decoder refuses every damaged or cut input and
 * never reads outside it.
 */
#include "wal_harness.h"

namespace {

using namespace walt;

std::vector<uint8_t> EncodeEntry(const sn_entry &e)
{
	std::vector<uint8_t> b(sn__wal_entry_rec_size(e.len));
	uint8_t *end = sn__wal_put_entry(b.data(), &e);
	EXPECT_EQ((size_t)(end - b.data()), b.size());
	return b;
}

/* A frame around the given records. */
std::vector<uint8_t> Frame(const std::vector<std::vector<uint8_t>> &recs)
{
	std::vector<uint8_t> body;
	for (auto &r : recs)
		body.insert(body.end(), r.begin(), r.end());
	std::vector<uint8_t> f(SN__WAL_FRAME_HEADER);
	sn__wal_frame_header_put(f.data(), (uint32_t)body.size(),
				 (uint32_t)recs.size());
	f.insert(f.end(), body.begin(), body.end());
	f.push_back(SN__WAL_FRAME_TRAILER);
	return f;
}

TEST(WalRecord, SegmentHeaderRoundTrip)
{
	uint8_t h[SN__WAL_SEG_HEADER];
	uint64_t seq = 0;
	sn__wal_seg_header_put(h, 0x0123456789abcdefULL);
	EXPECT_EQ(memcmp(h, "SNWAL\0\0\1", 8), 0);
	ASSERT_EQ(sn__wal_seg_header_check(h, sizeof h, &seq), SN_OK);
	EXPECT_EQ(seq, 0x0123456789abcdefULL);
	EXPECT_EQ(sn__wal_seg_header_check(h, sizeof h - 1, &seq), SN_ECORRUPT);
	for (size_t bit = 0; bit < 8 * sizeof h; bit++) {
		h[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		EXPECT_EQ(sn__wal_seg_header_check(h, sizeof h, &seq),
			  SN_ECORRUPT) << "bit " << bit;
		h[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
}

TEST(WalRecord, Names)
{
	char name[SN__WAL_NAME_MAX];
	uint64_t seq = 0;
	sn__wal_seg_name(name, 42, false);
	EXPECT_STREQ(name, "wal-000000000000002a.log");
	EXPECT_EQ(sn__wal_parse_name(name, &seq), 1);
	EXPECT_EQ(seq, 42u);
	sn__wal_seg_name(name, 7, true);
	EXPECT_STREQ(name, "wal-0000000000000007.log.tmp");
	EXPECT_EQ(sn__wal_parse_name(name, &seq), 2);
	EXPECT_EQ(seq, 7u);
	EXPECT_EQ(sn__wal_parse_name("wal-000000000000002A.log", &seq), 0);
	EXPECT_EQ(sn__wal_parse_name("wal-2a.log", &seq), 0);
	EXPECT_EQ(sn__wal_parse_name("wal-000000000000002a.logx", &seq), 0);
	EXPECT_EQ(sn__wal_parse_name("snap-1.snap", &seq), 0);
}

TEST(WalRecord, EveryTypeRoundTrips)
{
	uint8_t data[5] = { 1, 2, 3, 4, 5 };
	sn_entry e{ 77, 9, SN_ENTRY_NORMAL, data, sizeof data };
	sn_hard_state hs{ 5, 3, 70 };
	uint64_t voters[3] = { 1, 2, 0xffffffffffffffffULL };
	sn_snapshot_meta m{ 100, 4, 123456, 0xdeadbeef, voters, 3 };
	sn__wal_checkpoint cp{ 4096, 99, 8 };
	std::vector<uint8_t> b(sn__wal_entry_rec_size(5) +
			       SN__WAL_HARD_STATE_REC_SIZE +
			       sn__wal_snapshot_rec_size(3) +
			       SN__WAL_CHECKPOINT_REC_SIZE);
	uint8_t *p = b.data();
	p = sn__wal_put_entry(p, &e);
	p = sn__wal_put_hard_state(p, &hs);
	p = sn__wal_put_snapshot(p, &m, SN__WAL_SNAP_RESET);
	p = sn__wal_put_checkpoint(p, &cp);
	ASSERT_EQ((size_t)(p - b.data()), b.size());

	sn__wal_rec r;
	size_t used, off = 0;
	ASSERT_EQ(sn__wal_rec_decode(&r, b.data(), b.size(), &used), SN_OK);
	EXPECT_EQ(r.type, SN__WAL_REC_ENTRY);
	EXPECT_EQ(r.entry.index, 77u);
	EXPECT_EQ(r.entry.term, 9u);
	ASSERT_EQ(r.entry.len, 5u);
	EXPECT_EQ(memcmp(r.entry.data, data, 5), 0);
	off += used;
	ASSERT_EQ(sn__wal_rec_decode(&r, b.data() + off, b.size() - off, &used),
		  SN_OK);
	EXPECT_EQ(r.type, SN__WAL_REC_HARD_STATE);
	EXPECT_EQ(r.hs.term, 5u);
	EXPECT_EQ(r.hs.vote, 3u);
	EXPECT_EQ(r.hs.commit, 70u);
	off += used;
	ASSERT_EQ(sn__wal_rec_decode(&r, b.data() + off, b.size() - off, &used),
		  SN_OK);
	EXPECT_EQ(r.type, SN__WAL_REC_SNAPSHOT);
	EXPECT_EQ(r.snap_flags, SN__WAL_SNAP_RESET);
	EXPECT_EQ(r.snap.index, 100u);
	EXPECT_EQ(r.snap.term, 4u);
	EXPECT_EQ(r.snap.size, 123456u);
	EXPECT_EQ(r.snap.crc, 0xdeadbeefu);
	ASSERT_EQ(r.snap.n_voters, 3u);
	for (size_t i = 0; i < 3; i++)
		EXPECT_EQ(sn__wal_rec_voter(&r, i), voters[i]);
	off += used;
	ASSERT_EQ(sn__wal_rec_decode(&r, b.data() + off, b.size() - off, &used),
		  SN_OK);
	EXPECT_EQ(r.type, SN__WAL_REC_CHECKPOINT);
	EXPECT_EQ(r.cp.prev_end, 4096u);
	EXPECT_EQ(r.cp.last_index, 99u);
	EXPECT_EQ(r.cp.last_term, 8u);
	EXPECT_EQ(off + used, b.size());
}

TEST(WalRecord, EmptyEntryData)
{
	sn_entry e{ 1, 1, SN_ENTRY_NOOP, nullptr, 0 };
	std::vector<uint8_t> b = EncodeEntry(e);
	sn__wal_rec r;
	size_t used;
	ASSERT_EQ(sn__wal_rec_decode(&r, b.data(), b.size(), &used), SN_OK);
	EXPECT_EQ(r.entry.len, 0u);
	EXPECT_EQ(r.entry.type, (uint32_t)SN_ENTRY_NOOP);
}

/* Every prefix is refused, every single-bit flip is refused; with ASan this
 * also shows the decoder stays inside its input (exact-size copies). */
TEST(WalRecord, CutOrFlippedRecordsAreRefused)
{
	uint8_t data[11] = { 0 };
	sn_entry e{ 3, 2, SN_ENTRY_NORMAL, data, sizeof data };
	std::vector<uint8_t> b = EncodeEntry(e);
	sn__wal_rec r;
	size_t used;
	for (size_t n = 0; n < b.size(); n++) {
		std::vector<uint8_t> cut(b.begin(), b.begin() + (long)n);
		EXPECT_EQ(sn__wal_rec_decode(&r, cut.data(), cut.size(), &used),
			  SN_ECORRUPT) << "prefix " << n;
	}
	for (size_t bit = 0; bit < 8 * b.size(); bit++) {
		std::vector<uint8_t> f = b;
		f[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		EXPECT_EQ(sn__wal_rec_decode(&r, f.data(), f.size(), &used),
			  SN_ECORRUPT) << "bit " << bit;
	}
}

TEST(WalRecord, FrameStatuses)
{
	sn_hard_state hs{ 1, 2, 3 };
	std::vector<uint8_t> rec(SN__WAL_HARD_STATE_REC_SIZE);
	sn__wal_put_hard_state(rec.data(), &hs);
	std::vector<uint8_t> f = Frame({ rec, rec });
	sn__wal_frame fr;

	ASSERT_EQ(sn__wal_frame_parse(&fr, f.data(), f.size()), SN__FRAME_OK);
	EXPECT_EQ(fr.size, f.size());
	EXPECT_EQ(fr.n_records, 2u);

	/* Zero header, short, cut */
	std::vector<uint8_t> z(40, 0);
	EXPECT_EQ(sn__wal_frame_parse(&fr, z.data(), z.size()), SN__FRAME_ZERO);
	EXPECT_EQ(sn__wal_frame_parse(&fr, z.data(), 3), SN__FRAME_ZERO);
	EXPECT_EQ(sn__wal_frame_parse(&fr, f.data(), 10), SN__FRAME_SHORT);
	EXPECT_EQ(sn__wal_frame_parse(&fr, f.data(), f.size() - 1),
		  SN__FRAME_SHORT);

	/* Any flip in the header is a bad header; in the body, a bad body. */
	for (size_t bit = 0; bit < 8 * f.size(); bit++) {
		std::vector<uint8_t> g = f;
		g[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		int want = bit / 8 < SN__WAL_FRAME_HEADER ? SN__FRAME_BAD_HEADER
							  : SN__FRAME_BAD_BODY;
		EXPECT_EQ(sn__wal_frame_parse(&fr, g.data(), g.size()), want)
			<< "bit " << bit;
	}

	/* A record count that does not match the body. */
	std::vector<uint8_t> g = f;
	sn__wal_frame_header_put(g.data(), (uint32_t)(2 * rec.size()), 1);
	EXPECT_EQ(sn__wal_frame_parse(&fr, g.data(), g.size()),
		  SN__FRAME_BAD_BODY);
	sn__wal_frame_header_put(g.data(), (uint32_t)(2 * rec.size()), 3);
	EXPECT_EQ(sn__wal_frame_parse(&fr, g.data(), g.size()),
		  SN__FRAME_BAD_BODY);
}

TEST(WalRecord, UnknownTypeAndTrailingBytesAreRefused)
{
	sn_hard_state hs{ 1, 2, 3 };
	std::vector<uint8_t> rec(SN__WAL_HARD_STATE_REC_SIZE);
	sn__wal_put_hard_state(rec.data(), &hs);
	sn__wal_rec r;
	size_t used;

	/* Re-seal with another type: CRC fine, type unknown. */
	rec[8] = 99;
	uint32_t crc = sn__crc32c(sn__crc32c(0, rec.data(), 4), rec.data() + 8,
				  rec.size() - 8);
	sn__put_u32(rec.data() + 4, crc);
	EXPECT_EQ(sn__wal_rec_decode(&r, rec.data(), rec.size(), &used),
		  SN_ECORRUPT);

	/* A hard state with one byte too many. */
	rec.push_back(0);
	rec[8] = SN__WAL_REC_HARD_STATE;
	sn__put_u32(rec.data(), (uint32_t)(rec.size() - 8));
	crc = sn__crc32c(sn__crc32c(0, rec.data(), 4), rec.data() + 8,
			 rec.size() - 8);
	sn__put_u32(rec.data() + 4, crc);
	EXPECT_EQ(sn__wal_rec_decode(&r, rec.data(), rec.size(), &used),
		  SN_ECORRUPT);
}

} // namespace
