/*
 * core/raft/raft_impl.h - the Raft engine's internal state (not installed).
 *
 * The engine is split by concept: raft.c (life cycle, options, ready/advance),
 * raft_log.c (the in-memory log), raft_election.c (timers, PreVote, votes,
 * role changes), raft_replication.c (progress, flow control, commit),
 * raft_read.c (ReadIndex and leader transfer), raft_step.c (message
 * dispatch and validation), raft_msg.c (the wire codec).
 */
#ifndef SN__RAFT_IMPL_H
#define SN__RAFT_IMPL_H

#include "../base/engine_impl.h"
#include "../base/snap_rcv.h"
#include "../base/snap_send.h"
#include "../base/msgq.h"
#include "../base/inflights.h"
#include "raft_msg.h"

/* ---- the log ---- */
typedef struct sn__raft_log {
	sn_entry *ents;        /* ents[i].index == offset + 1 + i */
	size_t n, cap;
	uint64_t offset;       /* index before the first entry kept */
	uint64_t offset_term;  /* its term (known: snapshot or compaction) */
	uint64_t unstable;     /* first index not yet handed out in a ready */
	uint64_t persisted;    /* last index reported durable */
	void **grave;          /* data of replaced entries, freed at advance */
	size_t n_grave, cap_grave;
} sn__raft_log;

uint64_t sn__log_last(const sn__raft_log *l);
uint64_t sn__log_term(const sn__raft_log *l, uint64_t index); /* 0 if none */
const sn_entry *sn__log_at(const sn__raft_log *l, uint64_t index);
int sn__log_append(sn__raft_log *l, uint64_t term, uint32_t type,
		   const void *data, size_t len);
void sn__log_truncate(sn__raft_log *l, uint64_t from); /* drop >= from */
void sn__log_compact(sn__raft_log *l, uint64_t upto);  /* drop <= upto */
/* Drop everything; the log continues after {index, term}. */
void sn__log_reset(sn__raft_log *l, uint64_t index, uint64_t term);
void sn__log_bury(sn__raft_log *l);                    /* free the grave */
void sn__log_free(sn__raft_log *l);

/* ---- per-follower replication progress ---- */
enum { SN__PR_PROBE = 0, SN__PR_REPLICATE = 1, SN__PR_SNAPSHOT = 2 };

typedef struct sn__progress {
	uint64_t id;
	uint64_t match, next;
	int state;
	sn__snap_send snap;  /* SNAPSHOT state: the transfer */
	bool probe_sent;     /* PROBE: one append outstanding */
	bool recent_active;  /* heard from since the last quorum check */
	int8_t vote;         /* election tally: -1 none, 0 reject, 1 grant */
	uint64_t read_ack;   /* highest read round acknowledged */
	sn__inflights infl;  /* REPLICATE: the window */
} sn__progress;

/* A read waiting for its quorum round. */
typedef struct sn__read {
	uint64_t ctx;
	uint64_t index;
	uint64_t round; /* 0: waiting for the leader's first commit */
} sn__read;

typedef struct sn__raft {
	sn_engine base;

	/* configuration */
	uint64_t id, group;
	sn__progress *prs;
	size_t n_prs, self;
	unsigned election_ticks, heartbeat_ticks;
	bool pre_vote, check_quorum;
	size_t max_msg_bytes, max_inflight_msgs, max_inflight_bytes;
	size_t max_uncommitted_bytes, max_entry_bytes, max_pending_reads;
	uint64_t (*rand)(void *);
	void *rand_ud;
	uint64_t rng;

	/* protocol state */
	sn_role role;
	uint64_t term, vote, lead;
	uint64_t commit, applied;
	sn__raft_log log;
	unsigned election_elapsed, heartbeat_elapsed, timeout;
	uint64_t transferee;
	size_t uncommitted_bytes;
	bool bcast_pending; /* new entries to send at the next ready */

	/* reads */
	sn__read *reads;
	size_t n_reads, cap_reads;
	uint64_t read_round;

	/* output: messages and reads, accumulated and handed out */
	sn__outbox ob;
	sn_hard_state prev_hs;

	/* the ready handed out, alive until advance */
	bool ready_pending;
	sn_entry *rd_ents, *rd_committed;
	size_t cap_rd_ents, cap_rd_committed;

	/* snapshots */
	sn_snapshot_read_fn snapshot_read;
	void *snapshot_ud;
	sn_snapshot_meta snap;  /* newest durable snapshot (index 0: none) */
	uint64_t *snap_voters;
	sn__snap_rcv rcv;       /* the snapshot being received */
	sn_snapshot_meta install;  /* pending install, index 0: none */
	uint64_t *install_voters;
	sn_snapshot_meta rd_install;
	uint64_t *rd_install_voters;

	uint64_t dropped;
} sn__raft;

/* raft_snapshot.c */
int sn__raft_snapshot_taken(sn_engine *e, const sn_snapshot_meta *meta);
int sn__raft_compact(sn_engine *e, uint64_t index);
void sn__raft_send_snapshot(sn__raft *r, sn__progress *pr);
void sn__raft_on_snapshot(sn__raft *r, const sn__raft_msg *m, uint64_t from);
void sn__raft_on_snapshot_response(sn__raft *r, const sn__raft_msg *m,
				   uint64_t from);
void sn__raft_snapshot_heartbeat(sn__raft *r, sn__progress *pr);
void sn__raft_snapshot_free(sn__raft *r);


size_t sn__raft_quorum(const sn__raft *r);
sn__progress *sn__raft_progress(sn__raft *r, uint64_t id);

/* raft_step.c */
int sn__raft_step(sn_engine *e, const sn_message *m);
int sn__raft_send(sn__raft *r, bool after_persist, uint64_t to,
		  const sn__raft_msg *m);

/* raft_election.c */
void sn__raft_tick(sn_engine *e);
int sn__raft_campaign(sn_engine *e);
void sn__raft_start_election(sn__raft *r, bool pre, bool transfer);
void sn__raft_become_follower(sn__raft *r, uint64_t term, uint64_t lead);
void sn__raft_reset_timer(sn__raft *r);
void sn__raft_on_vote_request(sn__raft *r, const sn__raft_msg *m,
			      uint64_t from);
void sn__raft_on_vote_response(sn__raft *r, const sn__raft_msg *m,
			       uint64_t from);

/* raft_replication.c */
void sn__raft_become_leader(sn__raft *r);
void sn__raft_bcast_append(sn__raft *r, bool send_empty);
void sn__raft_send_append(sn__raft *r, sn__progress *pr, bool send_empty);
void sn__raft_bcast_heartbeat(sn__raft *r);
bool sn__raft_maybe_commit(sn__raft *r);
void sn__raft_on_append(sn__raft *r, const sn__raft_msg *m, uint64_t from);
void sn__raft_on_append_response(sn__raft *r, const sn__raft_msg *m,
				 uint64_t from);
void sn__raft_on_heartbeat(sn__raft *r, const sn__raft_msg *m, uint64_t from);
void sn__raft_on_heartbeat_response(sn__raft *r, const sn__raft_msg *m,
				    uint64_t from);
void sn__raft_commit_to(sn__raft *r, uint64_t commit);
int sn__raft_propose(sn_engine *e, uint64_t *index_out, const void *data,
		     size_t len);
void sn__raft_persisted(sn_engine *e, uint64_t index, uint64_t term);

/* raft_read.c */
int sn__raft_read_index(sn_engine *e, uint64_t ctx);
void sn__raft_reads_on_commit(sn__raft *r);
void sn__raft_reads_on_ack(sn__raft *r);
void sn__raft_reads_fail(sn__raft *r);
int sn__raft_transfer_leader(sn_engine *e, uint64_t to);
void sn__raft_transfer_check(sn__raft *r, sn__progress *pr);

#endif
