/*
 * rpc/src/rpc.h - Senate's gRPC layer, internal API (docs/rpc.md).
 *
 * For senated and the tests; not installed. No gRPC or nanopb type appears
 * here: they stay in the .c files of rpc/src.
 *
 * Use:
 *   sn__rpc_peer_new(&peer, &popts);     the transport (outgoing streams)
 *   sn__rpc_peer_transport(peer, &tr);   hand `tr` to sn_node_open()
 *   sn__rpc_server_start(&srv, &sopts);  serve Peer, Cluster, Health
 *   ...
 *   sn__rpc_server_stop(srv);            no more incoming messages
 *   sn_node_close(node);                 no more outgoing ones
 *   sn__rpc_peer_free(peer);
 */
#ifndef SENATE_RPC_H
#define SENATE_RPC_H

#include <senate/buf.h>
#include <senate/errors.h>
#include <senate/node.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One member of the group, as the configuration names it. */
typedef struct sn__rpc_member {
	uint64_t id;
	const char *peer_addr;   /* host:port of its Peer service */
	const char *client_addr; /* host:port of its client services (or NULL) */
} sn__rpc_member;

/* ------------------------------------------------------------ limits --- */

/* Messages in one PeerBatch: more is INVALID_ARGUMENT. */
#define SN__RPC_PEER_MAX_BATCH 1024
/* Largest gRPC message either side accepts on the Peer service. */
#define SN__RPC_PEER_MAX_MESSAGE (16u << 20)
/* Trailing metadata of UNAVAILABLE from a member that is not the leader:
 * the leader's client address (absent when no leader is known). */
#define SN__RPC_LEADER_MD "senate-leader"
/* Largest request on the client services. */
#define SN__RPC_CLIENT_MAX_MESSAGE (4u << 20)

/* ------------------------------------------------------ peer transport --- */

typedef struct sn__rpc_peer sn__rpc_peer;

typedef struct sn__rpc_peer_options {
	uint64_t id;                    /* this member (required) */
	uint64_t group;
	const sn__rpc_member *members;  /* every member, self included (copied) */
	size_t n_members;
	size_t queue_messages;  /* [1024] per peer; full: send is SN_EBUSY */
	size_t queue_bytes;     /* [64 MiB] per peer */
	size_t batch_bytes;     /* [4 MiB] per PeerBatch (a larger message
				   travels alone) */
	unsigned backoff_min_ms; /* [20] first wait after a failed stream */
	unsigned backoff_max_ms; /* [1000] */
} sn__rpc_peer_options;

typedef struct sn__rpc_peer_stats {
	uint64_t queued;      /* messages accepted by send */
	uint64_t sent;        /* messages written to a stream */
	uint64_t batches;     /* PeerBatch writes completed */
	uint64_t busy;        /* refused: the peer's queue was full */
	uint64_t unknown;     /* refused: `to` is not a member (or is self) */
	uint64_t dropped;     /* queued but lost with a failed stream */
	uint64_t streams;     /* streams opened */
	uint64_t failures;    /* streams that ended (peer down, refused) */
} sn__rpc_peer_stats;

/* SN_OK, SN_EINVAL (options), SN_ENOMEM. Starts a completion-queue thread. */
int sn__rpc_peer_new(sn__rpc_peer **out, const sn__rpc_peer_options *opts);
/* The sn_transport to hand to sn_node_open(); valid until peer_free. */
void sn__rpc_peer_transport(sn__rpc_peer *p, sn_transport *out);
void sn__rpc_peer_stats_get(sn__rpc_peer *p, sn__rpc_peer_stats *out);
/* Cancel the streams, drop what is queued, join the thread. The node using
 * it must be closed first. NULL is a no-op. */
void sn__rpc_peer_free(sn__rpc_peer *p);

/* -------------------------------------------------------------- server --- */

typedef struct sn__rpc_server sn__rpc_server;

struct sn__store;

typedef struct sn__rpc_server_options {
	sn_node *node;                 /* required; must outlive the server */
	/* The store the node runs as its state machine (core/node/
	 * node_store.h); it must outlive the server. NULL: KV is answered
	 * UNIMPLEMENTED. */
	struct sn__store *store;
	uint32_t max_key_bytes;    /* [4096] the store's limits, checked */
	uint32_t max_value_bytes;  /* [1 MiB] before proposing */
	unsigned kv_timeout_ms;    /* [5000] a KV call with no answer from
				      the node by then: DEADLINE_EXCEEDED */
	uint64_t id;                   /* this member (required) */
	uint64_t group;
	const char *engine;            /* reported by Status ("raft") */
	const sn__rpc_member *members; /* every member, self included (copied) */
	size_t n_members;
	const char *listen_peer;   /* required: "127.0.0.1:0" picks a port */
	const char *listen_client; /* NULL: no client services */
	unsigned threads;          /* [2] completion-queue threads */
	unsigned grace_ms;         /* [500] at stop, before calls are
				      cancelled */
} sn__rpc_server_options;

typedef struct sn__rpc_server_stats {
	uint64_t peer_streams;   /* Peer.Stream calls accepted */
	uint64_t peer_batches;   /* PeerBatch messages decoded */
	uint64_t peer_received;  /* engine messages handed to the node */
	uint64_t peer_refused;   /* unknown sender, wrong group or addressee */
	uint64_t peer_busy;      /* the node's inbox was full */
	uint64_t malformed;      /* requests answered INVALID_ARGUMENT */
	uint64_t unary;          /* unary calls answered */
} sn__rpc_server_stats;

/*
 * Bind, register the services and start serving: Peer (+ Health) on
 * listen_peer; Cluster, Health and KV on listen_client.
 * SN_OK, SN_EINVAL (options), SN_EIO (an address could not be bound:
 * sn_errmsg() names it), SN_ENOMEM.
 */
int sn__rpc_server_start(sn__rpc_server **out,
			 const sn__rpc_server_options *opts);
/* The ports actually bound (useful with port 0); 0 when not listening. */
int sn__rpc_server_peer_port(const sn__rpc_server *s);
int sn__rpc_server_client_port(const sn__rpc_server *s);
void sn__rpc_server_stats_get(sn__rpc_server *s, sn__rpc_server_stats *out);
/*
 * Stop accepting calls, let the running ones finish for grace_ms, cancel
 * the rest, drain the completion queue and free everything. After it
 * returns nothing reaches the node any more. NULL is a no-op.
 */
void sn__rpc_server_stop(sn__rpc_server *s);

/* ------------------------------------------------------- a raw client --- */

/* The outcome of one call made by sn__rpc_call(). */
typedef struct sn__rpc_reply {
	int code;            /* the gRPC status code (0 = OK) */
	char details[256];   /* the status message */
	sn_buf message;      /* the (last) response message; dispose it */
	int has_message;
	char leader[128];    /* trailing metadata `senate-leader`, or "" */
} sn__rpc_reply;

/*
 * One call of `method` ("/senate.v1.Cluster/Status") on `target`, over a
 * new insecure channel: send the `n` request messages (raw bytes: tests
 * send garbage on purpose), half-close, wait for the answer. Unary when
 * n == 1. SN_OK when the call completed (whatever its gRPC status, in
 * out->code), SN_ETIMEDOUT, SN_EINVAL, SN_ENOMEM.
 */
int sn__rpc_call(sn__rpc_reply *out, const char *target, const char *method,
		 const void *const *reqs, const size_t *lens, size_t n,
		 unsigned timeout_ms);

/* ---------------------------------------------- the PeerBatch codec --- */

/* Encode messages[0..n) as one PeerBatch from `sender` into a malloc()ed
 * *out of *len bytes (release with free()). SN_OK, SN_ENOMEM, SN_ETOOLARGE
 * (beyond SN__RPC_PEER_MAX_MESSAGE). */
int sn__rpc_peer_encode(void **out, size_t *len, uint64_t sender,
			const sn_message *messages, size_t n);
/*
 * Decode a PeerBatch. The messages point into `buf` (no copy); at most
 * `cap` of them. SN_OK, or SN_EMALFORMED with a reason in *why (static).
 */
int sn__rpc_peer_decode(const void *buf, size_t len, uint64_t *sender,
			sn_message *messages, size_t cap, size_t *n,
			const char **why);

#ifdef __cplusplus
}
#endif

#endif
