/*
 * raft_input_test.cc - what the engine accepts from outside: peer messages
 * that are malformed, misaddressed or impossible (dropped, counted, state
 * untouched), sn_raft_new options, restored state, and the ready protocol.
 */
#include "raft_harness.h"

#include <climits>
#include <set>

using namespace sntest;

namespace {

/* One piece of bad input: an envelope and bytes. */
struct Bad {
	std::string what;
	uint64_t group, from, to;
	std::vector<uint8_t> bytes;
};

void ExpectDropped(Net &net, uint64_t id, const Bad &b)
{
	SCOPED_TRACE(b.what + " -> member " + std::to_string(id));
	ASSERT_FALSE(sn_engine_has_ready(net.e(id)));
	sn_engine_status before = net.St(id);
	sn_message w;
	w.group = b.group;
	w.from = b.from;
	w.to = b.to;
	w.data = b.bytes.empty() ? nullptr : b.bytes.data();
	w.len = b.bytes.size();
	int rc = sn_engine_step(net.e(id), &w);
	EXPECT_EQ(SN_EMALFORMED, rc);
	sn_engine_status after = net.St(id);
	EXPECT_EQ(before.dropped + 1, after.dropped) << "not counted";
	EXPECT_TRUE(SameStatusExceptDropped(before, after))
		<< "state changed:\n" << StatusStr(before) << "\n" << StatusStr(after);
	EXPECT_FALSE(sn_engine_has_ready(net.e(id))) << "dropped input produced output";
	net.Drain(id);
	net.Flush();
}

std::vector<uint8_t> Garbage(uint64_t seed, size_t len)
{
	std::vector<uint8_t> b(len);
	for (auto &x : b)
		x = (uint8_t)sn__splitmix64(&seed);
	return b;
}

} // namespace

/* Envelope problems and undecodable bytes, to a follower and to a leader. */
TEST(RaftInput, MisaddressedAndGarbageAreDropped)
{
	Net net(Ids(3));
	ASSERT_TRUE(net.Elect(1));
	net.TickAll(2);
	uint64_t term = net.Term(1);

	for (uint64_t id : {2, 1}) {
		uint64_t peer = id == 2 ? 1 : 2;
		/* A message `id` would accept as is. */
		Msg ok = id == 2 ? M(HEARTBEAT, 1, 2, term) : M(HEARTBEAT_RESP, 2, 1, term);
		std::vector<uint8_t> good = Encode(ok);
		std::vector<uint8_t> truncated(good.begin(), good.end() - 1);
		std::vector<Bad> bad = {
			{"wrong group", kGroup + 1, peer, id, good},
			{"group 0", 0, peer, id, good},
			{"to another member", kGroup, peer, 3, good},
			{"to nobody", kGroup, peer, 0, good},
			{"from a non-member", kGroup, 99, id, good},
			{"from 0", kGroup, 0, id, good},
			{"from itself", kGroup, id, id, good},
			{"empty", kGroup, peer, id, {}},
			{"one byte", kGroup, peer, id, {1}},
			{"truncated", kGroup, peer, id, truncated},
			{"garbage", kGroup, peer, id, Garbage(id, 57)},
			{"garbage, long", kGroup, peer, id, Garbage(id + 100, 4096)},
		};
		for (const Bad &b : bad)
			ExpectDropped(net, id, b);
		/* The envelope-correct message itself is fine. */
		sn_message w = {kGroup, peer, id, good.data(), good.size()};
		EXPECT_EQ(SN_OK, sn_engine_step(net.e(id), &w));
		net.Drain(id);
		net.Flush();
	}
	EXPECT_EQ(SN_ROLE_LEADER, net.Role(1));
	EXPECT_EQ(term, net.Term(2));
}

/* Well-formed bytes that describe something no correct peer can send: a
 * cluster of three in term 5, member 1 leading; each test feeds one such
 * message to follower 2 or leader 1. */
class RaftImpossible : public ::testing::Test {
protected:
	Net net{Ids(3)};
	uint64_t t = 0;

	void SetUp() override
	{
		for (uint64_t id : {1, 2, 3})
			net.Restore(id, {4, 0, 0}, {});
		ASSERT_TRUE(net.Elect(1));
		net.TickAll(2);
		t = net.Term(1);
		ASSERT_EQ(5u, t);
	}
	void TearDown() override
	{
		/* Whatever was fed in, the cluster is unharmed. */
		EXPECT_EQ(SN_ROLE_LEADER, net.Role(1));
		EXPECT_EQ(SN_OK, net.Propose(1, "still fine"));
		net.Deliver();
		EXPECT_EQ(net.node(1).log, net.node(2).log);
	}
	void ToFollower(const char *what, const std::vector<uint8_t> &bytes,
			uint64_t from = 1)
	{
		ExpectDropped(net, 2, {what, kGroup, from, 2, bytes});
	}
	void ToLeader(const char *what, const Msg &m)
	{
		ExpectDropped(net, 1, {what, kGroup, m.from, 1, Encode(m)});
	}
};

TEST_F(RaftImpossible, AppendWithPrevTermAboveItsTerm)
{
	ToFollower("APP prev term > term", Encode(App(1, 2, t, 1, t + 1, {}, 1)));
}

TEST_F(RaftImpossible, AppendCarryingAnEntryFromALaterTerm)
{
	ToFollower("entry term > term",
		   Encode(App(1, 2, t, 1, t, {E(0, t + 1, "x")}, 1)));
}

TEST_F(RaftImpossible, AppendWhoseEntryTermsGoBackwards)
{
	ToFollower("entry terms decrease",
		   Encode(App(1, 2, t, 1, t, {E(0, t, "x"), E(0, t - 1, "y")}, 1)));
}

TEST_F(RaftImpossible, AppendCarryingAnEntryOfTermZero)
{
	ToFollower("entry of term 0", Encode(App(1, 2, t, 1, t, {E(0, 0, "x")}, 1)));
}

TEST_F(RaftImpossible, VoteWhoseLastTermIsAboveItsTerm)
{
	Msg v = M(VOTE, 3, 2, t + 1);
	v.index = 1;
	v.log_term = t + 2;
	ToFollower("VOTE last term > term", Encode(v), 3);
	EXPECT_EQ(t, net.Term(2));
}

TEST_F(RaftImpossible, AppendClaimingMoreEntriesThanItHolds)
{
	std::vector<uint8_t> huge = Encode(App(1, 2, t, 1, t, {}, 1));
	uint32_t n = SN__RAFT_MAX_ENTRIES_PER_MSG + 1;
	for (int i = 0; i < 4; i++)
		huge[SN__RAFT_MSG_HEADER - 4 + i] = (uint8_t)(n >> (8 * i));
	ToFollower("APP claiming 2^20+1 entries", huge);
}

TEST_F(RaftImpossible, AppendWhoseEntriesRunPastTheLargestIndex)
{
	ToFollower("index overflow",
		   Encode(App(1, 2, t, UINT64_MAX, t, {E(0, t, "x")}, 1)));
}

/* Index 0 is the empty log, whose term is 0 by definition. */
TEST_F(RaftImpossible, AppendWithPrevIndexZeroButAPrevTerm)
{
	ToFollower("prev 0 with term", Encode(App(1, 2, t, 0, t, {E(0, t, "x")}, 1)));
}

TEST_F(RaftImpossible, AppendResponseAckingEntriesTheLeaderNeverHad)
{
	Msg m = M(APP_RESP, 2, 1, t);
	m.index = net.St(1).last_index + 1000;
	ToLeader("APP_RESP beyond the leader's log", m);
}

/* A follower only echoes read rounds the leader sent it. */
TEST_F(RaftImpossible, HeartbeatResponseForAReadRoundNeverSent)
{
	Msg m = M(HEARTBEAT_RESP, 2, 1, t);
	m.ctx = 1000;
	ToLeader("HEARTBEAT_RESP of a future round", m);
}

/* A leader's APP that would overwrite a committed entry cannot come from a
 * correct leader (Leader Completeness). Whether it is reported as malformed
 * or quietly acknowledged at the commit index, the committed log survives. */
TEST(RaftInput, AppendConflictingWithACommittedEntryChangesNothing)
{
	Net net(Ids(3));
	net.Restore(2, {2, 0, 3}, LogOfTerms({1, 1, 2}));
	ASSERT_EQ(SN_OK, net.Inject(M(HEARTBEAT, 1, 2, 2)));
	ASSERT_EQ(1u, net.St(2).leader);
	net.TakeSent();
	int rc = net.Inject(App(1, 2, 2, 1, 1, {E(0, 2, "evil")}, 3));
	EXPECT_TRUE(rc == SN_OK || rc == SN_EMALFORMED) << rc;
	EXPECT_EQ(LogOfTerms({1, 1, 2}), net.node(2).log);
	EXPECT_EQ(3u, net.St(2).commit);
	EXPECT_EQ(3u, net.St(2).last_index);
	for (const Msg &m : Filter(net.sent, APP_RESP, 2)) {
		EXPECT_LE(m.index, 3u) << m;
	}
}

/* Every rejected option is SN_EINVAL with a detail, and *out stays NULL. */
TEST(RaftInput, OptionValidation)
{
	static const uint64_t v3[] = {1, 2, 3};
	static const uint64_t v_zero[] = {1, 0, 3};
	static const uint64_t v_dup[] = {1, 2, 2};
	static const char d[] = "d";
	static const sn_entry gap[] = {{1, 1, 0, d, 1}, {2, 1, 0, d, 1}, {4, 1, 0, d, 1}};
	static const sn_entry ok_log[] = {{1, 1, 0, d, 1}, {2, 1, 0, d, 1}, {3, 1, 0, d, 1}};
	static const sn_hard_state hs1 = {1, 0, 1};

	auto base = [] {
		sn_raft_options o;
		EXPECT_EQ(SN_OK, sn_raft_options_init(&o, SN_RAFT_OPTIONS_VERSION));
		o.id = 1;
		o.voters = v3;
		o.n_voters = 3;
		return o;
	};
	struct Case {
		const char *what;
		const char *category;
		std::function<void(sn_raft_options &)> edit;
	};
	std::vector<Case> cases = {
		{"id 0", "id", [](sn_raft_options &o) { o.id = 0; }},
		{"id not a voter", "member", [](sn_raft_options &o) { o.id = 4; }},
		{"no voters", "voters", [](sn_raft_options &o) { o.voters = nullptr; o.n_voters = 0; }},
		{"voters NULL with a count", "voters", [](sn_raft_options &o) { o.voters = nullptr; }},
		{"zero voter", "voters", [](sn_raft_options &o) { o.voters = v_zero; }},
		{"duplicate voter", "voters", [](sn_raft_options &o) { o.voters = v_dup; }},
		{"heartbeat == election", "ticks",
		 [](sn_raft_options &o) { o.election_ticks = 5; o.heartbeat_ticks = 5; }},
		{"heartbeat > election", "ticks",
		 [](sn_raft_options &o) { o.election_ticks = 3; o.heartbeat_ticks = 4; }},
		{"heartbeat >= default election", "ticks",
		 [](sn_raft_options &o) { o.heartbeat_ticks = 10; }},
		{"non-consecutive entries", "entries",
		 [](sn_raft_options &o) { o.entries = gap; o.n_entries = 3; }},
		{"entries NULL with a count", "entries",
		 [](sn_raft_options &o) { o.entries = nullptr; o.n_entries = 2; }},
		{"applied > commit", "applied",
		 [](sn_raft_options &o) { o.hard_state = &hs1; o.entries = ok_log; o.n_entries = 3; o.applied = 2; }},
		{"applied without hard state", "applied", [](sn_raft_options &o) { o.applied = 1; }},
		{"max_inflight_msgs above 65536", "inflight",
		 [](sn_raft_options &o) { o.max_inflight_msgs = 65537; }},
		{"version 0", "version", [](sn_raft_options &o) { o.version = 0; }},
		{"version from the future", "version",
		 [](sn_raft_options &o) { o.version = SN_RAFT_OPTIONS_VERSION + 1; }},
	};
	std::map<std::string, std::set<std::string>> by_category;
	for (const Case &c : cases) {
		SCOPED_TRACE(c.what);
		sn_raft_options o = base();
		c.edit(o);
		sn_engine *e = reinterpret_cast<sn_engine *>(&o);
		sn_errmsg_clear();
		EXPECT_EQ(SN_EINVAL, sn_raft_new(&e, &o));
		EXPECT_EQ(nullptr, e);
		std::string msg = sn_errmsg();
		EXPECT_FALSE(msg.empty()) << "no detail for sn_errmsg()";
		by_category[c.category].insert(msg);
		sn_engine_free(e == reinterpret_cast<sn_engine *>(&o) ? nullptr : e);
	}
	/* "sn_errmsg() says which": different problems, different details. */
	std::set<std::string> firsts;
	for (auto &kv : by_category)
		firsts.insert(*kv.second.begin());
	EXPECT_EQ(by_category.size(), firsts.size())
		<< "different kinds of invalid option share one message";

	sn_engine *e = reinterpret_cast<sn_engine *>(&e);
	sn_errmsg_clear();
	EXPECT_EQ(SN_EINVAL, sn_raft_new(&e, nullptr)) << "NULL options (no id)";
	EXPECT_EQ(nullptr, e);
	EXPECT_STRNE("", sn_errmsg());
}

TEST(RaftInput, ValidOptionEdges)
{
	static const uint64_t one[] = {5};
	static const uint64_t v3[] = {1, 2, 3};
	struct Case {
		const char *what;
		std::function<void(sn_raft_options &)> edit;
	} cases[] = {
		{"group 0", [](sn_raft_options &o) { o.group = 0; }},
		{"single voter", [](sn_raft_options &o) { o.id = 5; o.voters = one; o.n_voters = 1; }},
		{"election 2, heartbeat 1", [](sn_raft_options &o) { o.election_ticks = 2; o.heartbeat_ticks = 1; }},
		{"heartbeat 9 of default 10", [](sn_raft_options &o) { o.heartbeat_ticks = 9; }},
		{"id last in voters", [](sn_raft_options &o) { o.id = 3; }},
	};
	for (const Case &c : cases) {
		SCOPED_TRACE(c.what);
		sn_raft_options o;
		ASSERT_EQ(SN_OK, sn_raft_options_init(&o, SN_RAFT_OPTIONS_VERSION));
		o.id = 1;
		o.group = 9;
		o.voters = v3;
		o.n_voters = 3;
		c.edit(o);
		sn_engine *e = nullptr;
		ASSERT_EQ(SN_OK, sn_raft_new(&e, &o)) << sn_errmsg();
		sn_engine_status st;
		sn_engine_get_status(&st, e);
		EXPECT_EQ(o.id, st.id);
		EXPECT_EQ(o.group, st.group);
		sn_engine_free(e);
	}
}

namespace {
/* Field by field (padding may differ between the two spellings). */
void ExpectSameOptions(const sn_raft_options &a, const sn_raft_options &b)
{
	EXPECT_EQ(a.version, b.version);
	EXPECT_EQ(a.id, b.id);
	EXPECT_EQ(a.group, b.group);
	EXPECT_EQ(a.voters, b.voters);
	EXPECT_EQ(a.n_voters, b.n_voters);
	EXPECT_EQ(a.election_ticks, b.election_ticks);
	EXPECT_EQ(a.heartbeat_ticks, b.heartbeat_ticks);
	EXPECT_EQ(a.disable_pre_vote, b.disable_pre_vote);
	EXPECT_EQ(a.disable_check_quorum, b.disable_check_quorum);
	EXPECT_EQ(a.max_msg_bytes, b.max_msg_bytes);
	EXPECT_EQ(a.max_inflight_msgs, b.max_inflight_msgs);
	EXPECT_EQ(a.max_inflight_bytes, b.max_inflight_bytes);
	EXPECT_EQ(a.max_uncommitted_bytes, b.max_uncommitted_bytes);
	EXPECT_EQ(a.max_entry_bytes, b.max_entry_bytes);
	EXPECT_EQ(a.max_pending_reads, b.max_pending_reads);
	EXPECT_EQ(a.rand, b.rand);
	EXPECT_EQ(a.rand_userdata, b.rand_userdata);
	EXPECT_EQ(a.seed, b.seed);
	EXPECT_EQ(a.hard_state, b.hard_state);
	EXPECT_EQ(a.entries, b.entries);
	EXPECT_EQ(a.n_entries, b.n_entries);
	EXPECT_EQ(a.applied, b.applied);
}
} // namespace

/* Both spellings set the defaults given in brackets in raft.h. */
TEST(RaftInput, OptionsInit)
{
	sn_raft_options o;
	std::memset(&o, 0xab, sizeof o);
	ASSERT_EQ(SN_OK, sn_raft_options_init(&o, SN_RAFT_OPTIONS_VERSION));
	EXPECT_EQ(SN_RAFT_OPTIONS_VERSION, o.version);
	EXPECT_EQ(0u, o.id);
	EXPECT_EQ(0u, o.group);
	EXPECT_EQ(nullptr, o.voters);
	EXPECT_EQ(0u, o.n_voters);
	EXPECT_EQ(10u, o.election_ticks);
	EXPECT_EQ(1u, o.heartbeat_ticks);
	EXPECT_EQ(0, o.disable_pre_vote);
	EXPECT_EQ(0, o.disable_check_quorum);
	EXPECT_EQ(1u << 20, o.max_msg_bytes);
	EXPECT_EQ(256u, o.max_inflight_msgs);
	EXPECT_EQ(32u << 20, o.max_inflight_bytes);
	EXPECT_EQ(64u << 20, o.max_uncommitted_bytes);
	EXPECT_EQ(1u << 20, o.max_entry_bytes);
	EXPECT_EQ(4096u, o.max_pending_reads);
	EXPECT_EQ(nullptr, o.rand);
	EXPECT_EQ(nullptr, o.rand_userdata);
	EXPECT_EQ(0u, o.seed);
	EXPECT_EQ(nullptr, o.hard_state);
	EXPECT_EQ(nullptr, o.entries);
	EXPECT_EQ(0u, o.n_entries);
	EXPECT_EQ(0u, o.applied);

	/* The macro compiles warning-free here (-Wall -Wextra -Werror). */
	sn_raft_options m = SN_RAFT_OPTIONS_INIT;
	ExpectSameOptions(o, m);

	/* Both give a working engine once id and voters are set. */
	static const uint64_t v[] = {1};
	for (sn_raft_options *x : {&o, &m}) {
		x->id = 1;
		x->voters = v;
		x->n_voters = 1;
		sn_engine *e = nullptr;
		EXPECT_EQ(SN_OK, sn_raft_new(&e, x)) << sn_errmsg();
		sn_engine_free(e);
	}

	EXPECT_EQ(SN_EINVAL, sn_raft_options_init(&o, 0));
	EXPECT_EQ(SN_EINVAL, sn_raft_options_init(&o, SN_RAFT_OPTIONS_VERSION + 1));
	EXPECT_EQ(SN_EINVAL, sn_raft_options_init(nullptr, SN_RAFT_OPTIONS_VERSION));
}

/* A restarted member resumes exactly the state it was given. */
TEST(RaftInput, RestoresStateFromStorage)
{
	Net net(Ids(3));
	std::vector<Ent> log = LogOfTerms({1, 1, 2, 3, 3});
	net.Restore(1, {3, 2, 3}, log, 1);
	sn_engine_status st = net.St(1);
	EXPECT_EQ(3u, st.term);
	EXPECT_EQ(2u, st.vote);
	EXPECT_EQ(3u, st.commit);
	EXPECT_EQ(1u, st.first_index);
	EXPECT_EQ(5u, st.last_index);
	EXPECT_EQ(3u, st.last_term);
	EXPECT_EQ(5u, st.persisted);
	EXPECT_EQ(3u, st.applied);
	EXPECT_EQ(SN_ROLE_FOLLOWER, st.role);
	/* Entries applied+1..commit are handed out again, no earlier ones. */
	std::vector<Ent> want(log.begin() + 1, log.begin() + 3);
	EXPECT_EQ(want, net.node(1).committed);
	EXPECT_EQ(log, net.node(1).log) << "nothing rewritten";
	EXPECT_TRUE(net.node(1).writes.empty());
}

TEST(RaftInput, ReadyProtocol)
{
	sn_engine_free(nullptr); /* a no-op */
	Net net({1});
	sn_engine *e = net.e(1);
	sn_ready rd;
	std::memset(&rd, 0xab, sizeof rd);
	EXPECT_FALSE(sn_engine_has_ready(e));
	EXPECT_EQ(0, sn_engine_ready(e, &rd));
	EXPECT_EQ(0, rd.has_hard_state);
	EXPECT_EQ(0u, rd.n_entries);
	EXPECT_EQ(0u, rd.n_messages);
	EXPECT_EQ(0u, rd.n_committed);
	EXPECT_EQ(0u, rd.n_reads);
	sn_engine_advance(e); /* nothing pending: no-op */

	ASSERT_EQ(SN_OK, sn_engine_campaign(e));
	ASSERT_TRUE(sn_engine_has_ready(e));
	ASSERT_EQ(1, sn_engine_ready(e, &rd));
	EXPECT_TRUE(rd.has_hard_state);
	EXPECT_EQ(1u, rd.hard_state.term);
	EXPECT_EQ(1u, rd.hard_state.vote);
	ASSERT_EQ(1u, rd.n_entries);
	EXPECT_EQ(SN_ENTRY_NOOP, rd.entries[0].type);
	sn_ready again;
	EXPECT_EQ(SN_ESTATE, sn_engine_ready(e, &again)) << "ready before advance";
	sn_engine_persisted(e, rd.entries[0].index, rd.entries[0].term);
	net.node(1).log.push_back(FromWire(rd.entries[0]));
	net.node(1).persisted = rd.entries[0].index;
	sn_engine_advance(e);
	net.Drain(1);
	EXPECT_EQ(1u, net.St(1).commit);

	EXPECT_EQ(SN_ESTATE, sn_engine_campaign(e)) << "campaign as leader";
	Net three(Ids(3));
	EXPECT_EQ(SN_ENOTLEADER, three.Propose(2, "x"));
	uint64_t idx = 12345;
	EXPECT_EQ(SN_ENOTLEADER, sn_engine_propose(&idx, three.e(2), "x", 1));
}

/* A durability report for an entry that was replaced since is ignored: the
 * replacement is not applied until it is itself reported durable. */
TEST(RaftInput, StalePersistedReportIsIgnored)
{
	Net net(Ids(3));
	net.node(1).hold_persist = true;
	ASSERT_EQ(SN_OK, net.Inject(App(2, 1, 1, 0, 0, {E(0, 1, "a"), E(0, 1, "b")}, 0)));
	ASSERT_EQ(SN_OK, net.Inject(App(3, 1, 2, 1, 1, {E(0, 2, "c")}, 2)));
	ASSERT_EQ(2u, net.node(1).pending.size());
	ASSERT_EQ((std::vector<Ent>{E(1, 1, "a"), E(2, 2, "c")}), net.node(1).log);
	EXPECT_EQ(2u, net.St(1).commit);

	/* Report the first write only: (2, term 1) is stale. */
	Node::Pending p = net.node(1).pending.front();
	net.node(1).pending.pop_front();
	ASSERT_EQ(2u, p.index);
	ASSERT_EQ(1u, p.term);
	sn_engine_persisted(net.e(1), p.index, p.term);
	net.node(1).persisted = 1; /* entry 1 of that write is durable */
	net.Drain(1);
	for (const Ent &c : net.node(1).committed) {
		EXPECT_NE(2u, c.index) << "applied " << c << " before it was durable";
	}
	EXPECT_LT(net.St(1).persisted, 2u);

	net.Release(1);
	EXPECT_EQ(2u, net.node(1).applied);
	EXPECT_EQ((std::vector<std::string>{"a", "c"}), net.node(1).AppliedData());
}
