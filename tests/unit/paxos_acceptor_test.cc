/* The acceptor's rules (docs/paxos.md, "Acceptor"), one test per rule,
 * driven with crafted messages into one engine of a three-member group. */
#include "paxos_harness.h"

using namespace pxtest;

namespace {

sn__paxos_msg M(uint8_t type, uint64_t ballot)
{
	sn__paxos_msg m{};
	m.type = type;
	m.ballot = ballot;
	return m;
}

int Step(Net &net, uint64_t to, uint64_t from, const sn__paxos_msg &m,
	 const std::vector<Ent> &ents = {})
{
	std::vector<uint8_t> raw = Encode(m, ents);
	sn_message w{ kGroup, from, to, raw.data(), raw.size() };
	int rv = sn_engine_step(net.E(to), &w);
	net.Drain();
	return rv;
}

/* Messages `from` sent since the queue was last cleared. */
std::vector<Msg> Out(Net &net, uint64_t from)
{
	std::vector<Msg> v;
	for (const Msg &m : net.queue)
		if (m.from == from)
			v.push_back(m);
	return v;
}

/* Accept values at ballot b (owned by member `from`) into node `to`. */
void Accept(Net &net, uint64_t to, uint64_t from, uint64_t b, uint64_t prev,
	    const std::vector<std::string> &vals, uint64_t commit = 0)
{
	sn__paxos_msg m = M(SN__PAXOS_ACCEPT, b);
	std::vector<Ent> ents;
	m.index = prev;
	m.commit = commit;
	for (size_t i = 0; i < vals.size(); i++)
		ents.push_back(E(prev + 1 + i, b, vals[i]));
	ASSERT_EQ(SN_OK, Step(net, to, from, m, ents)) << sn_errmsg();
}

} // namespace

/* Phase 1b: a higher ballot is promised, the promise is written before the
 * Promise leaves (it travels after the persist). */
TEST(PaxosAcceptor, PromiseIsDurableBeforeItIsSent)
{
	Net net(3);
	net.N(1).hold = true;
	sn__paxos_msg m = M(SN__PAXOS_PREPARE, Ballot(1, 1));
	ASSERT_EQ(SN_OK, Step(net, 1, 2, m));
	EXPECT_TRUE(Out(net, 1).empty()) << "promise sent before the persist";
	ASSERT_EQ(1u, net.N(1).pending.size());
	EXPECT_TRUE(net.N(1).pending[0].has_hs);
	EXPECT_EQ(Ballot(1, 1), net.N(1).pending[0].hs.term);
	EXPECT_EQ(2u, net.N(1).pending[0].hs.vote);
	net.Flush(1);
	auto out = Out(net, 1);
	ASSERT_EQ(1u, out.size());
	EXPECT_EQ(SN__PAXOS_PROMISE, out[0].m.type);
	EXPECT_FALSE(out[0].m.reject);
	EXPECT_TRUE(out[0].m.flags & SN__PAXOS_FLAG_LAST);
	EXPECT_EQ(Ballot(1, 1), net.N(1).Status().term);
}

TEST(PaxosAcceptor, PrepareAtOrBelowThePromiseIsRejectedWithIt)
{
	Net net(3);
	ASSERT_EQ(SN_OK, Step(net, 1, 3, M(SN__PAXOS_PREPARE, Ballot(5, 2))));
	net.queue.clear();
	ASSERT_EQ(SN_OK, Step(net, 1, 2, M(SN__PAXOS_PREPARE, Ballot(4, 1))));
	auto out = Out(net, 1);
	ASSERT_EQ(1u, out.size());
	EXPECT_TRUE(out[0].m.reject);
	EXPECT_TRUE(out[0].m.flags & SN__PAXOS_FLAG_BALLOT);
	EXPECT_EQ(Ballot(5, 2), out[0].m.hint);
	EXPECT_EQ(Ballot(5, 2), net.N(1).Status().term);
	EXPECT_EQ(3u, net.N(1).Status().vote);
}

/* Only a candidate that knows every slot this acceptor knows chosen may
 * lead: compacted slots would otherwise escape recovery. */
TEST(PaxosAcceptor, PrepareFromACandidateBehindTheCommitIsRejected)
{
	Net net(3);
	Accept(net, 1, 2, Ballot(1, 1), 0, { "a", "b", "c" }, 3);
	ASSERT_EQ(3u, net.N(1).Status().commit);
	net.queue.clear();
	sn__paxos_msg m = M(SN__PAXOS_PREPARE, Ballot(2, 2));
	m.commit = 1;
	ASSERT_EQ(SN_OK, Step(net, 1, 3, m));
	auto out = Out(net, 1);
	ASSERT_EQ(1u, out.size());
	EXPECT_TRUE(out[0].m.reject);
	EXPECT_TRUE(out[0].m.flags & SN__PAXOS_FLAG_COMMIT);
	EXPECT_EQ(3u, out[0].m.hint);
	EXPECT_EQ(Ballot(1, 1), net.N(1).Status().term) << "promised anyway";
}

/* A Promise reports every accepted slot after the candidate's commit, with
 * the ballot it was accepted at, in parts of max_msg_bytes. */
TEST(PaxosAcceptor, PromiseReportsAcceptedSlotsInParts)
{
	Net net(3, [](sn_paxos_options &o) {
		o.max_msg_bytes = 2 * (SN__PAXOS_ENTRY_HEADER + 2);
	});
	Accept(net, 1, 2, Ballot(1, 1), 0, { "v1", "v2", "v3", "v4", "v5" }, 1);
	net.queue.clear();
	sn__paxos_msg m = M(SN__PAXOS_PREPARE, Ballot(2, 2));
	m.commit = 1;
	ASSERT_EQ(SN_OK, Step(net, 1, 3, m));
	auto out = Out(net, 1);
	ASSERT_EQ(2u, out.size());
	EXPECT_EQ(1u, out[0].m.index);
	ASSERT_EQ(2u, out[0].entries.size());
	EXPECT_EQ(E(2, Ballot(1, 1), "v2"), out[0].entries[0]);
	EXPECT_FALSE(out[0].m.flags & SN__PAXOS_FLAG_LAST);
	EXPECT_EQ(3u, out[1].m.index);
	ASSERT_EQ(2u, out[1].entries.size());
	EXPECT_EQ(E(5, Ballot(1, 1), "v5"), out[1].entries[1]);
	EXPECT_TRUE(out[1].m.flags & SN__PAXOS_FLAG_LAST);
	for (const Msg &p : out)
		EXPECT_TRUE(p.after_persist);
}

TEST(PaxosAcceptor, AcceptBelowThePromiseIsRejected)
{
	Net net(3);
	ASSERT_EQ(SN_OK, Step(net, 1, 3, M(SN__PAXOS_PREPARE, Ballot(5, 2))));
	net.queue.clear();
	Accept(net, 1, 2, Ballot(4, 1), 0, { "late" });
	auto out = Out(net, 1);
	ASSERT_EQ(1u, out.size());
	EXPECT_EQ(SN__PAXOS_ACCEPTED, out[0].m.type);
	EXPECT_TRUE(out[0].m.reject);
	EXPECT_EQ(Ballot(5, 2), out[0].m.hint);
	EXPECT_EQ(0u, net.N(1).Status().last_index);
	EXPECT_TRUE(net.Log(1).empty());
}

/* Accepting slots s..u rewrites storage from s, so the acceptor writes its
 * later slots again, unchanged: it never loses another slot's value. */
TEST(PaxosAcceptor, AcceptKeepsTheValuesOfLaterSlots)
{
	Net net(3);
	Accept(net, 1, 2, Ballot(1, 1), 0, { "a", "b", "c", "d" });
	Accept(net, 1, 3, Ballot(2, 2), 0, { "x" });
	auto log = net.Log(1);
	ASSERT_EQ(4u, log.size());
	EXPECT_EQ(E(1, Ballot(2, 2), "x"), log[0]);
	EXPECT_EQ(E(2, Ballot(1, 1), "b"), log[1]);
	EXPECT_EQ(E(4, Ballot(1, 1), "d"), log[3]);
	auto &w = net.N(1).written.back();
	ASSERT_EQ(4u, w.size()) << "later slots were not written again";
	EXPECT_EQ(1u, w[0].index);
	/* The match counts only the new ballot's slots. */
	EXPECT_EQ(1u, net.queue.back().m.index);
}

TEST(PaxosAcceptor, AcceptAfterAGapIsRejectedWithWhereToContinue)
{
	Net net(3);
	Accept(net, 1, 2, Ballot(1, 1), 0, { "a" });
	net.queue.clear();
	Accept(net, 1, 2, Ballot(1, 1), 3, { "d" });
	auto out = Out(net, 1);
	ASSERT_EQ(1u, out.size());
	EXPECT_TRUE(out[0].m.reject);
	EXPECT_FALSE(out[0].m.flags & SN__PAXOS_FLAG_BALLOT);
	EXPECT_EQ(3u, out[0].m.index);
	EXPECT_EQ(1u, out[0].m.hint);
	EXPECT_EQ(1u, net.N(1).Status().last_index);
}

/* The commit a leader piggybacks is learned only where this acceptor holds
 * the leader's values: never over a leftover slot of an older ballot. */
TEST(PaxosAcceptor, CommitOnlyWhereTheCurrentBallotsValuesAreHeld)
{
	Net net(3);
	Accept(net, 1, 2, Ballot(1, 1), 0, { "a", "b", "c", "d", "e" });
	Accept(net, 1, 3, Ballot(2, 2), 0, { "a", "b" }, 5);
	EXPECT_EQ(2u, net.N(1).Status().commit);
	Accept(net, 1, 3, Ballot(2, 2), 2, { "c", "d", "e" }, 5);
	EXPECT_EQ(5u, net.N(1).Status().commit);
	ASSERT_EQ(5u, net.N(1).applied.size());
	EXPECT_EQ("e", net.N(1).applied[4].data);
}

TEST(PaxosAcceptor, ChosenSlotsAreAcknowledgedNotRewritten)
{
	Net net(3);
	Accept(net, 1, 2, Ballot(1, 1), 0, { "a", "b" }, 2);
	ASSERT_EQ(2u, net.N(1).Status().commit);
	size_t writes = net.N(1).written.size();
	net.queue.clear();
	Accept(net, 1, 3, Ballot(2, 2), 0, { "a", "b" }, 0);
	auto log = net.Log(1);
	EXPECT_EQ(E(1, Ballot(1, 1), "a"), log[0]);
	EXPECT_EQ(E(2, Ballot(1, 1), "b"), log[1]);
	for (size_t i = writes; i < net.N(1).written.size(); i++)
		EXPECT_TRUE(net.N(1).written[i].empty());
	auto out = Out(net, 1);
	ASSERT_EQ(1u, out.size());
	EXPECT_FALSE(out[0].m.reject);
	EXPECT_EQ(2u, out[0].m.index);
}

TEST(PaxosAcceptor, AnAcceptAtAHigherBallotIsAPromise)
{
	Net net(3);
	Accept(net, 1, 3, Ballot(7, 2), 0, { "a" });
	sn_engine_status st = net.N(1).Status();
	EXPECT_EQ(Ballot(7, 2), st.term);
	EXPECT_EQ(3u, st.vote);
	EXPECT_EQ(3u, st.leader);
	EXPECT_EQ(Ballot(7, 2), net.N(1).hs.term);
}

/* Restart: the promise and the accepted values come back from storage; an
 * accepted ballot above the stored promise raises it. */
TEST(PaxosAcceptor, RestartKeepsThePromiseAndTheAcceptedValues)
{
	Net net(3);
	Accept(net, 1, 2, Ballot(1, 1), 0, { "a", "b" });
	ASSERT_EQ(SN_OK, Step(net, 1, 3, M(SN__PAXOS_PREPARE, Ballot(3, 2))));
	net.Crash(1);
	net.Restart(1);
	EXPECT_EQ(Ballot(3, 2), net.N(1).Status().term);
	net.queue.clear();
	Accept(net, 1, 2, Ballot(1, 1), 2, { "c" });
	EXPECT_TRUE(net.queue.back().m.reject);
	EXPECT_EQ(2u, net.N(1).Status().last_index);
}
