/*
 * core/base/storage_impl.h - how a storage plugs into the sn_storage seam.
 * Each implementation (the WAL in core/log/wal.c, the in-memory store of the
 * simulator) fills one sn__storage_ops table; the public sn_storage_*
 * functions in storage.c check their arguments and dispatch through it.
 */
#ifndef SN__STORAGE_IMPL_H
#define SN__STORAGE_IMPL_H

#include "base.h"

typedef struct sn__storage_ops {
	const char *name;
	/* Arguments are already checked: entries (when n > 0) are non-NULL,
	 * have consecutive non-zero indexes and data whenever len > 0. Whether
	 * they continue the stored log is the implementation's to check. */
	int (*append)(sn_storage *s, const sn_hard_state *hs,
		      const sn_entry *entries, size_t n, sn_storage_cb cb,
		      void *userdata);
	/* A snapshot installed (`reset`: the log restarts after it) or
	 * taken locally. meta is non-NULL, meta->index > 0, voters non-NULL
	 * if n_voters. */
	int (*snapshot)(sn_storage *s, const sn_snapshot_meta *meta,
			bool reset, sn_storage_cb cb, void *userdata);
	int (*compact)(sn_storage *s, uint64_t index);
	/* buf may be NULL (then len is ignored). */
	int (*error)(sn_storage *s, char *buf, size_t len);
	void (*close)(sn_storage *s);
} sn__storage_ops;

/*
 * sn_wal_open() in inline mode: each append, install, snapshot marker and
 * compaction is written (and synced) on the calling thread before the call
 * returns, and its callback has run (there, or on the storage thread when
 * that was still writing earlier requests) before the return. Group commit
 * is then the caller's: one call per batch. No storage thread until
 * sn__wal_set_inline(false).
 *
 * sn__wal_set_inline(s, false) hands later requests to the storage thread
 * (started then, once) as sn_wal_open() does; true goes back to inline
 * mode. Either way requests are written in order, one batch at a time.
 * Call it from the thread that appends. The node switches by role
 * (docs/node.md): a follower's loop writes inline (its acknowledgement
 * waits for the sync anyway), a leader's loop hands the write over and
 * goes on answering, proposing and sending while the disk syncs.
 */
int sn__wal_open_inline(sn_storage **out, sn_storage_state *state,
			const sn_wal_options *opts);
int sn__wal_set_inline(sn_storage *s, bool on);

/* Every storage struct starts with this header. */
struct sn_storage {
	const sn__storage_ops *ops;
};

#endif
