/*
 * raft_transfer_test.cc - leader transfer (TimeoutNow): to an up-to-date
 * follower, to a lagging one (caught up first), proposals refused meanwhile,
 * abort after an election timeout, invalid targets.
 */
#include "raft_harness.h"

using namespace sntest;

namespace {

} // namespace

TEST(RaftTransfer, ToAnUpToDateFollower)
{
	Net net(Ids(3));
	ASSERT_TRUE(net.Elect(1));
	net.TickAll(2); /* everyone caught up, followers in the lease */
	uint64_t term = net.Term(1);
	net.TakeSent();

	ASSERT_EQ(SN_OK, sn_engine_transfer_leader(net.e(1), 2));
	net.Drain(1);
	std::vector<Msg> tn = Filter(net.sent, TIMEOUT_NOW, 1, 2);
	ASSERT_EQ(1u, tn.size()) << Dump(net.sent);
	EXPECT_FALSE(tn[0].after_persist);
	EXPECT_EQ(term, tn[0].term);

	net.Deliver();
	EXPECT_EQ(SN_ROLE_LEADER, net.Role(2));
	EXPECT_EQ(term + 1, net.Term(2));
	EXPECT_EQ(SN_ROLE_FOLLOWER, net.Role(1));
	for (uint64_t id : {1, 3}) {
		EXPECT_EQ(2u, net.St(id).leader) << "member " << id;
	}

	/* The target skipped PreVote and flagged its VOTE, which is why member
	 * 3 granted it from inside the old leader's lease. */
	EXPECT_EQ(0u, Count(net.sent, PREVOTE, 2)) << Dump(net.sent);
	std::vector<Msg> votes = Filter(net.sent, VOTE, 2);
	ASSERT_EQ(2u, votes.size()) << Dump(net.sent);
	for (const Msg &v : votes) {
		EXPECT_TRUE(v.flags & SN__RAFT_FLAG_TRANSFER) << v;
	}

	EXPECT_EQ(SN_OK, net.Propose(2, "after"));
	EXPECT_EQ(SN_ENOTLEADER, net.Propose(1, "old"));
	net.Deliver();
	net.TickAll(2);
	EXPECT_EQ((std::vector<std::string>{"after"}), net.node(3).AppliedData());
}

/* TIMEOUT_NOW makes a follower campaign at once, as a real candidate. */
TEST(RaftTransfer, TimeoutNowStartsAnElectionAtOnce)
{
	Net net(Ids(3));
	ASSERT_TRUE(net.Elect(1));
	net.TakeSent();
	net.filter = [](const Msg &) { return Net::kHold; };
	ASSERT_EQ(SN_OK, net.Inject(M(TIMEOUT_NOW, 1, 2, net.Term(1))));
	sn_engine_status st = net.St(2);
	EXPECT_EQ(SN_ROLE_CANDIDATE, st.role);
	EXPECT_EQ(2u, st.term);
	EXPECT_EQ(2u, st.vote);
	std::vector<Msg> votes = Filter(net.sent, VOTE, 2);
	ASSERT_EQ(2u, votes.size()) << Dump(net.sent);
	for (const Msg &v : votes) {
		EXPECT_TRUE(v.flags & SN__RAFT_FLAG_TRANSFER);
		EXPECT_TRUE(v.after_persist);
	}
}

/* The target is caught up before it is told to campaign. One entry per
 * message and one message in flight make the catch-up take several round
 * trips; TIMEOUT_NOW may only go out after the last of them. */
TEST(RaftTransfer, ToALaggingFollowerCatchesItUpFirst)
{
	Config c;
	c.max_msg_bytes = 1;
	c.max_inflight_msgs = 1;
	Net net(Ids(3), c);
	ASSERT_TRUE(net.Elect(1));
	net.Isolate(3);
	for (const char *d : {"a", "b", "c"})
		ASSERT_EQ(SN_OK, net.Propose(1, d));
	net.Deliver();
	ASSERT_EQ(4u, net.St(1).commit);
	uint64_t term = net.Term(1);

	ASSERT_EQ(SN_OK, sn_engine_transfer_leader(net.e(1), 3));
	net.Drain(1);
	net.Deliver();
	EXPECT_EQ(0u, Count(net.sent, TIMEOUT_NOW))
		<< "TIMEOUT_NOW to a member that lacks entries";

	net.Heal();
	int early = 0;
	net.filter = [&net, &early](const Msg &m) {
		if (m.type == TIMEOUT_NOW &&
		    net.St(3).last_index < net.St(1).last_index)
			early++;
		return Net::kDeliver;
	};
	int ticks = 0;
	while (net.Role(3) != SN_ROLE_LEADER && ticks < 8) {
		net.Tick(1);
		net.Deliver();
		ticks++;
	}
	EXPECT_EQ(0, early) << "TIMEOUT_NOW sent before the target had the log";
	EXPECT_EQ(SN_ROLE_LEADER, net.Role(3)) << "after " << ticks << " ticks";
	EXPECT_EQ(term + 1, net.Term(3));
	EXPECT_EQ(1u, Count(net.sent, TIMEOUT_NOW, 1, 3));
	ASSERT_GE(net.node(3).log.size(), 4u);
	EXPECT_EQ("a", net.node(3).log[1].data);
	EXPECT_EQ("c", net.node(3).log[3].data);
}

TEST(RaftTransfer, ProposalsAreRefusedDuringTheTransfer)
{
	Net net(Ids(3));
	ASSERT_TRUE(net.Elect(1));
	net.Isolate(3);
	ASSERT_EQ(SN_OK, net.Propose(1, "before"));
	net.Deliver();
	ASSERT_EQ(SN_OK, sn_engine_transfer_leader(net.e(1), 3));
	uint64_t last = net.St(1).last_index;
	EXPECT_EQ(SN_ENOTLEADER, net.Propose(1, "during"));
	EXPECT_EQ(last, net.St(1).last_index);
	EXPECT_EQ(SN_ROLE_LEADER, net.Role(1)) << "still the leader meanwhile";
}

/* A transfer that cannot finish is abandoned after election_ticks ticks:
 * proposals are accepted again and no TIMEOUT_NOW is sent later. */
TEST(RaftTransfer, AbortsAfterAnElectionTimeout)
{
	Config c;
	Net net(Ids(3), c);
	ASSERT_TRUE(net.Elect(1));
	net.Isolate(3);
	ASSERT_EQ(SN_OK, net.Propose(1, "x"));
	net.Deliver();
	ASSERT_EQ(SN_OK, sn_engine_transfer_leader(net.e(1), 3));

	for (unsigned t = 1; t <= c.election; t++) {
		net.Tick(1);
		net.Deliver();
		if (t == c.election - 2) {
			EXPECT_EQ(SN_ENOTLEADER, net.Propose(1, "early"))
				<< "transfer abandoned after only " << t << " ticks";
		}
	}
	EXPECT_EQ(SN_ROLE_LEADER, net.Role(1));
	EXPECT_EQ(SN_OK, net.Propose(1, "resumed"))
		<< "transfer still blocks proposals after election_ticks";

	net.Heal();
	for (int i = 0; i < 5; i++) {
		net.Tick(1);
		net.Deliver();
	}
	EXPECT_EQ(0u, Count(net.sent, TIMEOUT_NOW)) << "aborted transfer went on";
	EXPECT_EQ(SN_ROLE_LEADER, net.Role(1));
	EXPECT_EQ(net.node(1).log, net.node(3).log);
}

TEST(RaftTransfer, InvalidTargets)
{
	Net net(Ids(3));
	ASSERT_TRUE(net.Elect(1));

	sn_errmsg_clear();
	EXPECT_EQ(SN_EINVAL, sn_engine_transfer_leader(net.e(1), 1)) << "to self";
	EXPECT_STRNE("", sn_errmsg());
	sn_errmsg_clear();
	EXPECT_EQ(SN_ENOTFOUND, sn_engine_transfer_leader(net.e(1), 99))
		<< "to a non-voter";
	EXPECT_STRNE("", sn_errmsg());
	sn_errmsg_clear();
	EXPECT_EQ(SN_ENOTLEADER, sn_engine_transfer_leader(net.e(2), 3))
		<< "on a follower";
	EXPECT_STRNE("", sn_errmsg());

	/* None of these started a transfer. */
	net.Drain(1);
	EXPECT_EQ(0u, Count(net.sent, TIMEOUT_NOW));
	EXPECT_EQ(SN_OK, net.Propose(1, "still leading"));
	EXPECT_EQ(SN_ROLE_LEADER, net.Role(1));
}
