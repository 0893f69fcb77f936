/*
 * raft_read_index_test.cc - ReadIndex: a read state after a quorum of
 * heartbeat acknowledgements, held until the leader commits in its term,
 * immediate for a single voter, refused on followers, failed when the
 * leader steps down.
 */
#include "raft_harness.h"

using namespace sntest;

namespace {

const sn_read_state *FindRead(const Node &n, uint64_t ctx)
{
	const sn_read_state *found = nullptr;
	for (const sn_read_state &r : n.reads) {
		if (r.ctx == ctx) {
			EXPECT_EQ(nullptr, found) << "read " << ctx << " answered twice";
			found = &r;
		}
	}
	return found;
}

} // namespace

TEST(RaftReadIndex, ReadStateAfterAQuorumRound)
{
	Net net(Ids(3));
	ASSERT_TRUE(net.Elect(1));
	ASSERT_EQ(SN_OK, net.Propose(1, "x"));
	net.Deliver();
	uint64_t commit = net.St(1).commit;
	ASSERT_EQ(2u, commit);
	net.TakeSent();

	net.filter = [](const Msg &m) { return m.to != 1 ? Net::kHold : Net::kDeliver; };
	ASSERT_EQ(SN_OK, sn_engine_read_index(net.e(1), 42));
	net.Drain(1);
	net.Deliver();
	std::vector<Msg> hbs = Filter(net.held, HEARTBEAT, 1);
	ASSERT_EQ(2u, hbs.size()) << "one heartbeat round to each follower:\n"
				  << Dump(net.sent);
	EXPECT_NE(0u, hbs[0].ctx) << "the round carries a ctx";
	EXPECT_EQ(hbs[0].ctx, hbs[1].ctx);
	EXPECT_TRUE(net.node(1).reads.empty()) << "read released without a quorum";

	/* Member 2's acknowledgement makes a quorum with the leader. */
	net.filter = [](const Msg &m) { return m.to == 3 ? Net::kHold : Net::kDeliver; };
	net.ReleaseHeld();
	net.Deliver();
	std::vector<Msg> acks = Filter(net.sent, HEARTBEAT_RESP, 2, 1);
	ASSERT_EQ(1u, acks.size()) << Dump(net.sent);
	EXPECT_EQ(hbs[0].ctx, acks[0].ctx) << "HEARTBEAT_RESP echoes the ctx";
	ASSERT_EQ(1u, net.node(1).reads.size());
	const sn_read_state &r = net.node(1).reads[0];
	EXPECT_EQ(42u, r.ctx);
	EXPECT_EQ(commit, r.index);
	EXPECT_EQ(SN_OK, r.status);
}

/* The read index is the commit index when the read was asked, not the last
 * index: an uncommitted entry does not delay the read. */
TEST(RaftReadIndex, IndexIsTheCommitIndexAtTheRequest)
{
	Net net(Ids(3));
	ASSERT_TRUE(net.Elect(1));
	net.filter = [](const Msg &m) { return m.type == APP ? Net::kHold : Net::kDeliver; };
	ASSERT_EQ(SN_OK, net.Propose(1, "pending"));
	ASSERT_EQ(2u, net.St(1).last_index);
	ASSERT_EQ(1u, net.St(1).commit);
	ASSERT_EQ(SN_OK, sn_engine_read_index(net.e(1), 5));
	net.Drain(1);
	net.Deliver();
	const sn_read_state *r = FindRead(net.node(1), 5);
	ASSERT_NE(nullptr, r);
	EXPECT_EQ(1u, r->index);
	EXPECT_EQ(SN_OK, r->status);
}

/* A new leader does not know the commit index of its predecessor until it has
 * committed an entry of its own term. A read is held until then and must
 * cover everything the old leader committed. */
TEST(RaftReadIndex, HeldUntilTheLeaderCommitsInItsTerm)
{
	Net net(Ids(3), Config::Plain());
	ASSERT_TRUE(net.Elect(1));
	/* Member 1 commits "a" with member 2's ack; 3 never gets it, and 2 never
	 * learns it was committed. */
	net.filter = [](const Msg &m) {
		if (m.from == 1 && m.type == APP && m.to == 3)
			return Net::kDrop;
		if (m.from == 1 && m.commit >= 2)
			return Net::kDrop;
		return Net::kDeliver;
	};
	ASSERT_EQ(SN_OK, net.Propose(1, "a"));
	net.Deliver();
	ASSERT_EQ(2u, net.St(1).commit);
	ASSERT_EQ(1u, net.St(2).commit);
	ASSERT_EQ(2u, net.St(2).last_index);

	/* Member 1 crashes; member 2 wins term 2 but its noop stays unacked. */
	net.down.insert(1);
	net.filter = [](const Msg &m) { return m.type == APP ? Net::kHold : Net::kDeliver; };
	ASSERT_TRUE(net.Elect(2));
	ASSERT_EQ(1u, net.St(2).commit);

	ASSERT_EQ(SN_OK, sn_engine_read_index(net.e(2), 77));
	net.Drain(2);
	net.Deliver();
	net.Tick(2);
	net.Deliver();
	EXPECT_EQ(nullptr, FindRead(net.node(2), 77))
		<< "read served before the leader committed in its term";

	net.filter = nullptr;
	net.ReleaseHeld();
	net.Deliver();
	for (int i = 0; i < 3 && !FindRead(net.node(2), 77); i++) {
		net.Tick(2);
		net.Deliver();
	}
	const sn_read_state *r = FindRead(net.node(2), 77);
	ASSERT_NE(nullptr, r) << "read never served";
	EXPECT_EQ(SN_OK, r->status);
	EXPECT_GE(r->index, 3u)
		<< "read index " << r->index << " misses entry 2 ('a'), which the "
		<< "previous leader committed: a stale read";
}

TEST(RaftReadIndex, SingleVoterIsImmediate)
{
	Net net({1});
	ASSERT_TRUE(net.Elect(1));
	ASSERT_EQ(1u, net.St(1).commit);
	net.TakeSent();
	ASSERT_EQ(SN_OK, sn_engine_read_index(net.e(1), 9));
	net.Drain(1);
	ASSERT_EQ(1u, net.node(1).reads.size());
	EXPECT_EQ(9u, net.node(1).reads[0].ctx);
	EXPECT_EQ(1u, net.node(1).reads[0].index);
	EXPECT_EQ(SN_OK, net.node(1).reads[0].status);
	EXPECT_TRUE(net.sent.empty()) << Dump(net.sent);

	ASSERT_EQ(SN_OK, net.Propose(1, "v"));
	ASSERT_EQ(SN_OK, sn_engine_read_index(net.e(1), 10));
	net.Drain(1);
	const sn_read_state *r = FindRead(net.node(1), 10);
	ASSERT_NE(nullptr, r);
	EXPECT_EQ(2u, r->index);
}

TEST(RaftReadIndex, NotLeaderOnFollowerAndCandidate)
{
	Net net(Ids(3), Config::Plain());
	ASSERT_TRUE(net.Elect(1));
	sn_errmsg_clear();
	EXPECT_EQ(SN_ENOTLEADER, sn_engine_read_index(net.e(2), 1));
	EXPECT_STRNE("", sn_errmsg());

	Net net2(Ids(3), Config::Plain());
	ASSERT_EQ(SN_OK, net2.Campaign(1));
	ASSERT_EQ(SN_ROLE_CANDIDATE, net2.Role(1));
	EXPECT_EQ(SN_ENOTLEADER, sn_engine_read_index(net2.e(1), 1));
	net2.Drain(1);
	EXPECT_TRUE(net2.node(1).reads.empty());
}

/* Reads still pending when the leader steps down come back failed. */
TEST(RaftReadIndex, PendingReadsFailWhenTheLeaderStepsDown)
{
	/* (a) CheckQuorum: the leader loses its followers. */
	{
		Net net(Ids(3));
		ASSERT_TRUE(net.Elect(1));
		net.Isolate(2);
		net.Isolate(3);
		ASSERT_EQ(SN_OK, sn_engine_read_index(net.e(1), 11));
		ASSERT_EQ(SN_OK, sn_engine_read_index(net.e(1), 12));
		net.Drain(1);
		EXPECT_TRUE(net.node(1).reads.empty());
		for (int t = 0; t < 30 && net.Role(1) == SN_ROLE_LEADER; t++)
			net.Tick(1);
		ASSERT_EQ(SN_ROLE_FOLLOWER, net.Role(1));
		for (uint64_t ctx : {11, 12}) {
			const sn_read_state *r = FindRead(net.node(1), ctx);
			ASSERT_NE(nullptr, r) << "read " << ctx << " never answered";
			EXPECT_EQ(SN_ENOTLEADER, r->status) << ctx;
		}
	}
	/* (b) A message from a newer leader. */
	{
		Net net(Ids(3));
		ASSERT_TRUE(net.Elect(1));
		net.filter = [](const Msg &m) { return m.to != 1 ? Net::kHold : Net::kDeliver; };
		ASSERT_EQ(SN_OK, sn_engine_read_index(net.e(1), 13));
		net.Drain(1);
		ASSERT_EQ(SN_OK, net.Inject(M(HEARTBEAT, 2, 1, net.Term(1) + 1)));
		ASSERT_EQ(SN_ROLE_FOLLOWER, net.Role(1));
		const sn_read_state *r = FindRead(net.node(1), 13);
		ASSERT_NE(nullptr, r);
		EXPECT_EQ(SN_ENOTLEADER, r->status);
	}
	/* (c) A read held for the first commit of the term. */
	{
		Net net(Ids(3));
		net.filter = [](const Msg &m) { return m.type == APP ? Net::kHold : Net::kDeliver; };
		ASSERT_TRUE(net.Elect(1));
		ASSERT_EQ(SN_OK, sn_engine_read_index(net.e(1), 14));
		net.Drain(1);
		ASSERT_EQ(SN_OK, net.Inject(M(HEARTBEAT, 3, 1, net.Term(1) + 1)));
		const sn_read_state *r = FindRead(net.node(1), 14);
		ASSERT_NE(nullptr, r);
		EXPECT_EQ(SN_ENOTLEADER, r->status);
	}
}

/* A read asked after a heartbeat round went out is not confirmed by that
 * round's acknowledgements. */
TEST(RaftReadIndex, LaterReadIsNotReleasedByAnEarlierRound)
{
	Net net(Ids(3));
	ASSERT_TRUE(net.Elect(1));
	net.filter = [](const Msg &m) { return m.to != 1 ? Net::kHold : Net::kDeliver; };
	ASSERT_EQ(SN_OK, sn_engine_read_index(net.e(1), 1));
	net.Drain(1);
	net.Deliver();
	std::vector<Msg> first = Filter(net.held, HEARTBEAT);
	ASSERT_FALSE(first.empty());
	uint64_t c1 = first[0].ctx;
	ASSERT_EQ(SN_OK, sn_engine_read_index(net.e(1), 2));
	net.Drain(1);
	net.Deliver();
	EXPECT_EQ(nullptr, FindRead(net.node(1), 1));

	/* Deliver only the first round. */
	net.filter = [c1](const Msg &m) {
		if (m.to != 1 && (m.type != HEARTBEAT || m.ctx != c1))
			return Net::kHold;
		return Net::kDeliver;
	};
	net.ReleaseHeld();
	net.Deliver();
	ASSERT_NE(nullptr, FindRead(net.node(1), 1)) << "first read not served";
	EXPECT_EQ(nullptr, FindRead(net.node(1), 2))
		<< "second read confirmed by a round sent before it was asked";

	net.filter = nullptr;
	net.ReleaseHeld();
	net.Deliver();
	for (int i = 0; i < 3 && !FindRead(net.node(1), 2); i++) {
		net.Tick(1);
		net.Deliver();
	}
	const sn_read_state *r = FindRead(net.node(1), 2);
	ASSERT_NE(nullptr, r);
	EXPECT_EQ(SN_OK, r->status);
}

/* Only an acknowledgement of a round the leader actually sent counts: a
 * HEARTBEAT_RESP echoing a round number from the future must not make later
 * reads look confirmed by that follower. Five members: 2 sends the forged
 * ack and is then cut off with 3 and 4; only 5 answers the read's round, so
 * the leader has 2 of 5 and must not serve the read. */
TEST(RaftReadIndex, AckOfAFutureRoundConfirmsNothing)
{
	Net net(Ids(5));
	ASSERT_TRUE(net.Elect(1));
	Msg forged = M(HEARTBEAT_RESP, 2, 1, net.Term(1));
	forged.ctx = 1000;
	net.Inject(forged); /* dropped or not: it must confirm nothing */
	for (uint64_t id : {2, 3, 4})
		net.Isolate(id);
	ASSERT_EQ(SN_OK, sn_engine_read_index(net.e(1), 21));
	net.Drain(1);
	net.Deliver();
	net.Tick(1, 3);
	net.Deliver();
	EXPECT_EQ(nullptr, FindRead(net.node(1), 21))
		<< "a read was confirmed by 2 of 5 members";
}

TEST(RaftReadIndex, TooManyPendingReadsIsBusy)
{
	Config c;
	c.max_pending_reads = 2;
	Net net(Ids(3), c);
	ASSERT_TRUE(net.Elect(1));
	net.Isolate(2);
	net.Isolate(3);
	EXPECT_EQ(SN_OK, sn_engine_read_index(net.e(1), 1));
	EXPECT_EQ(SN_OK, sn_engine_read_index(net.e(1), 2));
	EXPECT_EQ(SN_EBUSY, sn_engine_read_index(net.e(1), 3));
	net.Drain(1);
	net.Heal();
	net.Flush();
	for (int i = 0; i < 3 && net.node(1).reads.size() < 2; i++) {
		net.Tick(1);
		net.Deliver();
	}
	ASSERT_EQ(2u, net.node(1).reads.size());
	for (const sn_read_state &r : net.node(1).reads) {
		EXPECT_EQ(SN_OK, r.status);
	}
	EXPECT_EQ(nullptr, FindRead(net.node(1), 3)) << "a refused read was kept";
	EXPECT_EQ(SN_OK, sn_engine_read_index(net.e(1), 3));
}
