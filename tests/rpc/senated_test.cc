/*
 * senated_test.cc - three real `senated` processes on free loopback ports
 * (label `rpc`): puts and gets over gRPC, the leader killed with SIGKILL, a
 * new leader serving, the killed member restarted and catching up, then
 * SIGTERM to all and exit status 0. Bad flags exit 2. Every thread runs
 * the scheduling policy of --sched (SCHED_BATCH by default).
 */
#include "../common/senated_cluster.h"
#include <gtest/gtest.h>

#include <senate/senate.h>

#include "pb_call.h"

#include "senate.pb.h"

#include <sched.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#ifndef SENATED_PATH
#error "SENATED_PATH (the senated binary) must be defined"
#endif

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using senate_test::Dec;
using senate_test::DecStr;
using senate_test::Enc;
using senate_test::EncStr;
using senate_test::Reply;
using senate_test::SenatedCluster;

/* Members may be down: a call that does not complete is code -1. */
Reply Call(const std::string &target, const char *method,
	   const std::string &req)
{
	return senate_test::Call(target, method, { req }, 3000, false);
}

Reply Put(const std::string &target, const std::string &k,
	  const std::string &v)
{
	auto *q = new senate_v1_PutRequest(senate_v1_PutRequest_init_zero);
	memcpy(q->key.bytes, k.data(), k.size());
	q->key.size = static_cast<pb_size_t>(k.size());
	q->value.funcs.encode = EncStr;
	q->value.arg = const_cast<std::string *>(&v);
	Reply r = Call(target, "/senate.v1.KV/Put",
		       Enc(senate_v1_PutRequest_fields, q));
	delete q;
	return r;
}

/* The value of k (serializable: a member's own store), or "" with *found
 * false. */
bool Get(const std::string &target, const std::string &k, std::string *v,
	 bool serializable, int *code)
{
	auto *q = new senate_v1_GetRequest(senate_v1_GetRequest_init_zero);
	memcpy(q->key.bytes, k.data(), k.size());
	q->key.size = static_cast<pb_size_t>(k.size());
	q->serializable = serializable;
	Reply r = Call(target, "/senate.v1.KV/Get",
		       Enc(senate_v1_GetRequest_fields, q));
	delete q;
	*code = r.code;
	if (r.code != 0)
		return false;
	auto *resp =
		new senate_v1_GetResponse(senate_v1_GetResponse_init_zero);
	resp->kv.value.funcs.decode = DecStr;
	resp->kv.value.arg = v;
	bool found = Dec(r.message, senate_v1_GetResponse_fields, resp) &&
		     resp->found;
	delete resp;
	return found;
}

class Senated : public ::testing::Test {
protected:
	SenatedCluster cl{ SENATED_PATH, "senated", 3 };

	void SetUp() override
	{
		ASSERT_TRUE(cl.ok()) << "cannot create a test directory";
		cl.flags = { "--tick-ms", "20" };
	}
	void Start(const std::string &n) { ASSERT_GT(cl.Start(n), 0); }
	/* Reap n (signalled or exiting by itself): its wait status. */
	int Wait(const std::string &n)
	{
		int st = cl.Wait(n);
		EXPECT_NE(st, -1) << "waitpid " << n;
		return st;
	}
	/* Put through whichever member takes it (following senate-leader);
	 * the name of the member that took it. */
	std::string PutAnywhere(const std::string &k, const std::string &v)
	{
		auto end = std::chrono::steady_clock::now() + 20s;
		while (std::chrono::steady_clock::now() < end) {
			for (const std::string &n : cl.names) {
				if (!cl.Running(n))
					continue;
				Reply r = Put(cl.client[n], k, v);
				if (r.code == 0)
					return n;
			}
			std::this_thread::sleep_for(50ms);
		}
		return "";
	}
};

TEST_F(Senated, ThreeProcessesSurviveTheLeaderKilledAndShutDownCleanly)
{
	for (const std::string &n : cl.names)
		ASSERT_NO_FATAL_FAILURE(Start(n));
	std::string leader = PutAnywhere("a", "1");
	ASSERT_NE(leader, "") << "no member took a put";
	for (int i = 0; i < 20; i++)
		ASSERT_EQ(Put(cl.client[leader], "k" + std::to_string(i),
			      std::to_string(i))
				  .code,
			  0);
	std::string v;
	int code = -1;
	ASSERT_TRUE(Get(cl.client[leader], "k7", &v, false, &code)) << code;
	EXPECT_EQ(v, "7");
	/* A follower names the leader. */
	for (const std::string &n : cl.names) {
		if (n == leader)
			continue;
		Reply r = Put(cl.client[n], "x", "y");
		EXPECT_EQ(r.code, 14) << r.details;
		EXPECT_EQ(r.leader, cl.client[leader]) << r.details;
	}

	cl.Signal(leader, SIGKILL);
	int st = Wait(leader);
	EXPECT_TRUE(WIFSIGNALED(st));
	std::string next = PutAnywhere("b", "2");
	ASSERT_NE(next, "") << "no new leader served";
	EXPECT_NE(next, leader);
	ASSERT_TRUE(Get(cl.client[next], "k19", &v, false, &code)) << code;
	EXPECT_EQ(v, "19") << "the new leader has the acknowledged writes";

	ASSERT_NO_FATAL_FAILURE(Start(leader));
	/* The restarted member catches up: its own store has b. */
	bool caught = false;
	auto end = std::chrono::steady_clock::now() + 20s;
	while (!caught && std::chrono::steady_clock::now() < end) {
		v.clear();
		caught = Get(cl.client[leader], "b", &v, true, &code) &&
			 v == "2";
		if (!caught)
			std::this_thread::sleep_for(50ms);
	}
	EXPECT_TRUE(caught) << cl.Log(leader);

	/* SIGTERM to all at once, then each exits 0. */
	for (const std::string &n : cl.names)
		cl.Signal(n, SIGTERM);
	for (const std::string &n : cl.names) {
		st = Wait(n);
		EXPECT_TRUE(WIFEXITED(st)) << n;
		EXPECT_EQ(WEXITSTATUS(st), 0) << n << "\n" << cl.Log(n);
	}
	std::string log = cl.Log(leader);
	EXPECT_NE(log.find("listening"), std::string::npos) << log;
	EXPECT_NE(log.find("recovered WAL"), std::string::npos) << log;
	EXPECT_NE(log.find("stopped"), std::string::npos) << log;
}

TEST_F(Senated, BadFlagsPrintUsageAndExit2)
{
	const std::string &root = cl.root;
	const std::vector<std::vector<std::string>> bad = {
		{ "--bogus" },
		{ "--name", "n1" },
		{ "--name", "n9", "--data-dir", root + "/x", "--listen-peer",
		  cl.peer["n1"], "--listen-client", cl.client["n1"],
		  "--initial-cluster", cl.initial_cluster },
		{ "--name", "n1", "--data-dir", root + "/x", "--listen-peer",
		  cl.peer["n1"], "--listen-client", cl.client["n1"],
		  "--initial-cluster", cl.initial_cluster, "--engine", "zab" },
		{ "--name", "n1", "--data-dir", root + "/x", "--listen-peer",
		  cl.peer["n1"], "--listen-client", cl.client["n1"],
		  "--initial-cluster", cl.initial_cluster, "--sched", "fifo" },
	};
	for (size_t i = 0; i < bad.size(); i++) {
		std::string log = root + "/bad" + std::to_string(i);
		int st = cl.Run(bad[i], log);
		ASSERT_NE(st, -1) << "case " << i;
		EXPECT_TRUE(WIFEXITED(st));
		EXPECT_EQ(WEXITSTATUS(st), 2) << "case " << i;
		ASSERT_TRUE(fs::exists(log)) << "case " << i;
		/* The usage comes first. */
		EXPECT_NE(SenatedCluster::ReadFile(log).substr(0, 255).find(
				  "usage"),
			  std::string::npos)
			<< "case " << i;
	}
	int st = cl.Run({ "--help" }, root + "/help");
	ASSERT_NE(st, -1);
	EXPECT_EQ(WEXITSTATUS(st), 0);
}

/* How often `what` occurs in `s`. */
size_t Count(const std::string &s, const std::string &what)
{
	size_t n = 0;
	for (size_t at = s.find(what); at != std::string::npos;
	     at = s.find(what, at + 1))
		n++;
	return n;
}

/* The scheduling policy of each of member n's threads once its log (which
 * restarts append to) says "listening" for the `run`th time: policy ->
 * number of threads. */
std::map<int, int> Policies(SenatedCluster &cl, const std::string &n,
			    size_t run)
{
	std::map<int, int> out;
	auto end = std::chrono::steady_clock::now() + 20s;
	while (Count(cl.Log(n), "listening for peers") < run &&
	       std::chrono::steady_clock::now() < end)
		std::this_thread::sleep_for(20ms);
	std::string dir = "/proc/" + std::to_string(cl.pid[n]) + "/task";
	std::error_code ec;
	for (const auto &t : fs::directory_iterator(dir, ec))
		out[sched_getscheduler(
			(pid_t)std::stol(t.path().filename().string()))]++;
	return out;
}

TEST_F(Senated, EveryThreadRunsTheSchedulingPolicyOfSched)
{
	ASSERT_NO_FATAL_FAILURE(Start("n1"));
	std::map<int, int> p = Policies(cl, "n1", 1);
	ASSERT_EQ(p.size(), 1u) << "mixed policies; SCHED_BATCH threads: "
				<< p[SCHED_BATCH] << "\n" << cl.Log("n1");
	EXPECT_EQ(p.begin()->first, SCHED_BATCH);
	EXPECT_GE(p.begin()->second, 5) << "the member's threads, not one";
	EXPECT_EQ(WEXITSTATUS(cl.Stop("n1")), 0);

	cl.flags.insert(cl.flags.end(), { "--sched", "other" });
	ASSERT_NO_FATAL_FAILURE(Start("n1"));
	p = Policies(cl, "n1", 2);
	ASSERT_EQ(p.size(), 1u) << "mixed policies; SCHED_OTHER threads: "
				<< p[SCHED_OTHER];
	EXPECT_EQ(p.begin()->first, SCHED_OTHER);
	EXPECT_GE(p.begin()->second, 5);
	EXPECT_EQ(Count(cl.Log("n1"), "threads scheduled SCHED_OTHER"), 1u)
		<< cl.Log("n1");
}

} // namespace
