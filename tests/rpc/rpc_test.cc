/*
 * rpc_test.cc - three sn_nodes in one process, each with its own gRPC
 * server on free loopback ports and the gRPC peer transport (rpc/src):
 * election and replication over real gRPC streams, Cluster.Status and
 * Health over real client calls, a member closed and reopened, garbage on
 * the wire, and peer messages from an unknown sender. No mocks: every call
 * goes through the gRPC C core on 127.0.0.1.
 */
#include "../common/free_port.h"
#include "../common/test_dir.h"
#include <gtest/gtest.h>

#include <senate/senate.h>

#include "pb_call.h"
#include "rpc.h"

#include "health.pb.h"
#include "senate.pb.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using senate_test::Dec;
using senate_test::Enc;
using senate_test::FreePort;
using senate_test::Reply;

/* A map of key -> value, applied from "key=value" entries. */
struct Kv {
	std::mutex mu;
	std::map<std::string, std::string> data;

	static uint64_t Applied(void *) { return 0; }
	static int Apply(void *ud, const sn_entry *es, size_t n, sn_buf *res)
	{
		Kv *kv = static_cast<Kv *>(ud);
		std::lock_guard<std::mutex> g(kv->mu);
		for (size_t i = 0; i < n; i++) {
			if (es[i].type != SN_ENTRY_NORMAL)
				continue;
			std::string s(static_cast<const char *>(es[i].data),
				      es[i].len);
			size_t eq = s.find('=');
			if (eq == std::string::npos)
				continue;
			kv->data[s.substr(0, eq)] = s.substr(eq + 1);
			std::string r = "ok:" + std::to_string(es[i].index);
			if (sn_buf_append(&res[i], r.data(), r.size()) != SN_OK)
				return SN_ENOMEM;
		}
		return SN_OK;
	}
	std::map<std::string, std::string> Copy()
	{
		std::lock_guard<std::mutex> g(mu);
		return data;
	}
};

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

/* One raw call; every call in these tests must complete. */
Reply Raw(const std::string &target, const char *method,
	  const std::vector<std::string> &reqs, unsigned timeout_ms = 5000)
{
	return senate_test::Call(target, method, reqs, timeout_ms, true);
}

struct Member {
	std::unique_ptr<Kv> kv;
	sn__rpc_peer *peer = nullptr;
	sn_node *node = nullptr;
	sn__rpc_server *srv = nullptr;
};

class Rpc : public ::testing::TestWithParam<std::string> {
protected:
	std::string root;
	std::vector<uint64_t> voters{ 1, 2, 3 };
	std::map<uint64_t, std::string> peer_addr, client_addr;
	std::vector<sn__rpc_member> members;
	std::map<uint64_t, Member> m;

	void SetUp() override
	{
		root = senate_test::MakeTestDir("senate-rpc");
		ASSERT_FALSE(root.empty()) << "cannot create a test directory";
		for (uint64_t id : voters) {
			int pp = FreePort(), cp = FreePort();
			ASSERT_GT(pp, 0);
			ASSERT_GT(cp, 0);
			peer_addr[id] = "127.0.0.1:" + std::to_string(pp);
			client_addr[id] = "127.0.0.1:" + std::to_string(cp);
		}
		for (uint64_t id : voters)
			members.push_back({ id, peer_addr[id].c_str(),
					    client_addr[id].c_str() });
	}
	void TearDown() override
	{
		for (uint64_t id : voters)
			Close(id);
		fs::remove_all(root);
	}

	void Open(uint64_t id)
	{
		Member &x = m[id];
		x.kv = std::make_unique<Kv>();
		sn__rpc_peer_options po{};
		po.id = id;
		po.group = 1;
		po.members = members.data();
		po.n_members = members.size();
		ASSERT_EQ(sn__rpc_peer_new(&x.peer, &po), SN_OK) << sn_errmsg();
		sn_transport tr;
		sn__rpc_peer_transport(x.peer, &tr);

		sn_state_machine sm{ x.kv.get(), Kv::Applied, Kv::Apply,
				     nullptr, nullptr, nullptr, nullptr };
		std::string dir = root + "/n" + std::to_string(id);
		sn_node_options o;
		ASSERT_EQ(sn_node_options_init(&o, SN_NODE_OPTIONS_VERSION),
			  SN_OK);
		o.id = id;
		o.group = 1;
		o.voters = voters.data();
		o.n_voters = voters.size();
		o.engine = GetParam().c_str();
		o.data_dir = dir.c_str();
		o.tick_ms = 10;
		o.election_ticks = 10;
		o.transport = &tr;
		o.sm = &sm;
		o.no_sync = 1;
		ASSERT_EQ(sn_node_open(&x.node, &o), SN_OK) << sn_errmsg();

		sn__rpc_server_options so{};
		so.node = x.node;
		so.id = id;
		so.group = 1;
		so.engine = GetParam().c_str();
		so.members = members.data();
		so.n_members = members.size();
		so.listen_peer = peer_addr[id].c_str();
		so.listen_client = client_addr[id].c_str();
		ASSERT_EQ(sn__rpc_server_start(&x.srv, &so), SN_OK)
			<< sn_errmsg();
	}
	void Close(uint64_t id)
	{
		auto it = m.find(id);
		if (it == m.end())
			return;
		sn__rpc_server_stop(it->second.srv);
		sn_node_close(it->second.node);
		sn__rpc_peer_free(it->second.peer);
		m.erase(it);
	}
	bool Up(uint64_t id) { return m.count(id) && m[id].node; }
	sn_node_status Status(uint64_t id)
	{
		sn_node_status st;
		sn_node_status_get(m[id].node, &st);
		return st;
	}
	uint64_t Leader(std::chrono::milliseconds d = 10s)
	{
		auto end = std::chrono::steady_clock::now() + d;
		while (std::chrono::steady_clock::now() < end) {
			for (uint64_t id : voters)
				if (Up(id) &&
				    Status(id).engine.role == SN_ROLE_LEADER)
					return id;
			std::this_thread::sleep_for(5ms);
		}
		return 0;
	}
	std::string Put(const std::string &k, const std::string &v,
			uint64_t *index = nullptr)
	{
		for (int attempt = 0; attempt < 50; attempt++) {
			uint64_t l = Leader();
			if (!l)
				break;
			Result r;
			std::string e = k + "=" + v;
			if (sn_node_propose(m[l].node, e.data(), e.size(),
					    Result::Cb, &r) != SN_OK) {
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
	void Converge(uint64_t index, std::chrono::milliseconds d = 10s)
	{
		auto end = std::chrono::steady_clock::now() + d;
		for (uint64_t id : voters) {
			if (!Up(id))
				continue;
			while (Status(id).applied < index &&
			       std::chrono::steady_clock::now() < end)
				std::this_thread::sleep_for(5ms);
			EXPECT_GE(Status(id).applied, index) << "member " << id;
		}
	}
	bool ClusterStatus(uint64_t id, senate_v1_StatusResponse *out)
	{
		Reply c = Raw(client_addr[id], "/senate.v1.Cluster/Status",
			      { "" });
		EXPECT_EQ(c.code, 0) << c.details;
		*out = senate_v1_StatusResponse_init_zero;
		return c.code == 0 &&
		       Dec(c.message, senate_v1_StatusResponse_fields, out);
	}
	void OpenAll()
	{
		for (uint64_t id : voters)
			ASSERT_NO_FATAL_FAILURE(Open(id));
	}
};

TEST_P(Rpc, ThreeMembersElectAndReplicateOverGrpc)
{
	OpenAll();
	ASSERT_NE(Leader(), 0u) << "no leader elected over gRPC";
	uint64_t last = 0;
	for (int i = 0; i < 200; i++) {
		uint64_t idx = 0;
		std::string r = Put("k" + std::to_string(i), std::to_string(i),
				    &idx);
		ASSERT_EQ(r, "ok:" + std::to_string(idx));
		EXPECT_GT(idx, last);
		last = idx;
	}
	Converge(last);
	auto want = m[1].kv->Copy();
	EXPECT_EQ(want.size(), 200u);
	for (uint64_t id : voters)
		EXPECT_EQ(m[id].kv->Copy(), want) << "member " << id;
	/* The messages went through the gRPC streams, batched. */
	for (uint64_t id : voters) {
		sn__rpc_peer_stats ps;
		sn__rpc_peer_stats_get(m[id].peer, &ps);
		EXPECT_GT(ps.sent, 0u);
		EXPECT_GT(ps.batches, 0u);
		EXPECT_LE(ps.batches, ps.sent);
		sn__rpc_server_stats ss;
		sn__rpc_server_stats_get(m[id].srv, &ss);
		EXPECT_GT(ss.peer_received, 0u) << "member " << id;
		EXPECT_EQ(ss.peer_refused, 0u) << "member " << id;
	}
}

TEST_P(Rpc, ClusterStatusShowsTheSameLeaderOnEveryMember)
{
	OpenAll();
	uint64_t idx = 0;
	Put("a", "1", &idx);
	Converge(idx);
	uint64_t l = Leader();
	ASSERT_NE(l, 0u);
	/* Followers learn the leader with its first message; allow for it. */
	for (uint64_t id : voters) {
		senate_v1_StatusResponse r;
		auto end = std::chrono::steady_clock::now() + 5s;
		do {
			ASSERT_TRUE(ClusterStatus(id, &r));
		} while (r.leader_id != l &&
			 std::chrono::steady_clock::now() < end);
		EXPECT_EQ(r.member_id, id);
		EXPECT_EQ(r.leader_id, l) << "member " << id;
		EXPECT_EQ(r.group, 1u);
		EXPECT_STREQ(r.engine, GetParam().c_str());
		EXPECT_STREQ(r.error, "");
		ASSERT_EQ(r.members_count, 3u);
		int selfs = 0;
		for (pb_size_t i = 0; i < r.members_count; i++) {
			const senate_v1_MemberStatus &ms = r.members[i];
			EXPECT_EQ(ms.peer_address, peer_addr[ms.id]);
			EXPECT_EQ(ms.client_address, client_addr[ms.id]);
			if (ms.id == l) {
				EXPECT_EQ(ms.role, senate_v1_Role_ROLE_LEADER);
			}
			if (ms.self) {
				selfs++;
				EXPECT_EQ(ms.id, id);
				EXPECT_GE(ms.applied, idx);
				EXPECT_GE(ms.commit, idx);
				EXPECT_EQ(ms.leader_id, l);
				EXPECT_GT(ms.term, 0u);
				EXPECT_EQ(ms.role, id == l
					  ? senate_v1_Role_ROLE_LEADER
					  : senate_v1_Role_ROLE_FOLLOWER);
			}
		}
		EXPECT_EQ(selfs, 1);
	}
}

TEST_P(Rpc, HealthSaysServing)
{
	OpenAll();
	for (uint64_t id : voters) {
		for (const std::string &target :
		     { client_addr[id], peer_addr[id] }) {
			for (const char *svc : { "", "senate.v1.Cluster" }) {
				grpc_health_v1_HealthCheckRequest req =
					grpc_health_v1_HealthCheckRequest_init_zero;
				snprintf(req.service, sizeof req.service, "%s",
					 svc);
				Reply c = Raw(target,
					      "/grpc.health.v1.Health/Check",
					      { Enc(grpc_health_v1_HealthCheckRequest_fields,
						    &req) });
				ASSERT_EQ(c.code, 0) << c.details;
				grpc_health_v1_HealthCheckResponse r =
					grpc_health_v1_HealthCheckResponse_init_zero;
				ASSERT_TRUE(Dec(
					c.message,
					grpc_health_v1_HealthCheckResponse_fields,
					&r));
				EXPECT_EQ(r.status,
					  grpc_health_v1_HealthCheckResponse_ServingStatus_SERVING)
					<< target << " '" << svc << "'";
			}
		}
		grpc_health_v1_HealthCheckRequest req =
			grpc_health_v1_HealthCheckRequest_init_zero;
		snprintf(req.service, sizeof req.service, "no.such.Service");
		Reply c = Raw(client_addr[id], "/grpc.health.v1.Health/Check",
			      { Enc(grpc_health_v1_HealthCheckRequest_fields,
				    &req) });
		EXPECT_EQ(c.code, 5 /* NOT_FOUND */) << c.details;
	}
	/* A closed member answers nothing: the call fails UNAVAILABLE. */
	Close(3);
	Reply c = Raw(client_addr[3], "/grpc.health.v1.Health/Check", { "" },
		      2000);
	EXPECT_EQ(c.code, 14 /* UNAVAILABLE */) << c.details;
}

TEST_P(Rpc, ClosedMemberOthersContinueAndItCatchesUpWhenReopened)
{
	OpenAll();
	uint64_t idx = 0;
	for (int i = 0; i < 20; i++)
		Put("a" + std::to_string(i), "1", &idx);
	uint64_t old = Leader();
	ASSERT_NE(old, 0u);
	Close(old);
	uint64_t l = Leader();
	ASSERT_NE(l, 0u);
	ASSERT_NE(l, old);
	for (int i = 0; i < 30; i++)
		Put("b" + std::to_string(i), "2", &idx);
	/* The survivors' streams to the closed member failed and were
	 * retried with backoff. */
	sn__rpc_peer_stats ps;
	sn__rpc_peer_stats_get(m[l].peer, &ps);
	EXPECT_GT(ps.failures, 0u);
	ASSERT_NO_FATAL_FAILURE(Open(old));
	Converge(idx);
	auto want = m[l].kv->Copy();
	EXPECT_EQ(want.size(), 50u);
	for (uint64_t id : voters)
		EXPECT_EQ(m[id].kv->Copy(), want) << "member " << id;
}

TEST_P(Rpc, GarbageGetsInvalidArgumentAndTheServerKeepsServing)
{
	OpenAll();
	uint64_t idx = 0;
	Put("before", "1", &idx);
	const std::vector<std::string> garbage = {
		std::string("\x0a\x05" "ab", 4),   /* length past the end */
		std::string("\x0f\x00\x01", 3),    /* wire type 7 */
		std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
			    11),                    /* varint overflow */
	};
	for (const std::string &g : garbage) {
		Reply c = Raw(client_addr[1], "/senate.v1.Cluster/Status", { g });
		EXPECT_EQ(c.code, 3 /* INVALID_ARGUMENT */) << c.details;
		EXPECT_NE(c.details.find("StatusRequest"), std::string::npos)
			<< c.details;
		c = Raw(peer_addr[1], "/senate.v1.Peer/Stream", { g });
		EXPECT_EQ(c.code, 3 /* INVALID_ARGUMENT */) << c.details;
		EXPECT_NE(c.details.find("PeerBatch"), std::string::npos)
			<< c.details;
	}
	/* A PeerMessage whose data field is garbage inside a valid batch. */
	std::string bad_inner("\x12\x04\x22\x09xy", 6);
	Reply c = Raw(peer_addr[1], "/senate.v1.Peer/Stream", { bad_inner });
	EXPECT_EQ(c.code, 3) << c.details;
	sn__rpc_server_stats ss;
	sn__rpc_server_stats_get(m[1].srv, &ss);
	EXPECT_EQ(ss.malformed, 2 * garbage.size() + 1);
	/* KV is not served by a member without a store (these run a map). */
	c = Raw(client_addr[1], "/senate.v1.KV/Put", { "" });
	EXPECT_EQ(c.code, 12 /* UNIMPLEMENTED */) << c.details;
	/* Still serving: a status call, and the cluster still commits. */
	senate_v1_StatusResponse r;
	ASSERT_TRUE(ClusterStatus(1, &r));
	EXPECT_EQ(r.member_id, 1u);
	Put("after", "1", &idx);
	Converge(idx);
	for (uint64_t id : voters)
		EXPECT_EQ(m[id].kv->Copy()["after"], "1") << "member " << id;
}

TEST_P(Rpc, PeerMessagesFromUnknownSendersAreRefusedAndCounted)
{
	OpenAll();
	uint64_t idx = 0;
	Put("x", "1", &idx);
	Converge(idx);
	auto enc = [](uint64_t sender, const sn_message &msg) {
		void *buf = nullptr;
		size_t len = 0;
		EXPECT_EQ(sn__rpc_peer_encode(&buf, &len, sender, &msg, 1),
			  SN_OK);
		std::string s(static_cast<char *>(buf), len);
		free(buf);
		return s;
	};
	const char junk[] = "not an engine message";
	const std::vector<std::pair<uint64_t, sn_message>> bad = {
		{ 99, { 1, 99, 1, junk, sizeof junk } }, /* unknown member */
		{ 2, { 1, 99, 1, junk, sizeof junk } },  /* from != sender */
		{ 2, { 7, 2, 1, junk, sizeof junk } },   /* another group */
		{ 2, { 1, 2, 3, junk, sizeof junk } },   /* for member 3 */
		{ 1, { 1, 1, 1, junk, sizeof junk } },   /* from itself */
	};
	sn__rpc_server_stats before, after;
	sn__rpc_server_stats_get(m[1].srv, &before);
	for (const auto &b : bad) {
		Reply c = Raw(peer_addr[1], "/senate.v1.Peer/Stream",
			      { enc(b.first, b.second) });
		ASSERT_EQ(c.code, 0) << c.details;
		senate_v1_PeerAck ack = senate_v1_PeerAck_init_zero;
		ASSERT_TRUE(c.has_message);
		ASSERT_TRUE(Dec(c.message, senate_v1_PeerAck_fields, &ack));
		EXPECT_EQ(ack.refused, 1u) << "sender " << b.first;
		EXPECT_EQ(ack.received, 0u) << "sender " << b.first;
	}
	sn__rpc_server_stats_get(m[1].srv, &after);
	EXPECT_EQ(after.peer_refused - before.peer_refused, bad.size());
	/* The same junk from a real member reaches the node, whose engine
	 * drops it as malformed: the envelope check is the transport's, the
	 * content check the engine's. */
	uint64_t dropped = Status(1).engine.dropped;
	sn_message ok{ 1, 2, 1, junk, sizeof junk };
	Reply c = Raw(peer_addr[1], "/senate.v1.Peer/Stream", { enc(2, ok) });
	ASSERT_EQ(c.code, 0) << c.details;
	senate_v1_PeerAck ack = senate_v1_PeerAck_init_zero;
	ASSERT_TRUE(Dec(c.message, senate_v1_PeerAck_fields, &ack));
	EXPECT_EQ(ack.received, 1u);
	EXPECT_EQ(ack.refused, 0u);
	auto end = std::chrono::steady_clock::now() + 5s;
	while (Status(1).engine.dropped == dropped &&
	       std::chrono::steady_clock::now() < end)
		std::this_thread::sleep_for(5ms);
	EXPECT_GT(Status(1).engine.dropped, dropped);
	/* The cluster is unharmed. */
	Put("y", "2", &idx);
	Converge(idx);
	for (uint64_t id : voters)
		EXPECT_EQ(m[id].kv->Copy()["y"], "2") << "member " << id;
}

TEST(RpcCodec, PeerBatchRoundTripsAndBoundsTheCount)
{
	std::vector<sn_message> ms;
	std::vector<std::string> data;
	for (int i = 0; i < 10; i++)
		data.push_back(std::string(i * 100, char('a' + i)));
	for (int i = 0; i < 10; i++)
		ms.push_back({ 1, 2, 3, data[i].data(), data[i].size() });
	void *buf = nullptr;
	size_t len = 0;
	ASSERT_EQ(sn__rpc_peer_encode(&buf, &len, 2, ms.data(), ms.size()),
		  SN_OK);
	std::vector<sn_message> got(16);
	uint64_t sender = 0;
	size_t n = 0;
	const char *why = nullptr;
	ASSERT_EQ(sn__rpc_peer_decode(buf, len, &sender, got.data(),
				      got.size(), &n, &why), SN_OK) << why;
	EXPECT_EQ(sender, 2u);
	ASSERT_EQ(n, 10u);
	for (int i = 0; i < 10; i++) {
		EXPECT_EQ(got[i].group, 1u);
		EXPECT_EQ(got[i].from, 2u);
		EXPECT_EQ(got[i].to, 3u);
		EXPECT_EQ(std::string(static_cast<const char *>(got[i].data),
				      got[i].len), data[i]);
	}
	/* More messages than the receiver's bound: refused, not truncated. */
	EXPECT_EQ(sn__rpc_peer_decode(buf, len, &sender, got.data(), 9, &n,
				      &why), SN_EMALFORMED);
	EXPECT_NE(std::string(why).find("too many"), std::string::npos);
	/* Every truncation of a valid batch fails cleanly. */
	for (size_t cut = 1; cut < len; cut += 7) {
		int rv = sn__rpc_peer_decode(buf, cut, &sender, got.data(),
					     got.size(), &n, &why);
		if (rv == SN_OK) { /* cut on a message boundary */
			EXPECT_LT(n, 10u);
		} else {
			EXPECT_EQ(rv, SN_EMALFORMED);
		}
	}
	free(buf);
}

/* A peer that accepts TCP connections but never speaks HTTP/2: the first
 * batch stays in flight, the queue behind it fills, and send refuses. */
TEST(RpcPeer, QueueIsBoundedAndUnknownMembersAreRefused)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ASSERT_GE(fd, 0);
	sockaddr_in a{};
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t alen = sizeof a;
	ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a), 0);
	ASSERT_EQ(listen(fd, 16), 0);
	ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr *>(&a), &alen), 0);
	std::string silent = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
	std::vector<sn__rpc_member> ms = { { 1, "127.0.0.1:1", nullptr },
					   { 2, silent.c_str(), nullptr } };
	sn__rpc_peer_options po{};
	po.id = 1;
	po.group = 1;
	po.members = ms.data();
	po.n_members = ms.size();
	po.queue_messages = 4;
	sn__rpc_peer *p = nullptr;
	ASSERT_EQ(sn__rpc_peer_new(&p, &po), SN_OK);
	sn_transport tr;
	sn__rpc_peer_transport(p, &tr);
	const char d[] = "hb";
	sn_message msg{ 1, 1, 2, d, sizeof d };
	/* The first goes into the stream's write; four wait behind it. */
	for (int i = 0; i < 5; i++)
		EXPECT_EQ(tr.send(tr.userdata, &msg), SN_OK) << i;
	EXPECT_EQ(tr.send(tr.userdata, &msg), SN_EBUSY);
	sn_message other{ 1, 1, 9, d, sizeof d };
	EXPECT_EQ(tr.send(tr.userdata, &other), SN_ENOTFOUND);
	sn_message self{ 1, 1, 1, d, sizeof d };
	EXPECT_EQ(tr.send(tr.userdata, &self), SN_ENOTFOUND);
	sn__rpc_peer_stats st;
	sn__rpc_peer_stats_get(p, &st);
	EXPECT_EQ(st.queued, 5u);
	EXPECT_EQ(st.busy, 1u);
	EXPECT_EQ(st.unknown, 2u);
	EXPECT_EQ(st.streams, 1u);
	EXPECT_EQ(st.sent, 0u);
	/* Freeing cancels the stuck stream. */
	sn__rpc_peer_free(p);
	close(fd);
}

INSTANTIATE_TEST_SUITE_P(Engines, Rpc, ::testing::Values("raft", "paxos"),
			 [](const ::testing::TestParamInfo<std::string> &i) {
				 return i.param;
			 });

} // namespace
