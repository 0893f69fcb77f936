/*
 * senate/paxos.h - the Multi-Paxos consensus engine.
 *
 * sn_paxos_new() creates an engine that implements <senate/sys/engine.h>
 * with Multi-Paxos: a stable leader runs phase 1 (Prepare/Promise) once for
 * its ballot, recovers every value a quorum of acceptors accepted beyond its
 * commit index, then runs only phase 2 (Accept/Accepted), pipelined and
 * batched with the same flow control as the Raft engine. Lagging acceptors
 * are brought up from the leader's log or with the chunked snapshot
 * transfer. The engine performs no I/O and reads no clock; time comes from
 * sn_engine_tick() and randomness from the injected `rand` hook.
 * See docs/paxos.md for the protocol as implemented.
 *
 * Mapping onto the engine seam:
 *   - a ballot is (round << 16) | (position of the proposer in the sorted
 *     voter list + 1); ballot 0 means none, hence at most 65535 voters;
 *   - sn_entry.term is the ballot at which the acceptor accepted the value;
 *   - sn_hard_state.term is the promised ballot, .vote the member owning
 *     it, .commit the prefix of slots known chosen;
 *   - sn_engine_status.term is the promised ballot, .leader the member
 *     leading it once that member has won phase 1 (0 when unknown);
 *   - sn_engine_name() returns "paxos".
 *
 * What is persisted (through the ready, before any reply that depends on
 * it is sent: replies travel in `messages_after_persist`): the promise
 * (hard state term and vote) before a Promise or an Accepted leaves, the
 * accepted values (entries) before their Accepted leaves, the commit
 * index with them. A recovered log whose entries carry a ballot above the
 * recovered promise raises the promise to that ballot (accepting at a
 * ballot implies having promised it).
 *
 * Ownership: options and everything they point to are borrowed for the
 * duration of sn_paxos_new() and copied. Messages given to
 * sn_engine_step() are borrowed for the call. Everything a ready points to
 * is owned by the engine until sn_engine_advance().
 *
 * Errors: input from a peer never aborts; a malformed, misaddressed or
 * impossible message (a ballot its sender does not own, an Accept carrying
 * entries of another ballot, counts beyond the bytes) is counted in
 * `dropped`, logged, and answered with SN_EMALFORMED. sn_engine_propose()
 * returns SN_ENOTLEADER until the leader's recovered slots are all chosen,
 * SN_EBUSY beyond max_uncommitted_bytes, SN_ETOOLARGE beyond
 * max_entry_bytes. sn_engine_transfer_leader() returns SN_ENOTSUP.
 *
 * Reads: sn_engine_read_index() runs a heartbeat round at the leader's
 * ballot and confirms the read once a quorum answered without having
 * promised a higher ballot. There is no leader lease: acceptors promise a
 * higher ballot whenever asked (there is no "a leader is alive, ignore
 * the candidate" rule), so a lease would have to rely on bounded clock
 * drift, which the engine cannot know.
 *
 * Thread-safety: as every engine, not thread-safe; use one engine from one
 * thread at a time. sn_paxos_options_init() is thread-safe.
 */
#ifndef SENATE_PAXOS_H
#define SENATE_PAXOS_H

#include <senate/common.h>
#include <senate/sys/engine.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Options of a Multi-Paxos engine. Initialise with SN_PAXOS_OPTIONS_INIT or
 * sn_paxos_options_init(), which set the defaults given in brackets; a zero
 * numeric field also means "the default". Fields are only ever appended;
 * `version` says which exist.
 */
typedef struct sn_paxos_options {
	unsigned version; /* SN_PAXOS_OPTIONS_VERSION */

	uint64_t id;    /* this member's id, non-zero (required) */
	uint64_t group; /* the consensus group's id; 0 is a valid group */

	/* The voting members (acceptors and proposers), including `id`
	 * (required; borrowed, copied). Ids are non-zero and distinct; at
	 * most 65535 of them. Ballots are assigned by position in the
	 * sorted list. */
	const uint64_t *voters;
	size_t n_voters;

	unsigned election_ticks;  /* [10] election timeout, randomized in
				     [election_ticks, 2 * election_ticks) */
	unsigned heartbeat_ticks; /* [1]; must be < election_ticks */

	size_t max_msg_bytes;         /* [1 MiB] bytes per Accept or Promise
					 part, and per snapshot chunk */
	size_t max_inflight_msgs;     /* [256] unacked Accepts per acceptor,
					 at most 65536 */
	size_t max_inflight_bytes;    /* [32 MiB] unacked bytes per acceptor */
	size_t max_uncommitted_bytes; /* [64 MiB] proposals beyond: SN_EBUSY */
	size_t max_entry_bytes;       /* [1 MiB] larger: SN_ETOOLARGE */
	size_t max_pending_reads;     /* [4096] beyond: SN_EBUSY */

	/* Randomness for election timeouts. When NULL the engine uses its own
	 * deterministic generator seeded with `seed` (or `id` if `seed` is 0). */
	uint64_t (*rand)(void *userdata);
	void *rand_userdata;
	uint64_t seed;

	/* State recovered from stable storage on restart (borrowed, copied).
	 * `entries` must be consecutive (their ballots need not be ordered);
	 * `applied` is the last index the state machine already holds
	 * (<= hard_state->commit). All may be NULL/0 for a new member. */
	const sn_hard_state *hard_state;
	const sn_entry *entries;
	size_t n_entries;
	uint64_t applied;

	/* The installed snapshot recovered from storage (borrowed, copied), or
	 * NULL. With one, `entries` must start at or before its index + 1 and
	 * `applied` is at least its index. */
	const sn_snapshot_meta *snapshot;
	/* How a leader reads a snapshot to stream it (see sn_snapshot_read_fn).
	 * Without it, an acceptor behind the compacted log cannot catch up. */
	sn_snapshot_read_fn snapshot_read;
	void *snapshot_userdata;

	/* A snapshot transfer that a restart interrupted (borrowed, copied),
	 * or NULL: the first `snapshot_partial_offset` bytes of the snapshot
	 * `snapshot_partial` are in its temporary file, with CRC32C
	 * `snapshot_partial_crc` (sn_snapshot_writer_resume() finds them).
	 * The member then asks its leader to continue there instead of at 0.
	 * Ignored when its index is not above the recovered commit index, or
	 * when the offset is not below the snapshot's size. */
	const sn_snapshot_meta *snapshot_partial;
	uint64_t snapshot_partial_offset;
	uint32_t snapshot_partial_crc;
} sn_paxos_options;

#define SN_PAXOS_OPTIONS_VERSION 1
/* Every field spelled out, so -Wmissing-field-initializers stays quiet. */
#define SN_PAXOS_OPTIONS_INIT                                              \
	{ SN_PAXOS_OPTIONS_VERSION, 0, 0, NULL, 0, 10, 1, 1u << 20, 256,      \
	  32u << 20, 64u << 20, 1u << 20, 4096, NULL, NULL, 0, NULL, NULL, 0, \
	  0, NULL, NULL, NULL, NULL, 0, 0 }

/*
 * Initialise *opts to the defaults for `version` (pass
 * SN_PAXOS_OPTIONS_VERSION). Returns SN_EINVAL for an unknown version.
 * Thread-safe.
 */
SN_API int sn_paxos_options_init(sn_paxos_options *opts, unsigned version);

/*
 * Create a Multi-Paxos engine. On success *out owns a new engine (free it
 * with sn_engine_free()); on failure *out is NULL. `opts` and what it
 * points to are borrowed for the duration of the call.
 * Errors: SN_EINVAL (missing id, id not among voters, duplicate or zero
 * voter, more than 65535 voters, heartbeat_ticks >= election_ticks,
 * max_inflight_msgs above 65536, non-consecutive or invalid entries,
 * commit beyond the log, applied > commit, unknown options version;
 * sn_errmsg() says which), SN_ENOMEM.
 */
SN_API int sn_paxos_new(sn_engine **out, const sn_paxos_options *opts);

#ifdef __cplusplus
}
#endif

#endif
