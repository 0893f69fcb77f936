/* Untrusted input: the codec, impossible messages, options. Nothing from a
 * peer may crash the engine or change its state. */
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

int StepRaw(Net &net, uint64_t to, uint64_t from,
	    const std::vector<uint8_t> &raw)
{
	sn_message w{ kGroup, from, to, raw.data(), raw.size() };
	return sn_engine_step(net.E(to), &w);
}

void ExpectDropped(Net &net, const std::vector<uint8_t> &raw, uint64_t from,
		   const char *what)
{
	sn_engine_status before = net.N(1).Status();
	EXPECT_EQ(SN_EMALFORMED, StepRaw(net, 1, from, raw)) << what;
	sn_engine_status after = net.N(1).Status();
	EXPECT_EQ(before.dropped + 1, after.dropped) << what;
	EXPECT_EQ(before.term, after.term) << what;
	EXPECT_EQ(before.last_index, after.last_index) << what;
	EXPECT_EQ(0, sn_engine_has_ready(net.E(1))) << what;
}

} // namespace

TEST(PaxosMsg, RoundTrip)
{
	sn__paxos_msg m = M(SN__PAXOS_PROMISE, Ballot(3, 1));
	m.index = 4;
	m.commit = 4;
	m.flags = SN__PAXOS_FLAG_LAST;
	auto raw = Encode(m, { E(5, Ballot(2, 0), "xy"),
			       E(6, Ballot(1, 2), "", SN_ENTRY_NOOP) });
	sn__paxos_msg d;
	ASSERT_EQ(SN_OK, sn__paxos_msg_decode(&d, raw.data(), raw.size()));
	EXPECT_EQ(SN__PAXOS_PROMISE, d.type);
	EXPECT_EQ(Ballot(3, 1), d.ballot);
	ASSERT_EQ(2u, d.n_entries);
	EXPECT_EQ(6u, d.entries[1].index);
	EXPECT_EQ(Ballot(1, 2), d.entries[1].term);
	EXPECT_EQ((uint32_t)SN_ENTRY_NOOP, d.entries[1].type);
	sn__paxos_msg_free(&d);
}

TEST(PaxosMsg, EveryTruncationIsRefused)
{
	sn__paxos_msg m = M(SN__PAXOS_ACCEPT, Ballot(1, 0));
	auto raw = Encode(m, { E(1, Ballot(1, 0), "abc"),
			       E(2, Ballot(1, 0), "defg") });
	for (size_t len = 0; len < raw.size(); len++) {
		sn__paxos_msg d;
		EXPECT_EQ(SN_EMALFORMED, sn__paxos_msg_decode(&d, raw.data(), len))
			<< len;
	}
}

TEST(PaxosInput, MalformedMessagesAreDroppedAndCounted)
{
	Net net(3);
	sn__paxos_msg ok = M(SN__PAXOS_PREPARE, Ballot(1, 1));
	auto raw = Encode(ok);

	auto bad = raw;
	bad[0] = 2;
	ExpectDropped(net, bad, 2, "version");
	bad = raw;
	bad[1] = 99;
	ExpectDropped(net, bad, 2, "type");
	bad = raw;
	bad[3] = 0x80;
	ExpectDropped(net, bad, 2, "flags");
	bad = raw;
	bad.push_back(0);
	ExpectDropped(net, bad, 2, "trailing byte");
	/* A lying entry count. */
	sn__paxos_msg acc = M(SN__PAXOS_ACCEPT, Ballot(1, 1));
	bad = Encode(acc, { E(1, Ballot(1, 1), "a") });
	bad[52] = 0xff;
	bad[53] = 0xff;
	ExpectDropped(net, bad, 2, "entry count");
	/* Entries on a message type that carries none. */
	ExpectDropped(net, Encode(ok, { E(1, Ballot(1, 1), "a") }), 2,
		      "entries on a prepare");
}

TEST(PaxosInput, ImpossibleMessagesAreDropped)
{
	Net net(3);
	ExpectDropped(net, Encode(M(SN__PAXOS_PREPARE, Ballot(1, 1))), 3,
		      "a ballot the sender does not own");
	ExpectDropped(net, Encode(M(SN__PAXOS_PREPARE, (1u << 16) | 9)), 2,
		      "a ballot no member owns");
	ExpectDropped(net, Encode(M(SN__PAXOS_HEARTBEAT, 0)), 2, "ballot 0");
	ExpectDropped(net, Encode(M(SN__PAXOS_ACCEPT, Ballot(2, 1)),
				  { E(1, Ballot(1, 1), "a") }),
		      2, "an accept with another ballot's value");
	sn__paxos_msg p = M(SN__PAXOS_PROMISE, Ballot(1, 0));
	ExpectDropped(net, Encode(p, { E(1, Ballot(3, 1), "a") }), 2,
		      "a promise reporting a higher ballot");
	sn__paxos_msg gap = M(SN__PAXOS_ACCEPTED, Ballot(1, 0));
	gap.reject = 1;
	gap.index = 2;
	gap.hint = 5;
	ExpectDropped(net, Encode(gap), 2, "a gap reject that is none");
	sn__paxos_msg snap = M(SN__PAXOS_SNAP, Ballot(1, 1));
	ExpectDropped(net, Encode(snap), 2, "a snapshot of size 0");
	/* Envelope. */
	auto raw = Encode(M(SN__PAXOS_PREPARE, Ballot(1, 1)));
	sn_message w{ kGroup + 1, 2, 1, raw.data(), raw.size() };
	EXPECT_EQ(SN_EMALFORMED, sn_engine_step(net.E(1), &w));
	w = sn_message{ kGroup, 9, 1, raw.data(), raw.size() };
	EXPECT_EQ(SN_EMALFORMED, sn_engine_step(net.E(1), &w));
	w = sn_message{ kGroup, 2, 3, raw.data(), raw.size() };
	EXPECT_EQ(SN_EMALFORMED, sn_engine_step(net.E(1), &w));
}

/* Random bytes and random mutations of valid messages never crash. */
TEST(PaxosInput, GarbageNeverCrashes)
{
	Net net(3);
	uint64_t st = 42;
	sn__paxos_msg acc = M(SN__PAXOS_ACCEPT, Ballot(1, 1));
	acc.commit = 3;
	auto base = Encode(acc, { E(1, Ballot(1, 1), "abc"),
				  E(2, Ballot(1, 1), "de") });
	for (int i = 0; i < 20000; i++) {
		std::vector<uint8_t> raw = base;
		int flips = 1 + (int)(sn__splitmix64(&st) % 4);
		for (int f = 0; f < flips; f++)
			raw[sn__splitmix64(&st) % raw.size()] =
				(uint8_t)sn__splitmix64(&st);
		if (sn__splitmix64(&st) % 4 == 0)
			raw.resize(sn__splitmix64(&st) % raw.size());
		int rv = StepRaw(net, 1, 2, raw);
		EXPECT_TRUE(rv == SN_OK || rv == SN_EMALFORMED) << rv;
		net.Drain();
		net.queue.clear();
	}
}

TEST(PaxosOptions, InitMacroEqualsInitFunction)
{
	sn_paxos_options a = SN_PAXOS_OPTIONS_INIT, b;
	ASSERT_EQ(SN_OK, sn_paxos_options_init(&b, SN_PAXOS_OPTIONS_VERSION));
	/* Field by field: padding bytes may differ. */
	EXPECT_EQ(a.version, b.version);
	EXPECT_EQ(a.id, b.id);
	EXPECT_EQ(a.group, b.group);
	EXPECT_EQ(a.voters, b.voters);
	EXPECT_EQ(a.n_voters, b.n_voters);
	EXPECT_EQ(a.election_ticks, b.election_ticks);
	EXPECT_EQ(a.heartbeat_ticks, b.heartbeat_ticks);
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
	EXPECT_EQ(a.snapshot, b.snapshot);
	EXPECT_EQ(a.snapshot_read, b.snapshot_read);
	EXPECT_EQ(a.snapshot_userdata, b.snapshot_userdata);
	EXPECT_EQ(a.snapshot_partial, b.snapshot_partial);
	EXPECT_EQ(a.snapshot_partial_offset, b.snapshot_partial_offset);
	EXPECT_EQ(a.snapshot_partial_crc, b.snapshot_partial_crc);
	EXPECT_EQ(10u, a.election_ticks);
	EXPECT_EQ(4096u, a.max_pending_reads);
	EXPECT_EQ(SN_EINVAL, sn_paxos_options_init(&b, 99));
	EXPECT_EQ(SN_EINVAL, sn_paxos_options_init(nullptr,
						   SN_PAXOS_OPTIONS_VERSION));
}

TEST(PaxosOptions, ValidationNamesTheProblem)
{
	std::vector<uint64_t> voters = Ids(3);
	sn_paxos_options o = SN_PAXOS_OPTIONS_INIT;
	sn_engine *e = nullptr;
	o.voters = voters.data();
	o.n_voters = voters.size();
	EXPECT_EQ(SN_EINVAL, sn_paxos_new(&e, &o)); /* id 0 */
	o.id = 4;
	EXPECT_EQ(SN_EINVAL, sn_paxos_new(&e, &o)); /* not a voter */
	o.id = 1;
	o.heartbeat_ticks = 10;
	EXPECT_EQ(SN_EINVAL, sn_paxos_new(&e, &o));
	o.heartbeat_ticks = 1;
	std::vector<uint64_t> many(65536);
	for (size_t i = 0; i < many.size(); i++)
		many[i] = i + 1;
	o.voters = many.data();
	o.n_voters = many.size();
	EXPECT_EQ(SN_EINVAL, sn_paxos_new(&e, &o));
	EXPECT_NE(nullptr, strstr(sn_errmsg(), "65535"));
	o.voters = voters.data();
	o.n_voters = voters.size();
	sn_hard_state hs{ Ballot(1, 0), 1, 5 };
	o.hard_state = &hs;
	EXPECT_EQ(SN_EINVAL, sn_paxos_new(&e, &o)); /* commit beyond log */
	hs.commit = 0;
	ASSERT_EQ(SN_OK, sn_paxos_new(&e, &o));
	EXPECT_EQ(nullptr, (void *)nullptr);
	sn_engine_free(e);
}
