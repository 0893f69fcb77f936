/*
 * server.c - the gRPC C-core server of one member: Peer.Stream (engine
 * messages in), Cluster.Status, grpc.health.v1.Health/Check; every other
 * KV.Put/Get/Range/Delete (on the store the node runs, see "KV" below); any
 * other method is answered UNIMPLEMENTED.
 *
 * One completion queue, polled by `threads` threads, serves two grpc_server
 * objects: the peer listener and the client listener. Every call has a
 * context (struct call) whose tag is the only one outstanding for it at any
 * time, so a context is never touched by two threads at once.
 */
#define _POSIX_C_SOURCE 200809L
#include "rpc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "store/store.h"
#include "gutil.h"
#include "health.pb.h"
#include "senate.pb.h"

enum method {
	M_GENERIC = -1,
	M_PEER,
	M_STATUS,
	M_HEALTH,
	M_PUT,
	M_GET,
	M_RANGE,
	M_DELETE,
	M_COUNT
};

static const char *const method_path[M_COUNT] = {
	"/senate.v1.Peer/Stream",
	"/senate.v1.Cluster/Status",
	"/grpc.health.v1.Health/Check",
	"/senate.v1.KV/Put",
	"/senate.v1.KV/Get",
	"/senate.v1.KV/Range",
	"/senate.v1.KV/Delete",
};

typedef struct listener {
	grpc_server *gs;
	void *handle[M_COUNT]; /* NULL: not served here */
	int port;
	sn__tag shutdown_tag;
	struct sn__rpc_server *s;
} listener;

typedef struct member {
	uint64_t id;
	char *peer_addr, *client_addr;
} member;

struct kvop;

struct sn__rpc_server {
	sn_node *node;
	sn__store *store;
	uint32_t max_key, max_value;
	unsigned kv_timeout_ms;
	uint64_t id, group;
	char engine[16];
	member *members;
	size_t n_members;
	unsigned grace_ms;

	grpc_completion_queue *cq;
	listener ls[2];
	int n_ls;
	pthread_t threads[16];
	unsigned n_threads;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_cond_t timer_cv; /* the KV timer's sleep (its stop only) */
	int shutdowns_pending; /* listeners whose shutdown tag is due */
	int live_calls;        /* calls received and not yet freed */
	struct kvop *pending;  /* KV calls waiting for the node */
	bool stopping;         /* no new KV call waits for the node */
	bool timer_stop;
	pthread_t timer;
	bool timer_started;

	_Atomic uint64_t st_streams, st_batches, st_received, st_refused,
		st_busy, st_malformed, st_unary;
};

/* One call, from the request for it to its last batch. */
typedef struct call {
	sn__tag tag;
	sn__rpc_server *s;
	listener *l;
	int method;
	bool live; /* counted in live_calls */
	grpc_call *call;
	gpr_timespec deadline;
	grpc_metadata_array md;
	grpc_call_details details; /* generic calls */
	grpc_byte_buffer *payload; /* the (next) received message */
	/* the final batch */
	grpc_byte_buffer *resp;
	grpc_slice status_details;
	int cancelled;
	grpc_metadata trailer; /* senate-leader, when n_trailer == 1 */
	size_t n_trailer;
	/* Peer.Stream */
	uint64_t sender;
	uint64_t received, refused;
	sn_message *msgs;
} call;

static void on_new_call(sn__tag *t, bool ok);

static bool is_member(const sn__rpc_server *s, uint64_t id)
{
	for (size_t i = 0; i < s->n_members; i++)
		if (s->members[i].id == id)
			return true;
	return false;
}

static void call_free(call *c)
{
	if (c->live) {
		pthread_mutex_lock(&c->s->mu);
		c->s->live_calls--;
		if (c->s->stopping) /* only the shutdown waits for this */
			pthread_cond_broadcast(&c->s->cv);
		pthread_mutex_unlock(&c->s->mu);
	}
	if (c->call)
		grpc_call_unref(c->call);
	grpc_metadata_array_destroy(&c->md);
	if (c->method == M_GENERIC)
		grpc_call_details_destroy(&c->details);
	if (c->payload)
		grpc_byte_buffer_destroy(c->payload);
	if (c->resp)
		grpc_byte_buffer_destroy(c->resp);
	grpc_slice_unref(c->status_details);
	if (c->n_trailer) {
		grpc_slice_unref(c->trailer.key);
		grpc_slice_unref(c->trailer.value);
	}
	free(c->msgs);
	free(c);
}

/* Ask the listener for the next call of `method`. */
static void request_call(listener *l, int method)
{
	call *c = calloc(1, sizeof *c);
	if (!c)
		return; /* out of memory: this method stops being served */
	c->tag.fn = on_new_call;
	c->s = l->s;
	c->l = l;
	c->method = method;
	c->status_details = grpc_empty_slice();
	grpc_metadata_array_init(&c->md);
	grpc_call_error e;
	if (method == M_GENERIC) {
		grpc_call_details_init(&c->details);
		e = grpc_server_request_call(l->gs, &c->call, &c->details,
					     &c->md, l->s->cq, l->s->cq,
					     &c->tag);
	} else {
		bool payload = method != M_PEER;
		e = grpc_server_request_registered_call(
			l->gs, l->handle[method], &c->call, &c->deadline,
			&c->md, payload ? &c->payload : NULL, l->s->cq,
			l->s->cq, &c->tag);
	}
	if (e != GRPC_CALL_OK)
		call_free(c); /* the server is shutting down */
}

static void on_done(sn__tag *t, bool ok)
{
	(void)ok;
	call_free(SN__CONTAINER(t, call, tag));
}

/* The last batch of a call: initial metadata, the response (if any), the
 * status; the context is freed when it completes. */
static void finish(call *c, grpc_status_code code, const char *msg,
		   grpc_byte_buffer *resp)
{
	grpc_op ops[4];
	memset(ops, 0, sizeof ops);
	size_t n = 0;
	ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
	n++;
	if (resp) {
		c->resp = resp;
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n].data.send_message.send_message = resp;
		n++;
	}
	c->status_details = grpc_slice_from_copied_string(msg ? msg : "");
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status = code;
	ops[n].data.send_status_from_server.status_details =
		&c->status_details;
	if (c->n_trailer) {
		ops[n].data.send_status_from_server.trailing_metadata_count =
			c->n_trailer;
		ops[n].data.send_status_from_server.trailing_metadata =
			&c->trailer;
	}
	n++;
	ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	ops[n].data.recv_close_on_server.cancelled = &c->cancelled;
	n++;
	c->tag.fn = on_done;
	if (grpc_call_start_batch(c->call, ops, n, &c->tag, NULL) !=
	    GRPC_CALL_OK)
		call_free(c);
}

static void invalid(call *c, const char *what, const char *why)
{
	char msg[400];
	snprintf(msg, sizeof msg, "%s: %s", what, why ? why : "malformed");
	atomic_fetch_add(&c->s->st_malformed, 1);
	finish(c, GRPC_STATUS_INVALID_ARGUMENT, msg, NULL);
}

/* Decode the unary request in c->payload; false (and the call answered
 * INVALID_ARGUMENT) when it is missing or malformed. */
static bool decode_request(call *c, const pb_msgdesc_t *fields, void *msg,
			   const char *what)
{
	if (!c->payload) {
		invalid(c, what, "no request message");
		return false;
	}
	grpc_slice sl = sn__bb_flatten(c->payload);
	pb_istream_t st = pb_istream_from_buffer(GRPC_SLICE_START_PTR(sl),
						 GRPC_SLICE_LENGTH(sl));
	bool ok = pb_decode(&st, fields, msg);
	grpc_slice_unref(sl);
	if (!ok)
		invalid(c, what, PB_GET_ERROR(&st));
	return ok;
}

static void reply(call *c, const pb_msgdesc_t *fields, const void *msg)
{
	grpc_byte_buffer *bb = sn__bb_encode(fields, msg);
	atomic_fetch_add(&c->s->st_unary, 1);
	if (!bb)
		finish(c, GRPC_STATUS_INTERNAL, "cannot encode the response",
		       NULL);
	else
		finish(c, GRPC_STATUS_OK, NULL, bb);
}

/* ------------------------------------------------------ Cluster.Status --- */

static senate_v1_Role role_of(sn_role r)
{
	switch (r) {
	case SN_ROLE_FOLLOWER: return senate_v1_Role_ROLE_FOLLOWER;
	case SN_ROLE_PRECANDIDATE: return senate_v1_Role_ROLE_PRECANDIDATE;
	case SN_ROLE_CANDIDATE: return senate_v1_Role_ROLE_CANDIDATE;
	case SN_ROLE_LEADER: return senate_v1_Role_ROLE_LEADER;
	}
	return senate_v1_Role_ROLE_UNKNOWN;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

static void handle_status(call *c)
{
	senate_v1_StatusRequest req = senate_v1_StatusRequest_init_zero;
	if (!decode_request(c, senate_v1_StatusRequest_fields, &req,
			    "StatusRequest"))
		return;
	sn__rpc_server *s = c->s;
	sn_node_status ns;
	sn_node_status_get(s->node, &ns);
	/* ~5 KiB: on the heap, not on a completion-queue thread's stack. */
	senate_v1_StatusResponse *r = calloc(1, sizeof *r);
	if (!r) {
		finish(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory",
		       NULL);
		return;
	}
	r->member_id = s->id;
	r->group = s->group;
	r->leader_id = ns.engine.leader;
	r->term = ns.engine.term;
	copy_str(r->engine, sizeof r->engine, s->engine);
	if (ns.error)
		copy_str(r->error, sizeof r->error, ns.errmsg);
	size_t cap = sizeof r->members / sizeof r->members[0];
	for (size_t i = 0; i < s->n_members && i < cap; i++) {
		senate_v1_MemberStatus *m = &r->members[r->members_count++];
		const member *src = &s->members[i];
		m->id = src->id;
		copy_str(m->peer_address, sizeof m->peer_address,
			 src->peer_addr);
		copy_str(m->client_address, sizeof m->client_address,
			 src->client_addr);
		if (src->id == s->id) {
			m->self = true;
			m->role = role_of(ns.engine.role);
			m->term = ns.engine.term;
			m->commit = ns.engine.commit;
			m->applied = ns.applied;
			m->leader_id = ns.engine.leader;
		} else if (src->id == ns.engine.leader) {
			m->role = senate_v1_Role_ROLE_LEADER;
		}
	}
	reply(c, senate_v1_StatusResponse_fields, r);
	free(r);
}

/* ---------------------------------------------------------- Health --- */

static void handle_health(call *c)
{
	grpc_health_v1_HealthCheckRequest req =
		grpc_health_v1_HealthCheckRequest_init_zero;
	if (!decode_request(c, grpc_health_v1_HealthCheckRequest_fields, &req,
			    "HealthCheckRequest"))
		return;
	static const char *const known[] = { "", "senate.v1.Cluster",
					     "senate.v1.Peer", "senate.v1.KV" };
	bool found = false;
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (!strcmp(req.service, known[i]))
			found = true;
	if (!found) {
		finish(c, GRPC_STATUS_NOT_FOUND, "unknown service", NULL);
		return;
	}
	sn_node_status ns;
	sn_node_status_get(c->s->node, &ns);
	grpc_health_v1_HealthCheckResponse r =
		grpc_health_v1_HealthCheckResponse_init_zero;
	r.status = ns.error ? grpc_health_v1_HealthCheckResponse_ServingStatus_NOT_SERVING
			    : grpc_health_v1_HealthCheckResponse_ServingStatus_SERVING;
	reply(c, grpc_health_v1_HealthCheckResponse_fields, &r);
}

/* ------------------------------------------------------- Peer.Stream --- */

static void peer_recv(call *c);

/* Hand the messages of one batch to the node; refuse (and count) those
 * from a non-member, from another member than the stream's sender, for
 * another group or for another member. */
static void peer_deliver(call *c, uint64_t sender, size_t n)
{
	sn__rpc_server *s = c->s;
	for (size_t i = 0; i < n; i++) {
		const sn_message *m = &c->msgs[i];
		if (!is_member(s, sender) || sender == s->id ||
		    m->from != sender || m->to != s->id ||
		    m->group != s->group) {
			c->refused++;
			atomic_fetch_add(&s->st_refused, 1);
			continue;
		}
		int rv = sn_node_receive(s->node, m);
		if (rv == SN_OK) {
			c->received++;
			atomic_fetch_add(&s->st_received, 1);
		} else if (rv == SN_EBUSY) {
			atomic_fetch_add(&s->st_busy, 1);
		} else {
			c->refused++;
			atomic_fetch_add(&s->st_refused, 1);
		}
	}
}

static void on_peer_message(sn__tag *t, bool ok)
{
	call *c = SN__CONTAINER(t, call, tag);
	if (!ok || !c->payload) {
		/* The sender half-closed (or the call died): answer with the
		 * counts; on a dead call this batch just fails. */
		senate_v1_PeerAck ack = senate_v1_PeerAck_init_zero;
		ack.received = c->received;
		ack.refused = c->refused;
		grpc_byte_buffer *bb =
			sn__bb_encode(senate_v1_PeerAck_fields, &ack);
		finish(c, GRPC_STATUS_OK, NULL, bb);
		return;
	}
	grpc_slice sl = sn__bb_flatten(c->payload);
	grpc_byte_buffer_destroy(c->payload);
	c->payload = NULL;
	uint64_t sender = 0;
	size_t n = 0;
	const char *why = NULL;
	int rv = sn__rpc_peer_decode(GRPC_SLICE_START_PTR(sl),
				     GRPC_SLICE_LENGTH(sl), &sender, c->msgs,
				     SN__RPC_PEER_MAX_BATCH, &n, &why);
	if (rv == SN_OK) {
		atomic_fetch_add(&c->s->st_batches, 1);
		peer_deliver(c, sender, n);
	}
	grpc_slice_unref(sl);
	if (rv != SN_OK) {
		invalid(c, "PeerBatch", why);
		return;
	}
	peer_recv(c);
}

static void peer_recv(call *c)
{
	grpc_op op;
	memset(&op, 0, sizeof op);
	op.op = GRPC_OP_RECV_MESSAGE;
	op.data.recv_message.recv_message = &c->payload;
	c->tag.fn = on_peer_message;
	if (grpc_call_start_batch(c->call, &op, 1, &c->tag, NULL) !=
	    GRPC_CALL_OK)
		call_free(c);
}

static void handle_peer(call *c)
{
	atomic_fetch_add(&c->s->st_streams, 1);
	c->msgs = calloc(SN__RPC_PEER_MAX_BATCH, sizeof *c->msgs);
	if (!c->msgs) {
		finish(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory",
		       NULL);
		return;
	}
	peer_recv(c);
}

/* --------------------------------------------------------------- KV --- */
/*
 * Writes are store commands proposed to the node, reads a read barrier
 * (unless serializable) then a read of the local store. The node answers on
 * its apply thread: the call is completed from there (encoding the answer
 * and starting the last batch, which never blocks). A KV call waiting for
 * the node is a `kvop` on s->pending: the timer thread answers
 * DEADLINE_EXCEEDED after kv_timeout_ms, the stop answers UNAVAILABLE;
 * whichever of them and the node's callback takes the call from op->c
 * first answers it. The op itself is freed by the last of its two
 * references (the node's callback, the pending list).
 */

typedef struct kvop {
	_Atomic(call *) c;
	atomic_int refs;
	int method;
	int64_t deadline_ms;
	struct kvop *prev, *next; /* on s->pending (s->mu) */
	call *taken;              /* kv_expire: the call it took */
	union {
		senate_v1_GetRequest get;
		senate_v1_RangeRequest range;
	} req;
	bool put_prev, del_prev;
} kvop;

static void kvop_unref(kvop *op)
{
	if (atomic_fetch_sub(&op->refs, 1) == 1)
		free(op);
}

/* Unlink op from s->pending; s->mu held. */
static void kv_unlink(sn__rpc_server *s, kvop *op)
{
	if (op->prev)
		op->prev->next = op->next;
	else
		s->pending = op->next;
	if (op->next)
		op->next->prev = op->prev;
	op->prev = op->next = NULL;
}

/* Take the call of op (NULL: someone else answers it) and unlink op. */
static call *kv_take(sn__rpc_server *s, kvop *op)
{
	call *c = atomic_exchange(&op->c, NULL);
	if (c) {
		pthread_mutex_lock(&s->mu);
		kv_unlink(s, op);
		pthread_mutex_unlock(&s->mu);
	}
	return c;
}

static void finish_kv(call *c, grpc_status_code code, const char *msg)
{
	finish(c, code, msg, NULL);
}

/* UNAVAILABLE naming the leader (trailing metadata senate-leader) when one
 * is known. */
static void not_leader(call *c)
{
	sn__rpc_server *s = c->s;
	sn_node_status ns;
	sn_node_status_get(s->node, &ns);
	const char *addr = NULL;
	for (size_t i = 0; i < s->n_members; i++)
		if (ns.engine.leader && s->members[i].id == ns.engine.leader &&
		    s->members[i].id != s->id)
			addr = s->members[i].client_addr;
	char msg[256];
	if (addr) {
		snprintf(msg, sizeof msg,
			 "member %llu is not the leader: retry on the leader, "
			 "member %llu at %s",
			 (unsigned long long)s->id,
			 (unsigned long long)ns.engine.leader, addr);
		c->trailer.key = grpc_slice_from_static_string(
			SN__RPC_LEADER_MD);
		c->trailer.value = grpc_slice_from_copied_string(addr);
		c->n_trailer = 1;
	} else {
		snprintf(msg, sizeof msg,
			 "member %llu is not the leader and knows no leader "
			 "(an election may be running): retry in a moment, "
			 "or on another member",
			 (unsigned long long)s->id);
	}
	finish_kv(c, GRPC_STATUS_UNAVAILABLE, msg);
}

/* A node error (from propose/read or their callback) as a gRPC status. */
static void node_error(call *c, int rv)
{
	char msg[400];
	switch (rv) {
	case SN_ENOTLEADER: not_leader(c); return;
	case SN_EBUSY:
		finish_kv(c, GRPC_STATUS_RESOURCE_EXHAUSTED,
			  "too many requests in flight on this member: "
			  "retry later, with backoff");
		return;
	case SN_ETOOLARGE:
		finish_kv(c, GRPC_STATUS_INVALID_ARGUMENT,
			  "the request is larger than the node's largest "
			  "entry: send smaller keys and values");
		return;
	case SN_ESTOPPED: {
		sn_node_status ns;
		sn_node_status_get(c->s->node, &ns);
		snprintf(msg, sizeof msg,
			 "node stopped: %s; retry on another member",
			 ns.errmsg[0] ? ns.errmsg : "it is closing");
		finish_kv(c, GRPC_STATUS_UNAVAILABLE, msg);
		return;
	}
	default:
		snprintf(msg, sizeof msg, "the node failed the request (%s)",
			 sn_strerror(rv));
		finish_kv(c, GRPC_STATUS_INTERNAL, msg);
	}
}

static void header(const sn__rpc_server *s, senate_v1_ResponseHeader *h,
		   uint64_t revision)
{
	sn_node_status ns;
	sn_node_status_get(s->node, &ns);
	h->group = s->group;
	h->member_id = s->id;
	h->revision = (int64_t)revision;
	h->term = ns.engine.term;
}

/* Bytes to encode through a callback field. */
typedef struct span {
	const uint8_t *p;
	size_t n;
} span;

static bool enc_bytes(pb_ostream_t *st, const pb_field_t *f, void *const *arg)
{
	const span *sp = *arg;
	if (!sp->p)
		return true; /* keys_only / count_only: no value */
	return pb_encode_tag_for_field(st, f) &&
	       pb_encode_string(st, sp->p, sp->n);
}

/* Fill a KeyValue from a store kv; `val` must live until it is encoded. */
static void to_pb_kv(senate_v1_KeyValue *o, const sn__store_kv *kv, span *val)
{
	size_t n = kv->klen < sizeof o->key.bytes ? kv->klen
						   : sizeof o->key.bytes;
	memcpy(o->key.bytes, kv->key, n);
	o->key.size = (pb_size_t)n;
	val->p = kv->value;
	val->n = kv->vlen;
	o->value.funcs.encode = enc_bytes;
	o->value.arg = val;
	o->create_revision = (int64_t)kv->create_revision;
	o->mod_revision = (int64_t)kv->mod_revision;
	o->version = (int64_t)kv->version;
	o->lease = (int64_t)kv->lease;
}

/* A repeated KeyValue field from store kvs. */
typedef struct kv_list {
	const sn__store_kv *kvs;
	size_t n;
} kv_list;

static bool enc_kvs(pb_ostream_t *st, const pb_field_t *f, void *const *arg)
{
	const kv_list *l = *arg;
	/* ~4 KiB each: on the heap, not on an apply thread's stack. */
	senate_v1_KeyValue *kv = malloc(sizeof *kv);
	if (!kv)
		return false;
	bool ok = true;
	for (size_t i = 0; ok && i < l->n; i++) {
		span val;
		memset(kv, 0, sizeof *kv);
		to_pb_kv(kv, &l->kvs[i], &val);
		ok = pb_encode_tag_for_field(st, f) &&
		     pb_encode_submessage(st, senate_v1_KeyValue_fields, kv);
	}
	free(kv);
	return ok;
}

/* A store command's refusal (result status) as a gRPC status. */
static void store_refusal(call *c, int status, const char *why)
{
	char msg[400];
	grpc_status_code code = GRPC_STATUS_FAILED_PRECONDITION;
	if (status == SN_EINVAL || status == SN_ETOOLARGE ||
	    status == SN_EMALFORMED)
		code = GRPC_STATUS_INVALID_ARGUMENT;
	snprintf(msg, sizeof msg, "refused by the store: %s",
		 why && *why ? why : sn_strerror(status));
	finish_kv(c, code, msg);
}

/* Answer a write from the store result bytes the node returned. */
static void write_done(call *c, kvop *op, const void *res, size_t len)
{
	sn__store_result r;
	if (sn__store_result_decode(&r, res, len) != SN_OK) {
		sn__store_result_dispose(&r);
		finish_kv(c, GRPC_STATUS_INTERNAL,
			  "the store's result does not decode");
		return;
	}
	if (r.status != SN_OK) {
		store_refusal(c, r.status, r.message);
		sn__store_result_dispose(&r);
		return;
	}
	if (r.n_resps != 1) {
		sn__store_result_dispose(&r);
		finish_kv(c, GRPC_STATUS_INTERNAL,
			  "the store's result has no response");
		return;
	}
	const sn__store_resp *rp = &r.resps[0];
	if (op->method == M_PUT) {
		senate_v1_PutResponse *o = calloc(1, sizeof *o);
		span val;
		if (!o) {
			finish_kv(c, GRPC_STATUS_RESOURCE_EXHAUSTED,
				  "out of memory");
		} else {
			o->has_header = true;
			header(c->s, &o->header, r.revision);
			if (op->put_prev && rp->n_kvs == 1) {
				o->has_prev_kv = true;
				to_pb_kv(&o->prev_kv, &rp->kvs[0], &val);
			}
			reply(c, senate_v1_PutResponse_fields, o);
			free(o);
		}
	} else {
		senate_v1_DeleteResponse o = senate_v1_DeleteResponse_init_zero;
		kv_list l = { rp->kvs, op->del_prev ? rp->n_kvs : 0 };
		o.has_header = true;
		header(c->s, &o.header, r.revision);
		o.deleted = (int64_t)rp->count;
		o.prev_kvs.funcs.encode = enc_kvs;
		o.prev_kvs.arg = &l;
		reply(c, senate_v1_DeleteResponse_fields, &o);
	}
	sn__store_result_dispose(&r);
}

static void read_error(call *c, int rv, int64_t revision)
{
	char msg[300];
	if (rv == SN_ENOTSUP) {
		snprintf(msg, sizeof msg,
			 "revision %lld is not kept: only the current "
			 "revision (%llu) is; ask for revision 0",
			 (long long)revision,
			 (unsigned long long)sn__store_revision(c->s->store));
		finish_kv(c, GRPC_STATUS_OUT_OF_RANGE, msg);
	} else if (rv == SN_EBUSY) {
		finish_kv(c, GRPC_STATUS_RESOURCE_EXHAUSTED,
			  "too many reads in flight on this member: retry "
			  "later, with backoff");
	} else {
		snprintf(msg, sizeof msg, "the store failed the read: %s",
			 sn_errmsg());
		finish_kv(c, GRPC_STATUS_INTERNAL, msg);
	}
}

/* Read the local store and answer (a cq thread for a serializable read,
 * the apply thread after a read barrier). */
static void read_now(call *c, kvop *op)
{
	sn__rpc_server *s = c->s;
	sn__store_read rd;
	if (op->method == M_GET) {
		const senate_v1_GetRequest *q = &op->req.get;
		int rv = sn__store_range(&rd, s->store, q->key.bytes,
					 q->key.size, NULL, 0, 0,
					 (uint64_t)q->revision, 0);
		if (rv != SN_OK) {
			read_error(c, rv, q->revision);
			return;
		}
		senate_v1_GetResponse *o = calloc(1, sizeof *o);
		span val;
		if (!o) {
			finish_kv(c, GRPC_STATUS_RESOURCE_EXHAUSTED,
				  "out of memory");
		} else {
			o->has_header = true;
			header(s, &o->header, rd.revision);
			if (rd.n_kvs == 1) {
				o->found = true;
				o->has_kv = true;
				to_pb_kv(&o->kv, &rd.kvs[0], &val);
			}
			reply(c, senate_v1_GetResponse_fields, o);
			free(o);
		}
		sn__store_read_dispose(&rd);
		return;
	}
	const senate_v1_RangeRequest *q = &op->req.range;
	unsigned flags = (q->keys_only ? SN__STORE_KEYS_ONLY : 0) |
			 (q->count_only ? SN__STORE_COUNT_ONLY : 0);
	int rv = sn__store_range(&rd, s->store, q->key.bytes, q->key.size,
				 q->range_end.bytes, q->range_end.size,
				 (uint64_t)q->limit, (uint64_t)q->revision,
				 flags);
	if (rv != SN_OK) {
		read_error(c, rv, q->revision);
		return;
	}
	senate_v1_RangeResponse o = senate_v1_RangeResponse_init_zero;
	kv_list l = { rd.kvs, q->count_only ? 0 : rd.n_kvs };
	o.has_header = true;
	header(s, &o.header, rd.revision);
	o.kvs.funcs.encode = enc_kvs;
	o.kvs.arg = &l;
	o.more = rd.more;
	o.count = (int64_t)rd.count;
	reply(c, senate_v1_RangeResponse_fields, &o);
	sn__store_read_dispose(&rd);
}

/* The node's answer (apply thread, or the loop thread for a refusal). */
static void kv_node_cb(void *ud, int status, uint64_t index,
		       const void *res, size_t len)
{
	(void)index;
	kvop *op = ud;
	call *c = atomic_exchange(&op->c, NULL);
	if (c) {
		pthread_mutex_lock(&c->s->mu);
		kv_unlink(c->s, op);
		pthread_mutex_unlock(&c->s->mu);
		if (status != SN_OK)
			node_error(c, status);
		else if (op->method == M_PUT || op->method == M_DELETE)
			write_done(c, op, res, len);
		else
			read_now(c, op);
		kvop_unref(op); /* the list's reference */
	}
	kvop_unref(op); /* the node's */
}

/* Put op on the pending list (it holds c until someone answers it).
 * false: the server is stopping (c answered, op freed). */
static bool kv_wait(call *c, kvop *op)
{
	sn__rpc_server *s = c->s;
	atomic_init(&op->c, c);
	atomic_init(&op->refs, 2);
	op->deadline_ms = sn__now_ms() + (int64_t)s->kv_timeout_ms;
	pthread_mutex_lock(&s->mu);
	bool stopping = s->stopping;
	if (!stopping) {
		op->next = s->pending;
		if (s->pending)
			s->pending->prev = op;
		s->pending = op;
	}
	pthread_mutex_unlock(&s->mu);
	if (stopping) {
		free(op);
		finish_kv(c, GRPC_STATUS_UNAVAILABLE,
			  "the server is stopping: retry on another member");
		return false;
	}
	return true;
}

/* The node refused at once (its callback will not run). */
static void kv_refused(sn__rpc_server *s, kvop *op, int rv)
{
	kvop_unref(op); /* the node's reference */
	call *c = kv_take(s, op);
	if (c) {
		node_error(c, rv);
		kvop_unref(op);
	}
}

static bool kv_ready(call *c)
{
	if (!c->s->store) {
		finish_kv(c, GRPC_STATUS_UNIMPLEMENTED,
			  "this member serves no store");
		return false;
	}
	sn_node_status ns;
	sn_node_status_get(c->s->node, &ns);
	if (ns.error) {
		node_error(c, SN_ESTOPPED);
		return false;
	}
	return true;
}

/* Decoding a value: copied into a malloc()ed buffer, at most max_value. */
typedef struct value_in {
	uint8_t *p;
	size_t n;
	size_t max;
	bool too_large;
} value_in;

static bool dec_value(pb_istream_t *st, const pb_field_t *f, void **arg)
{
	(void)f;
	value_in *v = *arg;
	size_t n = st->bytes_left;
	if (n > v->max) {
		v->too_large = true;
		v->n = n;
		PB_RETURN_ERROR(st, "value over the limit");
	}
	free(v->p);
	v->p = malloc(n ? n : 1);
	if (!v->p)
		PB_RETURN_ERROR(st, "out of memory");
	v->n = n;
	return pb_read(st, v->p, n);
}

/* INVALID_ARGUMENT naming the limits. */
static void kv_invalid(call *c, const char *what, const char *why)
{
	char msg[300];
	snprintf(msg, sizeof msg,
		 "%s (keys are 1 to %u bytes, values at most %u bytes)", why,
		 (unsigned)c->s->max_key, (unsigned)c->s->max_value);
	invalid(c, what, msg);
}

static bool key_ok(call *c, const char *what, size_t klen)
{
	if (klen == 0) {
		kv_invalid(c, what, "the key is empty");
		return false;
	}
	if (klen > c->s->max_key) {
		char why[80];
		snprintf(why, sizeof why, "a key of %zu bytes is too long",
			 klen);
		kv_invalid(c, what, why);
		return false;
	}
	return true;
}

static void handle_write(call *c)
{
	sn__rpc_server *s = c->s;
	if (!kv_ready(c))
		return;
	sn_buf cmd = SN_BUF_INIT;
	kvop *op = calloc(1, sizeof *op);
	if (!op) {
		finish_kv(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	op->method = c->method;
	int rv;
	if (c->method == M_PUT) {
		const char *what = "PutRequest";
		/* ~4 KiB: on the heap. */
		senate_v1_PutRequest *q = calloc(1, sizeof *q);
		value_in v = { NULL, 0, s->max_value, false };
		if (!q) {
			free(op);
			finish_kv(c, GRPC_STATUS_RESOURCE_EXHAUSTED,
				  "out of memory");
			return;
		}
		q->value.funcs.decode = dec_value;
		q->value.arg = &v;
		bool ok = false;
		if (!c->payload) {
			invalid(c, what, "no request message");
		} else {
			grpc_slice sl = sn__bb_flatten(c->payload);
			pb_istream_t st = pb_istream_from_buffer(
				GRPC_SLICE_START_PTR(sl),
				GRPC_SLICE_LENGTH(sl));
			ok = pb_decode(&st, senate_v1_PutRequest_fields, q);
			grpc_slice_unref(sl);
			if (!ok && v.too_large) {
				char why[80];
				snprintf(why, sizeof why,
					 "a value of %zu bytes is too large",
					 v.n);
				kv_invalid(c, what, why);
			} else if (!ok) {
				kv_invalid(c, what, PB_GET_ERROR(&st));
			}
		}
		ok = ok && key_ok(c, what, q->key.size);
		if (ok) {
			op->put_prev = q->prev_kv;
			rv = sn__store_cmd_put(
				&cmd, q->request_id.client_id,
				q->request_id.seq, q->key.bytes, q->key.size,
				v.p, v.n, (uint64_t)q->lease, q->prev_kv);
			if (rv != SN_OK)
				kv_invalid(c, what, sn_errmsg());
			ok = rv == SN_OK;
		}
		free(v.p);
		free(q);
		if (!ok) {
			free(op);
			sn_buf_dispose(&cmd);
			return;
		}
	} else {
		const char *what = "DeleteRequest";
		senate_v1_DeleteRequest *q = calloc(1, sizeof *q);
		if (!q) {
			free(op);
			finish_kv(c, GRPC_STATUS_RESOURCE_EXHAUSTED,
				  "out of memory");
			return;
		}
		bool ok = decode_request(c, senate_v1_DeleteRequest_fields, q,
					 what) &&
			  key_ok(c, what, q->key.size);
		if (ok) {
			op->del_prev = q->prev_kv;
			rv = sn__store_cmd_delete_range(
				&cmd, q->request_id.client_id,
				q->request_id.seq, q->key.bytes, q->key.size,
				q->range_end.bytes, q->range_end.size,
				q->prev_kv);
			if (rv != SN_OK)
				kv_invalid(c, what, sn_errmsg());
			ok = rv == SN_OK;
		}
		free(q);
		if (!ok) {
			free(op);
			sn_buf_dispose(&cmd);
			return;
		}
	}
	/* A follower would only answer SN_ENOTLEADER: say so at once. */
	sn_node_status ns;
	sn_node_status_get(s->node, &ns);
	if (ns.engine.role != SN_ROLE_LEADER) {
		free(op);
		sn_buf_dispose(&cmd);
		not_leader(c);
		return;
	}
	if (kv_wait(c, op)) {
		rv = sn_node_propose(s->node, cmd.ptr, cmd.size, kv_node_cb,
				     op);
		if (rv != SN_OK)
			kv_refused(s, op, rv);
	}
	sn_buf_dispose(&cmd);
}

static void handle_read(call *c)
{
	sn__rpc_server *s = c->s;
	if (!kv_ready(c))
		return;
	kvop *op = calloc(1, sizeof *op);
	if (!op) {
		finish_kv(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	op->method = c->method;
	bool serializable;
	if (c->method == M_GET) {
		senate_v1_GetRequest *q = &op->req.get;
		if (!decode_request(c, senate_v1_GetRequest_fields, q,
				    "GetRequest") ||
		    !key_ok(c, "GetRequest", q->key.size)) {
			free(op);
			return;
		}
		if (q->revision < 0) {
			free(op);
			invalid(c, "GetRequest", "a negative revision");
			return;
		}
		serializable = q->serializable;
	} else {
		senate_v1_RangeRequest *q = &op->req.range;
		if (!decode_request(c, senate_v1_RangeRequest_fields, q,
				    "RangeRequest") ||
		    !key_ok(c, "RangeRequest", q->key.size)) {
			free(op);
			return;
		}
		if (q->revision < 0 || q->limit < 0) {
			free(op);
			invalid(c, "RangeRequest",
				"a negative revision or limit");
			return;
		}
		serializable = q->serializable;
	}
	if (serializable) {
		read_now(c, op);
		free(op);
		return;
	}
	sn_node_status ns;
	sn_node_status_get(s->node, &ns);
	if (ns.engine.role != SN_ROLE_LEADER) {
		free(op);
		not_leader(c);
		return;
	}
	if (kv_wait(c, op)) {
		int rv = sn_node_read(s->node, kv_node_cb, op);
		if (rv != SN_OK)
			kv_refused(s, op, rv);
	}
}

/* Take every pending call whose deadline passed (all when `all`); answer
 * them outside the lock. */
static void kv_expire(sn__rpc_server *s, bool all, grpc_status_code code,
		      const char *msg)
{
	int64_t now = sn__now_ms();
	kvop *done = NULL;
	pthread_mutex_lock(&s->mu);
	for (kvop *op = s->pending, *next; op; op = next) {
		next = op->next;
		if (!all && op->deadline_ms > now)
			continue;
		call *c = atomic_exchange(&op->c, NULL);
		if (!c)
			continue; /* the node's callback is answering it */
		kv_unlink(s, op);
		op->taken = c;
		op->next = done;
		done = op;
	}
	pthread_mutex_unlock(&s->mu);
	while (done) {
		kvop *op = done;
		done = op->next;
		op->next = NULL;
		finish_kv(op->taken, code, msg);
		kvop_unref(op);
	}
}

static void kv_detach_all(sn__rpc_server *s)
{
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_mutex_unlock(&s->mu);
	kv_expire(s, true, GRPC_STATUS_UNAVAILABLE,
		  "the server is stopping: retry on another member (a write "
		  "may have been applied: retry it with the same request_id)");
}

static void *timer_thread(void *arg)
{
	sn__rpc_server *s = arg;
	char msg[256];

	sn__thread_name("sn-rpc-timer");
	snprintf(msg, sizeof msg,
		 "no answer from the node within %u ms (no commit: is a "
		 "quorum up?); retry, a write with the same request_id",
		 s->kv_timeout_ms);
	pthread_mutex_lock(&s->mu);
	while (!s->timer_stop) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 20 * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->timer_cv, &s->mu, &until);
		if (s->timer_stop || !s->pending)
			continue;
		pthread_mutex_unlock(&s->mu);
		kv_expire(s, false, GRPC_STATUS_DEADLINE_EXCEEDED, msg);
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static void stop_timer(sn__rpc_server *s)
{
	if (!s->timer_started)
		return;
	pthread_mutex_lock(&s->mu);
	s->timer_stop = true;
	pthread_cond_broadcast(&s->timer_cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->timer, NULL);
	s->timer_started = false;
}

/* ---------------------------------------------------------- dispatch --- */

static void on_new_call(sn__tag *t, bool ok)
{
	call *c = SN__CONTAINER(t, call, tag);
	if (!ok) { /* shutdown: no call came */
		call_free(c);
		return;
	}
	pthread_mutex_lock(&c->s->mu);
	c->s->live_calls++;
	c->live = true;
	pthread_mutex_unlock(&c->s->mu);
	request_call(c->l, c->method);
	switch (c->method) {
	case M_PEER: handle_peer(c); break;
	case M_STATUS: handle_status(c); break;
	case M_HEALTH: handle_health(c); break;
	case M_PUT:
	case M_DELETE: handle_write(c); break;
	case M_GET:
	case M_RANGE: handle_read(c); break;
	default:
		finish(c, GRPC_STATUS_UNIMPLEMENTED,
		       "method not implemented by this member", NULL);
	}
}

static void *cq_thread(void *arg)
{
	sn__rpc_server *s = arg;
	sn__thread_name("sn-rpc");
	sn__cq_run(s->cq);
	return NULL;
}

static void on_shutdown(sn__tag *t, bool ok)
{
	(void)ok;
	listener *l = SN__CONTAINER(t, listener, shutdown_tag);
	pthread_mutex_lock(&l->s->mu);
	l->s->shutdowns_pending--;
	pthread_cond_broadcast(&l->s->cv);
	pthread_mutex_unlock(&l->s->mu);
}

/* ------------------------------------------------------- start / stop --- */

static char *dup_or_null(const char *p)
{
	return p ? strdup(p) : NULL;
}

static int listen_on(sn__rpc_server *s, const char *addr, bool peer)
{
	listener *l = &s->ls[s->n_ls];
	grpc_arg args[3];
	memset(args, 0, sizeof args);
	args[0].type = GRPC_ARG_INTEGER;
	args[0].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
	args[0].value.integer = (int)(peer ? SN__RPC_PEER_MAX_MESSAGE
					   : SN__RPC_CLIENT_MAX_MESSAGE);
	args[1].type = GRPC_ARG_INTEGER;
	args[1].key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
	args[1].value.integer = (int)SN__RPC_PEER_MAX_MESSAGE;
	/* gRPC listens with SO_REUSEPORT by default: a second member started
	 * on the same address would share the port and the traffic. Refuse
	 * it (the bind fails, sn__rpc_server_start says which address). */
	args[2].type = GRPC_ARG_INTEGER;
	args[2].key = (char *)GRPC_ARG_ALLOW_REUSEPORT;
	args[2].value.integer = 0;
	grpc_channel_args ca = { 3, args };
	l->gs = grpc_server_create(&ca, NULL);
	if (!l->gs)
		return SN_ENOMEM;
	l->s = s;
	l->shutdown_tag.fn = on_shutdown;
	s->n_ls++;
	grpc_server_register_completion_queue(l->gs, s->cq, NULL);
	for (int m = 0; m < M_COUNT; m++) {
		bool here = m == M_HEALTH || (m == M_PEER) == peer;
		if (!here)
			continue;
		l->handle[m] = grpc_server_register_method(
			l->gs, method_path[m], NULL,
			m == M_PEER ? GRPC_SRM_PAYLOAD_NONE
				    : GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER,
			0);
	}
	grpc_server_credentials *cr = grpc_insecure_server_credentials_create();
	l->port = grpc_server_add_http2_port(l->gs, addr, cr);
	grpc_server_credentials_release(cr);
	if (l->port <= 0) {
		return sn__err(SN_EIO, "rpc: cannot listen on %s", addr);
	}
	return SN_OK;
}

static void start_listener(listener *l)
{
	grpc_server_start(l->gs);
	for (int m = 0; m < M_COUNT; m++)
		if (l->handle[m])
			request_call(l, m);
	request_call(l, M_GENERIC);
}

static void server_free(sn__rpc_server *s)
{
	for (int i = 0; i < s->n_ls; i++)
		grpc_server_destroy(s->ls[i].gs);
	if (s->cq)
		grpc_completion_queue_destroy(s->cq);
	for (size_t i = 0; i < s->n_members; i++) {
		free(s->members[i].peer_addr);
		free(s->members[i].client_addr);
	}
	free(s->members);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	pthread_cond_destroy(&s->timer_cv);
	free(s);
	grpc_shutdown();
}

/* Shut the listeners down; cancel what runs after the grace period. */
static void shutdown_listeners(sn__rpc_server *s)
{
	pthread_mutex_lock(&s->mu);
	s->shutdowns_pending = s->n_ls;
	pthread_mutex_unlock(&s->mu);
	for (int i = 0; i < s->n_ls; i++)
		grpc_server_shutdown_and_notify(s->ls[i].gs, s->cq,
						&s->ls[i].shutdown_tag);
	/* KV calls waiting for the node would hold the shutdown up until the
	 * node answers (or forever, if it has lost its quorum): answer them
	 * now; the node's callbacks find them gone. */
	kv_detach_all(s);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += s->grace_ms / 1000;
	until.tv_nsec += (long)(s->grace_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->mu);
	while (s->shutdowns_pending > 0 &&
	       pthread_cond_timedwait(&s->cv, &s->mu, &until) == 0)
		;
	if (s->shutdowns_pending > 0) {
		/* Peer streams never end by themselves. */
		for (int i = 0; i < s->n_ls; i++)
			grpc_server_cancel_all_calls(s->ls[i].gs);
		while (s->shutdowns_pending > 0)
			pthread_cond_wait(&s->cv, &s->mu);
	}
	/* The server is done with its calls, but our handlers may still have
	 * their last batches to run (on cancelled calls they fail at once):
	 * the queue must stay open until every context is freed. */
	while (s->live_calls > 0) {
		for (int i = 0; i < s->n_ls; i++)
			grpc_server_cancel_all_calls(s->ls[i].gs);
		pthread_cond_wait(&s->cv, &s->mu);
	}
	pthread_mutex_unlock(&s->mu);
}

int sn__rpc_server_start(sn__rpc_server **out,
			 const sn__rpc_server_options *o)
{
	*out = NULL;
	if (!o || !o->node || !o->id || !o->listen_peer ||
	    (o->n_members && !o->members)) {
		return sn__err(SN_EINVAL, "rpc: server options need node, id "
			       "and listen_peer");
	}
	sn__rpc_server *s = calloc(1, sizeof *s);
	if (!s)
		return SN_ENOMEM;
	grpc_init();
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	pthread_cond_init(&s->timer_cv, NULL);
	s->node = o->node;
	s->id = o->id;
	s->group = o->group;
	copy_str(s->engine, sizeof s->engine, o->engine ? o->engine : "raft");
	s->grace_ms = o->grace_ms ? o->grace_ms : 500;
	s->store = o->store;
	s->max_key = o->max_key_bytes ? o->max_key_bytes
				      : SN__STORE_DEFAULT_MAX_KEY;
	if (s->max_key > 4096)
		s->max_key = 4096; /* senate.options bounds KV keys */
	s->max_value = o->max_value_bytes ? o->max_value_bytes
					  : SN__STORE_DEFAULT_MAX_VALUE;
	s->kv_timeout_ms = o->kv_timeout_ms ? o->kv_timeout_ms : 5000;
	s->members = calloc(o->n_members ? o->n_members : 1, sizeof *s->members);
	if (!s->members) {
		server_free(s);
		return SN_ENOMEM;
	}
	for (size_t i = 0; i < o->n_members; i++) {
		s->members[i].id = o->members[i].id;
		s->members[i].peer_addr = dup_or_null(o->members[i].peer_addr);
		s->members[i].client_addr =
			dup_or_null(o->members[i].client_addr);
		s->n_members++;
	}
	s->cq = grpc_completion_queue_create_for_next(NULL);
	int rv = listen_on(s, o->listen_peer, true);
	if (rv == SN_OK && o->listen_client)
		rv = listen_on(s, o->listen_client, false);
	unsigned n = o->threads ? o->threads : 2;
	if (n > sizeof s->threads / sizeof s->threads[0])
		n = sizeof s->threads / sizeof s->threads[0];
	for (; rv == SN_OK && s->n_threads < n; s->n_threads++)
		if (pthread_create(&s->threads[s->n_threads], NULL, cq_thread,
				   s) != 0)
			break;
	if (rv == SN_OK && !s->n_threads)
		rv = sn__err(SN_ENOMEM, "rpc: cannot start a server thread");
	if (rv == SN_OK) {
		if (pthread_create(&s->timer, NULL, timer_thread, s) != 0)
			rv = sn__err(SN_ENOMEM,
				     "rpc: cannot start the KV timer thread");
		else
			s->timer_started = true;
	}
	if (rv != SN_OK) {
		/* The listeners never started: no call, no shutdown tag; they
		 * are destroyed as they are. The queue is empty. */
		stop_timer(s);
		grpc_completion_queue_shutdown(s->cq);
		for (unsigned i = 0; i < s->n_threads; i++)
			pthread_join(s->threads[i], NULL);
		if (!s->n_threads)
			while (grpc_completion_queue_next(
				       s->cq,
				       gpr_inf_future(GPR_CLOCK_MONOTONIC),
				       NULL).type != GRPC_QUEUE_SHUTDOWN)
				;
		server_free(s);
		return rv;
	}
	for (int i = 0; i < s->n_ls; i++)
		start_listener(&s->ls[i]);
	*out = s;
	return SN_OK;
}

int sn__rpc_server_peer_port(const sn__rpc_server *s)
{
	return s && s->n_ls > 0 ? s->ls[0].port : 0;
}

int sn__rpc_server_client_port(const sn__rpc_server *s)
{
	return s && s->n_ls > 1 ? s->ls[1].port : 0;
}

void sn__rpc_server_stats_get(sn__rpc_server *s, sn__rpc_server_stats *o)
{
	o->peer_streams = atomic_load(&s->st_streams);
	o->peer_batches = atomic_load(&s->st_batches);
	o->peer_received = atomic_load(&s->st_received);
	o->peer_refused = atomic_load(&s->st_refused);
	o->peer_busy = atomic_load(&s->st_busy);
	o->malformed = atomic_load(&s->st_malformed);
	o->unary = atomic_load(&s->st_unary);
}

void sn__rpc_server_stop(sn__rpc_server *s)
{
	if (!s)
		return;
	shutdown_listeners(s);
	stop_timer(s);
	/* Every call has finished: what is left in the queue are the
	 * completions of their last batches. Drain it, then destroy. */
	grpc_completion_queue_shutdown(s->cq);
	for (unsigned i = 0; i < s->n_threads; i++)
		pthread_join(s->threads[i], NULL);
	server_free(s);
}
