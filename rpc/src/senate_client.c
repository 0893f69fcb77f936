/*
 * senate_client.c - the public C client (<senate/client.h>,
 * libsenate-client; docs/client.md).
 *
 * Uses only libsenate's public API (it links against libsenate.so), the
 * gRPC C core and nanopb. One channel per member address, created on first
 * use and kept until close (gRPC channels are thread-safe and reconnect by
 * themselves); every call is one gRPC unary call in a single batch on a
 * completion queue of its own, so any number of threads can call at once.
 */
#define _GNU_SOURCE
#include <senate/client.h>
#include <senate/sys/engine.h>

#include "gutil.h"
#include "senate.pb.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* gRPC status codes the retry loop tells apart (grpc/status.h). */
#define ADDR_MAX 128          /* an endpoint's "host:port", NUL included */
#define KEY_MAX 4096          /* the proto's bound on keys (senate.options) */
#define BACKOFF_MAX_MS 1000
#define LEADER_MD "senate-leader"

/*
 * A request-id session. The store remembers one {seq, result} per session
 * and refuses a seq below the last, so a session serves one call at a time:
 * concurrent calls take different sessions from a pool that grows to the
 * client's concurrency. The first session's id is the client id.
 */
typedef struct session {
	uint64_t id, seq;
	struct session *next;
} session;

/* A channel to one address: one reference held by the table while it is
 * there, one by each attempt using it. */
typedef struct chan {
	char addr[ADDR_MAX];
	grpc_channel *ch;
	unsigned refs;
} chan;

struct sn_client {
	sn_client_options o;
	char (*eps)[ADDR_MAX];
	size_t n_eps;
	uint64_t id;
	atomic_uint next;          /* where the next failover starts */

	pthread_mutex_t mu;        /* guards the fields below */
	session *idle;             /* sessions no call is using (all of them
				      when no call runs) */
	size_t n_sessions;
	chan **chans;
	size_t n_chans, cap_chans;
	char leader[ADDR_MAX];     /* the last member known to lead, or "" */
};

/* ------------------------------------------------------------ options --- */

int sn_client_options_init(sn_client_options *o, unsigned version)
{
	if (!o)
		return sn_errmsg_set(SN_EINVAL, "client: options is NULL");
	if (version != SN_CLIENT_OPTIONS_VERSION)
		return sn_errmsg_set(SN_EINVAL,
				     "client: unknown options version %u "
				     "(this library knows %u)",
				     version, SN_CLIENT_OPTIONS_VERSION);
	memset(o, 0, sizeof *o);
	o->version = version;
	o->timeout_ms = 5000;
	o->attempt_ms = 2000;
	o->backoff_ms = 20;
	o->max_receive_bytes = 64u << 20;
	return SN_OK;
}

static uint64_t random_id(void)
{
	uint64_t id = 0;
	if (getrandom(&id, sizeof id, 0) != (ssize_t)sizeof id) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		id = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^
		     ((uint64_t)getpid() << 16);
	}
	return id ? id : 1;
}

int sn_client_open(sn_client **out, const sn_client_options *opts)
{
	if (!out || !opts)
		return sn_errmsg_set(SN_EINVAL, "client: out or opts is NULL");
	*out = NULL;
	if (opts->version != SN_CLIENT_OPTIONS_VERSION)
		return sn_errmsg_set(SN_EINVAL,
				     "client: unknown options version %u "
				     "(initialise them with "
				     "sn_client_options_init)",
				     opts->version);
	if (!opts->endpoints || opts->n_endpoints == 0)
		return sn_errmsg_set(SN_EINVAL,
				     "client: no endpoints (give the "
				     "members' client addresses, host:port)");
	for (size_t i = 0; i < opts->n_endpoints; i++) {
		const char *e = opts->endpoints[i];
		if (!e || !e[0] || strlen(e) >= ADDR_MAX)
			return sn_errmsg_set(SN_EINVAL,
					     "client: endpoint %zu is %s", i,
					     !e || !e[0] ? "empty"
							 : "too long (127 "
							   "bytes at most)");
	}
	sn_client *c = calloc(1, sizeof *c);
	if (!c)
		return sn_errmsg_set(SN_ENOMEM, "client: out of memory");
	c->o = *opts;
	c->o.endpoints = NULL;
	if (!c->o.timeout_ms)
		c->o.timeout_ms = 5000;
	if (!c->o.attempt_ms)
		c->o.attempt_ms = 2000;
	if (!c->o.backoff_ms)
		c->o.backoff_ms = 20;
	if (!c->o.max_receive_bytes)
		c->o.max_receive_bytes = 64u << 20;
	c->eps = calloc(opts->n_endpoints, sizeof *c->eps);
	if (!c->eps) {
		free(c);
		return sn_errmsg_set(SN_ENOMEM, "client: out of memory");
	}
	for (size_t i = 0; i < opts->n_endpoints; i++)
		snprintf(c->eps[i], ADDR_MAX, "%s", opts->endpoints[i]);
	c->n_eps = opts->n_endpoints;
	c->id = opts->client_id ? opts->client_id : random_id();
	atomic_init(&c->next, 0);
	pthread_mutex_init(&c->mu, NULL);
	grpc_init();
	*out = c;
	return SN_OK;
}

void sn_client_close(sn_client *c)
{
	if (!c)
		return;
	while (c->idle) {
		session *s = c->idle;
		c->idle = s->next;
		free(s);
	}
	for (size_t i = 0; i < c->n_chans; i++) {
		grpc_channel_destroy(c->chans[i]->ch);
		free(c->chans[i]);
	}
	free(c->chans);
	free(c->eps);
	pthread_mutex_destroy(&c->mu);
	free(c);
	grpc_shutdown();
}

uint64_t sn_client_id(const sn_client *c)
{
	return c ? c->id : 0;
}

/* ----------------------------------------------------------- sessions --- */

/* A session for one write; NULL when out of memory. */
static session *session_take(sn_client *c)
{
	session *s = NULL;
	pthread_mutex_lock(&c->mu);
	if (c->idle) {
		s = c->idle;
		c->idle = s->next;
	} else {
		s = malloc(sizeof *s);
		if (s) {
			s->id = c->n_sessions++ ? random_id() : c->id;
			s->seq = 0;
		}
	}
	pthread_mutex_unlock(&c->mu);
	return s;
}

static void session_give(sn_client *c, session *s)
{
	pthread_mutex_lock(&c->mu);
	s->next = c->idle;
	c->idle = s;
	pthread_mutex_unlock(&c->mu);
}

/* ----------------------------------------------------------- channels --- */

static grpc_channel *channel_new(sn_client *c, const char *addr)
{
	grpc_arg args[1];
	args[0].type = GRPC_ARG_INTEGER;
	args[0].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
	args[0].value.integer = c->o.max_receive_bytes > INT32_MAX
					? INT32_MAX
					: (int)c->o.max_receive_bytes;
	grpc_channel_args ca = { 1, args };
	grpc_channel_credentials *cr = grpc_insecure_credentials_create();
	grpc_channel *ch = grpc_channel_create(addr, cr, &ca);
	grpc_channel_credentials_release(cr);
	return ch;
}

/* The channel to `addr`, referenced (channel_put it); NULL: no memory. */
static chan *channel_get(sn_client *c, const char *addr)
{
	chan *e = NULL;
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < c->n_chans && !e; i++)
		if (strcmp(c->chans[i]->addr, addr) == 0)
			e = c->chans[i];
	if (!e && c->n_chans == c->cap_chans) {
		size_t cap = c->cap_chans ? 2 * c->cap_chans : 8;
		chan **n = realloc(c->chans, cap * sizeof *n);
		if (n) {
			c->chans = n;
			c->cap_chans = cap;
		}
	}
	if (!e && c->n_chans < c->cap_chans && (e = calloc(1, sizeof *e))) {
		snprintf(e->addr, sizeof e->addr, "%s", addr);
		e->ch = channel_new(c, addr);
		e->refs = 1;
		if (e->ch) {
			c->chans[c->n_chans++] = e;
		} else {
			free(e);
			e = NULL;
		}
	}
	if (e)
		e->refs++;
	pthread_mutex_unlock(&c->mu);
	return e;
}

static void channel_put(sn_client *c, chan *e)
{
	pthread_mutex_lock(&c->mu);
	bool last = --e->refs == 0;
	pthread_mutex_unlock(&c->mu);
	if (last) {
		grpc_channel_destroy(e->ch);
		free(e);
	}
}

/*
 * The channel could not connect: take it out of the table, so that the
 * next attempt gets a new one. gRPC's reconnect backoff (1 s, growing by
 * 1.6) would otherwise keep failing calls for seconds after the member
 * came up; the retry loop paces the attempts itself.
 */
static void channel_drop(sn_client *c, chan *e)
{
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < c->n_chans; i++)
		if (c->chans[i] == e) {
			c->chans[i] = c->chans[--c->n_chans];
			e->refs--; /* the table's; the caller still holds one */
			break;
		}
	pthread_mutex_unlock(&c->mu);
}

static void leader_get(sn_client *c, char *out)
{
	pthread_mutex_lock(&c->mu);
	memcpy(out, c->leader, ADDR_MAX);
	pthread_mutex_unlock(&c->mu);
}

/* Remember `addr` as the leader; "" forgets `if_was` (when it still is). */
static void leader_set(sn_client *c, const char *addr, const char *if_was)
{
	pthread_mutex_lock(&c->mu);
	if (addr[0])
		snprintf(c->leader, ADDR_MAX, "%s", addr);
	else if (strcmp(c->leader, if_was) == 0)
		c->leader[0] = '\0';
	pthread_mutex_unlock(&c->mu);
}

/* ---------------------------------------------------------- one call --- */

typedef struct answer {
	int code;              /* gRPC status, or -1: the call failed locally */
	char details[400];
	char leader[ADDR_MAX]; /* trailing `senate-leader`, or "" */
	grpc_slice message;    /* the response (empty slice: none) */
} answer;

/* One unary call of `method` with request `req` on `addr`, in one batch. */
static void attempt(sn_client *c, const char *addr, const char *method,
		    grpc_slice req, unsigned ms, answer *a)
{
	a->code = -1;
	a->details[0] = a->leader[0] = '\0';
	a->message = grpc_empty_slice();
	chan *e = channel_get(c, addr);
	if (!e) {
		snprintf(a->details, sizeof a->details,
			 "cannot create a channel to %s", addr);
		return;
	}
	grpc_channel *ch = e->ch;
	sn__unary_out u;
	sn__unary(ch, method, req, sn__deadline_ms(ms), &u);
	if (u.completed) {
		a->code = (int)u.status;
		snprintf(a->details, sizeof a->details, "%.*s",
			 (int)GRPC_SLICE_LENGTH(u.details),
			 (const char *)GRPC_SLICE_START_PTR(u.details));
		for (size_t i = 0; i < u.trailing.count; i++) {
			const grpc_metadata *md = &u.trailing.metadata[i];
			if (grpc_slice_str_cmp(md->key, LEADER_MD) == 0)
				snprintf(a->leader, sizeof a->leader, "%.*s",
					 (int)GRPC_SLICE_LENGTH(md->value),
					 (const char *)GRPC_SLICE_START_PTR(
						 md->value));
		}
		if (u.response)
			a->message = sn__bb_flatten(u.response);
	} else {
		snprintf(a->details, sizeof a->details,
			 "cannot start a call to %s", addr);
	}
	sn__unary_done(&u);
	if (a->code == GRPC_STATUS_UNAVAILABLE &&
	    grpc_channel_check_connectivity_state(ch, 0) ==
		    GRPC_CHANNEL_TRANSIENT_FAILURE)
		channel_drop(c, e);
	channel_put(c, e);
}

/* ----------------------------------------------------- the retry loop --- */

enum kind {
	LEADER, /* writes and linearizable reads: the leader answers */
	ANY     /* serializable reads, status: any member */
};

/* A refusal that retrying cannot change, as an sn error code. */
static int final_error(int code)
{
	switch (code) {
	case GRPC_STATUS_INVALID_ARGUMENT: return SN_EINVAL;
	case GRPC_STATUS_NOT_FOUND: return SN_ENOTFOUND;
	case GRPC_STATUS_OUT_OF_RANGE:
	case GRPC_STATUS_UNIMPLEMENTED: return SN_ENOTSUP;
	case GRPC_STATUS_FAILED_PRECONDITION: return SN_ESTATE;
	case GRPC_STATUS_ALREADY_EXISTS:
	case GRPC_STATUS_ABORTED: return SN_ECONFLICT;
	default: return SN_ERROR;
	}
}

static void pause_ms(int64_t ms)
{
	if (ms <= 0)
		return;
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0)
		;
}

/*
 * Run `method` until a member answers it, or the deadline. On SN_OK,
 * *resp is the response (unref it). Follows `senate-leader`, fails over
 * through the endpoints, pauses with a doubling backoff after a round in
 * which every member failed.
 */
static int request(sn_client *c, const char *method, grpc_slice req,
		   enum kind kind, grpc_slice *resp)
{
	const int64_t deadline = sn__now_ms() + c->o.timeout_ms;
	int64_t backoff = c->o.backoff_ms;
	char target[ADDR_MAX] = "";
	char last[sizeof ((answer *)0)->details + ADDR_MAX + 32] = "";
	int busy = 0;
	size_t start = atomic_fetch_add(&c->next, 1), failed = 0, hops = 0;

	leader_get(c, target);
	if (!target[0])
		snprintf(target, ADDR_MAX, "%s", c->eps[start % c->n_eps]);
	/* Bounded in time (the deadline) and in count. */
	for (unsigned n = 0; n < 100000; n++) {
		int64_t left = deadline - sn__now_ms();
		if (left <= 0)
			break;
		answer a;
		attempt(c, target, method, req,
			(unsigned)(left < c->o.attempt_ms ? left
							  : c->o.attempt_ms),
			&a);
		if (a.code == GRPC_STATUS_OK) {
			if (kind == LEADER)
				leader_set(c, target, "");
			*resp = a.message;
			return SN_OK;
		}
		grpc_slice_unref(a.message);
		snprintf(last, sizeof last, "%s: %s", target,
			 a.details[0] ? a.details : "no answer");
		if (a.code == GRPC_STATUS_RESOURCE_EXHAUSTED) {
			busy = 1;
			pause_ms(backoff < left ? backoff : left);
			backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
							       : backoff * 2;
			continue;
		}
		busy = 0;
		if (a.code >= 0 && a.code != GRPC_STATUS_UNAVAILABLE &&
		    a.code != GRPC_STATUS_DEADLINE_EXCEEDED &&
		    a.code != GRPC_STATUS_CANCELLED)
			return sn_errmsg_set(final_error(a.code), "%s", last);
		/* Not the leader, down, or no quorum there. */
		if (a.code == GRPC_STATUS_UNAVAILABLE && a.leader[0] &&
		    strcmp(a.leader, target) != 0 && hops++ < 2 * c->n_eps) {
			leader_set(c, a.leader, "");
			snprintf(target, ADDR_MAX, "%s", a.leader);
			continue;
		}
		leader_set(c, "", target);
		if (++failed % c->n_eps == 0) {
			/* A whole round failed: an election may be running. */
			hops = 0;
			pause_ms(backoff < left ? backoff : left);
			backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
							       : backoff * 2;
		}
		snprintf(target, ADDR_MAX, "%s",
			 c->eps[(start + failed) % c->n_eps]);
	}
	if (busy)
		return sn_errmsg_set(SN_EBUSY,
				     "the cluster stayed overloaded for %u ms "
				     "(last: %s)",
				     c->o.timeout_ms, last);
	return sn_errmsg_set(SN_ETIMEDOUT,
			     "no member answered within %u ms (last: %s)",
			     c->o.timeout_ms, last[0] ? last : "none tried");
}

/* ---------------------------------------------------- nanopb helpers --- */

static int encode(const pb_msgdesc_t *fields, const void *msg,
		  grpc_slice *out)
{
	size_t size = 0;
	if (!pb_get_encoded_size(&size, fields, msg))
		return sn_errmsg_set(SN_EINVAL, "client: cannot encode the "
						"request");
	*out = grpc_slice_malloc(size);
	pb_ostream_t st =
		pb_ostream_from_buffer(GRPC_SLICE_START_PTR(*out), size);
	if (!pb_encode(&st, fields, msg)) {
		grpc_slice_unref(*out);
		return sn_errmsg_set(SN_EINVAL, "client: cannot encode the "
						"request: %s",
				     PB_GET_ERROR(&st));
	}
	return SN_OK;
}

static int decode(const pb_msgdesc_t *fields, void *msg, grpc_slice s,
		  const char *what)
{
	pb_istream_t st = pb_istream_from_buffer(GRPC_SLICE_START_PTR(s),
						 GRPC_SLICE_LENGTH(s));
	if (!pb_decode(&st, fields, msg))
		return sn_errmsg_set(SN_ERROR,
				     "client: undecodable %s from the "
				     "cluster: %s",
				     what, PB_GET_ERROR(&st));
	return SN_OK;
}

typedef struct bytes {
	const void *p;
	size_t n;
} bytes;

static bool enc_bytes(pb_ostream_t *st, const pb_field_t *f,
		      void *const *arg)
{
	const bytes *b = *arg;
	return pb_encode_tag_for_field(st, f) &&
	       pb_encode_string(st, b->p, b->n);
}

/* Read a bytes field into the sn_buf at *arg. */
static bool dec_buf(pb_istream_t *st, const pb_field_t *f, void **arg)
{
	sn_buf *b = *arg;
	pb_byte_t chunk[4096];
	(void)f;
	while (st->bytes_left) {
		size_t n = st->bytes_left < sizeof chunk ? st->bytes_left
							 : sizeof chunk;
		if (!pb_read(st, chunk, n) || sn_buf_append(b, chunk, n))
			return false;
	}
	return true;
}

static int check_key(const void *key, size_t len, const char *what)
{
	if (!key || len == 0)
		return sn_errmsg_set(SN_EINVAL, "client: the %s is empty (a "
						"key is 1 to %d bytes)",
				     what, KEY_MAX);
	if (len > KEY_MAX)
		return sn_errmsg_set(SN_EINVAL,
				     "client: the %s is %zu bytes; at most %d",
				     what, len, KEY_MAX);
	return SN_OK;
}

/* Set [key, range_end) from the call's arguments and flags. */
static int set_range(pb_byte_t *k, pb_size_t *kn, pb_byte_t *e,
		     pb_size_t *en, const void *key, size_t key_len,
		     const void *end, size_t end_len, unsigned flags)
{
	int rv = check_key(key, key_len, "key");
	if (rv)
		return rv;
	memcpy(k, key, key_len);
	*kn = (pb_size_t)key_len;
	if (flags & SN_CLIENT_PREFIX) {
		/* Every key starting with `key`: [key, key with its last
		 * non-0xff byte + 1); all 0xff: every key >= key. */
		size_t n = key_len;
		memcpy(e, key, n);
		while (n && e[n - 1] == 0xff)
			n--;
		if (n)
			e[n - 1]++;
		else
			e[n++] = 0;
		*en = (pb_size_t)n;
		return SN_OK;
	}
	if (end_len > KEY_MAX)
		return sn_errmsg_set(SN_EINVAL,
				     "client: range_end is %zu bytes; at most "
				     "%d",
				     end_len, KEY_MAX);
	if (end_len && !end)
		return sn_errmsg_set(SN_EINVAL, "client: range_end is NULL");
	if (end_len)
		memcpy(e, end, end_len);
	*en = (pb_size_t)end_len;
	return SN_OK;
}

/*
 * A write: the next request id of a free session into *rid, encode `msg`,
 * run it until a member answers (retries keep the id: applied once); the
 * session is free again afterwards.
 */
static int write_call(sn_client *c, const char *method,
		      const pb_msgdesc_t *fields, const void *msg,
		      bool *has_rid, senate_v1_RequestId *rid, grpc_slice *resp)
{
	session *ss = session_take(c);
	if (!ss)
		return sn_errmsg_set(SN_ENOMEM, "client: out of memory");
	*has_rid = true;
	rid->client_id = ss->id;
	rid->seq = ++ss->seq;
	grpc_slice req;
	int rv = encode(fields, msg, &req);
	if (rv == SN_OK) {
		rv = request(c, method, req, LEADER, resp);
		grpc_slice_unref(req);
	}
	session_give(c, ss);
	return rv;
}

/* A read: encode `msg`, run it on the leader (or any member when
 * serializable) until answered. */
static int read_call(sn_client *c, const char *method,
		     const pb_msgdesc_t *fields, const void *msg,
		     bool serializable, grpc_slice *resp)
{
	grpc_slice req;
	int rv = encode(fields, msg, &req);
	if (rv == SN_OK) {
		rv = request(c, method, req, serializable ? ANY : LEADER, resp);
		grpc_slice_unref(req);
	}
	return rv;
}

/* A call's request and response structs, zeroed (some hold 4 KiB keys:
 * not on the stack). Both or neither: SN_ENOMEM. */
static int alloc_pair(void **q, size_t q_size, void **r, size_t r_size)
{
	*q = calloc(1, q_size);
	*r = calloc(1, r_size);
	if (*q && *r)
		return SN_OK;
	free(*q);
	free(*r);
	*q = *r = NULL;
	return sn_errmsg_set(SN_ENOMEM, "client: out of memory");
}

/* ------------------------------------------------------------ results --- */

void sn_kv_dispose(sn_kv *kv)
{
	if (!kv)
		return;
	sn_buf_dispose(&kv->key);
	sn_buf_dispose(&kv->value);
	memset(kv, 0, sizeof *kv);
}

static void kvs_free(sn_kv *kvs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sn_kv_dispose(&kvs[i]);
	free(kvs);
}

void sn_put_result_dispose(sn_put_result *r)
{
	if (!r)
		return;
	sn_kv_dispose(&r->prev);
	memset(r, 0, sizeof *r);
}

void sn_range_result_dispose(sn_range_result *r)
{
	if (!r)
		return;
	kvs_free(r->kvs, r->n);
	memset(r, 0, sizeof *r);
}

void sn_delete_result_dispose(sn_delete_result *r)
{
	if (!r)
		return;
	kvs_free(r->prev, r->n_prev);
	memset(r, 0, sizeof *r);
}

void sn_cluster_status_dispose(sn_cluster_status *s)
{
	if (!s)
		return;
	free(s->members);
	memset(s, 0, sizeof *s);
}

/* A decoded KeyValue (value through dec_buf) into an sn_kv. */
static int kv_from(sn_kv *out, const senate_v1_KeyValue *kv)
{
	if (sn_buf_append(&out->key, kv->key.bytes, kv->key.size))
		return SN_ENOMEM;
	out->create_revision = kv->create_revision;
	out->mod_revision = kv->mod_revision;
	out->version = kv->version;
	out->lease = kv->lease;
	return SN_OK;
}

typedef struct kv_list {
	sn_kv *kvs;
	size_t n, cap;
} kv_list;

/* Decode one KeyValue of a repeated field onto the list at *arg. */
static bool dec_kv(pb_istream_t *st, const pb_field_t *f, void **arg)
{
	kv_list *l = *arg;
	(void)f;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		sn_kv *n = realloc(l->kvs, cap * sizeof *n);
		if (!n)
			return false;
		l->kvs = n;
		l->cap = cap;
	}
	sn_kv *out = &l->kvs[l->n];
	memset(out, 0, sizeof *out);
	senate_v1_KeyValue *kv = malloc(sizeof *kv); /* 4 KiB key inside */
	if (!kv)
		return false;
	memset(kv, 0, sizeof *kv);
	kv->value.funcs.decode = dec_buf;
	kv->value.arg = &out->value;
	bool ok = pb_decode(st, senate_v1_KeyValue_fields, kv) &&
		  kv_from(out, kv) == SN_OK;
	free(kv);
	if (!ok) {
		sn_kv_dispose(out);
		return false;
	}
	l->n++;
	return true;
}

/* Decode response `resp` (consumed) whose repeated KeyValue field is `kvs`
 * into *l; on failure *l is empty. */
static int decode_kvs(const pb_msgdesc_t *fields, void *msg,
		      pb_callback_t *kvs, grpc_slice resp, const char *what,
		      kv_list *l)
{
	*l = (kv_list){ NULL, 0, 0 };
	kvs->funcs.decode = dec_kv;
	kvs->arg = l;
	int rv = decode(fields, msg, resp, what);
	grpc_slice_unref(resp);
	if (rv != SN_OK) {
		kvs_free(l->kvs, l->n);
		*l = (kv_list){ NULL, 0, 0 };
	}
	return rv;
}

/* ----------------------------------------------------------------- KV --- */

int sn_client_put(sn_put_result *out, sn_client *c, const void *key,
		  size_t key_len, const void *value, size_t value_len,
		  unsigned flags)
{
	if (out)
		memset(out, 0, sizeof *out);
	if (!c)
		return sn_errmsg_set(SN_EINVAL, "client: client is NULL");
	int rv = check_key(key, key_len, "key");
	if (rv)
		return rv;
	if (value_len && !value)
		return sn_errmsg_set(SN_EINVAL, "client: value is NULL");
	void *qq, *rr;
	if (alloc_pair(&qq, sizeof(senate_v1_PutRequest), &rr,
		       sizeof(senate_v1_PutResponse)))
		return SN_ENOMEM;
	senate_v1_PutRequest *q = qq;
	senate_v1_PutResponse *r = rr;
	bytes v = { value, value_len };
	memcpy(q->key.bytes, key, key_len);
	q->key.size = (pb_size_t)key_len;
	q->value.funcs.encode = enc_bytes;
	q->value.arg = &v;
	q->prev_kv = (flags & SN_CLIENT_PREV_KV) != 0;
	grpc_slice resp;
	rv = write_call(c, "/senate.v1.KV/Put", senate_v1_PutRequest_fields, q,
			&q->has_request_id, &q->request_id, &resp);
	if (rv == SN_OK) {
		sn_kv prev;
		memset(&prev, 0, sizeof prev);
		r->prev_kv.value.funcs.decode = dec_buf;
		r->prev_kv.value.arg = &prev.value;
		rv = decode(senate_v1_PutResponse_fields, r, resp,
			    "PutResponse");
		grpc_slice_unref(resp);
		if (rv == SN_OK && out) {
			out->revision = r->header.revision;
			if (r->has_prev_kv && r->prev_kv.key.size) {
				out->has_prev = 1;
				out->prev = prev;
				if (kv_from(&out->prev, &r->prev_kv)) {
					sn_put_result_dispose(out);
					rv = sn_errmsg_set(SN_ENOMEM,
							   "client: out of "
							   "memory");
				}
			} else {
				sn_kv_dispose(&prev);
			}
		} else {
			sn_kv_dispose(&prev);
		}
	}
	free(q);
	free(r);
	return rv;
}

int sn_client_get(sn_kv *out, sn_client *c, const void *key, size_t key_len,
		  unsigned flags)
{
	if (!out)
		return sn_errmsg_set(SN_EINVAL, "client: out is NULL");
	memset(out, 0, sizeof *out);
	if (!c)
		return sn_errmsg_set(SN_EINVAL, "client: client is NULL");
	int rv = check_key(key, key_len, "key");
	if (rv)
		return rv;
	void *qq, *rr;
	if (alloc_pair(&qq, sizeof(senate_v1_GetRequest), &rr,
		       sizeof(senate_v1_GetResponse)))
		return SN_ENOMEM;
	senate_v1_GetRequest *q = qq;
	senate_v1_GetResponse *r = rr;
	memcpy(q->key.bytes, key, key_len);
	q->key.size = (pb_size_t)key_len;
	q->serializable = (flags & SN_CLIENT_SERIALIZABLE) != 0;
	grpc_slice resp;
	rv = read_call(c, "/senate.v1.KV/Get", senate_v1_GetRequest_fields, q,
		       q->serializable, &resp);
	if (rv == SN_OK) {
		r->kv.value.funcs.decode = dec_buf;
		r->kv.value.arg = &out->value;
		rv = decode(senate_v1_GetResponse_fields, r, resp,
			    "GetResponse");
		grpc_slice_unref(resp);
		if (rv == SN_OK && !r->found)
			rv = sn_errmsg_set(SN_ENOTFOUND,
					   "key not found (revision %lld)",
					   (long long)r->header.revision);
		else if (rv == SN_OK && kv_from(out, &r->kv))
			rv = sn_errmsg_set(SN_ENOMEM, "client: out of memory");
		if (rv != SN_OK)
			sn_kv_dispose(out);
	}
	free(q);
	free(r);
	return rv;
}

int sn_client_range(sn_range_result *out, sn_client *c, const void *key,
		    size_t key_len, const void *range_end,
		    size_t range_end_len, int64_t limit, unsigned flags)
{
	if (!out)
		return sn_errmsg_set(SN_EINVAL, "client: out is NULL");
	memset(out, 0, sizeof *out);
	if (!c)
		return sn_errmsg_set(SN_EINVAL, "client: client is NULL");
	if (limit < 0)
		return sn_errmsg_set(SN_EINVAL, "client: limit %lld is "
						"negative (0: no limit)",
				     (long long)limit);
	void *qq, *rr;
	if (alloc_pair(&qq, sizeof(senate_v1_RangeRequest), &rr,
		       sizeof(senate_v1_RangeResponse)))
		return SN_ENOMEM;
	senate_v1_RangeRequest *q = qq;
	senate_v1_RangeResponse *r = rr;
	int rv = set_range(q->key.bytes, &q->key.size, q->range_end.bytes,
			   &q->range_end.size, key, key_len, range_end,
			   range_end_len, flags);
	q->limit = limit;
	q->serializable = (flags & SN_CLIENT_SERIALIZABLE) != 0;
	q->keys_only = (flags & SN_CLIENT_KEYS_ONLY) != 0;
	q->count_only = (flags & SN_CLIENT_COUNT_ONLY) != 0;
	grpc_slice resp;
	if (rv == SN_OK)
		rv = read_call(c, "/senate.v1.KV/Range",
			       senate_v1_RangeRequest_fields, q, q->serializable,
			       &resp);
	kv_list l;
	if (rv == SN_OK &&
	    (rv = decode_kvs(senate_v1_RangeResponse_fields, r, &r->kvs, resp,
			     "RangeResponse", &l)) == SN_OK) {
		out->kvs = l.kvs;
		out->n = l.n;
		out->more = r->more;
		out->count = r->count;
		out->revision = r->header.revision;
	}
	free(q);
	free(r);
	return rv;
}

int sn_client_delete(sn_delete_result *out, sn_client *c, const void *key,
		     size_t key_len, const void *range_end,
		     size_t range_end_len, unsigned flags)
{
	if (out)
		memset(out, 0, sizeof *out);
	if (!c)
		return sn_errmsg_set(SN_EINVAL, "client: client is NULL");
	void *qq, *rr;
	if (alloc_pair(&qq, sizeof(senate_v1_DeleteRequest), &rr,
		       sizeof(senate_v1_DeleteResponse)))
		return SN_ENOMEM;
	senate_v1_DeleteRequest *q = qq;
	senate_v1_DeleteResponse *r = rr;
	int rv = set_range(q->key.bytes, &q->key.size, q->range_end.bytes,
			   &q->range_end.size, key, key_len, range_end,
			   range_end_len, flags);
	q->prev_kv = (flags & SN_CLIENT_PREV_KV) != 0;
	grpc_slice resp;
	if (rv == SN_OK)
		rv = write_call(c, "/senate.v1.KV/Delete",
				senate_v1_DeleteRequest_fields, q,
				&q->has_request_id, &q->request_id, &resp);
	kv_list l;
	if (rv == SN_OK &&
	    (rv = decode_kvs(senate_v1_DeleteResponse_fields, r, &r->prev_kvs,
			     resp, "DeleteResponse", &l)) == SN_OK) {
		if (out) {
			out->deleted = r->deleted;
			out->revision = r->header.revision;
			out->prev = l.kvs;
			out->n_prev = l.n;
		} else {
			kvs_free(l.kvs, l.n);
		}
	}
	free(q);
	free(r);
	return rv;
}

/* ------------------------------------------------------------ Cluster --- */

static int role_of(senate_v1_Role r)
{
	switch (r) {
	case senate_v1_Role_ROLE_FOLLOWER: return SN_ROLE_FOLLOWER;
	case senate_v1_Role_ROLE_PRECANDIDATE: return SN_ROLE_PRECANDIDATE;
	case senate_v1_Role_ROLE_CANDIDATE: return SN_ROLE_CANDIDATE;
	case senate_v1_Role_ROLE_LEADER: return SN_ROLE_LEADER;
	default: return -1;
	}
}

int sn_client_status(sn_cluster_status *out, sn_client *c,
		     const char *endpoint)
{
	if (!out)
		return sn_errmsg_set(SN_EINVAL, "client: out is NULL");
	memset(out, 0, sizeof *out);
	if (!c)
		return sn_errmsg_set(SN_EINVAL, "client: client is NULL");
	if (endpoint && (!endpoint[0] || strlen(endpoint) >= ADDR_MAX))
		return sn_errmsg_set(SN_EINVAL, "client: bad endpoint");
	senate_v1_StatusRequest q = senate_v1_StatusRequest_init_zero;
	grpc_slice req, resp = grpc_empty_slice();
	int rv = encode(senate_v1_StatusRequest_fields, &q, &req);
	if (rv)
		return rv;
	if (endpoint) {
		answer a;
		attempt(c, endpoint, "/senate.v1.Cluster/Status", req,
			c->o.timeout_ms, &a);
		if (a.code == GRPC_STATUS_OK) {
			resp = a.message;
		} else {
			grpc_slice_unref(a.message);
			rv = sn_errmsg_set(
				a.code < 0 || a.code ==
						      GRPC_STATUS_UNAVAILABLE ||
						a.code == GRPC_STATUS_DEADLINE_EXCEEDED
					? SN_ETIMEDOUT
					: final_error(a.code),
				"%s: %s", endpoint,
				a.details[0] ? a.details : "no answer");
		}
	} else {
		rv = request(c, "/senate.v1.Cluster/Status", req, ANY, &resp);
	}
	grpc_slice_unref(req);
	if (rv)
		return rv;
	senate_v1_StatusResponse *r = calloc(1, sizeof *r);
	if (!r) {
		grpc_slice_unref(resp);
		return sn_errmsg_set(SN_ENOMEM, "client: out of memory");
	}
	rv = decode(senate_v1_StatusResponse_fields, r, resp,
		    "StatusResponse");
	grpc_slice_unref(resp);
	if (rv == SN_OK && r->members_count) {
		out->members = calloc(r->members_count, sizeof *out->members);
		if (!out->members)
			rv = sn_errmsg_set(SN_ENOMEM, "client: out of memory");
	}
	if (rv == SN_OK) {
		out->member_id = r->member_id;
		out->group = r->group;
		out->leader_id = r->leader_id;
		out->term = r->term;
		snprintf(out->engine, sizeof out->engine, "%s", r->engine);
		snprintf(out->error, sizeof out->error, "%s", r->error);
		out->n_members = r->members_count;
		for (size_t i = 0; i < r->members_count; i++) {
			const senate_v1_MemberStatus *m = &r->members[i];
			sn_member_info *o = &out->members[i];
			o->id = m->id;
			snprintf(o->peer_address, sizeof o->peer_address, "%s",
				 m->peer_address);
			snprintf(o->client_address, sizeof o->client_address,
				 "%s", m->client_address);
			o->role = role_of(m->role);
			o->term = m->term;
			o->commit = m->commit;
			o->applied = m->applied;
			o->leader_id = m->leader_id;
			o->self = m->self;
		}
	}
	free(r);
	return rv;
}
