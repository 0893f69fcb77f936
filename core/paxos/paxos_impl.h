/*
 * core/paxos/paxos_impl.h - the Multi-Paxos engine's internal state (not
 * installed).
 *
 * The engine is split by concept: paxos.c (life cycle, options,
 * ready/advance), paxos_log.c (the acceptor's log and the durability of its
 * writes), paxos_acceptor.c (Prepare, Accept, heartbeats: the acceptor's
 * rules), paxos_proposer.c (timers, phase 1 and the recovery of accepted
 * values, role changes), paxos_replication.c (phase 2: progress, flow
 * control, the commit rule), paxos_read.c (read-index rounds),
 * paxos_snapshot.c (compaction and the chunked snapshot transfer),
 * paxos_step.c (validation and dispatch), paxos_msg.c (the wire codec).
 */
#ifndef SN__PAXOS_IMPL_H
#define SN__PAXOS_IMPL_H

#include "../base/engine_impl.h"
#include "../base/snap_rcv.h"
#include "../base/snap_send.h"
#include "../base/msgq.h"
#include "../base/inflights.h"
#include "paxos_msg.h"

/* ---- the acceptor's log ---- */

/* A write handed out in a ready and not yet reported durable. */
typedef struct sn__pwrite {
	uint64_t first, last, term;
} sn__pwrite;

typedef struct sn__plog {
	sn_entry *ents;        /* ents[i].index == offset + 1 + i */
	size_t n, cap;
	uint64_t offset;       /* slot before the first entry kept */
	uint64_t offset_term;  /* its ballot (snapshot or compaction) */
	uint64_t unstable;     /* first slot not yet handed out in a ready */
	uint64_t persisted;    /* every slot <= it is durable as held */
	void **grave;          /* data of replaced entries, freed at advance */
	size_t n_grave, cap_grave;
	sn__pwrite *wq;        /* writes handed out, oldest first */
	size_t n_wq, cap_wq;
} sn__plog;

uint64_t sn__plog_last(const sn__plog *l);
uint64_t sn__plog_term(const sn__plog *l, uint64_t index); /* 0 if none */
const sn_entry *sn__plog_at(const sn__plog *l, uint64_t index);
int sn__plog_append(sn__plog *l, uint64_t term, uint32_t type,
		    const void *data, size_t len);
/* Overwrite slot `index` (<= last) in place; later slots are kept but must
 * be written again (the storage seam replaces everything from it). */
int sn__plog_set(sn__plog *l, uint64_t index, uint64_t term, uint32_t type,
		 const void *data, size_t len);
void sn__plog_truncate(sn__plog *l, uint64_t from); /* drop >= from */
void sn__plog_compact(sn__plog *l, uint64_t upto);  /* drop <= upto */
/* A snapshot through {index, term} is installed: slots <= index are
 * dropped, later ones kept (to be written again after the install). */
void sn__plog_install(sn__plog *l, uint64_t index, uint64_t term);
/* A ready hands out slots [first, last] (the last with ballot `term`). */
int sn__plog_handed(sn__plog *l, uint64_t first, uint64_t last,
		    uint64_t term);
/* A write ending at {index, term} is durable; false when stale. */
bool sn__plog_durable(sn__plog *l, uint64_t index, uint64_t term);
void sn__plog_bury(sn__plog *l);
void sn__plog_free(sn__plog *l);

/* ---- per-acceptor state kept by a proposer ---- */
enum { SN__PR_PROBE = 0, SN__PR_REPLICATE = 1, SN__PR_SNAPSHOT = 2 };
enum { SN__PROM_NONE = 0, SN__PROM_DONE = 1, SN__PROM_REJECTED = 2 };

typedef struct sn__pprogress {
	uint64_t id;
	/* phase 1 */
	int prom;            /* SN__PROM_* */
	uint64_t prom_next;  /* next slot expected in its Promise parts */
	/* phase 2 */
	uint64_t match, next;
	int state;
	bool probe_sent;
	bool recent_active;
	uint64_t read_ack;
	sn__inflights infl;  /* REPLICATE: the window */
	sn__snap_send snap; /* SNAPSHOT state: the transfer */
} sn__pprogress;

/* A slot learned in phase 1: the value with the highest ballot reported. */
typedef struct sn__precov {
	uint64_t ballot; /* 0: nobody reported this slot */
	uint32_t type;
	void *data;
	size_t len;
} sn__precov;

typedef struct sn__pread {
	uint64_t ctx;
	uint64_t index;
	uint64_t round; /* 0: waiting for recovery to end */
} sn__pread;

typedef struct sn__paxos {
	sn_engine base;

	/* configuration */
	uint64_t id, group;
	sn__pprogress *prs; /* sorted by id: prs[i] owns ballots ending i+1 */
	size_t n_prs, self;
	unsigned election_ticks, heartbeat_ticks;
	size_t max_msg_bytes, max_inflight_msgs, max_inflight_bytes;
	size_t max_uncommitted_bytes, max_entry_bytes, max_pending_reads;
	uint64_t (*rand)(void *);
	void *rand_ud;
	uint64_t rng;

	/* acceptor */
	uint64_t promised;    /* hard state term */
	uint64_t promised_to; /* hard state vote */
	uint64_t commit, applied;
	uint64_t match_ballot; /* `match` counts slots at this ballot */
	uint64_t match;        /* slots <= it: chosen or at match_ballot */
	sn__plog log;

	/* proposer */
	sn_role role;
	uint64_t lead;
	uint64_t ballot;       /* the ballot we campaign or lead with */
	uint64_t max_seen;     /* highest ballot seen anywhere */
	uint64_t prep_commit;  /* c of our Prepare */
	sn__precov *rec;       /* slots prep_commit+1 .. +n_rec */
	size_t n_rec, cap_rec;
	uint64_t recover_to;   /* M: leader serves once commit >= M */
	bool recovering;
	bool self_wait;        /* lone voter: lead once its write is durable */
	unsigned election_elapsed, heartbeat_elapsed, timeout;
	size_t uncommitted_bytes;
	bool bcast_pending;

	/* reads */
	sn__pread *reads;
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
	sn_snapshot_meta snap;
	uint64_t *snap_voters;
	sn__snap_rcv rcv; /* the snapshot being received */
	sn_snapshot_meta install;
	uint64_t *install_voters;
	sn_snapshot_meta rd_install;
	uint64_t *rd_install_voters;

	uint64_t dropped;
} sn__paxos;

size_t sn__paxos_quorum(const sn__paxos *p);
sn__pprogress *sn__paxos_progress(sn__paxos *p, uint64_t id);
/* The member owning ballot b, or NULL for a ballot nobody owns. */
sn__pprogress *sn__paxos_owner(sn__paxos *p, uint64_t b);

/* paxos_step.c */
int sn__paxos_step(sn_engine *e, const sn_message *m);
int sn__paxos_send(sn__paxos *p, bool after_persist, uint64_t to,
		   const sn__paxos_msg *m);

/* paxos_acceptor.c */
void sn__paxos_on_prepare(sn__paxos *p, const sn__paxos_msg *m,
			  uint64_t from);
void sn__paxos_on_accept(sn__paxos *p, const sn__paxos_msg *m,
			 uint64_t from);
void sn__paxos_on_heartbeat(sn__paxos *p, const sn__paxos_msg *m,
			    uint64_t from);
/* A message at ballot b from its owner: adopt b if higher, hear the leader.
 * Returns false (and answers) when b is below the promise. */
bool sn__paxos_follow(sn__paxos *p, const sn__paxos_msg *m, uint64_t from);
uint64_t sn__paxos_match(sn__paxos *p, uint64_t ballot);
void sn__paxos_learn_commit(sn__paxos *p, uint64_t leader_commit,
			    uint64_t ballot);

/* paxos_proposer.c */
void sn__paxos_tick(sn_engine *e);
int sn__paxos_campaign(sn_engine *e);
void sn__paxos_start_phase1(sn__paxos *p);
void sn__paxos_become_follower(sn__paxos *p, uint64_t lead);
void sn__paxos_reset_timer(sn__paxos *p);
void sn__paxos_on_promise(sn__paxos *p, const sn__paxos_msg *m,
			  uint64_t from);
void sn__paxos_rec_free(sn__paxos *p);
void sn__paxos_become_leader(sn__paxos *p);

/* paxos_replication.c */
void sn__paxos_start_replication(sn__paxos *p);
void sn__paxos_bcast_accept(sn__paxos *p, bool send_empty);
void sn__paxos_send_accept(sn__paxos *p, sn__pprogress *pr, bool send_empty);
void sn__paxos_bcast_heartbeat(sn__paxos *p);
bool sn__paxos_maybe_commit(sn__paxos *p);
void sn__paxos_on_accepted(sn__paxos *p, const sn__paxos_msg *m,
			   uint64_t from);
void sn__paxos_on_heartbeat_response(sn__paxos *p, const sn__paxos_msg *m,
				     uint64_t from);
int sn__paxos_propose(sn_engine *e, uint64_t *index_out, const void *data,
		      size_t len);
void sn__paxos_persisted(sn_engine *e, uint64_t index, uint64_t term);

/* paxos_read.c */
int sn__paxos_read_index(sn_engine *e, uint64_t ctx);
void sn__paxos_reads_on_recovered(sn__paxos *p);
void sn__paxos_reads_on_ack(sn__paxos *p);
void sn__paxos_reads_fail(sn__paxos *p);
int sn__paxos_transfer_leader(sn_engine *e, uint64_t to);

/* paxos_snapshot.c */
int sn__paxos_snapshot_taken(sn_engine *e, const sn_snapshot_meta *meta);
int sn__paxos_compact(sn_engine *e, uint64_t index);
void sn__paxos_send_snapshot(sn__paxos *p, sn__pprogress *pr);
void sn__paxos_on_snapshot(sn__paxos *p, const sn__paxos_msg *m,
			   uint64_t from);
void sn__paxos_on_snapshot_response(sn__paxos *p, const sn__paxos_msg *m,
				    uint64_t from);
void sn__paxos_snapshot_heartbeat(sn__paxos *p, sn__pprogress *pr);
void sn__paxos_snapshot_free(sn__paxos *p);

#endif
