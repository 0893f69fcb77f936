/*
 * senated_test.cc - three real `senated` processes on free loopback ports
 * (label `rpc`): puts and gets over gRPC, the leader killed with SIGKILL, a
 * new leader serving, the killed member restarted and catching up, then
 * SIGTERM to all and exit status 0. Bad flags exit 2.
 */
#include "../common/test_dir.h"
#include <gtest/gtest.h>

#include <senate/senate.h>

#include "rpc.h"

#include <pb_decode.h>
#include <pb_encode.h>

#include "senate.pb.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
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

int FreePort()
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return 0;
	sockaddr_in a{};
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof a;
	int port = 0;
	if (bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0 &&
	    getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

bool EncStr(pb_ostream_t *st, const pb_field_t *f, void *const *arg)
{
	const std::string *s = static_cast<const std::string *>(*arg);
	return pb_encode_tag_for_field(st, f) &&
	       pb_encode_string(st, reinterpret_cast<const pb_byte_t *>(
					    s->data()),
				s->size());
}

bool DecStr(pb_istream_t *st, const pb_field_t *, void **arg)
{
	std::string *s = static_cast<std::string *>(*arg);
	s->resize(st->bytes_left);
	return pb_read(st, reinterpret_cast<pb_byte_t *>(&(*s)[0]),
		       s->size());
}

template <typename T> std::string Enc(const pb_msgdesc_t *fields, const T *m)
{
	size_t size = 0;
	EXPECT_TRUE(pb_get_encoded_size(&size, fields, m));
	std::string out(size, '\0');
	pb_ostream_t st = pb_ostream_from_buffer(
		reinterpret_cast<pb_byte_t *>(&out[0]), out.size());
	EXPECT_TRUE(pb_encode(&st, fields, m));
	return out;
}

struct Reply {
	int code = -1;
	std::string details, message, leader;
};

Reply Call(const std::string &target, const char *method,
	   const std::string &req, unsigned timeout_ms = 3000)
{
	const void *p = req.data();
	size_t l = req.size();
	sn__rpc_reply rep;
	Reply r;
	if (sn__rpc_call(&rep, target.c_str(), method, &p, &l, 1,
			 timeout_ms) != SN_OK)
		return r;
	r.code = rep.code;
	r.details = rep.details;
	r.leader = rep.leader;
	if (rep.message.size)
		r.message.assign(static_cast<char *>(rep.message.ptr),
				 rep.message.size);
	sn_buf_dispose(&rep.message);
	return r;
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
	pb_istream_t st = pb_istream_from_buffer(
		reinterpret_cast<const pb_byte_t *>(r.message.data()),
		r.message.size());
	bool ok = pb_decode(&st, senate_v1_GetResponse_fields, resp);
	bool found = ok && resp->found;
	delete resp;
	return found;
}

class Senated : public ::testing::Test {
protected:
	std::string root;
	std::vector<std::string> names{ "n1", "n2", "n3" };
	std::map<std::string, std::string> peer, client;
	std::map<std::string, pid_t> pid;
	std::string cluster;

	void SetUp() override
	{
		root = senate_test::MakeTestDir("senated");
		ASSERT_FALSE(root.empty()) << "cannot create a test directory";
		for (const std::string &n : names) {
			peer[n] = "127.0.0.1:" + std::to_string(FreePort());
			client[n] = "127.0.0.1:" + std::to_string(FreePort());
			if (!cluster.empty())
				cluster += ",";
			cluster += n + "=" + peer[n] + ";" + client[n];
		}
	}
	void TearDown() override
	{
		for (auto &p : pid)
			if (p.second > 0) {
				kill(p.second, SIGKILL);
				waitpid(p.second, nullptr, 0);
			}
		fs::remove_all(root);
	}
	pid_t Spawn(const std::vector<std::string> &args,
		    const std::string &log)
	{
		pid_t p = fork();
		if (p == 0) {
			int fd = open(log.c_str(),
				      O_WRONLY | O_CREAT | O_APPEND, 0644);
			if (fd >= 0) {
				dup2(fd, 2);
				dup2(fd, 1);
			}
			std::vector<char *> av;
			av.push_back(const_cast<char *>(SENATED_PATH));
			for (const std::string &a : args)
				av.push_back(const_cast<char *>(a.c_str()));
			av.push_back(nullptr);
			execv(SENATED_PATH, av.data());
			_exit(127);
		}
		return p;
	}
	void Start(const std::string &n)
	{
		pid[n] = Spawn({ "--name", n, "--data-dir",
				 root + "/" + n + "/data",
				 "--listen-peer", peer[n], "--listen-client",
				 client[n], "--initial-cluster", cluster,
				 "--tick-ms", "20" },
			       root + "/" + n + ".log");
		ASSERT_GT(pid[n], 0);
	}
	int Wait(const std::string &n)
	{
		int st = 0;
		EXPECT_EQ(waitpid(pid[n], &st, 0), pid[n]);
		pid[n] = 0;
		return st;
	}
	/* Put through whichever member takes it (following senate-leader);
	 * the name of the member that took it. */
	std::string PutAnywhere(const std::string &k, const std::string &v)
	{
		auto end = std::chrono::steady_clock::now() + 20s;
		while (std::chrono::steady_clock::now() < end) {
			for (const std::string &n : names) {
				if (!pid[n])
					continue;
				Reply r = Put(client[n], k, v);
				if (r.code == 0)
					return n;
			}
			std::this_thread::sleep_for(50ms);
		}
		return "";
	}
	std::string Log(const std::string &n)
	{
		std::string s;
		FILE *f = fopen((root + "/" + n + ".log").c_str(), "r");
		if (!f)
			return s;
		char buf[4096];
		size_t k;
		while ((k = fread(buf, 1, sizeof buf, f)) > 0)
			s.append(buf, k);
		fclose(f);
		return s;
	}
};

TEST_F(Senated, ThreeProcessesSurviveTheLeaderKilledAndShutDownCleanly)
{
	for (const std::string &n : names)
		ASSERT_NO_FATAL_FAILURE(Start(n));
	std::string leader = PutAnywhere("a", "1");
	ASSERT_NE(leader, "") << "no member took a put";
	for (int i = 0; i < 20; i++)
		ASSERT_EQ(Put(client[leader], "k" + std::to_string(i),
			      std::to_string(i))
				  .code,
			  0);
	std::string v;
	int code = -1;
	ASSERT_TRUE(Get(client[leader], "k7", &v, false, &code)) << code;
	EXPECT_EQ(v, "7");
	/* A follower names the leader. */
	for (const std::string &n : names) {
		if (n == leader)
			continue;
		Reply r = Put(client[n], "x", "y");
		EXPECT_EQ(r.code, 14) << r.details;
		EXPECT_EQ(r.leader, client[leader]) << r.details;
	}

	kill(pid[leader], SIGKILL);
	int st = Wait(leader);
	EXPECT_TRUE(WIFSIGNALED(st));
	std::string next = PutAnywhere("b", "2");
	ASSERT_NE(next, "") << "no new leader served";
	EXPECT_NE(next, leader);
	ASSERT_TRUE(Get(client[next], "k19", &v, false, &code)) << code;
	EXPECT_EQ(v, "19") << "the new leader has the acknowledged writes";

	ASSERT_NO_FATAL_FAILURE(Start(leader));
	/* The restarted member catches up: its own store has b. */
	bool caught = false;
	auto end = std::chrono::steady_clock::now() + 20s;
	while (!caught && std::chrono::steady_clock::now() < end) {
		v.clear();
		caught = Get(client[leader], "b", &v, true, &code) && v == "2";
		if (!caught)
			std::this_thread::sleep_for(50ms);
	}
	EXPECT_TRUE(caught) << Log(leader);

	for (const std::string &n : names)
		kill(pid[n], SIGTERM);
	for (const std::string &n : names) {
		st = Wait(n);
		EXPECT_TRUE(WIFEXITED(st)) << n;
		EXPECT_EQ(WEXITSTATUS(st), 0) << n << "\n" << Log(n);
	}
	std::string log = Log(leader);
	EXPECT_NE(log.find("listening"), std::string::npos) << log;
	EXPECT_NE(log.find("recovered WAL"), std::string::npos) << log;
	EXPECT_NE(log.find("stopped"), std::string::npos) << log;
}

TEST_F(Senated, BadFlagsPrintUsageAndExit2)
{
	const std::vector<std::vector<std::string>> bad = {
		{ "--bogus" },
		{ "--name", "n1" },
		{ "--name", "n9", "--data-dir", root + "/x", "--listen-peer",
		  peer["n1"], "--listen-client", client["n1"],
		  "--initial-cluster", cluster },
		{ "--name", "n1", "--data-dir", root + "/x", "--listen-peer",
		  peer["n1"], "--listen-client", client["n1"],
		  "--initial-cluster", cluster, "--engine", "zab" },
	};
	for (size_t i = 0; i < bad.size(); i++) {
		std::string log = root + "/bad" + std::to_string(i);
		pid_t p = Spawn(bad[i], log);
		int st = 0;
		ASSERT_EQ(waitpid(p, &st, 0), p);
		EXPECT_TRUE(WIFEXITED(st));
		EXPECT_EQ(WEXITSTATUS(st), 2) << "case " << i;
		FILE *f = fopen(log.c_str(), "r");
		ASSERT_NE(f, nullptr);
		char buf[256] = { 0 };
		size_t k = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		EXPECT_NE(std::string(buf, k).find("usage"), std::string::npos)
			<< "case " << i;
	}
	pid_t p = Spawn({ "--help" }, root + "/help");
	int st = 0;
	ASSERT_EQ(waitpid(p, &st, 0), p);
	EXPECT_EQ(WEXITSTATUS(st), 0);
}

} // namespace
