/*
 * kv_test.cc - the KV service over real gRPC: three members, each an
 * sn_node running the LMDB store (core/node/node_store.h) behind its gRPC
 * server, for both engines. Every request is a real client call through the
 * gRPC C core (sn__rpc_call) on 127.0.0.1.
 */
#include "../common/free_port.h"
#include "../common/test_dir.h"
#include <gtest/gtest.h>

#include <senate/senate.h>

extern "C" {
#include "node/node_store.h"
}
#include "pb_call.h"
#include "rpc.h"

#include "senate.pb.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using senate_test::Dec;
using senate_test::DecStr;
using senate_test::Enc;
using senate_test::EncStr;
using senate_test::FreePort;
using senate_test::Reply;

/* gRPC status codes (grpc/status.h stays in rpc/src). */
constexpr int kInvalidArgument = 3;
constexpr int kDeadlineExceeded = 4;
constexpr int kUnavailable = 14;

/* Every call in these tests must complete. */
Reply Call(const std::string &target, const char *method,
	   const std::string &req)
{
	return senate_test::Call(target, method, { req }, 10000, true);
}

/* ---- encoding requests and decoding answers with nanopb callbacks ---- */

struct KV {
	std::string key, value;
	int64_t create = 0, mod = 0, version = 0;
};

/* Decoding a KeyValue whose value goes to a std::string. */
struct PbKV {
	senate_v1_KeyValue kv = senate_v1_KeyValue_init_zero;
	std::string value;
	PbKV()
	{
		kv.value.funcs.decode = DecStr;
		kv.value.arg = &value;
	}
	KV Get() const
	{
		KV o;
		o.key.assign(reinterpret_cast<const char *>(kv.key.bytes),
			     kv.key.size);
		o.value = value;
		o.create = kv.create_revision;
		o.mod = kv.mod_revision;
		o.version = kv.version;
		return o;
	}
};

bool DecKvs(pb_istream_t *st, const pb_field_t *, void **arg)
{
	auto *v = static_cast<std::vector<KV> *>(*arg);
	PbKV *k = new PbKV;
	bool ok = pb_decode(st, senate_v1_KeyValue_fields, &k->kv);
	if (ok)
		v->push_back(k->Get());
	delete k;
	return ok;
}

struct PutOut {
	Reply r;
	int64_t revision = 0;
	bool has_prev = false;
	KV prev;
};

struct RangeOut {
	Reply r;
	int64_t revision = 0, count = 0;
	bool more = false;
	std::vector<KV> kvs;
};

std::string PutReq(const std::string &k, const std::string &v,
		   uint64_t client = 0, uint64_t seq = 0, bool prev = false)
{
	auto *q = new senate_v1_PutRequest(senate_v1_PutRequest_init_zero);
	EXPECT_LE(k.size(), sizeof q->key.bytes);
	memcpy(q->key.bytes, k.data(), std::min(k.size(), sizeof q->key.bytes));
	q->key.size = static_cast<pb_size_t>(
		std::min(k.size(), sizeof q->key.bytes));
	q->value.funcs.encode = EncStr;
	q->value.arg = const_cast<std::string *>(&v);
	q->prev_kv = prev;
	if (client) {
		q->has_request_id = true;
		q->request_id.client_id = client;
		q->request_id.seq = seq;
	}
	std::string s = Enc(senate_v1_PutRequest_fields, q);
	delete q;
	return s;
}

class Kv : public ::testing::TestWithParam<std::string> {
protected:
	std::string root;
	std::vector<uint64_t> voters{ 1, 2, 3 };
	std::map<uint64_t, std::string> peer_addr, client_addr;
	std::vector<sn__rpc_member> members;
	struct Member {
		sn__store *st = nullptr;
		sn__rpc_peer *peer = nullptr;
		sn_node *node = nullptr;
		sn__rpc_server *srv = nullptr;
	};
	std::map<uint64_t, Member> m;

	void SetUp() override
	{
		root = senate_test::MakeTestDir("senate-kv");
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
		for (uint64_t id : voters)
			ASSERT_NO_FATAL_FAILURE(Open(id));
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
		std::string dir = root + "/n" + std::to_string(id);
		std::string sdir = dir + "/store";
		fs::create_directories(sdir);
		sn__store_options sto{};
		sto.dir = sdir.c_str();
		sto.map_size = 64u << 20;
		sto.no_sync = true;
		ASSERT_EQ(sn__store_open(&x.st, &sto), SN_OK) << sn_errmsg();
		sn_state_machine sm;
		ASSERT_EQ(sn__node_store_sm(&sm, x.st), SN_OK);

		sn__rpc_peer_options po{};
		po.id = id;
		po.group = 1;
		po.members = members.data();
		po.n_members = members.size();
		ASSERT_EQ(sn__rpc_peer_new(&x.peer, &po), SN_OK) << sn_errmsg();
		sn_transport tr;
		sn__rpc_peer_transport(x.peer, &tr);
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
		so.store = x.st;
		so.id = id;
		so.group = 1;
		so.engine = GetParam().c_str();
		so.members = members.data();
		so.n_members = members.size();
		so.listen_peer = peer_addr[id].c_str();
		so.listen_client = client_addr[id].c_str();
		so.max_value_bytes = 1000;
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
		sn__store_close(it->second.st);
		m.erase(it);
	}
	sn_node_status Status(uint64_t id)
	{
		sn_node_status st;
		sn_node_status_get(m[id].node, &st);
		return st;
	}
	/* The leader, once every member knows it. */
	uint64_t Leader(std::chrono::milliseconds d = 10s)
	{
		auto end = std::chrono::steady_clock::now() + d;
		while (std::chrono::steady_clock::now() < end) {
			for (uint64_t id : voters) {
				if (Status(id).engine.role != SN_ROLE_LEADER)
					continue;
				bool all = true;
				for (uint64_t o : voters)
					all = all &&
					      Status(o).engine.leader == id;
				if (all)
					return id;
			}
			std::this_thread::sleep_for(5ms);
		}
		return 0;
	}

	PutOut Put(uint64_t at, const std::string &k, const std::string &v,
		   uint64_t client = 0, uint64_t seq = 0, bool prev = false)
	{
		PutOut o;
		o.r = Call(client_addr[at], "/senate.v1.KV/Put",
			   PutReq(k, v, client, seq, prev));
		if (o.r.code != 0)
			return o;
		PbKV *pk = new PbKV;
		auto *resp = new senate_v1_PutResponse(
			senate_v1_PutResponse_init_zero);
		resp->prev_kv = pk->kv;
		resp->prev_kv.value.arg = &pk->value;
		EXPECT_TRUE(Dec(o.r.message, senate_v1_PutResponse_fields,
				resp));
		o.revision = resp->header.revision;
		EXPECT_EQ(resp->header.member_id, at);
		o.has_prev = resp->has_prev_kv;
		pk->kv = resp->prev_kv;
		o.prev = pk->Get();
		delete resp;
		delete pk;
		return o;
	}
	RangeOut Range(uint64_t at, const std::string &k,
		       const std::string &end = "", int64_t limit = 0,
		       bool count_only = false, bool serializable = false,
		       bool keys_only = false)
	{
		auto *q = new senate_v1_RangeRequest(
			senate_v1_RangeRequest_init_zero);
		memcpy(q->key.bytes, k.data(), k.size());
		q->key.size = static_cast<pb_size_t>(k.size());
		memcpy(q->range_end.bytes, end.data(), end.size());
		q->range_end.size = static_cast<pb_size_t>(end.size());
		q->limit = limit;
		q->count_only = count_only;
		q->keys_only = keys_only;
		q->serializable = serializable;
		RangeOut o;
		o.r = Call(client_addr[at], "/senate.v1.KV/Range",
			   Enc(senate_v1_RangeRequest_fields, q));
		delete q;
		if (o.r.code != 0)
			return o;
		senate_v1_RangeResponse resp =
			senate_v1_RangeResponse_init_zero;
		resp.kvs.funcs.decode = DecKvs;
		resp.kvs.arg = &o.kvs;
		EXPECT_TRUE(Dec(o.r.message, senate_v1_RangeResponse_fields,
				&resp));
		o.revision = resp.header.revision;
		o.count = resp.count;
		o.more = resp.more;
		return o;
	}
	/* Get: found, the kv; the code in *code. */
	bool Get(uint64_t at, const std::string &k, KV *out,
		 int64_t *revision = nullptr, bool serializable = false,
		 int *code = nullptr)
	{
		auto *q = new senate_v1_GetRequest(
			senate_v1_GetRequest_init_zero);
		memcpy(q->key.bytes, k.data(), k.size());
		q->key.size = static_cast<pb_size_t>(k.size());
		q->serializable = serializable;
		Reply r = Call(client_addr[at], "/senate.v1.KV/Get",
			       Enc(senate_v1_GetRequest_fields, q));
		delete q;
		if (code)
			*code = r.code;
		else
			EXPECT_EQ(r.code, 0) << r.details;
		if (r.code != 0)
			return false;
		PbKV *pk = new PbKV;
		auto *resp = new senate_v1_GetResponse(
			senate_v1_GetResponse_init_zero);
		resp->kv = pk->kv;
		resp->kv.value.arg = &pk->value;
		EXPECT_TRUE(Dec(r.message, senate_v1_GetResponse_fields, resp));
		pk->kv = resp->kv;
		*out = pk->Get();
		bool found = resp->found;
		if (revision)
			*revision = resp->header.revision;
		delete resp;
		delete pk;
		return found;
	}
	Reply Delete(uint64_t at, const std::string &k,
		     const std::string &end, int64_t *deleted,
		     std::vector<KV> *prev = nullptr, int64_t *rev = nullptr)
	{
		auto *q = new senate_v1_DeleteRequest(
			senate_v1_DeleteRequest_init_zero);
		memcpy(q->key.bytes, k.data(), k.size());
		q->key.size = static_cast<pb_size_t>(k.size());
		memcpy(q->range_end.bytes, end.data(), end.size());
		q->range_end.size = static_cast<pb_size_t>(end.size());
		q->prev_kv = prev != nullptr;
		Reply r = Call(client_addr[at], "/senate.v1.KV/Delete",
			       Enc(senate_v1_DeleteRequest_fields, q));
		delete q;
		if (r.code != 0)
			return r;
		std::vector<KV> kvs;
		senate_v1_DeleteResponse resp =
			senate_v1_DeleteResponse_init_zero;
		resp.prev_kvs.funcs.decode = DecKvs;
		resp.prev_kvs.arg = &kvs;
		EXPECT_TRUE(Dec(r.message, senate_v1_DeleteResponse_fields,
				&resp));
		*deleted = resp.deleted;
		if (prev)
			*prev = kvs;
		if (rev)
			*rev = resp.header.revision;
		return r;
	}
};

TEST_P(Kv, PutGetRangeDeleteWithRevisionsAndVersions)
{
	uint64_t l = Leader();
	ASSERT_NE(l, 0u);
	PutOut p = Put(l, "a", "1");
	ASSERT_EQ(p.r.code, 0) << p.r.details;
	EXPECT_EQ(p.revision, 1);
	p = Put(l, "a", "2", 0, 0, true);
	ASSERT_EQ(p.r.code, 0) << p.r.details;
	EXPECT_EQ(p.revision, 2);
	ASSERT_TRUE(p.has_prev);
	EXPECT_EQ(p.prev.value, "1");
	EXPECT_EQ(p.prev.version, 1);
	for (const char *k : { "p/1", "p/2", "p/3", "q" })
		ASSERT_EQ(Put(l, k, std::string("v") + k).r.code, 0);

	KV kv;
	int64_t rev = 0;
	ASSERT_TRUE(Get(l, "a", &kv, &rev));
	EXPECT_EQ(kv.value, "2");
	EXPECT_EQ(kv.create, 1);
	EXPECT_EQ(kv.mod, 2);
	EXPECT_EQ(kv.version, 2);
	EXPECT_EQ(rev, 6);
	EXPECT_FALSE(Get(l, "nope", &kv));

	/* Prefix [p/, p0), with a limit, and a count. */
	RangeOut r = Range(l, "p/", "p0");
	ASSERT_EQ(r.r.code, 0) << r.r.details;
	ASSERT_EQ(r.kvs.size(), 3u);
	EXPECT_EQ(r.kvs[0].key, "p/1");
	EXPECT_EQ(r.kvs[2].value, "vp/3");
	EXPECT_EQ(r.count, 3);
	EXPECT_FALSE(r.more);
	EXPECT_EQ(r.revision, 6);
	r = Range(l, "p/", "p0", 2);
	ASSERT_EQ(r.kvs.size(), 2u);
	EXPECT_TRUE(r.more);
	EXPECT_EQ(r.count, 3);
	r = Range(l, "a", std::string(1, '\0'), 0, true);
	EXPECT_EQ(r.count, 5) << "every key >= a";
	EXPECT_TRUE(r.kvs.empty()) << "count only";
	r = Range(l, "p/", "p0", 0, false, false, true);
	ASSERT_EQ(r.kvs.size(), 3u);
	EXPECT_EQ(r.kvs[1].key, "p/2");
	EXPECT_EQ(r.kvs[1].value, "") << "keys only";
	EXPECT_EQ(r.kvs[1].version, 1);

	int64_t deleted = 0;
	std::vector<KV> prev;
	int64_t drev = 0;
	Reply d = Delete(l, "p/", "p0", &deleted, &prev, &drev);
	ASSERT_EQ(d.code, 0) << d.details;
	EXPECT_EQ(deleted, 3);
	ASSERT_EQ(prev.size(), 3u);
	EXPECT_EQ(prev[1].value, "vp/2");
	EXPECT_EQ(drev, 7);
	r = Range(l, "p/", "p0");
	EXPECT_EQ(r.count, 0);

	/* Every member has the same store: serializable reads show it. */
	for (uint64_t id : voters) {
		RangeOut s;
		auto end = std::chrono::steady_clock::now() + 5s;
		do {
			s = Range(id, "a", std::string(1, '\0'), 0, false,
				  true);
		} while (s.revision < 7 &&
			 std::chrono::steady_clock::now() < end);
		ASSERT_EQ(s.r.code, 0) << s.r.details;
		EXPECT_EQ(s.revision, 7) << "member " << id;
		ASSERT_EQ(s.kvs.size(), 2u) << "member " << id;
		EXPECT_EQ(s.kvs[0].key, "a");
		EXPECT_EQ(s.kvs[1].key, "q");
	}
}

TEST_P(Kv, WriteToAFollowerIsUnavailableNamingTheLeader)
{
	uint64_t l = Leader();
	ASSERT_NE(l, 0u);
	for (uint64_t id : voters) {
		if (id == l)
			continue;
		PutOut p = Put(id, "k", "v");
		EXPECT_EQ(p.r.code, kUnavailable) << p.r.details;
		EXPECT_EQ(p.r.leader, client_addr[l]) << p.r.details;
		EXPECT_NE(p.r.details.find(client_addr[l]), std::string::npos)
			<< p.r.details;
		int64_t deleted = 0;
		Reply d = Delete(id, "k", "", &deleted);
		EXPECT_EQ(d.code, kUnavailable);
		EXPECT_EQ(d.leader, client_addr[l]);
		/* A linearizable read too; a serializable one is served. */
		KV kv;
		int code = 0;
		Get(id, "k", &kv, nullptr, false, &code);
		EXPECT_EQ(code, kUnavailable);
		code = -1;
		EXPECT_FALSE(Get(id, "k", &kv, nullptr, true, &code));
		EXPECT_EQ(code, 0);
	}
	KV kv;
	EXPECT_FALSE(Get(l, "k", &kv)) << "nothing was written";
}

TEST_P(Kv, RetriedPutReturnsTheOriginalRevisionAndIsAppliedOnce)
{
	uint64_t l = Leader();
	ASSERT_NE(l, 0u);
	PutOut first = Put(l, "k", "v1", 77, 1);
	ASSERT_EQ(first.r.code, 0) << first.r.details;
	ASSERT_EQ(Put(l, "other", "x").r.code, 0);
	PutOut again = Put(l, "k", "v1", 77, 1);
	ASSERT_EQ(again.r.code, 0) << again.r.details;
	EXPECT_EQ(again.revision, first.revision);
	KV kv;
	int64_t rev = 0;
	ASSERT_TRUE(Get(l, "k", &kv, &rev));
	EXPECT_EQ(kv.version, 1) << "applied once";
	EXPECT_EQ(rev, first.revision + 1) << "the retry made no revision";
	PutOut next = Put(l, "k", "v2", 77, 2);
	ASSERT_EQ(next.r.code, 0);
	EXPECT_EQ(next.revision, rev + 1);
}

TEST_P(Kv, BadRequestsAreInvalidArgumentAndChangeNothing)
{
	uint64_t l = Leader();
	ASSERT_NE(l, 0u);
	ASSERT_EQ(Put(l, "k", "v").r.code, 0);
	KV kv;
	int64_t rev0 = 0;
	ASSERT_TRUE(Get(l, "k", &kv, &rev0));

	PutOut p = Put(l, "", "v");
	EXPECT_EQ(p.r.code, kInvalidArgument) << p.r.details;
	EXPECT_NE(p.r.details.find("empty"), std::string::npos)
		<< p.r.details;
	p = Put(l, "k", std::string(1001, 'x'));
	EXPECT_EQ(p.r.code, kInvalidArgument) << p.r.details;
	EXPECT_NE(p.r.details.find("1000"), std::string::npos)
		<< "names the limit: " << p.r.details;
	/* A key over the proto's bound (4096) does not even decode. */
	std::string big(5000, 'k');
	std::string raw;
	raw += '\x0a'; /* field 1, bytes */
	raw += static_cast<char>(0x80 | (big.size() & 0x7f));
	raw += static_cast<char>(big.size() >> 7);
	raw += big;
	Reply r = Call(client_addr[l], "/senate.v1.KV/Put", raw);
	EXPECT_EQ(r.code, kInvalidArgument) << r.details;
	EXPECT_NE(r.details.find("4096"), std::string::npos) << r.details;
	for (const char *m : { "/senate.v1.KV/Put", "/senate.v1.KV/Get",
			       "/senate.v1.KV/Range",
			       "/senate.v1.KV/Delete" }) {
		r = Call(client_addr[l], m, std::string("\xff\xff\xff\x01", 4));
		EXPECT_EQ(r.code, kInvalidArgument)
			<< m << ": " << r.details;
	}
	int64_t rev = 0;
	ASSERT_TRUE(Get(l, "k", &kv, &rev));
	EXPECT_EQ(rev, rev0) << "nothing changed";
	EXPECT_EQ(kv.value, "v");
	EXPECT_EQ(kv.version, 1);
}

TEST_P(Kv, ReadAfterWriteSeesItOnTheLeader)
{
	uint64_t l = Leader();
	ASSERT_NE(l, 0u);
	for (int i = 0; i < 30; i++) {
		std::string v = std::to_string(i);
		PutOut p = Put(l, "k", v);
		ASSERT_EQ(p.r.code, 0) << p.r.details;
		KV kv;
		int64_t rev = 0;
		ASSERT_TRUE(Get(l, "k", &kv, &rev));
		EXPECT_EQ(kv.value, v);
		EXPECT_GE(rev, p.revision);
	}
}

TEST_P(Kv, NoQuorumIsDeadlineExceededAndStopStillReturns)
{
	uint64_t l = Leader();
	ASSERT_NE(l, 0u);
	ASSERT_EQ(Put(l, "k", "v").r.code, 0);
	for (uint64_t id : voters)
		if (id != l)
			Close(id);
	/* The leader may step down (no quorum) or keep waiting: either way
	 * the write is not acknowledged. */
	PutOut p = Put(l, "k2", "v");
	EXPECT_TRUE(p.r.code == kDeadlineExceeded ||
		    p.r.code == kUnavailable)
		<< p.r.code << " " << p.r.details;
}

INSTANTIATE_TEST_SUITE_P(Engines, Kv, ::testing::Values("raft", "paxos"),
			 [](const ::testing::TestParamInfo<std::string> &i) {
				 return i.param;
			 });

} // namespace
