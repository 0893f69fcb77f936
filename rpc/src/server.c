/*
 * server.c - the gRPC C-core server of one member: Peer.Stream (engine
 * messages in), Cluster.Status, grpc.health.v1.Health/Check; every other
 * method (KV until part 2) is answered UNIMPLEMENTED.
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
#include "gutil.h"
#include "health.pb.h"
#include "senate.pb.h"

enum method { M_GENERIC = -1, M_PEER, M_STATUS, M_HEALTH, M_COUNT };

static const char *const method_path[M_COUNT] = {
	"/senate.v1.Peer/Stream",
	"/senate.v1.Cluster/Status",
	"/grpc.health.v1.Health/Check",
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

struct sn__rpc_server {
	sn_node *node;
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
	int shutdowns_pending; /* listeners whose shutdown tag is due */
	int live_calls;        /* calls received and not yet freed */

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
	char msg[200];
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
					     "senate.v1.Peer" };
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
	default:
		finish(c, GRPC_STATUS_UNIMPLEMENTED,
		       "method not implemented by this member", NULL);
	}
}

static void *cq_thread(void *arg)
{
	sn__rpc_server *s = arg;
	for (;;) {
		grpc_event ev = grpc_completion_queue_next(
			s->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type == GRPC_OP_COMPLETE) {
			sn__tag *t = ev.tag;
			t->fn(t, ev.success != 0);
		}
	}
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
	grpc_arg args[2];
	memset(args, 0, sizeof args);
	args[0].type = GRPC_ARG_INTEGER;
	args[0].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
	args[0].value.integer = (int)(peer ? SN__RPC_PEER_MAX_MESSAGE
					   : SN__RPC_CLIENT_MAX_MESSAGE);
	args[1].type = GRPC_ARG_INTEGER;
	args[1].key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
	args[1].value.integer = (int)SN__RPC_PEER_MAX_MESSAGE;
	grpc_channel_args ca = { 2, args };
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
	s->node = o->node;
	s->id = o->id;
	s->group = o->group;
	copy_str(s->engine, sizeof s->engine, o->engine ? o->engine : "raft");
	s->grace_ms = o->grace_ms ? o->grace_ms : 500;
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
	if (rv != SN_OK) {
		/* The listeners never started: no call, no shutdown tag; they
		 * are destroyed as they are. The queue is empty. */
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
	/* Every call has finished: what is left in the queue are the
	 * completions of their last batches. Drain it, then destroy. */
	grpc_completion_queue_shutdown(s->cq);
	for (unsigned i = 0; i < s->n_threads; i++)
		pthread_join(s->threads[i], NULL);
	server_free(s);
}
