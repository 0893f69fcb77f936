/*
 * core/node/node_impl.h - the node runtime's internals (node.h).
 *
 *   transport --sn_node_receive--> inbox --> loop thread (engine)
 *   callers --propose/read--------> inbox      |  ready: send, write chunks,
 *                                              |  WAL append and fdatasync
 *   (write done, posted by the loop itself)    |  right here (no storage
 *                                              |  thread), committed
 *                                              v  and reads -> apply queue
 *                                         apply thread (state machine,
 *                                         results to callers, snapshots)
 */
#ifndef SN__NODE_IMPL_H
#define SN__NODE_IMPL_H

#include "../base/base.h"

#include <pthread.h>

typedef enum {
	SN__EV_MSG,        /* a peer's message */
	SN__EV_PROPOSE,    /* a proposal: buf, cb */
	SN__EV_READ,       /* a read barrier: cb */
	SN__EV_WRITE_DONE, /* a WAL write finished: status, persisted report */
	SN__EV_SNAP_TAKEN, /* the apply thread made a snapshot: meta */
	SN__EV_MARKER_DONE, /* its marker is durable: compact to `index` */
	SN__EV_CAMPAIGN
} sn__ev_kind;

typedef struct sn__ev {
	struct sn__ev *next;
	sn__ev_kind kind;
	sn_message msg;     /* EV_MSG (data = buf) */
	uint8_t *buf;
	size_t len;
	sn_node_cb cb;      /* PROPOSE, READ */
	void *ud;
	int status;         /* WRITE_DONE */
	uint64_t index, term; /* WRITE_DONE: persisted; MARKER_DONE: index */
	sn_message *after;  /* WRITE_DONE: to send once durable (data owned) */
	size_t n_after;
	sn_snapshot_meta meta; /* SNAP_TAKEN */
	uint64_t *voters;
} sn__ev;

typedef enum {
	SN__AP_ENTRIES,   /* apply a batch */
	SN__AP_RESTORE,   /* restore from the snapshot meta */
	SN__AP_READ       /* complete a read once applied >= index */
} sn__ap_kind;

typedef struct sn__ap {
	struct sn__ap *next;
	sn__ap_kind kind;
	sn_entry *entries; /* data in `arena` */
	size_t n;
	uint8_t *arena;
	sn_snapshot_meta meta;
	uint64_t *voters;
	uint64_t index;
	sn_node_cb cb;
	void *ud;
} sn__ap;

/* A proposal waiting for its entry to be applied. */
typedef struct sn__pending {
	uint64_t index, term;
	sn_node_cb cb;
	void *ud;
} sn__pending;

/* A read waiting for its read index. */
typedef struct sn__pread {
	uint64_t ctx;
	sn_node_cb cb;
	void *ud;
} sn__pread;

struct sn_node {
	uint64_t id, group;
	uint64_t *voters;
	size_t n_voters;
	char *wal_dir, *snap_dir;
	unsigned tick_ms;
	uint64_t snapshot_entries, snapshot_trailing;
	size_t max_pending, max_entry_bytes;
	sn_transport transport;
	sn_state_machine sm;

	sn_engine *eng;      /* loop thread only */
	sn_storage *st;
	bool has_sm_snapshot; /* sm->snapshot != NULL */

	/* the inbox (loop thread's input) */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	sn__ev *head, *tail;
	size_t n_msgs;       /* EV_MSG queued (bounded) */
	bool quit;
	pthread_t loop;
	bool loop_started;

	/* receiving a snapshot (loop thread) */
	sn_snapshot_writer *rcv;
	sn_snapshot_meta rcv_meta; /* voters not kept */
	bool rcv_open;
	/* streaming one (loop thread, snapshot_read hook) */
	sn_snapshot_reader *snd;
	sn_snapshot_meta snd_meta;

	/* proposals and reads in flight (pend_mu) */
	pthread_mutex_t pend_mu;
	sn__pending *pend;   /* sorted by index */
	size_t n_pend, cap_pend, pend_head;
	sn__pread *preads;
	size_t n_preads, cap_preads;
	uint64_t next_ctx;
	size_t in_flight;    /* proposals + reads not yet completed */

	/* the apply thread */
	pthread_mutex_t ap_mu;
	pthread_cond_t ap_cv;
	sn__ap *ap_head, *ap_tail;
	sn__ap *ap_reads;    /* reads waiting for applied >= index */
	bool ap_quit;
	bool ap_busy;        /* a batch is being applied (apply thread or,
				sn__node_apply_here, the loop) */
	pthread_t apply;
	bool apply_started;
	uint64_t applied, applied_term; /* apply thread */
	uint64_t skip_upto;  /* the state machine already held these */
	uint64_t snap_bytes; /* entry bytes applied since the last snapshot
				was asked for (apply thread) */
	uint64_t last_snap;  /* newest local snapshot's index (ap_mu when
				sm.snapshot_live: the snapshot thread sets it) */
	bool snap_in_progress; /* a snapshot was handed to the loop (or, live,
				  asked of the snapshot thread) */

	/* the snapshot thread (sm.snapshot_live only; under ap_mu) */
	pthread_t snap;
	bool snap_started;
	pthread_cond_t snap_cv;
	bool snap_wanted, snap_quit;

	/* status (stat_mu) */
	pthread_mutex_t stat_mu;
	sn_engine_status est;
	uint64_t st_applied, st_snap;
	int err;
	char errmsg[256];
};

/* A snapshot is due after snapshot_entries applied entries or after this
 * many bytes of entry data since the last one, whichever comes first: the
 * engines keep the log since the last compaction in memory, so this bounds
 * that memory (and the WAL a restart replays) for large values. Tests
 * lower it. */
extern uint64_t sn__node_snapshot_bytes; /* [64 MiB] */

/* node.c */
void sn__node_stop(sn_node *n, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
bool sn__node_stopped(sn_node *n);
void sn__node_post(sn_node *n, sn__ev *ev);
void sn__ev_free(sn__ev *ev);

/* node_loop.c */
void *sn__node_loop(void *arg);
int sn__node_snapshot_read(void *ud, const sn_snapshot_meta *meta,
			   uint64_t offset, void *buf, size_t len,
			   size_t *n_read);

/* node_apply.c */
void *sn__node_apply(void *arg);
void *sn__node_snap(void *arg); /* the snapshot thread (snapshot_live) */
/* On the loop thread: apply a small committed batch right here when the
 * apply thread is idle with nothing queued (one thread hand-off fewer per
 * write at low load); false: hand it to the apply thread as usual. */
bool sn__node_apply_here(sn_node *n, const sn_entry *entries, size_t k);
void sn__node_ap_post(sn_node *n, sn__ap *ap);
void sn__ap_free(sn__ap *ap);
/* Register a proposal at (index, term) / complete every pending one. */
int sn__node_pend_add(sn_node *n, uint64_t index, uint64_t term,
		      sn_node_cb cb, void *ud);
void sn__node_fail_all(sn_node *n, int code);
void sn__node_done(sn_node *n); /* one request completed */

#endif
