/*
 * node_test.cc - the node runtime (<senate/node.h>) with each engine: real
 * WALs and snapshot files in temporary directories, real threads, and an
 * in-process transport between three members. A small key-value state
 * machine records what it applied. Elections, replication, results back to
 * the proposer, refusals on followers, read barriers, a leader killed and
 * restarted from its disk, catch-up by snapshot after compaction, a whole
 * cluster restarted, a slow disk under the leader, the order of applying,
 * and option checks.
 */
#include "../common/test_dir.h"
#include <gtest/gtest.h>

#include <senate/senate.h>
extern "C" {
#include "log/wal_fault.h"

/* core/node/node_impl.h: the snapshot bound in bytes (tests lower it). */
extern "C" uint64_t sn__node_snapshot_bytes;
}

#include <atomic>
#include <cerrno>
#include <climits>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

/* fdatasync fails for files below these directories. */
std::mutex fail_mu;
std::vector<std::string> failing;

int SelectiveSync(int fd)
{
	std::lock_guard<std::mutex> g(fail_mu);
	for (const std::string &d : failing)
		if (senate_test::FdIsBelow(fd, d)) {
			errno = EIO;
			return -1;
		}
	return fdatasync(fd);
}

/* Apply takes 5 ms for a batch of more entries than this. */
constexpr size_t kSlowBatch = 100;

/* fdatasync takes slow_ms longer for files below slow_dir. */
std::string slow_dir;
std::atomic<int> slow_ms{ 0 };

int SlowSync(int fd)
{
	std::string dir;
	{
		std::lock_guard<std::mutex> g(fail_mu);
		dir = slow_dir;
	}
	if (!dir.empty() && senate_test::FdIsBelow(fd, dir))
		usleep((useconds_t)slow_ms.load() * 1000);
	return fdatasync(fd);
}

/* A map of key -> value, applied from "key=value" entries. */
struct Kv {
	std::mutex mu;
	std::map<std::string, std::string> data;
	/* Applied but not visible until Flush (sn_state_machine.flush). */
	std::map<std::string, std::string> pending;
	uint64_t applied = 0, applied_term = 0;
	uint64_t flushed = 0, flushed_term = 0; /* as of the last Flush */
	int restores = 0;
	int flushes = 0;
	/* SnapshotLive (sn_state_machine.snapshot_live): how often it ran,
	 * on which thread, and a gate it waits at after taking its copy. */
	int live_calls = 0;
	std::thread::id apply_thread, live_thread;
	bool gate_closed = false;
	std::condition_variable gate_cv;

	/* The node's promise: one callback at a time (checked before taking
	 * mu, which would serialize them), and entries in log order without
	 * gaps. */
	std::atomic<int> inside{ 0 }, overlaps{ 0 };
	uint64_t last_index = 0;
	int gaps = 0;
	std::set<std::thread::id> apply_threads;
	size_t max_batch = 0;
	struct Inside {
		Kv *kv;
		explicit Inside(Kv *k) : kv(k)
		{
			if (kv->inside.fetch_add(1) != 0)
				kv->overlaps++;
			std::this_thread::yield(); /* widen the window */
		}
		~Inside() { kv->inside.fetch_sub(1); }
	};

	static uint64_t Applied(void *) { return 0; /* starts empty */ }
	static int Apply(void *ud, const sn_entry *es, size_t n, sn_buf *res)
	{
		Kv *kv = static_cast<Kv *>(ud);
		Inside in(kv);
		std::lock_guard<std::mutex> g(kv->mu);
		kv->apply_thread = std::this_thread::get_id();
		kv->apply_threads.insert(kv->apply_thread);
		if (n > kv->max_batch) kv->max_batch = n;
		if (n > kSlowBatch) /* keep the applier busy */
			std::this_thread::sleep_for(5ms);
		for (size_t i = 0; i < n; i++) {
			if (kv->last_index && es[i].index != kv->last_index + 1)
				kv->gaps++;
			kv->last_index = es[i].index;
			kv->applied = es[i].index;
			kv->applied_term = es[i].term;
			if (es[i].type != SN_ENTRY_NORMAL)
				continue;
			std::string s(static_cast<const char *>(es[i].data),
				      es[i].len);
			size_t eq = s.find('=');
			if (eq == std::string::npos)
				continue;
			kv->pending[s.substr(0, eq)] = s.substr(eq + 1);
			std::string r = "ok:" + std::to_string(es[i].index);
			if (sn_buf_append(&res[i], r.data(), r.size()) != SN_OK)
				return SN_ENOMEM;
		}
		return SN_OK;
	}
	static int Flush(void *ud)
	{
		Kv *kv = static_cast<Kv *>(ud);
		Inside in(kv);
		std::lock_guard<std::mutex> g(kv->mu);
		for (auto &p : kv->pending)
			kv->data[p.first] = p.second;
		kv->pending.clear();
		kv->flushes++;
		kv->flushed = kv->applied;
		kv->flushed_term = kv->applied_term;
		return SN_OK;
	}
	/* A copy of the flushed state, taken while applying goes on; then
	 * it waits while the test holds the gate closed. */
	static int SnapshotLive(void *ud, int fd, uint64_t *index,
				uint64_t *term)
	{
		Kv *kv = static_cast<Kv *>(ud);
		std::string out;
		std::unique_lock<std::mutex> g(kv->mu);
		for (auto &p : kv->data)
			out += p.first + "=" + p.second + "\n";
		*index = kv->flushed;
		*term = kv->flushed_term;
		kv->live_calls++;
		kv->live_thread = std::this_thread::get_id();
		kv->gate_cv.notify_all();
		kv->gate_cv.wait(g, [&] { return !kv->gate_closed; });
		g.unlock();
		if (out.empty())
			out = "\n";
		return write(fd, out.data(), out.size()) == (ssize_t)out.size()
			       ? SN_OK
			       : SN_EIO;
	}
	void Gate(bool closed)
	{
		std::lock_guard<std::mutex> g(mu);
		gate_closed = closed;
		gate_cv.notify_all();
	}
	/* Wait until SnapshotLive was entered `n` times. */
	bool WaitLive(int n, std::chrono::milliseconds d = 10s)
	{
		std::unique_lock<std::mutex> g(mu);
		return gate_cv.wait_for(g, d, [&] { return live_calls >= n; });
	}
	static int Snapshot(void *ud, int fd)
	{
		Kv *kv = static_cast<Kv *>(ud);
		std::string out;
		{
			std::lock_guard<std::mutex> g(kv->mu);
			for (auto &p : kv->data)
				out += p.first + "=" + p.second + "\n";
		}
		if (out.empty())
			out = "\n";
		return write(fd, out.data(), out.size()) == (ssize_t)out.size()
			       ? SN_OK
			       : SN_EIO;
	}
	static int Restore(void *ud, const sn_snapshot_meta *m,
			   sn_snapshot_reader *r)
	{
		Kv *kv = static_cast<Kv *>(ud);
		Inside in(kv);
		std::string all;
		char buf[4096];
		for (;;) {
			size_t got = 0;
			int rv = sn_snapshot_read(r, all.size(), buf, sizeof buf,
						  &got);
			if (rv)
				return rv;
			if (!got)
				break;
			all.append(buf, got);
		}
		std::lock_guard<std::mutex> g(kv->mu);
		kv->data.clear();
		size_t at = 0;
		while (at < all.size()) {
			size_t nl = all.find('\n', at);
			std::string line = all.substr(at, nl - at);
			at = nl + 1;
			size_t eq = line.find('=');
			if (eq != std::string::npos)
				kv->data[line.substr(0, eq)] = line.substr(eq + 1);
		}
		kv->applied = kv->flushed = m->index;
		kv->applied_term = kv->flushed_term = m->term;
		kv->last_index = m->index;
		kv->restores++;
		return SN_OK;
	}
	std::map<std::string, std::string> Copy()
	{
		std::lock_guard<std::mutex> g(mu);
		return data;
	}
};

/* The outcome of one request. */
struct Result {
	std::mutex mu;
	std::condition_variable cv;
	bool done = false;
	int status = 1;
	uint64_t index = 0;
	std::string bytes;

	static void Cb(void *ud, int status, uint64_t index, const void *p,
		       size_t len)
	{
		Result *r = static_cast<Result *>(ud);
		std::lock_guard<std::mutex> g(r->mu);
		r->status = status;
		r->index = index;
		if (len)
			r->bytes.assign(static_cast<const char *>(p), len);
		r->done = true;
		r->cv.notify_all();
	}
	bool Wait(std::chrono::milliseconds d = 10s)
	{
		std::unique_lock<std::mutex> g(mu);
		return cv.wait_for(g, d, [&] { return done; });
	}
};

class Node : public ::testing::TestWithParam<std::string> {
protected:
	std::string root;
	std::vector<uint64_t> voters{ 1, 2, 3 };
	std::mutex net_mu; /* guards nodes (the transport looks them up) */
	std::map<uint64_t, sn_node *> nodes;
	std::map<uint64_t, std::unique_ptr<Kv>> kvs;
	sn_transport tr{};
	uint64_t snapshot_entries = 0, snapshot_trailing = 0;
	bool live_snapshots = false; /* give the state machine snapshot_live */

	/* While hold_from is set, that member's messages wait in `held`
	 * (Release() delivers them in order). */
	uint64_t hold_from = 0;
	std::vector<std::pair<sn_message, std::string>> held;

	static int Send(void *ud, const sn_message *m)
	{
		Node *t = static_cast<Node *>(ud);
		std::lock_guard<std::mutex> g(t->net_mu);
		if (m->from == t->hold_from) {
			t->held.emplace_back(*m, std::string(
				static_cast<const char *>(m->data), m->len));
			return SN_OK;
		}
		auto it = t->nodes.find(m->to);
		if (it == t->nodes.end())
			return SN_ENOTFOUND; /* down: lost */
		return sn_node_receive(it->second, m);
	}

	void SetUp() override
	{
		root = senate_test::MakeTestDir("senate-node");
		ASSERT_FALSE(root.empty()) << "cannot create a test directory";
		tr.userdata = this;
		tr.send = Send;
	}
	void TearDown() override
	{
		for (uint64_t id : voters)
			Close(id);
		sn__wal_hooks_reset();
		{
			std::lock_guard<std::mutex> g(fail_mu);
			failing.clear();
			slow_dir.clear();
		}
		fs::remove_all(root);
	}

	unsigned options_version = SN_NODE_OPTIONS_VERSION;

	sn_node_options Options(uint64_t id, const sn_state_machine *sm,
				const std::string &dir)
	{
		sn_node_options o;
		EXPECT_EQ(sn_node_options_init(&o, options_version), SN_OK);
		o.id = id;
		o.group = 1;
		o.voters = voters.data();
		o.n_voters = voters.size();
		o.engine = GetParam().c_str();
		o.data_dir = dir.c_str();
		o.tick_ms = 10;
		o.election_ticks = 10;
		o.transport = &tr;
		o.sm = sm;
		o.snapshot_entries = snapshot_entries;
		o.snapshot_trailing = snapshot_trailing;
		return o;
	}
	void Open(uint64_t id)
	{
		kvs[id] = std::make_unique<Kv>();
		sn_state_machine sm{ kvs[id].get(), Kv::Applied, Kv::Apply,
				     Kv::Snapshot, Kv::Restore, Kv::Flush,
				     live_snapshots ? Kv::SnapshotLive
						    : nullptr };
		std::string dir = root + "/n" + std::to_string(id);
		sn_node_options o = Options(id, &sm, dir);
		sn_node *n = nullptr;
		ASSERT_EQ(sn_node_open(&n, &o), SN_OK) << sn_errmsg();
		std::lock_guard<std::mutex> g(net_mu);
		nodes[id] = n;
	}
	void Close(uint64_t id)
	{
		sn_node *n = nullptr;
		{
			std::lock_guard<std::mutex> g(net_mu);
			auto it = nodes.find(id);
			if (it == nodes.end())
				return;
			n = it->second;
			nodes.erase(it);
		}
		sn_node_close(n);
	}
	void Hold(uint64_t from)
	{
		std::lock_guard<std::mutex> g(net_mu);
		hold_from = from;
	}
	void Release()
	{
		std::lock_guard<std::mutex> g(net_mu);
		hold_from = 0;
		for (auto &h : held) {
			h.first.data = h.second.data();
			auto it = nodes.find(h.first.to);
			if (it != nodes.end())
				sn_node_receive(it->second, &h.first);
		}
		held.clear();
	}
	sn_node *N(uint64_t id)
	{
		std::lock_guard<std::mutex> g(net_mu);
		return nodes.count(id) ? nodes[id] : nullptr;
	}
	sn_node_status Status(uint64_t id)
	{
		sn_node_status st;
		sn_node_status_get(N(id), &st);
		return st;
	}
	/* The member that leads, once the others agree (0 after `d`). */
	uint64_t Leader(std::chrono::milliseconds d = 10s)
	{
		auto end = std::chrono::steady_clock::now() + d;
		while (std::chrono::steady_clock::now() < end) {
			for (uint64_t id : voters) {
				if (!N(id))
					continue;
				if (Status(id).engine.role == SN_ROLE_LEADER)
					return id;
			}
			std::this_thread::sleep_for(5ms);
		}
		return 0;
	}
	/* Propose and wait; retries on a follower or a lost leadership. */
	std::string Put(const std::string &k, const std::string &v,
			uint64_t *index = nullptr)
	{
		for (int attempt = 0; attempt < 50; attempt++) {
			uint64_t l = Leader();
			if (!l)
				break;
			Result r;
			std::string e = k + "=" + v;
			int rv = sn_node_propose(N(l), e.data(), e.size(),
						 Result::Cb, &r);
			if (rv != SN_OK) {
				std::this_thread::sleep_for(10ms);
				continue;
			}
			EXPECT_TRUE(r.Wait()) << "no answer to a proposal";
			if (r.status == SN_OK) {
				if (index)
					*index = r.index;
				return r.bytes;
			}
			std::this_thread::sleep_for(10ms);
		}
		ADD_FAILURE() << "could not put " << k;
		return "";
	}
	/* Stop every member, start them again on their data, then write
	 * `k`=`v` and wait until every member applied it. */
	void RestartAllAndPut(const std::string &k, const std::string &v,
			      uint64_t *idx)
	{
		for (uint64_t id : voters)
			Close(id);
		for (uint64_t id : voters)
			ASSERT_NO_FATAL_FAILURE(Open(id));
		Put(k, v, idx);
		Converge(*idx);
	}
	/* Member id's snapshot index once it has one (0 after ~5 s). */
	uint64_t WaitSnapshot(uint64_t id)
	{
		for (int i = 0; i < 1000 && Status(id).snapshot_index == 0; i++)
			std::this_thread::sleep_for(5ms);
		return Status(id).snapshot_index;
	}
	/* Wait until every open member applied through `index`. */
	void Converge(uint64_t index, std::chrono::milliseconds d = 10s)
	{
		auto end = std::chrono::steady_clock::now() + d;
		for (uint64_t id : voters) {
			while (N(id) && Status(id).applied < index &&
			       std::chrono::steady_clock::now() < end)
				std::this_thread::sleep_for(5ms);
			if (N(id)) {
				EXPECT_GE(Status(id).applied, index)
					<< "member " << id;
			}
		}
	}
};

TEST_P(Node, ThreeMembersReplicateAndAnswerTheProposer)
{
	for (uint64_t id : voters)
		ASSERT_NO_FATAL_FAILURE(Open(id));
	uint64_t last = 0;
	for (int i = 0; i < 100; i++) {
		uint64_t idx = 0;
		std::string r = Put("k" + std::to_string(i), std::to_string(i),
				    &idx);
		EXPECT_EQ(r, "ok:" + std::to_string(idx));
		EXPECT_GT(idx, last);
		last = idx;
	}
	Converge(last);
	auto want = kvs[1]->Copy();
	EXPECT_EQ(want.size(), 100u);
	for (uint64_t id : voters)
		EXPECT_EQ(kvs[id]->Copy(), want) << "member " << id;
}

/* Committed batches are applied by the loop thread (small ones, while the
 * apply thread is idle) or by the apply thread (large ones, and whatever
 * queues behind them). Writers wait for each answer (small batches) while
 * a burst of proposals is sent without waiting and the leader's messages
 * are held back meanwhile, so that they commit at once: a batch beyond the
 * loop's bound, which the state machine takes its time with. Whichever
 * thread applies, the state machine's callbacks never overlap and see the
 * log in order without gaps, every proposer gets its own entry's result,
 * and all members agree. */
TEST_P(Node, AppliesInLogOrderOneCallbackAtATimeUnderLoad)
{
	live_snapshots = true; /* the loop applies only with these */
	for (uint64_t id : voters)
		ASSERT_NO_FATAL_FAILURE(Open(id));
	uint64_t l = Leader();
	ASSERT_NE(l, 0u);
	const int kBurst = 400, kWriters = 6, kEach = 60;
	std::atomic<int> bad{ 0 };
	std::vector<std::thread> ws;
	for (int w = 0; w < kWriters; w++)
		ws.emplace_back([&, w] {
			for (int i = 0; i < kEach; i++) {
				uint64_t idx = 0;
				std::string k = "w" + std::to_string(w) + "." +
						std::to_string(i);
				std::string r = Put(k, "v", &idx);
				if (r != "ok:" + std::to_string(idx))
					bad++;
			}
		});
	std::vector<std::unique_ptr<Result>> burst;
	std::string refused;
	for (int round = 0; round < 3 && refused.empty(); round++) {
		std::this_thread::sleep_for(10ms);
		Hold(l);
		for (int i = 0; i < kBurst; i++) {
			auto r = std::make_unique<Result>();
			std::string e = "b" + std::to_string(round) + "." +
					std::to_string(i) + "=x";
			if (sn_node_propose(N(l), e.data(), e.size(),
					    Result::Cb, r.get()) != SN_OK) {
				refused = sn_errmsg();
				break;
			}
			burst.push_back(std::move(r));
		}
		std::this_thread::sleep_for(10ms);
		Release();
	}
	for (auto &t : ws)
		t.join();
	ASSERT_EQ(refused, "") << "a proposal was refused";
	EXPECT_EQ(bad.load(), 0) << "a writer got another entry's result";
	size_t ok = 0;
	for (auto &r : burst) {
		ASSERT_TRUE(r->Wait()) << "no answer to a proposal";
		if (r->status == SN_OK) {
			EXPECT_EQ(r->bytes, "ok:" + std::to_string(r->index));
			ok++;
		} else {
			/* A leader change: the entry was not applied. */
			EXPECT_EQ(r->status, SN_ENOTLEADER);
		}
	}
	EXPECT_GT(ok, 0u);
	uint64_t end = 0;
	Put("end", "1", &end);
	Converge(end);
	auto want = kvs[l]->Copy();
	EXPECT_EQ(want.size(), ok + kWriters * kEach + 1);
	for (uint64_t id : voters) {
		Kv *kv = kvs[id].get();
		EXPECT_EQ(kv->overlaps.load(), 0)
			<< "member " << id << ": state-machine callbacks ran "
			<< "concurrently";
		std::lock_guard<std::mutex> g(kv->mu);
		EXPECT_EQ(kv->gaps, 0) << "member " << id;
		EXPECT_EQ(kv->data, want) << "member " << id;
	}
}

TEST_P(Node, FollowerRefusesAndReadBarrierFollowsWrites)
{
	for (uint64_t id : voters)
		ASSERT_NO_FATAL_FAILURE(Open(id));
	uint64_t l = Leader();
	ASSERT_NE(l, 0u);
	uint64_t f = l == 1 ? 2 : 1;
	Result r;
	ASSERT_EQ(sn_node_propose(N(f), "a=1", 3, Result::Cb, &r), SN_OK);
	ASSERT_TRUE(r.Wait());
	EXPECT_EQ(r.status, SN_ENOTLEADER);

	uint64_t idx = 0;
	Put("x", "1", &idx);
	l = Leader();
	Result rd;
	ASSERT_EQ(sn_node_read(N(l), Result::Cb, &rd), SN_OK);
	ASSERT_TRUE(rd.Wait());
	ASSERT_EQ(rd.status, SN_OK);
	EXPECT_GE(rd.index, idx);
	EXPECT_EQ(kvs[l]->Copy()["x"], "1") << "a read after the barrier "
					       "must see the write";
	std::string big(2u << 20, 'v');
	EXPECT_EQ(sn_node_propose(N(l), big.data(), big.size(), Result::Cb,
				  &r), SN_ETOOLARGE);
}

TEST_P(Node, LeaderKilledNewLeaderServesAndTheOldOneCatchesUp)
{
	for (uint64_t id : voters)
		ASSERT_NO_FATAL_FAILURE(Open(id));
	uint64_t idx = 0;
	for (int i = 0; i < 20; i++)
		Put("a" + std::to_string(i), "1", &idx);
	uint64_t old = Leader();
	ASSERT_NE(old, 0u);
	Close(old);
	auto t0 = std::chrono::steady_clock::now();
	uint64_t l = Leader();
	ASSERT_NE(l, 0u);
	ASSERT_NE(l, old);
	/* Three election timeouts of 100 ms, with generous slack for a
	 * loaded machine. */
	EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
	for (int i = 0; i < 20; i++)
		Put("b" + std::to_string(i), "2", &idx);
	ASSERT_NO_FATAL_FAILURE(Open(old));
	Converge(idx);
	auto want = kvs[l]->Copy();
	EXPECT_EQ(want.size(), 40u);
	for (uint64_t id : voters)
		EXPECT_EQ(kvs[id]->Copy(), want) << "member " << id;
}

TEST_P(Node, LaggingMemberCatchesUpBySnapshotAfterCompaction)
{
	snapshot_entries = 20;
	snapshot_trailing = 5;
	for (uint64_t id : voters)
		ASSERT_NO_FATAL_FAILURE(Open(id));
	uint64_t l = Leader();
	ASSERT_NE(l, 0u);
	uint64_t lag = l == 3 ? 2 : 3;
	Close(lag);
	uint64_t idx = 0;
	for (int i = 0; i < 120; i++)
		Put("s" + std::to_string(i), std::to_string(i), &idx);
	for (uint64_t id : voters)
		if (N(id)) {
			EXPECT_GT(Status(id).snapshot_index, 0u)
				<< "member " << id << " took no snapshot";
		}
	ASSERT_NO_FATAL_FAILURE(Open(lag));
	Converge(idx);
	EXPECT_GE(kvs[lag]->restores, 1) << "caught up without a snapshot: "
					    "the log was not compacted";
	auto want = kvs[Leader()]->Copy();
	EXPECT_EQ(want.size(), 120u);
	EXPECT_EQ(kvs[lag]->Copy(), want);
}

/* sn_state_machine.snapshot_live: the snapshot runs on its own thread and
 * applying goes on meanwhile (proposals keep being answered while the
 * snapshot is held at a gate); the snapshot covers the index the state
 * machine reported, the log is compacted behind it, and a lagging member
 * and a whole-cluster restart work from it. */
TEST_P(Node, LiveSnapshotDoesNotHoldUpApplying)
{
	live_snapshots = true;
	snapshot_entries = 20;
	snapshot_trailing = 2;
	for (uint64_t id : voters) {
		ASSERT_NO_FATAL_FAILURE(Open(id));
		kvs[id]->Gate(true);
	}
	uint64_t l = Leader();
	ASSERT_NE(l, 0u);
	uint64_t lag = l == 3 ? 2 : 3;
	uint64_t idx = 0;
	for (int i = 0; i < 25; i++)
		Put("a" + std::to_string(i), std::to_string(i), &idx);
	for (uint64_t id : voters)
		ASSERT_TRUE(kvs[id]->WaitLive(1)) << "no live snapshot on " << id;
	/* Every snapshot thread waits at the gate: writes still apply. (The
	 * lagging member's goes through: closing waits for it.) */
	kvs[lag]->Gate(false);
	Close(lag);
	for (int i = 0; i < 30; i++)
		ASSERT_NE(Put("b" + std::to_string(i), std::to_string(i), &idx),
			  "") << "a write waited for the snapshot";
	Converge(idx);
	for (uint64_t id : voters) {
		if (!N(id))
			continue;
		EXPECT_EQ(Status(id).snapshot_index, 0u);
		std::lock_guard<std::mutex> g(kvs[id]->mu);
		EXPECT_NE(kvs[id]->live_thread, kvs[id]->apply_thread);
	}
	for (uint64_t id : voters)
		if (N(id))
			kvs[id]->Gate(false);
	/* The snapshot holds what was flushed when it was taken. */
	for (uint64_t id : voters) {
		if (!N(id))
			continue;
		uint64_t s = WaitSnapshot(id);
		EXPECT_GE(s, 20u) << "member " << id;
		EXPECT_LT(s, idx) << "member " << id;
	}
	/* More writes (another snapshot), then the lagging member catches
	 * up through one (the log was compacted), then all restart. */
	for (int i = 0; i < 40; i++)
		Put("c" + std::to_string(i), std::to_string(i), &idx);
	ASSERT_NO_FATAL_FAILURE(Open(lag));
	Converge(idx);
	EXPECT_GE(kvs[lag]->restores, 1) << "caught up without a snapshot";
	auto want = kvs[Leader()]->Copy();
	EXPECT_EQ(want.size(), 95u);
	EXPECT_EQ(kvs[lag]->Copy(), want);
	ASSERT_NO_FATAL_FAILURE(RestartAllAndPut("after", "restart", &idx));
	want["after"] = "restart";
	for (uint64_t id : voters)
		EXPECT_EQ(kvs[id]->Copy(), want) << "member " << id;
}

/* Large entries bring the snapshot forward: the log since the last one is
 * kept in memory, so bytes count as well as entries. */
TEST_P(Node, SnapshotAfterEnoughBytesOfEntries)
{
	struct Restore {
		uint64_t was = sn__node_snapshot_bytes;
		~Restore() { sn__node_snapshot_bytes = was; }
	} restore;
	sn__node_snapshot_bytes = 8 << 10;
	snapshot_entries = 1000000;
	snapshot_trailing = 2;
	for (uint64_t id : voters)
		ASSERT_NO_FATAL_FAILURE(Open(id));
	uint64_t idx = 0;
	for (int i = 0; i < 40; i++)
		Put("big" + std::to_string(i), std::string(500, 'v'), &idx);
	Converge(idx);
	for (uint64_t id : voters) {
		EXPECT_GT(WaitSnapshot(id), 0u)
			<< "member " << id << ": no snapshot after 20 KB of "
			<< "entries with an 8 KiB bound";
	}
}

TEST_P(Node, WholeClusterRestartsWithEverythingAcknowledged)
{
	snapshot_entries = 30;
	snapshot_trailing = 3;
	for (uint64_t id : voters)
		ASSERT_NO_FATAL_FAILURE(Open(id));
	std::map<std::string, std::string> acked;
	uint64_t idx = 0;
	for (int i = 0; i < 80; i++) {
		std::string k = "w" + std::to_string(i);
		if (Put(k, std::to_string(i), &idx) != "")
			acked[k] = std::to_string(i);
	}
	ASSERT_NO_FATAL_FAILURE(RestartAllAndPut("after", "restart", &idx));
	for (uint64_t id : voters) {
		auto got = kvs[id]->Copy();
		for (auto &p : acked)
			EXPECT_EQ(got[p.first], p.second)
				<< "member " << id << " lost " << p.first;
		EXPECT_EQ(got["after"], "restart");
	}
}

/* The leader's disk fails: it stops, says why, acknowledges nothing more;
 * the others elect a new leader and serve; after a restart on a healthy
 * disk, every acknowledged write is there. */
/* A leader's WAL syncs on the storage thread (docs/node.md), so a slow
 * disk on the leader does not stop its loop: heartbeats go on, nobody
 * starts an election, and the write is answered once the sync is done. A
 * loop that waited for the disk would miss ~5 election timeouts here. */
TEST_P(Node, LeaderKeepsLeadershipWhileItsOwnDiskIsSlow)
{
	for (uint64_t id : voters)
		ASSERT_NO_FATAL_FAILURE(Open(id));
	uint64_t idx = 0;
	Put("before", "1", &idx);
	Converge(idx);
	uint64_t l = Leader();
	ASSERT_NE(l, 0u);
	uint64_t term = Status(l).engine.term;
	{
		std::lock_guard<std::mutex> g(fail_mu);
		slow_dir = root + "/n" + std::to_string(l);
	}
	slow_ms = 500; /* election timeout: 100-200 ms */
	sn__wal_hooks.fdatasync = SlowSync;
	Result r;
	std::string e = "during=1";
	ASSERT_EQ(sn_node_propose(N(l), e.data(), e.size(), Result::Cb, &r),
		  SN_OK);
	ASSERT_TRUE(r.Wait()) << "no answer";
	EXPECT_EQ(r.status, SN_OK);
	slow_ms = 0;
	for (uint64_t id : voters) {
		EXPECT_EQ(Status(id).engine.term, term)
			<< "member " << id << " saw an election";
		EXPECT_EQ(Status(id).engine.leader, l) << "member " << id;
	}
}

TEST_P(Node, FailedFsyncStopsTheNodeAndLosesNothing)
{
	sn__wal_hooks.fdatasync = SelectiveSync;
	for (uint64_t id : voters)
		ASSERT_NO_FATAL_FAILURE(Open(id));
	std::map<std::string, std::string> acked;
	uint64_t idx = 0;
	for (int i = 0; i < 10; i++) {
		std::string k = "f" + std::to_string(i);
		if (Put(k, "1", &idx) != "")
			acked[k] = "1";
	}
	uint64_t l = Leader();
	ASSERT_NE(l, 0u);
	{
		std::lock_guard<std::mutex> g(fail_mu);
		failing.push_back(root + "/n" + std::to_string(l));
	}
	Result r;
	ASSERT_EQ(sn_node_propose(N(l), "doomed=1", 8, Result::Cb, &r), SN_OK);
	ASSERT_TRUE(r.Wait());
	EXPECT_EQ(r.status, SN_ESTOPPED) << "acknowledged a write its disk "
					    "could not make durable";
	sn_node_status st = Status(l);
	EXPECT_EQ(st.error, SN_EIO);
	EXPECT_NE(std::string(st.errmsg).find("fdatasync"), std::string::npos)
		<< st.errmsg;
	EXPECT_EQ(sn_node_propose(N(l), "x=1", 3, Result::Cb, &r),
		  SN_ESTOPPED);
	/* The others go on without it. */
	Close(l);
	for (int i = 10; i < 20; i++) {
		std::string k = "f" + std::to_string(i);
		if (Put(k, "2", &idx) != "")
			acked[k] = "2";
	}
	{
		std::lock_guard<std::mutex> g(fail_mu);
		failing.clear();
	}
	ASSERT_NO_FATAL_FAILURE(RestartAllAndPut("end", "1", &idx));
	for (uint64_t id : voters) {
		auto got = kvs[id]->Copy();
		for (auto &p : acked)
			EXPECT_EQ(got[p.first], p.second)
				<< "member " << id << " lost " << p.first;
	}
}

/* flush runs after every applied batch (version 2), and is not even read
 * for a version 1 caller. */
TEST_P(Node, FlushIsCalledForVersion2OptionsOnly)
{
	for (uint64_t id : voters)
		ASSERT_NO_FATAL_FAILURE(Open(id));
	uint64_t idx = 0;
	Put("x", "1", &idx);
	uint64_t l = Leader();
	Result rd;
	ASSERT_EQ(sn_node_read(N(l), Result::Cb, &rd), SN_OK);
	ASSERT_TRUE(rd.Wait());
	{
		std::lock_guard<std::mutex> g(kvs[l]->mu);
		EXPECT_GT(kvs[l]->flushes, 0);
		EXPECT_TRUE(kvs[l]->pending.empty());
	}
	for (uint64_t id : voters)
		Close(id);

	options_version = 1;
	for (uint64_t id : voters)
		ASSERT_NO_FATAL_FAILURE(Open(id));
	Put("y", "2", &idx);
	l = Leader();
	Result rd2;
	ASSERT_EQ(sn_node_read(N(l), Result::Cb, &rd2), SN_OK);
	ASSERT_TRUE(rd2.Wait());
	std::lock_guard<std::mutex> g(kvs[l]->mu);
	EXPECT_EQ(kvs[l]->flushes, 0);
	EXPECT_EQ(kvs[l]->pending["y"], "2");
}

TEST_P(Node, OptionsAreChecked)
{
	Kv kv;
	sn_state_machine sm{ &kv, Kv::Applied, Kv::Apply, Kv::Snapshot,
			     Kv::Restore, Kv::Flush, nullptr };
	std::string dir = root + "/bad";
	sn_node *n = nullptr;
	sn_node_options o = Options(1, &sm, dir);
	o.engine = "zab";
	EXPECT_EQ(sn_node_open(&n, &o), SN_EINVAL);
	EXPECT_NE(std::string(sn_errmsg()).find("zab"), std::string::npos);
	o = Options(9, &sm, dir);
	EXPECT_EQ(sn_node_open(&n, &o), SN_EINVAL);
	o = Options(1, &sm, dir);
	o.transport = nullptr;
	EXPECT_EQ(sn_node_open(&n, &o), SN_EINVAL);
	o = Options(1, &sm, dir);
	o.data_dir = nullptr;
	EXPECT_EQ(sn_node_open(&n, &o), SN_EINVAL);
	sn_state_machine half{ &kv, nullptr, Kv::Apply, Kv::Snapshot, nullptr,
			       nullptr, nullptr };
	o = Options(1, &half, dir);
	EXPECT_EQ(sn_node_open(&n, &o), SN_EINVAL);
	EXPECT_EQ(n, nullptr);
	/* Two opens of one directory: the second is refused. */
	o = Options(1, &sm, dir);
	ASSERT_EQ(sn_node_open(&n, &o), SN_OK) << sn_errmsg();
	sn_node *n2 = nullptr;
	EXPECT_EQ(sn_node_open(&n2, &o), SN_EBUSY);
	sn_node_close(n);
}

INSTANTIATE_TEST_SUITE_P(Engines, Node, ::testing::Values("raft", "paxos"),
			 [](const ::testing::TestParamInfo<std::string> &i) {
				 return i.param;
			 });

} // namespace
