/*
 * storage_engine_test.cc - engines (Raft and Multi-Paxos, the same test
 * for each) on the real WAL, wired the way
 * <senate/sys/engine.h> says (send, write, send after persist, report
 * persisted, apply), with fdatasync failing for one member's directory:
 *
 *  - a follower whose disk fails stops acknowledging: the storage reports
 *    the error, its engine is never told the writes are durable, it sends
 *    none of the replies that wait for durability; the others go on;
 *  - a leader whose disk fails (with that follower still down) commits
 *    nothing more: no further entry is applied anywhere;
 *  - after a restart from the directories, every entry that was applied
 *    (acknowledged) is still there, and the cluster goes on.
 *
 * This is the storage half of "a failed fsync stops the node"; the node
 * runtime (core/node) turns it into a stopped process.
 */
#include "../common/test_dir.h"
#include "wal_harness.h"

#include <senate/paxos.h>
#include <senate/raft.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <deque>
#include <mutex>
#include <set>
#include <unistd.h>

namespace {

using namespace walt;

/* Members whose directory's fdatasync fails (by the path of the fd). */
std::mutex fail_mu;
std::set<std::string> failing;

int SelectiveSync(int fd)
{
	std::lock_guard<std::mutex> g(fail_mu);
	for (const std::string &d : failing)
		if (senate_test::FdIsBelow(fd, d)) {
			errno = EIO;
			return -1;
		}
	return fdatasync(fd);
}

struct Member;

/* One durable write in flight: what to do once the WAL reports back. */
struct Write {
	Member *m = nullptr;
	std::vector<std::vector<uint8_t>> after; /* message bytes */
	std::vector<sn_message> after_env;
	uint64_t index = 0, term = 0;
	std::atomic<int> status{ 1 }; /* 1: pending */
};

struct Member {
	uint64_t id = 0;
	std::string dir;
	sn_storage *st = nullptr;
	sn_engine *e = nullptr;
	std::deque<std::unique_ptr<Write>> writes;
	std::vector<std::string> applied; /* data of applied normal entries */
	uint64_t sent_after_persist = 0;
	bool down = false;
	int last_error = SN_OK;
};

void OnWrite(void *ud, int status)
{
	static_cast<Write *>(ud)->status = status;
}

class StorageEngine : public ::testing::TestWithParam<std::string> {
protected:
	std::string root;
	std::vector<uint64_t> voters{ 1, 2, 3 };
	std::map<uint64_t, Member> ms;
	struct Wire {
		uint64_t from, to;
		std::vector<uint8_t> data;
	};
	std::deque<Wire> wire;

	void SetUp() override
	{
		root = senate_test::MakeTestDir("senate-se");
		ASSERT_FALSE(root.empty()) << "cannot create a test directory";
		sn__wal_hooks.fdatasync = SelectiveSync;
		for (uint64_t id : voters)
			ASSERT_NO_FATAL_FAILURE(Start(id));
	}
	void TearDown() override
	{
		for (auto &kv : ms)
			Stop(kv.second);
		sn__wal_hooks_reset();
		std::lock_guard<std::mutex> g(fail_mu);
		failing.clear();
		fs::remove_all(root);
	}

	/* Open the member's WAL and start its engine from what it recovered. */
	void Start(uint64_t id)
	{
		Member &m = ms[id];
		m.id = id;
		m.dir = root + "/m" + std::to_string(id);
		m.down = false;
		m.applied.clear();
		sn_wal_options wo;
		ASSERT_EQ(sn_wal_options_init(&wo, SN_WAL_OPTIONS_VERSION), SN_OK);
		wo.dir = m.dir.c_str();
		wo.segment_bytes = 64 << 10;
		sn_storage_state s;
		ASSERT_EQ(sn_wal_open(&m.st, &s, &wo), SN_OK) << sn_errmsg();
		if (GetParam() == "paxos") {
			sn_paxos_options o;
			ASSERT_EQ(sn_paxos_options_init(&o, SN_PAXOS_OPTIONS_VERSION),
				  SN_OK);
			o.id = id;
			o.voters = voters.data();
			o.n_voters = voters.size();
			o.seed = 7 * id;
			o.hard_state = &s.hard_state;
			o.entries = s.entries;
			o.n_entries = s.n_entries;
			ASSERT_EQ(sn_paxos_new(&m.e, &o), SN_OK) << sn_errmsg();
			return;
		}
		sn_raft_options o;
		ASSERT_EQ(sn_raft_options_init(&o, SN_RAFT_OPTIONS_VERSION), SN_OK);
		o.id = id;
		o.voters = voters.data();
		o.n_voters = voters.size();
		o.seed = 7 * id;
		o.hard_state = &s.hard_state;
		o.entries = s.entries;
		o.n_entries = s.n_entries;
		ASSERT_EQ(sn_raft_new(&m.e, &o), SN_OK) << sn_errmsg();
	}
	void Stop(Member &m)
	{
		sn_engine_free(m.e);
		m.e = nullptr;
		sn_storage_close(m.st); /* runs the callbacks still queued */
		m.st = nullptr;
		m.writes.clear();
		m.down = true;
	}

	void Send(const sn_message &msg)
	{
		const uint8_t *p = static_cast<const uint8_t *>(msg.data);
		wire.push_back({ msg.from, msg.to, { p, p + msg.len } });
	}

	/* Step 4 for every write the WAL has finished, in order. */
	void Complete(Member &m)
	{
		while (!m.writes.empty() && m.writes.front()->status != 1) {
			Write &w = *m.writes.front();
			if (w.status == SN_OK) {
				for (const sn_message &x : w.after_env)
					Send(x);
				m.sent_after_persist += w.after_env.size();
				if (w.index)
					sn_engine_persisted(m.e, w.index, w.term);
			} else if (m.last_error == SN_OK) {
				m.last_error = w.status;
			}
			m.writes.pop_front();
		}
	}

	void Handle(Member &m)
	{
		sn_ready rd;
		while (sn_engine_ready(m.e, &rd) == 1) {
			for (size_t i = 0; i < rd.n_messages; i++)
				Send(rd.messages[i]);
			if (rd.has_hard_state || rd.n_entries ||
			    rd.n_messages_after_persist) {
				auto w = std::make_unique<Write>();
				w->m = &m;
				for (size_t i = 0; i < rd.n_messages_after_persist; i++) {
					const sn_message &x = rd.messages_after_persist[i];
					const uint8_t *p = static_cast<const uint8_t *>(x.data);
					w->after.emplace_back(p, p + x.len);
				}
				for (size_t i = 0; i < rd.n_messages_after_persist; i++) {
					sn_message x = rd.messages_after_persist[i];
					x.data = w->after[i].data();
					w->after_env.push_back(x);
				}
				if (rd.n_entries) {
					w->index = rd.entries[rd.n_entries - 1].index;
					w->term = rd.entries[rd.n_entries - 1].term;
				}
				int rc = sn_storage_append(
					m.st, rd.has_hard_state ? &rd.hard_state : nullptr,
					rd.entries, rd.n_entries, OnWrite, w.get());
				if (rc != SN_OK) {
					/* Stopped: nothing more is acknowledged. */
					EXPECT_EQ(rc, SN_ESTOPPED) << sn_errmsg();
					if (m.last_error == SN_OK)
						m.last_error = rc;
				} else {
					m.writes.push_back(std::move(w));
				}
			}
			for (size_t i = 0; i < rd.n_committed; i++) {
				const sn_entry &c = rd.committed[i];
				if (c.type == SN_ENTRY_NORMAL)
					m.applied.emplace_back(
						static_cast<const char *>(c.data), c.len);
			}
			sn_engine_advance(m.e);
		}
	}

	/* Run the cluster for `rounds`: complete writes, deliver, tick. */
	void Run(int rounds)
	{
		for (int r = 0; r < rounds; r++) {
			for (auto &kv : ms)
				if (!kv.second.down) {
					Barrier(kv.second);
					Complete(kv.second);
					Handle(kv.second);
				}
			std::deque<Wire> now;
			now.swap(wire);
			for (Wire &w : now) {
				Member &to = ms[w.to];
				if (to.down)
					continue;
				sn_message msg{ 0, w.from, w.to, w.data.data(),
						w.data.size() };
				EXPECT_EQ(sn_engine_step(to.e, &msg), SN_OK);
			}
			for (auto &kv : ms)
				if (!kv.second.down) {
					sn_engine_tick(kv.second.e);
					Handle(kv.second);
				}
		}
	}
	/* Wait until the WAL has answered every write queued so far. */
	void Barrier(Member &m)
	{
		for (int i = 0; i < 2000; i++) {
			bool pending = false;
			for (auto &w : m.writes)
				pending |= w->status == 1;
			if (!pending)
				return;
			usleep(500);
		}
		ADD_FAILURE() << "member " << m.id << ": WAL never answered";
	}

	uint64_t Leader()
	{
		for (auto &kv : ms) {
			if (kv.second.down)
				continue;
			sn_engine_status st;
			sn_engine_get_status(&st, kv.second.e);
			if (st.role == SN_ROLE_LEADER)
				return kv.first;
		}
		return 0;
	}
	uint64_t ElectLeader()
	{
		for (int i = 0; i < 200 && !Leader(); i++)
			Run(1);
		Run(3);
		return Leader();
	}
	void Propose(uint64_t id, const std::string &v)
	{
		ASSERT_EQ(sn_engine_propose(nullptr, ms[id].e, v.data(), v.size()),
			  SN_OK)
			<< sn_errmsg();
	}
	void FailDisk(uint64_t id)
	{
		std::lock_guard<std::mutex> g(fail_mu);
		failing.insert(ms[id].dir);
	}
	sn_engine_status Status(uint64_t id)
	{
		sn_engine_status st;
		sn_engine_get_status(&st, ms[id].e);
		return st;
	}
};

TEST_P(StorageEngine, FailedFsyncStopsAcknowledgementsAndLosesNothing)
{
	uint64_t leader = ElectLeader();
	ASSERT_NE(leader, 0u);
	for (int i = 0; i < 20; i++)
		Propose(leader, "a" + std::to_string(i));
	Run(10);
	for (auto &kv : ms)
		ASSERT_EQ(kv.second.applied.size(), 20u) << "member " << kv.first;
	std::vector<std::string> acked = ms[leader].applied;

	/* A follower's disk fails: it reports the error and acknowledges
	 * nothing more; the two others go on. */
	uint64_t f = leader == 3 ? 2 : 3, other = 6 - leader - f;
	uint64_t sent_before = ms[f].sent_after_persist;
	uint64_t persisted_before = Status(f).persisted;
	FailDisk(f);
	for (int i = 0; i < 20; i++)
		Propose(leader, "b" + std::to_string(i));
	Run(10);
	EXPECT_EQ(ms[f].last_error, SN_EIO);
	char why[256];
	EXPECT_EQ(sn_storage_error(ms[f].st, why, sizeof why), SN_EIO);
	EXPECT_NE(std::string(why).find("fdatasync"), std::string::npos) << why;
	EXPECT_EQ(ms[f].sent_after_persist, sent_before)
		<< "a member whose disk failed acknowledged a write";
	EXPECT_EQ(Status(f).persisted, persisted_before);
	EXPECT_EQ(ms[leader].applied.size(), 40u);
	EXPECT_EQ(ms[other].applied.size(), 40u);
	acked = ms[leader].applied;

	/* Now the leader's disk fails too: nothing commits any more. */
	FailDisk(leader);
	uint64_t commit = Status(leader).commit;
	for (int i = 0; i < 5; i++)
		if (sn_engine_propose(nullptr, ms[leader].e, "c", 1) != SN_OK)
			break;
	Run(30);
	EXPECT_EQ(ms[leader].last_error, SN_EIO);
	for (auto &kv : ms) {
		/* The member whose disk failed first never applied what it
		 * could not make durable. */
		EXPECT_EQ(kv.second.applied.size(), kv.first == f ? 20u : 40u)
			<< "member " << kv.first
			<< " applied an entry no quorum made durable";
		EXPECT_LE(Status(kv.first).commit, commit);
	}

	/* Power cycle everyone on their disks: every acknowledged entry is
	 * there, and the cluster serves again. */
	for (auto &kv : ms)
		Stop(kv.second);
	{
		std::lock_guard<std::mutex> g(fail_mu);
		failing.clear();
	}
	for (uint64_t id : voters)
		ASSERT_NO_FATAL_FAILURE(Start(id));
	uint64_t l2 = ElectLeader();
	ASSERT_NE(l2, 0u);
	Propose(l2, "d");
	Run(10);
	for (auto &kv : ms) {
		const std::vector<std::string> &got = kv.second.applied;
		ASSERT_GE(got.size(), acked.size() + 1) << "member " << kv.first;
		for (size_t i = 0; i < acked.size(); i++)
			EXPECT_EQ(got[i], acked[i]) << "member " << kv.first;
		EXPECT_EQ(got.back(), "d");
	}
}

INSTANTIATE_TEST_SUITE_P(Engines, StorageEngine,
			 ::testing::Values("raft", "paxos"),
			 [](const ::testing::TestParamInfo<std::string> &i) {
				 return i.param;
			 });

} // namespace
