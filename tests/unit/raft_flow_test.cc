/*
 * raft_flow_test.cc - replication flow control: probe vs replicate, the
 * in-flight message and byte windows, message splitting, the uncommitted
 * budget and the entry size limit.
 */
#include "raft_harness.h"

using namespace sntest;

namespace {

Net::Filter HoldTo(std::set<uint64_t> to)
{
	return [to](const Msg &m) { return to.count(m.to) ? Net::kHold : Net::kDeliver; };
}

/* Tick the leader and deliver until the followers' logs equal its own. */
int SyncLogs(Net &net, uint64_t leader, int max_ticks)
{
	net.Deliver();
	for (int t = 0; t <= max_ticks; t++) {
		bool same = true;
		for (auto &kv : net.nodes)
			same = same && kv.second.log == net.node(leader).log;
		if (same)
			return t;
		net.Tick(leader);
		net.Deliver();
	}
	return -1;
}

} // namespace

/* A follower whose state is unknown is probed: one APP in flight until it
 * answers, plus one more per heartbeat response. */
TEST(RaftFlow, ProbeSendsOneAppendAtATime)
{
	Net net(Ids(3), Config::Plain());
	/* Member 2 never receives an APP (but does get heartbeats). */
	net.filter = [](const Msg &m) {
		return m.type == APP && m.to == 2 ? Net::kDrop : Net::kDeliver;
	};
	ASSERT_TRUE(net.Elect(1));
	std::vector<Msg> out = net.TakeSent();
	EXPECT_EQ(1u, Count(out, APP, 1, 2)) << Dump(out);

	for (int i = 0; i < 4; i++) {
		ASSERT_EQ(SN_OK, net.Propose(1, "p" + std::to_string(i)));
	}
	net.Deliver();
	out = net.TakeSent();
	EXPECT_EQ(0u, Count(out, APP, 1, 2))
		<< "probe must wait for the outstanding APP:\n" << Dump(out);
	EXPECT_GE(Count(out, APP, 1, 3), 1u);
	EXPECT_EQ(5u, net.St(3).last_index);

	for (int round = 0; round < 3; round++) {
		net.Tick(1);
		net.Deliver();
		out = net.TakeSent();
		EXPECT_EQ(1u, Count(out, HEARTBEAT_RESP, 2, 1)) << Dump(out);
		EXPECT_EQ(1u, Count(out, APP, 1, 2))
			<< "round " << round << ": one APP per heartbeat response\n"
			<< Dump(out);
	}

	net.filter = nullptr;
	EXPECT_GE(SyncLogs(net, 1, 10), 0) << "member 2 never caught up";
}

/* Once a follower acknowledged, it is replicated optimistically: APPs are
 * pipelined without waiting, up to max_inflight_msgs, then paused. */
TEST(RaftFlow, ReplicatePipelinesUpToMaxInflightMsgs)
{
	Config c = Config::Plain();
	c.max_inflight_msgs = 3;
	Net net(Ids(3), c);
	ASSERT_TRUE(net.Elect(1));
	net.filter = HoldTo({2, 3});
	net.TakeSent();
	for (int i = 0; i < 6; i++) {
		ASSERT_EQ(SN_OK, net.Propose(1, "e" + std::to_string(i)));
		net.Deliver();
	}
	std::vector<Msg> out = net.TakeSent();
	for (uint64_t to : {2, 3}) {
		std::vector<Msg> apps = Filter(out, APP, 1, to);
		ASSERT_EQ(3u, apps.size()) << "to " << to << ":\n" << Dump(out);
		for (size_t i = 0; i < apps.size(); i++) {
			EXPECT_EQ(1 + i, apps[i].index) << "pipelined, optimistic next";
			ASSERT_EQ(1u, apps[i].entries.size());
			EXPECT_EQ(2 + i, apps[i].entries[0].index);
		}
	}
	EXPECT_EQ(1u, net.St(1).commit);

	/* Acks open the window again and the rest flows. */
	net.filter = nullptr;
	net.ReleaseHeld();
	EXPECT_GE(SyncLogs(net, 1, 5), 0);
	EXPECT_EQ(7u, net.St(1).commit);
}

/* The byte window: unacked entry bytes per follower are bounded too. */
TEST(RaftFlow, ReplicatePausesAtMaxInflightBytes)
{
	Config c = Config::Plain();
	c.max_inflight_bytes = 300;
	Net net(Ids(3), c);
	ASSERT_TRUE(net.Elect(1));
	net.filter = HoldTo({2, 3});
	net.TakeSent();
	const std::string data(100, 'b');
	for (int i = 0; i < 8; i++) {
		ASSERT_EQ(SN_OK, net.Propose(1, data));
		net.Deliver();
	}
	std::vector<Msg> out = net.TakeSent();
	std::vector<Msg> apps = Filter(out, APP, 1, 2);
	size_t bytes = 0;
	for (const Msg &m : apps)
		bytes += m.EntryBytes();
	EXPECT_GE(apps.size(), 2u) << Dump(out);
	EXPECT_LE(apps.size(), 3u) << "300 bytes of window, 100-byte entries:\n"
				   << Dump(out);
	EXPECT_LE(bytes, 300u);

	net.filter = nullptr;
	net.ReleaseHeld();
	EXPECT_GE(SyncLogs(net, 1, 5), 0);
	EXPECT_EQ(9u, net.St(1).commit);
}

/* Each APP carries at most max_msg_bytes of entry data. */
TEST(RaftFlow, MaxMsgBytesSplitsAppends)
{
	Config c = Config::Plain();
	c.max_msg_bytes = 250;
	Net net(Ids(3), c);
	/* Elect, but keep the first (probe) APPs back, so the backlog below is
	 * sent in one go once the followers answer. */
	net.filter = [](const Msg &m) {
		return m.type == APP ? Net::kHold : Net::kDeliver;
	};
	ASSERT_TRUE(net.Elect(1));
	const std::string data(100, 'm');
	for (int i = 0; i < 6; i++) {
		ASSERT_EQ(SN_OK, net.Propose(1, data));
	}
	net.filter = nullptr;
	net.TakeSent();
	net.ReleaseHeld();
	EXPECT_GE(SyncLogs(net, 1, 10), 0);

	std::vector<Msg> out = net.TakeSent();
	for (uint64_t to : {2, 3}) {
		size_t with_entries = 0, entries = 0;
		for (const Msg &m : Filter(out, APP, 1, to)) {
			if (m.entries.size() > 1) {
				EXPECT_LE(m.EntryBytes(), 250u) << m;
			}
			with_entries += !m.entries.empty();
			entries += m.entries.size();
		}
		EXPECT_GE(with_entries, 3u) << "600 bytes need >= 3 messages of 250:\n"
					    << Dump(out);
		EXPECT_GE(entries, 6u);
	}
	EXPECT_EQ(7u, net.St(1).commit);
}

/* An entry larger than max_msg_bytes still travels, alone. */
TEST(RaftFlow, OversizedEntryTravelsAlone)
{
	Config c = Config::Plain();
	c.max_msg_bytes = 50;
	Net net(Ids(3), c);
	ASSERT_TRUE(net.Elect(1));
	net.TakeSent();
	uint64_t idx = 0;
	ASSERT_EQ(SN_OK, net.Propose(1, std::string(120, 'L'), &idx));
	ASSERT_EQ(SN_OK, net.Propose(1, std::string(120, 'M')));
	net.Deliver();
	for (const Msg &m : Filter(net.sent, APP, 1)) {
		EXPECT_LE(m.entries.size(), 1u) << m;
	}
	EXPECT_EQ(idx + 1, net.St(1).commit);
	EXPECT_EQ(SyncLogs(net, 1, 3) >= 0, true);
}

/* Proposals beyond the uncommitted budget are pushed back with SN_EBUSY and
 * accepted again once entries commit. */
TEST(RaftFlow, MaxUncommittedBytesPushesBack)
{
	Config c = Config::Plain();
	c.max_uncommitted_bytes = 300;
	Net net(Ids(3), c);
	ASSERT_TRUE(net.Elect(1));
	net.Isolate(2);
	net.Isolate(3);
	const std::string data(100, 'u');
	for (int i = 0; i < 3; i++) {
		EXPECT_EQ(SN_OK, net.Propose(1, data)) << "proposal " << i;
	}
	uint64_t last = net.St(1).last_index;
	EXPECT_EQ(4u, last);
	EXPECT_EQ(SN_EBUSY, net.Propose(1, data));
	EXPECT_EQ(SN_EBUSY, net.Propose(1, "x"));
	EXPECT_EQ(last, net.St(1).last_index) << "a refused proposal was appended";

	net.Heal();
	ASSERT_GE(SyncLogs(net, 1, 10), 0);
	net.Deliver();
	ASSERT_EQ(4u, net.St(1).commit);
	EXPECT_EQ(SN_OK, net.Propose(1, data));
	EXPECT_EQ(SN_OK, net.Propose(1, data));
}

/* An entry is always accepted when nothing is uncommitted, even one larger
 * than the budget; the next one waits. */
TEST(RaftFlow, FirstUncommittedEntryIsAlwaysAccepted)
{
	Config c = Config::Plain();
	c.max_uncommitted_bytes = 300;
	Net net(Ids(3), c);
	ASSERT_TRUE(net.Elect(1));
	net.Isolate(2);
	net.Isolate(3);
	EXPECT_EQ(SN_OK, net.Propose(1, std::string(500, 'B')));
	EXPECT_EQ(SN_EBUSY, net.Propose(1, "y"));
}

TEST(RaftFlow, MaxEntryBytes)
{
	Config c = Config::Plain();
	c.max_entry_bytes = 100;
	Net net(Ids(3), c);
	ASSERT_TRUE(net.Elect(1));
	uint64_t last = net.St(1).last_index;
	EXPECT_EQ(SN_ETOOLARGE, net.Propose(1, std::string(101, 'x')));
	EXPECT_EQ(last, net.St(1).last_index);
	EXPECT_EQ(SN_OK, net.Propose(1, std::string(100, 'x')));
	EXPECT_EQ(SN_OK, net.Propose(1, ""));
	EXPECT_EQ(last + 2, net.St(1).last_index);
}

TEST(RaftFlow, DefaultMaxEntryBytesIsOneMiB)
{
	Net net({1}, Config::Plain());
	ASSERT_TRUE(net.Elect(1));
	EXPECT_EQ(SN_ETOOLARGE, net.Propose(1, std::string((1u << 20) + 1, 'd')));
	EXPECT_EQ(SN_OK, net.Propose(1, std::string(1u << 20, 'd')));
	EXPECT_EQ(2u, net.St(1).commit);
}

/* A rejection moves the follower to probe at min(rejected index, hint + 1):
 * the next APP starts right after the follower's last entry. */
TEST(RaftFlow, RejectRewindsToTheFollowersHint)
{
	Net net(Ids(3), Config::Plain());
	net.Restore(1, {1, 0, 0}, LogOfTerms(std::vector<uint64_t>(10, 1)));
	net.Restore(2, {1, 0, 0}, LogOfTerms({1, 1, 1}));
	ASSERT_TRUE(net.Elect(1));
	EXPECT_GE(SyncLogs(net, 1, 5), 0);

	for (uint64_t f : {2, 3}) {
		SCOPED_TRACE("follower " + std::to_string(f));
		uint64_t follower_last = f == 2 ? 3 : 0;
		size_t rej = net.sent.size();
		for (size_t i = 0; i < net.sent.size(); i++) {
			const Msg &m = net.sent[i];
			if (m.type == APP_RESP && m.from == f && m.reject) {
				rej = i;
				break;
			}
		}
		ASSERT_LT(rej, net.sent.size()) << "no rejection:\n" << Dump(net.sent);
		EXPECT_EQ(follower_last, net.sent[rej].hint);
		const Msg *next = nullptr;
		for (size_t i = rej + 1; i < net.sent.size() && !next; i++)
			if (net.sent[i].type == APP && net.sent[i].to == f)
				next = &net.sent[i];
		ASSERT_NE(nullptr, next) << Dump(net.sent);
		EXPECT_EQ(follower_last, next->index)
			<< "next APP after the reject should start at the hint";
		EXPECT_EQ(follower_last ? 1u : 0u, next->log_term);
	}
	EXPECT_EQ(11u, net.St(1).commit);
}

namespace {
struct RawMsg {
	sn_message env;
	std::vector<uint8_t> bytes;
};

/* Handle every ready of a bare engine: persist synchronously, collect the
 * messages (raw, not decoded: they may be big). */
std::vector<RawMsg> DrainRaw(sn_engine *e)
{
	std::vector<RawMsg> out;
	for (int guard = 0; guard < 100 && sn_engine_has_ready(e); guard++) {
		sn_ready rd;
		if (sn_engine_ready(e, &rd) != 1)
			break;
		for (size_t i = 0; i < rd.n_messages; i++) {
			const sn_message &m = rd.messages[i];
			const uint8_t *p = static_cast<const uint8_t *>(m.data);
			out.push_back({m, std::vector<uint8_t>(p, p + m.len)});
		}
		for (size_t i = 0; i < rd.n_messages_after_persist; i++) {
			const sn_message &m = rd.messages_after_persist[i];
			const uint8_t *p = static_cast<const uint8_t *>(m.data);
			out.push_back({m, std::vector<uint8_t>(p, p + m.len)});
		}
		if (rd.n_entries)
			sn_engine_persisted(e, rd.entries[rd.n_entries - 1].index,
					    rd.entries[rd.n_entries - 1].term);
		sn_engine_advance(e);
	}
	return out;
}

int StepRawMsg(sn_engine *e, RawMsg &m)
{
	m.env.data = m.bytes.data();
	m.env.len = m.bytes.size();
	return sn_engine_step(e, &m.env);
}

uint32_t EntryCount(const RawMsg &m)
{
	uint32_t n = 0;
	for (int i = 3; i >= 0; i--)
		n = (n << 8) | m.bytes[SN__RAFT_MSG_HEADER - 4 + i];
	return n;
}
} // namespace

/* max_msg_bytes counts entry data only, so tiny entries must be bounded by
 * count: no APP carries more than SN__RAFT_MAX_ENTRIES_PER_MSG entries. */
TEST(RaftFlow, AppendNeverCarriesMoreThanTheProtocolMaximum)
{
	const uint64_t voters[] = {1, 2};
	sn_engine *eng[3] = {nullptr, nullptr, nullptr};
	for (uint64_t id : {1, 2}) {
		sn_raft_options o;
		ASSERT_EQ(SN_OK, sn_raft_options_init(&o, SN_RAFT_OPTIONS_VERSION));
		o.id = id;
		o.voters = voters;
		o.n_voters = 2;
		o.disable_pre_vote = 1;
		o.disable_check_quorum = 1;
		ASSERT_EQ(SN_OK, sn_raft_new(&eng[id], &o));
	}
	/* Elect 1, keeping its first (probe) APP aside. */
	ASSERT_EQ(SN_OK, sn_engine_campaign(eng[1]));
	std::vector<RawMsg> q = DrainRaw(eng[1]);
	ASSERT_EQ(1u, q.size());
	ASSERT_EQ(SN_OK, StepRawMsg(eng[2], q[0]));
	q = DrainRaw(eng[2]);
	ASSERT_EQ(1u, q.size());
	ASSERT_EQ(SN_OK, StepRawMsg(eng[1], q[0]));
	std::vector<RawMsg> probe = DrainRaw(eng[1]);
	sn_engine_status st;
	sn_engine_get_status(&st, eng[1]);
	ASSERT_EQ(SN_ROLE_LEADER, st.role);

	const uint64_t n = SN__RAFT_MAX_ENTRIES_PER_MSG + 16;
	for (uint64_t i = 0; i < n; i++)
		ASSERT_EQ(SN_OK, sn_engine_propose(nullptr, eng[1], "", 0));
	q = DrainRaw(eng[1]);
	for (RawMsg &m : probe)
		q.push_back(m);

	uint32_t largest = 0;
	for (int round = 0; round < 20 && !q.empty(); round++) {
		std::vector<RawMsg> next;
		for (RawMsg &m : q) {
			if (m.bytes[1] == SN__RAFT_APP)
				largest = std::max(largest, EntryCount(m));
			sn_engine *to = eng[m.env.to];
			EXPECT_EQ(SN_OK, StepRawMsg(to, m)) << sn_errmsg();
			for (RawMsg &r : DrainRaw(to))
				next.push_back(std::move(r));
		}
		q.swap(next);
	}
	EXPECT_LE(largest, SN__RAFT_MAX_ENTRIES_PER_MSG)
		<< "an APP carried " << largest << " entries";
	sn_engine_status f;
	sn_engine_get_status(&f, eng[2]);
	sn_engine_get_status(&st, eng[1]);
	EXPECT_EQ(st.last_index, f.last_index) << "the follower never caught up";
	EXPECT_EQ(n + 1, st.commit);
	sn_engine_free(eng[1]);
	sn_engine_free(eng[2]);
}
