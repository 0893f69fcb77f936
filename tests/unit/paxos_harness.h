/*
 * tests/unit/paxos_harness.h - a tiny in-process cluster of Multi-Paxos
 * engines, driven only through the public engine seam.
 *
 * Each Node is one engine plus what a caller keeps: its durable log and hard
 * state, its durable snapshots, the entries it applied and the reads it was
 * handed. Net::Drain() handles every ready as <senate/sys/engine.h> says
 * (send `messages`, write chunks/install, write hard state and entries,
 * then - once durable - send `messages_after_persist` and report persisted,
 * apply, serve reads, advance). A node with `hold` set keeps its writes
 * pending until Flush(); Crash() loses them. Messages wait in one FIFO
 * queue; Deliver() steps them through partitions and an optional filter.
 * Every message is decoded with the engine's own codec so tests assert on
 * types and fields.
 *
 * Contract checks run on every ready with ADD_FAILURE: committed entries
 * are contiguous, never beyond what was reported durable, and equal to the
 * stored ones; the promised ballot never goes back; the hard state is
 * written before any reply that depends on it.
 */
#ifndef SENATE_TESTS_UNIT_PAXOS_HARNESS_H
#define SENATE_TESTS_UNIT_PAXOS_HARNESS_H

#include <gtest/gtest.h>

#include <senate/senate.h>
extern "C" {
#include "base/base.h"
#include "paxos/paxos_msg.h"
}

#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace pxtest {

constexpr uint64_t kGroup = 7;

inline std::vector<uint64_t> Ids(int n)
{
	std::vector<uint64_t> ids;
	for (int i = 1; i <= n; i++)
		ids.push_back(i);
	return ids;
}

/* Ballot of round r owned by the member at sorted position pos (0-based). */
inline uint64_t Ballot(uint64_t round, uint64_t pos)
{
	return (round << 16) | (pos + 1);
}

struct Ent {
	uint64_t index = 0, term = 0;
	uint32_t type = SN_ENTRY_NORMAL;
	std::string data;
	bool operator==(const Ent &o) const
	{
		return index == o.index && term == o.term && type == o.type &&
		       data == o.data;
	}
};

inline Ent E(uint64_t index, uint64_t term, std::string data,
	     uint32_t type = SN_ENTRY_NORMAL)
{
	Ent e;
	e.index = index;
	e.term = term;
	e.type = type;
	e.data = std::move(data);
	return e;
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

/* A decoded message, its envelope and its bytes. */
struct Msg {
	uint64_t from = 0, to = 0;
	bool after_persist = false;
	sn__paxos_msg m{};
	std::vector<Ent> entries;
	std::vector<uint8_t> raw;
	std::string chunk;
};

inline Msg Decode(const sn_message &w, bool after)
{
	Msg out;
	out.from = w.from;
	out.to = w.to;
	out.after_persist = after;
	out.raw.assign(static_cast<const uint8_t *>(w.data),
		       static_cast<const uint8_t *>(w.data) + w.len);
	sn__paxos_msg m;
	if (sn__paxos_msg_decode(&m, out.raw.data(), out.raw.size()) != SN_OK) {
		ADD_FAILURE() << "engine sent an undecodable message";
		return out;
	}
	for (size_t i = 0; i < m.n_entries; i++)
		out.entries.push_back(FromWire(m.entries[i]));
	if (m.len)
		out.chunk.assign(static_cast<const char *>(m.data), m.len);
	out.m = m;
	out.m.entries = nullptr;
	out.m.n_entries = m.n_entries;
	out.m.voters = nullptr;
	out.m.data = nullptr;
	sn__paxos_msg_free(&m);
	return out;
}

/* Encode a message for crafting input. */
inline std::vector<uint8_t> Encode(sn__paxos_msg m,
				   const std::vector<Ent> &ents = {})
{
	std::vector<sn_entry> w;
	for (const Ent &e : ents)
		w.push_back(sn_entry{ e.index, e.term, e.type, e.data.data(),
				      e.data.size() });
	m.n_entries = w.size();
	m.entries = w.empty() ? nullptr : w.data();
	std::vector<uint8_t> buf(sn__paxos_msg_size(&m));
	sn__paxos_msg_encode(&m, buf.data());
	return buf;
}

struct Snapshot {
	uint64_t index = 0, term = 0;
	std::string data;
	std::vector<uint64_t> voters;
};

struct Write {
	bool has_hs = false;
	sn_hard_state hs{};
	std::vector<Ent> ents;
	bool install = false;
	Snapshot snap;
	std::vector<sn_message> after; /* data owned (malloc) */
	uint64_t p_index = 0, p_term = 0;
};

struct Node {
	uint64_t id = 0;
	sn_engine *e = nullptr;
	sn_paxos_options opts{};
	std::vector<uint64_t> voters;
	/* durable storage */
	sn_hard_state hs{};
	std::map<uint64_t, Ent> log;
	std::map<uint64_t, Snapshot> snaps;
	Snapshot installed; /* index 0: none */
	/* a snapshot being received */
	std::string rcv;
	/* what the node handed out */
	std::vector<Ent> applied;
	std::vector<sn_read_state> reads;
	std::vector<std::vector<Ent>> written; /* rd.entries per ready */
	uint64_t max_promised = 0;
	bool hold = false;
	std::deque<Write> pending;
	bool up = true;

	uint64_t Applied() const
	{
		return applied.empty() ? installed.index : applied.back().index;
	}
	sn_engine_status Status() const
	{
		sn_engine_status st;
		sn_engine_get_status(&st, e);
		return st;
	}
};

inline int ReadSnap(void *ud, const sn_snapshot_meta *meta, uint64_t off,
		    void *buf, size_t len, size_t *n)
{
	Node *node = static_cast<Node *>(ud);
	auto it = node->snaps.find(meta->index);
	if (it == node->snaps.end())
		return SN_ENOTFOUND;
	if (off + len > it->second.data.size())
		return SN_EINVAL;
	memcpy(buf, it->second.data.data() + off, len);
	*n = len;
	return SN_OK;
}

/* Engine log lines are expected (dropped input, leader changes): count
 * them instead of printing them. */
inline void QuietLog(void *ud, sn_log_level, const char *)
{
	++*static_cast<size_t *>(ud);
}

class Net {
public:
	size_t log_lines = 0;
	std::vector<std::unique_ptr<Node>> nodes;
	std::deque<Msg> queue;
	std::set<std::pair<uint64_t, uint64_t>> cut; /* (from, to) lost */
	/* Return false to drop a message. */
	std::function<bool(const Msg &)> filter;
	std::vector<Msg> sent; /* every message put on the wire */

	explicit Net(int n, std::function<void(sn_paxos_options &)> tune = {})
	{
		sn_log_set_handler(QuietLog, &log_lines, SN_LOG_DEBUG);
		for (int i = 1; i <= n; i++) {
			auto node = std::make_unique<Node>();
			node->id = (uint64_t)i;
			node->voters = Ids(n);
			sn_paxos_options_init(&node->opts, SN_PAXOS_OPTIONS_VERSION);
			node->opts.id = node->id;
			node->opts.group = kGroup;
			node->opts.election_ticks = 10;
			node->opts.seed = 1000 + (uint64_t)i;
			if (tune)
				tune(node->opts);
			nodes.push_back(std::move(node));
		}
		for (auto &node : nodes)
			Start(*node, false);
	}
	~Net()
	{
		sn_log_set_handler(nullptr, nullptr, SN_LOG_WARN);
		for (auto &node : nodes) {
			DropPending(*node);
			sn_engine_free(node->e);
		}
	}
	Net(const Net &) = delete;
	Net &operator=(const Net &) = delete;

	Node &N(uint64_t id) { return *nodes[id - 1]; }
	sn_engine *E(uint64_t id) { return N(id).e; }

	/* (Re)create the engine from the node's durable state. */
	void Start(Node &n, bool recover)
	{
		std::vector<sn_entry> ents;
		sn_snapshot_meta meta{};
		sn_paxos_options o = n.opts;
		o.voters = n.voters.data();
		o.n_voters = n.voters.size();
		o.snapshot_read = ReadSnap;
		o.snapshot_userdata = &n;
		if (recover) {
			for (auto &kv : n.log)
				ents.push_back(sn_entry{ kv.second.index,
							 kv.second.term,
							 kv.second.type,
							 kv.second.data.data(),
							 kv.second.data.size() });
			o.hard_state = &n.hs;
			o.entries = ents.empty() ? nullptr : ents.data();
			o.n_entries = ents.size();
			if (n.installed.index) {
				meta.index = n.installed.index;
				meta.term = n.installed.term;
				meta.size = n.installed.data.size();
				meta.crc = sn__crc32c(0, n.installed.data.data(),
						      n.installed.data.size());
				o.snapshot = &meta;
			}
			o.applied = n.installed.index;
			n.applied.clear();
		}
		ASSERT_EQ(SN_OK, sn_paxos_new(&n.e, &o)) << sn_errmsg();
		n.up = true;
	}

	void Crash(uint64_t id)
	{
		Node &n = N(id);
		DropPending(n);
		sn_engine_free(n.e);
		n.e = nullptr;
		n.up = false;
		n.rcv.clear();
	}
	void Restart(uint64_t id) { Start(N(id), true); }

	void Isolate(uint64_t id)
	{
		for (auto &o : nodes)
			if (o->id != id) {
				cut.insert({ id, o->id });
				cut.insert({ o->id, id });
			}
	}
	void Heal() { cut.clear(); }

	/* Handle one ready of node n, if any. */
	bool DrainOne(Node &n)
	{
		sn_ready rd;
		if (!n.up || sn_engine_ready(n.e, &rd) != 1)
			return false;
		Handle(n, rd);
		sn_engine_advance(n.e);
		return true;
	}
	void Drain()
	{
		bool any = true;
		while (any) {
			any = false;
			for (auto &n : nodes)
				while (DrainOne(*n))
					any = true;
		}
	}

	/* Step queued messages (and the readies they cause) until quiet or
	 * `max` deliveries. */
	size_t Deliver(size_t max = 100000)
	{
		size_t done = 0;
		Drain();
		while (!queue.empty() && done < max) {
			Msg m = queue.front();
			queue.pop_front();
			done++;
			Node &to = N(m.to);
			if (!to.up || cut.count({ m.from, m.to }) ||
			    (filter && !filter(m)))
				continue;
			sn_message w{ kGroup, m.from, m.to, m.raw.data(),
				      m.raw.size() };
			EXPECT_EQ(SN_OK, sn_engine_step(to.e, &w)) << sn_errmsg();
			Drain();
		}
		return done;
	}

	void Tick(uint64_t id, int times = 1)
	{
		for (int i = 0; i < times; i++)
			sn_engine_tick(E(id));
		Drain();
	}

	/* Elect `id` (campaign and deliver). */
	void Elect(uint64_t id)
	{
		ASSERT_EQ(SN_OK, sn_engine_campaign(E(id)));
		Deliver();
		ASSERT_EQ(SN_ROLE_LEADER, N(id).Status().role);
	}

	uint64_t Propose(uint64_t id, const std::string &v)
	{
		uint64_t idx = 0;
		EXPECT_EQ(SN_OK, sn_engine_propose(&idx, E(id), v.data(),
						   v.size())) << sn_errmsg();
		return idx;
	}

	/* Complete node n's pending writes. */
	void Flush(uint64_t id)
	{
		Node &n = N(id);
		while (!n.pending.empty()) {
			Write w = std::move(n.pending.front());
			n.pending.pop_front();
			Complete(n, w);
		}
		Drain();
	}

	/* The entries a node's storage holds, in order. */
	std::vector<Ent> Log(uint64_t id)
	{
		std::vector<Ent> v;
		for (auto &kv : N(id).log)
			v.push_back(kv.second);
		return v;
	}

	/* Put a durable snapshot through `index` (applied) on node id and
	 * tell the engine; compact the engine and storage to `compact`. */
	void TakeSnapshot(uint64_t id, uint64_t index, size_t size,
			  uint64_t compact)
	{
		Node &n = N(id);
		Snapshot s;
		s.index = index;
		s.term = n.log.count(index) ? n.log[index].term : n.installed.term;
		for (size_t i = 0; i < size; i++)
			s.data.push_back((char)('a' + (index + i) % 26));
		n.snaps[index] = s;
		sn_snapshot_meta meta{ index, s.term, s.data.size(),
				       sn__crc32c(0, s.data.data(),
						  s.data.size()),
				       nullptr, 0 };
		ASSERT_EQ(SN_OK, sn_engine_snapshot_taken(n.e, &meta))
			<< sn_errmsg();
		ASSERT_EQ(SN_OK, sn_engine_compact(n.e, compact)) << sn_errmsg();
		n.installed = s;
		n.log.erase(n.log.begin(), n.log.upper_bound(compact));
	}

private:
	void DropPending(Node &n)
	{
		for (Write &w : n.pending)
			for (sn_message &m : w.after)
				free((void *)m.data);
		n.pending.clear();
	}

	void Send(const sn_message &m, bool after)
	{
		EXPECT_EQ(kGroup, m.group);
		Msg d = Decode(m, after);
		sent.push_back(d);
		queue.push_back(d);
	}

	void Complete(Node &n, Write &w)
	{
		if (w.install) {
			n.installed = w.snap;
			n.snaps[w.snap.index] = w.snap;
			n.log.clear();
		}
		if (w.has_hs) {
			if (w.hs.term < n.hs.term)
				ADD_FAILURE() << "node " << n.id << " wrote a "
					      "lower promise " << w.hs.term;
			n.hs = w.hs;
		}
		if (!w.ents.empty())
			n.log.erase(n.log.lower_bound(w.ents[0].index),
				    n.log.end());
		for (const Ent &e : w.ents)
			n.log[e.index] = e;
		for (sn_message &m : w.after) {
			Send(m, true);
			free((void *)m.data);
		}
		w.after.clear();
		if (w.p_index && n.up)
			sn_engine_persisted(n.e, w.p_index, w.p_term);
	}

	void Handle(Node &n, const sn_ready &rd)
	{
		Write w;
		for (size_t i = 0; i < rd.n_messages; i++)
			Send(rd.messages[i], false);
		for (size_t i = 0; i < rd.n_snapshot_chunks; i++) {
			const sn_snapshot_chunk &c = rd.snapshot_chunks[i];
			if (c.offset == 0)
				n.rcv.clear();
			EXPECT_EQ(c.offset, n.rcv.size());
			n.rcv.append(static_cast<const char *>(c.data), c.len);
		}
		if (rd.install) {
			EXPECT_EQ(rd.install->size, n.rcv.size());
			EXPECT_EQ(rd.install->crc,
				  sn__crc32c(0, n.rcv.data(), n.rcv.size()));
			w.install = true;
			w.snap.index = rd.install->index;
			w.snap.term = rd.install->term;
			w.snap.data = n.rcv;
			w.p_index = rd.install->index;
			w.p_term = rd.install->term;
		}
		w.has_hs = rd.has_hard_state;
		w.hs = rd.hard_state;
		if (rd.has_hard_state) {
			if (rd.hard_state.term < n.max_promised)
				ADD_FAILURE() << "node " << n.id << " promise went "
					      "back";
			n.max_promised = rd.hard_state.term;
		}
		std::vector<Ent> ents;
		for (size_t i = 0; i < rd.n_entries; i++)
			ents.push_back(FromWire(rd.entries[i]));
		n.written.push_back(ents);
		w.ents = ents;
		if (!ents.empty()) {
			w.p_index = ents.back().index;
			w.p_term = ents.back().term;
		}
		for (size_t i = 0; i < rd.n_messages_after_persist; i++) {
			sn_message m = rd.messages_after_persist[i];
			void *copy = malloc(m.len);
			memcpy(copy, m.data, m.len);
			m.data = copy;
			w.after.push_back(m);
		}
		sn_engine_status st;
		sn_engine_get_status(&st, n.e);
		for (size_t i = 0; i < rd.n_committed; i++) {
			Ent e = FromWire(rd.committed[i]);
			if (e.index != n.Applied() + 1)
				ADD_FAILURE() << "node " << n.id << " applied "
					      << e.index << " after "
					      << n.Applied();
			if (e.index > st.commit)
				ADD_FAILURE() << "applied beyond commit";
			n.applied.push_back(e);
		}
		for (size_t i = 0; i < rd.n_reads; i++)
			n.reads.push_back(rd.reads[i]);
		if (n.hold) {
			n.pending.push_back(std::move(w));
		} else {
			Complete(n, w);
		}
		/* Entries handed out to apply must be durable as stored. */
		for (size_t i = 0; i < rd.n_committed; i++) {
			Ent e = FromWire(rd.committed[i]);
			auto it = n.log.find(e.index);
			if (it != n.log.end() && n.pending.empty() &&
			    !(it->second == e))
				ADD_FAILURE() << "node " << n.id << " applied "
					      << e.index << " unlike its log";
		}
	}
};

} /* namespace pxtest */

#endif
