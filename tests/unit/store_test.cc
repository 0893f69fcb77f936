/*
 * store_test.cc - core/store: the replicated key-value store on LMDB.
 * Revisions and versions, ranges, delete-range, txn compares, limits,
 * client dedup, replay, restart, snapshot/restore, determinism across
 * replicas fed the same entries in different batches, malformed commands,
 * reads concurrent with the writer.
 */
#include "../common/test_dir.h"
#include <gtest/gtest.h>

#include <senate/senate.h>
extern "C" {
#include "base/base.h"
#include "store/store.h"
}

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;

namespace {

struct KV {
	std::string key, value;
	bool has_value = false;
	uint64_t create = 0, mod = 0, version = 0, lease = 0;
	bool operator==(const KV &o) const
	{
		return key == o.key && value == o.value &&
		       has_value == o.has_value && create == o.create &&
		       mod == o.mod && version == o.version && lease == o.lease;
	}
};

KV ToKV(const sn__store_kv &kv)
{
	KV k;
	k.key.assign((const char *)kv.key, kv.klen);
	k.has_value = kv.value != nullptr;
	if (kv.value)
		k.value.assign((const char *)kv.value, kv.vlen);
	k.create = kv.create_revision;
	k.mod = kv.mod_revision;
	k.version = kv.version;
	k.lease = kv.lease;
	return k;
}

struct Resp {
	int type = 0;
	uint64_t count = 0;
	bool more = false;
	std::vector<KV> kvs;
};

/* A C++ copy of an sn__store_result. */
struct Res {
	int status = 0;
	std::string message;
	uint64_t revision = 0;
	bool succeeded = false, duplicate = false, skipped = false;
	std::vector<Resp> resps;
	std::string raw;
};

Res ToRes(const sn__store_result &r)
{
	Res o;
	o.status = r.status;
	o.message = r.message;
	o.revision = r.revision;
	o.succeeded = r.succeeded;
	o.duplicate = r.duplicate;
	o.skipped = r.skipped;
	o.raw.assign((const char *)r.raw.ptr, r.raw.size);
	for (size_t i = 0; i < r.n_resps; i++) {
		Resp p;
		p.type = r.resps[i].type;
		p.count = r.resps[i].count;
		p.more = r.resps[i].more;
		for (size_t j = 0; j < r.resps[i].n_kvs; j++)
			p.kvs.push_back(ToKV(r.resps[i].kvs[j]));
		o.resps.push_back(p);
	}
	return o;
}

struct Read {
	int rv = 0;
	uint64_t revision = 0, count = 0;
	bool more = false;
	std::vector<KV> kvs;
};

std::string Bytes(const sn_buf &b)
{
	return std::string((const char *)b.ptr, b.size);
}

std::string Put(const std::string &k, const std::string &v,
		uint64_t lease = 0, bool prev = false, uint64_t client = 0,
		uint64_t seq = 0)
{
	sn_buf b = SN_BUF_INIT;
	EXPECT_EQ(sn__store_cmd_put(&b, client, seq, k.data(), k.size(),
				    v.data(), v.size(), lease, prev),
		  SN_OK);
	std::string s = Bytes(b);
	sn_buf_dispose(&b);
	return s;
}

std::string Del(const std::string &k, const std::string &end = "",
		bool prev = false, uint64_t client = 0, uint64_t seq = 0)
{
	sn_buf b = SN_BUF_INIT;
	EXPECT_EQ(sn__store_cmd_delete_range(&b, client, seq, k.data(),
					     k.size(), end.data(), end.size(),
					     prev),
		  SN_OK);
	std::string s = Bytes(b);
	sn_buf_dispose(&b);
	return s;
}

/*
 * Ops and compares point to their bytes: keep a copy alive for the whole
 * test program (callers pass temporaries).
 */
const std::string &Keep(const std::string &s)
{
	static std::deque<std::string> kept;
	kept.push_back(s);
	return kept.back();
}

sn__store_op OpPut(const std::string &k_, const std::string &v_)
{
	const std::string &k = Keep(k_), &v = Keep(v_);
	sn__store_op op{};
	op.type = SN__STORE_OP_PUT;
	op.key = k.data();
	op.klen = k.size();
	op.value = v.data();
	op.vlen = v.size();
	return op;
}

sn__store_op OpDel(const std::string &k_, const std::string &end_ = "")
{
	const std::string &k = Keep(k_), &end = Keep(end_);
	sn__store_op op{};
	op.type = SN__STORE_OP_DELETE;
	op.key = k.data();
	op.klen = k.size();
	op.end = end.data();
	op.elen = end.size();
	return op;
}

sn__store_op OpRange(const std::string &k_, const std::string &end_ = "",
		     uint64_t limit = 0)
{
	const std::string &k = Keep(k_), &end = Keep(end_);
	sn__store_op op{};
	op.type = SN__STORE_OP_RANGE;
	op.key = k.data();
	op.klen = k.size();
	op.end = end.data();
	op.elen = end.size();
	op.limit = limit;
	return op;
}

sn__store_cmp CmpNum(const std::string &k_, uint8_t target, uint8_t result,
		     uint64_t n)
{
	const std::string &k = Keep(k_);
	sn__store_cmp c{};
	c.target = target;
	c.result = result;
	c.key = k.data();
	c.klen = k.size();
	c.number = n;
	return c;
}

sn__store_cmp CmpVal(const std::string &k_, uint8_t result,
		     const std::string &v_)
{
	const std::string &k = Keep(k_), &v = Keep(v_);
	sn__store_cmp c{};
	c.target = SN__STORE_CMP_VALUE;
	c.result = result;
	c.key = k.data();
	c.klen = k.size();
	c.value = v.data();
	c.vlen = v.size();
	return c;
}

std::string Txn(const std::vector<sn__store_cmp> &cmps,
		const std::vector<sn__store_op> &succ,
		const std::vector<sn__store_op> &fail, uint64_t client = 0,
		uint64_t seq = 0)
{
	sn_buf b = SN_BUF_INIT;
	EXPECT_EQ(sn__store_cmd_txn(&b, client, seq, cmps.data(), cmps.size(),
				    succ.data(), succ.size(), fail.data(),
				    fail.size()),
		  SN_OK)
		<< sn_errmsg();
	std::string s = Bytes(b);
	sn_buf_dispose(&b);
	return s;
}

const std::string kAll("\0", 1); /* range end: every key >= key */

std::string TmpDir(const char *name)
{
	std::string d = senate_test::MakeTestDir(name);
	EXPECT_FALSE(d.empty()) << "cannot create a test directory";
	return d;
}

/* One store in a fresh directory; entries are numbered by the fixture. */
class StoreT {
public:
	explicit StoreT(const std::string &dir, sn__store_options o = {})
		: dir_(dir), opts_(o)
	{
		Open();
	}
	~StoreT() { sn__store_close(st); }

	void Open()
	{
		opts_.dir = dir_.c_str();
		/* With a boot id file the test watches the real durability
		 * mode (store.state); else nothing is synced. */
		opts_.no_sync = !opts_.boot_id_path;
		ASSERT_EQ(sn__store_open(&st, &opts_), SN_OK) << sn_errmsg();
		next = sn__store_applied(st, nullptr) + 1;
	}
	void Reopen()
	{
		sn__store_close(st);
		st = nullptr;
		Open();
	}

	std::vector<Res> Batch(const std::vector<sn_entry> &es)
	{
		std::vector<sn__store_result> rs(es.size());
		int rv = sn__store_apply(st, es.data(), es.size(), rs.data());
		EXPECT_EQ(rv, SN_OK) << sn_errmsg();
		std::vector<Res> out;
		for (auto &r : rs) {
			if (rv == SN_OK)
				out.push_back(ToRes(r));
			sn__store_result_dispose(&r);
		}
		return out;
	}
	std::vector<Res> Cmds(const std::vector<std::string> &cmds)
	{
		std::vector<sn_entry> es;
		for (auto &c : cmds)
			es.push_back(sn_entry{ next++, 3, SN_ENTRY_NORMAL,
					       c.data(), c.size() });
		return Batch(es);
	}
	Res Cmd(const std::string &c) { return Cmds({ c })[0]; }
	void Noop()
	{
		sn_entry e{ next++, 3, SN_ENTRY_NOOP, nullptr, 0 };
		Batch({ e });
	}

	Read Range(const std::string &k, const std::string &end = "",
		   uint64_t limit = 0, unsigned flags = 0)
	{
		sn__store_read r;
		Read o;
		o.rv = sn__store_range(&r, st, k.data(), k.size(), end.data(),
				       end.size(), limit, 0, flags);
		o.revision = r.revision;
		o.count = r.count;
		o.more = r.more;
		for (size_t i = 0; i < r.n_kvs; i++)
			o.kvs.push_back(ToKV(r.kvs[i]));
		sn__store_read_dispose(&r);
		return o;
	}
	std::vector<KV> All() { return Range(kAll, kAll).kvs; }
	/* The key, or a KV with version 0 when absent. */
	KV Get(const std::string &k)
	{
		sn__store_read r;
		KV kv;
		int rv = sn__store_get(&r, st, k.data(), k.size());
		EXPECT_TRUE(rv == SN_OK || rv == SN_ENOTFOUND) << rv;
		if (rv == SN_OK)
			kv = ToKV(r.kvs[0]);
		sn__store_read_dispose(&r);
		return kv;
	}
	uint64_t Rev() { return sn__store_revision(st); }
	uint64_t Applied(uint64_t *term = nullptr)
	{
		return sn__store_applied(st, term);
	}

	sn__store *st = nullptr;
	uint64_t next = 1;

private:
	std::string dir_;
	sn__store_options opts_;
};

class Store : public ::testing::Test {
protected:
	void SetUp() override { root = TmpDir("senate-store"); }
	void TearDown() override { fs::remove_all(root); }
	std::string Dir(const std::string &name) { return root + "/" + name; }

	std::string root;
};

std::vector<std::string> Keys(const std::vector<KV> &kvs)
{
	std::vector<std::string> v;
	for (auto &kv : kvs)
		v.push_back(kv.key);
	return v;
}

/* ---- revisions, versions ------------------------------------------- */

TEST_F(Store, RevisionsAndVersionsThroughPutDeleteRecreate)
{
	StoreT s(Dir("a"));
	EXPECT_EQ(s.Rev(), 0u);

	Res r = s.Cmd(Put("a", "1", 42));
	ASSERT_EQ(r.status, SN_OK) << r.message;
	EXPECT_EQ(r.revision, 1u);
	KV a = s.Get("a");
	EXPECT_EQ(a.value, "1");
	EXPECT_EQ(a.create, 1u);
	EXPECT_EQ(a.mod, 1u);
	EXPECT_EQ(a.version, 1u);
	EXPECT_EQ(a.lease, 42u);

	EXPECT_EQ(s.Cmd(Put("a", "2")).revision, 2u);
	a = s.Get("a");
	EXPECT_EQ(a.value, "2");
	EXPECT_EQ(a.create, 1u);
	EXPECT_EQ(a.mod, 2u);
	EXPECT_EQ(a.version, 2u);
	EXPECT_EQ(a.lease, 0u);

	EXPECT_EQ(s.Cmd(Put("b", "x")).revision, 3u);
	EXPECT_EQ(s.Get("a").mod, 2u) << "another key's put leaves a alone";

	r = s.Cmd(Del("a"));
	EXPECT_EQ(r.revision, 4u);
	ASSERT_EQ(r.resps.size(), 1u);
	EXPECT_EQ(r.resps[0].count, 1u);
	EXPECT_EQ(s.Get("a").version, 0u) << "deleted";

	/* Deleting nothing is not a change: no new revision. */
	r = s.Cmd(Del("a"));
	EXPECT_EQ(r.status, SN_OK);
	EXPECT_EQ(r.resps[0].count, 0u);
	EXPECT_EQ(r.revision, 4u);
	EXPECT_EQ(s.Rev(), 4u);

	EXPECT_EQ(s.Cmd(Put("a", "3")).revision, 5u);
	a = s.Get("a");
	EXPECT_EQ(a.create, 5u) << "a recreated key starts over";
	EXPECT_EQ(a.mod, 5u);
	EXPECT_EQ(a.version, 1u);
	EXPECT_EQ(s.Rev(), 5u);
	EXPECT_EQ(s.Applied(), 6u);
}

TEST_F(Store, PutReturnsThePreviousKvWhenAsked)
{
	StoreT s(Dir("a"));
	Res r = s.Cmd(Put("k", "v1", 0, true));
	ASSERT_EQ(r.resps.size(), 1u);
	EXPECT_TRUE(r.resps[0].kvs.empty()) << "no previous kv";
	r = s.Cmd(Put("k", "v2", 7, true));
	ASSERT_EQ(r.resps[0].kvs.size(), 1u);
	EXPECT_EQ(r.resps[0].kvs[0].value, "v1");
	EXPECT_EQ(r.resps[0].kvs[0].version, 1u);
	EXPECT_EQ(r.resps[0].kvs[0].mod, 1u);
	r = s.Cmd(Put("k", "v3", 0, false));
	EXPECT_TRUE(r.resps[0].kvs.empty()) << "not asked";
}

/* ---- ranges --------------------------------------------------------- */

TEST_F(Store, RangeByPrefixAndIntervalWithLimitMoreAndCount)
{
	StoreT s(Dir("a"));
	s.Cmds({ Put("b", "B"), Put("abc", "ABC"), Put("a", "A"),
		 Put("ab", "AB"), Put("c", "C"), Put("ac", "AC") });

	Read r = s.Range("ab", "ac"); /* prefix "ab" */
	EXPECT_EQ(Keys(r.kvs), (std::vector<std::string>{ "ab", "abc" }));
	EXPECT_EQ(r.count, 2u);
	EXPECT_FALSE(r.more);
	EXPECT_EQ(r.revision, 6u);

	r = s.Range("a", "b");
	EXPECT_EQ(Keys(r.kvs),
		  (std::vector<std::string>{ "a", "ab", "abc", "ac" }));
	EXPECT_EQ(r.kvs[1].value, "AB");

	r = s.Range("a", "b", 2);
	EXPECT_EQ(Keys(r.kvs), (std::vector<std::string>{ "a", "ab" }));
	EXPECT_TRUE(r.more);
	EXPECT_EQ(r.count, 4u) << "count ignores the limit";

	r = s.Range("a", "b", 4);
	EXPECT_FALSE(r.more);

	r = s.Range("ac", kAll);
	EXPECT_EQ(Keys(r.kvs), (std::vector<std::string>{ "ac", "b", "c" }));
	EXPECT_EQ(s.All().size(), 6u);

	r = s.Range("ab"); /* one key */
	EXPECT_EQ(Keys(r.kvs), (std::vector<std::string>{ "ab" }));
	r = s.Range("aa");
	EXPECT_TRUE(r.kvs.empty());
	EXPECT_EQ(r.count, 0u);

	r = s.Range("b", "a"); /* end before key: empty */
	EXPECT_TRUE(r.kvs.empty());

	r = s.Range("a", "b", 0, SN__STORE_KEYS_ONLY);
	ASSERT_EQ(r.kvs.size(), 4u);
	EXPECT_FALSE(r.kvs[0].has_value);
	EXPECT_EQ(r.kvs[0].version, 1u);

	r = s.Range("a", "b", 1, SN__STORE_COUNT_ONLY);
	EXPECT_TRUE(r.kvs.empty());
	EXPECT_EQ(r.count, 4u);

	/* Only the current revision is kept. */
	sn__store_read rd;
	EXPECT_EQ(sn__store_range(&rd, s.st, "a", 1, "b", 1, 0, 6, 0), SN_OK);
	sn__store_read_dispose(&rd);
	EXPECT_EQ(sn__store_range(&rd, s.st, "a", 1, "b", 1, 0, 3, 0),
		  SN_ENOTSUP);
	sn__store_read_dispose(&rd);
	EXPECT_EQ(sn__store_range(&rd, s.st, "", 0, "b", 1, 0, 0, 0),
		  SN_EINVAL);
	sn__store_read_dispose(&rd);
}

/* Keys longer than LMDB's key size share buckets: order must hold. */
TEST_F(Store, LongKeysKeepBytewiseOrder)
{
	StoreT s(Dir("a"));
	std::map<std::string, std::string> model;
	std::string base(470, 'p');
	uint64_t seed = 5;
	std::vector<std::string> cmds;
	for (int i = 0; i < 300; i++) {
		uint64_t x = sn__splitmix64(&seed);
		std::string k = base.substr(0, 460 + x % 15);
		size_t tail = (x >> 8) % 40;
		for (size_t j = 0; j < tail; j++)
			k.push_back("pqx\x01\xff"[(x >> (16 + j % 40)) % 5]);
		if (k.empty())
			k = "p";
		std::string v = std::to_string(i);
		if ((x >> 60) == 0 && !model.empty()) {
			auto it = model.lower_bound(k);
			if (it == model.end())
				it = model.begin();
			cmds.push_back(Del(it->first));
			model.erase(it);
		} else {
			cmds.push_back(Put(k, v));
			model[k] = v;
		}
	}
	for (auto &r : s.Cmds(cmds))
		ASSERT_EQ(r.status, SN_OK) << r.message;

	std::vector<KV> all = s.All();
	ASSERT_EQ(all.size(), model.size());
	size_t i = 0;
	for (auto &[k, v] : model) {
		EXPECT_EQ(all[i].key, k) << i;
		EXPECT_EQ(all[i].value, v) << i;
		EXPECT_EQ(s.Get(k).value, v);
		i++;
	}
	/* A bounded range through the middle of a bucket. */
	std::string lo = base.substr(0, 470) + "q", hi = base + "x";
	std::vector<std::string> want;
	for (auto it = model.lower_bound(lo); it != model.lower_bound(hi); ++it)
		want.push_back(it->first);
	EXPECT_EQ(Keys(s.Range(lo, hi).kvs), want);
	EXPECT_EQ(s.Range(lo, hi).count, want.size());
	/* Deleting a range of long keys. */
	Res r = s.Cmd(Del(lo, hi));
	EXPECT_EQ(r.resps[0].count, want.size());
	EXPECT_EQ(s.Range(lo, hi).count, 0u);
	EXPECT_EQ(s.All().size(), model.size() - want.size());
}

TEST_F(Store, DeleteRangeWithPrevKv)
{
	StoreT s(Dir("a"));
	s.Cmds({ Put("a", "1"), Put("b1", "2"), Put("b2", "3"), Put("c", "4") });
	Res r = s.Cmd(Del("b", "c", true));
	ASSERT_EQ(r.status, SN_OK);
	EXPECT_EQ(r.revision, 5u) << "one revision for the whole range";
	ASSERT_EQ(r.resps.size(), 1u);
	EXPECT_EQ(r.resps[0].type, SN__STORE_OP_DELETE);
	EXPECT_EQ(r.resps[0].count, 2u);
	ASSERT_EQ(r.resps[0].kvs.size(), 2u);
	EXPECT_EQ(r.resps[0].kvs[0].key, "b1");
	EXPECT_EQ(r.resps[0].kvs[0].value, "2");
	EXPECT_EQ(r.resps[0].kvs[1].key, "b2");
	EXPECT_EQ(r.resps[0].kvs[1].mod, 3u);
	EXPECT_EQ(Keys(s.All()), (std::vector<std::string>{ "a", "c" }));

	r = s.Cmd(Del("a", "", false));
	EXPECT_EQ(r.resps[0].count, 1u);
	EXPECT_TRUE(r.resps[0].kvs.empty()) << "prev kv not asked";

	r = s.Cmd(Del(kAll, kAll, true)); /* every key */
	EXPECT_EQ(r.resps[0].count, 1u);
	EXPECT_EQ(r.resps[0].kvs[0].key, "c");
	EXPECT_TRUE(s.All().empty());
	EXPECT_EQ(s.Rev(), 7u);
}

/* ---- transactions --------------------------------------------------- */

TEST_F(Store, TxnCompareEveryTargetAndResult)
{
	StoreT s(Dir("a"));
	s.Cmds({ Put("k", "m", 9), Put("other", "x"), Put("k", "m", 9) });
	/* k: value "m", version 2, create 1, mod 3, lease 9. */
	struct Case {
		sn__store_cmp cmp;
		bool want;
	};
	const std::string k = "k", none = "none";
	using C = Case;
	std::vector<Case> cases = {
		C{ CmpVal(k, SN__STORE_CMP_EQUAL, "m"), true },
		C{ CmpVal(k, SN__STORE_CMP_EQUAL, "n"), false },
		C{ CmpVal(k, SN__STORE_CMP_NOT_EQUAL, "n"), true },
		C{ CmpVal(k, SN__STORE_CMP_NOT_EQUAL, "m"), false },
		C{ CmpVal(k, SN__STORE_CMP_LESS, "n"), true },
		C{ CmpVal(k, SN__STORE_CMP_LESS, "m"), false },
		C{ CmpVal(k, SN__STORE_CMP_LESS, "ma"), true },
		C{ CmpVal(k, SN__STORE_CMP_GREATER, "l"), true },
		C{ CmpVal(k, SN__STORE_CMP_GREATER, "m"), false },
		C{ CmpVal(k, SN__STORE_CMP_GREATER, ""), true },
		C{ CmpNum(k, SN__STORE_CMP_VERSION, SN__STORE_CMP_EQUAL, 2),
		   true },
		C{ CmpNum(k, SN__STORE_CMP_VERSION, SN__STORE_CMP_EQUAL, 1),
		   false },
		C{ CmpNum(k, SN__STORE_CMP_VERSION, SN__STORE_CMP_GREATER, 1),
		   true },
		C{ CmpNum(k, SN__STORE_CMP_VERSION, SN__STORE_CMP_LESS, 2),
		   false },
		C{ CmpNum(k, SN__STORE_CMP_CREATE, SN__STORE_CMP_EQUAL, 1),
		   true },
		C{ CmpNum(k, SN__STORE_CMP_CREATE, SN__STORE_CMP_NOT_EQUAL, 1),
		   false },
		C{ CmpNum(k, SN__STORE_CMP_CREATE, SN__STORE_CMP_LESS, 2),
		   true },
		C{ CmpNum(k, SN__STORE_CMP_MOD, SN__STORE_CMP_EQUAL, 3), true },
		C{ CmpNum(k, SN__STORE_CMP_MOD, SN__STORE_CMP_EQUAL, 1),
		   false },
		C{ CmpNum(k, SN__STORE_CMP_MOD, SN__STORE_CMP_GREATER, 3),
		   false },
		C{ CmpNum(k, SN__STORE_CMP_MOD, SN__STORE_CMP_LESS, 4), true },
		C{ CmpNum(k, SN__STORE_CMP_LEASE, SN__STORE_CMP_EQUAL, 9),
		   true },
		C{ CmpNum(k, SN__STORE_CMP_LEASE, SN__STORE_CMP_EQUAL, 0),
		   false },
		/* A missing key: numbers are 0, a value compare fails. */
		C{ CmpNum(none, SN__STORE_CMP_VERSION, SN__STORE_CMP_EQUAL, 0),
		   true },
		C{ CmpNum(none, SN__STORE_CMP_CREATE, SN__STORE_CMP_EQUAL, 0),
		   true },
		C{ CmpNum(none, SN__STORE_CMP_MOD, SN__STORE_CMP_GREATER, 0),
		   false },
		C{ CmpVal(none, SN__STORE_CMP_EQUAL, ""), false },
		C{ CmpVal(none, SN__STORE_CMP_NOT_EQUAL, "x"), false },
	};
	for (size_t i = 0; i < cases.size(); i++) {
		Res r = s.Cmd(Txn({ cases[i].cmp }, { OpRange("k") },
				  { OpRange("other") }));
		ASSERT_EQ(r.status, SN_OK) << r.message;
		EXPECT_EQ(r.succeeded, cases[i].want) << "case " << i;
		ASSERT_EQ(r.resps.size(), 1u);
		ASSERT_EQ(r.resps[0].kvs.size(), 1u);
		EXPECT_EQ(r.resps[0].kvs[0].key, cases[i].want ? "k" : "other")
			<< "case " << i << ": the other branch ran";
		EXPECT_EQ(r.revision, 3u) << "reads only: no new revision";
	}
	/* All compares must hold. */
	Res r = s.Cmd(Txn({ cases[0].cmp, cases[1].cmp }, {}, {}));
	EXPECT_FALSE(r.succeeded);
	r = s.Cmd(Txn({ cases[0].cmp, cases[2].cmp }, {}, {}));
	EXPECT_TRUE(r.succeeded);
	r = s.Cmd(Txn({}, {}, {}));
	EXPECT_TRUE(r.succeeded) << "no compare holds vacuously";
	EXPECT_EQ(s.Rev(), 3u);
}

TEST_F(Store, TxnRunsItsBranchAtomicallyAtOneRevision)
{
	StoreT s(Dir("a"));
	s.Cmds({ Put("x", "0"), Put("gone", "g") });
	/* Compare-and-swap: put two keys, delete one, read one. */
	Res r = s.Cmd(Txn({ CmpVal("x", SN__STORE_CMP_EQUAL, "0") },
			  { OpPut("x", "1"), OpPut("y", "1"), OpDel("gone"),
			    OpRange("x") },
			  { OpPut("fail", "1") }));
	ASSERT_EQ(r.status, SN_OK) << r.message;
	EXPECT_TRUE(r.succeeded);
	EXPECT_EQ(r.revision, 3u);
	ASSERT_EQ(r.resps.size(), 4u);
	EXPECT_EQ(r.resps[0].type, SN__STORE_OP_PUT);
	EXPECT_EQ(r.resps[2].type, SN__STORE_OP_DELETE);
	EXPECT_EQ(r.resps[2].count, 1u);
	EXPECT_EQ(r.resps[3].type, SN__STORE_OP_RANGE);
	ASSERT_EQ(r.resps[3].kvs.size(), 1u);
	EXPECT_EQ(r.resps[3].kvs[0].value, "1") << "sees the txn's own put";
	EXPECT_EQ(s.Get("x").mod, 3u);
	EXPECT_EQ(s.Get("y").mod, 3u);
	EXPECT_EQ(s.Get("y").create, 3u);
	EXPECT_EQ(s.Get("x").version, 2u);
	EXPECT_EQ(s.Get("gone").version, 0u);
	EXPECT_EQ(s.Get("fail").version, 0u);

	/* The same txn again: the compare fails, the failure branch runs. */
	r = s.Cmd(Txn({ CmpVal("x", SN__STORE_CMP_EQUAL, "0") },
		      { OpPut("x", "2") }, { OpPut("fail", "1") }));
	EXPECT_FALSE(r.succeeded);
	EXPECT_EQ(r.revision, 4u);
	EXPECT_EQ(s.Get("x").value, "1");
	EXPECT_EQ(s.Get("fail").mod, 4u);

	/* A txn range with a limit. */
	r = s.Cmd(Txn({}, { OpRange("a", "z", 2) }, {}));
	EXPECT_EQ(r.resps[0].kvs.size(), 2u);
	EXPECT_TRUE(r.resps[0].more);
	EXPECT_EQ(r.resps[0].count, 3u);
}

/* ---- limits ----------------------------------------------------------- */

TEST_F(Store, LimitsAndEmptyKeysAreRefusedWithNothingChanged)
{
	StoreT s(Dir("a"));
	s.Cmd(Put("keep", "v"));
	std::string big_key(SN__STORE_DEFAULT_MAX_KEY + 1, 'k');
	std::string max_key(SN__STORE_DEFAULT_MAX_KEY, 'k');
	std::string big_val(SN__STORE_DEFAULT_MAX_VALUE + 1, 'v');
	std::string max_val(SN__STORE_DEFAULT_MAX_VALUE, 'v');
	struct Case {
		std::string cmd;
		int want;
	};
	std::vector<Case> cases = {
		{ Put(big_key, "v"), SN_ETOOLARGE },
		{ Put("k", big_val), SN_ETOOLARGE },
		{ Put("", "v"), SN_EINVAL },
		{ Del(""), SN_EINVAL },
		{ Del("a", big_key), SN_ETOOLARGE },
		/* A bad op in the branch that would not run still refuses
		 * the whole txn, and the good branch does not run. */
		{ Txn({}, { OpPut("t", "1") }, { OpPut(big_key, "1") }),
		  SN_ETOOLARGE },
		{ Txn({}, { OpPut("t", "1"), OpRange("") }, {}), SN_EINVAL },
		{ Txn({ CmpVal("", SN__STORE_CMP_EQUAL, "") },
		      { OpPut("t", "1") }, {}),
		  SN_EINVAL },
		{ Txn({ CmpVal("keep", SN__STORE_CMP_EQUAL, big_val) },
		      { OpPut("t", "1") }, {}),
		  SN_ETOOLARGE },
	};
	for (size_t i = 0; i < cases.size(); i++) {
		uint64_t applied = s.Applied();
		Res r = s.Cmd(cases[i].cmd);
		EXPECT_EQ(r.status, cases[i].want) << "case " << i;
		EXPECT_FALSE(r.message.empty()) << "case " << i;
		EXPECT_EQ(r.revision, 1u);
		EXPECT_TRUE(r.resps.empty());
		EXPECT_EQ(s.Rev(), 1u) << "case " << i;
		EXPECT_EQ(s.Applied(), applied + 1) << "the index advances";
		EXPECT_EQ(Keys(s.All()), (std::vector<std::string>{ "keep" }));
	}
	Res r = s.Cmd(Put(big_key, "v"));
	EXPECT_NE(r.message.find("exceeds the limit of 4096"),
		  std::string::npos)
		<< r.message;

	/* Exactly at the limits is fine. */
	EXPECT_EQ(s.Cmd(Put(max_key, max_val)).status, SN_OK);
	EXPECT_EQ(s.Get(max_key).value.size(), max_val.size());
	EXPECT_EQ(s.Rev(), 2u);
}

TEST_F(Store, LimitsAreConfigurable)
{
	sn__store_options o{};
	o.max_key_bytes = 8;
	o.max_value_bytes = 16;
	StoreT s(Dir("a"), o);
	EXPECT_EQ(s.Cmd(Put("12345678", std::string(16, 'v'))).status, SN_OK);
	EXPECT_EQ(s.Cmd(Put("123456789", "v")).status, SN_ETOOLARGE);
	EXPECT_EQ(s.Cmd(Put("k", std::string(17, 'v'))).status, SN_ETOOLARGE);
	EXPECT_EQ(s.Rev(), 1u);

	sn__store *st = nullptr;
	sn__store_options bad{};
	std::string d = Dir("b");
	bad.dir = d.c_str();
	bad.max_key_bytes = SN__STORE_KEY_HARD_MAX + 1;
	EXPECT_EQ(sn__store_open(&st, &bad), SN_EINVAL);
	EXPECT_EQ(st, nullptr);
	bad.dir = nullptr;
	EXPECT_EQ(sn__store_open(&st, &bad), SN_EINVAL);
}

/* ---- dedup ------------------------------------------------------------ */

TEST_F(Store, RetriedCommandReturnsTheOriginalResult)
{
	StoreT s(Dir("a"));
	std::string put1 = Put("k", "v1", 0, true, 7, 1);
	Res first = s.Cmd(put1);
	ASSERT_EQ(first.status, SN_OK);
	EXPECT_FALSE(first.duplicate);
	s.Cmd(Put("other", "x")); /* someone else writes in between */

	Res again = s.Cmd(put1);
	EXPECT_TRUE(again.duplicate);
	EXPECT_EQ(again.status, SN_OK);
	EXPECT_EQ(again.revision, 1u) << "the original revision";
	EXPECT_EQ(again.raw, first.raw);
	EXPECT_EQ(s.Rev(), 2u) << "not applied twice";
	EXPECT_EQ(s.Get("k").version, 1u);

	/* The client moves on; its old seq is now stale. */
	Res second = s.Cmd(Put("k", "v2", 0, true, 7, 2));
	EXPECT_EQ(second.revision, 3u);
	ASSERT_EQ(second.resps[0].kvs.size(), 1u);
	EXPECT_EQ(second.resps[0].kvs[0].value, "v1");
	Res stale = s.Cmd(put1);
	EXPECT_EQ(stale.status, SN_ESTATE);
	EXPECT_NE(stale.message.find("stale"), std::string::npos);
	EXPECT_EQ(s.Get("k").value, "v2");
	EXPECT_EQ(s.Rev(), 3u);
	Res dup2 = s.Cmd(Put("k", "v2", 0, true, 7, 2));
	EXPECT_TRUE(dup2.duplicate);
	EXPECT_EQ(dup2.raw, second.raw);

	/* A refused command's result is kept too. */
	Res bad = s.Cmd(Put("", "x", 0, false, 7, 3));
	EXPECT_EQ(bad.status, SN_EINVAL);
	Res bad2 = s.Cmd(Put("", "x", 0, false, 7, 3));
	EXPECT_TRUE(bad2.duplicate);
	EXPECT_EQ(bad2.status, SN_EINVAL);
	EXPECT_EQ(bad2.message, bad.message);

	/* Another client's seqs are its own; seq 0 is never new. */
	EXPECT_EQ(s.Cmd(Put("k", "v3", 0, false, 8, 1)).status, SN_OK);
	EXPECT_EQ(s.Cmd(Put("k", "v4", 0, false, 9, 0)).status, SN_ESTATE);
	/* client 0: no dedup, the same bytes apply twice. */
	std::string anon = Put("n", "1");
	s.Cmd(anon);
	s.Cmd(anon);
	EXPECT_EQ(s.Get("n").version, 2u);

	/* Txns too. */
	std::string t = Txn({ CmpNum("c", SN__STORE_CMP_VERSION,
				     SN__STORE_CMP_EQUAL, 0) },
			    { OpPut("c", "1") }, { OpPut("c", "again") }, 7,
			    4);
	Res tr = s.Cmd(t);
	EXPECT_TRUE(tr.succeeded);
	Res tr2 = s.Cmd(t);
	EXPECT_TRUE(tr2.duplicate);
	EXPECT_TRUE(tr2.succeeded) << "the stored outcome, not a re-run";
	EXPECT_EQ(s.Get("c").value, "1");
}

TEST_F(Store, IdleClientsAreForgottenDeterministically)
{
	sn__store_options o{};
	o.client_idle_entries = 3;
	StoreT s(Dir("a"), o);
	std::string p = Put("k", "v", 0, false, 5, 1);
	s.Cmd(p); /* index 1 */
	s.Noop();
	s.Noop();
	EXPECT_TRUE(s.Cmd(p).duplicate) << "index 4: 3 entries later, kept";
	s.Noop();
	s.Noop();
	s.Noop();
	s.Noop(); /* index 8: the last record (index 4) is 4 behind */
	Res r = s.Cmd(p);
	EXPECT_FALSE(r.duplicate) << "forgotten: applied again";
	EXPECT_EQ(r.status, SN_OK);
	EXPECT_EQ(s.Get("k").version, 2u);
}

/* ---- replay, restart -------------------------------------------------- */

TEST_F(Store, ReplayOfAppliedEntriesIsANoop)
{
	StoreT s(Dir("a"));
	std::vector<std::string> cmds = { Put("a", "1"), Put("a", "2"),
					  Del("a"), Put("b", "1"),
					  Put("c", "1") };
	std::vector<sn_entry> es;
	for (size_t i = 0; i < cmds.size(); i++)
		es.push_back(sn_entry{ i + 1, 1, SN_ENTRY_NORMAL,
				       cmds[i].data(), cmds[i].size() });
	s.Batch({ es[0], es[1], es[2] });
	EXPECT_EQ(s.Rev(), 3u);

	std::vector<Res> rs = s.Batch(es); /* 1..3 again, then 4, 5 */
	ASSERT_EQ(rs.size(), 5u);
	for (int i = 0; i < 3; i++)
		EXPECT_TRUE(rs[i].skipped) << i;
	EXPECT_FALSE(rs[3].skipped);
	EXPECT_EQ(rs[3].revision, 4u);
	EXPECT_EQ(s.Rev(), 5u);
	EXPECT_EQ(s.Get("a").version, 0u);
	EXPECT_EQ(s.Applied(), 5u);

	std::vector<KV> before = s.All();
	rs = s.Batch(es);
	for (auto &r : rs)
		EXPECT_TRUE(r.skipped);
	EXPECT_EQ(s.Rev(), 5u);
	EXPECT_EQ(s.All(), before);

	/* A gap is a caller bug: refused, nothing applied. */
	std::string c = Put("z", "1");
	sn_entry gap{ 7, 1, SN_ENTRY_NORMAL, c.data(), c.size() };
	sn__store_result res;
	EXPECT_EQ(sn__store_apply(s.st, &gap, 1, &res), SN_EINVAL);
	EXPECT_EQ(s.Applied(), 5u);
	EXPECT_EQ(s.Get("z").version, 0u);
}

TEST_F(Store, NoopEntriesAdvanceTheAppliedIndexOnly)
{
	StoreT s(Dir("a"));
	s.Noop();
	s.Noop();
	uint64_t term = 0;
	EXPECT_EQ(s.Applied(&term), 2u);
	EXPECT_EQ(term, 3u);
	EXPECT_EQ(s.Rev(), 0u);
	/* Results are optional. */
	std::string c = Put("a", "1");
	sn_entry e{ 3, 4, SN_ENTRY_NORMAL, c.data(), c.size() };
	EXPECT_EQ(sn__store_apply(s.st, &e, 1, nullptr), SN_OK);
	EXPECT_EQ(s.Applied(&term), 3u);
	EXPECT_EQ(term, 4u);
	EXPECT_EQ(s.Rev(), 1u);
}

TEST_F(Store, RestartKeepsDataRevisionAppliedAndDedup)
{
	StoreT s(Dir("a"));
	std::string p = Put("k", "v", 3, false, 11, 1);
	Res first = s.Cmd(p);
	s.Cmds({ Put("a", "1"), Put("b", std::string(5000, 'b')),
		 Put(std::string(600, 'L') + "1", "long") });
	s.Cmd(Del("a"));
	std::vector<KV> before = s.All();
	uint64_t rev = s.Rev(), term = 0, applied = s.Applied(&term);

	s.Reopen();
	uint64_t term2 = 0;
	EXPECT_EQ(s.Applied(&term2), applied);
	EXPECT_EQ(term2, term);
	EXPECT_EQ(s.Rev(), rev);
	EXPECT_EQ(s.All(), before);
	Res again = s.Cmd(p);
	EXPECT_TRUE(again.duplicate) << "the dedup table survives";
	EXPECT_EQ(again.raw, first.raw);
	EXPECT_EQ(s.Rev(), rev);
	EXPECT_EQ(s.Cmd(Put("n", "1")).revision, rev + 1);
}

/* ---- durability across a crash and a machine restart (store.h) ------ */

class StoreBoot : public Store {
protected:
	void SetUp() override
	{
		Store::SetUp();
		boot = root + "/boot_id";
		SetBoot("boot-A");
		opts.boot_id_path = boot.c_str();
	}
	void SetBoot(const char *id) { std::ofstream(boot) << id << "\n"; }
	std::string State(const std::string &dir)
	{
		std::ifstream f(dir + "/store.state");
		return std::string(std::istreambuf_iterator<char>(f), {});
	}
	/* In a child process: open the store, apply `n` puts, and exit
	 * without closing it - a crash as far as the store can tell. */
	void CrashAfterPuts(const std::string &dir, int n)
	{
		pid_t pid = fork();
		ASSERT_GE(pid, 0);
		if (pid == 0) {
			sn__store_options o = opts;
			o.dir = dir.c_str();
			sn__store *st = nullptr;
			if (sn__store_open(&st, &o) != SN_OK)
				_exit(2);
			for (int i = 0; i < n; i++) {
				std::string c = Put("c" + std::to_string(i), "v");
				sn_entry e{ (uint64_t)i + 1, 1, SN_ENTRY_NORMAL,
					    c.data(), c.size() };
				if (sn__store_apply(st, &e, 1, nullptr) != SN_OK)
					_exit(3);
			}
			_exit(0);
		}
		int status = 0;
		ASSERT_EQ(waitpid(pid, &status, 0), pid);
		ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
			<< "child status " << status;
	}

	std::string boot;
	sn__store_options opts{};
};

TEST_F(StoreBoot, ACrashedProcessLosesNoCommitOfTheSameBoot)
{
	CrashAfterPuts(Dir("a"), 20);
	EXPECT_EQ(State(Dir("a")),
		  "senate-store-state 1\nboot boot-A\nclean 0\n");
	StoreT s(Dir("a"), opts);
	EXPECT_EQ(s.Applied(), 20u) << "the same boot keeps the store";
	EXPECT_EQ(s.Rev(), 20u);
	EXPECT_EQ(s.All().size(), 20u);
}

TEST_F(StoreBoot, AnUncleanStopInAnEarlierBootDiscardsTheStore)
{
	CrashAfterPuts(Dir("a"), 20);
	SetBoot("boot-B");
	StoreT s(Dir("a"), opts);
	EXPECT_EQ(s.Applied(), 0u) << "a possibly torn store was kept";
	EXPECT_EQ(s.Rev(), 0u);
	EXPECT_TRUE(s.All().empty());
	EXPECT_EQ(State(Dir("a")),
		  "senate-store-state 1\nboot boot-B\nclean 0\n");
}

TEST_F(StoreBoot, ACleanCloseIsKeptAcrossAMachineRestart)
{
	{
		StoreT s(Dir("a"), opts);
		s.Cmds({ Put("x", "1"), Put("y", "2") });
	}
	EXPECT_EQ(State(Dir("a")),
		  "senate-store-state 1\nboot boot-A\nclean 1\n");
	SetBoot("boot-B");
	StoreT s(Dir("a"), opts);
	EXPECT_EQ(s.Applied(), 2u);
	EXPECT_EQ(s.All().size(), 2u);
}

TEST_F(StoreBoot, AStateFileThatDoesNotParseDiscardsTheStore)
{
	{
		StoreT s(Dir("a"), opts);
		s.Cmd(Put("x", "1"));
	}
	std::ofstream(Dir("a") + "/store.state") << "garbage\n";
	StoreT s(Dir("a"), opts);
	EXPECT_EQ(s.Applied(), 0u);
}

TEST_F(StoreBoot, WithoutABootIdEveryCommitIsSyncedAndNoStateIsKept)
{
	opts.boot_id_path = "/nonexistent/boot_id";
	{
		StoreT s(Dir("a"), opts);
		s.Cmd(Put("x", "1"));
	}
	EXPECT_FALSE(fs::exists(Dir("a") + "/store.state"));
	StoreT s(Dir("a"), opts);
	EXPECT_EQ(s.Applied(), 1u);
}

/* ---- snapshots -------------------------------------------------------- */

TEST_F(Store, SnapshotRestoresIntoAFreshStore)
{
	StoreT a(Dir("a"));
	std::string p = Put("k", "v", 0, false, 4, 1);
	Res first = a.Cmd(p);
	for (int i = 0; i < 200; i++)
		a.Cmd(Put("key" + std::to_string(i % 50),
			  std::string(i * 37 % 3000, 'x')));
	a.Cmd(Del("key1", "key2"));
	a.Cmd(Put(std::string(700, 'q'), "long"));

	std::string copy = Dir("b-copy.mdb");
	int fd = open(copy.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ASSERT_GE(fd, 0);
	uint64_t index = 0, term = 0;
	ASSERT_EQ(sn__store_snapshot(a.st, fd, &index, &term), SN_OK)
		<< sn_errmsg();
	close(fd);
	EXPECT_EQ(index, a.Applied());
	EXPECT_EQ(term, 3u);

	/* Changes after the snapshot are not in it. */
	std::vector<KV> at_snap = a.All();
	uint64_t rev = a.Rev();
	a.Cmd(Put("after", "1"));

	StoreT b(Dir("b"));
	b.Cmd(Put("junk", "to be replaced"));
	ASSERT_EQ(sn__store_restore(b.st, copy.c_str()), SN_OK) << sn_errmsg();
	EXPECT_FALSE(fs::exists(copy)) << "the copy is consumed";
	EXPECT_EQ(b.All(), at_snap);
	EXPECT_EQ(b.Rev(), rev);
	uint64_t bt = 0;
	EXPECT_EQ(b.Applied(&bt), index);
	EXPECT_EQ(bt, term);

	/* b continues from there, dedup table included. */
	b.next = index + 1;
	Res again = b.Cmd(p);
	EXPECT_TRUE(again.duplicate);
	EXPECT_EQ(again.raw, first.raw);
	EXPECT_EQ(b.Cmd(Put("after", "1")).revision, rev + 1);
	EXPECT_EQ(b.All(), a.All());

	/* ... and across its own restart. */
	b.Reopen();
	EXPECT_EQ(b.All(), a.All());
	EXPECT_EQ(b.Applied(), index + 2);
}

TEST_F(Store, RestoreRefusesWhatIsNotAStoreCopy)
{
	StoreT s(Dir("a"));
	s.Cmd(Put("k", "v"));
	std::string junk = Dir("junk.mdb");
	{
		std::FILE *f = std::fopen(junk.c_str(), "wb");
		ASSERT_NE(f, nullptr);
		std::string garbage(20000, 'g');
		std::fwrite(garbage.data(), 1, garbage.size(), f);
		std::fclose(f);
	}
	EXPECT_EQ(sn__store_restore(s.st, junk.c_str()), SN_ECORRUPT);
	EXPECT_EQ(sn__store_restore(s.st, Dir("missing.mdb").c_str()),
		  SN_ENOTFOUND);
	/* Nothing was replaced. */
	EXPECT_EQ(s.Get("k").value, "v");
	EXPECT_EQ(s.Cmd(Put("k", "w")).status, SN_OK);
}

/* ---- determinism -------------------------------------------------------- */

/* A random command stream over a small key space, with retries and junk. */
std::vector<std::string> RandomCommands(uint64_t seed, size_t n)
{
	std::vector<std::string> out;
	std::vector<std::string> keys = { "a", "b", "ab", "abc",
					  std::string("b\0c", 3), "zz", std::string(500, 'L'),
					  std::string(500, 'L') + "x" };
	std::map<uint64_t, uint64_t> seqs;
	auto key = [&](uint64_t x) { return keys[x % keys.size()]; };
	for (size_t i = 0; i < n; i++) {
		uint64_t x = sn__splitmix64(&seed), y = sn__splitmix64(&seed);
		uint64_t client = (x >> 8) % 4, seq = 0;
		if (client) {
			seq = ++seqs[client];
			if ((y & 7) == 0 && seq > 1)
				seq--; /* a retry of the last one */
		}
		std::string v(y % 20, (char)('a' + x % 26));
		switch (x % 7) {
		case 0:
		case 1:
			out.push_back(Put(key(y), v, x % 3, y & 1, client,
					  seq));
			break;
		case 2:
			out.push_back(Del(key(y), (y & 2) ? key(y >> 4) : "",
					  y & 1, client, seq));
			break;
		case 3:
			out.push_back(Txn({ CmpNum(key(y), SN__STORE_CMP_MOD,
						   SN__STORE_CMP_LESS,
						   x % 40) },
					  { OpPut(key(y >> 8), v),
					    OpRange("a", kAll) },
					  { OpDel(key(y >> 16)) }, client,
					  seq));
			break;
		case 4:
			out.push_back(Txn({ CmpVal(key(y), SN__STORE_CMP_EQUAL,
						   v) },
					  { OpDel("a", "b") },
					  { OpPut(key(y >> 3), v),
					    OpRange("a", "c", 2) },
					  client, seq));
			break;
		case 5: /* junk: a truncated command */
			out.push_back(Put(key(y), v).substr(0, y % 12));
			break;
		default:
			out.push_back(Put("", v, 0, false, client, seq));
			break;
		}
	}
	return out;
}

TEST_F(Store, ReplicasFedTheSameEntriesInDifferentBatchesAgree)
{
	sn__store_options o{};
	o.client_idle_entries = 50;
	StoreT a(Dir("a"), o), b(Dir("b"), o);
	std::vector<std::string> cmds = RandomCommands(99, 600);
	std::vector<sn_entry> es;
	for (size_t i = 0; i < cmds.size(); i++)
		es.push_back(sn_entry{ i + 1, 1 + i / 100,
				       (i % 29 == 0) ? (uint32_t)SN_ENTRY_NOOP
						     : (uint32_t)SN_ENTRY_NORMAL,
				       cmds[i].data(), cmds[i].size() });
	std::vector<Res> ra, rb;
	for (auto &e : es) /* a: one entry per batch */
		for (auto &r : a.Batch({ e }))
			ra.push_back(r);
	uint64_t seed = 3;
	for (size_t i = 0; i < es.size();) { /* b: random batches */
		size_t n = 1 + sn__splitmix64(&seed) % 40;
		n = std::min(n, es.size() - i);
		std::vector<sn_entry> batch(es.begin() + i, es.begin() + i + n);
		for (auto &r : b.Batch(batch))
			rb.push_back(r);
		i += n;
	}
	ASSERT_EQ(ra.size(), rb.size());
	int ok = 0, dup = 0, malformed = 0, stale = 0, refused = 0;
	for (size_t i = 0; i < ra.size(); i++) {
		EXPECT_EQ(ra[i].raw, rb[i].raw) << "entry " << i + 1;
		EXPECT_EQ(ra[i].duplicate, rb[i].duplicate);
		ok += ra[i].status == SN_OK;
		dup += ra[i].duplicate;
		malformed += ra[i].status == SN_EMALFORMED;
		stale += ra[i].status == SN_ESTATE;
		refused += ra[i].status == SN_EINVAL;
	}
	/* The stream exercised what it is meant to. */
	EXPECT_GT(ok, 200);
	EXPECT_GT(dup, 5);
	EXPECT_GT(malformed, 30);
	EXPECT_GT(refused, 30);
	EXPECT_EQ(a.All(), b.All());
	EXPECT_GT(a.All().size(), 0u);
	EXPECT_EQ(a.Rev(), b.Rev());
	EXPECT_EQ(a.Applied(), b.Applied());
	(void)stale;

	/* And a third replica restored from a's snapshot mid-way agrees
	 * at the end too. */
	StoreT c(Dir("c"), o);
	for (size_t i = 0; i < 300; i++)
		c.Batch({ es[i] });
	std::string copy = Dir("c-copy.mdb");
	int fd = open(copy.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
	uint64_t idx, term;
	ASSERT_EQ(sn__store_snapshot(c.st, fd, &idx, &term), SN_OK);
	close(fd);
	StoreT d(Dir("d"), o);
	ASSERT_EQ(sn__store_restore(d.st, copy.c_str()), SN_OK);
	std::vector<sn_entry> rest(es.begin() + idx, es.end());
	std::vector<Res> rd = d.Batch(rest);
	for (size_t i = 0; i < rd.size(); i++)
		EXPECT_EQ(rd[i].raw, ra[idx + i].raw) << "entry " << idx + i + 1;
	EXPECT_EQ(d.All(), a.All());
	EXPECT_EQ(d.Rev(), a.Rev());
}

/* ---- malformed commands -------------------------------------------------- */

TEST_F(Store, MalformedCommandsAreRefusedAndChangeNothing)
{
	StoreT s(Dir("a"));
	s.Cmd(Put("keep", "v", 0, false, 2, 1));
	std::string full = Txn({ CmpVal("k", SN__STORE_CMP_EQUAL, "v"),
				 CmpNum("k", SN__STORE_CMP_MOD,
					SN__STORE_CMP_LESS, 3) },
			       { OpPut("k", "v"), OpDel("a", "b"),
				 OpRange("a", kAll, 5) },
			       { OpPut("x", "y") }, 2, 2);
	std::vector<std::string> bad;
	for (size_t n = 0; n < full.size(); n++)
		bad.push_back(full.substr(0, n)); /* every truncation */
	bad.push_back(full + "x");                /* trailing byte */
	std::string t = full;
	t[0] ^= 1; /* magic */
	bad.push_back(t);
	t = full;
	t[1] = 9; /* command type */
	bad.push_back(t);
	t = Put("k", "v");
	t.back() = 2; /* unknown put flag */
	bad.push_back(t);
	t = Put("k", "v");
	t[18] = (char)0xff; /* key length past the end */
	bad.push_back(t);
	/* A txn claiming more compares than allowed. */
	t = Txn({}, {}, {});
	t[18] = (char)(SN__STORE_MAX_TXN_OPS + 1);
	bad.push_back(t);
	t = Txn({}, { OpPut("k", "v") }, {});
	t[26] = 7; /* op type */
	bad.push_back(t);

	uint64_t rev = s.Rev();
	std::vector<KV> before = s.All();
	for (size_t i = 0; i < bad.size(); i++) {
		sn__store_cmd cmd;
		EXPECT_EQ(sn__store_cmd_decode(&cmd, bad[i].data(),
					       bad[i].size()),
			  SN_EMALFORMED)
			<< "case " << i;
		EXPECT_EQ(cmd.type, 0) << "case " << i;
		uint64_t applied = s.Applied();
		Res r = s.Cmd(bad[i]);
		EXPECT_EQ(r.status, SN_EMALFORMED) << "case " << i;
		EXPECT_FALSE(r.message.empty());
		EXPECT_EQ(s.Applied(), applied + 1);
	}
	EXPECT_EQ(s.Rev(), rev);
	EXPECT_EQ(s.All(), before);
	/* The client table was not touched by them either: seq 2 is new. */
	Res r = s.Cmd(full);
	EXPECT_EQ(r.status, SN_OK);
	EXPECT_FALSE(r.duplicate);

	/* An entry of unknown type. */
	sn_entry e{ s.next++, 1, 77, full.data(), full.size() };
	std::vector<Res> rs = s.Batch({ e });
	EXPECT_EQ(rs[0].status, SN_EMALFORMED);
}

TEST_F(Store, DecodeRoundTripsWhatTheEncodersWrite)
{
	std::string k = "key", v = "value";
	sn__store_cmd *c = new sn__store_cmd;
	std::string p = Put(k, v, 77, true, 5, 6);
	ASSERT_EQ(sn__store_cmd_decode(c, p.data(), p.size()), SN_OK);
	EXPECT_EQ(c->type, SN__STORE_CMD_PUT);
	EXPECT_EQ(c->client_id, 5u);
	EXPECT_EQ(c->seq, 6u);
	EXPECT_EQ(std::string((const char *)c->op.key, c->op.klen), k);
	EXPECT_EQ(std::string((const char *)c->op.value, c->op.vlen), v);
	EXPECT_EQ(c->op.lease, 77u);
	EXPECT_TRUE(c->op.prev_kv);

	sn__store_op r = OpRange("a", "b", 9);
	r.keys_only = true;
	std::string t = Txn({ CmpNum("a", SN__STORE_CMP_LEASE,
				     SN__STORE_CMP_GREATER, 4) },
			    { r }, { OpDel("x", kAll), OpPut("y", "z") });
	ASSERT_EQ(sn__store_cmd_decode(c, t.data(), t.size()), SN_OK);
	EXPECT_EQ(c->type, SN__STORE_CMD_TXN);
	ASSERT_EQ(c->n_cmps, 1u);
	EXPECT_EQ(c->cmps[0].target, SN__STORE_CMP_LEASE);
	EXPECT_EQ(c->cmps[0].number, 4u);
	ASSERT_EQ(c->n_success, 1u);
	EXPECT_EQ(c->success[0].limit, 9u);
	EXPECT_TRUE(c->success[0].keys_only);
	EXPECT_FALSE(c->success[0].count_only);
	ASSERT_EQ(c->n_failure, 2u);
	EXPECT_EQ(c->failure[0].elen, 1u);
	EXPECT_EQ(c->failure[1].type, SN__STORE_OP_PUT);
	delete c;

	/* The encoders refuse what no store could take. */
	sn_buf b = SN_BUF_INIT;
	std::vector<sn__store_op> many(SN__STORE_MAX_TXN_OPS + 1,
				       OpPut("k", "v"));
	EXPECT_EQ(sn__store_cmd_txn(&b, 0, 0, nullptr, 0, many.data(),
				    many.size(), nullptr, 0),
		  SN_EINVAL);
	sn__store_op odd = OpPut("k", "v");
	odd.type = 9;
	EXPECT_EQ(sn__store_cmd_txn(&b, 0, 0, nullptr, 0, &odd, 1, nullptr, 0),
		  SN_EINVAL);
	sn_buf_dispose(&b);
}

/* ---- concurrency ---------------------------------------------------------- */

/* Readers on other threads see whole txns only, while the writer applies. */
TEST_F(Store, ReadsRunConcurrentlyWithTheWriter)
{
	StoreT s(Dir("a"));
	std::atomic<bool> stop{ false };
	std::atomic<int> reads{ 0 }, torn{ 0 };
	auto reader = [&] {
		while (!stop) {
			sn__store_read r;
			if (sn__store_range(&r, s.st, "x", 1, "z", 1, 0, 0, 0) ==
			    SN_OK) {
				if (r.n_kvs == 2 &&
				    (r.kvs[0].vlen != r.kvs[1].vlen ||
				     memcmp(r.kvs[0].value, r.kvs[1].value,
					    r.kvs[0].vlen) != 0 ||
				     r.kvs[0].mod_revision != r.revision))
					torn++;
				reads++;
			}
			sn__store_read_dispose(&r);
		}
	};
	std::thread t1(reader), t2(reader);
	for (int i = 0; i < 300; i++) {
		std::string v = std::to_string(i);
		s.Cmd(Txn({}, { OpPut("x", v), OpPut("y", v) }, {}));
	}
	while (reads < 50)
		std::this_thread::yield();
	stop = true;
	t1.join();
	t2.join();
	EXPECT_EQ(torn, 0);
	EXPECT_GT(reads, 0);
}

/* ---- the result decoder (what a node's proposer gets back) ---------- */

TEST_F(Store, ResultDecoderRoundTripsTheAppliedResultBytes)
{
	StoreT s(Dir("a"));
	ASSERT_EQ(s.Cmd(Put("k", "v1")).status, SN_OK);
	const std::vector<Res> rs = s.Cmds({ Put("k", "v2", 5, true),
					     Del("k", "", true), Put("", "x") });
	ASSERT_EQ(rs.size(), 3u);
	for (const Res &want : rs) {
		sn__store_result got;
		ASSERT_EQ(sn__store_result_decode(&got, want.raw.data(),
						  want.raw.size()),
			  SN_OK)
			<< sn_errmsg();
		Res g = ToRes(got);
		sn__store_result_dispose(&got);
		EXPECT_EQ(g.status, want.status);
		EXPECT_EQ(g.message, want.message);
		EXPECT_EQ(g.revision, want.revision);
		EXPECT_EQ(g.succeeded, want.succeeded);
		EXPECT_EQ(g.raw, want.raw);
		ASSERT_EQ(g.resps.size(), want.resps.size());
		for (size_t i = 0; i < g.resps.size(); i++) {
			EXPECT_EQ(g.resps[i].type, want.resps[i].type);
			EXPECT_EQ(g.resps[i].count, want.resps[i].count);
			EXPECT_EQ(g.resps[i].kvs, want.resps[i].kvs);
		}
	}
	/* The put returned its previous kv, the delete its deleted one. */
	ASSERT_EQ(rs[0].resps[0].kvs.size(), 1u);
	EXPECT_EQ(rs[0].resps[0].kvs[0].value, "v1");
	EXPECT_EQ(rs[1].resps[0].count, 1u);
	EXPECT_NE(rs[2].status, SN_OK) << "empty key refused";

	/* Anything else is SN_EMALFORMED, never a crash or a read past. */
	const std::string good = rs[0].raw;
	for (size_t cut = 0; cut < good.size(); cut++) {
		sn__store_result r;
		EXPECT_EQ(sn__store_result_decode(&r, good.data(), cut),
			  SN_EMALFORMED)
			<< "truncated at " << cut;
		sn__store_result_dispose(&r);
	}
	sn__store_result r;
	std::string extra = good + "x";
	EXPECT_EQ(sn__store_result_decode(&r, extra.data(), extra.size()),
		  SN_EMALFORMED);
	sn__store_result_dispose(&r);
}

} // namespace
