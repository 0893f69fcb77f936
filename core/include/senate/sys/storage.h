/*
 * senate/sys/storage.h - the storage seam: the durable log and snapshots.
 *
 * Stability: stable within a minor version.
 *
 * A storage keeps what an engine needs after a crash: the hard state, the log
 * entries and the marker of the latest installed snapshot. Senate ships one
 * disk implementation, the write-ahead log (sn_wal_open(), core/log/); the
 * simulator uses an in-memory one with the same semantics.
 *
 * Writes are asynchronous and batched: sn_storage_append() queues a write and
 * returns; a storage thread writes everything queued so far and covers it
 * with one fdatasync (group commit), then calls each write's callback, in
 * submission order. Nothing that depends on a write may be acknowledged
 * before its callback reports SN_OK. One exception: a write whose only
 * change is the hard state's commit index may complete without a sync of
 * its own (the commit index is not needed for safety: after a crash
 * recovery may return an older one, and the engine learns it again); it
 * becomes durable with the next synced write. Entries, term, vote and
 * snapshot markers are always synced before their callback.
 *
 * Faults are not hidden: when a write or a sync fails (EIO, ENOSPC, ...) the
 * storage stops. That write's callback and every later one report the error
 * (later ones SN_ESTOPPED), every later call returns SN_ESTOPPED, and
 * sn_errmsg() / sn_storage_error() say what failed. It never retries a
 * failed fsync: after one, the page cache may have dropped the data.
 *
 * Thread-safety: the calls of one sn_storage must come from one thread at a
 * time (the node's loop thread); callbacks run on the storage thread.
 */
#ifndef SENATE_SYS_STORAGE_H
#define SENATE_SYS_STORAGE_H

#include <senate/common.h>
#include <senate/sys/engine.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sn_storage sn_storage;

/* What sn_storage_open-style constructors recovered. */
typedef struct sn_storage_state {
	sn_hard_state hard_state;
	int has_snapshot;          /* a snapshot was installed or taken */
	sn_snapshot_meta snapshot; /* valid when has_snapshot */
	/* The log after recovery: consecutive entries. The first entry's index
	 * is 1 without a snapshot; with one it is <= snapshot.index + 1 (a
	 * compacted log keeps a trailing window behind the snapshot). A
	 * caller that records each snapshot it takes with
	 * sn_storage_snapshot() before sn_storage_compact() always finds
	 * here the snapshot covering what compaction dropped. */
	const sn_entry *entries;
	size_t n_entries;
} sn_storage_state;

/* Completion of an asynchronous write: `status` is SN_OK once durable. */
typedef void (*sn_storage_cb)(void *userdata, int status);

typedef struct sn_wal_options {
	unsigned version;        /* SN_WAL_OPTIONS_VERSION */
	const char *dir;         /* the WAL's directory (created if missing) */
	uint64_t segment_bytes;  /* [64 MiB] preallocated segment size, >= 1 KiB
				    (a larger batch gets a segment of its own) */
	size_t max_batch_bytes;  /* [8 MiB] bytes covered by one fdatasync,
				    <= 1 GiB; appends wait once 4x this is
				    queued */
	int no_sync;             /* [0] skip fdatasync: tests/benchmarks only */
} sn_wal_options;

#define SN_WAL_OPTIONS_VERSION 1
#define SN_WAL_OPTIONS_INIT { SN_WAL_OPTIONS_VERSION, NULL, 64u << 20, 8u << 20, 0 }

/* Initialise *opts to the defaults. SN_EINVAL for an unknown version.
 * A zero segment_bytes or max_batch_bytes also means the default. */
SN_API int sn_wal_options_init(sn_wal_options *opts, unsigned version);

/*
 * Open (or create) the write-ahead log in opts->dir and recover it: replay
 * the segments, truncate a torn tail (logged at SN_LOG_WARN with file and
 * offset), delete segments and temporary files a crash left behind, and
 * start the storage thread. On success *out owns the storage and *state
 * describes the recovered log; *state's memory belongs to the storage and
 * stays valid until the next append, install, compact or close. The
 * directory is locked (flock) while the storage is open. Callbacks run on
 * the storage thread: they must not call sn_storage_* on this storage (hand
 * the completion over to the caller's thread). The format and the recovery
 * rules are in docs/storage-format.md.
 * Errors: SN_EINVAL (options), SN_ECORRUPT (a bad record before the tail, a
 * gap between segments: sn_errmsg() names the file and byte offset; nothing
 * was changed on disk), SN_EBUSY (another open WAL holds the directory),
 * SN_EIO, SN_ENOMEM.
 */
SN_API int sn_wal_open(sn_storage **out, sn_storage_state *state,
		       const sn_wal_options *opts);

/*
 * Queue a write: the hard state (if `hs` is not NULL) and then `n` entries,
 * which replace any stored entries at index >= entries[0].index. The bytes
 * are copied before the call returns. `cb(userdata, status)` runs on the
 * storage thread once the write is durable (or failed). With neither a hard
 * state nor entries, cb runs once everything queued before is durable.
 * `cb` may be NULL. Returns SN_OK, SN_ESTOPPED (after an earlier failure;
 * cb is not called), SN_EINVAL (the entries do not continue the log),
 * SN_ETOOLARGE (the write exceeds 2 GiB), SN_EBUSY (the WAL's queue stayed
 * full for 10 s: the call blocks while it is full), SN_ENOMEM.
 */
SN_API int sn_storage_append(sn_storage *s, const sn_hard_state *hs,
			     const sn_entry *entries, size_t n,
			     sn_storage_cb cb, void *userdata);

/*
 * Queue the marker of an installed snapshot: the log is reset to start after
 * meta->index (every stored entry is dropped) and the meta (copied) becomes
 * the recovered snapshot. Call it after the snapshot file is durable.
 * Completion and errors as for sn_storage_append().
 */
SN_API int sn_storage_install(sn_storage *s, const sn_snapshot_meta *meta,
			      sn_storage_cb cb, void *userdata);

/*
 * Queue the marker of a snapshot the caller took of its own state machine
 * (its file is already durable): the log is unchanged, and from then on
 * recovery returns `meta` (copied) as the snapshot, so that a log compacted
 * behind it (sn_storage_compact()) is always covered by the snapshot that
 * sn_storage_state names. meta->index must be within the log (<= its last
 * index; the entry there, when it is the last one, has meta->term) and not
 * below the current snapshot's. Completion and errors as for
 * sn_storage_append(); SN_EINVAL when those rules are broken.
 */
SN_API int sn_storage_snapshot(sn_storage *s, const sn_snapshot_meta *meta,
			       sn_storage_cb cb, void *userdata);

/*
 * Allow the storage to drop entries with index <= `index` (which must be
 * covered by a durable snapshot). The WAL deletes whole segments, so some
 * of those entries may remain; it does so on the storage thread, after the
 * writes queued before. Returns SN_OK or SN_ESTOPPED.
 */
SN_API int sn_storage_compact(sn_storage *s, uint64_t index);

/*
 * The first error that stopped the storage (SN_OK while healthy), with its
 * message copied into `buf` of `len` bytes when `buf` is not NULL.
 */
SN_API int sn_storage_error(sn_storage *s, char *buf, size_t len);

/*
 * Wait for queued writes (their callbacks run), stop the storage thread and
 * free everything. NULL is a no-op.
 */
SN_API void sn_storage_close(sn_storage *s);

/* ---- snapshot files ---------------------------------------------------- */

typedef struct sn_snapshot_writer sn_snapshot_writer;
typedef struct sn_snapshot_reader sn_snapshot_reader;

/*
 * Start (or resume) writing the snapshot `meta` into directory `dir`. Data
 * goes to a temporary file; a temporary file for the same {index, term,
 * size, crc} left by an earlier attempt is resumed, and
 * sn_snapshot_writer_offset() tells where to continue.
 * Errors: SN_EINVAL, SN_EIO, SN_ENOMEM.
 */
SN_API int sn_snapshot_writer_open(sn_snapshot_writer **out, const char *dir,
				   const sn_snapshot_meta *meta);

/*
 * Reopen the transfer that a crash or a restart interrupted in `dir`: the
 * temporary file of the highest index (the caller ignores it when its index
 * is not above the snapshot it already holds). *meta_out describes the
 * snapshot being received (its voters belong to the writer);
 * sn_snapshot_writer_offset() and sn_snapshot_writer_crc() say how far it
 * got - pass them to the engine (e.g. sn_raft_options.snapshot_partial_*)
 * so the leader continues there. Bytes that were written but not synced
 * before a crash may be missing or wrong: a wrong one makes the whole
 * CRC32C fail at the end and the transfer start over. A temporary file
 * whose header is unreadable is removed.
 * Errors: SN_ENOTFOUND (nothing to resume), SN_EIO, SN_ENOMEM.
 */
SN_API int sn_snapshot_writer_resume(sn_snapshot_writer **out,
				     sn_snapshot_meta *meta_out,
				     const char *dir);

/* Bytes already written (the offset the next write must start at). */
SN_API uint64_t sn_snapshot_writer_offset(const sn_snapshot_writer *w);

/* CRC32C of the bytes already written. */
SN_API uint32_t sn_snapshot_writer_crc(const sn_snapshot_writer *w);

/*
 * Write `len` bytes at `offset`, which must equal the writer's offset, or be
 * 0 to start the file over (SN_EINVAL otherwise; beyond meta->size is
 * SN_ETOOLARGE). The bytes reach the disk at the next
 * sn_snapshot_writer_sync() or commit. Errors: SN_EIO, SN_ENOSPC; after a
 * failed write or sync every later call returns SN_ESTOPPED (a failed
 * fdatasync is never retried).
 */
SN_API int sn_snapshot_write(sn_snapshot_writer *w, uint64_t offset,
			     const void *data, size_t len);

/* Make everything written so far durable (fdatasync). */
SN_API int sn_snapshot_writer_sync(sn_snapshot_writer *w);

/*
 * Finish: check size and CRC32C against the meta (SN_ECORRUPT on mismatch;
 * the temporary file is removed), fsync, rename into place, fsync the
 * directory, and free the writer - also when it fails. Older snapshots in
 * `dir` are deleted.
 */
SN_API int sn_snapshot_writer_commit(sn_snapshot_writer *w);

/* Free the writer, keeping its temporary file for a later resume. */
SN_API void sn_snapshot_writer_close(sn_snapshot_writer *w);

/*
 * Open the newest complete snapshot in `dir` and verify its checksum.
 * On success *meta_out describes it (its voters array belongs to the
 * reader). Errors: SN_ENOTFOUND (none), SN_ECORRUPT (checksum or metadata
 * mismatch: file named in sn_errmsg()), SN_EIO, SN_ENOMEM.
 */
SN_API int sn_snapshot_reader_open(sn_snapshot_reader **out,
				   sn_snapshot_meta *meta_out, const char *dir);

/* Read up to `len` bytes at `offset`; *n_out is 0 at the end. */
SN_API int sn_snapshot_read(sn_snapshot_reader *r, uint64_t offset, void *buf,
			    size_t len, size_t *n_out);

/* Close a reader. NULL is a no-op. */
SN_API void sn_snapshot_reader_close(sn_snapshot_reader *r);

#ifdef __cplusplus
}
#endif

#endif
