/*
 * engine_seam_test.cc - the contract of <senate/sys/engine.h>, checked the
 * same way on Raft and Multi-Paxos through the seam only (no wire decoding).
 *
 * The fixture is a three-voter cluster. A Member is an engine plus what its
 * caller keeps in memory: stable log and hard state, applied entries, reads,
 * its snapshot and the one it receives. Drain() handles each ready in the
 * order engine.h gives; step 4 (send after persist, persisted()) runs at
 * once unless the member's `hold` switch defers it to Release(). Every
 * ready is checked (envelope, committed in order, never beyond what this
 * member reported durable and equal to the stored entry, has_ready agreeing
 * with ready, an empty ready zeroed), so every test also checks those.
 */
#include <gtest/gtest.h>

#include <senate/senate.h>
extern "C" {
#include "base/base.h"
}

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace {

constexpr uint64_t kGroup = 5;
using Strs = std::vector<std::string>;

struct Ent {
	uint64_t index = 0, term = 0;
	uint32_t type = SN_ENTRY_NORMAL;
	std::string data;
};

Ent Copy(const sn_entry &w)
{
	return { w.index, w.term, w.type,
		 std::string(w.len ? static_cast<const char *>(w.data) : "",
			     w.len) };
}

/* Same slot, same content; the term is protocol-specific (a Paxos acceptor
 * may hold a chosen value at another ballot than its peers). */
bool SameValue(const Ent &a, const Ent &b)
{
	return a.index == b.index && a.type == b.type && a.data == b.data;
}

struct Wire {
	uint64_t group = 0, from = 0, to = 0;
	std::vector<uint8_t> data;
};

struct Member {
	uint64_t id = 0;
	sn_engine *e = nullptr;
	sn_hard_state hs{};   /* stable storage: hard state and log */
	std::vector<Ent> log; /* log[i].index == log_start + 1 + i */
	uint64_t log_start = 0;
	uint64_t durable = 0;     /* last index reported with persisted() */
	std::vector<Ent> applied; /* the state machine: `committed` so far */
	uint64_t applied_index = 0;
	std::vector<sn_read_state> reads;
	bool hold = false; /* step 4 waits for Release() */
	struct Pending {
		std::vector<Wire> msgs;
		bool report = false; /* call persisted(index, term) */
		uint64_t index = 0, term = 0;
	};
	std::deque<Pending> pending;
	sn_snapshot_meta snap{}; /* durable snapshot, for snapshot_read */
	std::string snap_data;
	std::string rcv; /* the snapshot being received */
	size_t n_chunks = 0;
	std::vector<sn_snapshot_meta> installs; /* voters not kept */

	uint64_t LastIndex() const { return log_start + log.size(); }
	const Ent *At(uint64_t i) const
	{
		return i > log_start && i <= LastIndex() ? &log[i - log_start - 1]
							 : nullptr;
	}
	Strs AppliedData() const
	{
		Strs out;
		for (const Ent &c : applied)
			if (c.type == SN_ENTRY_NORMAL)
				out.push_back(c.data);
		return out;
	}
};

int ReadSnapshot(void *userdata, const sn_snapshot_meta *meta,
		 uint64_t offset, void *buf, size_t len, size_t *n_read)
{
	Member *m = static_cast<Member *>(userdata);
	if (!m->snap.index || meta->index != m->snap.index ||
	    meta->crc != m->snap.crc || meta->size != m->snap_data.size())
		return SN_ENOTFOUND;
	if (offset > m->snap_data.size())
		return SN_EINVAL;
	*n_read = std::min<size_t>(len, m->snap_data.size() - offset);
	std::memcpy(buf, m->snap_data.data() + offset, *n_read);
	return SN_OK;
}

bool ReadyIsZero(const sn_ready &r)
{
	return !r.has_hard_state && !r.hard_state.term && !r.hard_state.vote &&
	       !r.hard_state.commit && !r.entries && !r.n_entries &&
	       !r.messages && !r.n_messages && !r.messages_after_persist &&
	       !r.n_messages_after_persist && !r.committed &&
	       !r.n_committed && !r.reads && !r.n_reads &&
	       !r.snapshot_chunks && !r.n_snapshot_chunks && !r.install;
}

std::string Pattern(size_t n, uint64_t seed)
{
	std::string s(n, '\0');
	for (char &c : s)
		c = char(sn__splitmix64(&seed) >> 56);
	return s;
}

int warn_lines = 0;
void CountWarn(void *, sn_log_level level, const char *)
{
	warn_lines += level >= SN_LOG_WARN;
}

class EngineSeam : public ::testing::TestWithParam<std::string> {
protected:
	std::vector<uint64_t> voters{ 1, 2, 3 };
	std::map<uint64_t, Member> ms;
	std::deque<Wire> net;
	std::vector<Wire> sent; /* every message ever sent */
	std::set<uint64_t> cut; /* partitioned: no messages, no ticks */
	static constexpr size_t kMaxEntry = 1000, kMaxMsg = 1024;

	void SetUp() override
	{
		for (uint64_t id : voters)
			ASSERT_NO_FATAL_FAILURE(Start(id, false));
	}
	void TearDown() override
	{
		for (auto &kv : ms)
			sn_engine_free(kv.second.e);
	}

	template <class O>
	void Fill(O &o, Member &m, const std::vector<sn_entry> &es, bool recover)
	{
		o.id = m.id, o.group = kGroup, o.seed = 11 * m.id + 3;
		o.voters = voters.data(), o.n_voters = voters.size();
		o.max_msg_bytes = kMaxMsg, o.max_entry_bytes = kMaxEntry;
		o.hard_state = recover ? &m.hs : nullptr;
		o.entries = es.empty() ? nullptr : es.data();
		o.n_entries = es.size();
		o.applied = recover ? m.applied_index : 0;
		o.snapshot_read = ReadSnapshot, o.snapshot_userdata = &m;
	}
	/* Create member `id`, new or recovered from its storage. */
	void Start(uint64_t id, bool recover)
	{
		Member &m = ms[id];
		m.id = id;
		ASSERT_EQ(m.e, nullptr);
		ASSERT_EQ(m.snap.index, 0u) << "recovery from a snapshot: unused";
		std::vector<sn_entry> es;
		for (const Ent &x : m.log)
			es.push_back({ x.index, x.term, x.type, x.data.data(),
				       x.data.size() });
		if (GetParam() == "paxos") {
			sn_paxos_options o;
			ASSERT_EQ(sn_paxos_options_init(&o, SN_PAXOS_OPTIONS_VERSION),
				  SN_OK);
			Fill(o, m, es, recover);
			ASSERT_EQ(sn_paxos_new(&m.e, &o), SN_OK) << sn_errmsg();
		} else {
			ASSERT_EQ(GetParam(), "raft");
			sn_raft_options o;
			ASSERT_EQ(sn_raft_options_init(&o, SN_RAFT_OPTIONS_VERSION),
				  SN_OK);
			Fill(o, m, es, recover);
			ASSERT_EQ(sn_raft_new(&m.e, &o), SN_OK) << sn_errmsg();
		}
		m.durable = m.LastIndex(); /* the recovered log is durable */
		Drain(m);
	}
	/* Crash: the engine is gone, storage and state machine stay. */
	void Stop(uint64_t id)
	{
		ASSERT_TRUE(ms[id].pending.empty());
		sn_engine_free(ms[id].e);
		ms[id].e = nullptr;
	}
	sn_engine_status St(uint64_t id)
	{
		sn_engine_status st{};
		sn_engine_get_status(&st, ms[id].e);
		return st;
	}
	bool Live(uint64_t id) { return ms[id].e && !cut.count(id); }

	/* ---- ready handling ---- */

	void Keep(const Member &m, const sn_message &x, std::vector<Wire> *to)
	{
		EXPECT_TRUE(x.group == kGroup && x.from == m.id && x.to != m.id &&
			    std::count(voters.begin(), voters.end(), x.to) &&
			    x.len > 0)
			<< "member " << m.id << ": bad envelope to " << x.to;
		const uint8_t *p = static_cast<const uint8_t *>(x.data);
		to->push_back({ x.group, x.from, x.to, { p, p + x.len } });
	}
	void Post(const std::vector<Wire> &ws)
	{
		net.insert(net.end(), ws.begin(), ws.end());
		sent.insert(sent.end(), ws.begin(), ws.end());
	}
	void Complete(Member &m, const Member::Pending &p)
	{
		Post(p.msgs);
		if (p.report)
			sn_engine_persisted(m.e, p.index, p.term), m.durable = p.index;
	}
	void Handle(Member &m, const sn_ready &rd)
	{
		uint64_t durable = m.durable;
		std::vector<Wire> now; /* 1 */
		for (size_t i = 0; i < rd.n_messages; i++)
			Keep(m, rd.messages[i], &now);
		Post(now);
		for (size_t i = 0; i < rd.n_snapshot_chunks; i++) { /* 2 */
			const sn_snapshot_chunk &c = rd.snapshot_chunks[i];
			if (c.offset == 0)
				m.rcv.clear();
			EXPECT_EQ(c.offset, m.rcv.size()) << "a gap in the file";
			m.rcv.resize(c.offset);
			m.rcv.append(static_cast<const char *>(c.data), c.len);
			EXPECT_LE(m.rcv.size(), c.meta->size);
			m.n_chunks++;
		}
		if (rd.install) {
			sn_snapshot_meta meta = *rd.install;
			EXPECT_EQ(meta.size, m.rcv.size());
			EXPECT_EQ(meta.crc, sn__crc32c(0, m.rcv.data(), m.rcv.size()))
				<< "install of a file that fails its CRC32C";
			EXPECT_GT(meta.index, m.applied_index);
			meta.voters = nullptr;
			m.installs.push_back(meta);
			m.log.clear();
			m.applied.clear(); /* restored from the snapshot */
			m.log_start = m.applied_index = meta.index;
		}
		if (rd.has_hard_state) { /* 3 */
			EXPECT_GE(rd.hard_state.term, m.hs.term)
				<< "member " << m.id << ": hard state term went back";
			m.hs = rd.hard_state;
		}
		if (rd.n_entries) {
			uint64_t first = rd.entries[0].index;
			ASSERT_TRUE(first > m.log_start && first <= m.LastIndex() + 1)
				<< "member " << m.id << " writes at " << first;
			m.log.resize(first - 1 - m.log_start);
			for (size_t i = 0; i < rd.n_entries; i++) {
				EXPECT_EQ(rd.entries[i].index, first + i);
				m.log.push_back(Copy(rd.entries[i]));
			}
		}
		Member::Pending p; /* 4 */
		for (size_t i = 0; i < rd.n_messages_after_persist; i++)
			Keep(m, rd.messages_after_persist[i], &p.msgs);
		if (rd.n_entries || rd.install) {
			p.report = true;
			p.index = rd.n_entries ? rd.entries[rd.n_entries - 1].index
					       : rd.install->index;
			p.term = rd.n_entries ? rd.entries[rd.n_entries - 1].term
					      : rd.install->term;
		}
		m.hold ? m.pending.push_back(p) : Complete(m, p);
		for (size_t i = 0; i < rd.n_committed; i++) { /* 5 */
			Ent c = Copy(rd.committed[i]);
			EXPECT_EQ(c.index, m.applied_index + 1)
				<< "member " << m.id << ": committed out of order";
			EXPECT_LE(c.index, durable) << "member " << m.id
				<< ": applies an entry not reported durable";
			const Ent *s = m.At(c.index);
			EXPECT_TRUE(s && SameValue(*s, c)) << "member " << m.id
				<< ": committed " << c.index << " is not the stored one";
			m.applied.push_back(c);
			m.applied_index = c.index;
		}
		for (size_t i = 0; i < rd.n_reads; i++) /* 6 */
			m.reads.push_back(rd.reads[i]);
	}
	void Drain(Member &m)
	{
		for (int guard = 0; guard < 10000; guard++) {
			int has = sn_engine_has_ready(m.e);
			sn_ready rd;
			std::memset(&rd, 0xa5, sizeof rd);
			int rc = sn_engine_ready(m.e, &rd);
			if (rc == 0) {
				EXPECT_EQ(has, 0) << "has_ready but an empty ready";
				EXPECT_TRUE(ReadyIsZero(rd)) << "empty ready not zeroed";
				return;
			}
			ASSERT_EQ(rc, 1) << "member " << m.id << ": " << sn_errmsg();
			EXPECT_NE(has, 0) << "member " << m.id
					  << ": ready had work has_ready denied";
			Handle(m, rd);
			sn_engine_advance(m.e); /* 7 */
		}
		ADD_FAILURE() << "member " << m.id << ": ready never runs dry";
	}
	void Release(uint64_t id)
	{
		Member &m = ms[id];
		m.hold = false;
		for (; !m.pending.empty(); m.pending.pop_front())
			Complete(m, m.pending.front());
		Drain(m);
	}

	/* ---- network and time ---- */

	void Deliver()
	{
		for (size_t n = 0; !net.empty(); n++) {
			ASSERT_LT(n, 200000u) << "the network never goes quiet";
			Wire w = net.front();
			net.pop_front();
			if (!Live(w.from) || !Live(w.to))
				continue;
			std::vector<uint8_t> copy(w.data); /* borrowed for the call */
			sn_message x{ w.group, w.from, w.to, copy.data(), copy.size() };
			EXPECT_EQ(sn_engine_step(ms[w.to].e, &x), SN_OK)
				<< w.from << "->" << w.to << ": " << sn_errmsg();
			std::fill(copy.begin(), copy.end(), uint8_t(0xdb));
			Drain(ms[w.to]);
		}
	}
	void Tick(int rounds = 1)
	{
		for (int r = 0; r < rounds; r++) {
			for (uint64_t id : voters)
				if (Live(id)) {
					sn_engine_tick(ms[id].e);
					Drain(ms[id]);
				}
			Deliver();
		}
	}
	uint64_t Leader()
	{
		uint64_t best = 0, term = 0;
		for (uint64_t id : voters) {
			sn_engine_status st = Live(id) ? St(id) : sn_engine_status{};
			if (Live(id) && st.role == SN_ROLE_LEADER && st.term >= term)
				best = id, term = st.term;
		}
		return best;
	}
	/* Tick until one leader is known to every live member. */
	uint64_t ElectLeader()
	{
		for (int i = 0; i < 500; i++) {
			Tick();
			uint64_t l = Leader();
			bool agreed = l != 0;
			for (uint64_t id : voters)
				agreed = agreed && (!Live(id) || St(id).leader == l);
			if (agreed)
				return Tick(3), l;
		}
		return 0;
	}
	uint64_t Propose(uint64_t id, const std::string &v)
	{
		uint64_t index = 0;
		EXPECT_EQ(sn_engine_propose(&index, ms[id].e, v.data(), v.size()),
			  SN_OK) << sn_errmsg();
		Drain(ms[id]);
		return index;
	}
	/* Propose "<p><i>" for i in [from, to), then tick `ticks` rounds. */
	void ProposeRange(uint64_t id, const char *p, int from, int to,
			  int ticks = 3)
	{
		for (int i = from; i < to; i++)
			Propose(id, p + std::to_string(i));
		Tick(ticks);
	}
	sn_snapshot_meta MetaOf(uint64_t index, uint64_t term,
				const std::string &data)
	{
		return { index, term, data.size(),
			 sn__crc32c(0, data.data(), data.size()), voters.data(),
			 voters.size() };
	}
	std::vector<uint64_t> Others(uint64_t leader)
	{
		std::vector<uint64_t> out;
		for (uint64_t id : voters)
			if (id != leader)
				out.push_back(id);
		return out;
	}
	void ExpectAllApplied(const Strs &want)
	{
		for (uint64_t id : voters)
			EXPECT_EQ(ms[id].AppliedData(), want) << "member " << id;
	}
	/* Every applied entry of `id` is the leader's at that index. */
	void ExpectSameApplied(uint64_t leader, uint64_t id)
	{
		const Member &l = ms[leader], &m = ms[id];
		EXPECT_EQ(m.applied_index, l.applied_index) << "member " << id;
		std::map<uint64_t, const Ent *> by;
		for (const Ent &c : l.applied)
			by[c.index] = &c;
		for (const Ent &c : m.applied)
			EXPECT_TRUE(by.count(c.index) && SameValue(*by[c.index], c))
				<< "member " << id << " applied another value at "
				<< c.index;
	}
};

TEST_P(EngineSeam, ElectsOneLeaderAndReplicatesInOrder)
{
	for (uint64_t id : voters)
		EXPECT_STREQ(sn_engine_name(ms[id].e), GetParam().c_str());
	uint64_t l = ElectLeader();
	ASSERT_NE(l, 0u);
	for (uint64_t id : voters) {
		sn_engine_status st = St(id);
		EXPECT_TRUE(st.id == id && st.group == kGroup) << "member " << id;
		EXPECT_EQ(st.leader, l) << "member " << id;
		EXPECT_EQ(st.role == SN_ROLE_LEADER, id == l) << "member " << id;
	}
	Strs vals;
	std::vector<uint64_t> idx;
	for (int i = 0; i < 12; i++) {
		vals.push_back("v" + std::to_string(i) + std::string(1, '\0') +
			       Pattern(size_t(i) * 37, i + 1));
		idx.push_back(Propose(l, vals.back()));
		EXPECT_GT(idx[i], i ? idx[i - 1] : 0);
	}
	Tick(3);
	ExpectAllApplied(vals);
	std::map<uint64_t, Ent> at;
	for (const Ent &c : ms[l].applied)
		at[c.index] = c;
	for (size_t i = 0; i < idx.size(); i++)
		EXPECT_TRUE(at[idx[i]].data == vals[i] &&
			    at[idx[i]].type == SN_ENTRY_NORMAL)
			<< "proposal " << i << " is not at index " << idx[i];
	for (uint64_t id : voters) {
		ExpectSameApplied(l, id);
		EXPECT_EQ(St(id).applied, ms[id].applied_index);
		EXPECT_GE(St(id).commit, idx.back());
	}
}

TEST_P(EngineSeam, FollowersRefuseAndLimitsHold)
{
	uint64_t l = ElectLeader();
	ASSERT_NE(l, 0u);
	for (uint64_t f : Others(l)) {
		uint64_t index = 77;
		EXPECT_EQ(sn_engine_propose(&index, ms[f].e, "x", 1),
			  SN_ENOTLEADER);
		EXPECT_EQ(sn_engine_read_index(ms[f].e, 5), SN_ENOTLEADER);
		EXPECT_EQ(sn_engine_has_ready(ms[f].e), 0);
	}
	std::string big(kMaxEntry + 1, 'b'), max(kMaxEntry, 'm');
	EXPECT_EQ(sn_engine_propose(nullptr, ms[l].e, big.data(), big.size()),
		  SN_ETOOLARGE);
	Propose(l, max);
	Tick(3);
	ExpectAllApplied({ max });
}

TEST_P(EngineSeam, ReadyIsHandedOutOnceUntilAdvance)
{
	uint64_t l = ElectLeader();
	ASSERT_NE(l, 0u);
	for (uint64_t id : voters) {
		EXPECT_EQ(sn_engine_has_ready(ms[id].e), 0);
		sn_ready rd;
		std::memset(&rd, 0x5a, sizeof rd);
		EXPECT_EQ(sn_engine_ready(ms[id].e, &rd), 0);
		EXPECT_TRUE(ReadyIsZero(rd)) << "member " << id;
		sn_engine_advance(ms[id].e); /* no pending ready: a no-op */
		EXPECT_EQ(sn_engine_has_ready(ms[id].e), 0);
	}
	Member &m = ms[l];
	ASSERT_EQ(sn_engine_propose(nullptr, m.e, "once", 4), SN_OK);
	EXPECT_NE(sn_engine_has_ready(m.e), 0);
	sn_ready rd, again;
	ASSERT_EQ(sn_engine_ready(m.e, &rd), 1);
	EXPECT_EQ(sn_engine_ready(m.e, &again), SN_ESTATE);
	EXPECT_EQ(sn_engine_ready(m.e, &again), SN_ESTATE);
	/* The first batch is intact and still ours to handle. */
	ASSERT_GE(rd.n_entries, 1u);
	EXPECT_EQ(Copy(rd.entries[rd.n_entries - 1]).data, "once");
	Handle(m, rd);
	sn_engine_advance(m.e);
	Drain(m);
	Tick(3);
	ExpectAllApplied({ "once" });
}

TEST_P(EngineSeam, NothingCommitsUntilDurableOnAQuorum)
{
	uint64_t l = ElectLeader();
	ASSERT_NE(l, 0u);
	uint64_t f1 = Others(l)[0], f2 = Others(l)[1], last = 0;
	std::map<uint64_t, uint64_t> commit, applied;
	for (uint64_t id : voters)
		commit[id] = St(id).commit, applied[id] = ms[id].applied_index;
	ms[l].hold = ms[f1].hold = true;
	for (int i = 0; i < 3; i++)
		last = Propose(l, "d" + std::to_string(i));
	Tick(5);
	EXPECT_GE(ms[f2].durable, last) << "the free follower persisted";
	EXPECT_LT(St(l).persisted, last);
	for (uint64_t id : voters) {
		EXPECT_EQ(St(id).commit, commit[id])
			<< "member " << id << ": commit with one durable copy";
		EXPECT_EQ(ms[id].applied_index, applied[id]) << "member " << id;
	}
	/* f1 durable: a quorum holds the entries, but the leader itself must
	 * not apply what it has not reported durable (checked per ready). */
	Release(f1);
	Tick(5);
	EXPECT_EQ(ms[l].applied_index, applied[l])
		<< "leader applied entries it never reported durable";
	Release(l);
	Tick(5);
	ExpectAllApplied({ "d0", "d1", "d2" });
}

TEST_P(EngineSeam, ReadIndexAnswersAtOrAboveCommit)
{
	uint64_t l = ElectLeader();
	ASSERT_NE(l, 0u);
	for (int round = 0; round < 2; round++) {
		ProposeRange(l, "r", round * 3, round * 3 + 3);
		uint64_t ctx = 0xC0FFEE00 + round, commit = St(l).commit;
		ASSERT_EQ(sn_engine_read_index(ms[l].e, ctx), SN_OK);
		Drain(ms[l]);
		for (int i = 0; i < 20 && ms[l].reads.empty(); i++)
			Tick();
		ASSERT_EQ(ms[l].reads.size(), 1u) << "round " << round;
		sn_read_state r = ms[l].reads[0];
		ms[l].reads.clear();
		EXPECT_EQ(r.ctx, ctx);
		EXPECT_EQ(r.status, SN_OK);
		EXPECT_GE(r.index, commit);
		Tick(2);
		EXPECT_GE(ms[l].applied_index, r.index) << "read never servable";
	}
}

TEST_P(EngineSeam, RestartedMemberCatchesUpFromStorage)
{
	uint64_t l = ElectLeader();
	ASSERT_NE(l, 0u);
	uint64_t f = Others(l)[0];
	ProposeRange(l, "a", 0, 3);
	ASSERT_EQ(ms[f].AppliedData().size(), 3u);
	sn_hard_state hs = ms[f].hs;
	ASSERT_NO_FATAL_FAILURE(Stop(f));
	ProposeRange(l, "b", 0, 3);
	EXPECT_EQ(ms[l].AppliedData().size(), 6u);
	EXPECT_EQ(ms[f].AppliedData().size(), 3u);

	ASSERT_NO_FATAL_FAILURE(Start(f, true));
	sn_engine_status st = St(f);
	EXPECT_GE(st.term, hs.term);
	EXPECT_GE(st.commit, hs.commit);
	EXPECT_EQ(st.applied, ms[f].applied_index);
	EXPECT_EQ(st.last_index, ms[f].LastIndex());
	for (int i = 0; i < 100 && ms[f].applied_index < ms[l].applied_index;
	     i++)
		Tick();
	uint64_t l2 = Leader();
	ASSERT_NE(l2, 0u);
	Propose(l2, "c");
	Tick(3);
	ExpectAllApplied({ "a0", "a1", "a2", "b0", "b1", "b2", "c" });
	for (uint64_t id : voters)
		ExpectSameApplied(l2, id);
}

TEST_P(EngineSeam, SnapshotRulesAndTransferToALaggingFollower)
{
	uint64_t l = ElectLeader();
	ASSERT_NE(l, 0u);
	uint64_t o = Others(l)[0], f = Others(l)[1];
	ProposeRange(l, "s", 0, 3);
	Member &lm = ms[l];
	std::string data = Pattern(5 * kMaxMsg + 123, 99);
	/* An entry in the log, with its term, but not applied. */
	lm.hold = true;
	uint64_t h = Propose(l, "h");
	ASSERT_NE(lm.At(h), nullptr);
	ASSERT_LT(lm.applied_index, h);
	sn_snapshot_meta bad = MetaOf(h, lm.At(h)->term, data);
	EXPECT_EQ(sn_engine_snapshot_taken(lm.e, &bad), SN_EINVAL)
		<< "a snapshot beyond the applied index";
	Release(l);
	Tick(3);
	ASSERT_EQ(lm.applied_index, h);
	bad = MetaOf(h, lm.At(h)->term + 1, data);
	EXPECT_EQ(sn_engine_snapshot_taken(lm.e, &bad), SN_EINVAL)
		<< "a snapshot whose term contradicts the log";
	EXPECT_EQ(sn_engine_compact(lm.e, 1), SN_EINVAL) << "no snapshot yet";
	EXPECT_EQ(St(l).snapshot_index, 0u);

	/* f falls behind (a pause: it neither hears nor ticks). */
	cut.insert(f);
	ProposeRange(l, "s", 3, 8);
	ASSERT_EQ(ms[o].AppliedData().size(), 9u);

	uint64_t a = lm.applied_index;
	lm.snap_data = data;
	lm.snap = MetaOf(a, lm.At(a)->term, data);
	ASSERT_EQ(sn_engine_snapshot_taken(lm.e, &lm.snap), SN_OK) << sn_errmsg();
	Drain(lm);
	EXPECT_EQ(St(l).snapshot_index, a);
	EXPECT_EQ(sn_engine_compact(lm.e, a + 1), SN_EINVAL)
		<< "compaction beyond the snapshot";
	ASSERT_EQ(sn_engine_compact(lm.e, a), SN_OK) << sn_errmsg();
	Drain(lm);
	EXPECT_GT(St(l).first_index, a);
	lm.log.erase(lm.log.begin(), lm.log.begin() + (a - lm.log_start));
	lm.log_start = a;
	ASSERT_LT(ms[f].LastIndex(), a) << "f must need compacted entries";
	ProposeRange(l, "s", 8, 10);

	cut.erase(f);
	for (int i = 0; i < 200 && ms[f].applied_index < lm.applied_index; i++)
		Tick();
	Member &fm = ms[f];
	ASSERT_EQ(fm.installs.size(), 1u);
	const sn_snapshot_meta &in = fm.installs[0];
	EXPECT_TRUE(in.index == lm.snap.index && in.term == lm.snap.term &&
		    in.size == lm.snap.size && in.crc == lm.snap.crc)
		<< "installed " << in.index << ":t" << in.term;
	EXPECT_GE(fm.n_chunks, 2u) << "chunks of at most max_msg_bytes";
	EXPECT_TRUE(fm.rcv == lm.snap_data) << "received bytes differ";
	EXPECT_EQ(sn__crc32c(0, fm.rcv.data(), fm.rcv.size()), lm.snap.crc);
	EXPECT_EQ(St(f).snapshot_index, lm.snap.index);
	Propose(Leader(), "after");
	Tick(3);
	EXPECT_EQ(fm.AppliedData(), (Strs{ "s8", "s9", "after" }));
	for (uint64_t id : voters)
		ExpectSameApplied(l, id);
}

TEST_P(EngineSeam, MalformedInputIsDroppedAndChangesNothing)
{
	uint64_t l = ElectLeader();
	ASSERT_NE(l, 0u);
	uint64_t f = Others(l)[0];
	sent.clear();
	Propose(l, Pattern(200, 5));
	Tick(2);
	std::map<std::pair<uint64_t, uint64_t>, std::vector<uint8_t>> real;
	for (const Wire &w : sent) /* the longest message each way */
		if (w.data.size() > real[{ w.from, w.to }].size())
			real[{ w.from, w.to }] = w.data;
	warn_lines = 0;
	sn_log_set_handler(CountWarn, nullptr, SN_LOG_WARN);
	for (uint64_t to : { f, l }) {
		uint64_t from = to == f ? l : f;
		const std::vector<uint8_t> &raw = real[{ from, to }];
		ASSERT_GT(raw.size(), 1u) << from << "->" << to;
		struct Case {
			std::string what;
			uint64_t group, from, to;
			std::vector<uint8_t> data;
		};
		std::string junk = Pattern(64, to);
		std::vector<Case> cases{
			{ "garbage", kGroup, from, to, { junk.begin(), junk.end() } },
			{ "0xff bytes", kGroup, from, to,
			  std::vector<uint8_t>(64, 0xff) },
			{ "wrong group", kGroup + 1, from, to, raw },
			{ "unknown sender", kGroup, 99, to, raw },
			{ "from itself", kGroup, to, to, raw },
			{ "to another member", kGroup, from, 6 - from - to, raw },
		};
		for (size_t n : { size_t(1), raw.size() / 2, raw.size() - 1 })
			cases.push_back({ "truncated to " + std::to_string(n),
					  kGroup, from, to,
					  { raw.begin(), raw.begin() + n } });
		for (Case &c : cases) {
			sn_engine_status b = St(to);
			int warns = warn_lines;
			sn_message x{ c.group, c.from, c.to, c.data.data(),
				      c.data.size() };
			EXPECT_EQ(sn_engine_step(ms[to].e, &x), SN_EMALFORMED)
				<< c.what << " into member " << to;
			sn_engine_status a = St(to);
			EXPECT_EQ(a.dropped, b.dropped + 1) << c.what;
			EXPECT_GT(warn_lines, warns) << c.what << ": not logged";
			EXPECT_TRUE(a.term == b.term && a.vote == b.vote &&
				    a.commit == b.commit && a.role == b.role &&
				    a.leader == b.leader &&
				    a.last_index == b.last_index)
				<< c.what << ": the state changed";
			EXPECT_EQ(sn_engine_has_ready(ms[to].e), 0) << c.what;
		}
	}
	sn_log_set_handler(nullptr, nullptr, SN_LOG_WARN);
	Propose(l, "ok"); /* still a working cluster */
	Tick(3);
	for (uint64_t id : voters)
		EXPECT_EQ(ms[id].AppliedData().back(), "ok") << "member " << id;
}

INSTANTIATE_TEST_SUITE_P(Engines, EngineSeam,
			 ::testing::Values("raft", "paxos"),
			 [](const ::testing::TestParamInfo<std::string> &i) {
				 return i.param;
			 });

} // namespace
