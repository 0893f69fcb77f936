/*
 * wal_recover_test.cc - core/log/wal*.c through <senate/sys/storage.h>:
 * round trips with overwrites, hard states, snapshot installs and
 * compaction; what appends are refused; recovery's handling of gaps, bad
 * segment headers, never-written segments and leftover temporary files.
 */
#include "wal_harness.h"

#include <unistd.h>

namespace {

using namespace walt;

class WalRecover : public WalTest {};

Snap MakeSnap(uint64_t index, uint64_t term)
{
	Snap s;
	s.index = index;
	s.term = term;
	s.size = index * 100;
	s.crc = (uint32_t)(index * 2654435761u);
	s.voters = { 1, 2, 3 };
	return s;
}

TEST_F(WalRecover, FreshDirectory)
{
	Model got;
	ASSERT_EQ(Open(&got), SN_OK) << sn_errmsg();
	EXPECT_TRUE(SameLog(Model(), got));
	EXPECT_EQ(Files(), std::vector<std::string>{ SegName(1) });
	Close();
	ASSERT_EQ(Open(&got), SN_OK) << sn_errmsg();
	EXPECT_TRUE(SameLog(Model(), got));
}

TEST_F(WalRecover, OptionsAreChecked)
{
	sn_storage_state s;
	sn_wal_options o = opts;
	EXPECT_EQ(sn_wal_options_init(&o, 99), SN_EINVAL);
	o = opts;
	o.version = 99;
	EXPECT_EQ(sn_wal_open(&st, &s, &o), SN_EINVAL);
	o = opts;
	o.dir = nullptr;
	EXPECT_EQ(sn_wal_open(&st, &s, &o), SN_EINVAL);
	o = opts;
	o.segment_bytes = 100;
	EXPECT_EQ(sn_wal_open(&st, &s, &o), SN_EINVAL);
	EXPECT_EQ(sn_wal_open(&st, &s, nullptr), SN_EINVAL);
	EXPECT_EQ(st, nullptr);
	sn_storage_close(nullptr); /* a no-op */
}

TEST_F(WalRecover, RoundTripWithOverwritesHardStatesInstallsAndCompaction)
{
	ASSERT_EQ(Open(), SN_OK) << sn_errmsg();
	sn_hard_state hs{ 1, 1, 0 };
	Append(&hs, Entries(1, 10, 1));
	hs = { 2, 2, 5 };
	Append(&hs, Entries(8, 5, 2)); /* overwrites 8..10 */
	Append(nullptr, Entries(13, 40, 2, 120));
	hs = { 3, 0, 40 };
	Append(&hs, {});               /* a hard state alone */
	Append(nullptr, Entries(30, 3, 3)); /* truncates back to 32 */
	Close();

	Model got;
	ASSERT_EQ(Open(&got), SN_OK) << sn_errmsg();
	EXPECT_TRUE(SameLog(model, got));
	EXPECT_GT(Files().size(), 1u) << "the test wants several segments";

	/* Continue after a reopen; install a snapshot; more entries. */
	Append(nullptr, Entries(33, 20, 3, 50));
	Install(MakeSnap(100, 5));
	hs = { 5, 2, 100 };
	Append(&hs, Entries(101, 30, 5, 40));
	Close();
	ASSERT_EQ(Open(&got), SN_OK) << sn_errmsg();
	EXPECT_TRUE(SameLog(model, got));

	/* Compact: older segments go, the snapshot and hard state stay. */
	size_t before = Files().size();
	ASSERT_EQ(sn_storage_compact(st, 120), SN_OK);
	Barrier();
	EXPECT_LT(Files().size(), before);
	Close();
	ASSERT_EQ(Open(&got), SN_OK) << sn_errmsg();
	EXPECT_TRUE(SameLog(model, got, true));
	ASSERT_FALSE(got.entries.empty());
	EXPECT_LE(got.entries.front().index, 121u);
	EXPECT_EQ(got.entries.back().index, 130u);

	/* And the compacted log takes appends, overwrites included. */
	Append(nullptr, Entries(125, 3, 6));
	Close();
	ASSERT_EQ(Open(&got), SN_OK) << sn_errmsg();
	EXPECT_TRUE(SameLog(model, got, true));
	EXPECT_EQ(got.entries.back().index, 127u);
	EXPECT_EQ(got.entries.back().term, 6u);
}

TEST_F(WalRecover, StateStaysValidUntilTheNextCall)
{
	ASSERT_EQ(Open(), SN_OK);
	Append(nullptr, Entries(1, 5, 1, 16));
	Close();
	sn_storage_state s;
	ASSERT_EQ(sn_wal_open(&st, &s, &opts), SN_OK);
	ASSERT_EQ(s.n_entries, 5u);
	EXPECT_TRUE(SameLog(model, FromState(s)));
	/* The first mutating call may free it (ASan would catch a use). */
	Append(nullptr, Entries(6, 1, 1));
}

TEST_F(WalRecover, AppendsThatDoNotContinueTheLogAreRefused)
{
	ASSERT_EQ(Open(), SN_OK);
	auto es_e = Entries(2, 1, 1);
	auto es = CEntries(es_e);
	EXPECT_EQ(sn_storage_append(st, nullptr, es.data(), 1, nullptr,
				    nullptr), SN_EINVAL) << "must start at 1";
	Append(nullptr, Entries(1, 5, 1));
	es_e = Entries(7, 1, 1);
	es = CEntries(es_e);
	EXPECT_EQ(sn_storage_append(st, nullptr, es.data(), 1, nullptr,
				    nullptr), SN_EINVAL) << "gap";
	auto two_e = Entries(6, 2, 1);
	auto two = CEntries(two_e);
	two[1].index = 9;
	EXPECT_EQ(sn_storage_append(st, nullptr, two.data(), 2, nullptr,
				    nullptr), SN_EINVAL) << "not consecutive";
	two_e = Entries(6, 2, 1);
	two = CEntries(two_e);
	two[0].data = nullptr;
	two[0].len = 3;
	EXPECT_EQ(sn_storage_append(st, nullptr, two.data(), 2, nullptr,
				    nullptr), SN_EINVAL) << "no data";
	EXPECT_EQ(sn_storage_append(st, nullptr, nullptr, 2, nullptr, nullptr),
		  SN_EINVAL);

	Install(MakeSnap(20, 2));
	es_e = Entries(20, 1, 2);
	es = CEntries(es_e);
	EXPECT_EQ(sn_storage_append(st, nullptr, es.data(), 1, nullptr,
				    nullptr), SN_EINVAL) << "under the snapshot";
	Snap old_snap = MakeSnap(10, 1);
	sn_snapshot_meta old = old_snap.Meta();
	EXPECT_EQ(sn_storage_install(st, &old, nullptr, nullptr), SN_EINVAL);
	EXPECT_EQ(sn_storage_install(st, nullptr, nullptr, nullptr), SN_EINVAL);
	Append(nullptr, Entries(21, 2, 2));
	Close();
	Model got;
	ASSERT_EQ(Open(&got), SN_OK) << sn_errmsg();
	EXPECT_TRUE(SameLog(model, got));
}

TEST_F(WalRecover, BatchLargerThanASegment)
{
	ASSERT_EQ(Open(), SN_OK);
	Append(nullptr, Entries(1, 2, 1));
	Append(nullptr, Entries(3, 3, 1, 3000)); /* > segment_bytes */
	Append(nullptr, Entries(6, 2, 1));
	Close();
	Model got;
	ASSERT_EQ(Open(&got), SN_OK) << sn_errmsg();
	EXPECT_TRUE(SameLog(model, got));
}

TEST_F(WalRecover, InstallOnlyAndCompactionKeepTheSnapshot)
{
	ASSERT_EQ(Open(), SN_OK);
	Append(nullptr, Entries(1, 30, 1, 60));
	Install(MakeSnap(50, 3));
	sn_hard_state hs{ 3, 1, 50 };
	Append(&hs, {});
	Close();
	Model got;
	ASSERT_EQ(Open(&got), SN_OK) << sn_errmsg();
	EXPECT_TRUE(SameLog(model, got));
	EXPECT_TRUE(got.entries.empty());

	/* Fill more segments, then compact everything that can go. */
	Append(nullptr, Entries(51, 40, 3, 60));
	ASSERT_EQ(sn_storage_compact(st, 90), SN_OK);
	Barrier();
	Close();
	ASSERT_EQ(Open(&got), SN_OK) << sn_errmsg();
	EXPECT_TRUE(SameLog(model, got, true));
	EXPECT_TRUE(got.has_snap);
	EXPECT_EQ(got.snap.index, 50u);
	EXPECT_EQ(got.entries.back().index, 90u);
}

/* A snapshot taken locally is recorded without touching the log; after
 * compaction behind it, recovery returns it with the entries that remain,
 * from the first segment or from any later one. */
TEST_F(WalRecover, TakenSnapshotCoversTheCompactedLog)
{
	ASSERT_EQ(Open(), SN_OK);
	for (uint64_t i = 1; i <= 40; i += 5) /* several segments */
		Append(nullptr, Entries(i, 5, 1, 300));
	sn_hard_state hs{ 1, 1, 40 };
	Append(&hs, {});
	Snap s = MakeSnap(35, 1);
	Taken(s);
	Close();
	Model got;
	ASSERT_EQ(Open(&got), SN_OK) << sn_errmsg();
	EXPECT_TRUE(SameLog(model, got));
	EXPECT_EQ(got.entries.size(), 40u) << "the log must stay";

	Append(nullptr, Entries(41, 60, 2, 60));
	ASSERT_EQ(sn_storage_compact(st, 35), SN_OK);
	Barrier();
	ASSERT_GT(Files().size(), 1u);
	Close();
	ASSERT_EQ(Open(&got), SN_OK) << sn_errmsg();
	EXPECT_TRUE(SameLog(model, got, true));
	ASSERT_TRUE(got.has_snap);
	EXPECT_EQ(got.snap, s);
	ASSERT_FALSE(got.entries.empty());
	EXPECT_GT(got.entries.front().index, 1u) << "nothing was compacted";
	EXPECT_LE(got.entries.front().index, s.index + 1);

	/* Entries it covers can no longer be written. */
	auto old = Entries(30, 1, 2);
	auto ce = CEntries(old);
	EXPECT_EQ(sn_storage_append(st, nullptr, ce.data(), 1, nullptr,
				    nullptr), SN_EINVAL);
}

/* What sn_storage_snapshot() refuses, changing nothing. */
TEST_F(WalRecover, TakenSnapshotRules)
{
	ASSERT_EQ(Open(), SN_OK);
	Append(nullptr, Entries(1, 10, 1, 20));
	Append(nullptr, Entries(11, 5, 2, 20));
	Taken(MakeSnap(8, 1));
	struct Case {
		uint64_t index, term;
		const char *why;
	} cases[] = {
		{ 0, 1, "index 0" },
		{ 16, 2, "beyond the last entry" },
		{ 15, 1, "the last entry has term 2" },
		{ 7, 1, "older than the current snapshot" },
		{ 8, 2, "the current snapshot with another term" },
	};
	for (const Case &c : cases) {
		Snap s = MakeSnap(c.index, c.term);
		sn_snapshot_meta m = s.Meta();
		EXPECT_EQ(sn_storage_snapshot(st, &m, nullptr, nullptr),
			  SN_EINVAL) << c.why;
	}
	Snap nv = MakeSnap(12, 2);
	sn_snapshot_meta m = nv.Meta();
	m.voters = nullptr;
	EXPECT_EQ(sn_storage_snapshot(st, &m, nullptr, nullptr), SN_EINVAL);
	EXPECT_EQ(sn_storage_snapshot(nullptr, &m, nullptr, nullptr), SN_EINVAL);
	EXPECT_EQ(sn_storage_snapshot(st, nullptr, nullptr, nullptr), SN_EINVAL);
	Close();
	Model got;
	ASSERT_EQ(Open(&got), SN_OK) << sn_errmsg();
	EXPECT_TRUE(SameLog(model, got));
	/* An install may still come after it (a leader's newer snapshot). */
	Install(MakeSnap(30, 3));
	Close();
	ASSERT_EQ(Open(&got), SN_OK) << sn_errmsg();
	EXPECT_TRUE(SameLog(model, got));
}

TEST_F(WalRecover, CompactionAfterAnInstallKeepsThePosition)
{
	ASSERT_EQ(Open(), SN_OK);
	Append(nullptr, Entries(1, 60, 1, 40));
	/* Enough voters that the install needs a segment of its own. */
	Snap s = MakeSnap(100, 4);
	for (uint64_t v = 4; v < 600; v++)
		s.voters.push_back(v);
	Install(s);
	ASSERT_EQ(sn_storage_compact(st, 100), SN_OK);
	Barrier();
	EXPECT_EQ(Files().size(), 1u);
	Close();
	Model got;
	ASSERT_EQ(Open(&got), SN_OK) << sn_errmsg();
	EXPECT_TRUE(SameLog(model, got));
	EXPECT_TRUE(got.entries.empty());
	/* The next entry must still follow the snapshot. */
	auto es_e = Entries(102, 1, 4);
	auto es = CEntries(es_e);
	EXPECT_EQ(sn_storage_append(st, nullptr, es.data(), 1, nullptr,
				    nullptr), SN_EINVAL);
	Append(nullptr, Entries(101, 1, 4));
	Close();
	ASSERT_EQ(Open(&got), SN_OK) << sn_errmsg();
	EXPECT_TRUE(SameLog(model, got));
}

/* Random appends (with overwrites and hard states), installs, compactions
 * and reopens against the model, for a few seeds (SENATE_WAL_SEEDS=n for
 * more). */
TEST_F(WalRecover, RandomizedRoundTrip)
{
	const char *env = getenv("SENATE_WAL_SEEDS");
	uint64_t seeds = env ? strtoull(env, nullptr, 10) : 4;
	for (uint64_t seed = 1; seed <= seeds; seed++) {
		Close();
		fs::remove_all(dir);
		model = Model();
		uint64_t rng = seed, floor = 0, term = 1;
		auto rnd = [&](uint64_t n) { return sn__splitmix64(&rng) % n; };
		opts.segment_bytes = 1024 + rnd(4) * 1024;
		ASSERT_EQ(Open(), SN_OK) << sn_errmsg();
		for (int op = 0; op < 250; op++) {
			uint64_t r = rnd(100), last = model.Last();
			if (r < 70) {
				uint64_t lo = floor + 1, start = last + 1;
				if (start > lo && rnd(4) == 0) {
					uint64_t back = std::min<uint64_t>(
						start - lo, 4);
					start -= rnd(back + 1);
				}
				if (start < last + 1)
					term++;
				sn_hard_state hs{ term, rnd(3), last / 2 };
				Append(rnd(3) == 0 ? &hs : nullptr,
				       Entries(start, 1 + rnd(5), term, rnd(200)));
			} else if (r < 74 && !model.entries.empty() &&
				   model.entries.back().index >
					   std::max(floor, model.entries.front().index)) {
				/* A snapshot taken locally, then compaction
				 * behind it: recovery must name it. */
				uint64_t lo = std::max(floor + 1,
						       model.entries.front().index);
				uint64_t at = lo + rnd(last - lo + 1);
				Snap s;
				s.index = at;
				s.term = model.entries[at - model.entries.front().index].term;
				s.size = rnd(1000);
				s.crc = (uint32_t)rnd(1u << 31);
				s.voters = { 1, 2, 3 };
				Taken(s);
				floor = at;
				ASSERT_EQ(sn_storage_compact(st, at - rnd(3)),
					  SN_OK);
			} else if (r < 77) {
				Snap s;
				s.index = last + 1 + rnd(5);
				s.term = term;
				s.size = rnd(1000);
				s.crc = (uint32_t)rnd(1u << 31);
				for (uint64_t v = 0; v < 1 + rnd(6); v++)
					s.voters.push_back(1 + v);
				Install(s);
				floor = s.index;
			} else if (r < 86) {
				floor = std::max(floor, last - rnd(last - floor + 1));
				ASSERT_EQ(sn_storage_compact(st, floor), SN_OK);
			} else {
				Model got;
				ASSERT_EQ(Open(&got), SN_OK) << sn_errmsg();
				ASSERT_TRUE(SameLog(model, got, true))
					<< "seed " << seed << " op " << op;
				if (!got.entries.empty()) {
					EXPECT_LE(got.entries.front().index,
						  floor + 1);
				}
			}
			if (HasFatalFailure())
				return;
		}
		Model got;
		ASSERT_EQ(Open(&got), SN_OK) << sn_errmsg();
		ASSERT_TRUE(SameLog(model, got, true)) << "seed " << seed;
	}
}

TEST_F(WalRecover, SecondOpenOfTheSameDirectoryIsRefused)
{
	ASSERT_EQ(Open(), SN_OK);
	sn_storage *other = nullptr;
	sn_storage_state s;
	EXPECT_EQ(sn_wal_open(&other, &s, &opts), SN_EBUSY);
	EXPECT_EQ(other, nullptr);
}

/* ---- damaged directories ---- */

class WalDamage : public WalTest {
protected:
	/* Three or more segments of acknowledged batches. */
	void Build()
	{
		ASSERT_EQ(Open(), SN_OK) << sn_errmsg();
		sn_hard_state hs{ 1, 1, 0 };
		for (uint64_t i = 0; i < 20; i++) {
			hs.commit = i * 5;
			Append(&hs, Entries(1 + i * 5, 5, 1, 60));
		}
		Close();
		ASSERT_GE(Files().size(), 3u);
	}
	/* Refused with SN_ECORRUPT naming `file`, nothing changed on disk. */
	void ExpectRefused(const std::string &file, const char *offset)
	{
		DirImage before = SaveDir(dir);
		EXPECT_EQ(Open(), SN_ECORRUPT);
		std::string msg = sn_errmsg();
		EXPECT_NE(msg.find(file), std::string::npos) << msg;
		EXPECT_NE(msg.find(std::string("offset ") + offset),
			  std::string::npos) << msg;
		EXPECT_TRUE(SaveDir(dir) == before) << "the disk was changed";
	}
};

TEST_F(WalDamage, GapBetweenSegments)
{
	Build();
	fs::remove(Path(SegName(2)));
	ExpectRefused(SegName(3), "0");
}

TEST_F(WalDamage, BadHeaderOfAnEarlierSegment)
{
	Build();
	auto b = ReadFile(Path(SegName(2)));
	b[17] ^= 0x40; /* the seq */
	WriteFile(Path(SegName(2)), b);
	ExpectRefused(SegName(2), "0");
}

TEST_F(WalDamage, ZeroedEarlierSegmentIsCorruption)
{
	Build();
	auto b = ReadFile(Path(SegName(1)));
	std::fill(b.begin(), b.end(), 0);
	WriteFile(Path(SegName(1)), b);
	ExpectRefused(SegName(1), "0");
}

TEST_F(WalDamage, SegmentUnderAnotherName)
{
	Build();
	WriteFile(Path(SegName(2)), ReadFile(Path(SegName(1))));
	ExpectRefused(SegName(2), "16");
}

TEST_F(WalDamage, OnlySegmentOfACompactedLogIsNeverDropped)
{
	Build();
	ASSERT_EQ(Open(), SN_OK);
	ASSERT_EQ(sn_storage_compact(st, model.Last()), SN_OK);
	Barrier();
	Close();
	ASSERT_EQ(Files().size(), 1u);
	std::string only = Files()[0];
	EXPECT_NE(only, SegName(1));
	/* Its head is gone: it held the log's only checkpoint. */
	auto b = ReadFile(Path(only));
	std::fill(b.begin(), b.begin() + 200, 0);
	WriteFile(Path(only), b);
	ExpectRefused(only, "0");
}

TEST_F(WalDamage, RecordFlippedInAnEarlierSegment)
{
	Build();
	auto b = ReadFile(Path(SegName(2)));
	b[200] ^= 1;
	WriteFile(Path(SegName(2)), b);
	DirImage before = SaveDir(dir);
	EXPECT_EQ(Open(), SN_ECORRUPT);
	EXPECT_NE(std::string(sn_errmsg()).find(SegName(2)), std::string::npos);
	EXPECT_TRUE(SaveDir(dir) == before);
}

TEST_F(WalDamage, LostTrailingFrameOfAnEarlierSegment)
{
	Build();
	auto b = ReadFile(Path(SegName(1)));
	auto ends = FrameEnds(b);
	ASSERT_GE(ends.size(), 3u);
	/* Zero the last frame: the segment looks complete but the next
	 * segment's checkpoint says where it ended. */
	std::fill(b.begin() + (long)ends[ends.size() - 2], b.end(), 0);
	WriteFile(Path(SegName(1)), b);
	ExpectRefused(SegName(2), "48"); /* its checkpoint record */
}

TEST_F(WalDamage, NeverWrittenLastSegmentIsRemoved)
{
	Build();
	std::string last = Files().back();
	uint64_t seq;
	ASSERT_EQ(sn__wal_parse_name(last.c_str(), &seq), 1);
	for (int variant = 0; variant < 3; variant++) {
		/* empty; zeros; a header cut short */
		std::vector<uint8_t> b;
		if (variant == 1)
			b.assign(4096, 0);
		if (variant == 2) {
			b.assign(SN__WAL_SEG_HEADER, 0);
			sn__wal_seg_header_put(b.data(), seq + 1);
			b.resize(20);
		}
		WriteFile(Path(SegName(seq + 1)), b);
		LogCapture logs;
		Model got;
		ASSERT_EQ(Open(&got), SN_OK) << variant << ": " << sn_errmsg();
		EXPECT_TRUE(SameLog(model, got));
		EXPECT_TRUE(logs.Contains(SegName(seq + 1))) << variant;
		Close();
		EXPECT_EQ(Files().back(), last) << variant;
	}
	Model got;
	ASSERT_EQ(Open(&got), SN_OK);
	Append(nullptr, Entries(model.Last() + 1, 1, 1));
	Close();
	ASSERT_EQ(Open(&got), SN_OK);
	EXPECT_TRUE(SameLog(model, got));
}

TEST_F(WalDamage, LeftoverTemporaryFilesAreRemoved)
{
	Build();
	std::string tmp = Files().back() + ".tmp";
	uint64_t seq;
	ASSERT_EQ(sn__wal_parse_name(Files().back().c_str(), &seq), 1);
	char name[SN__WAL_NAME_MAX];
	sn__wal_seg_name(name, seq + 1, true);
	WriteFile(Path(name), std::vector<uint8_t>(100, 7));
	WriteFile(Path("unrelated.txt"), std::vector<uint8_t>(3, 'x'));
	LogCapture logs;
	Model got;
	ASSERT_EQ(Open(&got), SN_OK) << sn_errmsg();
	EXPECT_TRUE(SameLog(model, got));
	EXPECT_FALSE(fs::exists(Path(name)));
	EXPECT_TRUE(fs::exists(Path("unrelated.txt")));
	EXPECT_TRUE(logs.Contains(name));
}

TEST_F(WalDamage, LeftoverTemporaryFileIsKeptWhenRecoveryRefuses)
{
	Build();
	char name[SN__WAL_NAME_MAX];
	sn__wal_seg_name(name, 99, true);
	WriteFile(Path(name), std::vector<uint8_t>(10, 1));
	fs::remove(Path(SegName(2)));
	ExpectRefused(SegName(3), "0");
	EXPECT_TRUE(fs::exists(Path(name)));
}

TEST_F(WalDamage, TornTailIsTruncatedAndLogged)
{
	Build();
	std::string last = Files().back();
	auto b = ReadFile(Path(last));
	auto ends = FrameEnds(b);
	ASSERT_GE(ends.size(), 2u);
	size_t cut = ends[ends.size() - 2] + 30;
	std::fill(b.begin() + (long)cut, b.end(), 0);
	WriteFile(Path(last), b);
	LogCapture logs;
	Model got;
	ASSERT_EQ(Open(&got), SN_OK) << sn_errmsg();
	std::string where = last + ": torn tail at offset " +
			    std::to_string(ends[ends.size() - 2]);
	EXPECT_TRUE(logs.Contains(where)) << where;
	/* The last batch is gone, all the others are there. */
	EXPECT_EQ(got.entries.size(), model.entries.size() - 5);
	/* The tail was zeroed: a second open finds nothing to repair. */
	uint64_t last_index = got.entries.back().index;
	Append(nullptr, Entries(last_index + 1, 2, 2));
	Close();
	LogCapture logs2;
	ASSERT_EQ(Open(&got), SN_OK) << sn_errmsg();
	EXPECT_EQ(logs2.Count(), 0u);
	EXPECT_EQ(got.entries.back().index, last_index + 2);
}

} // namespace
