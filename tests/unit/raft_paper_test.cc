/*
 * raft_paper_test.cc - one test per rule of the Raft paper ("In Search of an
 * Understandable Consensus Algorithm", Ongaro & Ousterhout), named after its
 * section, in the manner of etcd's raft_paper_test.go. Most tests run plain
 * Raft (PreVote and CheckQuorum off) because that is what the paper describes.
 */
#include "raft_harness.h"

#include <algorithm>
#include <map>
#include <set>

using namespace sntest;

namespace {

/* Ticks of member `id` (alone) until it leaves the follower role. */
int TicksToCampaign(Net &net, uint64_t id, int max)
{
	for (int t = 1; t <= max; t++) {
		net.Tick(id);
		if (net.Role(id) != SN_ROLE_FOLLOWER)
			return t;
	}
	return -1;
}

const Msg *FindOne(const std::vector<Msg> &msgs, uint8_t type, uint64_t to)
{
	const Msg *found = nullptr;
	for (const Msg &m : msgs) {
		if (m.type == type && m.to == to) {
			EXPECT_EQ(nullptr, found) << "more than one " << type_name(type)
						  << " to " << to << ":\n" << Dump(msgs);
			found = &m;
		}
	}
	return found;
}

} // namespace

/* ------------------------------------------------------------------ 5.1 */

/* "If one server's current term is smaller than the other's, then it updates
 * its current term to the larger value. If a candidate or leader discovers
 * that its term is out of date, it immediately reverts to follower state." */
TEST(RaftPaper, Sec5_1_UpdateTermFromMessage)
{
	for (sn_role role : {SN_ROLE_FOLLOWER, SN_ROLE_CANDIDATE, SN_ROLE_LEADER}) {
		for (uint8_t type : {HEARTBEAT, VOTE}) {
			SCOPED_TRACE(std::string(role_name(role)) + " gets " +
				     type_name(type));
			Net net(Ids(3), Config::Plain());
			if (role == SN_ROLE_CANDIDATE) {
				ASSERT_EQ(SN_OK, net.Campaign(1));
			}
			if (role == SN_ROLE_LEADER) {
				ASSERT_TRUE(net.Elect(1));
			}
			net.Flush();
			ASSERT_EQ(role, net.Role(1));

			Msg m = M(type, 2, 1, 5);
			ASSERT_EQ(SN_OK, net.Inject(m));
			sn_engine_status st = net.St(1);
			EXPECT_EQ(5u, st.term);
			EXPECT_EQ(SN_ROLE_FOLLOWER, st.role);
			EXPECT_EQ(5u, net.node(1).hs.term) << "new term not persisted";
			if (type == HEARTBEAT) {
				EXPECT_EQ(2u, st.leader);
			} else {
				EXPECT_EQ(0u, st.leader);
			}
		}
	}
}

/* "If a server receives a request with a stale term number, it rejects the
 * request." Plain Raft: the stale message changes nothing and is answered
 * with nothing. */
TEST(RaftPaper, Sec5_1_RejectStaleTermMessage)
{
	Net net(Ids(3), Config::Plain());
	net.Restore(1, {2, 0, 1}, LogOfTerms({1, 2}));
	sn_engine_status before = net.St(1);
	ASSERT_EQ(2u, before.term);

	/* A stale leader of term 1 tries to overwrite entry 2 and move commit. */
	Msg app = App(2, 1, 1, 1, 1, {E(0, 1, "stale")}, 2);
	EXPECT_EQ(SN_OK, net.Inject(app));
	Msg hb = M(HEARTBEAT, 3, 1, 1);
	hb.commit = 2;
	EXPECT_EQ(SN_OK, net.Inject(hb));
	Msg vote = M(VOTE, 3, 1, 1);
	vote.index = 5;
	vote.log_term = 1;
	EXPECT_EQ(SN_OK, net.Inject(vote));

	sn_engine_status after = net.St(1);
	EXPECT_TRUE(SameStatusExceptDropped(before, after))
		<< StatusStr(before) << "\n" << StatusStr(after);
	EXPECT_EQ(before.dropped, after.dropped)
		<< "a stale message is normal traffic, not a malformed one";
	EXPECT_EQ(LogOfTerms({1, 2}), net.node(1).log);
	EXPECT_TRUE(net.sent.empty()) << Dump(net.sent);
	EXPECT_EQ(0u, net.node(1).hs.vote);
}

/* With PreVote/CheckQuorum on, a stale leader must learn that it is stale
 * (otherwise it never steps down): the receiver answers APP and HEARTBEAT of
 * a lower term with an APP_RESP at its own term. */
TEST(RaftPaper, Sec5_1_StaleLeaderIsToldTheNewerTerm)
{
	for (uint8_t type : {APP, HEARTBEAT}) {
		SCOPED_TRACE(type_name(type));
		Net net(Ids(3));
		net.Restore(1, {2, 0, 1}, LogOfTerms({1, 2}));
		Msg m = type == APP ? App(2, 1, 1, 1, 1, {E(0, 1, "x")}, 1)
				    : M(HEARTBEAT, 2, 1, 1);
		EXPECT_EQ(SN_OK, net.Inject(m));
		std::vector<Msg> out = net.TakeSent();
		ASSERT_EQ(1u, out.size()) << Dump(out);
		EXPECT_EQ(APP_RESP, out[0].type);
		EXPECT_EQ(2u, out[0].to);
		EXPECT_EQ(2u, out[0].term);
		EXPECT_EQ(2u, net.Term(1));
		EXPECT_EQ(LogOfTerms({1, 2}), net.node(1).log);
	}
}

/* ------------------------------------------------------------------ 5.2 */

/* "When servers start up, they begin as followers." */
TEST(RaftPaper, Sec5_2_StartAsFollower)
{
	Net net(Ids(3));
	sn_engine_status st = net.St(1);
	EXPECT_EQ(1u, st.id);
	EXPECT_EQ(kGroup, st.group);
	EXPECT_EQ(SN_ROLE_FOLLOWER, st.role);
	EXPECT_EQ(0u, st.term);
	EXPECT_EQ(0u, st.vote);
	EXPECT_EQ(0u, st.leader);
	EXPECT_EQ(0u, st.commit);
	EXPECT_EQ(0u, st.last_index);
	EXPECT_STREQ("raft", sn_engine_name(net.e(1)));

	/* A restarted member resumes its term and vote, still as follower. */
	net.Restore(2, {5, 3, 2}, LogOfTerms({1, 4, 5}));
	st = net.St(2);
	EXPECT_EQ(SN_ROLE_FOLLOWER, st.role);
	EXPECT_EQ(5u, st.term);
	EXPECT_EQ(3u, st.vote);
	EXPECT_EQ(2u, st.commit);
	EXPECT_EQ(3u, st.last_index);
	EXPECT_EQ(5u, st.last_term);
	EXPECT_EQ(3u, st.persisted);
}

/* "Leaders send periodic heartbeats ... to all followers in order to maintain
 * their authority" - every heartbeat_ticks ticks. */
TEST(RaftPaper, Sec5_2_LeaderBroadcastsHeartbeat)
{
	Config c = Config::Plain();
	c.heartbeat = 3;
	Net net(Ids(3), c);
	ASSERT_TRUE(net.Elect(1));
	net.TakeSent();

	for (int round = 0; round < 3; round++) {
		net.Tick(1, 2);
		EXPECT_EQ(0u, Count(net.sent, HEARTBEAT)) << Dump(net.sent);
		net.Tick(1);
		std::vector<Msg> out = net.TakeSent();
		for (uint64_t to : {2, 3}) {
			const Msg *hb = FindOne(out, HEARTBEAT, to);
			ASSERT_NE(nullptr, hb) << "round " << round << "\n" << Dump(out);
			EXPECT_EQ(1u, hb->term);
			EXPECT_EQ(1u, hb->commit);
			EXPECT_FALSE(hb->after_persist);
		}
		EXPECT_EQ(0u, Count(out, APP)) << "nothing to replicate:\n" << Dump(out);
		net.Flush();
	}
}

/* "If a follower receives no communication over a period of time called the
 * election timeout, then it ... begins an election ...: it increments its
 * current term and transitions to candidate state. It then votes for itself
 * and issues RequestVote RPCs in parallel to each of the other servers." */
TEST(RaftPaper, Sec5_2_FollowerStartsElectionOnTimeout)
{
	Config c = Config::Plain();
	Net net(Ids(3), c);
	int t = TicksToCampaign(net, 1, 2 * c.election);
	ASSERT_GT(t, 0) << "no election within 2 * election_ticks";
	sn_engine_status st = net.St(1);
	EXPECT_EQ(SN_ROLE_CANDIDATE, st.role);
	EXPECT_EQ(1u, st.term);
	EXPECT_EQ(1u, st.vote);
	EXPECT_EQ(1u, net.node(1).hs.term);
	EXPECT_EQ(1u, net.node(1).hs.vote) << "the self-vote must be persisted";

	EXPECT_EQ(0u, Count(net.sent, PREVOTE));
	for (uint64_t to : {2, 3}) {
		const Msg *v = FindOne(net.sent, VOTE, to);
		ASSERT_NE(nullptr, v) << Dump(net.sent);
		EXPECT_EQ(1u, v->term);
		EXPECT_EQ(0u, v->index);
		EXPECT_EQ(0u, v->log_term);
		EXPECT_EQ(0, v->flags & SN__RAFT_FLAG_TRANSFER);
		EXPECT_TRUE(v->after_persist)
			<< "VOTE must wait for the self-vote to be durable";
	}
}

/* "If many followers become candidates at the same time, votes could be
 * split ... each candidate will time out and start a new election by
 * incrementing its term." */
TEST(RaftPaper, Sec5_2_CandidateStartsNewElectionOnTimeout)
{
	Config c = Config::Plain();
	Net net(Ids(3), c);
	ASSERT_EQ(SN_OK, net.Campaign(1));
	ASSERT_EQ(SN_ROLE_CANDIDATE, net.Role(1));
	ASSERT_EQ(1u, net.Term(1));
	net.TakeSent();
	net.Flush();

	int t = 0;
	while (net.Term(1) == 1 && t < 2 * (int)c.election) {
		net.Tick(1);
		t++;
	}
	EXPECT_GE(t, (int)c.election);
	EXPECT_LT(t, 2 * (int)c.election);
	EXPECT_EQ(SN_ROLE_CANDIDATE, net.Role(1));
	EXPECT_EQ(2u, net.Term(1));
	EXPECT_EQ(1u, net.St(1).vote);
	EXPECT_EQ(2u, Count(net.sent, VOTE)) << Dump(net.sent);
	for (const Msg &m : Filter(net.sent, VOTE)) {
		EXPECT_EQ(2u, m.term);
	}
}

/* "A candidate wins an election if it receives votes from a majority of the
 * servers in the full cluster for the same term." */
TEST(RaftPaper, Sec5_2_ElectionInOneRound)
{
	struct Case {
		int size;
		std::vector<uint64_t> grant;
		std::vector<uint64_t> reject;
		sn_role want;
	} cases[] = {
		{1, {}, {}, SN_ROLE_LEADER},
		{3, {2}, {}, SN_ROLE_LEADER},
		{3, {2, 3}, {}, SN_ROLE_LEADER},
		{3, {}, {}, SN_ROLE_CANDIDATE},
		{3, {}, {2}, SN_ROLE_CANDIDATE},
		{5, {2, 3}, {}, SN_ROLE_LEADER},
		{5, {2, 3, 4, 5}, {}, SN_ROLE_LEADER},
		{5, {2}, {}, SN_ROLE_CANDIDATE},
		{5, {2}, {3}, SN_ROLE_CANDIDATE},
		{5, {2, 3}, {4, 5}, SN_ROLE_LEADER},
	};
	for (const Case &tc : cases) {
		SCOPED_TRACE("size " + std::to_string(tc.size) + " grants " +
			     std::to_string(tc.grant.size()) + " rejects " +
			     std::to_string(tc.reject.size()));
		Net net(Ids(tc.size), Config::Plain());
		ASSERT_EQ(SN_OK, net.Campaign(1));
		net.Flush();
		for (uint64_t v : tc.grant) {
			EXPECT_EQ(SN_OK, net.Inject(M(VOTE_RESP, v, 1, 1)));
		}
		for (uint64_t v : tc.reject) {
			Msg r = M(VOTE_RESP, v, 1, 1);
			r.reject = 1;
			EXPECT_EQ(SN_OK, net.Inject(r));
		}
		sn_engine_status st = net.St(1);
		EXPECT_EQ(tc.want, st.role) << role_name(st.role);
		EXPECT_EQ(1u, st.term);
		if (tc.want == SN_ROLE_LEADER) {
			EXPECT_EQ(1u, st.leader);
		}
	}
}

/* "Each server will vote for at most one candidate in a given term, on a
 * first-come-first-served basis" - and the vote survives a restart. */
TEST(RaftPaper, Sec5_2_FollowerVotesFirstComeFirstServed)
{
	Net net(Ids(3), Config::Plain());

	ASSERT_EQ(SN_OK, net.Inject(M(VOTE, 2, 1, 1)));
	std::vector<Msg> out = net.TakeSent();
	const Msg *r = FindOne(out, VOTE_RESP, 2);
	ASSERT_NE(nullptr, r) << Dump(out);
	EXPECT_EQ(0, r->reject);
	EXPECT_EQ(1u, r->term);
	EXPECT_TRUE(r->after_persist) << "a vote must be durable before it is sent";
	EXPECT_EQ(2u, net.node(1).hs.vote);
	EXPECT_EQ(1u, net.node(1).hs.term);

	ASSERT_EQ(SN_OK, net.Inject(M(VOTE, 3, 1, 1)));
	out = net.TakeSent();
	r = FindOne(out, VOTE_RESP, 3);
	ASSERT_NE(nullptr, r) << Dump(out);
	EXPECT_EQ(1, r->reject) << "second candidate in the same term";
	EXPECT_EQ(2u, net.St(1).vote);

	/* The same candidate asking again (a retry) gets the same answer. */
	ASSERT_EQ(SN_OK, net.Inject(M(VOTE, 2, 1, 1)));
	out = net.TakeSent();
	r = FindOne(out, VOTE_RESP, 2);
	ASSERT_NE(nullptr, r) << Dump(out);
	EXPECT_EQ(0, r->reject);

	/* After a crash the persisted vote still binds. */
	net.Restart(1);
	EXPECT_EQ(2u, net.St(1).vote);
	ASSERT_EQ(SN_OK, net.Inject(M(VOTE, 3, 1, 1)));
	out = net.TakeSent();
	r = FindOne(out, VOTE_RESP, 3);
	ASSERT_NE(nullptr, r) << Dump(out);
	EXPECT_EQ(1, r->reject) << "vote forgotten across a restart";
}

/* "While waiting for votes, a candidate may receive an AppendEntries RPC from
 * another server claiming to be leader. If the leader's term ... is at least
 * as large as the candidate's current term, then the candidate recognizes the
 * leader as legitimate and returns to follower state." */
TEST(RaftPaper, Sec5_2_CandidateFallsBackToFollowerOnAppendFromLeader)
{
	for (uint64_t term : {1, 2}) {
		SCOPED_TRACE("leader term " + std::to_string(term));
		Net net(Ids(3), Config::Plain());
		ASSERT_EQ(SN_OK, net.Campaign(1));
		ASSERT_EQ(SN_ROLE_CANDIDATE, net.Role(1));
		net.Flush();
		net.TakeSent();

		ASSERT_EQ(SN_OK, net.Inject(App(2, 1, term, 0, 0, {}, 0)));
		sn_engine_status st = net.St(1);
		EXPECT_EQ(SN_ROLE_FOLLOWER, st.role);
		EXPECT_EQ(term, st.term);
		EXPECT_EQ(2u, st.leader);
		const Msg *r = FindOne(net.sent, APP_RESP, 2);
		ASSERT_NE(nullptr, r) << Dump(net.sent);
		EXPECT_EQ(0, r->reject);
	}
	/* A HEARTBEAT of the candidate's term does the same. */
	Net net(Ids(3), Config::Plain());
	ASSERT_EQ(SN_OK, net.Campaign(1));
	net.Flush();
	ASSERT_EQ(SN_OK, net.Inject(M(HEARTBEAT, 3, 1, 1)));
	EXPECT_EQ(SN_ROLE_FOLLOWER, net.Role(1));
	EXPECT_EQ(3u, net.St(1).leader);
}

/* "Raft uses randomized election timeouts ... chosen randomly from a fixed
 * interval" - here [election_ticks, 2 * election_ticks). */
TEST(RaftPaper, Sec5_2_ElectionTimeoutsRandomized)
{
	for (unsigned E : {10u, 5u}) {
		std::set<int> seen;
		for (uint64_t seed = 1; seed <= 100; seed++) {
			Config c = Config::Plain();
			c.election = E;
			c.seed = seed * 7919;
			Net net(Ids(3), c);
			int t = TicksToCampaign(net, 1, 3 * E);
			ASSERT_GE(t, (int)E) << "seed " << seed;
			ASSERT_LT(t, (int)(2 * E)) << "seed " << seed;
			seen.insert(t);
		}
		EXPECT_GE(seen.size(), E / 2)
			<< "timeouts barely vary for election_ticks " << E;
	}
}

namespace {
struct RandHook {
	uint64_t value = 0;
	int calls = 0;
};
uint64_t HookRand(void *ud)
{
	auto *h = static_cast<RandHook *>(ud);
	h->calls++;
	return h->value;
}
} // namespace

/* Randomness comes from the injected hook when one is given. */
TEST(RaftPaper, Sec5_2_ElectionTimeoutUsesInjectedRandomness)
{
	const unsigned E = 8;
	const uint64_t voters[] = {1, 2, 3};
	std::set<int> seen;
	int total_calls = 0;
	for (uint64_t v = 0; v < 4 * E; v++) {
		RandHook h;
		h.value = v * 0x9e3779b97f4a7c15ULL;
		sn_raft_options o;
		ASSERT_EQ(SN_OK, sn_raft_options_init(&o, SN_RAFT_OPTIONS_VERSION));
		o.id = 1;
		o.voters = voters;
		o.n_voters = 3;
		o.election_ticks = E;
		o.disable_pre_vote = 1;
		o.rand = HookRand;
		o.rand_userdata = &h;
		sn_engine *e = nullptr;
		ASSERT_EQ(SN_OK, sn_raft_new(&e, &o));
		int t = 0;
		sn_engine_status st;
		do {
			sn_engine_tick(e);
			t++;
			sn_engine_get_status(&st, e);
		} while (st.role == SN_ROLE_FOLLOWER && t < (int)(3 * E));
		sn_engine_free(e);
		EXPECT_GE(t, (int)E);
		EXPECT_LT(t, (int)(2 * E));
		seen.insert(t);
		total_calls += h.calls;
	}
	EXPECT_GT(total_calls, 0) << "the rand hook was never called";
	EXPECT_GE(seen.size(), 2u) << "the hook's value has no influence";
}

/* Randomization makes split votes rare: in most rounds a single server times
 * out first (etcd: TestFollowersElectionTimeoutNonconflict). */
TEST(RaftPaper, Sec5_2_ElectionTimeoutsRarelyConflict)
{
	const int trials = 300;
	int conflicts = 0;
	for (int trial = 0; trial < trials; trial++) {
		Config c = Config::Plain();
		c.seed = 1000 + trial * 16;
		Net net(Ids(5), c);
		std::map<int, int> at;
		for (uint64_t id = 1; id <= 5; id++)
			at[TicksToCampaign(net, id, 3 * c.election)]++;
		if (at.begin()->second > 1)
			conflicts++;
	}
	/* Uniform timeouts over 10 ticks for 5 servers tie ~23% of the time. */
	EXPECT_LT(conflicts, trials * 35 / 100) << conflicts << " of " << trials;
}

/* Sanity: a fresh cluster elects exactly one leader by ticking alone. */
TEST(RaftPaper, Sec5_2_ClusterElectsOneLeaderByTicking)
{
	for (bool plain : {true, false}) {
		Net net(Ids(5), plain ? Config::Plain() : Config());
		int ticks = 0;
		while (!net.Leader() && ticks < 100) {
			net.TickAll();
			ticks++;
		}
		uint64_t l = net.Leader();
		ASSERT_NE(0u, l) << "no leader after " << ticks << " ticks";
		net.TickAll(3);
		int leaders = 0;
		for (uint64_t id = 1; id <= 5; id++) {
			sn_engine_status st = net.St(id);
			leaders += st.role == SN_ROLE_LEADER;
			EXPECT_EQ(l, st.leader) << "member " << id;
			EXPECT_EQ(net.Term(l), st.term) << "member " << id;
		}
		EXPECT_EQ(1, leaders);
	}
}

/* ------------------------------------------------------------------ 5.3 */

/* "The leader appends the command to its log as a new entry, then issues
 * AppendEntries RPCs in parallel to each of the other servers." */
TEST(RaftPaper, Sec5_3_LeaderAppendsAndReplicates)
{
	Net net(Ids(3), Config::Plain());
	ASSERT_TRUE(net.Elect(1));
	net.TakeSent();
	sn_engine_status before = net.St(1);
	ASSERT_EQ(1u, before.last_index);
	ASSERT_EQ(1u, before.commit);

	uint64_t idx = 0;
	ASSERT_EQ(SN_OK, net.Propose(1, "foo", &idx));
	EXPECT_EQ(2u, idx);
	ASSERT_FALSE(net.node(1).writes.empty());
	EXPECT_EQ(std::vector<Ent>{E(2, 1, "foo")}, net.node(1).writes.back());

	std::vector<Msg> out = net.TakeSent();
	for (uint64_t to : {2, 3}) {
		const Msg *a = FindOne(out, APP, to);
		ASSERT_NE(nullptr, a) << Dump(out);
		EXPECT_FALSE(a->after_persist)
			<< "the leader replicates while it writes its own log";
		EXPECT_EQ(1u, a->term);
		EXPECT_EQ(1u, a->index);
		EXPECT_EQ(1u, a->log_term);
		EXPECT_EQ(1u, a->commit);
		EXPECT_EQ(std::vector<Ent>{E(2, 1, "foo")}, a->entries);
	}
	net.Deliver();
	for (uint64_t id : {1, 2, 3}) {
		EXPECT_EQ(net.node(1).log, net.node(id).log) << "member " << id;
	}
	EXPECT_EQ(2u, net.St(1).commit);
	EXPECT_EQ(std::vector<std::string>{"foo"}, net.node(1).AppliedData());
}

/* "A log entry is committed once the leader that created the entry has
 * replicated it on a majority of the servers." */
TEST(RaftPaper, Sec5_3_LeaderCommitsOnceMajorityAcks)
{
	struct Case {
		int size;
		std::set<uint64_t> acks;
		bool commit;
	} cases[] = {
		{1, {}, true},        {3, {}, false},        {3, {2}, true},
		{3, {2, 3}, true},    {5, {}, false},        {5, {2}, false},
		{5, {2, 3}, true},    {5, {2, 3, 4, 5}, true},
	};
	for (const Case &tc : cases) {
		SCOPED_TRACE("size " + std::to_string(tc.size) + " acks " +
			     std::to_string(tc.acks.size()));
		Net net(Ids(tc.size), Config::Plain());
		ASSERT_TRUE(net.Elect(1));
		std::set<uint64_t> acks = tc.acks;
		net.filter = [acks](const Msg &m) {
			return m.type == APP && !acks.count(m.to) ? Net::kDrop
								   : Net::kDeliver;
		};
		uint64_t idx = 0;
		ASSERT_EQ(SN_OK, net.Propose(1, "x", &idx));
		net.Deliver();
		sn_engine_status st = net.St(1);
		EXPECT_EQ(tc.commit, st.commit >= idx) << "commit " << st.commit;
		std::vector<std::string> want;
		if (tc.commit)
			want.push_back("x");
		EXPECT_EQ(want, net.node(1).AppliedData());
	}
}

/* The leader's own copy counts toward the majority only once it is durable
 * (sn_engine_persisted), and nothing is applied before it is durable. */
TEST(RaftPaper, Sec5_3_LeaderCountsItsOwnEntryOnlyOnceDurable)
{
	Net net(Ids(3), Config::Plain());
	ASSERT_TRUE(net.Elect(1));
	net.node(1).hold_persist = true;
	net.filter = [](const Msg &m) {
		return m.type == APP && m.to == 3 ? Net::kDrop : Net::kDeliver;
	};
	uint64_t idx = 0;
	ASSERT_EQ(SN_OK, net.Propose(1, "x", &idx));
	net.Deliver();
	EXPECT_LT(net.St(1).commit, idx)
		<< "leader + 1 of 3 with the leader's copy not yet durable";
	net.Release(1);
	net.Deliver();
	EXPECT_EQ(idx, net.St(1).commit);
	EXPECT_EQ(std::vector<std::string>{"x"}, net.node(1).AppliedData());

	/* Both followers ack: committed by the followers alone, but the leader
	 * must not hand the entry out to apply before its own copy is durable. */
	net.filter = nullptr;
	ASSERT_EQ(SN_OK, net.Propose(1, "y", &idx));
	net.Deliver();
	EXPECT_EQ(idx, net.St(1).commit);
	EXPECT_LT(net.node(1).applied, idx);
	EXPECT_EQ(std::vector<std::string>{"x"}, net.node(1).AppliedData());
	net.Release(1);
	EXPECT_EQ(idx, net.node(1).applied);
	EXPECT_EQ((std::vector<std::string>{"x", "y"}), net.node(1).AppliedData());
}

/* "When the leader commits an entry, it also commits all preceding entries
 * in the leader's log, including entries created by previous leaders." */
TEST(RaftPaper, Sec5_3_LeaderCommitsPrecedingEntries)
{
	std::vector<std::vector<uint64_t>> logs = {{}, {2}, {1, 2}, {1}, {1, 1, 2}};
	for (const auto &terms : logs) {
		SCOPED_TRACE("leader log of " + std::to_string(terms.size()));
		Net net(Ids(3), Config::Plain());
		std::vector<Ent> log = LogOfTerms(terms);
		net.Restore(1, {2, 0, 0}, log);
		ASSERT_TRUE(net.Elect(1));
		ASSERT_EQ(3u, net.Term(1));
		net.Deliver();
		std::vector<Ent> want = log;
		want.push_back(E(log.size() + 1, 3, "", SN_ENTRY_NOOP));
		EXPECT_EQ(want.size(), net.St(1).commit);
		EXPECT_EQ(want, net.node(1).committed);
	}
}

/* "Once a follower learns that a log entry is committed, it applies the
 * entry to its local state machine (in log order)." */
TEST(RaftPaper, Sec5_3_FollowerCommitFromLeader)
{
	Net net(Ids(3), Config::Plain());
	ASSERT_EQ(SN_OK, net.Inject(App(2, 1, 1, 0, 0,
					 {E(0, 1, "a"), E(0, 1, "b"), E(0, 1, "c")},
					 1)));
	EXPECT_EQ(1u, net.St(1).commit);
	EXPECT_EQ(std::vector<std::string>{"a"}, net.node(1).AppliedData());

	ASSERT_EQ(SN_OK, net.Inject(App(2, 1, 1, 3, 1, {}, 2)));
	EXPECT_EQ(2u, net.St(1).commit);
	EXPECT_EQ((std::vector<std::string>{"a", "b"}), net.node(1).AppliedData());

	Msg hb = M(HEARTBEAT, 2, 1, 1);
	hb.commit = 3;
	ASSERT_EQ(SN_OK, net.Inject(hb));
	EXPECT_EQ(3u, net.St(1).commit);
	EXPECT_EQ((std::vector<std::string>{"a", "b", "c"}),
		  net.node(1).AppliedData());

	/* A commit index beyond the follower's log is never taken as is. */
	hb.commit = 9;
	net.Inject(hb);
	EXPECT_LE(net.St(1).commit, net.St(1).last_index);
}

/* A follower never commits past what the leader's message proves it holds:
 * commit = min(leader commit, index of the last new entry). */
TEST(RaftPaper, Sec5_3_FollowerCommitIsCappedAtLastNewEntry)
{
	Net net(Ids(3), Config::Plain());
	/* The follower holds a stale entry 2 of term 1 it would wrongly commit. */
	net.Restore(1, {1, 0, 0}, LogOfTerms({1, 1}));
	ASSERT_EQ(SN_OK, net.Inject(App(2, 1, 2, 0, 0, {E(0, 1, "i1t1")}, 5)));
	EXPECT_EQ(1u, net.St(1).commit);
	EXPECT_EQ(1u, net.node(1).applied);
}

/* The leader's heartbeat tells each follower min(leader commit, its match),
 * so a lagging follower never commits entries it does not hold. */
TEST(RaftPaper, Sec5_3_HeartbeatCommitIsCappedAtMatch)
{
	Net net(Ids(3), Config::Plain());
	ASSERT_TRUE(net.Elect(1));
	net.filter = [](const Msg &m) {
		return m.type == APP && m.to == 3 ? Net::kDrop : Net::kDeliver;
	};
	uint64_t idx = 0;
	ASSERT_EQ(SN_OK, net.Propose(1, "x", &idx));
	net.Deliver();
	ASSERT_EQ(idx, net.St(1).commit);
	net.TakeSent();
	net.Tick(1);
	const Msg *to2 = FindOne(net.sent, HEARTBEAT, 2);
	const Msg *to3 = FindOne(net.sent, HEARTBEAT, 3);
	ASSERT_NE(nullptr, to2) << Dump(net.sent);
	ASSERT_NE(nullptr, to3) << Dump(net.sent);
	EXPECT_EQ(idx, to2->commit);
	EXPECT_EQ(idx - 1, to3->commit);
}

/* "If the follower does not find an entry in its log with the same index and
 * term, then it refuses the new entries." The reply carries the rejected
 * prev index and a hint no larger than the follower's last index (exactly
 * its last index when the leader's prev is beyond the follower's log). */
TEST(RaftPaper, Sec5_3_FollowerChecksPrevLogMatch)
{
	struct Case {
		uint64_t prev, prev_term;
		bool reject;
	} cases[] = {
		{0, 0, false}, {1, 1, false}, {2, 2, false},
		{2, 1, true},  {3, 3, true},  {1, 2, true},
	};
	for (const Case &tc : cases) {
		SCOPED_TRACE("prev " + std::to_string(tc.prev) + "/" +
			     std::to_string(tc.prev_term));
		Net net(Ids(3), Config::Plain());
		net.Restore(1, {2, 0, 0}, LogOfTerms({1, 2}));
		ASSERT_EQ(SN_OK, net.Inject(App(2, 1, 3, tc.prev, tc.prev_term, {}, 0)));
		const Msg *r = FindOne(net.sent, APP_RESP, 2);
		ASSERT_NE(nullptr, r) << Dump(net.sent);
		EXPECT_EQ(3u, r->term);
		EXPECT_EQ(tc.reject, r->reject != 0);
		EXPECT_EQ(tc.prev, r->index);
		if (tc.reject) {
			EXPECT_LE(r->hint, 2u) << "hint beyond the follower's log";
			if (tc.prev > 2) {
				EXPECT_EQ(2u, r->hint);
			}
		} else {
			EXPECT_TRUE(r->after_persist);
		}
		EXPECT_EQ(LogOfTerms({1, 2}), net.node(1).log);
		EXPECT_EQ(2u, net.St(1).leader);
	}
}

/* "If an existing entry conflicts with a new one (same index but different
 * terms), delete the existing entry and all that follow it. Append any new
 * entries not already in the log." */
TEST(RaftPaper, Sec5_3_FollowerAppendsAndTruncatesConflicts)
{
	struct Case {
		uint64_t prev, prev_term;
		std::vector<Ent> ents;
		std::vector<Ent> want;
	} cases[] = {
		{2, 2, {E(3, 3, "n3")}, {E(1, 1, "i1t1"), E(2, 2, "i2t2"), E(3, 3, "n3")}},
		{1, 1, {E(2, 3, "n2"), E(3, 4, "n3")},
		 {E(1, 1, "i1t1"), E(2, 3, "n2"), E(3, 4, "n3")}},
		{0, 0, {E(1, 1, "i1t1")}, {E(1, 1, "i1t1"), E(2, 2, "i2t2")}},
		{0, 0, {E(1, 3, "n1")}, {E(1, 3, "n1")}},
		{1, 1, {E(2, 2, "i2t2"), E(3, 4, "n3")},
		 {E(1, 1, "i1t1"), E(2, 2, "i2t2"), E(3, 4, "n3")}},
	};
	int n = 0;
	for (const Case &tc : cases) {
		SCOPED_TRACE("case " + std::to_string(n++));
		Net net(Ids(3), Config::Plain());
		net.Restore(1, {2, 0, 0}, LogOfTerms({1, 2}));
		ASSERT_EQ(SN_OK, net.Inject(App(2, 1, 4, tc.prev, tc.prev_term,
						 tc.ents, 0)));
		EXPECT_EQ(tc.want, net.node(1).log);
		sn_engine_status st = net.St(1);
		EXPECT_EQ(tc.want.size(), st.last_index);
		EXPECT_EQ(tc.want.back().term, st.last_term);
		const Msg *r = FindOne(net.sent, APP_RESP, 2);
		ASSERT_NE(nullptr, r) << Dump(net.sent);
		EXPECT_EQ(0, r->reject);
		EXPECT_EQ(tc.prev + tc.ents.size(), r->index);
		EXPECT_TRUE(r->after_persist);
	}
}

/* Figure 7: whatever the follower's log looks like, the leader brings it to
 * exactly its own. */
TEST(RaftPaper, Sec5_3_LeaderSyncsFollowerLogs)
{
	std::vector<uint64_t> leader = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6};
	std::vector<std::vector<uint64_t>> followers = {
		{1, 1, 1, 4, 4, 5, 5, 6, 6},             /* a */
		{1, 1, 1, 4},                            /* b */
		{1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6},       /* c */
		{1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7},    /* d */
		{1, 1, 1, 4, 4, 4, 4},                   /* e */
		{1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3},       /* f */
	};
	char name = 'a';
	for (const auto &f : followers) {
		SCOPED_TRACE(std::string("follower ") + name++);
		Net net(Ids(3), Config::Plain());
		net.Restore(1, {8, 0, 0}, LogOfTerms(leader));
		net.Restore(2, {7, 0, 0}, LogOfTerms(f));
		net.Restore(3, {7, 0, 0}, {});
		ASSERT_TRUE(net.Elect(1));
		ASSERT_EQ(9u, net.Term(1));
		for (int i = 0; i < 5; i++) {
			net.Tick(1);
			net.Deliver();
		}
		std::vector<Ent> want = LogOfTerms(leader);
		want.push_back(E(11, 9, "", SN_ENTRY_NOOP));
		EXPECT_EQ(want, net.node(1).log);
		EXPECT_EQ(want, net.node(2).log);
		EXPECT_EQ(want, net.node(3).log);
		EXPECT_EQ(11u, net.St(2).commit);
		EXPECT_EQ(want, net.node(2).committed);
	}
}

/* "The leader keeps retrying AppendEntries until the follower's log is
 * consistent" - a follower that missed entries catches up after it returns. */
TEST(RaftPaper, Sec5_5_LeaderRetriesUntilFollowerCatchesUp)
{
	Net net(Ids(3), Config::Plain());
	ASSERT_TRUE(net.Elect(1));
	net.Isolate(3);
	for (const char *d : {"a", "b", "c"}) {
		ASSERT_EQ(SN_OK, net.Propose(1, d));
	}
	net.Deliver();
	ASSERT_EQ(4u, net.St(1).commit);
	EXPECT_EQ(1u, net.St(3).last_index);

	net.Heal();
	int ticks = 0;
	while (net.node(3).log != net.node(1).log && ticks < 10) {
		net.Tick(1);
		net.Deliver();
		ticks++;
	}
	EXPECT_EQ(net.node(1).log, net.node(3).log) << "after " << ticks << " ticks";
	net.Tick(1);
	net.Deliver();
	EXPECT_EQ((std::vector<std::string>{"a", "b", "c"}), net.node(3).AppliedData());
}

/* ---------------------------------------------------------------- 5.4.1 */

/* RequestVote carries the candidate's last log index and term. */
TEST(RaftPaper, Sec5_4_1_CandidateSendsLastLogInVote)
{
	Net net(Ids(3), Config::Plain());
	net.Restore(1, {2, 0, 0}, LogOfTerms({1, 2}));
	ASSERT_EQ(SN_OK, net.Campaign(1));
	for (uint64_t to : {2, 3}) {
		const Msg *v = FindOne(net.sent, VOTE, to);
		ASSERT_NE(nullptr, v) << Dump(net.sent);
		EXPECT_EQ(3u, v->term);
		EXPECT_EQ(2u, v->index);
		EXPECT_EQ(2u, v->log_term);
	}
}

/* "The voter denies its vote if its own log is more up-to-date than that of
 * the candidate": later last term wins, then the longer log. */
TEST(RaftPaper, Sec5_4_1_VoterRejectsCandidateWithStaleLog)
{
	struct Case {
		std::vector<uint64_t> voter;
		uint64_t log_term, index;
		bool reject;
	} cases[] = {
		{{1}, 1, 1, false},    {{1}, 1, 2, false},    {{1}, 2, 1, false},
		{{1}, 0, 0, true},     {{1, 1}, 1, 1, true},  {{1, 1}, 2, 1, false},
		{{2}, 1, 1, true},     {{2}, 1, 5, true},     {{2}, 2, 1, false},
		{{2}, 3, 1, false},    {{1, 2}, 2, 1, true},  {{1, 2}, 2, 2, false},
		{{}, 0, 0, false},
	};
	for (const Case &tc : cases) {
		SCOPED_TRACE("voter log of " + std::to_string(tc.voter.size()) +
			     ", candidate " + std::to_string(tc.index) + "@t" +
			     std::to_string(tc.log_term));
		Net net(Ids(3), Config::Plain());
		net.Restore(1, {2, 0, 0}, LogOfTerms(tc.voter));
		Msg v = M(VOTE, 2, 1, 3);
		v.index = tc.index;
		v.log_term = tc.log_term;
		ASSERT_EQ(SN_OK, net.Inject(v));
		const Msg *r = FindOne(net.sent, VOTE_RESP, 2);
		ASSERT_NE(nullptr, r) << Dump(net.sent);
		EXPECT_EQ(tc.reject, r->reject != 0);
		EXPECT_EQ(3u, r->term);
		EXPECT_EQ(3u, net.Term(1));
		EXPECT_EQ(tc.reject ? 0u : 2u, net.St(1).vote);
		EXPECT_EQ(tc.reject ? 0u : 2u, net.node(1).hs.vote);
	}
}

/* Election restriction end to end: a member that missed committed entries
 * cannot win; one that has them can, and keeps them. */
TEST(RaftPaper, Sec5_4_1_OnlyUpToDateCandidateCanWin)
{
	Net net(Ids(3), Config::Plain());
	ASSERT_TRUE(net.Elect(1));
	net.Isolate(3);
	ASSERT_EQ(SN_OK, net.Propose(1, "a"));
	ASSERT_EQ(SN_OK, net.Propose(1, "b"));
	net.Deliver();
	ASSERT_EQ(3u, net.St(1).commit);
	net.Heal();
	net.down.insert(1); /* the leader crashes */

	EXPECT_FALSE(net.Elect(3)) << "member 3 lacks committed entries";
	EXPECT_NE(SN_ROLE_LEADER, net.Role(2));
	EXPECT_TRUE(net.Elect(2));
	for (int i = 0; i < 3; i++) {
		net.Tick(2);
		net.Deliver();
	}
	std::vector<std::string> want = {"a", "b"};
	EXPECT_EQ(want, net.node(2).AppliedData());
	EXPECT_EQ(want, net.node(3).AppliedData());
	EXPECT_EQ(net.node(2).log, net.node(3).log);
}

/* ---------------------------------------------------------------- 5.4.2 */

/* Figure 8: "Raft never commits log entries from previous terms by counting
 * replicas. Only log entries from the leader's current term are committed by
 * counting replicas." */
TEST(RaftPaper, Sec5_4_2_LeaderOnlyCommitsCurrentTermEntriesByCounting)
{
	struct Case {
		uint64_t acked;
		uint64_t commit;
	} cases[] = {{1, 0}, {2, 0}, {3, 3}};
	for (const Case &tc : cases) {
		SCOPED_TRACE("member 2 acks " + std::to_string(tc.acked));
		Net net(Ids(3), Config::Plain());
		net.Restore(1, {2, 0, 0}, LogOfTerms({1, 2}));
		net.Restore(3, {2, 0, 0}, {});
		/* Member 3 only votes; member 2's acks are hand-made. */
		net.filter = [](const Msg &m) {
			return m.type == VOTE || m.type == VOTE_RESP ? Net::kDeliver
								     : Net::kDrop;
		};
		ASSERT_TRUE(net.Elect(1));
		ASSERT_EQ(3u, net.Term(1));
		ASSERT_EQ(3u, net.St(1).last_index);
		EXPECT_EQ(0u, net.St(1).commit);

		Msg ack = M(APP_RESP, 2, 1, 3);
		ack.index = tc.acked;
		ASSERT_EQ(SN_OK, net.Inject(ack));
		EXPECT_EQ(tc.commit, net.St(1).commit);
		if (tc.commit) {
			std::vector<Ent> want = LogOfTerms({1, 2});
			want.push_back(E(3, 3, "", SN_ENTRY_NOOP));
			EXPECT_EQ(want, net.node(1).committed)
				<< "earlier entries commit with the current one";
		} else {
			EXPECT_TRUE(net.node(1).committed.empty());
		}
	}
}

/* The same rule in the full Figure 8 run: the old-term entry replicated on a
 * majority is not committed, so a later leader may legally replace it. */
TEST(RaftPaper, Sec5_4_2_Figure8OldEntryOnMajorityIsNotCommitted)
{
	Net net(Ids(5), Config::Plain());
	ASSERT_TRUE(net.Elect(1)); /* term 1, noop at 1 everywhere */
	/* (a) S1 writes entry 2 and replicates it to S2 only. */
	net.filter = [](const Msg &m) {
		return m.type == APP && m.to != 2 ? Net::kDrop : Net::kDeliver;
	};
	ASSERT_EQ(SN_OK, net.Propose(1, "a"));
	net.Deliver();
	ASSERT_EQ(1u, net.St(1).commit);
	/* (b) S1 crashes; S5 wins term 2 with S3, S4 and writes its own entry 2
	 * (its noop) without replicating it. */
	net.down.insert(1);
	net.filter = [](const Msg &m) {
		return m.type == APP ? Net::kDrop : Net::kDeliver;
	};
	ASSERT_TRUE(net.Elect(5));
	ASSERT_EQ(2u, net.Term(5));
	/* (c) S5 crashes; S1 restarts and is elected by S2, S3, S4 in term 3;
	 * it sends S3 only entry 2 of term 1 (not its term-3 noop). */
	net.down = {5};
	net.Restart(1);
	ASSERT_EQ(SN_OK, net.Campaign(1));
	net.Deliver();
	if (net.Role(1) != SN_ROLE_LEADER) { /* S3, S4 voted in term 2 */
		ASSERT_TRUE(net.Elect(1));
	}
	uint64_t t1 = net.Term(1);
	ASSERT_GE(t1, 3u);
	net.Flush();
	ASSERT_EQ(SN_OK, net.Inject(App(1, 3, t1, 1, 1, {E(0, 1, "a")}, 1)));
	Msg ack3 = M(APP_RESP, 3, 1, t1);
	ack3.index = 2;
	ASSERT_EQ(SN_OK, net.Inject(ack3));
	Msg ack2 = M(APP_RESP, 2, 1, t1);
	ack2.index = 2;
	ASSERT_EQ(SN_OK, net.Inject(ack2));
	/* Entry 2 (term 1) is on S1, S2, S3: a majority, but not committed. */
	EXPECT_LT(net.St(1).commit, 2u)
		<< "entry of an earlier term committed by counting replicas";
	EXPECT_TRUE(net.node(1).AppliedData().empty());
}
