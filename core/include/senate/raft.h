/*
 * senate/raft.h - the Raft consensus engine.
 *
 * sn_raft_new() creates an engine that implements <senate/sys/engine.h>:
 * leader election with randomized timeouts, PreVote and CheckQuorum (both on
 * by default), pipelined and batched log replication with flow control
 * (in-flight message and byte limits per follower, a cap on uncommitted
 * bytes), the current-term commit rule, leader transfer (TimeoutNow) and
 * ReadIndex reads. The engine performs no I/O and reads no clock; time comes
 * from sn_engine_tick() and randomness from the injected `rand` hook.
 */
#ifndef SENATE_RAFT_H
#define SENATE_RAFT_H

#include <senate/common.h>
#include <senate/sys/engine.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Options of a Raft engine. Initialise with SN_RAFT_OPTIONS_INIT or
 * sn_raft_options_init(), which set the defaults given in brackets; a zero
 * numeric field also means "the default". Fields are only ever appended;
 * `version` says which exist.
 */
typedef struct sn_raft_options {
	unsigned version; /* SN_RAFT_OPTIONS_VERSION */

	uint64_t id;    /* this member's id, non-zero (required) */
	uint64_t group; /* the consensus group's id; 0 is a valid group */

	/* The voting members, including `id` (required; borrowed, copied).
	 * Ids are non-zero and distinct. */
	const uint64_t *voters;
	size_t n_voters;

	unsigned election_ticks;  /* [10] election timeout, randomized in
				     [election_ticks, 2 * election_ticks) */
	unsigned heartbeat_ticks; /* [1]; must be < election_ticks */

	int disable_pre_vote;     /* [0] PreVote is on unless set */
	int disable_check_quorum; /* [0] CheckQuorum is on unless set */

	size_t max_msg_bytes;         /* [1 MiB] bytes per append message, and
					 per snapshot chunk */
	size_t max_inflight_msgs;     /* [256] unacked appends per follower,
					 at most 65536 */
	size_t max_inflight_bytes;    /* [32 MiB] unacked bytes per follower */
	size_t max_uncommitted_bytes; /* [64 MiB] proposals beyond: SN_EBUSY */
	size_t max_entry_bytes;       /* [1 MiB] larger: SN_ETOOLARGE */
	size_t max_pending_reads;     /* [4096] beyond: SN_EBUSY */

	/* Randomness for election timeouts. When NULL the engine uses its own
	 * deterministic generator seeded with `seed` (or `id` if `seed` is 0). */
	uint64_t (*rand)(void *userdata);
	void *rand_userdata;
	uint64_t seed;

	/* State recovered from stable storage on restart (borrowed, copied).
	 * `entries` must be consecutive; `applied` is the last index the state
	 * machine already holds (<= hard_state->commit). All may be NULL/0 for
	 * a new member. */
	const sn_hard_state *hard_state;
	const sn_entry *entries;
	size_t n_entries;
	uint64_t applied;

	/* The installed snapshot recovered from storage (borrowed, copied), or
	 * NULL. With one, `entries` must start at or before its index + 1 and
	 * `applied` is at least its index. */
	const sn_snapshot_meta *snapshot;
	/* How a leader reads a snapshot to stream it (see sn_snapshot_read_fn).
	 * Without it, a follower behind the compacted log cannot catch up. */
	sn_snapshot_read_fn snapshot_read;
	void *snapshot_userdata;

	/* Version 2. A snapshot transfer that a restart interrupted (borrowed,
	 * copied), or NULL: the first `snapshot_partial_offset` bytes of the
	 * snapshot `snapshot_partial` are in its temporary file, with CRC32C
	 * `snapshot_partial_crc` (sn_snapshot_writer_resume() finds them). The
	 * member then asks its leader to continue there instead of at 0. It
	 * is ignored when its index is not above the recovered commit index,
	 * or when the offset is not below the snapshot's size. */
	const sn_snapshot_meta *snapshot_partial;
	uint64_t snapshot_partial_offset;
	uint32_t snapshot_partial_crc;
} sn_raft_options;

/* 1: up to snapshot_userdata; 2: adds snapshot_partial*. A caller built
 * against an older header keeps working: the engine reads only the fields
 * its `version` has. */
#define SN_RAFT_OPTIONS_VERSION 2
/* Every field spelled out, so -Wmissing-field-initializers stays quiet. */
#define SN_RAFT_OPTIONS_INIT                                               \
	{ SN_RAFT_OPTIONS_VERSION, 0, 0, NULL, 0, 10, 1, 0, 0, 1u << 20, 256, \
	  32u << 20, 64u << 20, 1u << 20, 4096, NULL, NULL, 0, NULL, NULL, 0, 0, \
	  NULL, NULL, NULL, NULL, 0, 0 }

/*
 * Initialise *opts to the defaults for `version` (pass
 * SN_RAFT_OPTIONS_VERSION; an older version initialises only the fields it
 * has). Returns SN_EINVAL for an unknown version.
 */
SN_API int sn_raft_options_init(sn_raft_options *opts, unsigned version);

/*
 * Create a Raft engine. On success *out owns a new engine (free it with
 * sn_engine_free()); on failure *out is NULL. `opts` and what it points to
 * are borrowed for the duration of the call.
 * Errors: SN_EINVAL (missing id, id not among voters, duplicate or zero
 * voter, heartbeat_ticks >= election_ticks, max_inflight_msgs above
 * 65536, non-consecutive entries, an invalid snapshot or partial snapshot,
 * applied > commit, unknown options version; sn_errmsg() says which),
 * SN_ENOMEM.
 */
SN_API int sn_raft_new(sn_engine **out, const sn_raft_options *opts);

#ifdef __cplusplus
}
#endif

#endif
