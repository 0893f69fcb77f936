/*
 * raft_snapshot_test.cc - snapshots in the Raft engine: what
 * sn_engine_snapshot_taken() accepts, compaction behind it, the chunked,
 * flow-controlled, resumable transfer to a lagging follower (SNAP /
 * SNAP_RESP), install, restart from a snapshot, and malformed SNAP input.
 *
 * The harness keeps each member's durable snapshots and serves the engine's
 * snapshot_read hook from them; a follower's received chunks are written into
 * a file that is checked (size, CRC32C) when the engine asks to install it.
 */
#include "raft_harness.h"

using namespace sntest;

namespace {

/* `n` bytes that differ from chunk to chunk (a misplaced chunk shows). */
std::string Pattern(size_t n, uint64_t seed)
{
	std::string s(n, '\0');
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
	for (size_t i = 0; i < n; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		s[i] = static_cast<char>(x >> 56);
	}
	return s;
}

constexpr size_t kChunk = 100;  /* max_msg_bytes in most tests */
constexpr size_t kWindow = 300; /* max_inflight_bytes in most tests */

Config SnapConfig(size_t chunk = kChunk, size_t window = kWindow)
{
	Config c;
	c.max_msg_bytes = chunk;
	c.max_inflight_bytes = window;
	return c;
}

/* SNAP messages from `from` to `to`, in the order they were sent. */
std::vector<Msg> Snaps(const std::vector<Msg> &sent, uint64_t from,
		       uint64_t to)
{
	return Filter(sent, SNAP, from, to);
}

size_t SnapBytes(const std::vector<Msg> &msgs)
{
	size_t n = 0;
	for (const Msg &m : msgs)
		n += m.data.size();
	return n;
}

/* The meta a SNAP message carries, as a Snap (no data). */
bool SnapMatches(const Msg &m, const Snap &s)
{
	return m.index == s.index && m.log_term == s.term &&
	       m.snap_size == s.size && m.snap_crc == s.crc &&
	       m.voters == s.voters;
}

/* A SNAP chunk of `s` as a leader of `term` would send it. */
Msg SnapMsg(uint64_t from, uint64_t to, uint64_t term, const Snap &s,
	    uint64_t offset, size_t len)
{
	Msg m = M(SNAP, from, to, term);
	m.index = s.index;
	m.log_term = s.term;
	m.snap_size = s.size;
	m.snap_crc = s.crc;
	m.voters = s.voters;
	m.offset = offset;
	m.data = s.data.substr(offset, len);
	return m;
}

/*
 * Member 1 leads, member 3 was cut off from the start (its log is empty);
 * `proposals` entries commit on 1 and 2, then 1 takes a snapshot of
 * `snap_bytes` bytes through its applied index and compacts its log to it.
 * Member 3 is still isolated on return.
 */
void LagBehindSnapshot(Net &net, size_t snap_bytes, Snap *snap,
		       int proposals = 6)
{
	net.Isolate(3);
	ASSERT_TRUE(net.Elect(1));
	for (int i = 0; i < proposals; i++)
		ASSERT_EQ(SN_OK, net.Propose(1, "v" + std::to_string(i)));
	net.Deliver();
	net.Tick(1); /* the commit index reaches member 2 */
	net.Deliver();
	uint64_t idx = net.St(1).applied;
	ASSERT_EQ(uint64_t(1 + proposals), idx);
	ASSERT_EQ(idx, net.St(2).applied);
	ASSERT_EQ(SN_OK, net.TakeSnapshot(1, idx, Pattern(snap_bytes, idx), snap));
	ASSERT_EQ(SN_OK, sn_engine_compact(net.e(1), idx));
	ASSERT_EQ(idx + 1, net.St(1).first_index);
	ASSERT_EQ(0u, net.St(3).last_index);
	net.TakeSent();
}

/* Let member 3 back in; the leader learns it is behind at its next
 * heartbeat. */
void Reconnect(Net &net)
{
	net.isolated.erase(3);
	net.Tick(1);
}

/* Tick the leader and deliver until member 3 installed a snapshot; the
 * number of ticks it took, or -1. */
int TicksUntilInstalled(Net &net, uint64_t leader, int max_ticks,
			size_t installs = 1)
{
	net.Deliver();
	for (int t = 0; t <= max_ticks; t++) {
		if (net.node(3).installs.size() >= installs)
			return t;
		net.Tick(leader);
		net.Deliver();
	}
	return -1;
}

/* Everything member `id` received of snapshot `s` is exactly its bytes. */
void ExpectInstalled(Net &net, uint64_t id, const Snap &s)
{
	Node &n = net.node(id);
	ASSERT_FALSE(n.installs.empty()) << "member " << id << " installed nothing";
	const Snap &got = n.installs.back().snap;
	EXPECT_TRUE(got.SameMeta(s.Meta())) << got << " vs " << s;
	EXPECT_EQ(s.data, got.data);
	sn_engine_status st = net.St(id);
	EXPECT_EQ(s.index + 1, st.first_index) << StatusStr(st);
	EXPECT_GE(st.last_index, s.index) << StatusStr(st);
	EXPECT_GE(st.commit, s.index) << StatusStr(st);
	EXPECT_GE(st.applied, s.index) << StatusStr(st);
	EXPECT_EQ(s.index, st.snapshot_index) << StatusStr(st);
}

/* Propose on the leader; every member ends with the same log suffix after
 * the snapshot and applies the new entry. */
void ExpectReplicationContinues(Net &net, uint64_t leader, const Snap &s)
{
	uint64_t idx = 0;
	ASSERT_EQ(SN_OK, net.Propose(leader, "after-snapshot", &idx));
	net.Deliver();
	net.Tick(leader);
	net.Deliver();
	EXPECT_GT(idx, s.index);
	for (auto &kv : net.nodes) {
		sn_engine_status st = net.St(kv.first);
		EXPECT_EQ(idx, st.commit) << "member " << kv.first << " "
					  << StatusStr(st);
		EXPECT_EQ(idx, st.applied) << "member " << kv.first;
		std::vector<std::string> data = kv.second.AppliedData();
		ASSERT_FALSE(data.empty()) << "member " << kv.first;
		EXPECT_EQ("after-snapshot", data.back()) << "member " << kv.first;
	}
	/* The entries after the snapshot are the leader's, on member 3. */
	const Node &l = net.node(leader), &f = net.node(3);
	for (uint64_t i = s.index + 1; i <= idx; i++) {
		ASSERT_GT(i, f.log_start);
		ASSERT_LE(i - f.log_start, f.log.size()) << "member 3 lacks " << i;
		EXPECT_EQ(l.log[i - l.log_start - 1], f.log[i - f.log_start - 1]);
	}
	/* Member 3 applied nothing at or below the snapshot entry by entry. */
	for (const Ent &c : f.committed)
		EXPECT_GT(c.index, s.index) << "re-applied " << c;
}

} // namespace

/* ---------------------------------------------------------------------- */
/* sn_engine_snapshot_taken                                                */

/* A snapshot must lie within what was applied: one through an index the
 * state machine has not reached yet is refused. */
TEST(RaftSnapshot, TakenBeyondAppliedIsInvalid)
{
	Net net(Ids(1));
	ASSERT_TRUE(net.Elect(1));
	ASSERT_EQ(SN_OK, net.Propose(1, "a"));
	ASSERT_EQ(2u, net.St(1).applied);
	/* Entry 3 exists but is not applied yet. */
	net.node(1).hold_persist = true;
	ASSERT_EQ(SN_OK, net.Propose(1, "b"));
	ASSERT_EQ(3u, net.St(1).last_index);
	ASSERT_EQ(2u, net.St(1).applied);

	Snap s = MakeSnap(3, net.Term(1), "state", {1});
	sn_snapshot_meta meta = s.Meta();
	EXPECT_EQ(SN_EINVAL, sn_engine_snapshot_taken(net.e(1), &meta));
	meta.index = 7; /* beyond the log altogether */
	EXPECT_EQ(SN_EINVAL, sn_engine_snapshot_taken(net.e(1), &meta));
	EXPECT_EQ(0u, net.St(1).snapshot_index);

	meta.index = 2;
	EXPECT_EQ(SN_OK, sn_engine_snapshot_taken(net.e(1), &meta));
	EXPECT_EQ(2u, net.St(1).snapshot_index);
}

/* The snapshot's term must be the log's term at its index. */
TEST(RaftSnapshot, TakenWithATermThatContradictsTheLogIsInvalid)
{
	Net net(Ids(1));
	ASSERT_TRUE(net.Elect(1));
	ASSERT_EQ(SN_OK, net.Propose(1, "a"));
	uint64_t term = net.Term(1);
	ASSERT_EQ(2u, net.St(1).applied);
	for (uint64_t bad : {term + 1, term - 1, uint64_t(0)}) {
		Snap s = MakeSnap(2, bad, "state", {1});
		sn_snapshot_meta meta = s.Meta();
		EXPECT_EQ(SN_EINVAL, sn_engine_snapshot_taken(net.e(1), &meta))
			<< "term " << bad << ", log says " << term;
	}
	EXPECT_EQ(0u, net.St(1).snapshot_index);
	EXPECT_EQ(SN_OK, net.TakeSnapshot(1, 2, "state"));
	EXPECT_EQ(2u, net.St(1).snapshot_index);
}

/* A snapshot has data: size 0 is refused. */
TEST(RaftSnapshot, TakenWithNoDataIsInvalid)
{
	Net net(Ids(1));
	ASSERT_TRUE(net.Elect(1));
	ASSERT_EQ(SN_OK, net.Propose(1, "a"));
	Snap s = MakeSnap(2, net.Term(1), "", {1});
	sn_snapshot_meta meta = s.Meta();
	ASSERT_EQ(0u, meta.size);
	EXPECT_EQ(SN_EINVAL, sn_engine_snapshot_taken(net.e(1), &meta));
	EXPECT_EQ(0u, net.St(1).snapshot_index);
}

/* The engine keeps the newest snapshot: an older one is accepted and
 * ignored, and the newest is what a follower is sent. */
TEST(RaftSnapshot, OlderSnapshotIsIgnored)
{
	Net net(Ids(3), SnapConfig());
	net.Isolate(3);
	ASSERT_TRUE(net.Elect(1));
	for (int i = 0; i < 5; i++)
		ASSERT_EQ(SN_OK, net.Propose(1, "v" + std::to_string(i)));
	net.Deliver();
	ASSERT_EQ(6u, net.St(1).applied);
	EXPECT_EQ(0u, net.St(1).snapshot_index) << "no snapshot yet";

	Snap newer;
	ASSERT_EQ(SN_OK, net.TakeSnapshot(1, 5, Pattern(250, 5), &newer));
	EXPECT_EQ(5u, net.St(1).snapshot_index);
	EXPECT_EQ(SN_OK, net.TakeSnapshot(1, 3, Pattern(250, 3)));
	EXPECT_EQ(5u, net.St(1).snapshot_index) << "an older one replaced it";
	EXPECT_EQ(SN_OK, net.TakeSnapshot(1, 5, Pattern(99, 55)))
		<< "the same index again is not an error";
	EXPECT_EQ(5u, net.St(1).snapshot_index);
	net.node(1).snaps[5] = newer; /* the harness file, as the engine knows */

	/* Compact to 5 so the follower needs the snapshot, and check which
	 * one travels. */
	ASSERT_EQ(SN_OK, sn_engine_compact(net.e(1), 5));
	net.TakeSent();
	Reconnect(net);
	ASSERT_GE(TicksUntilInstalled(net, 1, 10), 0);
	for (const Msg &m : Snaps(net.sent, 1, 3))
		EXPECT_TRUE(SnapMatches(m, newer)) << m;
	ExpectInstalled(net, 3, newer);
}

/* An older snapshot is just older, also when the log behind it was
 * compacted away: engine.h gives SN_EINVAL only for an index beyond applied
 * or a term that contradicts the log, and neither holds here (a caller
 * whose snapshots finish out of order must not see an error). */
TEST(RaftSnapshot, OlderSnapshotBehindTheCompactedLogIsIgnoredNotInvalid)
{
	Net net(Ids(1));
	ASSERT_TRUE(net.Elect(1));
	for (int i = 0; i < 5; i++)
		ASSERT_EQ(SN_OK, net.Propose(1, "v" + std::to_string(i)));
	ASSERT_EQ(SN_OK, net.TakeSnapshot(1, 5, "state@5"));
	ASSERT_EQ(SN_OK, sn_engine_compact(net.e(1), 5));
	Snap older = MakeSnap(3, net.Term(1), "state@3", {1});
	sn_snapshot_meta om = older.Meta();
	EXPECT_EQ(SN_OK, sn_engine_snapshot_taken(net.e(1), &om)) << sn_errmsg();
	EXPECT_EQ(5u, net.St(1).snapshot_index);
	EXPECT_EQ(6u, net.St(1).first_index);
}

/* The meta's voters are copied: the caller may reuse its array. */
TEST(RaftSnapshot, TakenCopiesTheMetaAndItsVoters)
{
	Net net(Ids(3), SnapConfig());
	net.Isolate(3);
	ASSERT_TRUE(net.Elect(1));
	ASSERT_EQ(SN_OK, net.Propose(1, "x"));
	net.Deliver();
	Snap s = MakeSnap(2, net.Term(1), Pattern(150, 2), net.voters);
	net.node(1).snaps[2] = s;
	{
		std::vector<uint64_t> *voters = new std::vector<uint64_t>(s.voters);
		Snap tmp = s;
		sn_snapshot_meta meta = tmp.Meta();
		meta.voters = voters->data();
		ASSERT_EQ(SN_OK, sn_engine_snapshot_taken(net.e(1), &meta));
		std::fill(voters->begin(), voters->end(), 0xdead);
		delete voters; /* ASan: a kept pointer would be a use after free */
	}
	ASSERT_EQ(SN_OK, sn_engine_compact(net.e(1), 2));
	Reconnect(net);
	ASSERT_GE(TicksUntilInstalled(net, 1, 10), 0);
	std::vector<Msg> snaps = Snaps(net.sent, 1, 3);
	ASSERT_FALSE(snaps.empty());
	for (const Msg &m : snaps)
		EXPECT_EQ(net.voters, m.voters) << m;
	EXPECT_EQ(net.voters, net.node(3).installs.back().snap.voters);
}

/* ---------------------------------------------------------------------- */
/* sn_engine_compact                                                       */

/* Compaction must stay behind the newest snapshot (and so behind applied);
 * it moves first_index and the compacted entries are gone for good. */
TEST(RaftSnapshot, CompactOnlyBehindTheSnapshot)
{
	Net net(Ids(1));
	ASSERT_TRUE(net.Elect(1));
	for (int i = 0; i < 6; i++)
		ASSERT_EQ(SN_OK, net.Propose(1, "v" + std::to_string(i)));
	ASSERT_EQ(7u, net.St(1).applied);
	EXPECT_EQ(SN_EINVAL, sn_engine_compact(net.e(1), 1))
		<< "no snapshot at all yet";
	EXPECT_EQ(1u, net.St(1).first_index);

	ASSERT_EQ(SN_OK, net.TakeSnapshot(1, 4, "state@4"));
	EXPECT_EQ(SN_EINVAL, sn_engine_compact(net.e(1), 5)) << "beyond snapshot";
	EXPECT_EQ(SN_EINVAL, sn_engine_compact(net.e(1), 8)) << "beyond applied";
	EXPECT_EQ(1u, net.St(1).first_index);

	EXPECT_EQ(SN_OK, sn_engine_compact(net.e(1), 3));
	sn_engine_status st = net.St(1);
	EXPECT_EQ(4u, st.first_index);
	EXPECT_EQ(7u, st.last_index);
	EXPECT_EQ(7u, st.commit);
	EXPECT_EQ(SN_OK, sn_engine_compact(net.e(1), 4));
	EXPECT_EQ(5u, net.St(1).first_index);
	EXPECT_EQ(SN_OK, sn_engine_compact(net.e(1), 2)) << "behind: a no-op";
	EXPECT_EQ(5u, net.St(1).first_index);
	EXPECT_EQ(7u, net.St(1).last_index);
	EXPECT_EQ(4u, net.St(1).snapshot_index);

	/* The log goes on after the compacted part. */
	ASSERT_EQ(SN_OK, net.Propose(1, "more"));
	EXPECT_EQ(8u, net.St(1).applied);
	EXPECT_EQ("more", net.node(1).committed.back().data);
}

/* Committed entries handed out in a ready stay readable until advance,
 * even when the caller snapshots and compacts past them before applying
 * (ASan reports a use after free otherwise). */
TEST(RaftSnapshot, CompactKeepsHandedOutEntriesUntilAdvance)
{
	Net net(Ids(1));
	ASSERT_TRUE(net.Elect(1));
	Node &n = net.node(1);
	n.hold_persist = true;
	std::vector<std::string> data;
	for (int i = 0; i < 4; i++) {
		data.push_back(Pattern(40 + i, i));
		ASSERT_EQ(SN_OK, net.Propose(1, data.back()));
	}
	/* Report the writes durable by hand, so the next ready commits them
	 * and stays un-advanced while we compact. */
	uint64_t last = net.St(1).last_index, term = net.Term(1);
	sn_engine_persisted(net.e(1), last, term);
	sn_ready rd;
	ASSERT_EQ(1, sn_engine_ready(net.e(1), &rd));
	ASSERT_EQ(4u, rd.n_committed);
	Snap s = MakeSnap(last, term, "state", {1});
	sn_snapshot_meta meta = s.Meta();
	ASSERT_EQ(SN_OK, sn_engine_snapshot_taken(net.e(1), &meta))
		<< "applied counts what this ready hands out: " << sn_errmsg();
	ASSERT_EQ(SN_OK, sn_engine_compact(net.e(1), last));
	EXPECT_EQ(last + 1, net.St(1).first_index);
	for (size_t i = 0; i < rd.n_committed; i++) {
		const sn_entry &c = rd.committed[i];
		EXPECT_EQ(last - 3 + i, c.index);
		ASSERT_EQ(data[i].size(), c.len);
		EXPECT_EQ(0, std::memcmp(c.data, data[i].data(), c.len))
			<< "entry " << c.index << " changed under the ready";
	}
	sn_engine_advance(net.e(1));
	n.pending.clear();
	n.applied = last;
	n.persisted = last;
	n.hold_persist = false;
	ASSERT_EQ(SN_OK, net.Propose(1, "next"));
	EXPECT_EQ(last + 1, net.St(1).applied);
}

/* ---------------------------------------------------------------------- */
/* The transfer                                                            */

/* A follower behind the compacted log gets the snapshot in order, in
 * chunks of at most max_msg_bytes; the chunks handed out are exactly the
 * snapshot's bytes; the ready with the last chunk carries `install`; then
 * the log starts after it and replication goes on from there. */
TEST(RaftSnapshotTransfer, LaggingFollowerGetsTheSnapshotInChunks)
{
	Net net(Ids(3), SnapConfig());
	Snap s;
	ASSERT_NO_FATAL_FAILURE(LagBehindSnapshot(net, 1050, &s));
	/* Appends wait, so what the install alone did shows. */
	net.filter = [](const Msg &m) {
		return m.type == APP && m.to == 3 ? Net::kHold : Net::kDeliver;
	};
	Reconnect(net);
	ASSERT_GE(TicksUntilInstalled(net, 1, 5), 0) << Dump(net.sent);
	{
		sn_engine_status st = net.St(3);
		EXPECT_EQ(s.index, st.commit) << StatusStr(st);
		EXPECT_EQ(s.index, st.applied) << StatusStr(st);
		EXPECT_EQ(s.index, st.persisted) << StatusStr(st);
		EXPECT_EQ(s.index + 1, st.first_index) << StatusStr(st);
		EXPECT_EQ(s.index, st.last_index) << StatusStr(st);
		EXPECT_EQ(s.term, st.last_term) << StatusStr(st);
		EXPECT_EQ(s.index, net.node(3).hs.commit)
			<< "the install's hard state carries the commit";
	}
	net.filter = nullptr;
	net.ReleaseHeld();
	net.Deliver();

	std::vector<Msg> snaps = Snaps(net.sent, 1, 3);
	ASSERT_EQ(11u, snaps.size()) << Dump(snaps);
	uint64_t next = 0;
	for (const Msg &m : snaps) {
		EXPECT_TRUE(SnapMatches(m, s)) << m;
		EXPECT_EQ(net.Term(1), m.term);
		EXPECT_LE(m.data.size(), kChunk) << m;
		EXPECT_GT(m.data.size(), 0u) << m;
		EXPECT_EQ(next, m.offset) << "in order, no gaps: " << m;
		EXPECT_EQ(s.data.substr(m.offset, m.data.size()), m.data);
		next = m.offset + m.data.size();
	}
	EXPECT_EQ(s.size, next);

	Node &f = net.node(3);
	ASSERT_EQ(snaps.size(), f.chunks.size());
	std::string file;
	for (const Node::Chunk &c : f.chunks) {
		EXPECT_TRUE(c.meta.SameMeta(s.Meta())) << c.meta;
		EXPECT_EQ(file.size(), c.offset);
		file += c.data;
	}
	EXPECT_EQ(s.data, file);
	ASSERT_EQ(1u, f.installs.size());
	EXPECT_EQ(f.chunks.back().ready, f.installs[0].ready)
		<< "install comes with the last chunk";
	for (size_t i = 0; i + 1 < f.chunks.size(); i++)
		EXPECT_LT(f.chunks[i].ready, f.installs[0].ready);
	ExpectInstalled(net, 3, s);
	EXPECT_EQ(s.index, net.St(3).last_index);
	EXPECT_EQ(s.index, net.St(3).commit);
	EXPECT_EQ(s.index, net.St(3).applied);
	EXPECT_TRUE(f.committed.empty()) << "nothing applied entry by entry";

	/* Acks: one per chunk, bytes received so far, after persist. */
	std::vector<Msg> acks = Filter(net.sent, SNAP_RESP, 3, 1);
	ASSERT_EQ(snaps.size(), acks.size()) << Dump(acks);
	for (size_t i = 0; i < acks.size(); i++) {
		EXPECT_FALSE(acks[i].reject) << acks[i];
		EXPECT_TRUE(acks[i].after_persist) << acks[i];
		EXPECT_EQ(s.index, acks[i].index);
		EXPECT_EQ(std::min<uint64_t>((i + 1) * kChunk, s.size),
			  acks[i].hint);
	}

	/* The leader then replicates from right after the snapshot. */
	std::vector<Msg> apps = Filter(net.sent, APP, 1, 3);
	ASSERT_FALSE(apps.empty());
	EXPECT_EQ(s.index, apps.back().index) << apps.back();
	EXPECT_EQ(s.term, apps.back().log_term);
	ExpectReplicationContinues(net, 1, s);
}

/* Leader 1 streams a 1000-byte snapshot to member 3 with the given window;
 * the most bytes ever sent but not yet acknowledged (as the leader knows:
 * acks count when delivered to it). Fails the test on the way when that
 * exceeds max(window, one chunk). */
static uint64_t WorstUnacked(size_t window)
{
	SCOPED_TRACE("max_inflight_bytes " + std::to_string(window));
	Net net(Ids(3), SnapConfig(kChunk, window));
	Snap s;
	LagBehindSnapshot(net, 1000, &s);
	const uint64_t limit = std::max<uint64_t>(window, kChunk);
	uint64_t sent_end = 0, acked = 0, worst = 0;
	size_t seen = 0;
	std::string first_over;
	/* Every SNAP sent so far, against the acks delivered so far. */
	auto check = [&]() {
		for (; seen < net.sent.size(); seen++) {
			const Msg &m = net.sent[seen];
			if (m.type != SNAP || m.from != 1)
				continue;
			uint64_t end = m.offset + m.data.size();
			if (end > sent_end)
				sent_end = end;
			if (sent_end - acked > worst)
				worst = sent_end - acked;
			if (sent_end - acked > limit && first_over.empty())
				first_over = m.Str() + ": " +
					     std::to_string(sent_end - acked) +
					     " bytes unacked";
		}
	};
	/* The filter runs as each message is delivered: first check what was
	 * sent before it, then count it if it is an ack. */
	net.filter = [&](const Msg &m) {
		check();
		if (m.type == SNAP_RESP && m.to == 1 && !m.reject &&
		    m.hint > acked)
			acked = m.hint;
		return Net::kDeliver;
	};
	Reconnect(net);
	net.Deliver();
	check();
	EXPECT_EQ(1u, net.node(3).installs.size());
	EXPECT_EQ(s.size, sent_end);
	EXPECT_TRUE(first_over.empty())
		<< "window " << limit << " exceeded, first by " << first_over;
	return worst;
}

/* Flow control: at most max(max_inflight_bytes, one chunk) bytes of the
 * snapshot are unacknowledged at any time, and the window is used: with a
 * window of whole chunks it is filled, and with a window below one chunk,
 * one chunk at a time travels. */
TEST(RaftSnapshotTransfer, UnackedBytesNeverExceedTheWindow)
{
	EXPECT_EQ(300u, WorstUnacked(300));
	EXPECT_EQ(kChunk, WorstUnacked(40));
}

/* The same rule when the window is not a multiple of the chunk size: the
 * chunk that would cross max_inflight_bytes waits for an ack. */
TEST(RaftSnapshotTransfer, UnackedBytesNeverExceedAWindowOfPartChunks)
{
	uint64_t worst = WorstUnacked(250);
	EXPECT_LE(worst, 250u);
	EXPECT_GE(worst, 200u);
}

/* SNAP_RESP acks travel in messages_after_persist: while the follower's
 * writes are not durable, the leader hears nothing and sends no more than
 * its window; each durable chunk opens the window by what it acked. */
TEST(RaftSnapshotTransfer, WindowAdvancesOnlyOnDurableAcks)
{
	Net net(Ids(3), SnapConfig());
	Snap s;
	ASSERT_NO_FATAL_FAILURE(LagBehindSnapshot(net, 1000, &s));
	net.node(3).hold_persist = true;
	Reconnect(net);
	net.Deliver();
	std::vector<Msg> out = net.TakeSent();
	EXPECT_EQ(kWindow / kChunk, Snaps(out, 1, 3).size()) << Dump(out);
	EXPECT_EQ(0u, Count(out, SNAP_RESP, 3)) << "acks before durable:\n"
						 << Dump(out);
	EXPECT_EQ(kWindow / kChunk, net.node(3).chunks.size())
		<< "chunks are handed out to write at once";
	/* Ticking does not make it send more: no ack, no progress. */
	net.Tick(1);
	net.Deliver();
	out = net.TakeSent();
	EXPECT_EQ(0u, Snaps(out, 1, 3).size()) << Dump(out);

	/* Each pending write made durable releases its ack; the leader sends
	 * one more chunk per acked chunk. */
	size_t rounds = 0;
	while (net.node(3).installs.empty() && rounds++ < 50) {
		Node &f = net.node(3);
		ASSERT_FALSE(f.pending.empty());
		Node::Pending p = f.pending.front();
		f.pending.pop_front();
		for (const Msg &m : p.msgs) {
			EXPECT_TRUE(m.after_persist) << m;
			net.queue.push_back(m);
			net.sent.push_back(m);
		}
		net.Deliver();
		out = net.TakeSent();
		size_t acks = Count(out, SNAP_RESP, 3, 1);
		EXPECT_LE(Snaps(out, 1, 3).size(), acks) << Dump(out);
	}
	ASSERT_EQ(1u, net.node(3).installs.size());
	/* The install's ack is after persist too, and until it is reported
	 * durable, nothing beyond the snapshot counts as persisted. */
	EXPECT_LT(net.St(3).persisted, s.index);
	net.Release(3);
	net.node(3).hold_persist = false;
	EXPECT_EQ(s.index, net.St(3).persisted);
	net.Deliver();
	ExpectInstalled(net, 3, s);
	ExpectReplicationContinues(net, 1, s);
}

/* A lost chunk: the follower rejects the next one (a gap) with the offset
 * it holds; the leader resumes from there, not from 0, and a single loss
 * costs a bounded amount of resending. */
TEST(RaftSnapshotTransfer, LostChunkIsResentFromTheFollowersOffset)
{
	Net net(Ids(3), SnapConfig());
	Snap s;
	ASSERT_NO_FATAL_FAILURE(LagBehindSnapshot(net, 3000, &s));
	bool lost = false;
	net.filter = [&](const Msg &m) {
		if (m.type == SNAP && m.offset == 500 && !lost) {
			lost = true;
			return Net::kDrop;
		}
		return Net::kDeliver;
	};
	Reconnect(net);
	ASSERT_GE(TicksUntilInstalled(net, 1, 20), 0);
	ASSERT_TRUE(lost);

	std::vector<Msg> &sent = net.sent;
	size_t first_reject = sent.size();
	for (size_t i = 0; i < sent.size(); i++)
		if (sent[i].type == SNAP_RESP && sent[i].reject) {
			first_reject = i;
			break;
		}
	ASSERT_LT(first_reject, sent.size()) << "no reject for the gap";
	EXPECT_EQ(500u, sent[first_reject].hint) << sent[first_reject];
	EXPECT_TRUE(sent[first_reject].after_persist);
	size_t resent_at_500 = 0;
	for (size_t i = first_reject; i < sent.size(); i++) {
		if (sent[i].type != SNAP)
			continue;
		EXPECT_GE(sent[i].offset, 500u) << "resent from before the "
						   "follower's offset: " << sent[i];
		resent_at_500 += sent[i].offset == 500;
	}
	EXPECT_GE(resent_at_500, 1u);
	ExpectInstalled(net, 3, s);

	ExpectReplicationContinues(net, 1, s);
}

/* What one lost chunk costs: each chunk in flight behind the gap is
 * rejected, but the leader must not resend a whole window per reject (the
 * resent chunks then arrive as duplicates, are rejected in turn, and the
 * resends multiply). A loss costs at most about a window of resends. */
TEST(RaftSnapshotTransfer, RejectsInFlightDoNotMultiplyResends)
{
	Net net(Ids(3), SnapConfig());
	Snap s;
	ASSERT_NO_FATAL_FAILURE(LagBehindSnapshot(net, 3000, &s));
	bool lost = false;
	net.filter = [&](const Msg &m) {
		if (m.type == SNAP && m.offset == 500 && !lost) {
			lost = true;
			return Net::kDrop;
		}
		return Net::kDeliver;
	};
	Reconnect(net);
	ASSERT_GE(TicksUntilInstalled(net, 1, 20), 0);
	ExpectInstalled(net, 3, s);
	size_t bytes = SnapBytes(Snaps(net.sent, 1, 3)), rejects = 0;
	for (const Msg &m : Filter(net.sent, SNAP_RESP, 3, 1))
		rejects += m.reject;
	EXPECT_LE(bytes, s.size + 2 * kWindow)
		<< "one lost chunk made the leader send " << bytes << " bytes of a "
		<< s.size << "-byte snapshot (" << Snaps(net.sent, 1, 3).size()
		<< " chunks, " << rejects << " rejects)";
}

/* A follower only ever goes back to 0 (it restarted, or the CRC failed): a
 * reject below what it already acknowledged is stale (reordered) and must
 * not rewind the transfer; a reject at 0 does. */
TEST(RaftSnapshotTransfer, StaleRejectDoesNotRewindButAResetToZeroDoes)
{
	Net net(Ids(3), SnapConfig());
	Snap s;
	ASSERT_NO_FATAL_FAILURE(LagBehindSnapshot(net, 1000, &s));
	net.filter = [](const Msg &m) {
		return m.type == SNAP && m.offset >= 500 ? Net::kDrop
							 : Net::kDeliver;
	};
	Reconnect(net);
	net.Deliver();
	ASSERT_EQ(500u, net.node(3).rcv.data.size());
	net.filter = [](const Msg &m) {
		return m.to == 3 ? Net::kHold : Net::kDeliver;
	};
	net.TakeSent();
	Msg stale = M(SNAP_RESP, 3, 1, net.Term(1));
	stale.index = s.index;
	stale.reject = 1;
	stale.hint = 100;
	stale.ctx = s.size;
	ASSERT_EQ(SN_OK, net.Inject(stale));
	std::vector<Msg> out = net.TakeSent();
	EXPECT_EQ(0u, Snaps(out, 1, 3).size()) << "rewound on a stale reject:\n"
					       << Dump(out);
	Msg reset = stale;
	reset.hint = 0;
	ASSERT_EQ(SN_OK, net.Inject(reset));
	std::vector<Msg> snaps = Snaps(net.TakeSent(), 1, 3);
	ASSERT_FALSE(snaps.empty()) << "a reset to 0 must be acted on";
	EXPECT_EQ(0u, snaps[0].offset) << snaps[0];
}

/* Duplicates and gaps are answered with where to continue, and a chunk the
 * follower already holds is not written again. */
TEST(RaftSnapshotTransfer, DuplicateChunkIsRejectedWithTheOffsetToResumeFrom)
{
	Net net(Ids(3), SnapConfig());
	Snap s;
	ASSERT_NO_FATAL_FAILURE(LagBehindSnapshot(net, 1000, &s));
	/* Let 0..299 through, hold the rest. */
	net.filter = [](const Msg &m) {
		return m.type == SNAP && m.offset >= 300 ? Net::kDrop
							 : Net::kDeliver;
	};
	Reconnect(net);
	net.Deliver();
	ASSERT_EQ(3u, net.node(3).chunks.size());
	net.TakeSent();
	for (uint64_t off : {uint64_t(100), uint64_t(0), uint64_t(600)}) {
		ASSERT_EQ(SN_OK, net.Inject(SnapMsg(1, 3, net.Term(1), s, off,
						    kChunk)));
		std::vector<Msg> out = net.TakeSent();
		std::vector<Msg> resp = Filter(out, SNAP_RESP, 3, 1);
		ASSERT_EQ(1u, resp.size()) << Dump(out);
		EXPECT_TRUE(resp[0].reject) << "offset " << off << ": " << resp[0];
		EXPECT_EQ(300u, resp[0].hint) << "offset " << off;
		EXPECT_EQ(s.index, resp[0].index);
	}
	EXPECT_EQ(3u, net.node(3).chunks.size()) << "nothing written again";
	EXPECT_TRUE(net.node(3).installs.empty());
}

/* Chunks lost without a later one to reveal the gap (the tail of the
 * window): after heartbeat responses without progress, the leader resends
 * from the acknowledged offset. */
TEST(RaftSnapshotTransfer, StalledTransferIsResentAfterHeartbeats)
{
	Net net(Ids(3), SnapConfig());
	Snap s;
	ASSERT_NO_FATAL_FAILURE(LagBehindSnapshot(net, 1000, &s));
	bool lost = false;
	net.filter = [&](const Msg &m) {
		if (m.type == SNAP && m.offset == 900 && !lost) {
			lost = true;
			return Net::kDrop;
		}
		return Net::kDeliver;
	};
	Reconnect(net);
	net.Deliver();
	ASSERT_TRUE(lost);
	ASSERT_TRUE(net.node(3).installs.empty());
	ASSERT_EQ(900u, net.node(3).rcv.data.size());
	net.TakeSent();

	int resent_round = -1;
	for (int round = 1; round <= 8 && resent_round < 0; round++) {
		net.Tick(1);
		net.Deliver();
		std::vector<Msg> out = net.TakeSent();
		EXPECT_EQ(1u, Count(out, HEARTBEAT_RESP, 3, 1)) << Dump(out);
		std::vector<Msg> snaps = Snaps(out, 1, 3);
		if (!snaps.empty()) {
			resent_round = round;
			EXPECT_EQ(900u, snaps[0].offset)
				<< "resent from the acked offset: " << snaps[0];
		}
	}
	EXPECT_GE(resent_round, 3) << "resent before 3 heartbeats without "
				      "progress";
	EXPECT_LE(resent_round, 4);
	ExpectInstalled(net, 3, s);
	ExpectReplicationContinues(net, 1, s);
}

/* Member 1 streams 500 bytes of its snapshot to member 3, then hands
 * leadership to member 2, which holds the very same snapshot (same state,
 * same bytes) and compacted behind it; run until member 3 installed it.
 * net.sent then holds what happened from the hand-over on. */
static void LeaderChangeMidTransfer(Net &net, Snap *s,
				    size_t *chunks_before)
{
	ASSERT_NO_FATAL_FAILURE(LagBehindSnapshot(net, 1000, s));
	ASSERT_EQ(SN_OK, net.TakeSnapshot(2, s->index, s->data));
	ASSERT_TRUE(net.node(2).snaps[s->index].SameMeta(s->Meta()));
	ASSERT_EQ(SN_OK, sn_engine_compact(net.e(2), s->index));
	net.filter = [](const Msg &m) {
		return m.type == SNAP && m.from == 1 && m.offset >= 500
			       ? Net::kDrop : Net::kDeliver;
	};
	Reconnect(net);
	net.Deliver();
	ASSERT_EQ(500u, net.node(3).rcv.data.size());
	*chunks_before = net.node(3).chunks.size();

	net.TakeSent();
	ASSERT_EQ(SN_OK, sn_engine_transfer_leader(net.e(1), 2));
	net.Drain(1);
	net.Deliver();
	ASSERT_EQ(SN_ROLE_LEADER, net.Role(2));
	ASSERT_GE(TicksUntilInstalled(net, 2, 10), 0) << Dump(net.sent);
}

/* A new leader with the same snapshot resumes the transfer where the
 * follower is: its first chunk (at 0) is rejected with the follower's
 * offset, and it continues from there, not from 0. */
TEST(RaftSnapshotTransfer, NewLeaderResumesFromTheFollowersOffset)
{
	Net net(Ids(3), SnapConfig());
	Snap s;
	size_t chunks_before = 0;
	ASSERT_NO_FATAL_FAILURE(LeaderChangeMidTransfer(net, &s, &chunks_before));

	std::vector<Msg> resp = Filter(net.sent, SNAP_RESP, 3, 2);
	ASSERT_FALSE(resp.empty());
	EXPECT_TRUE(resp[0].reject) << resp[0];
	EXPECT_EQ(500u, resp[0].hint) << "the follower says where it is";
	/* After the follower said 500, member 2 never goes back below it. */
	size_t at = 0;
	for (size_t i = 0; i < net.sent.size(); i++)
		if (net.sent[i].type == SNAP_RESP && net.sent[i].from == 3) {
			at = i;
			break;
		}
	for (size_t i = at; i < net.sent.size(); i++) {
		if (net.sent[i].type == SNAP && net.sent[i].from == 2) {
			EXPECT_GE(net.sent[i].offset, 500u) << net.sent[i];
		}
	}
	/* And the follower's file was continued, not restarted. */
	Node &f = net.node(3);
	for (size_t i = chunks_before; i < f.chunks.size(); i++)
		EXPECT_NE(0u, f.chunks[i].offset) << "restarted from 0";
	ASSERT_GT(f.chunks.size(), chunks_before);
	EXPECT_EQ(500u, f.chunks[chunks_before].offset);
	ExpectInstalled(net, 3, s);
	ExpectReplicationContinues(net, 2, s);
}

/* A new leader whose snapshot at the same index has other bytes (same
 * state, another encoding: same size, different CRC) is another snapshot:
 * its chunk at offset 0 starts the file afresh rather than being spliced
 * onto the 500 bytes of the old one. */
TEST(RaftSnapshotTransfer, NewLeaderWithOtherBytesAtTheSameIndexStartsAfresh)
{
	Net net(Ids(3), SnapConfig());
	Snap s;
	ASSERT_NO_FATAL_FAILURE(LagBehindSnapshot(net, 1000, &s));
	Snap other;
	ASSERT_EQ(SN_OK, net.TakeSnapshot(2, s.index, Pattern(1000, 99), &other));
	ASSERT_EQ(s.size, other.size);
	ASSERT_NE(s.crc, other.crc);
	ASSERT_EQ(SN_OK, sn_engine_compact(net.e(2), s.index));
	net.filter = [](const Msg &m) {
		return m.type == SNAP && m.from == 1 && m.offset >= 500
			       ? Net::kDrop : Net::kDeliver;
	};
	Reconnect(net);
	net.Deliver();
	ASSERT_EQ(500u, net.node(3).rcv.data.size());
	net.TakeSent();
	ASSERT_EQ(SN_OK, sn_engine_transfer_leader(net.e(1), 2));
	net.Drain(1);
	net.Deliver();
	ASSERT_EQ(SN_ROLE_LEADER, net.Role(2));
	ASSERT_GE(TicksUntilInstalled(net, 2, 10), 0) << Dump(net.sent);
	std::vector<Msg> resp = Filter(net.sent, SNAP_RESP, 3, 2);
	ASSERT_FALSE(resp.empty());
	EXPECT_FALSE(resp[0].reject) << "chunk 0 of another snapshot: " << resp[0];
	EXPECT_EQ(kChunk, resp[0].hint);
	for (const Msg &m : resp)
		EXPECT_FALSE(m.reject && m.hint == 0)
			<< "spliced two snapshots and failed the CRC: " << m;
	ExpectInstalled(net, 3, other);
	ASSERT_EQ(1u, net.node(3).installs.size());
}

/* Resuming costs about what is missing: the new leader's first window is
 * rejected chunk by chunk, and it resends from the follower's offset once,
 * not once per reject (as RejectsInFlightDoNotMultiplyResends). */
TEST(RaftSnapshotTransfer, NewLeaderResendsWhatIsMissingOnce)
{
	Net net(Ids(3), SnapConfig());
	Snap s;
	size_t chunks_before = 0;
	ASSERT_NO_FATAL_FAILURE(LeaderChangeMidTransfer(net, &s, &chunks_before));
	size_t bytes = SnapBytes(Snaps(net.sent, 2, 3)), rejects = 0;
	for (const Msg &m : Filter(net.sent, SNAP_RESP, 3, 2))
		rejects += m.reject;
	/* One window probing from 0, then 500 missing bytes, plus slack. */
	EXPECT_LE(bytes, kWindow + 500 + kWindow)
		<< "member 2 sent " << bytes << " bytes in "
		<< Snaps(net.sent, 2, 3).size() << " chunks for the 500 missing ("
		<< rejects << " rejects)";
}

/* A corrupted chunk: the CRC32C of the whole does not match at the end, so
 * nothing is installed; the follower rejects with offset 0 and the leader
 * starts over, this time successfully. */
TEST(RaftSnapshotTransfer, CorruptedChunkFailsTheCrcAndTheTransferStartsOver)
{
	Net net(Ids(3), SnapConfig());
	Snap s;
	ASSERT_NO_FATAL_FAILURE(LagBehindSnapshot(net, 1000, &s));
	bool flipped = false;
	net.tamper = [&](Msg &m) {
		if (m.type == SNAP && m.offset == 300 && !flipped) {
			flipped = true;
			m.raw.back() ^= 0x20; /* the chunk's last data byte */
			Msg check;
			ASSERT_TRUE(Decode(m.raw.data(), m.raw.size(), &check))
				<< "the envelope stays valid";
		}
	};
	Reconnect(net);
	net.Deliver();
	ASSERT_TRUE(flipped);
	Node &f = net.node(3);

	std::vector<Msg> resp = Filter(net.sent, SNAP_RESP, 3, 1);
	size_t first_reject = resp.size();
	for (size_t i = 0; i < resp.size(); i++)
		if (resp[i].reject) {
			first_reject = i;
			break;
		}
	ASSERT_LT(first_reject, resp.size()) << Dump(resp);
	EXPECT_EQ(0u, resp[first_reject].hint) << resp[first_reject];
	EXPECT_EQ(9u, first_reject) << "rejected when the last chunk came";
	/* The first pass went to the end and was not installed. */
	ASSERT_GE(f.chunks.size(), 11u);
	for (size_t i = 0; i < 10; i++)
		EXPECT_EQ(i * kChunk, f.chunks[i].offset);
	EXPECT_EQ(0u, f.chunks[10].offset) << "the second pass starts afresh";

	ASSERT_GE(TicksUntilInstalled(net, 1, 10), 0);
	ASSERT_EQ(1u, f.installs.size()) << "installed once, the good copy";
	EXPECT_GT(f.installs[0].ready, f.chunks[9].ready);
	ExpectInstalled(net, 3, s);
	ExpectReplicationContinues(net, 1, s);
}

/* A snapshot the follower already holds (index <= its commit) is
 * acknowledged as installed at once: nothing is written or installed. */
TEST(RaftSnapshotTransfer, SnapshotAtOrBelowCommitIsAcknowledgedAtOnce)
{
	Net net(Ids(3), SnapConfig());
	ASSERT_TRUE(net.Elect(1));
	for (int i = 0; i < 4; i++)
		ASSERT_EQ(SN_OK, net.Propose(1, "v" + std::to_string(i)));
	net.Deliver();
	net.Tick(1);
	net.Deliver();
	sn_engine_status before = net.St(3);
	ASSERT_EQ(5u, before.commit);
	net.TakeSent();

	for (uint64_t idx : {uint64_t(3), uint64_t(5)}) {
		Snap s = MakeSnap(idx, 1, Pattern(250, idx), net.voters);
		ASSERT_EQ(SN_OK, net.Inject(SnapMsg(1, 3, net.Term(1), s, 0,
						    kChunk)));
		std::vector<Msg> out = net.TakeSent();
		std::vector<Msg> resp = Filter(out, SNAP_RESP, 3, 1);
		ASSERT_EQ(1u, resp.size()) << Dump(out);
		EXPECT_FALSE(resp[0].reject) << resp[0];
		EXPECT_EQ(idx, resp[0].index);
		EXPECT_EQ(s.size, resp[0].hint) << "all of it: installed";
		EXPECT_EQ(s.size, resp[0].ctx);
		EXPECT_TRUE(net.node(3).chunks.empty()) << "index " << idx;
		EXPECT_TRUE(net.node(3).installs.empty()) << "index " << idx;
		sn_engine_status st = net.St(3);
		EXPECT_EQ(before.commit, st.commit);
		EXPECT_EQ(before.first_index, st.first_index);
		EXPECT_EQ(before.last_index, st.last_index);
		EXPECT_EQ(before.applied, st.applied);
	}
}

/* The leader's side of that answer: the transfer ends and the follower is
 * replicated from after the snapshot, with no more chunks. */
TEST(RaftSnapshotTransfer, AckOfTheWholeSnapshotEndsTheTransfer)
{
	Net net(Ids(3), SnapConfig());
	Snap s;
	ASSERT_NO_FATAL_FAILURE(LagBehindSnapshot(net, 1000, &s));
	net.filter = [](const Msg &m) {
		return m.type == SNAP ? Net::kDrop : Net::kDeliver;
	};
	Reconnect(net);
	net.Deliver();
	ASSERT_EQ(kWindow / kChunk, Snaps(net.TakeSent(), 1, 3).size());
	Msg ack = M(SNAP_RESP, 3, 1, net.Term(1));
	ack.index = s.index;
	ack.hint = s.size;
	ack.ctx = s.size;
	net.filter = [](const Msg &m) {
		return m.to == 3 ? Net::kHold : Net::kDeliver;
	};
	ASSERT_EQ(SN_OK, net.Inject(ack));
	net.Deliver();
	std::vector<Msg> out = net.TakeSent();
	EXPECT_EQ(0u, Snaps(out, 1, 3).size()) << Dump(out);
	std::vector<Msg> apps = Filter(out, APP, 1, 3);
	ASSERT_EQ(1u, apps.size()) << Dump(out);
	EXPECT_EQ(s.index, apps[0].index);
	EXPECT_EQ(s.term, apps[0].log_term);
}

/* Member 3 holds 300 bytes of s1 (the acks are held back); then 3 more
 * entries commit and leader 1 takes s2 through them, compacting its log
 * past s1 when `compact_past`. net.sent then starts there; the held acks
 * are back in flight. */
static void NewerSnapshotMidTransfer(Net &net, Snap *s1, Snap *s2,
				     bool compact_past)
{
	ASSERT_NO_FATAL_FAILURE(LagBehindSnapshot(net, 1000, s1));
	net.filter = [](const Msg &m) {
		return m.type == SNAP_RESP ? Net::kHold : Net::kDeliver;
	};
	Reconnect(net);
	net.Deliver();
	ASSERT_EQ(300u, net.node(3).rcv.data.size());
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(SN_OK, net.Propose(1, "w" + std::to_string(i)));
	net.Deliver();
	net.Tick(1);
	net.Deliver();
	uint64_t idx2 = net.St(1).applied;
	ASSERT_EQ(s1->index + 3, idx2);
	ASSERT_EQ(SN_OK, net.TakeSnapshot(1, idx2, Pattern(700, idx2), s2));
	if (compact_past) {
		ASSERT_EQ(SN_OK, sn_engine_compact(net.e(1), idx2));
	}
	ASSERT_EQ(idx2, net.St(1).snapshot_index);
	net.TakeSent();
	net.filter = nullptr;
	net.ReleaseHeld();
}

/* A newer snapshot does not restart a transfer in flight while the old one
 * can still be read and the log continues from it: member 3 gets all of
 * s1 (from where it was, not from 0), then the entries after s1 as
 * appends. Restarting at every new snapshot would never finish under
 * load. */
TEST(RaftSnapshotTransfer, NewerSnapshotDoesNotRestartATransferInFlight)
{
	Net net(Ids(3), SnapConfig());
	Snap s1, s2;
	ASSERT_NO_FATAL_FAILURE(NewerSnapshotMidTransfer(net, &s1, &s2, false));
	ASSERT_GE(TicksUntilInstalled(net, 1, 10), 0);
	for (const Msg &m : Snaps(net.sent, 1, 3)) {
		EXPECT_TRUE(SnapMatches(m, s1)) << "switched to the newer one: " << m;
		EXPECT_GE(m.offset, 300u) << "restarted: " << m;
	}
	Node &f = net.node(3);
	ASSERT_EQ(1u, f.installs.size());
	ExpectInstalled(net, 3, s1);
	/* The entries between s1 and s2 come as appends. */
	ExpectReplicationContinues(net, 1, s1);
	for (uint64_t i = s1.index + 1; i <= s2.index; i++) {
		bool applied = false;
		for (const Ent &c : f.committed)
			applied = applied || c.index == i;
		EXPECT_TRUE(applied) << "entry " << i << " never applied on 3";
	}
}

/* Once the leader compacts past the snapshot in flight, the follower would
 * need another one anyway: the transfer restarts from 0 with the newest,
 * and only that one is installed. */
TEST(RaftSnapshotTransfer, NewerSnapshotReplacesOneTheLogNoLongerContinues)
{
	Net net(Ids(3), SnapConfig());
	Snap s1, s2;
	ASSERT_NO_FATAL_FAILURE(NewerSnapshotMidTransfer(net, &s1, &s2, true));
	ASSERT_GE(TicksUntilInstalled(net, 1, 10), 0);
	std::vector<Msg> snaps = Snaps(net.sent, 1, 3);
	ASSERT_FALSE(snaps.empty());
	EXPECT_EQ(0u, snaps[0].offset) << snaps[0];
	for (const Msg &m : snaps)
		EXPECT_TRUE(SnapMatches(m, s2)) << "still sending the old one: " << m;
	Node &f = net.node(3);
	ASSERT_EQ(1u, f.installs.size());
	ExpectInstalled(net, 3, s2);
	ExpectReplicationContinues(net, 1, s2);
}

/* When the snapshot in flight is gone (snapshot_read says SN_ENOTFOUND)
 * and a newer one exists, the leader switches to the newest, from 0. */
TEST(RaftSnapshotTransfer, SnapshotInFlightGoneSwitchesToTheNewest)
{
	Net net(Ids(3), SnapConfig());
	Snap s1, s2;
	ASSERT_NO_FATAL_FAILURE(NewerSnapshotMidTransfer(net, &s1, &s2, false));
	net.node(1).snaps.erase(s1.index); /* the caller deleted the old file */
	ASSERT_GE(TicksUntilInstalled(net, 1, 10), 0);
	std::vector<Msg> snaps = Snaps(net.sent, 1, 3);
	ASSERT_FALSE(snaps.empty());
	EXPECT_EQ(0u, snaps[0].offset) << snaps[0];
	for (const Msg &m : snaps)
		EXPECT_TRUE(SnapMatches(m, s2)) << "sending a snapshot it cannot read: "
						 << m;
	ASSERT_EQ(1u, net.node(3).installs.size());
	ExpectInstalled(net, 3, s2);
	ExpectReplicationContinues(net, 1, s2);
}

/* snapshot_read failing (the file is gone) sends nothing and breaks
 * nothing; the leader tries again later and the transfer completes. */
TEST(RaftSnapshotTransfer, FailingSnapshotReadIsRetriedLater)
{
	Net net(Ids(3), SnapConfig());
	Snap s;
	ASSERT_NO_FATAL_FAILURE(LagBehindSnapshot(net, 1000, &s));
	bool failing = true;
	net.node(1).read_fault = [&](const sn_snapshot_meta &, uint64_t,
				     size_t) {
		return failing ? SN_ENOTFOUND : SN_OK;
	};
	Reconnect(net);
	net.Deliver();
	for (int i = 0; i < 5; i++) {
		net.Tick(1);
		net.Deliver();
	}
	EXPECT_FALSE(net.node(1).snap_reads.empty()) << "never tried";
	EXPECT_EQ(0u, Snaps(net.sent, 1, 3).size()) << Dump(net.sent);
	EXPECT_EQ(SN_ROLE_LEADER, net.Role(1));
	size_t tries = net.node(1).snap_reads.size();
	EXPECT_GE(tries, 2u) << "retried while failing";

	failing = false;
	int ticks = TicksUntilInstalled(net, 1, 10);
	EXPECT_GE(ticks, 0);
	EXPECT_LE(ticks, 4);
	ExpectInstalled(net, 3, s);
	ExpectReplicationContinues(net, 1, s);
}

/* A read that fails in the middle (a short read too) resumes from the
 * acknowledged offset; the file the follower gets is still exact. */
TEST(RaftSnapshotTransfer, SnapshotReadFailingMidTransferResumes)
{
	Net net(Ids(3), SnapConfig());
	Snap s;
	ASSERT_NO_FATAL_FAILURE(LagBehindSnapshot(net, 1000, &s));
	int faults = 2;
	net.node(1).read_fault = [&](const sn_snapshot_meta &, uint64_t off,
				     size_t) {
		if (off == 500 && faults > 0) {
			faults--;
			return SN_ENOTFOUND;
		}
		return SN_OK;
	};
	Reconnect(net);
	int ticks = TicksUntilInstalled(net, 1, 10);
	EXPECT_GE(ticks, 0);
	EXPECT_EQ(0, faults);
	/* A chunk that could not be read is not skipped: the leader never
	 * sends past what it sent before, so the follower sees no gap. */
	uint64_t end = 0;
	for (const Msg &m : Snaps(net.sent, 1, 3)) {
		EXPECT_LE(m.offset, end) << "skipped ahead: " << m;
		end = std::max<uint64_t>(end, m.offset + m.data.size());
	}
	for (const Msg &m : Filter(net.sent, SNAP_RESP, 3, 1))
		EXPECT_FALSE(m.reject) << m;
	ExpectInstalled(net, 3, s);
	ExpectReplicationContinues(net, 1, s);
}

/* Leader-side transfer state does not survive the follower's restart: the
 * follower answers the leader's next chunk with offset 0 and the transfer
 * starts over. */
/* Follower 3 has received the first 400 of the snapshot's 1000 bytes; the
 * rest is held back. */
static void CutTransferAt400(Net &net, Snap *s)
{
	ASSERT_NO_FATAL_FAILURE(LagBehindSnapshot(net, 1000, s));
	net.filter = [](const Msg &m) {
		return m.type == SNAP && m.offset >= 400 ? Net::kHold
							 : Net::kDeliver;
	};
	Reconnect(net);
	net.Deliver();
	ASSERT_EQ(400u, net.node(3).rcv.data.size());
}

TEST(RaftSnapshotTransfer, FollowerRestartedMidTransferStartsOver)
{
	Net net(Ids(3), SnapConfig());
	Snap s;
	ASSERT_NO_FATAL_FAILURE(CutTransferAt400(net, &s));
	net.Restart(3);
	net.filter = nullptr;
	net.TakeSent();
	net.ReleaseHeld();
	ASSERT_GE(TicksUntilInstalled(net, 1, 10), 0);
	std::vector<Msg> resp = Filter(net.sent, SNAP_RESP, 3, 1);
	ASSERT_FALSE(resp.empty());
	EXPECT_TRUE(resp[0].reject);
	EXPECT_EQ(0u, resp[0].hint) << resp[0];
	ExpectInstalled(net, 3, s);
	ExpectReplicationContinues(net, 1, s);
}

/* A follower restarted with the file it was receiving (what
 * sn_snapshot_writer_resume() finds) asks the leader to continue there:
 * nothing before the offset is sent again. */
TEST(RaftSnapshotTransfer, FollowerRestartedWithItsPartialFileResumes)
{
	Net net(Ids(3), SnapConfig());
	Snap s;
	ASSERT_NO_FATAL_FAILURE(CutTransferAt400(net, &s));
	net.RestartResuming(3);
	net.filter = nullptr;
	net.TakeSent();
	net.ReleaseHeld();
	ASSERT_GE(TicksUntilInstalled(net, 1, 10), 0);
	std::vector<Msg> resp = Filter(net.sent, SNAP_RESP, 3, 1);
	ASSERT_FALSE(resp.empty());
	for (const Msg &r : resp)
		EXPECT_GE(r.hint, 400u) << "asked for bytes it holds: " << r;
	for (const auto &c : net.node(3).chunks)
		EXPECT_GE(c.offset, 400u) << "rewrote bytes it held";
	ExpectInstalled(net, 3, s);
	ExpectReplicationContinues(net, 1, s);
}

/* A damaged byte in the resumed file (written but not synced before a
 * power cut) fails the CRC32C of the whole: the transfer starts over and
 * the right snapshot is installed. */
TEST(RaftSnapshotTransfer, ResumedPartialWithADamagedByteStartsOver)
{
	Net net(Ids(3), SnapConfig());
	Snap s;
	ASSERT_NO_FATAL_FAILURE(CutTransferAt400(net, &s));
	net.node(3).rcv.data[123] ^= 0x40;
	net.RestartResuming(3);
	net.filter = nullptr;
	net.TakeSent();
	net.ReleaseHeld();
	ASSERT_GE(TicksUntilInstalled(net, 1, 20), 0);
	bool restarted = false;
	for (const auto &c : net.node(3).chunks)
		restarted |= c.offset == 0;
	EXPECT_TRUE(restarted) << "the damaged file was never rewritten";
	ExpectInstalled(net, 3, s);
	ExpectReplicationContinues(net, 1, s);
}

/* ---------------------------------------------------------------------- */
/* Restart from storage                                                    */

namespace {

/* sn_raft_new() for member 1 of {1, 2, 3} from the given storage. */
int NewFrom(const Snap *snap, const std::vector<Ent> &log, sn_hard_state hs,
	    uint64_t applied, sn_engine **out)
{
	std::vector<uint64_t> voters = Ids(3);
	std::vector<sn_entry> es;
	for (const Ent &x : log)
		es.push_back({x.index, x.term, x.type, x.data.data(),
			      x.data.size()});
	es.shrink_to_fit(); /* so ASan sees a read past the last entry */
	sn_raft_options o = MakeOptions(1, voters, Config());
	sn_snapshot_meta meta;
	std::memset(&meta, 0, sizeof meta);
	if (snap)
		meta = snap->Meta();
	o.snapshot = snap ? &meta : nullptr;
	o.hard_state = &hs;
	o.entries = es.empty() ? nullptr : es.data();
	o.n_entries = es.size();
	o.applied = applied;
	o.snapshot_read = ReadSnapshot;
	*out = nullptr;
	return sn_raft_new(out, &o);
}

std::vector<Ent> Entries(uint64_t from, uint64_t to, uint64_t term)
{
	std::vector<Ent> v;
	for (uint64_t i = from; i <= to; i++)
		v.push_back(E(i, term, "r" + std::to_string(i)));
	return v;
}

} // namespace

/* Restart with an installed snapshot and the entries after it: the log
 * starts after the snapshot; commit and applied are at least its index;
 * committed entries after it are applied, the ones in it are not. */
TEST(RaftSnapshotRestart, SnapshotAndTheEntriesAfterIt)
{
	Net net(Ids(3));
	Snap s = MakeSnap(10, 2, Pattern(300, 10), net.voters);
	std::vector<Ent> log = Entries(11, 15, 3);
	sn_hard_state hs = {3, 0, 12};
	net.Start(1, &hs, log, 0, &s);
	sn_engine_status st = net.St(1);
	EXPECT_EQ(11u, st.first_index) << StatusStr(st);
	EXPECT_EQ(15u, st.last_index);
	EXPECT_EQ(3u, st.last_term);
	EXPECT_EQ(12u, st.commit);
	EXPECT_EQ(12u, st.applied) << "11..12 re-applied on top of the snapshot";
	EXPECT_EQ(10u, st.snapshot_index);
	std::vector<Ent> applied = net.node(1).committed;
	ASSERT_EQ(2u, applied.size());
	EXPECT_EQ(11u, applied[0].index);
	EXPECT_EQ(12u, applied[1].index);

	/* Just the snapshot, no entries: commit comes from it. */
	sn_hard_state hs0 = {2, 0, 0};
	net.Start(2, &hs0, {}, 0, &s);
	st = net.St(2);
	EXPECT_EQ(11u, st.first_index) << StatusStr(st);
	EXPECT_EQ(10u, st.last_index);
	EXPECT_EQ(2u, st.last_term);
	EXPECT_EQ(10u, st.commit);
	EXPECT_EQ(10u, st.applied);
	EXPECT_TRUE(net.node(2).committed.empty());
}

/* Storage may keep a window of entries behind the snapshot: those are not
 * applied again, the log stays usable from the snapshot on, and it covers
 * at least the snapshot. */
TEST(RaftSnapshotRestart, TrailingWindowBehindTheSnapshot)
{
	Net net(Ids(3));
	Snap s = MakeSnap(10, 2, Pattern(300, 10), net.voters);
	std::vector<Ent> log = Entries(6, 10, 2);
	for (const Ent &e : Entries(11, 14, 3))
		log.push_back(e);
	sn_hard_state hs = {3, 0, 13};
	net.Start(1, &hs, log, 10, &s);
	sn_engine_status st = net.St(1);
	EXPECT_GE(st.first_index, 6u) << StatusStr(st);
	EXPECT_LE(st.first_index, 7u) << StatusStr(st);
	EXPECT_EQ(14u, st.last_index);
	EXPECT_EQ(13u, st.commit);
	EXPECT_EQ(13u, st.applied);
	EXPECT_EQ(10u, st.snapshot_index);
	for (const Ent &c : net.node(1).committed)
		EXPECT_GT(c.index, 10u) << "re-applied " << c;

}

/* A window that ends below the snapshot (storage recorded an install but
 * had not dropped the old entries yet) is allowed by the options contract
 * ("entries must start at or before its index + 1"). The log must then still
 * end at the snapshot: the engine's last index/term is what it votes and
 * campaigns with, and commit can never be beyond it. */
TEST(RaftSnapshotRestart, WindowEndingBelowTheSnapshotStillEndsAtIt)
{
	Snap s = MakeSnap(10, 2, Pattern(300, 10), Ids(3));
	sn_engine *e = nullptr;
	int rc = NewFrom(&s, Entries(3, 8, 2), {2, 0, 10}, 10, &e);
	if (rc == SN_OK) {
		sn_engine_status st;
		sn_engine_get_status(&st, e);
		EXPECT_EQ(10u, st.last_index)
			<< "the log ends before the snapshot it was restored "
			   "from: " << StatusStr(st);
		EXPECT_EQ(2u, st.last_term) << StatusStr(st);
		EXPECT_LE(st.commit, st.last_index) << StatusStr(st);
		EXPECT_EQ(11u, st.first_index) << StatusStr(st);
	} else {
		EXPECT_EQ(SN_EINVAL, rc) << "refusing it would do too";
	}
	sn_engine_free(e);
}

/* What that costs: a member that holds the committed snapshot through 10
 * must not vote for a candidate whose log ends at 8 (Raft's election
 * restriction, section 5.4.1); it would elect a leader without committed
 * entries 9 and 10. */
TEST(RaftSnapshotRestart, MemberRestoredFromASnapshotVotesWithItsIndex)
{
	Net net(Ids(3));
	Snap s = MakeSnap(10, 2, Pattern(300, 10), net.voters);
	sn_hard_state hs1 = {2, 0, 10};
	std::vector<Ent> window = Entries(3, 8, 2);
	sn_engine *probe = nullptr;
	if (NewFrom(&s, window, hs1, 10, &probe) != SN_OK)
		return; /* refused (SN_EINVAL): no such member can vote */
	sn_engine_free(probe);
	net.Start(1, &hs1, window, 10, &s);
	sn_hard_state hs2 = {2, 0, 8};
	net.Start(2, &hs2, Entries(1, 8, 2), 8);
	net.Isolate(3);
	/* Only the election matters here. */
	net.filter = [](const Msg &m) {
		return m.type == APP || m.type == HEARTBEAT ? Net::kDrop
							    : Net::kDeliver;
	};
	net.Campaign(2);
	net.Deliver();
	for (const Msg &m : net.sent) {
		if ((m.type == PREVOTE_RESP || m.type == VOTE_RESP) && m.from == 1) {
			EXPECT_TRUE(m.reject)
				<< "member 1 (snapshot through 10) granted a vote "
				   "to a log ending at 8: " << m;
		}
	}
	EXPECT_NE(SN_ROLE_LEADER, net.Role(2));
}

/* A window whose entry at the snapshot's index has another term is not the
 * log the snapshot was taken from: refused, or dropped so that the log
 * starts after the snapshot; never kept as the log's anchor. */
TEST(RaftSnapshotRestart, WindowThatContradictsTheSnapshotIsNotKept)
{
	Snap s = MakeSnap(10, 2, Pattern(300, 10), Ids(3));
	std::vector<Ent> log = Entries(6, 9, 1);
	log.push_back(E(10, 1, "r10"));
	for (const Ent &e : Entries(11, 12, 2))
		log.push_back(e);
	sn_engine *e = nullptr;
	int rc = NewFrom(&s, log, {2, 0, 10}, 10, &e);
	if (rc == SN_OK) {
		sn_engine_status st;
		sn_engine_get_status(&st, e);
		EXPECT_EQ(11u, st.first_index) << StatusStr(st);
		EXPECT_EQ(12u, st.last_index) << StatusStr(st);
	} else {
		EXPECT_EQ(SN_EINVAL, rc);
	}
	sn_engine_free(e);
}

/* Entries that start after a gap behind the snapshot cannot be recovered. */
TEST(RaftSnapshotRestart, EntriesAfterAGapAreInvalid)
{
	Snap s = MakeSnap(10, 2, Pattern(300, 10), Ids(3));
	sn_engine *e = nullptr;
	EXPECT_EQ(SN_EINVAL, NewFrom(&s, Entries(12, 14, 2), {2, 0, 10}, 10, &e));
	EXPECT_EQ(nullptr, e);
	EXPECT_EQ(SN_EINVAL, NewFrom(nullptr, Entries(2, 4, 2), {2, 0, 2}, 0, &e))
		<< "without a snapshot the log starts at 1";
	EXPECT_EQ(nullptr, e);
	EXPECT_EQ(SN_OK, NewFrom(&s, Entries(11, 14, 2), {2, 0, 10}, 10, &e));
	sn_engine_free(e);
	EXPECT_EQ(SN_OK, NewFrom(&s, Entries(1, 14, 2), {2, 0, 10}, 10, &e));
	sn_engine_free(e);
	e = nullptr;
	Snap bad = s;
	bad.index = 0;
	EXPECT_EQ(SN_EINVAL, NewFrom(&bad, {}, {2, 0, 0}, 0, &e)) << "index 0";
	bad = s;
	bad.term = 0;
	EXPECT_EQ(SN_EINVAL, NewFrom(&bad, {}, {2, 0, 0}, 0, &e)) << "term 0";
	EXPECT_EQ(nullptr, e);
}

/* Members restarted from a snapshot elect a leader and replicate; a member
 * behind the snapshot gets it from that leader. */
TEST(RaftSnapshotRestart, RestartedMembersLeadAndSendTheSnapshot)
{
	Net net(Ids(3), SnapConfig());
	Snap s = MakeSnap(10, 2, Pattern(640, 10), net.voters);
	std::vector<Ent> log = Entries(11, 12, 2);
	sn_hard_state hs = {2, 0, 12};
	net.Start(1, &hs, log, 12, &s);
	net.Start(2, &hs, log, 12, &s);
	/* Member 3 is new: empty. */
	ASSERT_TRUE(net.Elect(1));
	net.Deliver();
	ASSERT_GE(TicksUntilInstalled(net, 1, 10), 0) << Dump(net.sent);
	for (const Msg &m : Snaps(net.sent, 1, 3)) {
		EXPECT_TRUE(SnapMatches(m, s)) << m;
		EXPECT_LE(m.data.size(), kChunk);
	}
	ExpectInstalled(net, 3, s);
	ExpectReplicationContinues(net, 1, s);
	EXPECT_EQ(net.node(1).log.back(), net.node(3).log.back());
	EXPECT_EQ(net.St(1).last_index, net.St(3).last_index);
}

/* A member that installed a snapshot restarts from it (as storage
 * recorded it) and keeps going. */
TEST(RaftSnapshotRestart, FollowerRestartsFromTheInstalledSnapshot)
{
	Net net(Ids(3), SnapConfig());
	Snap s;
	ASSERT_NO_FATAL_FAILURE(LagBehindSnapshot(net, 500, &s));
	Reconnect(net);
	ASSERT_GE(TicksUntilInstalled(net, 1, 10), 0);
	net.Deliver();
	uint64_t last = net.St(3).last_index;
	net.Restart(3);
	sn_engine_status st = net.St(3);
	EXPECT_EQ(s.index + 1, st.first_index) << StatusStr(st);
	EXPECT_EQ(last, st.last_index);
	EXPECT_GE(st.applied, s.index);
	EXPECT_EQ(s.index, st.snapshot_index);
	net.Tick(1);
	net.Deliver();
	ExpectReplicationContinues(net, 1, s);
}

/* ---------------------------------------------------------------------- */
/* Malformed SNAP input                                                    */

namespace {

/* Member 3 is receiving snapshot `s` from leader 1 and holds 300 bytes. */
void MidTransfer(Net &net, Snap *s)
{
	ASSERT_NO_FATAL_FAILURE(LagBehindSnapshot(net, 1000, s));
	net.filter = [](const Msg &m) {
		return m.type == SNAP && m.offset >= 300 ? Net::kDrop
							 : Net::kDeliver;
	};
	Reconnect(net);
	net.Deliver();
	net.filter = nullptr;
	ASSERT_EQ(300u, net.node(3).rcv.data.size());
	net.TakeSent();
}

/* Step `raw` into member 3: malformed, dropped, counted, nothing changes;
 * the transfer then continues where it was as if nothing happened. */
void ExpectDropped(Net &net, const Snap &s, const std::vector<uint8_t> &raw,
		   const char *what)
{
	SCOPED_TRACE(what);
	sn_engine_status before = net.St(3);
	size_t chunks = net.node(3).chunks.size();
	EXPECT_EQ(SN_EMALFORMED, net.StepRaw(3, kGroup, 1, raw));
	sn_engine_status after = net.St(3);
	EXPECT_EQ(before.dropped + 1, after.dropped);
	EXPECT_TRUE(SameStatusExceptDropped(before, after))
		<< StatusStr(before) << "\n" << StatusStr(after);
	EXPECT_TRUE(net.TakeSent().empty());
	EXPECT_EQ(chunks, net.node(3).chunks.size());
	uint64_t at = net.node(3).rcv.data.size();
	ASSERT_EQ(SN_OK, net.Inject(SnapMsg(1, 3, net.Term(1), s, at, kChunk)));
	std::vector<Msg> resp = Filter(net.TakeSent(), SNAP_RESP, 3, 1);
	ASSERT_EQ(1u, resp.size());
	EXPECT_FALSE(resp[0].reject) << "the receive state changed: " << resp[0];
	EXPECT_EQ(at + kChunk, resp[0].hint);
}

/* Byte offsets in an encoded SNAP without entries. */
constexpr size_t kOffSize = SN__RAFT_MSG_HEADER;
constexpr size_t kOffNVoters = kOffSize + 8 + 4;
constexpr size_t kOffVoters = kOffNVoters + 4;

void PutU32(std::vector<uint8_t> &raw, size_t at, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		raw[at + i] = uint8_t(v >> (8 * i));
}

} // namespace

TEST(RaftSnapshotInput, ZeroSizeIsMalformed)
{
	Net net(Ids(3), SnapConfig());
	Snap s;
	ASSERT_NO_FATAL_FAILURE(MidTransfer(net, &s));
	Snap z = s;
	z.size = 0;
	z.data.clear();
	ExpectDropped(net, s, Encode(SnapMsg(1, 3, net.Term(1), z, 0, 0)),
		      "size 0");
}

TEST(RaftSnapshotInput, ChunkBeyondTheSizeIsMalformed)
{
	Net net(Ids(3), SnapConfig());
	Snap s;
	ASSERT_NO_FATAL_FAILURE(MidTransfer(net, &s));
	Msg m = SnapMsg(1, 3, net.Term(1), s, 300, kChunk);
	m.offset = 950; /* 950 + 100 > 1000 */
	ExpectDropped(net, s, Encode(m), "950+100 of 1000");
	m.offset = 1001;
	m.data.clear();
	ExpectDropped(net, s, Encode(m), "empty chunk past the end");
}

TEST(RaftSnapshotInput, TruncatedVotersAreMalformed)
{
	Net net(Ids(3), SnapConfig());
	Snap s;
	ASSERT_NO_FATAL_FAILURE(MidTransfer(net, &s));
	std::vector<uint8_t> raw = Encode(SnapMsg(1, 3, net.Term(1), s, 300, 0));
	/* Cut inside the voter list. */
	std::vector<uint8_t> cut(raw.begin(), raw.begin() + kOffVoters + 12);
	ExpectDropped(net, s, cut, "cut inside the voters");
	/* Claim more voters than there are bytes for. */
	std::vector<uint8_t> more = raw;
	PutU32(more, kOffNVoters, 4);
	ExpectDropped(net, s, more, "4 voters claimed, 3 present");
}

TEST(RaftSnapshotInput, TooManyVotersAreMalformed)
{
	Net net(Ids(3), SnapConfig());
	Snap s;
	ASSERT_NO_FATAL_FAILURE(MidTransfer(net, &s));
	Msg m = SnapMsg(1, 3, net.Term(1), s, 300, kChunk);
	m.voters.clear();
	for (uint64_t i = 1; i <= SN__RAFT_MAX_VOTERS + 1; i++)
		m.voters.push_back(i);
	ExpectDropped(net, s, Encode(m), "MAX_VOTERS + 1 voters, all present");
	/* A count that would not even fit (allocation must not follow it). */
	std::vector<uint8_t> raw = Encode(SnapMsg(1, 3, net.Term(1), s, 300, 0));
	PutU32(raw, kOffNVoters, 0xffffffffu);
	ExpectDropped(net, s, raw, "2^32-1 voters");
}

TEST(RaftSnapshotInput, OffsetPlusLengthOverflowIsMalformed)
{
	Net net(Ids(3), SnapConfig());
	Snap s;
	ASSERT_NO_FATAL_FAILURE(MidTransfer(net, &s));
	Snap huge = s;
	huge.size = UINT64_MAX;
	Msg m = SnapMsg(1, 3, net.Term(1), huge, 0, 0);
	m.offset = UINT64_MAX - 10;
	m.data = std::string(kChunk, 'o');
	ExpectDropped(net, s, Encode(m), "offset + len wraps");
	m.offset = UINT64_MAX;
	ExpectDropped(net, s, Encode(m), "offset at the maximum");
}

TEST(RaftSnapshotInput, ImpossibleSnapshotIndexOrTermIsDropped)
{
	Net net(Ids(3), SnapConfig());
	Snap s;
	ASSERT_NO_FATAL_FAILURE(MidTransfer(net, &s));
	uint64_t term = net.Term(1);
	Msg m = SnapMsg(1, 3, term, s, 300, kChunk);
	m.index = 0;
	ExpectDropped(net, s, Encode(m), "index 0");
	m = SnapMsg(1, 3, term, s, 300, kChunk);
	m.log_term = 0;
	ExpectDropped(net, s, Encode(m), "term 0");
	m = SnapMsg(1, 3, term, s, 300, kChunk);
	m.log_term = term + 1;
	ExpectDropped(net, s, Encode(m), "snapshot term above the message term");
	m = SnapMsg(1, 3, term, s, 300, kChunk);
	std::vector<uint8_t> raw = Encode(m);
	raw.push_back(0);
	ExpectDropped(net, s, raw, "a trailing byte");
}

/* A partial snapshot needs a real index and term; one at or below the
 * recovered commit, or already complete, is ignored (a transfer then starts
 * at 0); options of version 1 never read the fields. */
TEST(RaftSnapshotRestart, PartialSnapshotOptions)
{
	std::vector<uint64_t> voters = Ids(3);
	std::vector<Ent> log = Entries(1, 5, 1);
	std::vector<sn_entry> es;
	for (const Ent &x : log)
		es.push_back({x.index, x.term, x.type, x.data.data(),
			      x.data.size()});
	sn_hard_state hs{1, 0, 5};
	Snap part = MakeSnap(20, 1, std::string(100, 'p'), voters);
	sn_snapshot_meta pm = part.Meta();
	sn_raft_options o = MakeOptions(1, voters, Config());
	o.hard_state = &hs;
	o.entries = es.data();
	o.n_entries = es.size();
	o.snapshot_read = ReadSnapshot;
	o.snapshot_partial = &pm;
	o.snapshot_partial_offset = 40;
	sn_engine *e = nullptr;

	ASSERT_EQ(SN_OK, sn_raft_new(&e, &o)) << sn_errmsg();
	sn_engine_free(e);
	pm.term = 0;
	EXPECT_EQ(SN_EINVAL, sn_raft_new(&e, &o));
	EXPECT_EQ(nullptr, e);
	pm.term = 1;
	pm.voters = nullptr;
	EXPECT_EQ(SN_EINVAL, sn_raft_new(&e, &o));
	pm = part.Meta();
	pm.index = 3; /* below commit: ignored */
	ASSERT_EQ(SN_OK, sn_raft_new(&e, &o)) << sn_errmsg();
	sn_engine_free(e);
	pm = part.Meta();
	o.snapshot_partial_offset = 100; /* complete: ignored */
	ASSERT_EQ(SN_OK, sn_raft_new(&e, &o)) << sn_errmsg();
	sn_engine_free(e);

	/* Version 1: the engine must not look at the version-2 fields. */
	sn_raft_options v1;
	v1.snapshot_partial_offset = 12345; /* beyond a version-1 struct */
	ASSERT_EQ(SN_OK, sn_raft_options_init(&v1, 1));
	EXPECT_EQ(1u, v1.version);
	EXPECT_EQ(12345u, v1.snapshot_partial_offset) << "wrote past a "
		"version-1 struct";
	std::memcpy(&v1, &o, offsetof(sn_raft_options, snapshot_partial));
	v1.version = 1;
	pm.term = 0; /* invalid, but out of reach */
	v1.snapshot_partial = &pm;
	ASSERT_EQ(SN_OK, sn_raft_new(&e, &v1)) << sn_errmsg();
	sn_engine_free(e);
	EXPECT_EQ(SN_EINVAL, sn_raft_options_init(&v1, 3));
	EXPECT_EQ(SN_EINVAL, sn_raft_options_init(&v1, 0));
}
