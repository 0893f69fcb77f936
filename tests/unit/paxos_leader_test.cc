/* The proposer: phase 1, the recovery of accepted values, leadership,
 * commit, timers (docs/paxos.md, "Proposer" and "Leader"). */
#include "paxos_harness.h"

using namespace pxtest;

TEST(PaxosLeader, ElectedLeaderReplicatesAndCommits)
{
	Net net(3);
	net.Elect(1);
	sn_engine_status st = net.N(1).Status();
	EXPECT_EQ(Ballot(1, 0), st.term);
	EXPECT_EQ(1u, st.leader);
	uint64_t idx = net.Propose(1, "hello");
	net.Deliver();
	for (uint64_t id = 1; id <= 3; id++) {
		ASSERT_EQ(1u, net.N(id).applied.size()) << "node " << id;
		EXPECT_EQ(E(idx, Ballot(1, 0), "hello"), net.N(id).applied[0]);
		EXPECT_EQ(1u, net.N(id).Status().leader);
	}
}

TEST(PaxosLeader, BallotsAreRoundAndPositionAndGrowPastWhatWasSeen)
{
	Net net(5);
	net.Elect(4);
	EXPECT_EQ(Ballot(1, 3), net.N(4).Status().term);
	net.Elect(2);
	EXPECT_EQ(Ballot(2, 1), net.N(2).Status().term);
	EXPECT_EQ(SN_ROLE_FOLLOWER, net.N(4).Status().role);
}

/* Recovery: for every slot after its commit, the new leader takes the value
 * accepted at the highest ballot among its promisers. */
TEST(PaxosLeader, RecoveryAdoptsTheHighestBallotValue)
{
	Net net(3);
	net.Elect(1);
	/* Only node 1 itself accepts "old", at ballot 1.0. */
	net.Isolate(1);
	net.Propose(1, "old");
	net.Deliver();
	net.Heal();
	net.Crash(1);
	net.Restart(1);
	ASSERT_EQ(E(1, Ballot(1, 0), "old"), net.Log(1)[0]);
	/* Node 2 leads ballot 2.1 with node 3, which alone accepts "new". */
	net.filter = [](const Msg &m) { return m.to != 1 && m.from != 1; };
	net.Elect(2);
	net.filter = [](const Msg &m) {
		return !(m.m.type == SN__PAXOS_ACCEPTED && m.to == 2) &&
		       m.to != 1 && m.from != 1;
	};
	net.Propose(2, "new");
	net.Deliver();
	ASSERT_EQ(0u, net.N(2).Status().commit);
	ASSERT_EQ(E(1, Ballot(2, 1), "new"), net.Log(3)[0]);
	net.Crash(2);
	/* Node 1 campaigns with node 3: it holds "old" at 1.0 itself, node 3
	 * reports "new" at 2.1: "new" wins, accepted again at 3.0. Its first
	 * ballot (2.0) is below node 3's promise: refused, it learns the
	 * round to beat. */
	net.filter = nullptr;
	ASSERT_EQ(SN_OK, sn_engine_campaign(net.E(1)));
	net.Deliver();
	EXPECT_EQ(SN_ROLE_FOLLOWER, net.N(1).Status().role);
	net.Elect(1);
	EXPECT_EQ(Ballot(3, 0), net.N(1).Status().term);
	auto log = net.Log(1);
	ASSERT_EQ(1u, log.size());
	EXPECT_EQ(E(1, Ballot(3, 0), "new"), log[0]);
	EXPECT_EQ(1u, net.N(1).Status().commit);
	ASSERT_EQ(1u, net.N(3).applied.size());
	EXPECT_EQ("new", net.N(3).applied[0].data);
}

/* An acceptor that knows more chosen slots than the candidate refuses it:
 * the most advanced member leads. */
TEST(PaxosLeader, ACandidateBehindAPromisersCommitCannotLead)
{
	Net net(3);
	net.Elect(1);
	net.Crash(3);
	net.Propose(1, "a");
	net.Deliver();
	net.Tick(1);
	net.Deliver();
	ASSERT_EQ(1u, net.N(2).Status().commit);
	net.Crash(1);
	net.Restart(3); /* commit 0 */
	ASSERT_EQ(SN_OK, sn_engine_campaign(net.E(3)));
	net.Deliver();
	EXPECT_NE(SN_ROLE_LEADER, net.N(3).Status().role);
	net.Elect(2);
	net.Deliver();
	ASSERT_EQ(1u, net.N(3).applied.size());
	EXPECT_EQ("a", net.N(3).applied[0].data);
}

TEST(PaxosLeader, AValueChosenByACrashedLeaderSurvives)
{
	Net net(3);
	net.Elect(1);
	net.Propose(1, "x");
	net.Propose(1, "y");
	net.Deliver();
	ASSERT_EQ(2u, net.N(2).applied.size());
	net.Crash(1);
	net.Elect(3);
	net.Propose(3, "z");
	net.Deliver();
	ASSERT_EQ(3u, net.N(2).applied.size());
	EXPECT_EQ("x", net.N(2).applied[0].data);
	EXPECT_EQ("y", net.N(2).applied[1].data);
	EXPECT_EQ("z", net.N(2).applied[2].data);
	net.Restart(1);
	net.Tick(3, 2);
	net.Deliver();
	EXPECT_EQ(3u, net.N(1).Status().commit);
}

/* A new leader serves no proposal and no read until every recovered slot
 * is chosen. */
TEST(PaxosLeader, NoProposalUntilRecoveredSlotsAreChosen)
{
	Net net(3);
	net.Elect(1);
	net.Propose(1, "a");
	net.Deliver();
	net.Propose(1, "b"); /* accepted by 1 only */
	net.Isolate(1);
	net.Deliver();
	net.Heal();
	net.filter = [](const Msg &m) {
		return !(m.m.type == SN__PAXOS_ACCEPTED && m.to == 2);
	};
	net.Elect(2);
	ASSERT_EQ(SN_ROLE_LEADER, net.N(2).Status().role);
	uint64_t idx;
	EXPECT_EQ(SN_ENOTLEADER, sn_engine_propose(&idx, net.E(2), "c", 1));
	EXPECT_EQ(SN_OK, sn_engine_read_index(net.E(2), 77));
	net.Drain();
	EXPECT_TRUE(net.N(2).reads.empty());
	net.filter = nullptr;
	net.Tick(2, 1);
	net.Deliver();
	EXPECT_EQ(SN_OK, sn_engine_propose(&idx, net.E(2), "c", 1));
	ASSERT_EQ(1u, net.N(2).reads.size());
	EXPECT_EQ(77u, net.N(2).reads[0].ctx);
	EXPECT_EQ(SN_OK, net.N(2).reads[0].status);
}

/* The leader counts its own acceptance only once it is durable. */
TEST(PaxosLeader, OwnAcceptanceCountsOnceDurable)
{
	Net net(3);
	net.Elect(1);
	net.N(1).hold = true;
	net.filter = [](const Msg &m) { return m.to != 3 && m.from != 3; };
	net.Propose(1, "v");
	net.Deliver();
	EXPECT_EQ(0u, net.N(1).Status().commit) << "counted a volatile write";
	net.Flush(1);
	net.N(1).hold = false;
	net.Deliver();
	EXPECT_EQ(1u, net.N(1).Status().commit);
}

TEST(PaxosLeader, UncommittedAndEntryCaps)
{
	Net net(3, [](sn_paxos_options &o) {
		o.max_uncommitted_bytes = 8;
		o.max_entry_bytes = 6;
	});
	net.Elect(1);
	net.Isolate(1);
	uint64_t idx;
	EXPECT_EQ(SN_ETOOLARGE, sn_engine_propose(&idx, net.E(1), "1234567", 7));
	EXPECT_EQ(SN_OK, sn_engine_propose(&idx, net.E(1), "12345", 5));
	EXPECT_EQ(SN_EBUSY, sn_engine_propose(&idx, net.E(1), "12345", 5));
	net.Heal();
	net.Deliver();
	net.Tick(1, 1);
	net.Deliver();
	EXPECT_EQ(SN_OK, sn_engine_propose(&idx, net.E(1), "12345", 5));
}

TEST(PaxosLeader, StaleLeaderStepsDownOnAHigherBallot)
{
	Net net(3);
	net.Elect(1);
	net.Isolate(1);
	net.Elect(2);
	net.Heal();
	net.Propose(1, "stale");
	net.Deliver();
	EXPECT_EQ(SN_ROLE_FOLLOWER, net.N(1).Status().role);
	EXPECT_EQ(0u, net.N(2).Status().commit);
	for (const Ent &e : net.N(2).applied)
		EXPECT_NE("stale", e.data);
}

TEST(PaxosLeader, CheckQuorumStepsDownAnIsolatedLeader)
{
	Net net(3);
	net.Elect(1);
	net.Isolate(1);
	net.Tick(1, 9);
	EXPECT_EQ(SN_ROLE_LEADER, net.N(1).Status().role);
	net.Tick(1, 12);
	EXPECT_NE(SN_ROLE_LEADER, net.N(1).Status().role);
	uint64_t idx;
	EXPECT_EQ(SN_ENOTLEADER, sn_engine_propose(&idx, net.E(1), "x", 1));
}

/* Election timeouts are drawn in [election_ticks, 2 * election_ticks). */
TEST(PaxosLeader, ElectionTimeoutIsRandomizedWithinTheRange)
{
	for (uint64_t seed = 1; seed <= 20; seed++) {
		Net net(3, [seed](sn_paxos_options &o) { o.seed = seed; });
		int ticks = 0;
		while (net.N(1).Status().role == SN_ROLE_FOLLOWER && ticks < 100) {
			sn_engine_tick(net.E(1));
			ticks++;
		}
		EXPECT_GE(ticks, 10);
		EXPECT_LT(ticks, 20);
	}
}

/* A follower hearing the leader's heartbeats never campaigns. */
TEST(PaxosLeader, HeartbeatsKeepFollowersQuiet)
{
	Net net(3);
	net.Elect(1);
	for (int i = 0; i < 100; i++) {
		net.Tick(1);
		net.Tick(2);
		net.Tick(3);
		net.Deliver();
	}
	EXPECT_EQ(SN_ROLE_LEADER, net.N(1).Status().role);
	EXPECT_EQ(Ballot(1, 0), net.N(2).Status().term);
}

TEST(PaxosLeader, ALoneVoterLeadsOnceItsPromiseIsDurable)
{
	Net net(1);
	net.N(1).hold = true;
	ASSERT_EQ(SN_OK, sn_engine_campaign(net.E(1)));
	net.Drain();
	EXPECT_EQ(SN_ROLE_CANDIDATE, net.N(1).Status().role);
	net.Flush(1);
	EXPECT_EQ(SN_ROLE_LEADER, net.N(1).Status().role);
	net.N(1).hold = false;
	net.Propose(1, "solo");
	net.Drain();
	ASSERT_FALSE(net.N(1).applied.empty());
	EXPECT_EQ("solo", net.N(1).applied.back().data);
}

TEST(PaxosLeader, TransferIsNotSupportedAndCampaignOnALeaderIsAStateError)
{
	Net net(3);
	net.Elect(1);
	EXPECT_EQ(SN_ENOTSUP, sn_engine_transfer_leader(net.E(1), 2));
	EXPECT_EQ(SN_ESTATE, sn_engine_campaign(net.E(1)));
	EXPECT_STREQ("paxos", sn_engine_name(net.E(1)));
}
