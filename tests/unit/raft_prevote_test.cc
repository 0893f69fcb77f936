/*
 * raft_prevote_test.cc - PreVote and CheckQuorum (both on, the default):
 * a pre-candidate keeps its term, partitioned members do not disrupt a
 * healthy leader, a leader without a quorum steps down, followers in a
 * leader's lease ignore votes, and a cluster whose members disagree about
 * the term still elects a leader (etcd #8243, #8501).
 */
#include "raft_harness.h"

using namespace sntest;

namespace {

/* Tick member `id` alone until its election timeout fires. */
void TimeOut(Net &net, uint64_t id)
{
	for (unsigned t = 0; t < 2 * net.cfg.election; t++) {
		if (net.Role(id) != SN_ROLE_FOLLOWER)
			return;
		net.Tick(id);
	}
	EXPECT_NE(SN_ROLE_FOLLOWER, net.Role(id)) << "no election timeout";
}

/* TickAll until a leader exists; the number of ticks or -1. */
int TicksToLeader(Net &net, int max)
{
	for (int t = 0; t <= max; t++) {
		if (net.Leader())
			return t;
		net.TickAll();
	}
	return -1;
}

} // namespace

/* A pre-candidate asks with term + 1 but does not change its own term or
 * vote; granting a PreVote changes nothing on the voter either. */
TEST(RaftPreVote, PreCandidateKeepsItsTerm)
{
	Net net(Ids(3));
	net.filter = [](const Msg &m) {
		return m.type == PREVOTE ? Net::kDeliver : Net::kHold;
	};
	TimeOut(net, 1);
	sn_engine_status st = net.St(1);
	EXPECT_EQ(SN_ROLE_PRECANDIDATE, st.role);
	EXPECT_EQ(0u, st.term);
	EXPECT_EQ(0u, st.vote);
	EXPECT_EQ(0u, net.node(1).hs.term);
	EXPECT_EQ(0u, Count(net.sent, VOTE));
	for (const Msg &m : Filter(net.sent, PREVOTE, 1)) {
		EXPECT_EQ(1u, m.term);
		EXPECT_FALSE(m.after_persist) << "nothing to persist for a PreVote";
	}
	EXPECT_EQ(2u, Count(net.sent, PREVOTE, 1));

	net.Deliver();
	for (uint64_t v : {2, 3}) {
		EXPECT_EQ(0u, net.Term(v)) << "a PreVote request changed a term";
		EXPECT_EQ(0u, net.St(v).vote);
	}
	std::vector<Msg> resps = Filter(net.held, PREVOTE_RESP);
	ASSERT_EQ(2u, resps.size()) << Dump(net.sent);
	for (const Msg &r : resps) {
		EXPECT_EQ(0, r.reject) << r;
		EXPECT_FALSE(r.after_persist) << r;
	}

	net.filter = nullptr;
	net.ReleaseHeld();
	net.Deliver();
	EXPECT_EQ(SN_ROLE_LEADER, net.Role(1));
	EXPECT_EQ(1u, net.Term(1));
}

/* A member with a stale log fails its PreVote and nobody's term moves. */
TEST(RaftPreVote, FailedPreVoteBumpsNoTerm)
{
	Net net(Ids(3));
	net.Restore(1, {1, 0, 1}, LogOfTerms({1}));
	net.Restore(2, {1, 0, 1}, LogOfTerms({1, 1}));
	net.Restore(3, {1, 0, 1}, LogOfTerms({1, 1}));
	TimeOut(net, 1);
	net.Deliver();
	EXPECT_NE(SN_ROLE_LEADER, net.Role(1));
	for (uint64_t id : {1, 2, 3}) {
		EXPECT_EQ(1u, net.Term(id)) << "member " << id;
	}
	std::vector<Msg> resps = Filter(net.sent, PREVOTE_RESP);
	ASSERT_EQ(2u, resps.size()) << Dump(net.sent);
	for (const Msg &r : resps) {
		EXPECT_EQ(1, r.reject);
	}
}

/* A quorum of granted PreVotes makes a real candidate: term + 1, self vote. */
TEST(RaftPreVote, GrantedPreVotesLeadToCandidacy)
{
	Net net(Ids(3));
	TimeOut(net, 1);
	ASSERT_EQ(SN_ROLE_PRECANDIDATE, net.Role(1));
	net.Flush();
	net.TakeSent();
	ASSERT_EQ(SN_OK, net.Inject(M(PREVOTE_RESP, 2, 1, 1)));
	sn_engine_status st = net.St(1);
	EXPECT_EQ(SN_ROLE_CANDIDATE, st.role);
	EXPECT_EQ(1u, st.term);
	EXPECT_EQ(1u, st.vote);
	EXPECT_EQ(2u, Count(net.sent, VOTE, 1)) << Dump(net.sent);
}

/* Grants from an earlier PreVote round do not count toward a later one. */
TEST(RaftPreVote, StaleGrantsFromAnEarlierRoundDoNotCount)
{
	Net net(Ids(5));
	TimeOut(net, 1);
	ASSERT_EQ(SN_ROLE_PRECANDIDATE, net.Role(1));
	/* Members 2 and 3 grant round one: candidate in term 1; its VOTEs are
	 * lost and it falls back to a second PreVote round (term 2). */
	net.filter = [](const Msg &m) {
		if (m.type == PREVOTE_RESP && (m.from == 4 || m.from == 5))
			return Net::kHold;
		return m.type == VOTE ? Net::kDrop : Net::kDeliver;
	};
	net.Deliver();
	ASSERT_EQ(SN_ROLE_CANDIDATE, net.Role(1));
	ASSERT_EQ(1u, net.Term(1));
	for (unsigned t = 0; t < 2 * net.cfg.election &&
			     net.Role(1) == SN_ROLE_CANDIDATE; t++)
		net.Tick(1);
	ASSERT_EQ(SN_ROLE_PRECANDIDATE, net.Role(1));
	ASSERT_EQ(1u, net.Term(1));
	net.Flush();

	/* Round one's late grants from 4 and 5 arrive now. */
	ASSERT_EQ(2u, net.held.size());
	net.filter = nullptr;
	net.ReleaseHeld();
	net.Deliver();
	EXPECT_EQ(SN_ROLE_PRECANDIDATE, net.Role(1))
		<< "won round two with grants of round one";
	EXPECT_EQ(1u, net.Term(1));
}

/* "Lower-term PREVOTE: rejected with the receiver's term", so the asker can
 * learn the term it must beat (the fix for etcd #8501). */
TEST(RaftPreVote, LowerTermPreVoteIsRejectedWithTheReceiversTerm)
{
	Net net(Ids(3));
	net.Restore(2, {5, 0, 0}, {});
	Msg pv = M(PREVOTE, 1, 2, 3);
	ASSERT_EQ(SN_OK, net.Inject(pv));
	std::vector<Msg> r = Filter(net.sent, PREVOTE_RESP, 2, 1);
	ASSERT_EQ(1u, r.size()) << Dump(net.sent);
	EXPECT_EQ(1, r[0].reject);
	EXPECT_EQ(5u, r[0].term);
	EXPECT_EQ(5u, net.Term(2));
}

/* A rejected PREVOTE_RESP with a higher term moves the pre-candidate to that
 * term, as a follower. */
TEST(RaftPreVote, RejectionWithHigherTermUpdatesTerm)
{
	Net net(Ids(3));
	TimeOut(net, 1);
	ASSERT_EQ(SN_ROLE_PRECANDIDATE, net.Role(1));
	net.Flush();
	Msg r = M(PREVOTE_RESP, 2, 1, 5);
	r.reject = 1;
	ASSERT_EQ(SN_OK, net.Inject(r));
	EXPECT_EQ(SN_ROLE_FOLLOWER, net.Role(1));
	EXPECT_EQ(5u, net.Term(1));
	EXPECT_EQ(5u, net.node(1).hs.term);
}

/* A partitioned member keeps its term (PreVote fails quietly), so when it
 * comes back the leader is not disturbed. */
TEST(RaftPreVote, PartitionedMemberRejoiningDoesNotDisruptLeader)
{
	Net net(Ids(3));
	ASSERT_TRUE(net.Elect(1));
	uint64_t term = net.Term(1);
	net.Isolate(3);
	for (int i = 0; i < 5; i++) {
		ASSERT_EQ(SN_OK, net.Propose(1, "w" + std::to_string(i)));
		net.TickAll(10);
	}
	EXPECT_EQ(term, net.Term(3)) << "an isolated member raised its term";
	EXPECT_EQ(1u, net.Leader());

	net.Heal();
	net.TickAll(30);
	EXPECT_EQ(1u, net.Leader());
	for (uint64_t id : {1, 2, 3}) {
		EXPECT_EQ(term, net.Term(id)) << "member " << id;
		EXPECT_EQ(1u, net.St(id).leader) << "member " << id;
	}
	EXPECT_EQ(net.node(1).log, net.node(3).log);
	EXPECT_EQ(net.node(1).AppliedData(), net.node(3).AppliedData());
}

/* CheckQuorum: a leader that hears from nobody steps down, after more than
 * election_ticks but within two election timeouts, keeping its term. */
TEST(RaftPreVote, LeaderStepsDownWhenItLosesQuorum)
{
	Config c;
	Net net(Ids(3), c);
	ASSERT_TRUE(net.Elect(1));
	uint64_t term = net.Term(1);
	net.Isolate(1);
	net.Tick(1, c.election - 1);
	EXPECT_EQ(SN_ROLE_LEADER, net.Role(1)) << "stepped down too early";
	int t = c.election - 1;
	while (net.Role(1) == SN_ROLE_LEADER && t < 3 * (int)c.election) {
		net.Tick(1);
		t++;
	}
	EXPECT_LE(t, 2 * (int)c.election) << "leader without quorum kept going";
	sn_engine_status st = net.St(1);
	EXPECT_EQ(SN_ROLE_FOLLOWER, st.role);
	EXPECT_EQ(term, st.term);
	EXPECT_EQ(0u, st.leader);
	EXPECT_EQ(SN_ENOTLEADER, net.Propose(1, "late"));
}

/* ... but a leader that hears from a quorum stays, however long. */
TEST(RaftPreVote, LeaderWithQuorumStays)
{
	Net net(Ids(3));
	ASSERT_TRUE(net.Elect(1));
	net.Isolate(3);
	net.TickAll(60);
	EXPECT_EQ(SN_ROLE_LEADER, net.Role(1));
	EXPECT_EQ(1u, net.Term(1));
}

/* Lease: a follower that heard from its leader within the election timeout
 * ignores VOTE and PREVOTE (no answer, no term change), unless the VOTE is
 * flagged as part of a leader transfer. */
TEST(RaftPreVote, LeaseMakesFollowersIgnoreVotes)
{
	Net net(Ids(3));
	ASSERT_TRUE(net.Elect(1));
	net.TickAll(2);
	uint64_t term = net.Term(1);
	sn_engine_status before = net.St(2);
	net.TakeSent();

	Msg v = M(VOTE, 3, 2, term + 1);
	v.index = before.last_index;
	v.log_term = before.last_term;
	ASSERT_EQ(SN_OK, net.Inject(v));
	Msg pv = M(PREVOTE, 3, 2, term + 1);
	pv.index = before.last_index;
	pv.log_term = before.last_term;
	ASSERT_EQ(SN_OK, net.Inject(pv));
	EXPECT_TRUE(net.sent.empty()) << Dump(net.sent);
	sn_engine_status after = net.St(2);
	EXPECT_EQ(term, after.term);
	EXPECT_EQ(before.vote, after.vote);
	EXPECT_EQ(1u, after.leader);
	EXPECT_EQ(SN_ROLE_FOLLOWER, after.role);

	v.flags = SN__RAFT_FLAG_TRANSFER;
	ASSERT_EQ(SN_OK, net.Inject(v));
	std::vector<Msg> r = Filter(net.sent, VOTE_RESP, 2, 3);
	ASSERT_EQ(1u, r.size()) << Dump(net.sent);
	EXPECT_EQ(0, r[0].reject) << "a transfer vote bypasses the lease";
	EXPECT_EQ(term + 1, net.Term(2));
	EXPECT_EQ(3u, net.St(2).vote);
}

/* etcd #8501: member 1 reached term 5 in an earlier life but has a stale log;
 * member 2 has the longer log but a lower term; member 3 is down. Member 2
 * can only win with member 1's vote, so it must learn term 5 from member 1's
 * rejection of its low-term PreVote. The cluster must elect within a bounded
 * number of ticks. */
TEST(RaftPreVote, HigherTermStaleLogMemberDoesNotWedgeTheCluster)
{
	Net net(Ids(3));
	net.Restore(1, {5, 0, 1}, LogOfTerms({1}));
	net.Restore(2, {2, 0, 3}, LogOfTerms({1, 2, 2}));
	net.down.insert(3);
	int t = TicksToLeader(net, 30 * 10);
	ASSERT_GE(t, 0) << "no leader after 300 ticks: "
			<< StatusStr(net.St(1)) << " " << StatusStr(net.St(2));
	EXPECT_EQ(2u, net.Leader()) << "only member 2 has the committed entries";
	EXPECT_GT(net.Term(2), 5u);
	net.TickAll(3);
	EXPECT_EQ(net.node(2).log, net.node(1).log);
}

/* etcd #8243: member 3 kept term 1 while the others moved to term 5; the
 * leader (member 2) crashes as 3 returns. Member 1's PreVote is granted by 3,
 * and the grant must count although 3's own term is lower. */
TEST(RaftPreVote, SmallerTermMemberCanCompleteElection)
{
	Net net(Ids(3));
	net.Restore(1, {5, 2, 2}, LogOfTerms({1, 5}));
	net.Restore(3, {1, 0, 1}, LogOfTerms({1}));
	net.down.insert(2);
	int t = TicksToLeader(net, 30 * 10);
	ASSERT_GE(t, 0) << "no leader after 300 ticks: "
			<< StatusStr(net.St(1)) << " " << StatusStr(net.St(3));
	EXPECT_EQ(1u, net.Leader());
	net.TickAll(3);
	EXPECT_EQ(net.node(1).log, net.node(3).log);
}
