/*
 * senate/sys/engine.h - the consensus engine seam.
 *
 * Stability: stable within a minor version (see docs/engine-seam.md).
 *
 * An engine (Raft, Multi-Paxos) is a deterministic state machine with no I/O,
 * no threads, no clock and no libc randomness of its own. The caller drives
 * it with four inputs:
 *
 *   sn_engine_step()        a message from a peer
 *   sn_engine_tick()        one unit of logical time
 *   sn_engine_propose()     a new entry for the replicated log
 *   sn_engine_read_index()  a request for a linearizable read
 *
 * and collects its output as a *ready* batch (sn_engine_ready()), which the
 * caller handles and acknowledges with sn_engine_advance(). Durability is
 * reported separately with sn_engine_persisted(), so storage may complete
 * asynchronously (group commit on a storage thread).
 *
 * Handling a ready, in order:
 *   1. send every message in `messages` (it is safe to do so before the
 *      writes below are durable: this is how a leader writes its own log in
 *      parallel with replication);
 *   2. write each of `snapshot_chunks` into the snapshot being received (a
 *      chunk at offset 0 starts that snapshot's file afresh) and, when
 *      `install` is set, make the file durable, restore the state machine
 *      from it and record the install in stable storage (the log now starts
 *      after install->index);
 *   3. write `hard_state` (if has_hard_state) and `entries` to stable
 *      storage, after step 2's records, as one ordered write;
 *   4. once steps 2-3 are durable: send `messages_after_persist` and call
 *      sn_engine_persisted() with the index and term of the last entry
 *      written (or install->index/term when only a snapshot was installed;
 *      skip the call when neither);
 *   5. apply `committed` to the state machine, in order;
 *   6. serve `reads` whose index is <= the applied index;
 *   7. call sn_engine_advance(). Steps 2-4 may finish after advance (the
 *      caller must then copy what it still needs): everything a ready points
 *      to stays valid only until sn_engine_advance().
 *
 * Snapshots: when the state machine has a durable snapshot, tell the engine
 * with sn_engine_snapshot_taken(); it may then drop log entries behind it
 * (sn_engine_compact()). A leader whose follower needs compacted entries
 * streams the snapshot in chunks, reading them through the `snapshot_read`
 * hook of the engine's options; the follower hands the chunks out in
 * `snapshot_chunks`, acknowledges each once durable (so a transfer resumes
 * from the last acknowledged offset after a lost message or a leader
 * change), checks the CRC32C of the whole, and asks for the install.
 *
 * Messages are opaque bytes in a {group, from, to} envelope; nothing outside
 * the engine interprets them. Input from a peer is never trusted: a malformed
 * or impossible message is counted, logged and dropped (SN_EMALFORMED), it
 * never aborts the process.
 *
 * Thread-safety: an engine is not thread-safe. Use it from one thread at a
 * time (the node runtime's loop thread). Distinct engines are independent.
 */
#ifndef SENATE_SYS_ENGINE_H
#define SENATE_SYS_ENGINE_H

#include <senate/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sn_engine sn_engine;

/* Kind of a log entry. */
typedef enum sn_entry_type {
	SN_ENTRY_NORMAL = 0, /* a proposal: apply `data` */
	SN_ENTRY_NOOP = 1    /* written by the engine itself (e.g. a new
				leader's empty entry); nothing to apply */
} sn_entry_type;

/* One log entry. `term` is the Raft term or the Paxos ballot. */
typedef struct sn_entry {
	uint64_t index;
	uint64_t term;
	uint32_t type; /* sn_entry_type */
	const void *data;
	size_t len;
} sn_entry;

/* What must survive a crash besides the log. */
typedef struct sn_hard_state {
	uint64_t term;   /* current term / promised ballot */
	uint64_t vote;   /* member voted for in `term`, 0 for none */
	uint64_t commit; /* highest index known committed */
} sn_hard_state;

/* An encoded protocol message and its envelope. */
typedef struct sn_message {
	uint64_t group;
	uint64_t from;
	uint64_t to;
	const void *data;
	size_t len;
} sn_message;

/* What identifies a snapshot of the state machine. */
typedef struct sn_snapshot_meta {
	uint64_t index;         /* last log index the snapshot covers */
	uint64_t term;          /* term (or ballot) of that entry */
	uint64_t size;          /* bytes of snapshot data */
	uint32_t crc;           /* CRC32C of the data */
	const uint64_t *voters; /* membership at `index` */
	size_t n_voters;
} sn_snapshot_meta;

/* A piece of a snapshot being received, to write at `offset`. */
typedef struct sn_snapshot_chunk {
	const sn_snapshot_meta *meta; /* the snapshot it belongs to */
	uint64_t offset;
	const void *data;
	size_t len;
} sn_snapshot_chunk;

/* Reads `len` bytes at `offset` of the durable snapshot `meta` into `buf`
 * (a leader's engine calls it to stream a snapshot). Returns SN_OK with
 * *n_read set, or an error (e.g. SN_ENOTFOUND when that snapshot is gone:
 * the engine then moves to the newest one it was told about). */
typedef int (*sn_snapshot_read_fn)(void *userdata, const sn_snapshot_meta *meta,
				   uint64_t offset, void *buf, size_t len,
				   size_t *n_read);

/* The outcome of sn_engine_read_index(ctx). */
typedef struct sn_read_state {
	uint64_t ctx;   /* the caller's context, as passed in */
	uint64_t index; /* serve the read once applied >= index */
	int status;     /* SN_OK, or SN_ENOTLEADER if leadership was lost
			   before the read could be confirmed */
} sn_read_state;

typedef enum sn_role {
	SN_ROLE_FOLLOWER = 0,
	SN_ROLE_PRECANDIDATE = 1,
	SN_ROLE_CANDIDATE = 2,
	SN_ROLE_LEADER = 3
} sn_role;

/*
 * A batch of engine output. All pointers are owned by the engine and valid
 * until the next sn_engine_advance() or sn_engine_free() on the engine.
 */
typedef struct sn_ready {
	int has_hard_state;
	sn_hard_state hard_state;

	/* Append to the log; any stored entries at index >= entries[0].index
	 * are replaced. Consecutive indexes. */
	const sn_entry *entries;
	size_t n_entries;

	const sn_message *messages; /* send now */
	size_t n_messages;

	const sn_message *messages_after_persist; /* send once durable */
	size_t n_messages_after_persist;

	/* Committed entries to apply, in index order. Never beyond what was
	 * reported durable with sn_engine_persisted(). */
	const sn_entry *committed;
	size_t n_committed;

	const sn_read_state *reads;
	size_t n_reads;

	const sn_snapshot_chunk *snapshot_chunks; /* received, to write */
	size_t n_snapshot_chunks;
	const sn_snapshot_meta *install; /* complete: install it (or NULL) */
} sn_ready;

/* A point-in-time view of an engine. */
typedef struct sn_engine_status {
	uint64_t id;
	uint64_t group;
	sn_role role;
	uint64_t term;
	uint64_t vote;
	uint64_t leader;     /* 0 when unknown */
	uint64_t first_index;
	uint64_t last_index;
	uint64_t last_term;
	uint64_t commit;
	uint64_t applied;    /* last index handed out in `committed` */
	uint64_t persisted;  /* last index reported durable */
	uint64_t dropped;    /* messages dropped as malformed or misaddressed */
	uint64_t snapshot_index; /* newest snapshot known, 0 for none */
} sn_engine_status;

/*
 * Free an engine and everything it owns. NULL is a no-op.
 */
SN_API void sn_engine_free(sn_engine *e);

/* The engine's protocol name ("raft", "paxos"); static storage. */
SN_API const char *sn_engine_name(const sn_engine *e);

/*
 * Feed one message from a peer. The bytes are borrowed for the duration of
 * the call. Returns SN_OK, or SN_EMALFORMED when the message is malformed,
 * misaddressed or impossible (it is dropped, counted in `dropped` and logged
 * at SN_LOG_WARN; the engine's state is unchanged), or SN_ENOMEM.
 */
SN_API int sn_engine_step(sn_engine *e, const sn_message *m);

/* Advance logical time by one tick (timeouts are counted in ticks). */
SN_API void sn_engine_tick(sn_engine *e);

/*
 * Propose `len` bytes (borrowed; copied) as a new log entry. On success
 * stores the entry's index in *index_out (may be NULL). The entry is not
 * committed yet: it will show up in `committed` of a later ready, unless
 * leadership is lost first, in which case it may or may not ever commit.
 * Errors: SN_ENOTLEADER (not the leader, or a leader transfer is under way),
 * SN_EBUSY (the uncommitted-bytes budget is exhausted), SN_ETOOLARGE
 * (len exceeds the maximum entry size), SN_ENOMEM.
 */
SN_API int sn_engine_propose(uint64_t *index_out, sn_engine *e,
			     const void *data, size_t len);

/*
 * Ask for a linearizable read. `ctx` is an opaque caller value that comes
 * back in a sn_read_state of a later ready, with the index the state machine
 * must reach before the read is served. Errors: SN_ENOTLEADER, SN_EBUSY (too
 * many reads pending), SN_ENOMEM.
 */
SN_API int sn_engine_read_index(sn_engine *e, uint64_t ctx);

/*
 * Hand leadership to member `to` (leader only). Proposals are refused with
 * SN_ENOTLEADER until the transfer completes or times out (one election
 * timeout). Errors: SN_ENOTLEADER, SN_ENOTFOUND (`to` is not a voter),
 * SN_EINVAL (`to` is this member), SN_ENOTSUP.
 */
SN_API int sn_engine_transfer_leader(sn_engine *e, uint64_t to);

/*
 * Start an election now instead of waiting for the election timeout.
 * Errors: SN_ESTATE (already leader).
 */
SN_API int sn_engine_campaign(sn_engine *e);

/* Non-zero when sn_engine_ready() would return a non-empty batch. */
SN_API int sn_engine_has_ready(const sn_engine *e);

/*
 * Collect the pending output into *rd. Returns 1 when *rd holds work, 0 when
 * there is nothing to do (*rd is zeroed), SN_ESTATE when the previous ready
 * was not yet acknowledged with sn_engine_advance(), SN_ENOMEM (nothing was
 * handed out; call again later).
 */
SN_API int sn_engine_ready(sn_engine *e, sn_ready *rd);

/*
 * Acknowledge the last ready: its messages were sent or queued, its writes
 * handed to storage, its committed entries applied and its reads taken.
 * Releases the memory the ready pointed to. No-op without a pending ready.
 */
SN_API void sn_engine_advance(sn_engine *e);

/*
 * Report that the log through `index`, whose entry has term `term`, and every
 * hard state handed out before it, is durable. A stale report (the entry was
 * since replaced) is ignored. Only durable entries count towards a commit
 * quorum for this member and only durable entries are handed out to apply.
 */
SN_API void sn_engine_persisted(sn_engine *e, uint64_t index, uint64_t term);

/*
 * Tell the engine that a snapshot of the state machine through
 * meta->index (<= the applied index) is durable and may be streamed to
 * followers; `meta` and its voters are copied. Errors: SN_EINVAL (index
 * beyond applied, or a term that contradicts the log), SN_ENOMEM.
 */
SN_API int sn_engine_snapshot_taken(sn_engine *e, const sn_snapshot_meta *meta);

/*
 * Drop log entries with index <= `index`, which must be covered by a
 * snapshot given to sn_engine_snapshot_taken() (SN_EINVAL otherwise).
 * Followers that need them later receive the snapshot instead.
 */
SN_API int sn_engine_compact(sn_engine *e, uint64_t index);

/* Fill *out with the engine's current state. */
SN_API void sn_engine_get_status(sn_engine_status *out, const sn_engine *e);

#ifdef __cplusplus
}
#endif

#endif
