/* Learners, reads and catch-up: what is applied and when, read-index
 * rounds, and acceptors brought up from the log or a snapshot. */
#include "paxos_harness.h"

using namespace pxtest;

TEST(PaxosLearner, LearnersApplyOnlyWhatIsDurable)
{
	Net net(3);
	net.Elect(1);
	net.N(2).hold = true;
	net.Propose(1, "a");
	net.Deliver();
	EXPECT_EQ(1u, net.N(1).Status().commit); /* with node 3 */
	net.Tick(1);
	net.Deliver();
	EXPECT_TRUE(net.N(2).applied.empty()) << "applied a volatile value";
	net.Flush(2);
	net.N(2).hold = false;
	net.Tick(1);
	net.Deliver();
	ASSERT_EQ(1u, net.N(2).applied.size());
	EXPECT_EQ("a", net.N(2).applied[0].data);
}

TEST(PaxosLearner, LearnersNeverDisagree)
{
	Net net(5);
	net.Elect(1);
	for (int i = 0; i < 10; i++)
		net.Propose(1, "v" + std::to_string(i));
	net.Deliver();
	net.Crash(1);
	net.Elect(4);
	for (int i = 10; i < 15; i++)
		net.Propose(4, "v" + std::to_string(i));
	net.Deliver();
	net.Restart(1);
	net.Tick(4, 2);
	net.Deliver();
	for (uint64_t id = 2; id <= 5; id++) {
		ASSERT_EQ(15u, net.N(id).applied.size()) << id;
		for (size_t i = 0; i < 15; i++)
			EXPECT_EQ("v" + std::to_string(i),
				  net.N(id).applied[i].data);
	}
	EXPECT_EQ(15u, net.N(1).Status().commit);
}

TEST(PaxosRead, ReadIndexNeedsAQuorumRound)
{
	Net net(3);
	net.Elect(1);
	net.Propose(1, "a");
	net.Deliver();
	net.Isolate(1);
	ASSERT_EQ(SN_OK, sn_engine_read_index(net.E(1), 5));
	net.Deliver();
	EXPECT_TRUE(net.N(1).reads.empty()) << "read confirmed alone";
	net.Heal();
	/* A later round (started after both reads were asked) confirms
	 * both. */
	ASSERT_EQ(SN_OK, sn_engine_read_index(net.E(1), 6));
	net.Deliver();
	ASSERT_EQ(2u, net.N(1).reads.size());
	EXPECT_EQ(5u, net.N(1).reads[0].ctx);
	EXPECT_EQ(6u, net.N(1).reads[1].ctx);
	EXPECT_EQ(SN_OK, net.N(1).reads[1].status);
	EXPECT_EQ(1u, net.N(1).reads[1].index);
}

TEST(PaxosRead, ReadsFailWhenLeadershipIsLost)
{
	Net net(3);
	net.Elect(1);
	net.Isolate(1);
	ASSERT_EQ(SN_OK, sn_engine_read_index(net.E(1), 9));
	net.Tick(1, 25);
	ASSERT_EQ(1u, net.N(1).reads.size());
	EXPECT_EQ(SN_ENOTLEADER, net.N(1).reads[0].status);
	EXPECT_EQ(SN_ENOTLEADER, sn_engine_read_index(net.E(2), 1));
}

TEST(PaxosCatchUp, ALaggingAcceptorIsBroughtUpFromTheLog)
{
	Net net(3, [](sn_paxos_options &o) { o.max_inflight_msgs = 2; });
	net.Elect(1);
	net.Crash(3);
	for (int i = 0; i < 20; i++)
		net.Propose(1, "e" + std::to_string(i));
	net.Deliver();
	net.Restart(3);
	for (int i = 0; i < 5; i++) {
		net.Tick(1);
		net.Deliver();
	}
	ASSERT_EQ(20u, net.N(3).applied.size());
	EXPECT_EQ("e19", net.N(3).applied[19].data);
}

TEST(PaxosCatchUp, ACompactedLeaderSendsTheSnapshotInChunks)
{
	Net net(3, [](sn_paxos_options &o) { o.max_msg_bytes = 100; });
	net.Elect(1);
	net.Crash(3);
	for (int i = 0; i < 10; i++)
		net.Propose(1, "s" + std::to_string(i));
	net.Deliver();
	ASSERT_EQ(10u, net.N(1).Applied());
	net.TakeSnapshot(1, 8, 1000, 8);
	net.Restart(3);
	for (int i = 0; i < 30 && net.N(3).Status().commit < 10; i++) {
		net.Tick(1);
		net.Deliver();
	}
	size_t chunks = 0;
	for (const Msg &m : net.sent)
		chunks += m.m.type == SN__PAXOS_SNAP && m.to == 3;
	EXPECT_GE(chunks, 10u);
	EXPECT_EQ(8u, net.N(3).installed.index);
	EXPECT_EQ(net.N(1).snaps[8].data, net.N(3).installed.data);
	EXPECT_EQ(10u, net.N(3).Status().commit);
	ASSERT_EQ(2u, net.N(3).applied.size());
	EXPECT_EQ("s9", net.N(3).applied[1].data);
}

/* A lost chunk: the transfer resumes from the last acknowledged offset. */
TEST(PaxosCatchUp, AnInterruptedTransferResumes)
{
	Net net(3, [](sn_paxos_options &o) { o.max_msg_bytes = 100; });
	net.Elect(1);
	net.Crash(3);
	for (int i = 0; i < 6; i++)
		net.Propose(1, "s" + std::to_string(i));
	net.Deliver();
	net.TakeSnapshot(1, 6, 1000, 6);
	net.Restart(3);
	int dropped = 0;
	net.filter = [&dropped](const Msg &m) {
		if (m.m.type == SN__PAXOS_SNAP && m.m.offset == 500 &&
		    dropped == 0) {
			dropped++;
			return false;
		}
		return true;
	};
	for (int i = 0; i < 40 && net.N(3).installed.index != 6; i++) {
		net.Tick(1);
		net.Deliver();
	}
	EXPECT_EQ(1, dropped);
	EXPECT_EQ(6u, net.N(3).installed.index);
	EXPECT_EQ(net.N(1).snaps[6].data, net.N(3).installed.data);
	size_t from0 = 0;
	for (const Msg &m : net.sent)
		from0 += m.m.type == SN__PAXOS_SNAP && m.to == 3 &&
			 m.m.offset == 0;
	EXPECT_EQ(1u, from0) << "restarted from 0 instead of resuming";
}
