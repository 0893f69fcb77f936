/*
 * memstore_test.cc - core/log/memstore.c: the simulator's in-memory storage
 * (pending writes, sync, crash, overwrite, install, compact, failure) and
 * its snapshot store.
 */
#include <gtest/gtest.h>

#include <senate/senate.h>
extern "C" {
#include "base/base.h"
#include "log/memstore.h"
}

#include <cstring>
#include <string>
#include <vector>

namespace {

struct Done {
	std::vector<std::pair<int, int>> calls; /* {tag, status} */
};

struct Tag {
	Done *done;
	int tag;
};

void OnDone(void *ud, int status)
{
	Tag *t = (Tag *)ud;
	t->done->calls.push_back({t->tag, status});
}

class Memstore : public ::testing::Test {
protected:
	void SetUp() override { ASSERT_EQ(sn__memstore_open(&s), SN_OK); }
	void TearDown() override { sn_storage_close(s); }

	/* Entries [first, last] of `term`, data "e<index>t<term>". */
	int Append(uint64_t first, uint64_t last, uint64_t term,
		   const sn_hard_state *hs = nullptr)
	{
		std::vector<std::string> data;
		std::vector<sn_entry> es;
		for (uint64_t i = first; i <= last; i++)
			data.push_back("e" + std::to_string(i) + "t" +
				       std::to_string(term));
		for (uint64_t i = first; i <= last; i++) {
			const std::string &d = data[i - first];
			es.push_back({i, term, SN_ENTRY_NORMAL, d.data(),
				      d.size()});
		}
		tags.push_back(new Tag{&done, next_tag++});
		return sn_storage_append(s, hs, es.data(), es.size(), OnDone,
					 tags.back());
	}

	int Install(uint64_t index, uint64_t term)
	{
		uint64_t voters[] = {1, 2, 3};
		sn_snapshot_meta m{index, term, 100, 0xabcd, voters, 3};
		tags.push_back(new Tag{&done, next_tag++});
		int rv = sn_storage_install(s, &m, OnDone, tags.back());
		voters[0] = 99; /* the storage copied them */
		return rv;
	}

	sn_storage_state Load()
	{
		sn_storage_state st;
		EXPECT_EQ(sn__memstore_load(s, &st), SN_OK);
		return st;
	}

	/* "index:term" of every durable entry, checking its data. */
	std::vector<std::string> Durable()
	{
		sn_storage_state st = Load();
		std::vector<std::string> out;
		for (size_t i = 0; i < st.n_entries; i++) {
			const sn_entry &e = st.entries[i];
			std::string want = "e" + std::to_string(e.index) + "t" +
					   std::to_string(e.term);
			EXPECT_EQ(std::string((const char *)e.data, e.len), want);
			if (i) {
				EXPECT_EQ(e.index, st.entries[i - 1].index + 1);
			}
			out.push_back(std::to_string(e.index) + ":" +
				      std::to_string(e.term));
		}
		return out;
	}

	~Memstore() override
	{
		for (Tag *t : tags)
			delete t;
	}

	sn_storage *s = nullptr;
	Done done;
	std::vector<Tag *> tags;
	int next_tag = 0;
	using V = std::vector<std::string>;
	using C = std::vector<std::pair<int, int>>;
};

TEST_F(Memstore, StartsEmpty)
{
	EXPECT_TRUE(sn__memstore_is(s));
	EXPECT_FALSE(sn__memstore_is(nullptr));
	sn_storage_state st = Load();
	EXPECT_EQ(st.hard_state.term, 0u);
	EXPECT_EQ(st.hard_state.vote, 0u);
	EXPECT_EQ(st.hard_state.commit, 0u);
	EXPECT_FALSE(st.has_snapshot);
	EXPECT_EQ(st.n_entries, 0u);
	EXPECT_EQ(sn__memstore_pending(s), 0u);
	EXPECT_EQ(sn__memstore_sync(s, 10), 0u);
	EXPECT_EQ(sn_storage_error(s, nullptr, 0), SN_OK);
}

TEST_F(Memstore, NothingIsDurableBeforeSync)
{
	sn_hard_state hs{3, 2, 1};
	ASSERT_EQ(Append(1, 3, 3, &hs), SN_OK);
	EXPECT_EQ(sn__memstore_pending(s), 1u);
	EXPECT_TRUE(done.calls.empty());
	EXPECT_EQ(Durable(), V{});
	EXPECT_EQ(Load().hard_state.term, 0u);

	EXPECT_EQ(sn__memstore_sync(s, 1), 1u);
	EXPECT_EQ(done.calls, (C{{0, SN_OK}}));
	EXPECT_EQ(Durable(), (V{"1:3", "2:3", "3:3"}));
	sn_storage_state st = Load();
	EXPECT_EQ(st.hard_state.term, 3u);
	EXPECT_EQ(st.hard_state.vote, 2u);
	EXPECT_EQ(st.hard_state.commit, 1u);
}

TEST_F(Memstore, SyncCompletesTheOldestInOrder)
{
	ASSERT_EQ(Append(1, 1, 1), SN_OK);
	ASSERT_EQ(Append(2, 3, 1), SN_OK);
	ASSERT_EQ(Append(4, 4, 1), SN_OK);
	EXPECT_EQ(sn__memstore_pending(s), 3u);
	EXPECT_EQ(sn__memstore_sync(s, 2), 2u);
	EXPECT_EQ(done.calls, (C{{0, SN_OK}, {1, SN_OK}}));
	EXPECT_EQ(Durable(), (V{"1:1", "2:1", "3:1"}));
	EXPECT_EQ(sn__memstore_sync(s, SIZE_MAX), 1u);
	EXPECT_EQ(done.calls.size(), 3u);
	EXPECT_EQ(Durable(), (V{"1:1", "2:1", "3:1", "4:1"}));
	sn__memstore_stats st;
	sn__memstore_stats_get(s, &st);
	EXPECT_EQ(st.writes, 3u);
	EXPECT_EQ(st.synced, 3u);
	EXPECT_EQ(st.dropped, 0u);
	EXPECT_EQ(st.early_acks, 0u);
}

TEST_F(Memstore, HardStateOnlyAndEmptyWrites)
{
	sn_hard_state hs{5, 1, 0};
	ASSERT_EQ(sn_storage_append(s, &hs, nullptr, 0, nullptr, nullptr),
		  SN_OK);
	tags.push_back(new Tag{&done, 7});
	ASSERT_EQ(sn_storage_append(s, nullptr, nullptr, 0, OnDone,
				    tags.back()), SN_OK); /* a barrier */
	EXPECT_EQ(sn__memstore_sync(s, SIZE_MAX), 2u);
	EXPECT_EQ(done.calls, (C{{7, SN_OK}}));
	EXPECT_EQ(Load().hard_state.term, 5u);
	EXPECT_EQ(Load().n_entries, 0u);
}

TEST_F(Memstore, CrashDropsPendingWrites)
{
	sn_hard_state hs1{1, 1, 0}, hs2{2, 0, 0};
	ASSERT_EQ(Append(1, 3, 1, &hs1), SN_OK);
	ASSERT_EQ(sn__memstore_sync(s, 1), 1u);
	ASSERT_EQ(Append(4, 6, 2, &hs2), SN_OK);
	ASSERT_EQ(Append(7, 7, 2), SN_OK);
	sn__memstore_crash(s);
	EXPECT_EQ(sn__memstore_pending(s), 0u);
	EXPECT_EQ(sn__memstore_sync(s, SIZE_MAX), 0u);
	EXPECT_EQ(done.calls, (C{{0, SN_OK}})); /* never for 1 and 2 */
	EXPECT_EQ(Durable(), (V{"1:1", "2:1", "3:1"}));
	EXPECT_EQ(Load().hard_state.term, 1u);
	sn__memstore_stats st;
	sn__memstore_stats_get(s, &st);
	EXPECT_EQ(st.dropped, 2u);

	/* After the restart the log is what the disk holds: 8 would leave a
	 * gap, 4 continues it. */
	EXPECT_EQ(Append(8, 8, 2), SN_EINVAL);
	ASSERT_EQ(Append(4, 4, 3), SN_OK);
	ASSERT_EQ(sn__memstore_sync(s, SIZE_MAX), 1u);
	EXPECT_EQ(Durable(), (V{"1:1", "2:1", "3:1", "4:3"}));
}

TEST_F(Memstore, OverwriteReplacesTheSuffix)
{
	ASSERT_EQ(Append(1, 5, 1), SN_OK);
	ASSERT_EQ(sn__memstore_sync(s, 1), 1u);
	ASSERT_EQ(Append(3, 4, 2), SN_OK);
	EXPECT_EQ(Durable(), (V{"1:1", "2:1", "3:1", "4:1", "5:1"}));
	ASSERT_EQ(sn__memstore_sync(s, 1), 1u);
	EXPECT_EQ(Durable(), (V{"1:1", "2:1", "3:2", "4:2"}));

	/* Pending over pending: applied in order. */
	ASSERT_EQ(Append(5, 9, 2), SN_OK);
	ASSERT_EQ(Append(2, 2, 3), SN_OK);
	ASSERT_EQ(Append(3, 3, 3), SN_OK);
	ASSERT_EQ(sn__memstore_sync(s, 1), 1u);
	EXPECT_EQ(Durable().size(), 9u);
	ASSERT_EQ(sn__memstore_sync(s, 2), 2u);
	EXPECT_EQ(Durable(), (V{"1:1", "2:3", "3:3"}));

	/* Overwrite from the very first index. */
	ASSERT_EQ(Append(1, 2, 4), SN_OK);
	ASSERT_EQ(sn__memstore_sync(s, 1), 1u);
	EXPECT_EQ(Durable(), (V{"1:4", "2:4"}));
}

TEST_F(Memstore, AppendIsCheckedAgainstThePendingLog)
{
	EXPECT_EQ(Append(2, 2, 1), SN_EINVAL); /* gap after an empty log */
	EXPECT_NE(std::string(sn_errmsg()).find("gap"), std::string::npos)
		<< sn_errmsg();
	ASSERT_EQ(Append(1, 3, 1), SN_OK);
	ASSERT_EQ(Append(4, 5, 1), SN_OK); /* continues the pending one */
	EXPECT_EQ(Append(7, 7, 1), SN_EINVAL);
	sn_entry bad[2] = {{6, 1, 0, nullptr, 0}, {8, 1, 0, nullptr, 0}};
	EXPECT_EQ(sn_storage_append(s, nullptr, bad, 2, nullptr, nullptr),
		  SN_EINVAL); /* not consecutive */
	EXPECT_EQ(sn__memstore_pending(s), 2u);
	EXPECT_EQ(sn__memstore_sync(s, SIZE_MAX), 2u);
	EXPECT_EQ(Durable().size(), 5u);
}

TEST_F(Memstore, EntryDataIsCopied)
{
	char buf[] = "hello";
	sn_entry e{1, 1, SN_ENTRY_NORMAL, buf, 5};
	ASSERT_EQ(sn_storage_append(s, nullptr, &e, 1, nullptr, nullptr),
		  SN_OK);
	memcpy(buf, "xxxxx", 5);
	ASSERT_EQ(sn__memstore_sync(s, 1), 1u);
	sn_storage_state st = Load();
	ASSERT_EQ(st.n_entries, 1u);
	EXPECT_EQ(std::string((const char *)st.entries[0].data, 5), "hello");
	EXPECT_EQ(st.entries[0].type, (uint32_t)SN_ENTRY_NORMAL);

	sn_entry noop{2, 1, SN_ENTRY_NOOP, nullptr, 0};
	ASSERT_EQ(sn_storage_append(s, nullptr, &noop, 1, nullptr, nullptr),
		  SN_OK);
	ASSERT_EQ(sn__memstore_sync(s, 1), 1u);
	st = Load();
	ASSERT_EQ(st.n_entries, 2u);
	EXPECT_EQ(st.entries[1].type, (uint32_t)SN_ENTRY_NOOP);
	EXPECT_EQ(st.entries[1].len, 0u);
}

TEST_F(Memstore, InstallResetsTheLog)
{
	ASSERT_EQ(Append(1, 10, 1), SN_OK);
	ASSERT_EQ(sn__memstore_sync(s, 1), 1u);
	ASSERT_EQ(Install(20, 3), SN_OK);
	EXPECT_FALSE(Load().has_snapshot); /* pending */
	EXPECT_EQ(Durable().size(), 10u);

	/* The pending install already governs appends. */
	EXPECT_EQ(Append(11, 11, 1), SN_EINVAL);
	EXPECT_EQ(Append(20, 20, 3), SN_EINVAL); /* covered */
	EXPECT_EQ(Append(22, 22, 3), SN_EINVAL); /* gap */
	ASSERT_EQ(Append(21, 22, 3), SN_OK);

	ASSERT_EQ(sn__memstore_sync(s, 1), 1u);
	sn_storage_state st = Load();
	ASSERT_TRUE(st.has_snapshot);
	EXPECT_EQ(st.snapshot.index, 20u);
	EXPECT_EQ(st.snapshot.term, 3u);
	EXPECT_EQ(st.snapshot.size, 100u);
	EXPECT_EQ(st.snapshot.crc, 0xabcdu);
	ASSERT_EQ(st.snapshot.n_voters, 3u);
	EXPECT_EQ(st.snapshot.voters[0], 1u);
	EXPECT_EQ(st.snapshot.voters[2], 3u);
	EXPECT_EQ(st.n_entries, 0u);
	ASSERT_EQ(sn__memstore_sync(s, 1), 1u);
	EXPECT_EQ(Durable(), (V{"21:3", "22:3"}));
	EXPECT_EQ(done.calls, (C{{0, SN_OK}, {1, SN_OK}, {5, SN_OK}}));

	EXPECT_EQ(Install(15, 3), SN_EINVAL); /* older than installed */
	ASSERT_EQ(Install(30, 4), SN_OK);
	sn__memstore_crash(s); /* lost: the old snapshot stays */
	EXPECT_EQ(Load().snapshot.index, 20u);
	EXPECT_EQ(Durable(), (V{"21:3", "22:3"}));
}

TEST_F(Memstore, CompactDropsDurableEntries)
{
	ASSERT_EQ(Append(1, 10, 1), SN_OK);
	ASSERT_EQ(sn__memstore_sync(s, 1), 1u);
	ASSERT_EQ(sn_storage_compact(s, 6), SN_OK);
	EXPECT_EQ(Durable(), (V{"7:1", "8:1", "9:1", "10:1"}));
	ASSERT_EQ(sn_storage_compact(s, 3), SN_OK); /* behind: no-op */
	EXPECT_EQ(Durable().size(), 4u);

	/* Compaction past pending writes: those land afterwards. */
	ASSERT_EQ(Append(11, 12, 1), SN_OK);
	ASSERT_EQ(sn_storage_compact(s, 11), SN_OK);
	EXPECT_EQ(Durable(), V{});
	ASSERT_EQ(sn__memstore_sync(s, 1), 1u);
	EXPECT_EQ(Durable(), (V{"11:1", "12:1"}));
	ASSERT_EQ(Append(13, 13, 1), SN_OK);
	ASSERT_EQ(sn__memstore_sync(s, 1), 1u);
	EXPECT_EQ(Durable(), (V{"11:1", "12:1", "13:1"}));
	/* A restart sees the compacted log and continues it. */
	sn__memstore_crash(s);
	ASSERT_EQ(Append(14, 14, 1), SN_OK);
	ASSERT_EQ(sn__memstore_sync(s, 1), 1u);
	EXPECT_EQ(Durable().back(), "14:1");
}

/* A taken snapshot's marker is a pending write like any other: durable at
 * sync (the log stays), lost by a crash before it. */
TEST_F(Memstore, TakenSnapshotKeepsTheLog)
{
	uint64_t voters[] = {1, 2, 3};
	sn_snapshot_meta m{8, 1, 100, 0xabcd, voters, 3};
	ASSERT_EQ(Append(1, 10, 1), SN_OK);
	ASSERT_EQ(sn__memstore_sync(s, 1), 1u);
	ASSERT_EQ(sn_storage_snapshot(s, &m, nullptr, nullptr), SN_OK);
	sn__memstore_crash(s);
	EXPECT_FALSE(Load().has_snapshot);
	ASSERT_EQ(sn_storage_snapshot(s, &m, nullptr, nullptr), SN_OK);
	EXPECT_EQ(Append(8, 8, 2), SN_EINVAL); /* covered already */
	m.index = 11;
	EXPECT_EQ(sn_storage_snapshot(s, &m, nullptr, nullptr), SN_EINVAL);
	ASSERT_EQ(sn__memstore_sync(s, 1), 1u);
	ASSERT_EQ(sn_storage_compact(s, 6), SN_OK);
	sn_storage_state st = Load();
	ASSERT_TRUE(st.has_snapshot);
	EXPECT_EQ(st.snapshot.index, 8u);
	EXPECT_EQ(Durable(), (V{"7:1", "8:1", "9:1", "10:1"}));
}

TEST_F(Memstore, FailedSyncStopsTheStorage)
{
	ASSERT_EQ(Append(1, 1, 1), SN_OK);
	ASSERT_EQ(sn__memstore_sync(s, 1), 1u);
	ASSERT_EQ(Append(2, 2, 1), SN_OK);
	ASSERT_EQ(Append(3, 3, 1), SN_OK);
	ASSERT_EQ(Install(9, 1), SN_OK);
	sn__memstore_fail(s, SN_EIO);
	EXPECT_EQ(sn__memstore_sync(s, 1), 0u);
	EXPECT_EQ(done.calls, (C{{0, SN_OK}, {1, SN_EIO}, {2, SN_ESTOPPED},
				 {3, SN_ESTOPPED}}));
	EXPECT_EQ(Durable(), (V{"1:1"}));
	EXPECT_EQ(sn__memstore_pending(s), 0u);

	EXPECT_EQ(Append(2, 2, 1), SN_ESTOPPED);
	EXPECT_EQ(Install(9, 1), SN_ESTOPPED);
	EXPECT_EQ(sn_storage_compact(s, 1), SN_ESTOPPED);
	EXPECT_EQ(done.calls.size(), 4u); /* no callback for refused calls */
	char msg[128];
	EXPECT_EQ(sn_storage_error(s, msg, sizeof msg), SN_EIO);
	EXPECT_NE(std::string(msg).find("injected"), std::string::npos) << msg;

	/* A restart reopens a healthy storage with the durable image. */
	sn__memstore_crash(s);
	EXPECT_EQ(sn_storage_error(s, nullptr, 0), SN_OK);
	ASSERT_EQ(Append(2, 2, 2), SN_OK);
	ASSERT_EQ(sn__memstore_sync(s, 1), 1u);
	EXPECT_EQ(Durable(), (V{"1:1", "2:2"}));
}

struct Reenter {
	sn_storage *s;
	int calls = 0;
};

void AppendFromCallback(void *ud, int status)
{
	Reenter *r = (Reenter *)ud;
	EXPECT_EQ(status, SN_OK);
	if (r->calls++ == 0) {
		sn_entry e{2, 1, SN_ENTRY_NOOP, nullptr, 0};
		EXPECT_EQ(sn_storage_append(r->s, nullptr, &e, 1,
					    AppendFromCallback, r), SN_OK);
	}
}

TEST_F(Memstore, CallbacksMayQueueMoreWrites)
{
	Reenter r{s};
	sn_entry e{1, 1, SN_ENTRY_NOOP, nullptr, 0};
	ASSERT_EQ(sn_storage_append(s, nullptr, &e, 1, AppendFromCallback, &r),
		  SN_OK);
	EXPECT_EQ(sn__memstore_sync(s, SIZE_MAX), 1u); /* only the first */
	EXPECT_EQ(r.calls, 1);
	EXPECT_EQ(sn__memstore_pending(s), 1u);
	EXPECT_EQ(sn__memstore_sync(s, SIZE_MAX), 1u);
	EXPECT_EQ(r.calls, 2);
	EXPECT_EQ(Load().n_entries, 2u);
}

TEST_F(Memstore, CloseCompletesPendingWrites)
{
	ASSERT_EQ(Append(1, 2, 1), SN_OK);
	ASSERT_EQ(Append(3, 3, 1), SN_OK);
	sn_storage_close(s);
	s = nullptr;
	EXPECT_EQ(done.calls, (C{{0, SN_OK}, {1, SN_OK}}));
	sn_storage_close(nullptr);
}

TEST(MemstoreControls, RefuseOtherStorages)
{
	EXPECT_EQ(sn__memstore_open(nullptr), SN_EINVAL);
	EXPECT_EQ(sn__memstore_sync(nullptr, 1), 0u);
	EXPECT_EQ(sn__memstore_pending(nullptr), 0u);
	sn__memstore_crash(nullptr);
	sn__memstore_fail(nullptr, SN_EIO);
	sn_storage_state st;
	EXPECT_EQ(sn__memstore_load(nullptr, &st), SN_EINVAL);
}

/* ---- the snapshot store ------------------------------------------------- */

class MemstoreSnap : public ::testing::Test {
protected:
	void SetUp() override { ms = sn__memsnap_new(); }
	void TearDown() override { sn__memsnap_free(ms); }

	sn_snapshot_meta Meta(uint64_t index, uint64_t term,
			      const std::string &data)
	{
		return {index, term, data.size(),
			sn__crc32c(0, data.data(), data.size()), voters, 2};
	}

	std::string Get(uint64_t index, uint64_t term)
	{
		sn_snapshot_meta m;
		const void *d;
		size_t len;
		if (sn__memsnap_get(ms, index, term, &m, &d, &len) != SN_OK)
			return "<none>";
		EXPECT_EQ(m.index, index);
		EXPECT_EQ(m.term, term);
		EXPECT_EQ(m.n_voters, 2u);
		EXPECT_EQ(m.voters[1], 8u);
		return std::string((const char *)d, len);
	}

	sn__memsnap *ms = nullptr;
	uint64_t voters[2] = {7, 8};
};

TEST_F(MemstoreSnap, PutGetLatest)
{
	sn_snapshot_meta m;
	EXPECT_EQ(sn__memsnap_latest(ms, &m, nullptr, nullptr), SN_ENOTFOUND);
	std::string a = "state at 10";
	sn_snapshot_meta ma = Meta(10, 2, a);
	ASSERT_EQ(sn__memsnap_put(ms, &ma, a.data(), a.size()), SN_OK);
	voters[1] = 0; /* the store has its own copy: Get() checks for 8 */
	EXPECT_EQ(Get(10, 2), a);
	voters[1] = 8;
	EXPECT_EQ(Get(10, 1), "<none>");
	EXPECT_EQ(sn__memsnap_get(ms, 11, 2, &m, nullptr, nullptr),
		  SN_ENOTFOUND);

	/* A newer one replaces the older, as a committed file does. */
	std::string b = "state at 20";
	sn_snapshot_meta mb = Meta(20, 3, b);
	ASSERT_EQ(sn__memsnap_put(ms, &mb, b.data(), b.size()), SN_OK);
	EXPECT_EQ(Get(10, 2), "<none>");
	const void *d;
	size_t len;
	ASSERT_EQ(sn__memsnap_latest(ms, &m, &d, &len), SN_OK);
	EXPECT_EQ(m.index, 20u);
	EXPECT_EQ(std::string((const char *)d, len), b);
	EXPECT_EQ(sn__memsnap_count(ms, false), 1u);

	/* An older one put later does not remove the newer. */
	ASSERT_EQ(sn__memsnap_put(ms, &ma, a.data(), a.size()), SN_OK);
	EXPECT_EQ(sn__memsnap_count(ms, false), 2u);
	ASSERT_EQ(sn__memsnap_latest(ms, &m, nullptr, nullptr), SN_OK);
	EXPECT_EQ(m.index, 20u);
	/* The same one again replaces it. */
	ASSERT_EQ(sn__memsnap_put(ms, &mb, b.data(), b.size()), SN_OK);
	EXPECT_EQ(sn__memsnap_count(ms, false), 1u);
	EXPECT_EQ(Get(20, 3), b);
}

TEST_F(MemstoreSnap, PutChecksSizeAndCrc)
{
	std::string a = "abc";
	sn_snapshot_meta m = Meta(5, 1, a);
	EXPECT_EQ(sn__memsnap_put(ms, &m, "abd", 3), SN_ECORRUPT);
	EXPECT_EQ(sn__memsnap_put(ms, &m, "ab", 2), SN_ECORRUPT);
	m.index = 0;
	EXPECT_EQ(sn__memsnap_put(ms, &m, "abc", 3), SN_EINVAL);
	EXPECT_EQ(sn__memsnap_count(ms, false), 0u);
	std::string empty;
	sn_snapshot_meta e = Meta(6, 1, empty);
	ASSERT_EQ(sn__memsnap_put(ms, &e, nullptr, 0), SN_OK);
	EXPECT_EQ(Get(6, 1), "");
}

TEST_F(MemstoreSnap, ChunksResumeAndCommit)
{
	std::string data(10000, 'x');
	for (size_t i = 0; i < data.size(); i++)
		data[i] = (char)('a' + i % 26);
	sn_snapshot_meta m = Meta(30, 4, data);
	EXPECT_EQ(sn__memsnap_offset(ms, &m), 0u);
	EXPECT_EQ(sn__memsnap_write(ms, &m, 100, data.data(), 10), SN_EINVAL);
	ASSERT_EQ(sn__memsnap_write(ms, &m, 0, data.data(), 4000), SN_OK);
	ASSERT_EQ(sn__memsnap_write(ms, &m, 4000, data.data() + 4000, 3000),
		  SN_OK);
	EXPECT_EQ(sn__memsnap_offset(ms, &m), 7000u);
	EXPECT_EQ(sn__memsnap_write(ms, &m, 6000, data.data(), 10), SN_EINVAL);
	EXPECT_EQ(sn__memsnap_write(ms, &m, 7000, data.data(), 3001),
		  SN_ETOOLARGE);
	EXPECT_EQ(sn__memsnap_count(ms, true), 1u);
	EXPECT_EQ(Get(30, 4), "<none>"); /* not complete yet */

	/* Another meta (other voters) is another partial. */
	uint64_t other_voters[2] = {7, 9};
	sn_snapshot_meta m2 = m;
	m2.voters = other_voters;
	EXPECT_EQ(sn__memsnap_offset(ms, &m2), 0u);

	ASSERT_EQ(sn__memsnap_write(ms, &m, 7000, data.data() + 7000, 3000),
		  SN_OK);
	ASSERT_EQ(sn__memsnap_commit(ms, &m), SN_OK);
	EXPECT_EQ(sn__memsnap_count(ms, true), 0u);
	EXPECT_EQ(Get(30, 4), data);
	EXPECT_EQ(sn__memsnap_commit(ms, &m), SN_ENOTFOUND);
}

TEST_F(MemstoreSnap, OffsetZeroStartsAfresh)
{
	std::string data = "0123456789";
	sn_snapshot_meta m = Meta(3, 1, data);
	ASSERT_EQ(sn__memsnap_write(ms, &m, 0, "zzzzz", 5), SN_OK);
	ASSERT_EQ(sn__memsnap_write(ms, &m, 0, data.data(), 4), SN_OK);
	EXPECT_EQ(sn__memsnap_offset(ms, &m), 4u);
	ASSERT_EQ(sn__memsnap_write(ms, &m, 4, data.data() + 4, 6), SN_OK);
	ASSERT_EQ(sn__memsnap_commit(ms, &m), SN_OK);
	EXPECT_EQ(Get(3, 1), data);
}

TEST_F(MemstoreSnap, CommitOfBadDataDropsThePartial)
{
	std::string data = "0123456789";
	sn_snapshot_meta m = Meta(3, 1, data);
	ASSERT_EQ(sn__memsnap_write(ms, &m, 0, "0123456788", 10), SN_OK);
	EXPECT_EQ(sn__memsnap_commit(ms, &m), SN_ECORRUPT);
	EXPECT_EQ(sn__memsnap_count(ms, true), 0u);
	ASSERT_EQ(sn__memsnap_write(ms, &m, 0, data.data(), 9), SN_OK);
	EXPECT_EQ(sn__memsnap_commit(ms, &m), SN_ECORRUPT); /* short */
	EXPECT_EQ(sn__memsnap_count(ms, false), 0u);
}

TEST_F(MemstoreSnap, CommitPrunesAndCrashDropsPartials)
{
	std::string a = "aaaa", b = "bbbb", c = "cccc";
	sn_snapshot_meta ma = Meta(10, 1, a), mb = Meta(20, 1, b),
			 mc = Meta(30, 1, c);
	ASSERT_EQ(sn__memsnap_put(ms, &ma, a.data(), a.size()), SN_OK);
	ASSERT_EQ(sn__memsnap_write(ms, &ma, 0, "a", 1), SN_OK); /* stale */
	ASSERT_EQ(sn__memsnap_write(ms, &mc, 0, "c", 1), SN_OK); /* newer */
	ASSERT_EQ(sn__memsnap_write(ms, &mb, 0, b.data(), b.size()), SN_OK);
	EXPECT_EQ(sn__memsnap_count(ms, true), 3u);
	ASSERT_EQ(sn__memsnap_commit(ms, &mb), SN_OK);
	EXPECT_EQ(sn__memsnap_count(ms, false), 1u);
	EXPECT_EQ(sn__memsnap_count(ms, true), 1u); /* 30 is in progress */
	EXPECT_EQ(sn__memsnap_offset(ms, &mc), 1u);
	EXPECT_EQ(Get(20, 1), b);
	sn__memsnap_drop_partials(ms);
	EXPECT_EQ(sn__memsnap_count(ms, true), 0u);
	EXPECT_EQ(sn__memsnap_offset(ms, &mc), 0u);
	EXPECT_EQ(Get(20, 1), b);
	sn__memsnap_free(nullptr);
}

uint64_t Counter(void *ud)
{
	return (*(uint64_t *)ud)++;
}

/* A crash keeps what a partial had synced (or loses the whole file); the
 * newest partial is what a restart resumes. */
TEST_F(MemstoreSnap, CrashKeepsSyncedPartialBytes)
{
	std::string b(100, 'b'), c(100, 'c');
	sn_snapshot_meta mb = Meta(20, 1, b), mc = Meta(30, 1, c);
	ASSERT_EQ(sn__memsnap_write(ms, &mb, 0, b.data(), 40), SN_OK);
	ASSERT_EQ(sn__memsnap_write(ms, &mc, 0, c.data(), 30), SN_OK);
	sn__memsnap_sync(ms);
	ASSERT_EQ(sn__memsnap_write(ms, &mb, 40, b.data() + 40, 40), SN_OK);
	ASSERT_EQ(sn__memsnap_write(ms, &mc, 30, c.data() + 30, 40), SN_OK);
	sn_snapshot_meta got;
	const void *data = nullptr;
	size_t len = 0;
	ASSERT_EQ(sn__memsnap_partial_latest(ms, &got, &data, &len), SN_OK);
	EXPECT_EQ(got.index, 30u);
	EXPECT_EQ(len, 70u);
	for (uint64_t seed = 1; seed < 40; seed++) {
		sn__memsnap *copy = sn__memsnap_new();
		ASSERT_EQ(sn__memsnap_write(copy, &mb, 0, b.data(), 40), SN_OK);
		sn__memsnap_sync(copy);
		ASSERT_EQ(sn__memsnap_write(copy, &mb, 40, b.data() + 40, 40),
			  SN_OK);
		uint64_t ctr = seed;
		sn__memsnap_crash(copy, Counter, &ctr);
		uint64_t off = sn__memsnap_offset(copy, &mb);
		if (sn__memsnap_count(copy, true) == 1) {
			EXPECT_GE(off, 40u) << "lost synced bytes";
			EXPECT_LE(off, 80u);
		}
		sn__memsnap_free(copy);
	}
	sn__memsnap_drop_partials(ms);
	EXPECT_EQ(sn__memsnap_partial_latest(ms, &got, &data, &len),
		  SN_ENOTFOUND);
}

TEST_F(MemstoreSnap, CommitReplacesAnEqualCompleteCopy)
{
	std::string a = "aaaa";
	sn_snapshot_meta m = Meta(10, 1, a);
	ASSERT_EQ(sn__memsnap_put(ms, &m, a.data(), a.size()), SN_OK);
	ASSERT_EQ(sn__memsnap_write(ms, &m, 0, a.data(), a.size()), SN_OK);
	ASSERT_EQ(sn__memsnap_commit(ms, &m), SN_OK);
	EXPECT_EQ(sn__memsnap_count(ms, false), 1u);
	EXPECT_EQ(sn__memsnap_count(ms, true), 0u);
	EXPECT_EQ(Get(10, 1), a);
}

} // namespace
