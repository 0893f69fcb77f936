/*
 * wal_fault_test.cc - the WAL under failing system calls (through the seam
 * in core/log/wal_fault.h) and under load: a failed fdatasync, a short
 * write, ENOSPC stop the storage for good, name the failure, never retry,
 * and lose nothing acknowledged; group commit covers many appends with few
 * fdatasyncs and completes them in order; a full queue pushes back; the
 * node's inline mode, and switching it to the storage thread and back.
 */
#include "wal_harness.h"

#include <atomic>
#include <cerrno>
#include <fcntl.h>
#include <thread>
#include <unistd.h>

namespace {

using namespace walt;

/* The hooks are plain functions: their state lives here. */
struct Faults {
	std::atomic<int> syncs{ 0 };
	std::atomic<int> fail_sync_errno{ 0 };  /* fail every fdatasync */
	std::atomic<int> writes{ 0 };
	std::atomic<int> short_writes{ 0 };     /* cut this many writes */
	std::atomic<int> fail_write_errno{ 0 }; /* after the cut ones */
	std::atomic<int> fail_alloc_errno{ 0 };
	std::atomic<int> sync_delay_us{ 0 };
	std::mutex mu;
	std::condition_variable cv;
	bool hold = false; /* fdatasync waits while set */
};
Faults *faults;

int FakeSync(int fd)
{
	faults->syncs++;
	{
		std::unique_lock<std::mutex> g(faults->mu);
		faults->cv.wait(g, [] { return !faults->hold; });
	}
	if (faults->sync_delay_us)
		usleep((useconds_t)faults->sync_delay_us.load());
	if (int e = faults->fail_sync_errno.load()) {
		errno = e;
		return -1;
	}
	return fdatasync(fd);
}

ssize_t FakeWritev(int fd, const struct iovec *iov, int n, off_t off)
{
	faults->writes++;
	if (faults->short_writes > 0) {
		faults->short_writes--;
		/* Write half of the first buffer only. */
		size_t half = iov[0].iov_len / 2 ? iov[0].iov_len / 2 : 1;
		return pwrite(fd, iov[0].iov_base, half, off);
	}
	if (int e = faults->fail_write_errno.load()) {
		errno = e;
		return -1;
	}
	return pwritev(fd, iov, n, off);
}

int FakeAlloc(int fd, off_t off, off_t len)
{
	if (int e = faults->fail_alloc_errno.load()) {
		errno = e;
		return -1;
	}
	int e = posix_fallocate(fd, off, len);
	if (e) {
		errno = e;
		return -1;
	}
	return 0;
}

class WalFault : public WalTest {
protected:
	Faults f;

	void SetUp() override
	{
		WalTest::SetUp();
		faults = &f;
		opts.no_sync = 0; /* fdatasync is what these tests watch */
		sn__wal_hooks.fdatasync = FakeSync;
		sn__wal_hooks.pwritev = FakeWritev;
		sn__wal_hooks.fallocate = FakeAlloc;
	}
	void TearDown() override
	{
		Release();
		WalTest::TearDown(); /* closes, then restores the hooks */
		faults = nullptr;
	}
	void Hold()
	{
		std::lock_guard<std::mutex> g(f.mu);
		f.hold = true;
	}
	void Release()
	{
		std::lock_guard<std::mutex> g(f.mu);
		f.hold = false;
		f.cv.notify_all();
	}
	/* Stopped: appends, installs and compaction say so, and the
	 * error names what failed. */
	void ExpectStopped(int code, const char *what)
	{
		auto es_e = Entries(model.Last() + 1, 1, 1);
		auto es = CEntries(es_e);
		EXPECT_EQ(sn_storage_append(st, nullptr, es.data(), 1, nullptr,
					    nullptr), SN_ESTOPPED);
		EXPECT_NE(std::string(sn_errmsg()).find(what), std::string::npos)
			<< sn_errmsg();
		Snap s;
		s.index = model.Last() + 10;
		sn_snapshot_meta m = s.Meta();
		EXPECT_EQ(sn_storage_install(st, &m, nullptr, nullptr),
			  SN_ESTOPPED);
		EXPECT_EQ(sn_storage_compact(st, 1), SN_ESTOPPED);
		char buf[256];
		EXPECT_EQ(sn_storage_error(st, buf, sizeof buf), code);
		EXPECT_NE(std::string(buf).find(what), std::string::npos) << buf;
		EXPECT_EQ(sn_storage_error(st, nullptr, 0), code);
	}
	/* After a reopen, everything acknowledged is there; the failed batch
	 * (never acknowledged) may or may not be. */
	void ExpectRecovered(const Model &with_failed)
	{
		sn__wal_hooks_reset();
		Close();
		Model got;
		ASSERT_EQ(Open(&got), SN_OK) << sn_errmsg();
		EXPECT_TRUE(SameLog(model, got) || SameLog(with_failed, got));
	}
};

TEST_F(WalFault, HealthyStorageReportsNoError)
{
	ASSERT_EQ(Open(), SN_OK);
	char buf[16] = "junk";
	EXPECT_EQ(sn_storage_error(st, buf, sizeof buf), SN_OK);
	EXPECT_STREQ(buf, "");
}

TEST_F(WalFault, FailedFdatasyncStopsForGood)
{
	LogCapture logs;
	ASSERT_EQ(Open(), SN_OK) << sn_errmsg();
	sn_hard_state hs{ 1, 1, 0 };
	Append(&hs, Entries(1, 3, 1));
	Append(nullptr, Entries(4, 3, 1));

	f.fail_sync_errno = EIO;
	int syncs_before = f.syncs;
	Model with_failed = model;
	with_failed.Append(nullptr, Entries(7, 2, 1));
	int id;
	ASSERT_EQ(AppendAsync(nullptr, Entries(7, 2, 1), &id), SN_OK);
	ASSERT_TRUE(done.WaitId(id));
	EXPECT_EQ(done.StatusOf(id), SN_EIO);
	EXPECT_EQ(f.syncs - syncs_before, 1);
	ExpectStopped(SN_EIO, "fdatasync");
	EXPECT_TRUE(logs.Contains("fdatasync"));
	/* Never retried, even when the disk recovers. */
	f.fail_sync_errno = 0;
	ExpectStopped(SN_EIO, "fdatasync");
	Close();
	EXPECT_EQ(f.syncs - syncs_before, 1);
	ExpectRecovered(with_failed);
}

TEST_F(WalFault, EveryLaterQueuedWriteGetsStopped)
{
	LogCapture logs;
	ASSERT_EQ(Open(), SN_OK) << sn_errmsg();
	Append(nullptr, Entries(1, 2, 1));
	Model with_failed = model;
	/* Hold the first sync, queue more behind it, then fail it. */
	Hold();
	f.fail_sync_errno = EIO;
	int first, id = 0, syncs_before = f.syncs;
	ASSERT_EQ(AppendAsync(nullptr, Entries(3, 1, 1), &first), SN_OK);
	with_failed.Append(nullptr, Entries(3, 1, 1));
	while (f.syncs == syncs_before) /* the thread is in the held sync */
		std::this_thread::yield();
	for (uint64_t i = 4; i < 10; i++) {
		ASSERT_EQ(AppendAsync(nullptr, Entries(i, 1, 1), &id), SN_OK);
		with_failed.Append(nullptr, Entries(i, 1, 1));
	}
	Release();
	ASSERT_TRUE(done.WaitId(id));
	EXPECT_EQ(done.StatusOf(first), SN_EIO);
	for (int i = first + 1; i <= id; i++)
		EXPECT_EQ(done.StatusOf(i), SN_ESTOPPED) << i;
	/* In submission order. */
	for (size_t i = 1; i < done.done.size(); i++)
		EXPECT_LT(done.done[i - 1].first, done.done[i].first);
	ExpectStopped(SN_EIO, "fdatasync");
	Model only_first = model;
	only_first.Append(nullptr, Entries(3, 1, 1));
	sn__wal_hooks_reset();
	Close();
	Model got;
	ASSERT_EQ(Open(&got), SN_OK) << sn_errmsg();
	EXPECT_TRUE(SameLog(model, got) || SameLog(only_first, got));
}

TEST_F(WalFault, ShortWritesAreFinished)
{
	ASSERT_EQ(Open(), SN_OK) << sn_errmsg();
	Append(nullptr, Entries(1, 2, 1));
	f.short_writes = 3; /* three short writes in a row, then fine */
	Append(nullptr, Entries(3, 4, 1, 100));
	EXPECT_EQ(f.short_writes, 0);
	Append(nullptr, Entries(7, 1, 1));
	Close();
	sn__wal_hooks_reset();
	Model got;
	ASSERT_EQ(Open(&got), SN_OK) << sn_errmsg();
	EXPECT_TRUE(SameLog(model, got));
}

TEST_F(WalFault, ShortWriteThatCannotFinishStops)
{
	LogCapture logs;
	ASSERT_EQ(Open(), SN_OK) << sn_errmsg();
	Append(nullptr, Entries(1, 2, 1));
	Model with_failed = model;
	with_failed.Append(nullptr, Entries(3, 4, 1, 100));
	f.short_writes = 1;
	f.fail_write_errno = ENOSPC;
	int syncs_before = f.syncs, id;
	ASSERT_EQ(AppendAsync(nullptr, Entries(3, 4, 1, 100), &id), SN_OK);
	ASSERT_TRUE(done.WaitId(id));
	EXPECT_EQ(done.StatusOf(id), SN_ENOSPC);
	EXPECT_EQ(f.syncs, syncs_before) << "no sync after a failed write";
	ExpectStopped(SN_ENOSPC, "write");
	/* A torn frame is on disk; recovery truncates it. */
	ExpectRecovered(with_failed);
}

TEST_F(WalFault, NoSpaceForANewSegmentStops)
{
	LogCapture logs;
	opts.segment_bytes = 2048;
	ASSERT_EQ(Open(), SN_OK) << sn_errmsg();
	Append(nullptr, Entries(1, 5, 1, 100));
	f.fail_alloc_errno = ENOSPC;
	Model with_failed = model;
	with_failed.Append(nullptr, Entries(6, 20, 1, 100));
	int id;
	ASSERT_EQ(AppendAsync(nullptr, Entries(6, 20, 1, 100), &id), SN_OK);
	ASSERT_TRUE(done.WaitId(id));
	EXPECT_EQ(done.StatusOf(id), SN_ENOSPC);
	ExpectStopped(SN_ENOSPC, "preallocate");
	for (auto &name : Files())
		EXPECT_EQ(name.find(".tmp"), std::string::npos) << name;
	ExpectRecovered(with_failed);
}

TEST_F(WalFault, GroupCommitBatchesAndCompletesInOrder)
{
	ASSERT_EQ(Open(), SN_OK) << sn_errmsg();
	f.sync_delay_us = 2000; /* a slow disk: appends pile up */
	int syncs_before = f.syncs;
	const int n = 400;
	int id = 0;
	for (int i = 0; i < n; i++) {
		sn_hard_state hs{ 1, 1, (uint64_t)i };
		ASSERT_EQ(AppendAsync(i % 10 == 0 ? &hs : nullptr,
				      Entries((uint64_t)i + 1, 1, 1, 64), &id),
			  SN_OK);
		model.Append(i % 10 == 0 ? &hs : nullptr,
			     Entries((uint64_t)i + 1, 1, 1, 64));
	}
	ASSERT_TRUE(done.WaitFor((size_t)n));
	int syncs = f.syncs - syncs_before;
	std::lock_guard<std::mutex> g(done.mu);
	for (int i = 0; i < n; i++) {
		EXPECT_EQ(done.done[(size_t)i].first, i);
		EXPECT_EQ(done.done[(size_t)i].second, SN_OK);
	}
	EXPECT_LE(syncs, n / 10) << syncs << " fdatasyncs for " << n
				 << " appends";
	EXPECT_GE(syncs, 1);
}

/* A hard state that moves only the commit index is written without a sync
 * of its own; entries, term and vote are synced before their callback. */
TEST_F(WalFault, OnlyACommitIndexChangeSkipsTheSync)
{
	ASSERT_EQ(Open(), SN_OK) << sn_errmsg();
	sn_hard_state hs{ 1, 1, 0 };
	int before = f.syncs;
	Append(&hs, Entries(1, 3, 1));
	EXPECT_EQ(f.syncs - before, 1) << "entries + term/vote";
	before = f.syncs;
	hs.commit = 2;
	Append(&hs, {});
	hs.commit = 3;
	Append(&hs, {});
	EXPECT_EQ(f.syncs - before, 0) << "commit index only";
	before = f.syncs;
	hs.term = 2;
	Append(&hs, {});
	EXPECT_EQ(f.syncs - before, 1) << "a new term";
	before = f.syncs;
	hs.vote = 2;
	Append(&hs, {});
	EXPECT_EQ(f.syncs - before, 1) << "a new vote";
	before = f.syncs;
	Append(nullptr, Entries(4, 1, 2));
	EXPECT_EQ(f.syncs - before, 1) << "entries";
	/* Everything is recovered (the unsynced commit was in the page
	 * cache and later synced with the entries). */
	Model got;
	ASSERT_EQ(Open(&got), SN_OK) << sn_errmsg();
	EXPECT_TRUE(SameLog(model, got));
	EXPECT_EQ(got.hs.commit, 3u);
	EXPECT_EQ(got.hs.term, 2u);
}

/* The node's mode (sn__wal_open_inline): no storage thread; each write is
 * written, synced and called back on the caller's thread before the call
 * returns, with the same durability and failure rules. */
TEST_F(WalFault, InlineWritesAreDurableBeforeTheCallReturns)
{
	inline_writes = true;
	ASSERT_EQ(Open(), SN_OK) << sn_errmsg();
	sn_hard_state hs{ 1, 1, 0 };
	for (int i = 0; i < 5; i++) {
		int before = f.syncs, id;
		ASSERT_EQ(AppendAsync(i ? nullptr : &hs,
				      Entries(1 + 2 * i, 2, 1), &id), SN_OK);
		EXPECT_EQ(done.Count(), (size_t)i + 1)
			<< "the callback ran before the call returned";
		EXPECT_EQ(done.StatusOf(id), SN_OK);
		EXPECT_EQ(f.syncs - before, 1) << "one fdatasync per call";
		model.Append(i ? nullptr : &hs, Entries(1 + 2 * i, 2, 1));
	}
	hs.commit = 4; /* a commit index alone is not synced here either */
	int before = f.syncs;
	ASSERT_EQ(AppendAsync(&hs, {}), SN_OK);
	EXPECT_EQ(f.syncs - before, 0);
	model.Append(&hs, {});
	ASSERT_EQ(sn_storage_compact(st, 3), SN_OK);
	Model got;
	ASSERT_EQ(Open(&got), SN_OK) << sn_errmsg();
	EXPECT_TRUE(SameLog(model, got, true));
	EXPECT_EQ(got.hs.commit, 4u);
}

TEST_F(WalFault, InlineFailedFdatasyncStopsForGood)
{
	inline_writes = true;
	ASSERT_EQ(Open(), SN_OK) << sn_errmsg();
	Append(nullptr, Entries(1, 3, 1));
	f.fail_sync_errno = EIO;
	Model with_failed = model;
	with_failed.Append(nullptr, Entries(4, 2, 1));
	int id;
	ASSERT_EQ(AppendAsync(nullptr, Entries(4, 2, 1), &id), SN_OK);
	ASSERT_EQ(done.Count(), 2u) << "called back before the return";
	EXPECT_EQ(done.StatusOf(id), SN_EIO);
	ExpectStopped(SN_EIO, "fdatasync");
	f.fail_sync_errno = 0;
	ExpectStopped(SN_EIO, "fdatasync");
	ExpectRecovered(with_failed);
}

/* The node switches its WAL by role (sn__wal_set_inline): a leader's
 * writes go to the storage thread, a follower's are written inline.
 * Across switches requests stay in order, one batch at a time; back in
 * inline mode a write has been called back when the call returns, also
 * while the storage thread was still busy with earlier ones. */
TEST_F(WalFault, SwitchingBetweenInlineAndTheStorageThreadKeepsOrder)
{
	using namespace std::chrono_literals;
	inline_writes = true;
	ASSERT_EQ(Open(), SN_OK) << sn_errmsg();
	sn_hard_state hs{ 1, 1, 0 };
	int id;
	ASSERT_EQ(AppendAsync(&hs, Entries(1, 2, 1), &id), SN_OK);
	EXPECT_EQ(done.Count(), 1u) << "inline: called back before the return";
	model.Append(&hs, Entries(1, 2, 1));

	ASSERT_EQ(sn__wal_set_inline(st, false), SN_OK);
	Hold(); /* the storage thread's fdatasync waits */
	for (uint64_t i = 0; i < 3; i++) {
		ASSERT_EQ(AppendAsync(nullptr, Entries(3 + 2 * i, 2, 1), &id),
			  SN_OK);
		model.Append(nullptr, Entries(3 + 2 * i, 2, 1));
	}
	std::this_thread::sleep_for(20ms);
	EXPECT_EQ(done.Count(), 1u)
		<< "handed to the storage thread, whose sync is held";

	ASSERT_EQ(sn__wal_set_inline(st, true), SN_OK);
	std::thread releaser([&] {
		std::this_thread::sleep_for(50ms);
		Release();
	});
	ASSERT_EQ(AppendAsync(nullptr, Entries(9, 2, 1), &id), SN_OK);
	EXPECT_EQ(done.Count(), 5u)
		<< "back inline: the call returned after every earlier request "
		   "and its own were called back";
	releaser.join();
	model.Append(nullptr, Entries(9, 2, 1));
	{
		std::lock_guard<std::mutex> g(done.mu);
		for (size_t i = 0; i < done.done.size(); i++) {
			EXPECT_EQ(done.done[i].first, (int)i) << "in order";
			EXPECT_EQ(done.done[i].second, SN_OK);
		}
	}
	/* And once more to the thread and back, with nothing in flight. */
	ASSERT_EQ(sn__wal_set_inline(st, false), SN_OK);
	ASSERT_EQ(AppendAsync(nullptr, Entries(11, 1, 1), &id), SN_OK);
	ASSERT_TRUE(done.WaitId(id));
	model.Append(nullptr, Entries(11, 1, 1));
	ASSERT_EQ(sn__wal_set_inline(st, true), SN_OK);
	Append(nullptr, Entries(12, 1, 1));
	EXPECT_EQ(done.Count(), 7u);
	Model got;
	ASSERT_EQ(Open(&got), SN_OK) << sn_errmsg();
	EXPECT_TRUE(SameLog(model, got));
}

TEST_F(WalFault, CloseDrainsTheQueue)
{
	ASSERT_EQ(Open(), SN_OK) << sn_errmsg();
	f.sync_delay_us = 1000;
	int id = 0;
	for (uint64_t i = 1; i <= 50; i++) {
		ASSERT_EQ(AppendAsync(nullptr, Entries(i, 1, 1), &id), SN_OK);
		model.Append(nullptr, Entries(i, 1, 1));
	}
	Close();
	EXPECT_EQ(done.Count(), 50u);
	for (int i = 0; i <= id; i++)
		EXPECT_EQ(done.StatusOf(i), SN_OK);
	Model got;
	ASSERT_EQ(Open(&got), SN_OK) << sn_errmsg();
	EXPECT_TRUE(SameLog(model, got));
}

TEST_F(WalFault, FullQueuePushesBack)
{
	opts.max_batch_bytes = 4096; /* the queue holds 4 batches: 16 KiB */
	ASSERT_EQ(Open(), SN_OK) << sn_errmsg();
	sn__wal_busy_timeout_ms = 200;
	Hold();
	int id = 0, rc = SN_OK;
	uint64_t i = 1;
	/* The first append is taken by the thread (held in its sync); the
	 * queue then fills up to its limit. */
	for (; i < 100 && rc == SN_OK; i++) {
		rc = AppendAsync(nullptr, Entries(i, 1, 1, 1000), &id);
		if (rc == SN_OK)
			model.Append(nullptr, Entries(i, 1, 1, 1000));
	}
	EXPECT_EQ(rc, SN_EBUSY) << "after " << i << " appends";
	EXPECT_LT(i, 30u);
	EXPECT_NE(std::string(sn_errmsg()).find("full"), std::string::npos);
	Release();
	/* Once the disk moves, appends are admitted again. */
	Barrier();
	Append(nullptr, Entries(model.Last() + 1, 1, 1));
	Close();
	Model got;
	ASSERT_EQ(Open(&got), SN_OK) << sn_errmsg();
	EXPECT_TRUE(SameLog(model, got));
}

TEST_F(WalFault, BlockedAppendIsAdmittedWhenTheDiskCatchesUp)
{
	opts.max_batch_bytes = 4096;
	ASSERT_EQ(Open(), SN_OK) << sn_errmsg();
	Hold();
	int id = 0;
	uint64_t i = 1;
	for (; i <= 15; i++) { /* 15 x 1029 bytes: under the 16 KiB limit */
		ASSERT_EQ(AppendAsync(nullptr, Entries(i, 1, 1, 1000), &id),
			  SN_OK);
		model.Append(nullptr, Entries(i, 1, 1, 1000));
	}
	std::thread release([this] {
		usleep(50000);
		Release();
	});
	/* Blocks until the release, then succeeds. */
	EXPECT_EQ(AppendAsync(nullptr, Entries(i, 1, 1, 1000), &id), SN_OK);
	model.Append(nullptr, Entries(i, 1, 1, 1000));
	release.join();
	ASSERT_TRUE(done.WaitId(id));
	Close();
	Model got;
	ASSERT_EQ(Open(&got), SN_OK) << sn_errmsg();
	EXPECT_TRUE(SameLog(model, got));
}

} // namespace
