/*
 * base_test.cc - core/base: version, error codes and details, buffers,
 * allocator hooks, log handler.
 */
#include <gtest/gtest.h>

#include <senate/senate.h>
extern "C" {
#include "base/base.h"
}

#include <climits>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

/* ---- a counting, failure-injecting allocator ---- */

struct AllocStats {
	std::map<void *, size_t> live;
	size_t mallocs = 0;
	size_t reallocs = 0;
	size_t frees = 0;
	size_t foreign = 0;    /* free/realloc of a pointer we never gave */
	long budget = -1;      /* successful allocations left; -1: unlimited */
	size_t max_size = SIZE_MAX; /* larger requests fail */
	size_t failed = 0;

	bool Fail(size_t size)
	{
		if (size > max_size || budget == 0) {
			failed++;
			return true;
		}
		if (budget > 0)
			budget--;
		return false;
	}
	size_t LiveBytes() const
	{
		size_t n = 0;
		for (auto &kv : live)
			n += kv.second;
		return n;
	}
};

void *CountMalloc(void *ud, size_t size)
{
	auto *s = static_cast<AllocStats *>(ud);
	if (s->Fail(size))
		return nullptr;
	void *p = std::malloc(size);
	if (p) {
		s->live[p] = size;
		s->mallocs++;
	}
	return p;
}

void *CountRealloc(void *ud, void *ptr, size_t size)
{
	auto *s = static_cast<AllocStats *>(ud);
	if (ptr && !s->live.count(ptr))
		s->foreign++;
	if (s->Fail(size))
		return nullptr;
	void *p = std::realloc(ptr, size);
	if (p) {
		if (ptr)
			s->live.erase(ptr);
		s->live[p] = size;
		s->reallocs++;
	}
	return p;
}

void CountFree(void *ud, void *ptr)
{
	auto *s = static_cast<AllocStats *>(ud);
	if (!ptr)
		return;
	if (!s->live.erase(ptr))
		s->foreign++;
	s->frees++;
	std::free(ptr);
}

/* Installs the counting allocator for one scope. */
class CountingAllocator {
public:
	AllocStats stats;
	CountingAllocator()
	{
		sn_allocator a;
		a.version = SN_ALLOCATOR_VERSION;
		a.malloc = CountMalloc;
		a.realloc = CountRealloc;
		a.free = CountFree;
		a.userdata = &stats;
		EXPECT_EQ(SN_OK, sn_allocator_set(&a));
	}
	~CountingAllocator() { EXPECT_EQ(SN_OK, sn_allocator_set(nullptr)); }
};

const uint64_t kVoters3[] = {1, 2, 3};

sn_raft_options Opts3(uint64_t id = 1)
{
	sn_raft_options o;
	std::memset(&o, 0, sizeof o);
	EXPECT_EQ(SN_OK, sn_raft_options_init(&o, SN_RAFT_OPTIONS_VERSION));
	o.id = id;
	o.group = 7;
	o.voters = kVoters3;
	o.n_voters = 3;
	return o;
}

/* Handle every ready of `e` (synchronous storage, no peers). */
void DrainAlone(sn_engine *e)
{
	for (int i = 0; i < 100 && sn_engine_has_ready(e); i++) {
		sn_ready rd;
		ASSERT_EQ(1, sn_engine_ready(e, &rd));
		if (rd.n_entries)
			sn_engine_persisted(e, rd.entries[rd.n_entries - 1].index,
					    rd.entries[rd.n_entries - 1].term);
		sn_engine_advance(e);
	}
}

const int kAllCodes[] = {
	SN_OK,        SN_ERROR,   SN_ENOMEM,    SN_EINVAL,    SN_ENOTLEADER,
	SN_EBUSY,     SN_ETIMEDOUT, SN_ECONFLICT, SN_EFENCED, SN_EMALFORMED,
	SN_ESTOPPED,  SN_EIO,     SN_ENOSPC,    SN_ECORRUPT,  SN_ENOTFOUND,
	SN_ENOTSUP,   SN_ETOOLARGE, SN_ESTATE,
};

} // namespace

/* ---- version ---- */

TEST(Version, MacrosMatchTheLoadedLibrary)
{
	EXPECT_EQ(SN_VERSION_NUMBER, sn_version_number());
	EXPECT_EQ(SN_VERSION_MAJOR * 1000000 + SN_VERSION_MINOR * 1000 +
			  SN_VERSION_PATCH,
		  sn_version_number());
	ASSERT_NE(nullptr, sn_version_string());
	EXPECT_STREQ(SN_VERSION_STRING, sn_version_string());
	std::string expect = std::to_string(SN_VERSION_MAJOR) + "." +
			     std::to_string(SN_VERSION_MINOR) + "." +
			     std::to_string(SN_VERSION_PATCH);
	EXPECT_EQ(expect, sn_version_string());
	/* Static storage: the same pointer every time. */
	EXPECT_EQ(sn_version_string(), sn_version_string());
}

/* ---- error codes ---- */

TEST(Errors, CodesAreStable)
{
	/* The numeric values are ABI: never renumbered. */
	EXPECT_EQ(0, SN_OK);
	EXPECT_EQ(-1, SN_ERROR);
	EXPECT_EQ(-2, SN_ENOMEM);
	EXPECT_EQ(-3, SN_EINVAL);
	EXPECT_EQ(-4, SN_ENOTLEADER);
	EXPECT_EQ(-5, SN_EBUSY);
	EXPECT_EQ(-6, SN_ETIMEDOUT);
	EXPECT_EQ(-7, SN_ECONFLICT);
	EXPECT_EQ(-8, SN_EFENCED);
	EXPECT_EQ(-9, SN_EMALFORMED);
	EXPECT_EQ(-10, SN_ESTOPPED);
	EXPECT_EQ(-11, SN_EIO);
	EXPECT_EQ(-12, SN_ENOSPC);
	EXPECT_EQ(-13, SN_ECORRUPT);
	EXPECT_EQ(-14, SN_ENOTFOUND);
	EXPECT_EQ(-15, SN_ENOTSUP);
	EXPECT_EQ(-16, SN_ETOOLARGE);
	EXPECT_EQ(-17, SN_ESTATE);
}

TEST(Errors, StrerrorIsDistinctAndNonEmptyForEveryCode)
{
	std::set<std::string> seen;
	for (int code : kAllCodes) {
		const char *s = sn_strerror(code);
		ASSERT_NE(nullptr, s) << code;
		EXPECT_GT(std::strlen(s), 0u) << code;
		EXPECT_STRNE("unknown error", s) << code;
		EXPECT_TRUE(seen.insert(s).second)
			<< "two codes share the text '" << s << "'";
	}
	EXPECT_EQ(sizeof kAllCodes / sizeof kAllCodes[0], seen.size());
}

TEST(Errors, StrerrorOfUnknownCode)
{
	for (int code : {1, 42, -18, -100, INT_MIN, INT_MAX}) {
		ASSERT_NE(nullptr, sn_strerror(code));
		EXPECT_STREQ("unknown error", sn_strerror(code)) << code;
	}
}

TEST(Errors, ErrmsgClear)
{
	sn_allocator bad;
	std::memset(&bad, 0, sizeof bad);
	bad.version = 99;
	ASSERT_EQ(SN_EINVAL, sn_allocator_set(&bad));
	EXPECT_STRNE("", sn_errmsg());
	sn_errmsg_clear();
	EXPECT_STREQ("", sn_errmsg());
}

TEST(Errors, ErrmsgIsThreadLocal)
{
	sn_errmsg_clear();

	/* A failure on another thread leaves this thread's slot empty. */
	int rc = 0;
	std::string theirs;
	std::thread t([&] {
		sn_errmsg_clear();
		sn_engine *e = reinterpret_cast<sn_engine *>(1);
		sn_raft_options o = Opts3(0); /* id 0: invalid */
		rc = sn_raft_new(&e, &o);
		theirs = sn_errmsg();
	});
	t.join();
	EXPECT_EQ(SN_EINVAL, rc);
	EXPECT_FALSE(theirs.empty());
	EXPECT_STREQ("", sn_errmsg());

	/* And the other way round. */
	sn_allocator bad;
	std::memset(&bad, 0, sizeof bad);
	bad.version = SN_ALLOCATOR_VERSION; /* but no hooks */
	ASSERT_EQ(SN_EINVAL, sn_allocator_set(&bad));
	std::string mine = sn_errmsg();
	ASSERT_FALSE(mine.empty());
	std::string seen_there = "not run";
	std::thread t2([&] { seen_there = sn_errmsg(); });
	t2.join();
	EXPECT_EQ("", seen_there);
	EXPECT_EQ(mine, sn_errmsg());
	sn_errmsg_clear();
}

/* ---- buffers ---- */

TEST(Buf, DisposeNullAndEmpty)
{
	sn_buf_dispose(nullptr);
	sn_buf b = SN_BUF_INIT;
	sn_buf_dispose(&b);
	EXPECT_EQ(nullptr, b.ptr);
	EXPECT_EQ(0u, b.size);
	EXPECT_EQ(0u, b.reserved);
	sn_buf_dispose(&b); /* twice is fine */
	EXPECT_EQ(nullptr, b.ptr);
}

TEST(Buf, DisposeReleasesThroughTheAllocator)
{
	CountingAllocator ca;
	sn_buf b = SN_BUF_INIT;
	b.ptr = sn__malloc(64);
	ASSERT_NE(nullptr, b.ptr);
	b.size = 10;
	b.reserved = 64;
	EXPECT_EQ(1u, ca.stats.live.size());
	sn_buf_dispose(&b);
	EXPECT_EQ(nullptr, b.ptr);
	EXPECT_EQ(0u, b.size);
	EXPECT_EQ(0u, b.reserved);
	EXPECT_TRUE(ca.stats.live.empty());
	EXPECT_EQ(1u, ca.stats.frees);
	EXPECT_EQ(0u, ca.stats.foreign);
	sn_buf_dispose(&b);
	EXPECT_EQ(1u, ca.stats.frees);
}

TEST(Buf, AppendGrowsThroughTheAllocator)
{
	CountingAllocator ca;
	sn_buf b = SN_BUF_INIT;
	std::string want;
	for (int i = 0; i < 100; i++) {
		std::string piece = "piece" + std::to_string(i) + ";";
		ASSERT_EQ(SN_OK, sn_buf_append(&b, piece.data(), piece.size()));
		want += piece;
	}
	ASSERT_EQ(want.size(), b.size);
	EXPECT_GE(b.reserved, b.size);
	EXPECT_EQ(want, std::string(static_cast<char *>(b.ptr), b.size));
	EXPECT_EQ(SN_OK, sn_buf_append(&b, nullptr, 0));
	EXPECT_EQ(want.size(), b.size);
	EXPECT_EQ(SN_EINVAL, sn_buf_append(&b, nullptr, 3));
	EXPECT_EQ(SN_EINVAL, sn_buf_append(nullptr, "x", 1));
	EXPECT_EQ(want.size(), b.size);
	EXPECT_EQ(0u, ca.stats.foreign);
	sn_buf_dispose(&b);
	EXPECT_TRUE(ca.stats.live.empty());
}

/* ---- allocator hooks ---- */

TEST(Allocator, RejectsBadVersionAndMissingHooks)
{
	AllocStats stats;
	sn_allocator good;
	good.version = SN_ALLOCATOR_VERSION;
	good.malloc = CountMalloc;
	good.realloc = CountRealloc;
	good.free = CountFree;
	good.userdata = &stats;

	for (unsigned v : {0u, SN_ALLOCATOR_VERSION + 1u, 1000u}) {
		sn_allocator a = good;
		a.version = v;
		sn_errmsg_clear();
		EXPECT_EQ(SN_EINVAL, sn_allocator_set(&a)) << "version " << v;
		EXPECT_STRNE("", sn_errmsg());
	}
	for (int missing = 0; missing < 3; missing++) {
		sn_allocator a = good;
		if (missing == 0)
			a.malloc = nullptr;
		if (missing == 1)
			a.realloc = nullptr;
		if (missing == 2)
			a.free = nullptr;
		sn_errmsg_clear();
		EXPECT_EQ(SN_EINVAL, sn_allocator_set(&a)) << "hook " << missing;
		EXPECT_STRNE("", sn_errmsg());
	}
	/* None of the refused allocators was installed. */
	void *p = sn__malloc(8);
	ASSERT_NE(nullptr, p);
	sn__free(p);
	EXPECT_EQ(0u, stats.mallocs);
	EXPECT_EQ(0u, stats.frees);

	EXPECT_EQ(SN_OK, sn_allocator_set(nullptr));
}

TEST(Allocator, CountingAllocatorSeesEveryEngineAllocation)
{
	CountingAllocator ca;
	{
		const uint64_t one[] = {1};
		sn_raft_options o = Opts3();
		o.voters = one;
		o.n_voters = 1;
		sn_engine *e = nullptr;
		ASSERT_EQ(SN_OK, sn_raft_new(&e, &o));
		EXPECT_GT(ca.stats.mallocs + ca.stats.reallocs, 0u);
		size_t after_new = ca.stats.live.size();
		EXPECT_GT(after_new, 0u);

		ASSERT_EQ(SN_OK, sn_engine_campaign(e));
		DrainAlone(e);
		std::string data(1000, 'x');
		for (int i = 0; i < 50; i++) {
			ASSERT_EQ(SN_OK, sn_engine_propose(nullptr, e, data.data(),
							   data.size()));
		}
		/* 50 KiB of proposals are held somewhere we can see. */
		EXPECT_GE(ca.stats.LiveBytes(), 50u * 1000u);
		DrainAlone(e);
		sn_engine_status st;
		sn_engine_get_status(&st, e);
		EXPECT_EQ(SN_ROLE_LEADER, st.role);
		EXPECT_EQ(51u, st.commit);

		sn_engine_free(e);
	}
	EXPECT_TRUE(ca.stats.live.empty())
		<< ca.stats.live.size() << " allocations ("
		<< ca.stats.LiveBytes() << " bytes) leaked";
	EXPECT_EQ(0u, ca.stats.foreign);
}

TEST(Allocator, FailingAllocatorMakesRaftNewFailWithoutLeaking)
{
	CountingAllocator ca;
	sn_raft_options o = Opts3();
	std::vector<sn_entry> log;
	const char *payload = "restored";
	for (uint64_t i = 1; i <= 20; i++)
		log.push_back({i, 1, SN_ENTRY_NORMAL, payload, 8});
	sn_hard_state hs = {1, 0, 10};
	o.hard_state = &hs;
	o.entries = log.data();
	o.n_entries = log.size();

	int failures = 0;
	for (long k = 0; k < 100000; k++) {
		ca.stats.budget = k;
		sn_engine *e = reinterpret_cast<sn_engine *>(&o); /* junk */
		int rc = sn_raft_new(&e, &o);
		ca.stats.budget = -1;
		if (rc == SN_OK) {
			ASSERT_NE(nullptr, e);
			sn_engine_status st;
			sn_engine_get_status(&st, e);
			EXPECT_EQ(20u, st.last_index);
			sn_engine_free(e);
			break;
		}
		failures++;
		EXPECT_EQ(SN_ENOMEM, rc) << "after " << k << " allocations";
		EXPECT_EQ(nullptr, e) << "*out must be NULL on failure";
		EXPECT_TRUE(ca.stats.live.empty())
			<< "leak when allocation " << k << " fails: "
			<< ca.stats.live.size() << " blocks";
		ca.stats.live.clear();
	}
	EXPECT_GT(failures, 0) << "sn_raft_new made no allocation at all?";
	EXPECT_GT(ca.stats.failed, 0u);
	EXPECT_TRUE(ca.stats.live.empty());
	EXPECT_EQ(0u, ca.stats.foreign);
}

TEST(Allocator, FailingAllocatorDuringProposeLeavesTheEngineUsable)
{
	CountingAllocator ca;
	{
		const uint64_t one[] = {1};
		sn_raft_options o = Opts3();
		o.voters = one;
		o.n_voters = 1;
		sn_engine *e = nullptr;
		ASSERT_EQ(SN_OK, sn_raft_new(&e, &o));
		ASSERT_EQ(SN_OK, sn_engine_campaign(e));
		DrainAlone(e);

		std::string data(100, 'p');
		int accepted = 0;
		for (int i = 0; i < 64; i++) {
			sn_engine_status before, after;
			sn_engine_get_status(&before, e);
			ca.stats.budget = 0; /* every allocation fails */
			int rc = sn_engine_propose(nullptr, e, data.data(),
						   data.size());
			ca.stats.budget = -1;
			sn_engine_get_status(&after, e);
			if (rc == SN_OK) {
				accepted++;
				EXPECT_EQ(before.last_index + 1, after.last_index);
			} else {
				EXPECT_EQ(SN_ENOMEM, rc);
				EXPECT_EQ(before.last_index, after.last_index)
					<< "a refused proposal must not be in the log";
			}
			DrainAlone(e);
		}
		/* With memory back, proposals work and everything commits. */
		ASSERT_EQ(SN_OK, sn_engine_propose(nullptr, e, "ok", 2));
		DrainAlone(e);
		sn_engine_status st;
		sn_engine_get_status(&st, e);
		EXPECT_EQ(st.last_index, st.commit);
		EXPECT_EQ(2u + accepted, st.last_index);
		sn_engine_free(e);
	}
	EXPECT_TRUE(ca.stats.live.empty())
		<< ca.stats.live.size() << " allocations leaked";
	EXPECT_EQ(0u, ca.stats.foreign);
}

/* ---- log handler ---- */

namespace {
struct Captured {
	std::vector<std::pair<sn_log_level, std::string>> lines;
};
void Capture(void *ud, sn_log_level level, const char *msg)
{
	static_cast<Captured *>(ud)->lines.emplace_back(level, msg);
}
} // namespace

TEST(Log, HandlerCapturesLinesAtOrAboveTheMinimum)
{
	Captured c;
	sn_log_set_handler(Capture, &c, SN_LOG_INFO);
	sn__log(SN_LOG_DEBUG, "hidden %d", 1);
	sn__log(SN_LOG_INFO, "info %d", 2);
	sn__log(SN_LOG_WARN, "warn %s", "three");
	sn__log(SN_LOG_ERROR, "error");
	sn_log_set_handler(nullptr, nullptr, SN_LOG_DEBUG);

	ASSERT_EQ(3u, c.lines.size());
	EXPECT_EQ(SN_LOG_INFO, c.lines[0].first);
	EXPECT_EQ("info 2", c.lines[0].second);
	EXPECT_EQ(SN_LOG_WARN, c.lines[1].first);
	EXPECT_EQ("warn three", c.lines[1].second);
	EXPECT_EQ(SN_LOG_ERROR, c.lines[2].first);
	EXPECT_EQ("error", c.lines[2].second);

	/* After restoring the default sink nothing reaches the old one. */
	sn__log(SN_LOG_ERROR, "to stderr (expected in test output)");
	EXPECT_EQ(3u, c.lines.size());

	/* SN_LOG_OFF silences everything. */
	sn_log_set_handler(Capture, &c, SN_LOG_OFF);
	sn__log(SN_LOG_ERROR, "off");
	sn_log_set_handler(nullptr, nullptr, SN_LOG_DEBUG);
	EXPECT_EQ(3u, c.lines.size());
}

TEST(Log, DroppedMessageIsLoggedAtWarn)
{
	sn_raft_options o = Opts3();
	sn_engine *e = nullptr;
	ASSERT_EQ(SN_OK, sn_raft_new(&e, &o));

	Captured c;
	sn_log_set_handler(Capture, &c, SN_LOG_DEBUG);
	const uint8_t garbage[] = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3};
	sn_message m = {7, 2, 1, garbage, sizeof garbage};
	int rc = sn_engine_step(e, &m);
	sn_log_set_handler(nullptr, nullptr, SN_LOG_DEBUG);

	EXPECT_EQ(SN_EMALFORMED, rc);
	bool warned = false;
	for (auto &l : c.lines)
		warned = warned || (l.first == SN_LOG_WARN && !l.second.empty());
	EXPECT_TRUE(warned) << "no SN_LOG_WARN line for a dropped message";

	/* With the minimum above WARN, the same drop is not delivered. */
	Captured quiet;
	sn_log_set_handler(Capture, &quiet, SN_LOG_ERROR);
	EXPECT_EQ(SN_EMALFORMED, sn_engine_step(e, &m));
	sn_log_set_handler(nullptr, nullptr, SN_LOG_DEBUG);
	for (auto &l : quiet.lines) {
		EXPECT_GE(l.first, SN_LOG_ERROR) << l.second;
	}

	sn_engine_free(e);
}
