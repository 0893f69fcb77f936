/*
 * tests/unit/raft_harness.h - a tiny in-process cluster of Raft engines.
 *
 * Each Node is one engine plus the storage a caller would keep: its durable
 * log and hard state, the entries it applied and the reads it was handed.
 * Net::drain() handles a ready exactly as <senate/sys/engine.h> says (send
 * `messages`, write, send `messages_after_persist`, report persisted, apply,
 * advance), synchronously unless a node holds its writes (hold_persist).
 * Messages go into one FIFO queue; Net::deliver() steps them into their
 * destination, through partitions and an optional filter that may drop or
 * hold a message. Every message is decoded with the engine's own codec, so
 * tests assert on types and fields.
 *
 * The harness checks contract invariants on every ready (envelope, committed
 * entries contiguous and never beyond what was reported durable, committed
 * entries equal to the stored ones, hard-state term monotonic) with
 * ADD_FAILURE, so every test doubles as a check of those rules.
 *
 * Snapshots: each Node keeps its durable snapshots (`snaps`, by index) and
 * serves the engine's snapshot_read hook from them; Net::TakeSnapshot() puts
 * one there and tells the engine. Received `snapshot_chunks` are written into
 * `rcv` (offset 0 starts afresh; any other offset must continue the file) and
 * recorded in `chunks`; an `install` is checked against the file (size and
 * CRC32C), recorded in `installs`, becomes a durable snapshot and resets the
 * stored log to start after it. Restart() recovers from the newest durable
 * snapshot and the stored log, as a caller would.
 */
#ifndef SENATE_TESTS_UNIT_RAFT_HARNESS_H
#define SENATE_TESTS_UNIT_RAFT_HARNESS_H

#include <gtest/gtest.h>

#include <senate/senate.h>
extern "C" {
#include "raft/raft_msg.h"
}

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <ostream>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace sntest {

/* Member ids 1..n. */
inline std::vector<uint64_t> Ids(int n)
{
	std::vector<uint64_t> ids;
	for (int i = 1; i <= n; i++)
		ids.push_back(i);
	return ids;
}

constexpr uint64_t kGroup = 7;

enum MsgType : uint8_t {
	APP = SN__RAFT_APP,
	APP_RESP = SN__RAFT_APP_RESP,
	VOTE = SN__RAFT_VOTE,
	VOTE_RESP = SN__RAFT_VOTE_RESP,
	PREVOTE = SN__RAFT_PREVOTE,
	PREVOTE_RESP = SN__RAFT_PREVOTE_RESP,
	HEARTBEAT = SN__RAFT_HEARTBEAT,
	HEARTBEAT_RESP = SN__RAFT_HEARTBEAT_RESP,
	TIMEOUT_NOW = SN__RAFT_TIMEOUT_NOW,
	SNAP = SN__RAFT_SNAP,
	SNAP_RESP = SN__RAFT_SNAP_RESP,
};

inline const char *type_name(int t)
{
	const char *n = sn__raft_msg_type_name(t);
	return n ? n : "?";
}

inline const char *role_name(sn_role r)
{
	switch (r) {
	case SN_ROLE_FOLLOWER: return "follower";
	case SN_ROLE_PRECANDIDATE: return "precandidate";
	case SN_ROLE_CANDIDATE: return "candidate";
	case SN_ROLE_LEADER: return "leader";
	}
	return "?";
}

/* A log entry with its data copied. */
struct Ent {
	uint64_t index = 0;
	uint64_t term = 0;
	uint32_t type = SN_ENTRY_NORMAL;
	std::string data;

	bool operator==(const Ent &o) const
	{
		return index == o.index && term == o.term && type == o.type &&
		       data == o.data;
	}
	bool operator!=(const Ent &o) const { return !(*this == o); }
};

inline std::ostream &operator<<(std::ostream &os, const Ent &e)
{
	os << e.index << ":t" << e.term;
	if (e.type == SN_ENTRY_NOOP)
		os << ":noop";
	else if (!e.data.empty())
		os << ":'" << (e.data.size() > 16 ? e.data.substr(0, 16) + "..."
						    : e.data) << "'";
	return os;
}

inline Ent E(uint64_t index, uint64_t term, std::string data = "",
	     uint32_t type = SN_ENTRY_NORMAL)
{
	Ent e;
	e.index = index;
	e.term = term;
	e.type = type;
	e.data = std::move(data);
	return e;
}

/* A log from index 1 with the given terms; entry i's data is "i<i>t<term>". */
inline std::vector<Ent> LogOfTerms(const std::vector<uint64_t> &terms)
{
	std::vector<Ent> log;
	for (size_t i = 0; i < terms.size(); i++)
		log.push_back(E(i + 1, terms[i], "i" + std::to_string(i + 1) + "t" +
					      std::to_string(terms[i])));
	return log;
}

inline Ent FromWire(const sn_entry &w)
{
	Ent e;
	e.index = w.index;
	e.term = w.term;
	e.type = w.type;
	if (w.len)
		e.data.assign(static_cast<const char *>(w.data), w.len);
	return e;
}

/* A decoded Raft message and its envelope. */
struct Msg {
	uint64_t group = kGroup;
	uint64_t from = 0;
	uint64_t to = 0;
	bool after_persist = false; /* came from messages_after_persist */

	uint8_t type = 0;
	uint8_t reject = 0;
	uint8_t flags = 0;
	uint64_t term = 0;
	uint64_t index = 0;
	uint64_t log_term = 0;
	uint64_t commit = 0;
	uint64_t hint = 0;
	uint64_t ctx = 0;
	std::vector<Ent> entries;

	/* SNAP only */
	uint64_t snap_size = 0;
	uint32_t snap_crc = 0;
	std::vector<uint64_t> voters;
	uint64_t offset = 0;
	std::string data;

	std::vector<uint8_t> raw; /* the bytes on the wire */

	size_t EntryBytes() const
	{
		size_t n = 0;
		for (const Ent &e : entries)
			n += e.data.size();
		return n;
	}

	std::string Str() const
	{
		std::ostringstream os;
		os << type_name(type) << " " << from << "->" << to << " t"
		   << term << " i" << index << " lt" << log_term << " c"
		   << commit;
		if (reject)
			os << " REJECT";
		if (hint)
			os << " hint" << hint;
		if (ctx)
			os << " ctx" << ctx;
		if (flags)
			os << " flags" << unsigned(flags);
		if (type == SN__RAFT_SNAP)
			os << " snap(size " << snap_size << " crc " << snap_crc
			   << " voters " << voters.size() << " off " << offset
			   << " len " << data.size() << ")";
		if (!entries.empty()) {
			os << " [";
			for (size_t i = 0; i < entries.size(); i++)
				os << (i ? " " : "") << entries[i];
			os << "]";
		}
		if (after_persist)
			os << " (after persist)";
		return os.str();
	}
};

inline std::ostream &operator<<(std::ostream &os, const Msg &m)
{
	return os << m.Str();
}

inline Msg M(uint8_t type, uint64_t from, uint64_t to, uint64_t term)
{
	Msg m;
	m.type = type;
	m.from = from;
	m.to = to;
	m.term = term;
	return m;
}

/* An APP from `from` with prev (index, log_term), `ents` and commit. */
inline Msg App(uint64_t from, uint64_t to, uint64_t term, uint64_t prev_index,
	       uint64_t prev_term, std::vector<Ent> ents, uint64_t commit)
{
	Msg m = M(APP, from, to, term);
	m.index = prev_index;
	m.log_term = prev_term;
	m.commit = commit;
	for (size_t i = 0; i < ents.size(); i++)
		ents[i].index = prev_index + 1 + i;
	m.entries = std::move(ents);
	return m;
}

inline std::vector<uint8_t> Encode(const Msg &m)
{
	sn__raft_msg r;
	std::memset(&r, 0, sizeof r);
	r.type = m.type;
	r.reject = m.reject;
	r.flags = m.flags;
	r.term = m.term;
	r.index = m.index;
	r.log_term = m.log_term;
	r.commit = m.commit;
	r.hint = m.hint;
	r.ctx = m.ctx;
	std::vector<sn_entry> es;
	for (const Ent &e : m.entries) {
		sn_entry w;
		w.index = e.index;
		w.term = e.term;
		w.type = e.type;
		w.data = e.data.data();
		w.len = e.data.size();
		es.push_back(w);
	}
	r.n_entries = es.size();
	r.entries = es.empty() ? nullptr : es.data();
	r.snap_size = m.snap_size;
	r.snap_crc = m.snap_crc;
	r.n_voters = m.voters.size();
	r.voters = m.voters.empty() ? nullptr
				    : const_cast<uint64_t *>(m.voters.data());
	r.offset = m.offset;
	r.data = m.data.empty() ? nullptr : m.data.data();
	r.len = m.data.size();
	std::vector<uint8_t> out(sn__raft_msg_size(&r));
	sn__raft_msg_encode(&r, out.data());
	return out;
}

/* Decode bytes into *out (envelope untouched). False when the codec refuses. */
inline bool Decode(const void *data, size_t len, Msg *out)
{
	sn__raft_msg r;
	std::memset(&r, 0, sizeof r);
	if (sn__raft_msg_decode(&r, data, len) != SN_OK)
		return false;
	out->type = r.type;
	out->reject = r.reject;
	out->flags = r.flags;
	out->term = r.term;
	out->index = r.index;
	out->log_term = r.log_term;
	out->commit = r.commit;
	out->hint = r.hint;
	out->ctx = r.ctx;
	out->entries.clear();
	for (size_t i = 0; i < r.n_entries; i++)
		out->entries.push_back(FromWire(r.entries[i]));
	out->snap_size = r.snap_size;
	out->snap_crc = r.snap_crc;
	out->voters.assign(r.voters, r.voters + r.n_voters);
	out->offset = r.offset;
	out->data.assign(r.len ? static_cast<const char *>(r.data) : "", r.len);
	sn__raft_msg_free(&r);
	out->raw.assign(static_cast<const uint8_t *>(data),
			static_cast<const uint8_t *>(data) + len);
	return true;
}

/* A snapshot with its data: what a caller keeps on disk. */
struct Snap {
	uint64_t index = 0;
	uint64_t term = 0;
	uint64_t size = 0;
	uint32_t crc = 0;
	std::vector<uint64_t> voters;
	std::string data;

	/* Borrows `voters`: valid while this Snap lives unchanged. */
	sn_snapshot_meta Meta() const
	{
		sn_snapshot_meta m;
		std::memset(&m, 0, sizeof m);
		m.index = index;
		m.term = term;
		m.size = size;
		m.crc = crc;
		m.voters = voters.empty() ? nullptr : voters.data();
		m.n_voters = voters.size();
		return m;
	}
	bool SameMeta(const sn_snapshot_meta &m) const
	{
		return index == m.index && term == m.term && size == m.size &&
		       crc == m.crc &&
		       voters == std::vector<uint64_t>(m.voters,
						       m.voters + m.n_voters);
	}
};

inline Snap SnapOf(const sn_snapshot_meta &m, std::string data = "")
{
	Snap s;
	s.index = m.index;
	s.term = m.term;
	s.size = m.size;
	s.crc = m.crc;
	s.voters.assign(m.voters, m.voters + m.n_voters);
	s.data = std::move(data);
	return s;
}

/* A snapshot of `data` through {index, term}: size and CRC32C computed. */
inline Snap MakeSnap(uint64_t index, uint64_t term, std::string data,
		     std::vector<uint64_t> voters)
{
	Snap s;
	s.index = index;
	s.term = term;
	s.size = data.size();
	s.crc = sn__crc32c(0, data.data(), data.size());
	s.voters = std::move(voters);
	s.data = std::move(data);
	return s;
}

inline std::ostream &operator<<(std::ostream &os, const Snap &s)
{
	return os << "snap{" << s.index << ":t" << s.term << " size " << s.size
		  << " crc " << s.crc << " voters " << s.voters.size() << "}";
}

/* How a cluster's engines are configured. */
struct Config {
	unsigned election = 10;
	unsigned heartbeat = 1;
	bool pre_vote = true;
	bool check_quorum = true;
	size_t max_msg_bytes = 0;
	size_t max_inflight_msgs = 0;
	size_t max_inflight_bytes = 0;
	size_t max_uncommitted_bytes = 0;
	size_t max_entry_bytes = 0;
	size_t max_pending_reads = 0;
	uint64_t seed = 0; /* 0: each engine seeds with its id */
	uint64_t group = kGroup;

	/* Plain Raft, as the paper describes it: no PreVote, no CheckQuorum. */
	static Config Plain()
	{
		Config c;
		c.pre_vote = false;
		c.check_quorum = false;
		return c;
	}
};

inline sn_raft_options MakeOptions(uint64_t id,
				   const std::vector<uint64_t> &voters,
				   const Config &c)
{
	sn_raft_options o;
	std::memset(&o, 0, sizeof o);
	EXPECT_EQ(SN_OK, sn_raft_options_init(&o, SN_RAFT_OPTIONS_VERSION));
	o.id = id;
	o.group = c.group;
	o.voters = voters.data();
	o.n_voters = voters.size();
	o.election_ticks = c.election;
	o.heartbeat_ticks = c.heartbeat;
	o.disable_pre_vote = !c.pre_vote;
	o.disable_check_quorum = !c.check_quorum;
	o.max_msg_bytes = c.max_msg_bytes;
	o.max_inflight_msgs = c.max_inflight_msgs;
	o.max_inflight_bytes = c.max_inflight_bytes;
	o.max_uncommitted_bytes = c.max_uncommitted_bytes;
	o.max_entry_bytes = c.max_entry_bytes;
	o.max_pending_reads = c.max_pending_reads;
	o.seed = c.seed ? c.seed + id : 0;
	return o;
}

/* One member: an engine and the storage its caller keeps. */
struct Node {
	uint64_t id = 0;
	sn_engine *e = nullptr;

	std::vector<Ent> log; /* stable log; log[i].index == log_start + 1 + i */
	uint64_t log_start = 0; /* index before log[0] (a snapshot covers it) */
	sn_hard_state hs{};
	int hs_writes = 0;
	uint64_t persisted = 0; /* last index reported with persisted() */

	std::vector<Ent> committed; /* every entry handed out to apply */
	uint64_t applied = 0;
	std::vector<sn_read_state> reads;
	std::vector<std::vector<Ent>> writes; /* `entries` of each ready */

	/* When set, writes are not reported durable (and the messages that
	 * wait for them are not sent) until Net::Release(). */
	bool hold_persist = false;
	struct Pending {
		std::vector<Msg> msgs;
		bool has_entries = false; /* entries or an install to report */
		uint64_t index = 0, term = 0;
	};
	std::deque<Pending> pending;

	/* ---- snapshots ---- */
	std::map<uint64_t, Snap> snaps; /* durable snapshots, by index */
	Snap rcv;                       /* the file being received */
	struct Chunk {
		Snap meta; /* the chunk's meta (no data) */
		uint64_t offset = 0;
		std::string data;
		int ready = 0; /* `readies` when it was handed out */
	};
	std::vector<Chunk> chunks; /* every snapshot chunk handed out */
	struct Install {
		Snap snap; /* meta and the data it was checked against */
		int ready = 0;
	};
	std::vector<Install> installs;
	int readies = 0; /* readies handled */
	/* snapshot_read calls: {index, offset, len} */
	struct Read {
		uint64_t index, offset;
		size_t len;
	};
	std::vector<Read> snap_reads;
	/* When set and it returns non-zero, snapshot_read fails with that. */
	std::function<int(const sn_snapshot_meta &, uint64_t, size_t)>
		read_fault;

	uint64_t LastIndex() const
	{
		return log.empty() ? log_start : log.back().index;
	}
	/* The newest durable snapshot, or nullptr. */
	const Snap *NewestSnap() const
	{
		return snaps.empty() ? nullptr : &snaps.rbegin()->second;
	}

	/* The data of the applied normal entries, in order. */
	std::vector<std::string> AppliedData() const
	{
		std::vector<std::string> out;
		for (const Ent &c : committed)
			if (c.type == SN_ENTRY_NORMAL)
				out.push_back(c.data);
		return out;
	}
};

/* The snapshot_read hook: serves a node's durable snapshots. */
inline int ReadSnapshot(void *userdata, const sn_snapshot_meta *meta,
			uint64_t offset, void *buf, size_t len, size_t *n_read)
{
	Node *n = static_cast<Node *>(userdata);
	n->snap_reads.push_back({meta->index, offset, len});
	if (n->read_fault) {
		int rc = n->read_fault(*meta, offset, len);
		if (rc)
			return rc;
	}
	auto it = n->snaps.find(meta->index);
	if (it == n->snaps.end() || !it->second.SameMeta(*meta))
		return SN_ENOTFOUND;
	const std::string &d = it->second.data;
	if (offset > d.size()) {
		ADD_FAILURE() << "node " << n->id << ": snapshot read at "
			      << offset << " beyond " << d.size();
		return SN_EINVAL;
	}
	size_t k = std::min<size_t>(len, d.size() - offset);
	if (k)
		std::memcpy(buf, d.data() + offset, k);
	*n_read = k;
	return SN_OK;
}

class Net {
public:
	enum Action { kDeliver, kDrop, kHold };
	using Filter = std::function<Action(const Msg &)>;

	Config cfg;
	std::vector<uint64_t> voters;
	std::map<uint64_t, Node> nodes;

	std::deque<Msg> queue; /* in flight */
	std::vector<Msg> sent; /* everything ever sent, in order */
	std::vector<Msg> held; /* messages a filter held back */
	Filter filter;
	/* When set, sees each message as it is delivered and may edit it (its
	 * `raw` bytes are what gets stepped). */
	std::function<void(Msg &)> tamper;
	std::set<uint64_t> isolated;                  /* cut from everyone */
	std::set<std::pair<uint64_t, uint64_t>> cuts; /* directed links */
	std::set<uint64_t> down; /* crashed: not ticked, gets nothing */

	explicit Net(std::vector<uint64_t> ids, Config c = Config())
		: cfg(c), voters(std::move(ids))
	{
		for (uint64_t id : voters)
			Start(id, nullptr, {}, 0);
	}
	~Net()
	{
		for (auto &kv : nodes)
			sn_engine_free(kv.second.e);
	}
	Net(const Net &) = delete;
	Net &operator=(const Net &) = delete;

	Node &node(uint64_t id)
	{
		auto it = nodes.find(id);
		if (it == nodes.end()) {
			ADD_FAILURE() << "no node " << id;
			static Node none;
			return none;
		}
		return it->second;
	}
	sn_engine *e(uint64_t id) { return node(id).e; }

	sn_engine_status St(uint64_t id)
	{
		sn_engine_status st;
		std::memset(&st, 0, sizeof st);
		sn_engine_get_status(&st, e(id));
		return st;
	}
	sn_role Role(uint64_t id) { return St(id).role; }
	uint64_t Term(uint64_t id) { return St(id).term; }

	/* (Re)create member `id` from storage, as a restart would; with `snap`,
	 * from that installed snapshot too (it becomes a durable snapshot);
	 * with `partial`, resuming the transfer of that snapshot, of which it
	 * holds partial->data. */
	void Start(uint64_t id, const sn_hard_state *hs,
		   const std::vector<Ent> &log, uint64_t applied,
		   const Snap *snap = nullptr, const Snap *partial = nullptr)
	{
		Node &n = nodes[id];
		Snap s = snap ? *snap : Snap();
		Snap p = partial ? *partial : Snap();
		sn_snapshot_meta pmeta = p.Meta();
		sn_engine_free(n.e);
		n.e = nullptr;
		n.id = id;
		n.log = log;
		n.log_start = !log.empty() ? log.front().index - 1
			      : snap	   ? s.index
					   : 0;
		n.hs = hs ? *hs : sn_hard_state{};
		n.persisted = n.LastIndex();
		n.committed.clear();
		n.applied = snap && s.index > applied ? s.index : applied;
		n.reads.clear();
		n.writes.clear();
		n.pending.clear();
		n.hold_persist = false;
		n.chunks.clear();
		n.installs.clear();
		n.snap_reads.clear();
		if (snap && !n.snaps.count(s.index))
			n.snaps[s.index] = s;
		sn_snapshot_meta meta = s.Meta();

		std::vector<sn_entry> es;
		for (const Ent &x : log) {
			sn_entry w;
			w.index = x.index;
			w.term = x.term;
			w.type = x.type;
			w.data = x.data.data();
			w.len = x.data.size();
			es.push_back(w);
		}
		sn_raft_options o = MakeOptions(id, voters, cfg);
		o.hard_state = hs;
		o.entries = es.empty() ? nullptr : es.data();
		o.n_entries = es.size();
		o.applied = applied;
		o.snapshot = snap ? &meta : nullptr;
		o.snapshot_read = ReadSnapshot;
		o.snapshot_userdata = &n;
		if (partial) {
			o.snapshot_partial = &pmeta;
			o.snapshot_partial_offset = p.data.size();
			o.snapshot_partial_crc =
				sn__crc32c(0, p.data.data(), p.data.size());
		}
		int rc = sn_raft_new(&n.e, &o);
		if (rc != SN_OK)
			ADD_FAILURE() << "sn_raft_new(" << id << ") = " << rc
				      << ": " << sn_errmsg();
		/* A restarted member may have committed entries to re-apply. */
		Drain(id);
	}
	void Restore(uint64_t id, sn_hard_state hs, const std::vector<Ent> &log,
		     uint64_t applied = 0)
	{
		Start(id, &hs, log, applied);
	}
	/* Crash and restart from what storage holds (with the newest durable
	 * snapshot, if any). */
	void Restart(uint64_t id)
	{
		Node &n = node(id);
		sn_hard_state hs = n.hs;
		std::vector<Ent> log = n.log;
		const Snap *newest = n.NewestSnap();
		Snap snap = newest ? *newest : Snap();
		Start(id, &hs, log, n.applied, newest ? &snap : nullptr);
	}
	/* Restart, telling the engine about the file being received (`rcv`),
	 * as sn_snapshot_writer_resume() would. */
	void RestartResuming(uint64_t id)
	{
		Node &n = node(id);
		sn_hard_state hs = n.hs;
		std::vector<Ent> log = n.log;
		const Snap *newest = n.NewestSnap();
		Snap snap = newest ? *newest : Snap();
		Snap partial = n.rcv;
		Start(id, &hs, log, n.applied, newest ? &snap : nullptr,
		      &partial);
	}

	/* ---- snapshots ---- */

	/* Make `data` a durable snapshot of member `id` through `index` (term
	 * taken from its stored log) and tell its engine. Returns the engine's
	 * answer. */
	int TakeSnapshot(uint64_t id, uint64_t index, const std::string &data,
			 Snap *out = nullptr)
	{
		Node &n = node(id);
		uint64_t term = 0;
		if (index > n.log_start && index <= n.LastIndex())
			term = n.log[index - n.log_start - 1].term;
		else if (n.snaps.count(index))
			term = n.snaps[index].term;
		Snap s = MakeSnap(index, term, data, voters);
		if (out)
			*out = s;
		bool had = n.snaps.count(index) != 0;
		Snap old = had ? n.snaps[index] : Snap();
		n.snaps[index] = s;
		sn_snapshot_meta meta = n.snaps[index].Meta();
		int rc = sn_engine_snapshot_taken(n.e, &meta);
		if (rc != SN_OK) { /* not durable after all: put back */
			if (had)
				n.snaps[index] = old;
			else
				n.snaps.erase(index);
		}
		Drain(id);
		return rc;
	}
	/* Drop stored entries <= index (a durable snapshot must cover them). */
	void CompactStorage(uint64_t id, uint64_t index)
	{
		Node &n = node(id);
		while (!n.log.empty() && n.log.front().index <= index) {
			n.log.erase(n.log.begin());
			n.log_start++;
		}
	}

	/* ---- ready handling ---- */

	void Drain(uint64_t id)
	{
		Node &n = node(id);
		if (!n.e)
			return;
		for (int guard = 0; sn_engine_has_ready(n.e); guard++) {
			if (guard > 10000) {
				ADD_FAILURE() << "node " << id
					      << ": ready never runs dry";
				return;
			}
			sn_ready rd;
			int rc = sn_engine_ready(n.e, &rd);
			if (rc != 1) {
				ADD_FAILURE() << "node " << id << ": has_ready "
					      << "but sn_engine_ready() = " << rc;
				return;
			}
			Handle(n, rd);
			sn_engine_advance(n.e);
		}
	}
	void DrainAll()
	{
		for (auto &kv : nodes)
			Drain(kv.first);
	}

	/* Report held writes durable and send what waited for them. */
	void Release(uint64_t id)
	{
		Node &n = node(id);
		while (!n.pending.empty()) {
			Node::Pending p = n.pending.front();
			n.pending.pop_front();
			for (Msg &m : p.msgs)
				Send(m);
			if (p.has_entries) {
				sn_engine_persisted(n.e, p.index, p.term);
				n.persisted = p.index;
			}
		}
		Drain(id);
	}

	/* ---- the network ---- */

	Action Route(const Msg &m)
	{
		if (down.count(m.to) || down.count(m.from))
			return kDrop;
		if (isolated.count(m.from) || isolated.count(m.to))
			return kDrop;
		if (cuts.count({m.from, m.to}))
			return kDrop;
		if (filter)
			return filter(m);
		return kDeliver;
	}
	void Isolate(uint64_t id) { isolated.insert(id); }
	void Cut(uint64_t a, uint64_t b)
	{
		cuts.insert({a, b});
		cuts.insert({b, a});
	}
	void Heal()
	{
		isolated.clear();
		cuts.clear();
		filter = nullptr;
	}
	/* Put held messages back in flight. */
	void ReleaseHeld()
	{
		for (Msg &m : held)
			queue.push_back(m);
		held.clear();
	}

	/* Deliver queued messages (and the ones they cause) until quiet. */
	size_t Deliver(size_t limit = 200000)
	{
		size_t n = 0;
		while (!queue.empty()) {
			if (n >= limit) {
				ADD_FAILURE() << "network never went quiet";
				break;
			}
			Msg m = queue.front();
			queue.pop_front();
			if (tamper)
				tamper(m);
			Action a = Route(m);
			if (a == kDrop)
				continue;
			if (a == kHold) {
				held.push_back(m);
				continue;
			}
			if (!nodes.count(m.to) || !nodes[m.to].e)
				continue;
			n++;
			int rc = StepRaw(m.to, m.group, m.from, m.raw);
			EXPECT_EQ(SN_OK, rc) << "stepping " << m << ": "
					     << sn_errmsg();
		}
		return n;
	}
	/* Drop everything in flight. */
	void Flush() { queue.clear(); }

	/* Step encoded bytes into `to` and handle its output. */
	int StepRaw(uint64_t to, uint64_t group, uint64_t from,
		    const std::vector<uint8_t> &raw)
	{
		/* The bytes are borrowed for the call only: step a copy and
		 * scribble over it before the ready is handled, so an engine
		 * that kept a pointer into it hands out garbage. */
		std::vector<uint8_t> copy(raw);
		sn_message w;
		w.group = group;
		w.from = from;
		w.to = to;
		w.data = copy.empty() ? nullptr : copy.data();
		w.len = copy.size();
		int rc = sn_engine_step(e(to), &w);
		std::fill(copy.begin(), copy.end(), uint8_t(0xdb));
		Drain(to);
		return rc;
	}
	/* Step a hand-made message into m.to (bypasses the network). */
	int Inject(const Msg &m)
	{
		return StepRaw(m.to, m.group, m.from, Encode(m));
	}

	/* ---- time and inputs ---- */

	void Tick(uint64_t id, int n = 1)
	{
		for (int i = 0; i < n; i++) {
			sn_engine_tick(e(id));
			Drain(id);
		}
	}
	/* Tick every live member once, then deliver; `n` times. */
	void TickAll(int n = 1)
	{
		for (int i = 0; i < n; i++) {
			for (auto &kv : nodes)
				if (!down.count(kv.first))
					Tick(kv.first);
			Deliver();
		}
	}
	int Campaign(uint64_t id)
	{
		int rc = sn_engine_campaign(e(id));
		Drain(id);
		return rc;
	}
	/* Campaign and deliver until quiet; true when `id` won. */
	bool Elect(uint64_t id)
	{
		int rc = Campaign(id);
		EXPECT_EQ(SN_OK, rc) << "campaign " << id;
		Deliver();
		return Role(id) == SN_ROLE_LEADER;
	}
	int Propose(uint64_t id, const std::string &data,
		    uint64_t *index = nullptr)
	{
		int rc = sn_engine_propose(index, e(id), data.data(),
					   data.size());
		Drain(id);
		return rc;
	}
	/* The leader with the highest term, 0 if none. */
	uint64_t Leader()
	{
		uint64_t best = 0, term = 0;
		for (auto &kv : nodes) {
			if (down.count(kv.first))
				continue;
			sn_engine_status st = St(kv.first);
			if (st.role == SN_ROLE_LEADER && st.term >= term) {
				best = kv.first;
				term = st.term;
			}
		}
		return best;
	}

	std::vector<Msg> TakeSent()
	{
		std::vector<Msg> out;
		out.swap(sent);
		return out;
	}

private:
	Msg Wrap(const Node &n, const sn_message &w, bool after_persist)
	{
		Msg m;
		if (!Decode(w.data, w.len, &m))
			ADD_FAILURE() << "node " << n.id
				      << " sent bytes its own codec refuses: "
				      << sn_errmsg();
		m.group = w.group;
		m.from = w.from;
		m.to = w.to;
		m.after_persist = after_persist;
		EXPECT_EQ(cfg.group, w.group) << m;
		EXPECT_EQ(n.id, w.from) << m;
		EXPECT_NE(n.id, w.to) << m;
		bool known = false;
		for (uint64_t v : voters)
			known = known || v == w.to;
		EXPECT_TRUE(known) << "message to a non-member: " << m;
		return m;
	}
	void Send(const Msg &m)
	{
		sent.push_back(m);
		queue.push_back(m);
	}
	void WriteLog(Node &n, const std::vector<Ent> &ents)
	{
		uint64_t first = ents.front().index;
		if (first < n.log_start + 1 || first > n.LastIndex() + 1) {
			ADD_FAILURE() << "node " << n.id << " writes from index "
				      << first << " outside its log ("
				      << n.log_start << ", " << n.LastIndex()
				      << "]";
			return;
		}
		for (size_t i = 1; i < ents.size(); i++) {
			EXPECT_EQ(ents[i - 1].index + 1, ents[i].index)
				<< "non-consecutive write on node " << n.id;
		}
		n.log.resize(first - 1 - n.log_start);
		n.log.insert(n.log.end(), ents.begin(), ents.end());
	}
	/* Step 2 of a ready: write chunks into the file being received and,
	 * on install, check it, keep it and restart the log after it. */
	void WriteSnapshot(Node &n, const sn_ready &rd)
	{
		for (size_t i = 0; i < rd.n_snapshot_chunks; i++) {
			const sn_snapshot_chunk &c = rd.snapshot_chunks[i];
			Node::Chunk rec;
			rec.meta = SnapOf(*c.meta);
			rec.offset = c.offset;
			rec.data.assign(c.len ? static_cast<const char *>(c.data)
					      : "", c.len);
			rec.ready = n.readies;
			if (c.offset == 0) {
				n.rcv = rec.meta;
			} else {
				EXPECT_TRUE(n.rcv.SameMeta(*c.meta))
					<< "node " << n.id << ": chunk of " << rec.meta
					<< " continues " << n.rcv;
				EXPECT_EQ(n.rcv.data.size(), c.offset)
					<< "node " << n.id << ": chunk leaves a gap";
			}
			n.rcv.data.resize(c.offset);
			n.rcv.data += rec.data;
			EXPECT_LE(n.rcv.data.size(), rec.meta.size)
				<< "node " << n.id << ": chunk beyond the size";
			n.chunks.push_back(rec);
		}
		if (!rd.install)
			return;
		const sn_snapshot_meta &m = *rd.install;
		EXPECT_TRUE(n.rcv.SameMeta(m))
			<< "node " << n.id << ": install of " << SnapOf(m)
			<< " but the file received is of " << n.rcv;
		EXPECT_EQ(m.size, n.rcv.data.size()) << "node " << n.id;
		EXPECT_EQ(m.crc, sn__crc32c(0, n.rcv.data.data(),
					    n.rcv.data.size()))
			<< "node " << n.id << ": installs a file failing its CRC";
		EXPECT_GT(m.index, n.applied)
			<< "node " << n.id << ": install behind what it applied";
		Snap s = SnapOf(m, n.rcv.data);
		n.installs.push_back({s, n.readies});
		n.snaps[m.index] = s;
		n.log.clear();
		n.log_start = m.index;
		n.applied = m.index;
	}
	void Handle(Node &n, const sn_ready &rd)
	{
		uint64_t durable = n.persisted;
		n.readies++;
		for (size_t i = 0; i < rd.n_messages; i++)
			Send(Wrap(n, rd.messages[i], false));
		WriteSnapshot(n, rd);

		if (rd.has_hard_state) {
			EXPECT_GE(rd.hard_state.term, n.hs.term)
				<< "node " << n.id << ": hard state term went back";
			n.hs = rd.hard_state;
			n.hs_writes++;
		}
		std::vector<Ent> ents;
		for (size_t i = 0; i < rd.n_entries; i++)
			ents.push_back(FromWire(rd.entries[i]));
		if (!ents.empty()) {
			WriteLog(n, ents);
			n.writes.push_back(ents);
		}

		Node::Pending p;
		for (size_t i = 0; i < rd.n_messages_after_persist; i++)
			p.msgs.push_back(Wrap(n, rd.messages_after_persist[i],
					      true));
		p.has_entries = !ents.empty() || rd.install;
		if (!ents.empty()) {
			p.index = ents.back().index;
			p.term = ents.back().term;
		} else if (rd.install) {
			p.index = rd.install->index;
			p.term = rd.install->term;
		}
		if (n.hold_persist) {
			n.pending.push_back(p);
		} else {
			for (Msg &m : p.msgs)
				Send(m);
			if (p.has_entries) {
				sn_engine_persisted(n.e, p.index, p.term);
				n.persisted = p.index;
			}
		}

		for (size_t i = 0; i < rd.n_committed; i++) {
			Ent c = FromWire(rd.committed[i]);
			EXPECT_EQ(n.applied + 1, c.index)
				<< "node " << n.id << ": committed out of order";
			EXPECT_LE(c.index, durable)
				<< "node " << n.id << ": entry " << c
				<< " handed out to apply before it was durable";
			if (c.index > n.log_start &&
			    c.index - n.log_start <= n.log.size()) {
				EXPECT_EQ(n.log[c.index - n.log_start - 1], c)
					<< "node " << n.id
					<< ": committed entry differs from the "
					   "stored one";
			}
			n.committed.push_back(c);
			n.applied = c.index;
		}
		for (size_t i = 0; i < rd.n_reads; i++)
			n.reads.push_back(rd.reads[i]);
	}
};

/* Messages of `type` (0: any) from `from` (0: any) to `to` (0: any). */
inline std::vector<Msg> Filter(const std::vector<Msg> &msgs, uint8_t type,
			       uint64_t from = 0, uint64_t to = 0)
{
	std::vector<Msg> out;
	for (const Msg &m : msgs)
		if ((!type || m.type == type) && (!from || m.from == from) &&
		    (!to || m.to == to))
			out.push_back(m);
	return out;
}

inline size_t Count(const std::vector<Msg> &msgs, uint8_t type,
		    uint64_t from = 0, uint64_t to = 0)
{
	return Filter(msgs, type, from, to).size();
}

inline std::string Dump(const std::vector<Msg> &msgs)
{
	std::ostringstream os;
	for (const Msg &m : msgs)
		os << "  " << m << "\n";
	return os.str();
}

inline bool SameStatusExceptDropped(const sn_engine_status &a,
				    const sn_engine_status &b)
{
	return a.id == b.id && a.group == b.group && a.role == b.role &&
	       a.term == b.term && a.vote == b.vote && a.leader == b.leader &&
	       a.first_index == b.first_index && a.last_index == b.last_index &&
	       a.last_term == b.last_term && a.commit == b.commit &&
	       a.applied == b.applied && a.persisted == b.persisted;
}

inline std::string StatusStr(const sn_engine_status &s)
{
	std::ostringstream os;
	os << "{id " << s.id << " group " << s.group << " "
	   << role_name(s.role) << " term " << s.term << " vote " << s.vote
	   << " leader " << s.leader << " log " << s.first_index << ".."
	   << s.last_index << "@t" << s.last_term << " commit " << s.commit
	   << " applied " << s.applied << " persisted " << s.persisted
	   << " dropped " << s.dropped << "}";
	return os.str();
}

} // namespace sntest

#endif
