/*
 * senate/client.h - the C client of a Senate cluster (libsenate-client).
 *
 * A client holds the cluster's client endpoints ("host:port"), finds the
 * leader by itself (a member that is not the leader answers with the
 * leader's address, which the client follows and remembers), fails over to
 * the other endpoints when a member is down, and retries until the call's
 * deadline. Every write carries a request id {client id, sequence number};
 * a retried write (after a lost answer, a timeout or a failover) therefore
 * cannot be applied twice: the cluster answers a retry with the original
 * result.
 *
 *   const char *eps[] = { "127.0.0.1:7001", "127.0.0.1:7002" };
 *   sn_client_options o;
 *   sn_client_options_init(&o, SN_CLIENT_OPTIONS_VERSION);
 *   o.endpoints = eps;
 *   o.n_endpoints = 2;
 *   sn_client *c;
 *   if (sn_client_open(&c, &o) != SN_OK) die(sn_errmsg());
 *   sn_put_result put;
 *   if (sn_client_put(&put, c, "k", 1, "v", 1, 0) == SN_OK)
 *           printf("revision %lld\n", (long long)put.revision);
 *   sn_put_result_dispose(&put);
 *   sn_client_close(c);
 *
 * Errors: every function returns SN_OK or a negative sn_error_code, and
 * leaves a message in sn_errmsg() (the member's own explanation when a
 * member refused the request). What a call returns:
 *   SN_EINVAL      bad argument, or the cluster refused the request as
 *                  invalid (empty or oversized key/value, ...)
 *   SN_ENOTFOUND   sn_client_get(): no such key
 *   SN_ETIMEDOUT   no member answered successfully before the deadline
 *                  (all down, no quorum, no leader elected in time); a
 *                  write may or may not have been applied: retrying it
 *                  with the same client is safe only through the same
 *                  sn_client_* call (each call uses a fresh sequence
 *                  number), so read back to know
 *   SN_EBUSY       the members kept answering that they are overloaded
 *   SN_ENOTSUP     not served (e.g. a read at an old revision)
 *   SN_ESTATE      the cluster refused the write when applying it
 *   SN_ENOMEM, SN_ERROR (an unexpected answer: sn_errmsg() has it)
 *
 * Results come out in structs holding sn_buf bytes; release each with its
 * _dispose function (a disposed or zeroed result may be disposed again).
 * On error, result structs are left zeroed (nothing to dispose, but
 * disposing is harmless).
 *
 * Thread-safety: an sn_client may be used from any number of threads at
 * once (calls run in parallel, each on its own gRPC call); only
 * sn_client_close() must not race with other calls on it.
 *
 * Link with -lsenate-client (it uses libsenate for sn_buf and errors, and
 * the gRPC C core for the wire).
 */
#ifndef SENATE_CLIENT_H
#define SENATE_CLIENT_H

#include <senate/buf.h>
#include <senate/common.h>
#include <senate/errors.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sn_client sn_client;

typedef struct sn_client_options {
	unsigned version;             /* SN_CLIENT_OPTIONS_VERSION */
	/* Client addresses of the members, "host:port" (required, copied).
	 * Members found through leader hints need not be listed. */
	const char *const *endpoints;
	size_t n_endpoints;
	unsigned timeout_ms;      /* [5000] one call, retries included */
	unsigned attempt_ms;      /* [2000] one attempt on one member */
	unsigned backoff_ms;      /* [20] first pause after every member
				     failed; doubles up to 1000 */
	/* The id of the client's first request-id session: [0] a random
	 * one. The cluster remembers the last write of each session, so a
	 * session serves one call at a time: calls running at the same time
	 * use further sessions, with random ids. Two clients must never use
	 * the same id. */
	uint64_t client_id;
	size_t max_receive_bytes; /* [64 MiB] largest answer accepted */
} sn_client_options;

#define SN_CLIENT_OPTIONS_VERSION 1

/* Initialise *opts to the defaults. SN_EINVAL for an unknown version. */
SN_API int sn_client_options_init(sn_client_options *opts,
				  unsigned version);

/*
 * Create a client. No connection is made yet (members may be down; the
 * first call connects). Errors: SN_EINVAL (no endpoints, an empty or
 * over-long endpoint, an unknown options version), SN_ENOMEM.
 */
SN_API int sn_client_open(sn_client **out, const sn_client_options *opts);

/* Close the connections and free the client. NULL is a no-op. */
SN_API void sn_client_close(sn_client *c);

/* The id of this client's first request-id session (opts.client_id or
 * the random one). */
SN_API uint64_t sn_client_id(const sn_client *c);

/* --------------------------------------------------------------- KV --- */

/* One key and its metadata (etcd's v3 model). */
typedef struct sn_kv {
	sn_buf key;
	sn_buf value;            /* empty with SN_CLIENT_KEYS_ONLY */
	int64_t create_revision; /* revision of the key's creation */
	int64_t mod_revision;    /* revision of its last write */
	int64_t version;         /* writes since its creation (1 = new) */
	int64_t lease;
} sn_kv;

/* Release the bytes of *kv and zero it. NULL is a no-op. */
SN_API void sn_kv_dispose(sn_kv *kv);

/* Flags of the calls below (or-ed; each call says which it honours). */
#define SN_CLIENT_SERIALIZABLE 0x1u /* a read any member answers from its
				       own state: fast, possibly stale */
#define SN_CLIENT_PREV_KV 0x2u      /* return the previous key-value(s) */
#define SN_CLIENT_PREFIX 0x4u       /* range/delete: every key starting
				       with `key` (range_end is ignored) */
#define SN_CLIENT_KEYS_ONLY 0x8u    /* range: no values */
#define SN_CLIENT_COUNT_ONLY 0x10u  /* range: only the count */

typedef struct sn_put_result {
	int64_t revision;  /* the revision this write created */
	int has_prev;      /* SN_CLIENT_PREV_KV was given and the key
			      existed: prev holds it */
	sn_kv prev;
} sn_put_result;

SN_API void sn_put_result_dispose(sn_put_result *r);

/*
 * Write `value` under `key` (1 byte or more). Flags: SN_CLIENT_PREV_KV.
 * `out` may be NULL. Linearizable; applied exactly once even when retried.
 */
SN_API int sn_client_put(sn_put_result *out, sn_client *c, const void *key,
			 size_t key_len, const void *value, size_t value_len,
			 unsigned flags);

/*
 * Read one key into *out (dispose it). SN_ENOTFOUND when it does not exist
 * (*out zeroed). Flags: SN_CLIENT_SERIALIZABLE (otherwise linearizable:
 * the answer reflects every write acknowledged before the call).
 */
SN_API int sn_client_get(sn_kv *out, sn_client *c, const void *key,
			 size_t key_len, unsigned flags);

typedef struct sn_range_result {
	sn_kv *kvs;        /* n of them, in key order */
	size_t n;
	int more;          /* `limit` cut the list */
	int64_t count;     /* keys in the range (all of them) */
	int64_t revision;  /* the store's revision when answered */
} sn_range_result;

SN_API void sn_range_result_dispose(sn_range_result *r);

/*
 * The keys in [key, range_end) in order, at most `limit` (0: all).
 * range_end empty: the key alone; range_end "\0" (one zero byte): every key
 * >= key. Flags: SN_CLIENT_PREFIX, SN_CLIENT_SERIALIZABLE,
 * SN_CLIENT_KEYS_ONLY, SN_CLIENT_COUNT_ONLY. An empty range is SN_OK with
 * n == 0.
 */
SN_API int sn_client_range(sn_range_result *out, sn_client *c,
			   const void *key, size_t key_len,
			   const void *range_end, size_t range_end_len,
			   int64_t limit, unsigned flags);

typedef struct sn_delete_result {
	int64_t deleted;   /* keys deleted (0: none existed) */
	int64_t revision;  /* the store's revision after the delete */
	sn_kv *prev;       /* with SN_CLIENT_PREV_KV: the deleted keys */
	size_t n_prev;
} sn_delete_result;

SN_API void sn_delete_result_dispose(sn_delete_result *r);

/*
 * Delete `key`, or the keys in [key, range_end) (same rules as
 * sn_client_range). Flags: SN_CLIENT_PREFIX, SN_CLIENT_PREV_KV. `out` may
 * be NULL. Applied exactly once even when retried.
 */
SN_API int sn_client_delete(sn_delete_result *out, sn_client *c,
			    const void *key, size_t key_len,
			    const void *range_end, size_t range_end_len,
			    unsigned flags);

/* ----------------------------------------------------------- Cluster --- */

typedef struct sn_member_info {
	uint64_t id;
	char peer_address[128];
	char client_address[128];
	int role;          /* an sn_role (sys/engine.h), or -1: unknown to the
			      member that answered */
	/* Filled for the member that answered (self != 0), 0 otherwise. */
	uint64_t term;     /* term (Raft) or ballot (Multi-Paxos) */
	uint64_t commit;
	uint64_t applied;
	uint64_t leader_id;
	int self;
} sn_member_info;

typedef struct sn_cluster_status {
	uint64_t member_id; /* the member that answered */
	uint64_t group;
	uint64_t leader_id; /* 0: no leader known to it */
	uint64_t term;
	char engine[16];    /* "raft" or "paxos" */
	char error[256];    /* why that member stopped; "" while it runs */
	sn_member_info *members;
	size_t n_members;
} sn_cluster_status;

SN_API void sn_cluster_status_dispose(sn_cluster_status *s);

/*
 * One member's view of the cluster. `endpoint` names the member to ask
 * (any "host:port", listed or not); NULL: the first listed endpoint that
 * answers. One attempt per member, no leader needed. Errors: SN_ETIMEDOUT
 * (no answer), SN_EINVAL, SN_ENOMEM, SN_ERROR.
 */
SN_API int sn_client_status(sn_cluster_status *out, sn_client *c,
			    const char *endpoint);

#ifdef __cplusplus
}
#endif

#endif
