/*
 * client_test.cc - the public C client (<senate/client.h>,
 * libsenate-client.so) against three real `senated` processes on free
 * loopback ports (label `rpc`), both engines:
 *   - 1,000 puts, SIGKILL of the leader, a new leader within 3 election
 *     timeouts, every acknowledged put readable with its revision from
 *     every member, the killed member restarted and caught up (through a
 *     snapshot: the log was compacted while it was down);
 *   - failover and a clear timeout when members are stopped;
 *   - bad input refused with SN_EINVAL and changing nothing;
 *   - one client shared by many threads;
 *   - range / prefix / delete / prev-kv / status.
 * The test links only the public libraries (libsenate-client, libsenate).
 */
#include "../common/senated_cluster.h"
#include <gtest/gtest.h>

#include <senate/client.h>
#include <senate/senate.h>

#include <atomic>
#include <map>
#include <memory>
#include <chrono>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

#ifndef SENATED_PATH
#error "SENATED_PATH (the senated binary) must be defined"
#endif

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using senate_test::SenatedCluster;

constexpr int kTickMs = 50;
constexpr int kElectionTicks = 10;
constexpr auto kElectionTimeout = std::chrono::milliseconds(kTickMs *
							     kElectionTicks);

std::string Str(const sn_buf &b)
{
	return std::string(static_cast<const char *>(b.ptr), b.size);
}

/* A client over `eps`; nullptr (and a failed assertion) on error. */
sn_client *Open(const std::vector<std::string> &eps, unsigned timeout_ms = 10000)
{
	std::vector<const char *> p;
	for (const std::string &e : eps)
		p.push_back(e.c_str());
	sn_client_options o;
	EXPECT_EQ(sn_client_options_init(&o, SN_CLIENT_OPTIONS_VERSION), SN_OK);
	o.endpoints = p.data();
	o.n_endpoints = p.size();
	o.timeout_ms = timeout_ms;
	o.attempt_ms = 1000;
	sn_client *c = nullptr;
	EXPECT_EQ(sn_client_open(&c, &o), SN_OK) << sn_errmsg();
	return c;
}

class Client : public ::testing::TestWithParam<const char *> {
protected:
	std::unique_ptr<SenatedCluster> cl;
	sn_client *c = nullptr;

	void SetUp() override
	{
		cl = std::make_unique<SenatedCluster>(SENATED_PATH, "client", 3);
		ASSERT_TRUE(cl->ok()) << "cannot create a test directory";
		cl->flags = { "--engine", GetParam(), "--tick-ms",
			      std::to_string(kTickMs), "--election-ticks",
			      std::to_string(kElectionTicks),
			      "--snapshot-entries", "200" };
		ASSERT_TRUE(cl->StartAll());
		c = Open(cl->Endpoints());
		ASSERT_NE(c, nullptr);
	}
	void TearDown() override
	{
		sn_client_close(c);
		cl.reset();
	}

	/* The leader's name as some running member sees it; "" if none. */
	std::string Leader()
	{
		for (const std::string &n : cl->names) {
			if (!cl->Running(n))
				continue;
			sn_cluster_status s;
			if (sn_client_status(&s, c, cl->client[n].c_str()) !=
			    SN_OK)
				continue;
			std::string name;
			for (size_t i = 0; i < s.n_members; i++)
				if (s.members[i].id == s.leader_id &&
				    s.leader_id != 0)
					name = cl->NameOf(
						s.members[i].client_address);
			sn_cluster_status_dispose(&s);
			if (!name.empty() && cl->Running(name))
				return name;
		}
		return "";
	}

	std::string WaitLeader(std::chrono::milliseconds within)
	{
		auto end = Clock::now() + within;
		std::string l;
		while ((l = Leader()).empty() && Clock::now() < end)
			std::this_thread::sleep_for(10ms);
		return l;
	}

	/*
	 * Every key in `want` (key -> {value, mod revision}) read back from
	 * member `n` alone (serializable: its own store), waiting (bounded)
	 * for it to apply them. Empty string when all match, else what
	 * differs.
	 */
	std::string CheckMember(const std::string &n,
				const std::map<std::string,
					       std::pair<std::string, int64_t>>
					&want)
	{
		sn_client *one = Open({ cl->client[n] }, 2000);
		if (!one)
			return "cannot open a client";
		std::string diff = "never read";
		auto end = Clock::now() + 30s;
		while (Clock::now() < end) {
			sn_range_result r;
			int rv = sn_client_range(&r, one, "k", 1, nullptr, 0, 0,
						 SN_CLIENT_PREFIX |
							 SN_CLIENT_SERIALIZABLE);
			if (rv != SN_OK) {
				diff = std::string("range: ") + sn_errmsg();
			} else {
				diff.clear();
				std::map<std::string, std::pair<std::string, int64_t>> got;
				for (size_t i = 0; i < r.n; i++)
					got[Str(r.kvs[i].key)] = {
						Str(r.kvs[i].value),
						r.kvs[i].mod_revision
					};
				for (const auto &w : want) {
					auto it = got.find(w.first);
					if (it == got.end() ||
					    it->second != w.second) {
						diff = w.first +
						       (it == got.end()
								? " missing"
								: " differs: " +
									  it->second.first +
									  "@" +
									  std::to_string(
										  it->second
											  .second));
						break;
					}
				}
				if (diff.empty() && got.size() != want.size())
					diff = std::to_string(got.size()) +
					       " keys, want " +
					       std::to_string(want.size());
			}
			sn_range_result_dispose(&r);
			if (diff.empty())
				break;
			std::this_thread::sleep_for(50ms);
		}
		sn_client_close(one);
		return diff;
	}
};

TEST_P(Client, ThousandPutsLeaderKilledEveryAckedPutOnEveryMember)
{
	std::map<std::string, std::pair<std::string, int64_t>> acked;
	int64_t last = 0;
	/* Puts k%05d = value-%d for i in [from, to), each acknowledged
	 * revision recorded in `acked` and `last`. Revisions always increase;
	 * with `consecutive` each follows the one before (one writer, no
	 * failover in between). */
	auto put_all = [&](int from, int to, bool consecutive) {
		char k[32], v[64];
		for (int i = from; i < to; i++) {
			snprintf(k, sizeof k, "k%05d", i);
			snprintf(v, sizeof v, "value-%d", i);
			sn_put_result r;
			ASSERT_EQ(sn_client_put(&r, c, k, strlen(k), v,
						strlen(v), 0),
				  SN_OK)
				<< i << ": " << sn_errmsg();
			if (!consecutive) {
				ASSERT_GT(r.revision, last);
			} else if (last) {
				ASSERT_EQ(r.revision, last + 1)
					<< "one writer: revisions follow";
			}
			last = r.revision;
			acked[k] = { v, r.revision };
			sn_put_result_dispose(&r);
		}
	};
	ASSERT_NO_FATAL_FAILURE(put_all(0, 1000, true));

	std::string old = WaitLeader(5s);
	ASSERT_FALSE(old.empty());
	auto killed = Clock::now();
	cl->Kill(old);
	std::string now = WaitLeader(3 * kElectionTimeout + 2s);
	auto took = Clock::now() - killed;
	ASSERT_FALSE(now.empty()) << "no new leader";
	EXPECT_LT(took, 3 * kElectionTimeout)
		<< "new leader " << now << " after "
		<< std::chrono::duration_cast<std::chrono::milliseconds>(took)
			   .count()
		<< " ms; election timeout " << kElectionTimeout.count()
		<< " ms";

	/* The client finds the new leader by itself; 500 more puts while the
	 * old leader is down, enough for snapshots to compact the log past
	 * what the killed member has (--snapshot-entries 200). */
	ASSERT_NO_FATAL_FAILURE(put_all(1000, 1500, false));
	/* A linearizable read through the client sees the last write. */
	sn_kv kv;
	ASSERT_EQ(sn_client_get(&kv, c, "k01499", 6, 0), SN_OK) << sn_errmsg();
	EXPECT_EQ(Str(kv.value), "value-1499");
	EXPECT_EQ(kv.mod_revision, last);
	EXPECT_EQ(kv.version, 1);
	sn_kv_dispose(&kv);

	for (const std::string &n : cl->names) {
		if (cl->Running(n)) {
			EXPECT_EQ(CheckMember(n, acked), "") << "member " << n;
		}
	}

	ASSERT_GT(cl->Start(old), 0);
	EXPECT_EQ(CheckMember(old, acked), "")
		<< "restarted member " << old << "\n"
		<< cl->Log(old);
	EXPECT_NE(cl->Log(old).find("installed snapshot"), std::string::npos)
		<< "the restarted member should catch up through a snapshot "
		   "(its log was compacted)\n"
		<< cl->Log(old);

	for (const std::string &n : cl->names)
		EXPECT_EQ(cl->Stop(n), 0) << n << " did not stop cleanly";
}

TEST_P(Client, StoppedMembersFailOverAndThenTimeOutClearly)
{
	ASSERT_EQ(sn_client_put(nullptr, c, "a", 1, "1", 1, 0), SN_OK)
		<< sn_errmsg();
	/* n1 stopped: a client listing it first still works. */
	EXPECT_EQ(cl->Stop("n1"), 0);
	sn_client *first_down = Open({ cl->client["n1"], cl->client["n2"],
				       cl->client["n3"] });
	ASSERT_EQ(sn_client_put(nullptr, first_down, "b", 1, "2", 1, 0), SN_OK)
		<< sn_errmsg();
	sn_client_close(first_down);

	/* A client of the stopped member alone: SN_ETIMEDOUT by its deadline,
	 * naming the member. */
	sn_client *only = Open({ cl->client["n1"] }, 800);
	auto t0 = Clock::now();
	EXPECT_EQ(sn_client_put(nullptr, only, "c", 1, "3", 1, 0), SN_ETIMEDOUT);
	EXPECT_NE(std::string(sn_errmsg()).find(cl->client["n1"]),
		  std::string::npos)
		<< sn_errmsg();
	sn_kv kv;
	EXPECT_EQ(sn_client_get(&kv, only, "a", 1, SN_CLIENT_SERIALIZABLE),
		  SN_ETIMEDOUT);
	sn_cluster_status st;
	EXPECT_EQ(sn_client_status(&st, only, nullptr), SN_ETIMEDOUT);
	EXPECT_LT(Clock::now() - t0, 10s);
	sn_client_close(only);

	/* Two of three down: no quorum, writes time out, nothing applied. */
	EXPECT_EQ(cl->Stop("n2"), 0);
	sn_client *rest = Open({ cl->client["n3"] }, 1500);
	EXPECT_EQ(sn_client_put(nullptr, rest, "d", 1, "4", 1, 0), SN_ETIMEDOUT);
	sn_client_close(rest);
	ASSERT_GT(cl->Start("n1"), 0);
	ASSERT_GT(cl->Start("n2"), 0);
	EXPECT_EQ(sn_client_get(&kv, c, "b", 1, 0), SN_OK) << sn_errmsg();
	EXPECT_EQ(Str(kv.value), "2");
	sn_kv_dispose(&kv);
}

TEST_P(Client, BadInputIsRefusedAndChangesNothing)
{
	sn_put_result r;
	ASSERT_EQ(sn_client_put(&r, c, "x", 1, "1", 1, 0), SN_OK) << sn_errmsg();
	int64_t rev = r.revision;

	EXPECT_EQ(sn_client_put(&r, c, "", 0, "v", 1, 0), SN_EINVAL);
	EXPECT_NE(std::string(sn_errmsg()).find("empty"), std::string::npos)
		<< sn_errmsg();
	EXPECT_EQ(sn_client_put(&r, c, nullptr, 3, "v", 1, 0), SN_EINVAL);
	std::string big_key(4097, 'k');
	EXPECT_EQ(sn_client_put(&r, c, big_key.data(), big_key.size(), "v", 1,
				0),
		  SN_EINVAL);
	/* A value over the cluster's 1 MiB limit: the member says why. */
	std::string big((1u << 20) + 1, 'v');
	EXPECT_EQ(sn_client_put(&r, c, "y", 1, big.data(), big.size(), 0),
		  SN_EINVAL);
	EXPECT_NE(std::string(sn_errmsg()).find("1048576"), std::string::npos)
		<< sn_errmsg();
	sn_range_result rr;
	EXPECT_EQ(sn_client_range(&rr, c, "a", 1, nullptr, 0, -1, 0), SN_EINVAL);
	EXPECT_EQ(sn_client_range(&rr, c, "a", 1, nullptr, 5000, 0, 0),
		  SN_EINVAL);

	/* Nothing moved: the next write is the very next revision, y absent. */
	sn_kv kv;
	EXPECT_EQ(sn_client_get(&kv, c, "y", 1, 0), SN_ENOTFOUND);
	ASSERT_EQ(sn_client_put(&r, c, "z", 1, "2", 1, 0), SN_OK) << sn_errmsg();
	EXPECT_EQ(r.revision, rev + 1);
	/* Exactly 1 MiB is fine. */
	big.pop_back();
	ASSERT_EQ(sn_client_put(&r, c, "y", 1, big.data(), big.size(), 0),
		  SN_OK)
		<< sn_errmsg();
	ASSERT_EQ(sn_client_get(&kv, c, "y", 1, 0), SN_OK);
	EXPECT_EQ(kv.value.size, big.size());
	sn_kv_dispose(&kv);
}

TEST_P(Client, OneClientManyThreads)
{
	constexpr int kThreads = 8, kPuts = 100;
	std::vector<std::vector<int64_t>> revs(kThreads);
	std::atomic<int> failures{ 0 };
	std::vector<std::thread> ts;
	for (int t = 0; t < kThreads; t++)
		ts.emplace_back([&, t] {
			for (int i = 0; i < kPuts; i++) {
				std::string k = "t" + std::to_string(t) + "-" +
						std::to_string(i);
				sn_put_result r;
				if (sn_client_put(&r, c, k.data(), k.size(), "v",
						  1, 0) != SN_OK) {
					if (failures++ == 0)
						ADD_FAILURE() << k << ": "
							      << sn_errmsg();
					continue;
				}
				revs[t].push_back(r.revision);
			}
		});
	for (auto &t : ts)
		t.join();
	EXPECT_EQ(failures.load(), 0)
		<< cl->Log("n1") << cl->Log("n2") << cl->Log("n3");
	std::set<int64_t> all;
	for (auto &v : revs)
		for (int64_t r : v)
			EXPECT_TRUE(all.insert(r).second) << "revision " << r
							  << " twice";
	EXPECT_EQ(all.size(), size_t(kThreads * kPuts));
	sn_range_result rr;
	ASSERT_EQ(sn_client_range(&rr, c, "t", 1, nullptr, 0, 0,
				  SN_CLIENT_PREFIX | SN_CLIENT_COUNT_ONLY),
		  SN_OK)
		<< sn_errmsg();
	EXPECT_EQ(rr.count, kThreads * kPuts);
	EXPECT_EQ(rr.n, 0u);
	sn_range_result_dispose(&rr);
}

TEST_P(Client, RangeDeletePrevKvAndStatus)
{
	const char *keys[] = { "p/a", "p/b", "p/c", "q" };
	for (const char *k : keys)
		ASSERT_EQ(sn_client_put(nullptr, c, k, strlen(k), k, strlen(k), 0),
			  SN_OK)
			<< sn_errmsg();
	sn_put_result pr;
	ASSERT_EQ(sn_client_put(&pr, c, "p/a", 3, "A2", 2, SN_CLIENT_PREV_KV),
		  SN_OK);
	ASSERT_TRUE(pr.has_prev);
	EXPECT_EQ(Str(pr.prev.key), "p/a");
	EXPECT_EQ(Str(pr.prev.value), "p/a");
	EXPECT_EQ(pr.prev.version, 1);
	sn_put_result_dispose(&pr);
	sn_put_result_dispose(&pr); /* twice is harmless */

	sn_range_result rr;
	ASSERT_EQ(sn_client_range(&rr, c, "p/", 2, nullptr, 0, 2,
				  SN_CLIENT_PREFIX),
		  SN_OK);
	ASSERT_EQ(rr.n, 2u);
	EXPECT_EQ(Str(rr.kvs[0].key), "p/a");
	EXPECT_EQ(Str(rr.kvs[0].value), "A2");
	EXPECT_EQ(rr.kvs[0].version, 2);
	EXPECT_EQ(Str(rr.kvs[1].key), "p/b");
	EXPECT_TRUE(rr.more);
	EXPECT_EQ(rr.count, 3);
	sn_range_result_dispose(&rr);
	/* [p/b, q): p/b and p/c; keys only. */
	ASSERT_EQ(sn_client_range(&rr, c, "p/b", 3, "q", 1, 0,
				  SN_CLIENT_KEYS_ONLY),
		  SN_OK);
	ASSERT_EQ(rr.n, 2u);
	EXPECT_EQ(rr.kvs[1].value.size, 0u);
	sn_range_result_dispose(&rr);

	sn_delete_result dr;
	ASSERT_EQ(sn_client_delete(&dr, c, "p/", 2, nullptr, 0,
				   SN_CLIENT_PREFIX | SN_CLIENT_PREV_KV),
		  SN_OK)
		<< sn_errmsg();
	EXPECT_EQ(dr.deleted, 3);
	ASSERT_EQ(dr.n_prev, 3u);
	EXPECT_EQ(Str(dr.prev[2].key), "p/c");
	sn_delete_result_dispose(&dr);
	sn_kv kv;
	EXPECT_EQ(sn_client_get(&kv, c, "p/a", 3, 0), SN_ENOTFOUND);
	EXPECT_EQ(kv.value.ptr, nullptr);
	ASSERT_EQ(sn_client_get(&kv, c, "q", 1, SN_CLIENT_SERIALIZABLE), SN_OK);
	sn_kv_dispose(&kv);
	ASSERT_EQ(sn_client_delete(nullptr, c, "none", 4, nullptr, 0, 0), SN_OK);

	std::string leader = WaitLeader(5s);
	ASSERT_FALSE(leader.empty());
	for (const std::string &n : cl->names) {
		sn_cluster_status s;
		ASSERT_EQ(sn_client_status(&s, c, cl->client[n].c_str()), SN_OK)
			<< sn_errmsg();
		EXPECT_EQ(std::string(s.engine), GetParam());
		EXPECT_EQ(s.n_members, 3u);
		EXPECT_STREQ(s.error, "");
		int self = 0;
		for (size_t i = 0; i < s.n_members; i++)
			if (s.members[i].self) {
				self++;
				EXPECT_EQ(cl->NameOf(s.members[i].client_address),
					  n);
				EXPECT_GT(s.members[i].applied, 0u);
			}
		EXPECT_EQ(self, 1);
		sn_cluster_status_dispose(&s);
	}
}

INSTANTIATE_TEST_SUITE_P(Engines, Client, ::testing::Values("raft", "paxos"),
			 [](const auto &info) {
				 return std::string(info.param);
			 });

TEST(ClientOptions, BadOptionsAndArguments)
{
	sn_client_options o;
	EXPECT_EQ(sn_client_options_init(&o, 99), SN_EINVAL);
	ASSERT_EQ(sn_client_options_init(&o, SN_CLIENT_OPTIONS_VERSION), SN_OK);
	sn_client *c = nullptr;
	EXPECT_EQ(sn_client_open(&c, &o), SN_EINVAL);
	EXPECT_NE(std::string(sn_errmsg()).find("endpoints"), std::string::npos);
	const char *eps[] = { "" };
	o.endpoints = eps;
	o.n_endpoints = 1;
	EXPECT_EQ(sn_client_open(&c, &o), SN_EINVAL);
	const char *ok[] = { "127.0.0.1:1" };
	o.endpoints = ok;
	o.client_id = 42;
	ASSERT_EQ(sn_client_open(&c, &o), SN_OK);
	EXPECT_EQ(sn_client_id(c), 42u);
	sn_kv kv;
	EXPECT_EQ(sn_client_get(nullptr, c, "k", 1, 0), SN_EINVAL);
	EXPECT_EQ(sn_client_get(&kv, nullptr, "k", 1, 0), SN_EINVAL);
	sn_client_close(c);
	sn_client_close(nullptr);
}

} // namespace
