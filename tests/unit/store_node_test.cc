/*
 * store_node_test.cc - the replicated store: three nodes (each engine), each
 * with its own LMDB store as the state machine (core/node/node_store.c),
 * real WALs, an in-process transport. Writes through the leader reach every
 * replica with the same revisions; a retried command is not applied twice; a
 * member behind the compacted log catches up through LMDB's snapshot copy;
 * a whole cluster restarts on its disks with every acknowledged write.
 */
#include "../common/test_dir.h"
#include <gtest/gtest.h>

#include <senate/senate.h>
extern "C" {
#include "node/node_store.h"
}

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct Done {
	std::mutex mu;
	std::condition_variable cv;
	bool done = false;
	int status = 1;
	std::string bytes;
	static void Cb(void *ud, int status, uint64_t, const void *p, size_t n)
	{
		Done *d = static_cast<Done *>(ud);
		std::lock_guard<std::mutex> g(d->mu);
		d->status = status;
		d->bytes.assign(static_cast<const char *>(p), n);
		d->done = true;
		d->cv.notify_all();
	}
	bool Wait()
	{
		std::unique_lock<std::mutex> g(mu);
		return cv.wait_for(g, 10s, [&] { return done; });
	}
};

class StoreNode : public ::testing::TestWithParam<std::string> {
protected:
	std::string root;
	std::vector<uint64_t> voters{ 1, 2, 3 };
	std::mutex net_mu;
	std::map<uint64_t, sn_node *> nodes;
	std::map<uint64_t, sn__store *> stores;
	sn_transport tr{};
	uint64_t snapshot_entries = 0, snapshot_trailing = 0;
	std::string boot_file; /* the stores' boot id file, if set */

	static int Send(void *ud, const sn_message *m)
	{
		StoreNode *t = static_cast<StoreNode *>(ud);
		std::lock_guard<std::mutex> g(t->net_mu);
		auto it = t->nodes.find(m->to);
		return it == t->nodes.end() ? SN_ENOTFOUND
					    : sn_node_receive(it->second, m);
	}
	void SetUp() override
	{
		root = senate_test::MakeTestDir("senate-sn");
		ASSERT_FALSE(root.empty()) << "cannot create a test directory";
		tr.userdata = this;
		tr.send = Send;
	}
	void TearDown() override
	{
		for (uint64_t id : voters)
			Close(id);
		fs::remove_all(root);
	}
	void Open(uint64_t id)
	{
		std::string dir = root + "/n" + std::to_string(id);
		std::string sdir = dir + "/store";
		fs::create_directories(sdir);
		sn__store_options so{};
		so.dir = sdir.c_str();
		so.map_size = 64u << 20;
		if (!boot_file.empty())
			so.boot_id_path = boot_file.c_str();
		sn__store *st = nullptr;
		ASSERT_EQ(sn__store_open(&st, &so), SN_OK) << sn_errmsg();
		sn_state_machine sm;
		ASSERT_EQ(sn__node_store_sm(&sm, st), SN_OK);
		sn_node_options o;
		ASSERT_EQ(sn_node_options_init(&o, SN_NODE_OPTIONS_VERSION),
			  SN_OK);
		o.id = id;
		o.voters = voters.data();
		o.n_voters = voters.size();
		o.engine = GetParam().c_str();
		o.data_dir = dir.c_str();
		o.tick_ms = 10;
		o.transport = &tr;
		o.sm = &sm;
		o.snapshot_entries = snapshot_entries;
		o.snapshot_trailing = snapshot_trailing;
		sn_node *n = nullptr;
		ASSERT_EQ(sn_node_open(&n, &o), SN_OK) << sn_errmsg();
		std::lock_guard<std::mutex> g(net_mu);
		nodes[id] = n;
		stores[id] = st;
	}
	void Close(uint64_t id)
	{
		sn_node *n = nullptr;
		{
			std::lock_guard<std::mutex> g(net_mu);
			if (!nodes.count(id))
				return;
			n = nodes[id];
			nodes.erase(id);
		}
		sn_node_close(n);
		sn__store_close(stores[id]);
		stores.erase(id);
	}
	sn_node *N(uint64_t id)
	{
		std::lock_guard<std::mutex> g(net_mu);
		return nodes.count(id) ? nodes[id] : nullptr;
	}
	uint64_t Leader()
	{
		for (int i = 0; i < 2000; i++) {
			for (uint64_t id : voters) {
				sn_node_status st;
				if (!N(id))
					continue;
				sn_node_status_get(N(id), &st);
				if (st.engine.role == SN_ROLE_LEADER)
					return id;
			}
			std::this_thread::sleep_for(5ms);
		}
		return 0;
	}
	/* Propose an encoded command until a leader applies it. */
	int Propose(const sn_buf &cmd, std::string *result = nullptr)
	{
		for (int attempt = 0; attempt < 50; attempt++) {
			uint64_t l = Leader();
			if (!l)
				return SN_ETIMEDOUT;
			Done d;
			if (sn_node_propose(N(l), cmd.ptr, cmd.size, Done::Cb, &d) ||
			    !d.Wait() || d.status != SN_OK) {
				std::this_thread::sleep_for(10ms);
				continue;
			}
			if (result)
				*result = d.bytes;
			return SN_OK;
		}
		return SN_ETIMEDOUT;
	}
	int Put(uint64_t client, uint64_t seq, const std::string &k,
		const std::string &v, std::string *result = nullptr)
	{
		sn_buf cmd = SN_BUF_INIT;
		int rv = sn__store_cmd_put(&cmd, client, seq, k.data(), k.size(),
					   v.data(), v.size(), 0, false);
		if (rv == SN_OK)
			rv = Propose(cmd, result);
		sn_buf_dispose(&cmd);
		return rv;
	}
	/* Every open replica at the same revision, or fail after 10 s. An
	 * answered write becomes visible in the store right after its answer
	 * (sn_state_machine.flush): a read barrier on the leader first, so
	 * that the leader's store holds every answered write. */
	uint64_t Converge()
	{
		uint64_t want = 0;
		for (int attempt = 0; attempt < 50; attempt++) {
			uint64_t l = Leader();
			Done d;
			if (l && sn_node_read(N(l), Done::Cb, &d) == SN_OK &&
			    d.Wait() && d.status == SN_OK)
				break;
			std::this_thread::sleep_for(10ms);
		}
		for (int i = 0; i < 2000; i++) {
			std::vector<uint64_t> revs;
			{
				std::lock_guard<std::mutex> g(net_mu);
				for (auto &p : stores)
					revs.push_back(sn__store_revision(p.second));
			}
			want = *std::max_element(revs.begin(), revs.end());
			if (std::all_of(revs.begin(), revs.end(),
					[&](uint64_t r) { return r == want; }))
				return want;
			std::this_thread::sleep_for(5ms);
		}
		ADD_FAILURE() << "replicas never reached the same revision";
		return want;
	}
	std::map<std::string, std::string> All(uint64_t id)
	{
		sn__store_read r{};
		std::map<std::string, std::string> out;
		EXPECT_EQ(sn__store_range(&r, stores[id], "\0", 1, "\0", 1, 0, 0,
					  0), SN_OK) << sn_errmsg();
		for (size_t i = 0; i < r.n_kvs; i++)
			out[std::string((const char *)r.kvs[i].key,
					r.kvs[i].klen)] =
				std::string((const char *)r.kvs[i].value,
					    r.kvs[i].vlen);
		sn__store_read_dispose(&r);
		return out;
	}
};

TEST_P(StoreNode, WritesReachEveryReplicaWithTheSameRevisions)
{
	for (uint64_t id : voters)
		ASSERT_NO_FATAL_FAILURE(Open(id));
	for (int i = 0; i < 60; i++)
		ASSERT_EQ(Put(7, i + 1, "k" + std::to_string(i),
			      "v" + std::to_string(i)), SN_OK);
	uint64_t rev = Converge();
	EXPECT_EQ(rev, 60u);
	auto want = All(1);
	EXPECT_EQ(want.size(), 60u);
	for (uint64_t id : voters) {
		EXPECT_EQ(All(id), want) << "member " << id;
		sn__store_read r{};
		ASSERT_EQ(sn__store_get(&r, stores[id], "k5", 2), SN_OK);
		ASSERT_EQ(r.n_kvs, 1u);
		EXPECT_EQ(r.kvs[0].mod_revision, 6u);
		EXPECT_EQ(r.kvs[0].version, 1u);
		sn__store_read_dispose(&r);
	}
}

TEST_P(StoreNode, RetriedCommandIsAppliedOnce)
{
	for (uint64_t id : voters)
		ASSERT_NO_FATAL_FAILURE(Open(id));
	std::string first, again;
	ASSERT_EQ(Put(9, 1, "a", "1", &first), SN_OK);
	ASSERT_EQ(Put(9, 2, "a", "2"), SN_OK);
	uint64_t rev = Converge();
	/* A retry of seq 2 after a lost reply: same result, no new revision. */
	ASSERT_EQ(Put(9, 2, "a", "2", &again), SN_OK);
	EXPECT_EQ(Converge(), rev);
	for (uint64_t id : voters) {
		sn__store_read r{};
		ASSERT_EQ(sn__store_get(&r, stores[id], "a", 1), SN_OK);
		EXPECT_EQ(r.kvs[0].version, 2u) << "applied twice on " << id;
		sn__store_read_dispose(&r);
	}
	EXPECT_FALSE(first.empty()) << "the proposer got no result bytes";
}

TEST_P(StoreNode, LaggingReplicaCatchesUpThroughTheStoreSnapshot)
{
	snapshot_entries = 25;
	snapshot_trailing = 3;
	for (uint64_t id : voters)
		ASSERT_NO_FATAL_FAILURE(Open(id));
	uint64_t l = Leader();
	ASSERT_NE(l, 0u);
	uint64_t lag = l == 3 ? 2 : 3;
	Close(lag);
	for (int i = 0; i < 150; i++)
		ASSERT_EQ(Put(5, i + 1, "s" + std::to_string(i),
			      std::string(100, 'x')), SN_OK);
	ASSERT_NO_FATAL_FAILURE(Open(lag));
	uint64_t rev = Converge();
	EXPECT_EQ(rev, 150u);
	sn_node_status st;
	sn_node_status_get(N(lag), &st);
	EXPECT_GT(st.snapshot_index, 0u) << "caught up without a snapshot";
	EXPECT_EQ(All(lag), All(Leader()));
}

TEST_P(StoreNode, ClusterRestartKeepsEveryAcknowledgedWrite)
{
	snapshot_entries = 40;
	snapshot_trailing = 5;
	for (uint64_t id : voters)
		ASSERT_NO_FATAL_FAILURE(Open(id));
	for (int i = 0; i < 100; i++)
		ASSERT_EQ(Put(3, i + 1, "r" + std::to_string(i), "x"), SN_OK);
	uint64_t rev = Converge();
	auto want = All(1);
	for (uint64_t id : voters)
		Close(id);
	for (uint64_t id : voters)
		ASSERT_NO_FATAL_FAILURE(Open(id));
	ASSERT_EQ(Put(3, 101, "after", "restart"), SN_OK);
	EXPECT_EQ(Converge(), rev + 1);
	want["after"] = "restart";
	for (uint64_t id : voters)
		EXPECT_EQ(All(id), want) << "member " << id;
}

/* The store's commits are not synced (store.h): after a machine restart
 * that followed an unclean stop, a store may be torn. Play that: every
 * member's store.state says "unclean, earlier boot" and its data.mdb is
 * garbage; the members must discard the stores and rebuild them from their
 * newest snapshot and the WAL, losing nothing. */
TEST_P(StoreNode, StoresTornByAMachineRestartAreRebuiltFromSnapshotAndWal)
{
	boot_file = root + "/boot_id";
	std::ofstream(boot_file) << "boot-A\n";
	snapshot_entries = 40;
	snapshot_trailing = 5;
	for (uint64_t id : voters)
		ASSERT_NO_FATAL_FAILURE(Open(id));
	for (int i = 0; i < 100; i++)
		ASSERT_EQ(Put(4, i + 1, "t" + std::to_string(i),
			      std::string(50, 'a' + i % 26)), SN_OK);
	uint64_t rev = Converge();
	auto want = All(1);
	ASSERT_EQ(want.size(), 100u);
	for (uint64_t id : voters) {
		sn_node_status st;
		sn_node_status_get(N(id), &st);
		EXPECT_GT(st.snapshot_index, 0u) << "no snapshot on " << id;
		Close(id);
		std::string sdir = root + "/n" + std::to_string(id) + "/store";
		std::ofstream(sdir + "/store.state")
			<< "senate-store-state 1\nboot boot-A\nclean 0\n";
		std::ofstream(sdir + "/data.mdb", std::ios::trunc)
			<< std::string(64 << 10, '\x5a');
	}
	std::ofstream(boot_file) << "boot-B\n";
	for (uint64_t id : voters)
		ASSERT_NO_FATAL_FAILURE(Open(id));
	EXPECT_EQ(Converge(), rev);
	for (uint64_t id : voters)
		EXPECT_EQ(All(id), want) << "member " << id;
	ASSERT_EQ(Put(4, 101, "after", "restart"), SN_OK);
	EXPECT_EQ(Converge(), rev + 1);
}

INSTANTIATE_TEST_SUITE_P(Engines, StoreNode,
			 ::testing::Values("raft", "paxos"),
			 [](const ::testing::TestParamInfo<std::string> &i) {
				 return i.param;
			 });

} // namespace
