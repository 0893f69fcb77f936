/*
 * senate/node.h - one member of a consensus group, running: an engine (Raft
 * or Multi-Paxos), the write-ahead log, snapshot files, a transport and a
 * state machine, on threads of its own.
 *
 * Threads (ARCHITECTURE.md): a loop thread owns the engine (ticks, messages,
 * proposals, readies) and writes and syncs the WAL (one write per ready:
 * group commit) - on a leader a storage thread syncs it instead, while the
 * loop goes on; an apply thread applies committed entries to the state
 * machine in batches, takes its snapshots and restores received ones (the
 * loop applies a batch of up to 256 entries / 1 MiB itself when the apply
 * thread is idle with nothing queued); a snapshot thread runs
 * snapshot_live. Callbacks of this API run on the apply or the loop thread;
 * they must not block and must not call sn_node_close().
 *
 * Durability: nothing is acknowledged before the WAL's fdatasync covering
 * it returned. When a write or sync fails, the node stops: every pending
 * and later request fails with SN_ESTOPPED, sn_node_status() reports the
 * error, and it never acknowledges anything again (restart the process on
 * a healthy disk; recovery keeps everything acknowledged).
 *
 * Thread-safety: every function may be called from any thread, except that
 * sn_node_close() must not race with other calls on the same node.
 */
#ifndef SENATE_NODE_H
#define SENATE_NODE_H

#include <senate/buf.h>
#include <senate/common.h>
#include <senate/sys/engine.h>
#include <senate/sys/storage.h>
#include <senate/sys/transport.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sn_node sn_node;

/*
 * The replicated state machine, supplied by the caller (the built-in store
 * is one). The callbacks run one at a time, never concurrently - on the
 * apply thread, or on the loop thread for a batch of up to 256 entries /
 * 1 MiB when the apply thread is idle - except snapshot_live (its own
 * thread, concurrently with apply/flush). A state machine must not tie its state to one thread.
 */
typedef struct sn_state_machine {
	void *userdata;
	/* The last index already reflected in the state machine at open (a
	 * state machine that keeps it on disk, like the store's LMDB; 0 for
	 * one that starts empty). Entries at or below it are not applied
	 * again. May be NULL (0). */
	uint64_t (*applied)(void *userdata);
	/* Apply committed entries, in order (NOOP entries included, with no
	 * data: skip them). results[i] starts empty; append what the proposer
	 * of entries[i] should get back. Return SN_OK, or an error that stops
	 * the node (the state machine can no longer be trusted). */
	int (*apply)(void *userdata, const sn_entry *entries, size_t n,
		     sn_buf *results);
	/* Write a consistent copy of the state (through the last applied
	 * entry) to `fd`, from its current offset. SN_OK or an error (the
	 * snapshot is skipped and retried later). May be NULL: no snapshots,
	 * and the log is never compacted. */
	int (*snapshot)(void *userdata, int fd);
	/* Replace the state with the snapshot `meta`, read through `r` (see
	 * sn_snapshot_read()). An error stops the node. */
	int (*restore)(void *userdata, const sn_snapshot_meta *meta,
		       sn_snapshot_reader *r);
	/* Optional, read only when sn_node_options.version >= 2 (NULL: apply
	 * makes its changes visible itself). With it, apply() may leave its
	 * changes pending (e.g. an open transaction): the node hands the
	 * results to the proposers first - their entries are durable in the
	 * log already, so they need not wait for the state machine's own
	 * sync - and then calls flush(), which must make everything applied
	 * visible to later reads (and durable, if the state machine keeps
	 * its state on disk) before the node counts it applied, serves a
	 * read or takes a snapshot. An error stops the node. */
	int (*flush)(void *userdata);
	/* Optional, read only when sn_node_options.version >= 3 (NULL: the
	 * node uses `snapshot`). A snapshot that does not hold up applying:
	 * the node calls it on its own snapshot thread ("sn-snap") while
	 * apply() and flush() go on running. Write a
	 * consistent copy of the state as of some flushed entry to `fd`
	 * (from its current offset) and set *index and *term to that
	 * entry's; the node compacts the log only behind it. It is never
	 * called concurrently with itself or with restore(). With it,
	 * `snapshot` is not called. Errors as for `snapshot`. */
	int (*snapshot_live)(void *userdata, int fd, uint64_t *index,
			     uint64_t *term);
} sn_state_machine;

typedef struct sn_node_options {
	unsigned version; /* SN_NODE_OPTIONS_VERSION */

	uint64_t id;             /* this member (required) */
	uint64_t group;          /* the group's id */
	const uint64_t *voters;  /* the members, including id (required) */
	size_t n_voters;
	const char *engine;      /* ["raft"] or "paxos" */
	const char *data_dir;    /* required: wal/ and snap/ go below it */

	unsigned tick_ms;        /* [100] one engine tick */
	unsigned election_ticks; /* [10] */
	unsigned heartbeat_ticks; /* [1] */

	const sn_transport *transport;   /* required (copied) */
	const sn_state_machine *sm;      /* required (copied) */

	uint64_t snapshot_entries; /* [100000] applied entries between
				      snapshots (or sooner: 64 MiB of
				      entry data); 0: the default */
	uint64_t snapshot_trailing; /* [1000] entries kept behind one */
	size_t max_pending;      /* [10000] proposals and reads in flight;
				    beyond: SN_EBUSY */
	size_t max_entry_bytes;  /* [1 MiB] larger proposals: SN_ETOOLARGE */
	int no_sync;             /* [0] tests and benchmarks only */
} sn_node_options;

/* 2: sn_state_machine.flush is read; 3: snapshot_live too. Callers of
 * earlier versions keep working. */
#define SN_NODE_OPTIONS_VERSION 3
#define SN_NODE_OPTIONS_INIT                                               \
	{ SN_NODE_OPTIONS_VERSION, 0, 0, NULL, 0, NULL, NULL, 100, 10, 1,     \
	  NULL, NULL, 100000, 1000, 10000, 1u << 20, 0 }

/* Initialise *opts to the defaults (version 1, 2 or 3). SN_EINVAL for an
 * unknown version. */
SN_API int sn_node_options_init(sn_node_options *opts, unsigned version);

/*
 * Completion of sn_node_propose() / sn_node_read(): `status` is SN_OK with
 * the entry's `index` and the state machine's result bytes (borrowed for
 * the call), or an error: SN_ENOTLEADER (not the leader, or leadership
 * moved before the entry committed: it was not applied), SN_ESTOPPED (the
 * node stopped or is closing), SN_ETOOLARGE, SN_EBUSY.
 */
typedef void (*sn_node_cb)(void *userdata, int status, uint64_t index,
			   const void *result, size_t len);

/*
 * Open the member: recover the WAL and the newest snapshot in
 * opts->data_dir (finishing an install a crash interrupted, restoring the
 * state machine when it is behind the snapshot, resuming a snapshot
 * transfer), create the engine and start the threads.
 * Errors: SN_EINVAL (options; sn_errmsg() says which), SN_ECORRUPT (the WAL
 * or snapshot is damaged: file and offset in sn_errmsg()), SN_EBUSY
 * (another process holds the directory), SN_EIO, SN_ENOMEM, or the state
 * machine's restore error.
 */
SN_API int sn_node_open(sn_node **out, const sn_node_options *opts);

/*
 * Stop the threads, fail what is pending with SN_ESTOPPED (callbacks run
 * before it returns), close the WAL and free the node. NULL is a no-op.
 */
SN_API void sn_node_close(sn_node *n);

/*
 * Propose `len` bytes (copied) as a new entry. `cb` runs once it is applied
 * (with the state machine's result), or fails. Returns SN_OK (cb will run
 * exactly once) or an immediate error (cb is not called): SN_EBUSY (too
 * many requests in flight), SN_ETOOLARGE, SN_ESTOPPED, SN_EINVAL, SN_ENOMEM.
 * A follower answers through cb with SN_ENOTLEADER (sn_node_status() names
 * the leader, if known).
 */
SN_API int sn_node_propose(sn_node *n, const void *data, size_t len,
			   sn_node_cb cb, void *userdata);

/*
 * A linearizable read barrier: `cb` runs (with no result bytes) once the
 * state machine has applied everything committed before this call, as
 * confirmed by a quorum; the caller then reads its state machine. Errors
 * as for sn_node_propose().
 */
SN_API int sn_node_read(sn_node *n, sn_node_cb cb, void *userdata);

/*
 * Hand a message the transport received to the node (copied). Returns
 * SN_OK, SN_EBUSY (the inbox is full: dropped, the sender retransmits),
 * SN_EINVAL (not for this member or group), SN_ESTOPPED.
 */
SN_API int sn_node_receive(sn_node *n, const sn_message *m);

typedef struct sn_node_status {
	sn_engine_status engine; /* as of the loop's last iteration */
	uint64_t applied;        /* applied by the state machine */
	uint64_t snapshot_index; /* newest local snapshot */
	int error;               /* SN_OK, or why the node stopped */
	char errmsg[256];
} sn_node_status;

/* Fill *out. Thread-safe. */
SN_API void sn_node_status_get(sn_node *n, sn_node_status *out);

/* Start an election now (tests, operators). SN_OK or SN_ESTOPPED. */
SN_API int sn_node_campaign(sn_node *n);

#ifdef __cplusplus
}
#endif

#endif
