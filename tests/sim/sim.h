/*
 * tests/sim/sim.h - the deterministic cluster simulator (shared types).
 *
 * One process runs a whole cluster: N engines behind the <senate/sys/engine.h>
 * seam, a virtual clock, a seeded network (drop, delay, duplicate, reorder,
 * symmetric and one-way partitions), per-node storage behind the
 * <senate/sys/storage.h> seam (the in-memory memstore: writes are durable
 * only once the simulator syncs them, a crash loses the rest) with a
 * snapshot store, a register workload driven by clients, snapshots and
 * log compaction, and checkers that run after every event. Everything
 * random comes from sim_rng streams seeded by the run's seed, so a seed
 * replays exactly.
 *
 * Files, by concept:
 *   sim_main.c    command line, the seed loop, the report
 *   sim_run.c     one seed: the per-seed profile, the event loop, the phases
 *   sim_engine.c  the table of engines the simulator can drive
 *   sim_net.c     the event queue and the network
 *   sim_node.c    a node: engine, storage, ready handling, crash and restart
 *   sim_snap.c    the state machine's snapshots: encode, verify, restore
 *   sim_log.c     logs as the simulator keeps them
 *   sim_client.c  clients, their operations and the history
 *   sim_fault.c   the chaos schedule and the heal
 *   sim_check.c   the safety invariants
 *   sim_lin.c     the linearizability check of the history
 *   sim_rng.c     the generators
 */
#ifndef SIM_H
#define SIM_H

#include <senate/senate.h>
#include <senate/sys/storage.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SIM_MAX_NODES 7
#define SIM_TICK 10    /* virtual time units in one nominal engine tick */
#define SIM_PAYLOAD 16 /* a write's bytes: value, then a check word */
#define SIM_GROUP 7    /* the group id every engine is created with */
/* Events in the chaos phase (2,000 seeds: see docs/simulator.md). */
#define SIM_DEFAULT_STEPS 40000

typedef uint64_t sim_time;

/* ---- generators (sim_rng.c) ---- */
typedef struct sim_rng {
	uint64_t s[4]; /* xoshiro256** state */
} sim_rng;

void sim_rng_seed(sim_rng *r, uint64_t seed, uint64_t stream);
uint64_t sim_rng_next(sim_rng *r);
uint64_t sim_rng_below(sim_rng *r, uint64_t n);            /* [0, n) */
uint64_t sim_rng_range(sim_rng *r, uint64_t lo, uint64_t hi); /* [lo, hi] */
bool sim_rng_chance(sim_rng *r, unsigned per_mille);
uint64_t sim_mix(uint64_t x); /* splitmix64 finaliser */

/* ---- engines (sim_engine.c) ---- */

/* Engine knobs the simulator randomises per seed; each engine maps them. */
typedef struct sim_tuning {
	unsigned election_ticks, heartbeat_ticks;
	bool pre_vote, check_quorum;
	size_t entries_per_msg; /* client entries an append may carry */
	unsigned msg_slack;     /* random; extra bytes per message below one
				   entry: the snapshot chunk size varies, the
				   entries per append do not */
	size_t max_inflight_msgs, max_uncommitted_bytes;
	/* Snapshot chunks in flight per follower: `window_chunks` when set
	 * (--snap-window), else `window_share` per mille of a snapshot of
	 * `snap_bytes` (never below the append window), 0: the engine's
	 * default window. */
	size_t window_chunks;
	unsigned window_share;
	size_t snap_bytes;
} sim_tuning;

typedef struct sim_engine_args {
	uint64_t id, group;
	const uint64_t *voters;
	size_t n_voters;
	const sim_tuning *tuning;
	uint64_t (*rand)(void *userdata);
	void *rand_userdata;
	const sn_hard_state *hard_state;
	const sn_entry *entries;
	size_t n_entries;
	uint64_t applied;
	const sn_snapshot_meta *snapshot; /* recovered, or NULL */
	sn_snapshot_read_fn snapshot_read;
	void *snapshot_userdata;
	/* a transfer the restart interrupted (or NULL), to resume */
	const sn_snapshot_meta *partial;
	uint64_t partial_offset;
	uint32_t partial_crc;
} sim_engine_args;

/* What the simulator needs to know about an encoded message (counters). */
enum sim_msg_class {
	SIM_MSG_OTHER,
	SIM_MSG_SNAP,        /* a snapshot chunk */
	SIM_MSG_SNAP_REJECT, /* a follower asks to resume elsewhere */
};

typedef struct sim_engine_kind {
	const char *name;
	int (*create)(sn_engine **out, const sim_engine_args *a);
	/* One line describing an encoded message, for --verbose traces. */
	void (*describe)(char *buf, size_t cap, const void *data, size_t len);
	/* Classify a message cheaply (no decoding), for the counters. */
	int (*classify)(const void *data, size_t len);
	/* Raft's log matching property holds: two logs that agree on an
	 * (index, term) agree on every entry before it (checked pairwise).
	 * Paxos acceptors hold slots of different ballots side by side. */
	bool log_matching;
	/* A chosen value may be accepted again at a higher ballot by a later
	 * leader (Paxos recovery): the checkers then identify a committed or
	 * applied entry by its value (type and bytes), not by its term. One
	 * entry per (index, term) is still required. */
	bool reballots;
} sim_engine_kind;

const sim_engine_kind *sim_engine_find(const char *name);
/* "raft" or "raft, paxos": the valid names, for usage errors. */
const char *sim_engine_names(void);

/* ---- logs as the simulator sees them ---- */
typedef struct sim_entry {
	uint64_t term;
	uint32_t type;
	uint32_t len;
	uint8_t data[SIM_PAYLOAD];
} sim_entry;

/* Entries base+1 .. base+n; what lies at or below `base` was compacted or
 * replaced by a snapshot (base_term: the term of entry `base`). The global
 * records of the checkers always have base 0. */
typedef struct sim_log {
	sim_entry *v; /* v[i] has index base + 1 + i */
	size_t n, cap;
	uint64_t base, base_term;
} sim_log;

void sim_log_truncate(sim_log *l, uint64_t from); /* drop index >= from */
void sim_log_append(sim_log *l, const sim_entry *e);
void sim_log_copy(sim_log *dst, const sim_log *src);
void sim_log_free(sim_log *l);
const sim_entry *sim_log_at(const sim_log *l, uint64_t index); /* or NULL */
uint64_t sim_log_last(const sim_log *l);
uint64_t sim_log_last_term(const sim_log *l);
/* Drop entries <= upto (base < upto <= last). */
void sim_log_compact(sim_log *l, uint64_t upto);
/* Empty the log; it continues after `base`. */
void sim_log_reset(sim_log *l, uint64_t base, uint64_t base_term);
/* The log an sn_storage_state describes. With `anchor`, as the engine
 * restores it: a first entry at or below the snapshot becomes the base;
 * without, every stored entry is held. */
void sim_log_from_state(sim_log *l, const sn_storage_state *st, bool anchor);
bool sim_entry_eq(const sim_entry *a, const sim_entry *b);
/* The same value (type and bytes), whatever the term. */
bool sim_entry_same_value(const sim_entry *a, const sim_entry *b);
/* The write value carried by a normal entry (0 for a noop or a foreign
 * payload). */
uint64_t sim_entry_value(const sim_entry *e);

/* ---- events and messages (sim_net.c) ---- */
enum sim_ev_kind {
	SIM_EV_DELIVER,    /* a message reaches node `node` */
	SIM_EV_TICK,       /* node `node` ticks (incarnation `gen`) */
	SIM_EV_SYNC,       /* node's oldest pending storage write completes */
	SIM_EV_CLIENT,     /* client `arg` acts */
	SIM_EV_OP_TIMEOUT, /* operation `arg` gives up if still pending */
	SIM_EV_FAULT,      /* the chaos schedule strikes */
	SIM_EV_RESTART,    /* node `node` comes back */
	SIM_EV_LINKS_HEAL, /* partition number `arg` ends */
	SIM_EV_ASSASSIN,   /* crash node `node` if still incarnation `gen` */
};

typedef struct sim_msg {
	int from, to; /* node indexes */
	size_t len;
	uint8_t *data;
} sim_msg;

typedef struct sim_event {
	sim_time at;
	uint64_t seq; /* ties broken by scheduling order: deterministic */
	int kind;
	int node;
	uint64_t gen;
	uint64_t arg;
	sim_msg *msg;
} sim_event;

typedef struct sim_heap {
	sim_event *v;
	size_t n, cap;
} sim_heap;

/* ---- nodes (sim_node.c) ---- */

/* What the simulator does when a storage write completes: the last write
 * of a ready carries its messages_after_persist (data copied) and the
 * index/term to report with sn_engine_persisted(). Owned by the node
 * (list `writes`) until its callback runs or a crash drops it. */
typedef struct sim_write {
	struct sim_write *prev, *next;
	struct sim *s;
	struct sim_node *n;
	uint64_t gen;
	bool final;      /* the ready's last write */
	uint64_t p_index, p_term; /* persisted() report, p_index 0: none */
	uint64_t compact_upto;    /* a snapshot marker: then compact to here */
	sn_message *after;
	size_t n_after;
} sim_write;

/* The state machine: a register, plus what the checkers need to compare
 * it with the global history (the digest of the applied sequence). It is
 * what a snapshot holds. */
typedef struct sim_sm {
	uint64_t applied; /* last index reflected */
	uint64_t reg;
	uint64_t digest;  /* sim_digest chain over entries 1..applied */
} sim_sm;

/* A snapshot transfer as the receiving node sees it (counters only). */
typedef struct sim_rcv {
	uint64_t index, term, size;
	uint32_t crc;
	uint64_t offset;    /* bytes written */
	size_t chunks;      /* chunks written */
	bool interrupted;   /* a gap, a restart from 0, a crash, another
			       snapshot cut in */
	uint64_t resume_at; /* restarted with this many bytes kept: the
			       engine was told to continue there */
} sim_rcv;

typedef struct sim_node {
	int idx;
	uint64_t id;
	bool up;
	uint64_t gen; /* incarnation; bumped by each crash */
	sn_engine *eng;
	sim_rng eng_rng; /* the engine's election randomness */
	unsigned tick_period;
	sim_time paused_until;

	sim_log mem; /* the engine's log, as its readies described it */
	sn_storage *store;    /* memstore: log, hard state, install marker */
	struct sn__memsnap *snaps; /* snapshot store: complete + partial */
	sim_write *writes;    /* outstanding storage writes, oldest first */
	sim_write *writes_tail;
	sim_time wq_last_done;

	sim_sm sm;
	uint64_t restored_at;  /* index the sm was restored from, until the
				  next apply (0: applied by entries) */
	unsigned snap_every;   /* take a snapshot every this many applies */
	uint64_t last_snap;    /* index of the newest snapshot held */
	sim_rcv rcv;

	/* what the checkers last saw */
	sn_engine_status st;
	uint64_t commit_checked;
	int last_role;
	uint64_t last_term;
	uint64_t watched_term;   /* last term the chaos saw it lead */
	uint64_t watched_commit; /* its commit then; UINT64_MAX once moved */
	bool probe_applied;
} sim_node;

/* ---- clients and the history (sim_client.c) ---- */
enum sim_op_status {
	SIM_OP_PENDING,
	SIM_OP_OK,      /* acknowledged (write) / returned a value (read) */
	SIM_OP_FAILED,  /* refused before taking effect */
	SIM_OP_UNKNOWN, /* may or may not have taken effect */
};

typedef struct sim_op {
	int client;
	int node;
	uint64_t node_gen;
	bool is_write;
	uint64_t value; /* write: the value written; read: the value seen */
	uint64_t index; /* write: the proposed index; read: the read index */
	bool read_confirmed;
	uint64_t inv, resp; /* history stamps; resp 0 = no response */
	int status;
} sim_op;

typedef struct sim_client {
	int guess;  /* node index the client believes is leader */
	long op;    /* index of the outstanding op in the history, or -1 */
	bool probe; /* the heal phase's liveness client */
} sim_client;

/* ---- the per-seed profile (sim_run.c) ---- */
typedef struct sim_profile {
	int n_nodes;
	int n_clients;
	sim_tuning tuning;
	/* network, per mille and time units */
	unsigned drop, dup, slow, trunc;
	unsigned delay_max, slow_max;
	unsigned disk_max;
	/* snapshots */
	unsigned snap_every;    /* K: snapshot every K applied entries */
	unsigned snap_trailing; /* entries kept behind a snapshot */
	unsigned snap_pad;      /* filler bytes (plus up to 511 more) */
	/* chaos */
	unsigned fault_gap; /* mean time between faults */
	unsigned w_crash, w_partition, w_oneway, w_isolate, w_heal, w_pause,
		w_campaign, w_transfer, w_weather;
	unsigned leader_bias; /* per mille of crashes aimed at the leader */
	unsigned assassin;    /* per mille: crash a new leader young */
	unsigned quick_restart; /* per mille of restarts within a tick */
	/* workload */
	unsigned write_share; /* per mille of ops that are writes */
	unsigned think_max;
} sim_profile;

/* ---- the checkers' memory (sim_check.c) ---- */
typedef struct sim_seen {
	uint64_t term;
	sim_entry e;
} sim_seen;

typedef struct sim_seen_list {
	sim_seen *v;
	size_t n, cap;
} sim_seen_list;

typedef struct sim_checker {
	/* Who led each term, sorted by term (sparse: Paxos ballots carry the
	 * proposer in their low bits, so terms are far apart). */
	struct sim_reign {
		uint64_t term, id;
	} *reigns;
	size_t n_reigns, cap_reigns;
	sim_log committed;       /* entries known committed, index order */
	uint64_t *commit_term;   /* term in which committed[i] became known */
	size_t cap_commit_term;
	sim_sm *commit_sm;       /* commit_sm[i]: the state after committed
				    entries 1..i (i = 0..committed.n) */
	size_t cap_commit_sm;
	sim_log applied;         /* what the first state machine applied */
	sim_sm *applied_sm;      /* the same over the applied record */
	size_t cap_applied_sm;
	sim_seen_list *seen;     /* seen[i]: distinct (term, entry) at index i+1 */
	size_t n_seen;
} sim_checker;

/* ---- counters of one run (--verbose, and the totals of sim_main.c) ---- */
typedef struct sim_stats {
	uint64_t snaps_taken;     /* local snapshots */
	uint64_t compactions;     /* engine + storage compactions */
	uint64_t chunks_sent;     /* SNAP messages put on the wire */
	uint64_t chunks_lost;     /* ... dropped, cut off or sent to a dead node */
	uint64_t chunk_rejects;   /* resume-elsewhere replies */
	uint64_t chunks_written;  /* chunks handed out to write */
	uint64_t installs;        /* snapshots installed */
	uint64_t chunked_installs; /* ... received in two chunks or more */
	uint64_t interrupted;     /* transfers cut mid-way */
	uint64_t resumed_installs; /* installs after an interruption */
	uint64_t restarts;        /* restarts from storage */
	uint64_t snap_restarts;   /* ... with a snapshot */
	uint64_t finished_installs; /* restarts that found an install's
				       marker lost and recorded it */
	uint64_t restart_resumes; /* transfers continued mid-way after the
				     receiver restarted */
	uint64_t writes, synced, dropped, early_acks; /* memstore */
	uint64_t max_chunks;      /* most chunks in one install */
	/* --metrics: the engine comparison of docs/engines.md */
	uint64_t msgs;            /* messages put on the wire */
	uint64_t commits;         /* entries committed (cluster-wide) */
	sim_time end;             /* simulated time the run lasted */
	uint64_t leader_crashes;  /* crashes that hit the leader */
} sim_stats;

/* Times from a leader's crash to the next leader, and to the next commit,
 * in hundredths of the seed's election timeout. */
#define SIM_MAX_SAMPLES 256
typedef struct sim_samples {
	sim_time since;    /* the crash, while waiting */
	bool waiting_leader, waiting_commit;
	sim_time elect[SIM_MAX_SAMPLES], recover[SIM_MAX_SAMPLES];
	size_t n_elect, n_recover;
} sim_samples;

/* ---- the run parameters and the world ---- */
typedef struct sim_params {
	const sim_engine_kind *engine;
	uint64_t seed;
	int n_nodes; /* 0: derived from the seed */
	uint64_t steps;
	int mutant;
	const char *mutant_name; /* NULL for none */
	bool verbose;
	int snap_window; /* -1: by seed; 0: the engine's default; N chunks */
	bool reorder;    /* every message its own delay (no FIFO links) */
} sim_params;

typedef struct sim {
	sim_params p;
	sim_profile pf;
	sim_rng rng_net, rng_disk, rng_fault, rng_client;
	sim_time now;
	uint64_t steps;
	uint64_t seq;
	sim_heap heap;
	bool healing;
	sim_time heal_deadline;
	bool live; /* the heal phase reached its goal */

	sim_node nodes[SIM_MAX_NODES];
	uint64_t voters[SIM_MAX_NODES];
	bool cut[SIM_MAX_NODES][SIM_MAX_NODES]; /* cut[a][b]: a -> b lost */
	sim_time link_last[SIM_MAX_NODES][SIM_MAX_NODES];
	uint64_t partition; /* number of the current partition */

	sim_client *clients;
	int n_clients; /* including the probe client, the last one */
	sim_op *ops;
	size_t n_ops, cap_ops;
	uint64_t stamp; /* history clock: one tick per invoke or response */
	uint64_t probe_value;

	sim_checker ck;
	sim_stats stats;
	sim_samples samples;
	bool violated;
	char reason[512];
} sim;

/* sim_run.c */
void sim_derive_profile(sim_profile *pf, uint64_t seed, int n_nodes);
/* Run one seed. Returns true when it passed; otherwise *reason holds the
 * first violation. *stats gets the run's counters. */
/* `samples` may be NULL. */
bool sim_run(const sim_params *p, char *reason, size_t cap, int *n_nodes,
	     sim_stats *stats, sim_samples *samples);

/* sim_net.c */
void sim_heap_push(sim *s, sim_event ev);
bool sim_heap_pop(sim *s, sim_event *out);
void sim_heap_free(sim *s);
void sim_schedule(sim *s, sim_time at, int kind, int node, uint64_t gen,
		  uint64_t arg);
void sim_net_send(sim *s, int from, const sn_message *m);
void sim_net_deliver(sim *s, const sim_event *ev);
void sim_msg_free(sim_msg *m);

/* sim_node.c */
void sim_node_init(sim *s, sim_node *n);
void sim_node_start(sim *s, sim_node *n);
void sim_node_crash(sim *s, sim_node *n);
void sim_node_tick(sim *s, sim_node *n);
void sim_node_sync(sim *s, sim_node *n);
void sim_node_drain(sim *s, sim_node *n);
void sim_node_free(sim_node *n);
void sim_node_stats(sim *s, sim_node *n); /* add its storage counters */
bool sim_node_paused(const sim *s, const sim_node *n);
sim_node *sim_node_by_id(sim *s, uint64_t id);
int sim_find_leader(sim *s);
/* The node's durable log (as a restart would recover it) into *out. */
void sim_node_durable_log(sim_node *n, sim_log *out);
/* Record the snapshot `meta` just taken in the node's storage
 * (sn_storage_snapshot); once durable, compact the storage to `upto`
 * (0: no compaction). */
int sim_node_record_snapshot(sim *s, sim_node *n, const sn_snapshot_meta *meta,
			     uint64_t upto);
/* The index of the newest complete snapshot the node holds, 0 if none. */
uint64_t sim_node_snapshot_index(const sim_node *n);

/* sim_snap.c */
/* Set per run from the engine's `reballots`: the digest of the applied
 * sequence then leaves terms out (replicas of one value may carry
 * different ballots). The simulator is single-threaded. */
extern bool sim_digest_values_only;
uint64_t sim_digest(uint64_t digest, uint64_t index, const sim_entry *e);
/* Apply one entry to a state machine (index == sm->applied + 1). */
void sim_sm_apply(sim_sm *sm, uint64_t index, const sim_entry *e);
/* Encode the node's state machine as a snapshot at sm->applied (term
 * `term`): header, then filler derived from the header. Caller frees. */
uint8_t *sim_snap_encode(const sim *s, const sim_sm *sm, uint64_t term,
			 size_t *len);
/* Decode and verify snapshot bytes against `meta`; false with a reason. */
bool sim_snap_decode(const sn_snapshot_meta *meta, const void *data,
		     size_t len, sim_sm *out, char *why, size_t cap);
/* Take a snapshot at the node's applied index, then compact. */
void sim_snap_take(sim *s, sim_node *n);
/* Restore the node's state machine from the snapshot `meta` in its store
 * (an install or a restart), checking it against the global history. */
bool sim_snap_restore(sim *s, sim_node *n, const sn_snapshot_meta *meta,
		      const char *how);
/* The engine's snapshot_read hook: reads the node's snapshot store. */
int sim_snap_read(void *userdata, const sn_snapshot_meta *meta,
		  uint64_t offset, void *buf, size_t len, size_t *n_read);
/* Counters for the chunks a ready hands out to write. */
void sim_snap_chunk_written(sim *s, sim_node *n, const sn_snapshot_chunk *c);
void sim_snap_transfer_cut(sim *s, sim_node *n);
void sim_snap_installed(sim *s, sim_node *n, const sn_snapshot_meta *meta);

/* sim_client.c */
void sim_clients_init(sim *s);
void sim_client_act(sim *s, int c);
void sim_client_on_apply(sim *s, sim_node *n, uint64_t index,
			 const sim_entry *e);
void sim_client_on_read(sim *s, sim_node *n, const sn_read_state *rs);
void sim_client_on_crash(sim *s, sim_node *n);
/* The node's state machine jumped to a snapshot at `index`. */
void sim_client_on_restore(sim *s, sim_node *n, uint64_t index);
void sim_op_timeout(sim *s, uint64_t op);
void sim_clients_free(sim *s);

/* sim_fault.c */
void sim_fault_strike(sim *s);
void sim_fault_restart(sim *s, int node, uint64_t gen);
void sim_fault_links_heal(sim *s, uint64_t partition);
void sim_fault_heal_all(sim *s);
void sim_fault_watch(sim *s);
void sim_fault_assassin(sim *s, int node, uint64_t gen);

/* sim_check.c */
void sim_check_log_write(sim *s, sim_node *n, uint64_t index,
			 const sim_entry *e);
void sim_check_log_cut(sim *s, sim_node *n, uint64_t from);
void sim_check_apply(sim *s, sim_node *n, uint64_t index,
		     const sim_entry *e);
/* A snapshot's state, checked against the committed history at its index. */
void sim_check_snapshot(sim *s, sim_node *n, const sim_sm *sm,
			const char *what);
void sim_check_step(sim *s);
void sim_check_full(sim *s);
void sim_check_free(sim *s);

/* sim_lin.c */
void sim_check_linearizable(sim *s);

/* Record the first violation of the run (printf-style reason). */
void sim_violation(sim *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A trace line for --verbose, prefixed with the time and step. */
void sim_trace(sim *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void *sim_alloc(size_t size);                 /* aborts when out of memory */
void *sim_grow(void *p, size_t *cap, size_t need, size_t elem);

#endif
