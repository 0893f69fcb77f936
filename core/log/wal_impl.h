/*
 * core/log/wal_impl.h - the write-ahead log's internals, shared by
 * wal.c (open, close, the sn_storage ops), wal_model.c (what the records
 * mean), wal_recover.c (replay), wal_segment.c (files) and wal_thread.c
 * (the storage thread and group commit). Format: wal_record.h.
 */
#ifndef SN__LOG_WAL_IMPL_H
#define SN__LOG_WAL_IMPL_H

#include "../base/storage_impl.h"
#include "wal_fault.h"
#include "wal_record.h"

#include <pthread.h>

/*
 * The log as the records describe it. Recovery replays records into one,
 * the caller's thread keeps one to check appends against (it runs ahead of
 * the disk: it includes what is queued), and the storage thread keeps one
 * of what is on disk, for the checkpoint at the head of a new segment.
 *
 * Entries held: [first, last]; the log is empty when first == last + 1, and
 * `last` is then the index the next entry must follow (the snapshot's
 * index after an install, or a checkpoint's last_index).
 */
typedef struct sn__wal_model {
	uint64_t first;
	uint64_t last;
	uint64_t last_term;
	sn_hard_state hs;
	bool has_snapshot;
	sn_snapshot_meta snap; /* snap.voters points to `voters` */
	uint64_t *voters;
	size_t voters_cap;
} sn__wal_model;

void sn__wal_model_init(sn__wal_model *m);
void sn__wal_model_free(sn__wal_model *m);
/* Adopt a segment's checkpoint as the start of a replay. */
void sn__wal_model_start(sn__wal_model *m, const sn__wal_checkpoint *cp);
/* SN_OK when an entry at `index` may be written now, else SN_EINVAL with
 * a message (the caller adds context). */
int sn__wal_model_check_entry(const sn__wal_model *m, uint64_t index);
/* The replay's (weaker) rule: a writer that knew older segments may have
 * replaced entries that come before the first one a replay of a compacted
 * log sees, so only the gap and the snapshot are checked. Anything
 * sn__wal_model_check_entry() accepts, this accepts. */
int sn__wal_model_check_replayed(const sn__wal_model *m, uint64_t index);
void sn__wal_model_entries(sn__wal_model *m, uint64_t first_index,
			   uint64_t last_index, uint64_t last_term);
/* SN_OK when the snapshot `meta` may be recorded now: installed (`reset`:
 * not older than the current snapshot) or taken locally (also: the log
 * reaches its index, and it is not the current snapshot with another
 * term). Else SN_EINVAL with a message. */
int sn__wal_model_check_snapshot(const sn__wal_model *m,
				 const sn_snapshot_meta *meta, bool reset);
/* Record a snapshot; `reset` also empties the log after its index.
 * voters come from meta->voters or, when NULL, voters_le. SN_ENOMEM. */
int sn__wal_model_snapshot(sn__wal_model *m, const sn_snapshot_meta *meta,
			   const uint8_t *voters_le, bool reset);
/* Make room for a snapshot of n_voters, so that recording it cannot fail. */
int sn__wal_model_reserve(sn__wal_model *m, size_t n_voters);
int sn__wal_model_copy(sn__wal_model *dst, const sn__wal_model *src);

/* A segment on disk: its seq and its checkpoint's last_index. */
typedef struct sn__wal_seg {
	uint64_t seq;
	uint64_t cp_last;
} sn__wal_seg;

/* What sn_wal_open() recovered and what it must repair. */
typedef struct sn__wal_recovery {
	sn__wal_model model;
	sn_entry *entries; /* [model.first, model.last]; data in `arena` */
	size_t n_entries, entries_cap;
	uint8_t *arena;
	size_t arena_len, arena_cap;
	sn__wal_seg *segs;
	size_t n_segs, segs_cap;
	uint64_t end;        /* where the last kept segment's frames end */
	uint64_t last_size;  /* the last segment's file size */
	bool drop_last;      /* the last segment holds nothing valid */
	bool truncate_last;  /* cut the last segment's torn tail at `end` */
	char **temps;        /* leftover temporary files to remove */
	size_t n_temps, temps_cap;
} sn__wal_recovery;

/* A queued write (or compaction), owned by the queue until its callback. */
enum { SN__WAL_REQ_WRITE, SN__WAL_REQ_COMPACT };
typedef struct sn__wal_req {
	struct sn__wal_req *next;
	int kind;
	uint8_t *buf; /* encoded records */
	size_t len;
	uint32_t n_records;
	sn_storage_cb cb;
	void *userdata;
	/* What the records do, for the storage thread's model. */
	bool has_hs;
	sn_hard_state hs;
	uint64_t first_index, last_index, last_term; /* entries, if last */
	sn_snapshot_meta *install; /* a snapshot, with its voters, or NULL */
	bool snap_reset;           /* installed (the log restarts) or taken */
	uint64_t compact_index;
} sn__wal_req;

typedef struct sn__wal {
	sn_storage base;
	char *dir;
	int dirfd;
	uint64_t segment_bytes;
	size_t max_batch_bytes;
	size_t queue_limit;
	bool no_sync;
	bool inline_writes;   /* writes on the caller's thread (under mu:
				 sn__wal_open_inline, sn__wal_set_inline) */

	/* The caller's side. */
	sn__wal_model model;
	sn__wal_recovery *recovered; /* until the first mutating call */

	/* The queue, shared: everything below `mu` is guarded by it. */
	pthread_mutex_t mu;
	pthread_cond_t work;  /* the storage thread waits for requests */
	pthread_cond_t space; /* appenders wait for queue room */
	pthread_cond_t idle;  /* an inline appender waits for `draining` */
	bool draining;        /* a thread is writing batches (one at a time) */
	sn__wal_req *head, *tail;
	size_t queued_bytes;
	bool closing;
	int err;              /* the first failure, SN_OK while healthy */
	char errmsg[256];

	/* The storage thread's side. */
	pthread_t thread;
	bool thread_started;
	sn__wal_model disk;   /* the log as written so far */
	sn__wal_seg *segs;    /* every segment, oldest first */
	size_t n_segs, segs_cap;
	int fd;               /* the active (last) segment */
	uint64_t off;         /* where its next frame goes */
	uint64_t cap;         /* its allocated size */
	struct iovec *iov;
	size_t iov_cap;
} sn__wal;

/* wal_recover.c */
int sn__wal_recover(sn__wal_recovery *rec, int dirfd, const char *dir);
void sn__wal_recovery_free(sn__wal_recovery *rec);
/* Carry out the repairs recovery decided on (temp files, a torn tail). */
int sn__wal_repair(sn__wal *w, sn__wal_recovery *rec);

/* wal_segment.c */
/* Map errno to SN_ENOSPC / SN_EIO. */
int sn__wal_errno_code(int e);
/* Create, preallocate and durably name segment `seq`, starting with a
 * checkpoint of w->disk (prev_end = where the previous segment ended),
 * and make it the active one. Enough room for a frame of `need` bytes. */
int sn__wal_segment_create(sn__wal *w, uint64_t seq, uint64_t prev_end,
			   uint64_t need);
/* Open the last recovered segment for appending at `end`. */
int sn__wal_segment_resume(sn__wal *w, uint64_t seq, uint64_t end);
/* Delete whole segments made unnecessary by compaction through `index`. */
void sn__wal_segments_compact(sn__wal *w, uint64_t index);
int sn__wal_write_all(int fd, struct iovec *iov, int n, uint64_t off);
int sn__wal_sync(sn__wal *w, int fd);

/* wal_thread.c */
int sn__wal_thread_start(sn__wal *w);
/* Drain the queue and join the thread. */
void sn__wal_thread_stop(sn__wal *w);
/* Queue a request (blocking while the queue is full). Consumes `req` on
 * success; on failure the caller still owns it. */
int sn__wal_enqueue(sn__wal *w, sn__wal_req *req);
void sn__wal_req_free(sn__wal_req *req);
/* Enter the stopped state (first error wins); returns the error code. */
int sn__wal_fail(sn__wal *w, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
