/*
 * core/store/store.h - the replicated key-value store (internal, not
 * installed, nothing here is exported).
 *
 * The deterministic state machine every replica applies committed log
 * entries to: etcd v3's data model (bytes keys and values, a cluster-wide
 * revision, per key create/mod revision, version and lease id) kept in LMDB.
 * The data and the index/term of the last applied entry are written in the
 * same LMDB transaction, so after a crash the node replays its WAL from
 * sn__store_applied(). See docs/store.md.
 *
 * Durability: the store is a cache of the newest snapshot plus the WAL.
 * Commits are not synced (MDB_NOSYNC): a killed process loses nothing that
 * was committed (the page cache keeps it), and the WAL, which is synced,
 * holds every entry after the newest durable snapshot. Only a machine
 * restart can lose unsynced pages, and then LMDB may be torn: so the file
 * `store.state` next to data.mdb records the boot id of the run that last
 * opened the store and whether it closed cleanly (after a full sync). An
 * open that finds an unclean close from another boot discards data.mdb and
 * starts empty (applied 0); the node then restores its newest local
 * snapshot and replays the WAL. A store without the file (written by a
 * version that synced every commit) is kept.
 *
 * Threads: one writer at a time (the node's apply thread, or its loop
 * thread for a batch of up to 256 entries, never both at once; a batch's apply_pending
 * and commit run on the same thread, as LMDB's write transactions need)
 * calls sn__store_apply,
 * sn__store_snapshot and sn__store_restore; sn__store_get, sn__store_range,
 * sn__store_applied and sn__store_revision may be called from any thread,
 * concurrently with the writer (reads never block writes). open/close are
 * not concurrent with anything.
 *
 * Errors: SN_OK or a negative sn_error_code, with a detail in sn_errmsg().
 */
#ifndef SN__STORE_H
#define SN__STORE_H

#include <senate/senate.h>
#include <senate/sys/engine.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sn__store sn__store;

/* Defaults of the options left 0. */
#define SN__STORE_BOOT_ID_PATH "/proc/sys/kernel/random/boot_id"
#define SN__STORE_DEFAULT_MAP_SIZE ((size_t)1 << 30)      /* 1 GiB */
#define SN__STORE_DEFAULT_MAX_KEY 4096u                   /* 4 KiB */
#define SN__STORE_DEFAULT_MAX_VALUE (1024u * 1024u)       /* 1 MiB */
#define SN__STORE_DEFAULT_CLIENT_IDLE 100000u             /* log entries */

/*
 * Hard bounds of the command codec (a decoder refuses more): compares and
 * ops per branch of a transaction, and the largest key / value a command
 * may carry at all (the configurable limits below must stay under them).
 */
#define SN__STORE_MAX_TXN_OPS 128
#define SN__STORE_KEY_HARD_MAX (64u * 1024u)
#define SN__STORE_VALUE_HARD_MAX (64u * 1024u * 1024u)

typedef struct sn__store_options {
	const char *dir;          /* created if missing; holds data.mdb */
	size_t map_size;          /* LMDB map size; 0 = 1 GiB */
	uint32_t max_key_bytes;   /* 0 = 4 KiB; larger keys: SN_ETOOLARGE */
	uint32_t max_value_bytes; /* 0 = 1 MiB; larger values: SN_ETOOLARGE */
	/* A client whose last deduplicated command is more than this many
	 * log entries behind the entry being applied is forgotten (its
	 * retries are then applied again). 0 = 100000. Must be the same on
	 * every replica, like the size limits. */
	uint64_t client_idle_entries;
	/* Tests: no fdatasync at all, not even at close. */
	bool no_sync;
	/* Where the machine's boot id is read; NULL = /proc/sys/kernel/
	 * random/boot_id. Tests point it at a file of their own to play a
	 * machine restart. When it cannot be read, every commit is synced. */
	const char *boot_id_path;
} sn__store_options;

/* Open (or create) the store in o->dir. *out is NULL on failure. */
int sn__store_open(sn__store **out, const sn__store_options *o);
/* Close; NULL is a no-op. No call may be in flight. */
void sn__store_close(sn__store *st);

/* Index (and, when term != NULL, term) of the last applied entry; 0 if
 * none. Any thread. */
uint64_t sn__store_applied(const sn__store *st, uint64_t *term);
/* The current revision (0 before the first write). Any thread. */
uint64_t sn__store_revision(const sn__store *st);
/* The directory the store lives in (o->dir). */
const char *sn__store_dir(const sn__store *st);

/* ---- commands: the bytes of the log entries ------------------------- */

enum sn__store_op_type {
	SN__STORE_OP_PUT = 1,
	SN__STORE_OP_DELETE = 2, /* delete-range */
	SN__STORE_OP_RANGE = 3   /* only inside a transaction */
};

enum sn__store_cmp_target {
	SN__STORE_CMP_VALUE = 1,
	SN__STORE_CMP_VERSION = 2,
	SN__STORE_CMP_CREATE = 3, /* create_revision */
	SN__STORE_CMP_MOD = 4,    /* mod_revision */
	SN__STORE_CMP_LEASE = 5
};

enum sn__store_cmp_result {
	SN__STORE_CMP_EQUAL = 1,
	SN__STORE_CMP_NOT_EQUAL = 2,
	SN__STORE_CMP_LESS = 3,
	SN__STORE_CMP_GREATER = 4
};

/*
 * One compare of a transaction: `target` of the key `key` compared with
 * `value` (SN__STORE_CMP_VALUE, bytewise) or `number` (the others). A
 * missing key has version, revisions and lease 0; a value compare on a
 * missing key is false (as etcd).
 */
typedef struct sn__store_cmp {
	uint8_t target; /* sn__store_cmp_target */
	uint8_t result; /* sn__store_cmp_result */
	const void *key;
	size_t klen;
	const void *value;
	size_t vlen;
	uint64_t number;
} sn__store_cmp;

/*
 * One operation. Ranges are [key, end): end empty (elen 0) = the key alone,
 * end "\0" (one zero byte) = every key >= key, as etcd.
 *   PUT:    key, value, lease, prev_kv
 *   DELETE: key, end, prev_kv
 *   RANGE:  key, end, limit (0 = none), keys_only, count_only
 */
typedef struct sn__store_op {
	uint8_t type; /* sn__store_op_type */
	const void *key;
	size_t klen;
	const void *end;
	size_t elen;
	const void *value;
	size_t vlen;
	uint64_t lease;
	uint64_t limit;
	bool prev_kv;
	bool keys_only;
	bool count_only;
} sn__store_op;

/*
 * Encoders. `out` is SN_BUF_INIT or a buffer filled earlier (its contents
 * are replaced; release with sn_buf_dispose). client_id 0 = no dedup;
 * otherwise seq must grow by one or more per new command of the client,
 * starting at 1. Return SN_OK, SN_ENOMEM, or SN_EINVAL / SN_ETOOLARGE for
 * what no store could ever accept (counts, hard bounds); the configured
 * limits and empty keys are checked when the command is applied.
 */
int sn__store_cmd_put(sn_buf *out, uint64_t client_id, uint64_t seq,
		      const void *key, size_t klen, const void *val,
		      size_t vlen, uint64_t lease, bool prev_kv);
int sn__store_cmd_delete_range(sn_buf *out, uint64_t client_id, uint64_t seq,
			       const void *key, size_t klen, const void *end,
			       size_t elen, bool prev_kv);
/* If all compares hold, run `success`, else `failure`, in order. */
int sn__store_cmd_txn(sn_buf *out, uint64_t client_id, uint64_t seq,
		      const sn__store_cmp *cmps, size_t n_cmps,
		      const sn__store_op *success, size_t n_success,
		      const sn__store_op *failure, size_t n_failure);

enum sn__store_cmd_type {
	SN__STORE_CMD_PUT = 1,
	SN__STORE_CMD_DELETE = 2,
	SN__STORE_CMD_TXN = 3
};

/* A decoded command; its pointers point into the decoded bytes. */
typedef struct sn__store_cmd {
	uint8_t type; /* sn__store_cmd_type */
	uint64_t client_id;
	uint64_t seq;
	sn__store_op op; /* PUT / DELETE */
	size_t n_cmps, n_success, n_failure; /* TXN */
	sn__store_cmp cmps[SN__STORE_MAX_TXN_OPS];
	sn__store_op success[SN__STORE_MAX_TXN_OPS];
	sn__store_op failure[SN__STORE_MAX_TXN_OPS];
} sn__store_cmd;

/* Decode; SN_EMALFORMED (with a message) for anything but a well-formed
 * command using every byte. Never reads past data + len. */
int sn__store_cmd_decode(sn__store_cmd *out, const void *data, size_t len);

/* ---- results -------------------------------------------------------- */

/* A key-value pair of a result; the bytes belong to the result. */
typedef struct sn__store_kv {
	const uint8_t *key;
	size_t klen;
	const uint8_t *value; /* NULL for keys_only / count_only */
	size_t vlen;
	uint64_t create_revision;
	uint64_t mod_revision;
	uint64_t version;
	uint64_t lease;
} sn__store_kv;

/* The response of one operation. */
typedef struct sn__store_resp {
	uint8_t type;   /* sn__store_op_type */
	uint64_t count; /* RANGE: keys in the range; DELETE: keys deleted */
	bool more;      /* RANGE: the limit cut the list */
	sn__store_kv *kvs; /* RANGE: the keys; PUT/DELETE: prev kvs if asked */
	size_t n_kvs;
} sn__store_resp;

/*
 * The result of one applied entry. status SN_OK or the code of a refused
 * command (message then says why; a refused command changed nothing).
 * `raw` holds the encoded result (the bytes the dedup table keeps; two
 * replicas give equal bytes) and every byte the pointers point to.
 */
typedef struct sn__store_result {
	int status;
	const char *message;   /* "" when status is SN_OK */
	uint64_t revision;     /* store revision after the command */
	bool succeeded;        /* TXN: the compares held */
	bool duplicate;        /* a retry: the stored result of its first run */
	bool skipped;          /* index <= applied: nothing done, rest empty */
	sn__store_resp *resps; /* PUT/DELETE: 1; TXN: one per op run */
	size_t n_resps;
	sn_buf raw;
} sn__store_result;

void sn__store_result_dispose(sn__store_result *r);

/*
 * Decode the encoded result of one entry (the bytes a node's proposer gets
 * back, as `raw` above) into *out: the bytes are copied into out->raw and
 * the other fields point into it (duplicate and skipped are not encoded:
 * they stay false). Dispose *out in any case. SN_OK, SN_ENOMEM, or
 * SN_EMALFORMED when the bytes are not a store result.
 */
int sn__store_result_decode(sn__store_result *out, const void *data,
			    size_t len);

/*
 * Apply committed entries (in index order, the first at most applied+1) in
 * one LMDB write transaction that also records the last one's index/term.
 * Entries at or below the applied index are skipped; NOOP entries only
 * advance it. results[i] (n of them, may be NULL when the caller needs
 * none) receives the result of entries[i]; dispose each.
 * Returns SN_OK when the batch was applied, whatever the single commands'
 * statuses; SN_EINVAL for a gap in the indexes; SN_ENOSPC when the map is
 * full, SN_EIO / SN_ENOMEM / SN_ECORRUPT otherwise: then nothing of the
 * batch was applied and the results are empty (the node should stop).
 * Writer thread only.
 */
int sn__store_apply(sn__store *st, const sn_entry *entries, size_t n,
		    sn__store_result *results);

/*
 * sn__store_apply() without the commit: the batch's transaction stays open
 * (invisible to readers, the revision and applied index unchanged) until
 * sn__store_commit(). The node hands the results to the proposers in
 * between, so they do not wait for LMDB's sync. Any later write call
 * (apply, snapshot, restore) commits a pending batch first; close aborts
 * it (the WAL has the entries). Writer thread only.
 */
int sn__store_apply_pending(sn__store *st, const sn_entry *entries, size_t n,
			    sn__store_result *results);
/* Commit the pending batch, if any: SN_OK, or an error as for apply (the
 * batch is then lost from the store; the node must stop). */
int sn__store_commit(sn__store *st);

/* ---- reads (any thread, read transaction, never block the writer) ---- */

typedef struct sn__store_read {
	uint64_t revision; /* store revision the read saw */
	sn__store_kv *kvs;
	size_t n_kvs;
	uint64_t count; /* keys in the range (count_only: only this) */
	bool more;      /* more than `limit` keys */
	sn_buf raw;     /* the bytes the kvs point to */
} sn__store_read;

void sn__store_read_dispose(sn__store_read *r);

#define SN__STORE_KEYS_ONLY 1u
#define SN__STORE_COUNT_ONLY 2u

/* One key: SN_OK with n_kvs == 1, or SN_ENOTFOUND. */
int sn__store_get(sn__store_read *out, sn__store *st, const void *key,
		  size_t klen);
/*
 * Keys in [key, end) (end as for sn__store_op), in key order, at most
 * `limit` (0 = all). revision: 0 = current; only the current revision is
 * kept, so any other one gives SN_ENOTSUP. flags: SN__STORE_KEYS_ONLY,
 * SN__STORE_COUNT_ONLY.
 */
int sn__store_range(sn__store_read *out, sn__store *st, const void *key,
		    size_t klen, const void *end, size_t elen, uint64_t limit,
		    uint64_t revision, unsigned flags);

/* ---- snapshots (writer thread) ---------------------------------------- */

/*
 * Write a compacted consistent copy of the store to fd (from its current
 * offset) and report the applied index/term it covers. The caller syncs fd.
 */
int sn__store_snapshot(sn__store *st, int fd, uint64_t *index, uint64_t *term);

/*
 * The same copy from any thread, while the writer goes on applying and
 * committing: LMDB copies the newest committed state under a read
 * transaction (what readers see; not a batch still pending), and *index /
 * *term are read back from the copy itself, so they match it exactly.
 * Waits for (and holds up) a restore, like a read. fd must be a regular
 * file opened for reading too.
 */
int sn__store_snapshot_live(sn__store *st, int fd, uint64_t *index,
			    uint64_t *term);

/*
 * Replace the whole store by the copy at copy_path (written by
 * sn__store_snapshot, possibly on another replica). The copy is checked
 * (it must open as a store) before anything is replaced, then renamed into
 * the store's directory: it must be on the same file system (e.g. inside
 * o->dir). On success the copy is consumed. Waits for reads in flight.
 * On a failure after the rename the store is closed for good (SN_ESTATE
 * for every later call but close).
 */
int sn__store_restore(sn__store *st, const char *copy_path);

#ifdef __cplusplus
}
#endif

#endif
