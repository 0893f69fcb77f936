/*
 * peer.c - the sn_transport over gRPC: one channel and one outgoing
 * Peer.Stream call per peer, a bounded queue per peer, and batching.
 *
 * send() (the node's loop thread) copies the message into the peer's
 * queue and, when no write is in flight on the peer's stream, encodes the
 * whole queue (up to batch_bytes) as one PeerBatch and starts the write
 * right there. When a write completes (on this transport's completion-queue
 * thread) whatever queued meanwhile goes out as the next batch. gRPC allows
 * one write in flight per call, and HTTP/2 flow control holds a write back
 * while the receiver is slow: the queue fills and send() answers SN_EBUSY,
 * which the engines treat as a lost message.
 *
 * A stream that fails (peer down, refused) drops its queue - the engines
 * retransmit what matters, and stale heartbeats are worth nothing - and the
 * next stream is opened by a later send() once the backoff has passed
 * (backoff_min_ms, doubling up to backoff_max_ms, reset by a completed
 * write). The calls are fail-fast: a call on a channel that cannot connect
 * ends at once with UNAVAILABLE instead of waiting.
 *
 * One mutex guards every peer; it is never held across a blocking call
 * (grpc_call_start_batch only queues).
 */
#define _GNU_SOURCE
#include "rpc.h"

#include <pthread.h>
#include <string.h>

#include "base/base.h"
#include "gutil.h"

typedef struct qmsg {
	sn_message m; /* m.data is owned (malloc) */
} qmsg;

struct sn__rpc_peer;
struct rpeer;

/* One Peer.Stream call; freed when both of its tags are back. */
typedef struct pcall {
	sn__tag write_tag, status_tag;
	struct sn__rpc_peer *p;
	struct rpeer *rp;
	grpc_call *call;
	int refs;
	grpc_byte_buffer *out; /* the write in flight */
	size_t out_n;          /* messages in it */
	grpc_metadata_array md_initial, md_trailing;
	grpc_byte_buffer *ack;
	grpc_status_code status;
	grpc_slice details;
} pcall;

typedef struct rpeer {
	uint64_t id;
	char *addr;
	grpc_channel *ch;
	qmsg *q; /* ring */
	size_t head, n, bytes;
	pcall *call;  /* the current stream, or NULL */
	bool writing; /* a write is in flight on `call` */
	int64_t retry_at;
	unsigned backoff;
} rpeer;

struct sn__rpc_peer {
	uint64_t id, group;
	size_t queue_messages, queue_bytes, batch_bytes;
	unsigned backoff_min, backoff_max;
	rpeer *peers;
	size_t n_peers;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	int live_calls;
	bool closing;
	grpc_completion_queue *cq;
	pthread_t thread;
	bool thread_started;
	sn__rpc_peer_stats st;
};

static rpeer *find(sn__rpc_peer *p, uint64_t id)
{
	for (size_t i = 0; i < p->n_peers; i++)
		if (p->peers[i].id == id)
			return &p->peers[i];
	return NULL;
}

static void q_drop(sn__rpc_peer *p, rpeer *rp, size_t k, bool count)
{
	for (size_t i = 0; i < k && rp->n; i++) {
		qmsg *e = &rp->q[rp->head];
		rp->bytes -= e->m.len;
		free((void *)e->m.data);
		e->m.data = NULL;
		rp->head = (rp->head + 1) % p->queue_messages;
		rp->n--;
		if (count)
			p->st.dropped++;
	}
}

static void pcall_unref(pcall *c)
{
	if (--c->refs > 0)
		return;
	grpc_call_unref(c->call);
	if (c->out)
		grpc_byte_buffer_destroy(c->out);
	if (c->ack)
		grpc_byte_buffer_destroy(c->ack);
	grpc_metadata_array_destroy(&c->md_initial);
	grpc_metadata_array_destroy(&c->md_trailing);
	grpc_slice_unref(c->details);
	c->p->live_calls--;
	pthread_cond_broadcast(&c->p->cv);
	free(c);
}

static void stream_failed(sn__rpc_peer *p, rpeer *rp)
{
	int64_t now = sn__now_ms();
	rp->call = NULL;
	rp->writing = false;
	q_drop(p, rp, rp->n, true);
	rp->retry_at = now + rp->backoff;
	rp->backoff = rp->backoff * 2 > p->backoff_max ? p->backoff_max
						       : rp->backoff * 2;
	p->st.failures++;
}

static void kick(sn__rpc_peer *p, rpeer *rp);

static void on_write(sn__tag *t, bool ok)
{
	pcall *c = SN__CONTAINER(t, pcall, write_tag);
	sn__rpc_peer *p = c->p;
	pthread_mutex_lock(&p->mu);
	grpc_byte_buffer_destroy(c->out);
	c->out = NULL;
	rpeer *rp = c->rp;
	if (rp->call == c) {
		rp->writing = false;
		if (ok) {
			p->st.sent += c->out_n;
			p->st.batches++;
			rp->backoff = p->backoff_min;
			kick(p, rp);
		}
		/* A failed write: the status tag tells why and ends it. */
	}
	pcall_unref(c);
	pthread_mutex_unlock(&p->mu);
}

static void on_status(sn__tag *t, bool ok)
{
	(void)ok;
	pcall *c = SN__CONTAINER(t, pcall, status_tag);
	sn__rpc_peer *p = c->p;
	pthread_mutex_lock(&p->mu);
	if (c->rp->call == c) {
		if (!p->closing) {
			char *d = grpc_slice_to_c_string(c->details);
			sn__log(SN_LOG_DEBUG,
				"rpc: stream to member %llu ended: %d %s",
				(unsigned long long)c->rp->id, (int)c->status,
				d);
			gpr_free(d);
		}
		stream_failed(p, c->rp);
		/* Could not connect: the next stream gets a new channel.
		 * gRPC's own reconnect backoff (1 s growing by 1.6) can
		 * otherwise keep a channel failing for seconds after the
		 * peer came up, and the transport paces itself anyway. */
		if (c->status == GRPC_STATUS_UNAVAILABLE && c->rp->ch) {
			grpc_channel_destroy(c->rp->ch);
			c->rp->ch = NULL;
		}
	}
	pcall_unref(c);
	pthread_mutex_unlock(&p->mu);
}

static grpc_channel *channel_for(sn__rpc_peer *p, const char *addr)
{
	(void)p;
	grpc_arg a[5];
	memset(a, 0, sizeof a);
	const char *keys[5] = { GRPC_ARG_MAX_SEND_MESSAGE_LENGTH,
				GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
				GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
				GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
				GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL };
	int vals[5] = { (int)SN__RPC_PEER_MAX_MESSAGE,
			(int)SN__RPC_PEER_MAX_MESSAGE, 100, 1000, 1 };
	for (int i = 0; i < 5; i++) {
		a[i].type = GRPC_ARG_INTEGER;
		a[i].key = (char *)keys[i];
		a[i].value.integer = vals[i];
	}
	grpc_channel_args ca = { 5, a };
	grpc_channel_credentials *cr = grpc_insecure_credentials_create();
	grpc_channel *ch = grpc_channel_create(addr, cr, &ca);
	grpc_channel_credentials_release(cr);
	return ch;
}

/* Open the stream to rp: initial metadata out, and the receive side (the
 * final PeerAck and status) pending until the call ends. */
static bool start_call(sn__rpc_peer *p, rpeer *rp)
{
	if (!rp->ch) {
		rp->ch = channel_for(p, rp->addr);
		if (!rp->ch)
			return false;
	}
	pcall *c = calloc(1, sizeof *c);
	if (!c)
		return false;
	c->write_tag.fn = on_write;
	c->status_tag.fn = on_status;
	c->p = p;
	c->rp = rp;
	c->details = grpc_empty_slice();
	grpc_metadata_array_init(&c->md_initial);
	grpc_metadata_array_init(&c->md_trailing);
	grpc_slice method = grpc_slice_from_static_string(
		"/senate.v1.Peer/Stream");
	c->call = grpc_channel_create_call(rp->ch, NULL, GRPC_PROPAGATE_DEFAULTS,
					   p->cq, method, NULL,
					   gpr_inf_future(GPR_CLOCK_REALTIME),
					   NULL);
	if (!c->call) {
		free(c);
		return false;
	}
	grpc_op ops[4];
	memset(ops, 0, sizeof ops);
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[1].data.recv_initial_metadata.recv_initial_metadata =
		&c->md_initial;
	ops[2].op = GRPC_OP_RECV_MESSAGE;
	ops[2].data.recv_message.recv_message = &c->ack;
	ops[3].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[3].data.recv_status_on_client.trailing_metadata = &c->md_trailing;
	ops[3].data.recv_status_on_client.status = &c->status;
	ops[3].data.recv_status_on_client.status_details = &c->details;
	if (grpc_call_start_batch(c->call, ops, 4, &c->status_tag, NULL) !=
	    GRPC_CALL_OK) {
		grpc_call_unref(c->call);
		grpc_metadata_array_destroy(&c->md_initial);
		grpc_metadata_array_destroy(&c->md_trailing);
		free(c);
		return false;
	}
	c->refs = 1;
	p->live_calls++;
	p->st.streams++;
	rp->call = c;
	rp->writing = false;
	return true;
}

/* Write the head of rp's queue as one PeerBatch. */
static void start_write(sn__rpc_peer *p, rpeer *rp)
{
	pcall *c = rp->call;
	size_t k = 0, bytes = 0;
	sn_message batch[64];
	while (k < rp->n && k < sizeof batch / sizeof batch[0]) {
		const qmsg *e = &rp->q[(rp->head + k) % p->queue_messages];
		if (k > 0 && bytes + e->m.len > p->batch_bytes)
			break;
		batch[k++] = e->m;
		bytes += e->m.len;
	}
	void *buf = NULL;
	size_t len = 0;
	int rv = sn__rpc_peer_encode(&buf, &len, p->id, batch, k);
	q_drop(p, rp, k, rv != SN_OK);
	if (rv != SN_OK)
		return;
	c->out = sn__bb_take(buf, len);
	c->out_n = k;
	grpc_op op;
	memset(&op, 0, sizeof op);
	op.op = GRPC_OP_SEND_MESSAGE;
	op.data.send_message.send_message = c->out;
	if (grpc_call_start_batch(c->call, &op, 1, &c->write_tag, NULL) !=
	    GRPC_CALL_OK) {
		grpc_byte_buffer_destroy(c->out);
		c->out = NULL;
		p->st.dropped += k;
		return;
	}
	c->refs++;
	rp->writing = true;
}

/* Called with the lock held: make progress on rp's queue. */
static void kick(sn__rpc_peer *p, rpeer *rp)
{
	if (p->closing || !rp->n)
		return;
	if (!rp->call) {
		if (sn__now_ms() < rp->retry_at)
			return;
		if (!start_call(p, rp)) {
			stream_failed(p, rp);
			return;
		}
	}
	if (!rp->writing)
		start_write(p, rp);
}

static int peer_send(void *ud, const sn_message *m)
{
	sn__rpc_peer *p = ud;
	pthread_mutex_lock(&p->mu);
	rpeer *rp = m->to == p->id ? NULL : find(p, m->to);
	int rv = SN_OK;
	if (!rp) {
		p->st.unknown++;
		rv = SN_ENOTFOUND;
	} else if (p->closing) {
		rv = SN_ESTOPPED;
	} else if (rp->n == p->queue_messages ||
		   rp->bytes + m->len > p->queue_bytes) {
		p->st.busy++;
		kick(p, rp);
		rv = SN_EBUSY;
	} else {
		void *copy = malloc(m->len ? m->len : 1);
		if (!copy) {
			rv = SN_ENOMEM;
		} else {
			memcpy(copy, m->data, m->len);
			qmsg *e = &rp->q[(rp->head + rp->n) % p->queue_messages];
			e->m = *m;
			e->m.data = copy;
			rp->n++;
			rp->bytes += m->len;
			p->st.queued++;
			kick(p, rp);
		}
	}
	pthread_mutex_unlock(&p->mu);
	return rv;
}

static void *cq_thread(void *arg)
{
	sn__rpc_peer *p = arg;
	sn__thread_name("sn-peer");
	sn__cq_run(p->cq);
	return NULL;
}

int sn__rpc_peer_new(sn__rpc_peer **out, const sn__rpc_peer_options *o)
{
	*out = NULL;
	if (!o || !o->id || (o->n_members && !o->members))
		return sn__err(SN_EINVAL, "rpc: peer options need id and "
					  "members");
	for (size_t i = 0; i < o->n_members; i++)
		if (o->members[i].id != o->id && !o->members[i].peer_addr)
			return sn__err(SN_EINVAL,
				       "rpc: member %llu has no peer address",
				       (unsigned long long)o->members[i].id);
	sn__rpc_peer *p = calloc(1, sizeof *p);
	if (!p)
		return SN_ENOMEM;
	p->id = o->id;
	p->group = o->group;
	p->queue_messages = o->queue_messages ? o->queue_messages : 1024;
	p->queue_bytes = o->queue_bytes ? o->queue_bytes : 64u << 20;
	p->batch_bytes = o->batch_bytes ? o->batch_bytes : 4u << 20;
	p->backoff_min = o->backoff_min_ms ? o->backoff_min_ms : 20;
	p->backoff_max = o->backoff_max_ms ? o->backoff_max_ms : 1000;
	if (p->backoff_max < p->backoff_min)
		p->backoff_max = p->backoff_min;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	grpc_init();
	p->cq = grpc_completion_queue_create_for_next(NULL);
	p->peers = calloc(o->n_members ? o->n_members : 1, sizeof *p->peers);
	if (!p->peers)
		goto nomem;
	for (size_t i = 0; i < o->n_members; i++) {
		if (o->members[i].id == o->id)
			continue;
		rpeer *rp = &p->peers[p->n_peers++];
		rp->id = o->members[i].id;
		rp->backoff = p->backoff_min;
		rp->addr = strdup(o->members[i].peer_addr);
		rp->q = calloc(p->queue_messages, sizeof *rp->q);
		if (!rp->addr || !rp->q)
			goto nomem;
	}
	if (pthread_create(&p->thread, NULL, cq_thread, p) != 0)
		goto nomem;
	p->thread_started = true;
	*out = p;
	return SN_OK;
nomem:
	sn__rpc_peer_free(p);
	return SN_ENOMEM;
}

void sn__rpc_peer_transport(sn__rpc_peer *p, sn_transport *out)
{
	memset(out, 0, sizeof *out);
	out->userdata = p;
	out->send = peer_send;
}

void sn__rpc_peer_stats_get(sn__rpc_peer *p, sn__rpc_peer_stats *out)
{
	pthread_mutex_lock(&p->mu);
	*out = p->st;
	pthread_mutex_unlock(&p->mu);
}

void sn__rpc_peer_free(sn__rpc_peer *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->closing = true;
	for (size_t i = 0; i < p->n_peers; i++)
		if (p->peers[i].call)
			grpc_call_cancel(p->peers[i].call->call, NULL);
	while (p->live_calls > 0)
		pthread_cond_wait(&p->cv, &p->mu);
	pthread_mutex_unlock(&p->mu);
	grpc_completion_queue_shutdown(p->cq);
	if (p->thread_started)
		pthread_join(p->thread, NULL);
	else
		while (grpc_completion_queue_next(
			       p->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC),
			       NULL).type != GRPC_QUEUE_SHUTDOWN)
			;
	grpc_completion_queue_destroy(p->cq);
	for (size_t i = 0; i < p->n_peers; i++) {
		rpeer *rp = &p->peers[i];
		if (rp->ch)
			grpc_channel_destroy(rp->ch);
		if (rp->q)
			q_drop(p, rp, rp->n, false);
		free(rp->q);
		free(rp->addr);
	}
	free(p->peers);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p);
	grpc_shutdown();
}
