/*
 * core/log/memstore.h - the in-memory storage of the simulator (internal,
 * never exported).
 *
 * sn__memstore implements the sn_storage seam with the WAL's rules (it
 * checks appends and installs with the same sn__wal_model), but the caller
 * controls time: every append and install is queued as a pending write, and
 * nothing becomes durable until sn__memstore_sync() says so. A crash
 * (sn__memstore_crash()) drops what is pending, exactly what a power cut
 * does to writes whose fdatasync has not returned.
 *
 *   append/install -> pending (FIFO) --sync(n)--> durable image, cb(SN_OK)
 *                                    --crash()--> dropped, cb never called
 *
 * Callbacks run inside sn__memstore_sync() (or sn_storage_close()), on the
 * caller's thread; a callback may call back into the storage. Compaction
 * (sn_storage_compact) acts on the durable image at once, like the WAL's
 * segment deletion it stands for; the caller must only compact behind a
 * durable snapshot.
 *
 * With SN_MUTANTS and sn__mutant == SN__MUTANT_ACK_BEFORE_SYNC, an append's
 * callback fires at submission while its data stays pending (and is lost by
 * a crash): the bug the simulator must catch. With
 * SN__MUTANT_DROP_SNAPSHOT_MARKER, sn_storage_snapshot() markers never
 * reach the durable image, so a compacted log recovers without the
 * snapshot covering it.
 *
 * sn__memsnap is the matching snapshot store: complete snapshots by
 * {index, term}, and partial ones being received in chunks (as the snapshot
 * files' temporary files are).
 */
#ifndef SN__LOG_MEMSTORE_H
#define SN__LOG_MEMSTORE_H

#include "../base/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the storage -------------------------------------------------------- */

/* A new, empty storage: the durable image is an empty log, no hard state,
 * no snapshot. Free it with sn_storage_close(). SN_EINVAL, SN_ENOMEM. */
int sn__memstore_open(sn_storage **out);

/* True when `s` is a memstore (the functions below refuse anything else). */
bool sn__memstore_is(const sn_storage *s);

/* Writes queued and not yet durable. */
size_t sn__memstore_pending(const sn_storage *s);

/*
 * Complete the oldest min(n, pending) writes, in order: apply each to the
 * durable image, then call its callback with SN_OK. Writes queued by those
 * callbacks wait for the next call. Returns how many were completed. After
 * sn__memstore_fail(), the first write's callback gets the injected error,
 * every other pending one SN_ESTOPPED, and the storage is stopped.
 */
size_t sn__memstore_sync(sn_storage *s, size_t n);

/*
 * A power cut: drop every pending write (callbacks never called) and forget
 * a stop, as a restarted process reopening its disk would. The durable
 * image, and so sn__memstore_load(), is unchanged.
 */
void sn__memstore_crash(sn_storage *s);

/*
 * The durable image, as sn_wal_open() would recover it. *out's memory
 * belongs to the storage and stays valid until the next sync, compact,
 * crash or close. SN_EINVAL when `s` is not a memstore.
 */
int sn__memstore_load(sn_storage *s, sn_storage_state *out);

/* Make the next sync fail with `code` (SN_EIO, SN_ENOSPC, ...). */
void sn__memstore_fail(sn_storage *s, int code);

/* Counters, for tests and the simulator's report. */
typedef struct sn__memstore_stats {
	uint64_t writes;    /* appends and installs accepted */
	uint64_t synced;    /* writes completed by sync */
	uint64_t dropped;   /* writes dropped by crashes */
	uint64_t early_acks; /* callbacks fired early by the mutant */
} sn__memstore_stats;
void sn__memstore_stats_get(const sn_storage *s, sn__memstore_stats *out);

/* ---- the snapshot store ------------------------------------------------- */

typedef struct sn__memsnap sn__memsnap;

sn__memsnap *sn__memsnap_new(void);
/* NULL is a no-op. */
void sn__memsnap_free(sn__memsnap *ms);

/*
 * Store a complete snapshot (copied): `len` must equal meta->size and the
 * data's CRC32C meta->crc (SN_ECORRUPT otherwise). Like a committed snapshot
 * file, it replaces older complete snapshots (lower {index, term}) and the
 * partial ones at or below its index. SN_EINVAL, SN_ENOMEM.
 */
int sn__memsnap_put(sn__memsnap *ms, const sn_snapshot_meta *meta,
		    const void *data, size_t len);

/*
 * The complete snapshot {index, term}: *meta (voters included) and the data
 * stay valid until the next put, commit or free. SN_ENOTFOUND.
 */
int sn__memsnap_get(const sn__memsnap *ms, uint64_t index, uint64_t term,
		    sn_snapshot_meta *meta, const void **data, size_t *len);
/* The newest complete snapshot, as sn__memsnap_get(). SN_ENOTFOUND. */
int sn__memsnap_latest(const sn__memsnap *ms, sn_snapshot_meta *meta,
		       const void **data, size_t *len);

/*
 * Receive a snapshot in chunks, as the engine hands them out: a chunk at
 * offset 0 starts the partial snapshot `meta` afresh; any other chunk must
 * start where the partial ends (SN_EINVAL otherwise) and stay within
 * meta->size (SN_ETOOLARGE). Partials are keyed by the whole meta.
 */
int sn__memsnap_write(sn__memsnap *ms, const sn_snapshot_meta *meta,
		      uint64_t offset, const void *data, size_t len);
/* Bytes of the partial snapshot `meta` received so far (0 when none). */
uint64_t sn__memsnap_offset(const sn__memsnap *ms, const sn_snapshot_meta *meta);
/*
 * Turn the partial `meta` into a complete snapshot, as sn__memsnap_put()
 * does. SN_ENOTFOUND (no such partial), SN_ECORRUPT (size or CRC; the
 * partial is dropped).
 */
int sn__memsnap_commit(sn__memsnap *ms, const sn_snapshot_meta *meta);
/* Every partial's bytes so far are durable (their chunks were acknowledged
 * after the sync that covers them). */
void sn__memsnap_sync(sn__memsnap *ms);
/*
 * A power cut seen by the partial snapshots, decided by `rand`: each one is
 * lost entirely (1 in 4), or keeps its synced bytes plus a random part of
 * the rest, of which one byte may be damaged (a half-written block).
 */
void sn__memsnap_crash(sn__memsnap *ms, uint64_t (*rand)(void *), void *ud);
/* The partial snapshot of the highest index, as sn__memsnap_get() (data
 * and len: what was received so far). SN_ENOTFOUND. */
int sn__memsnap_partial_latest(const sn__memsnap *ms, sn_snapshot_meta *meta,
			       const void **data, size_t *len);
/* Drop every partial snapshot (a crash that lost the temporary files). */
void sn__memsnap_drop_partials(sn__memsnap *ms);
/* Number of complete and of partial snapshots held. */
size_t sn__memsnap_count(const sn__memsnap *ms, bool partial);

#ifdef __cplusplus
}
#endif

#endif
