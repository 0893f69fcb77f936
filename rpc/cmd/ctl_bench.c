/*
 * ctl_bench.c - `senatectl bench put` (docs/senatectl.md, docs/benchmarks.md):
 * N clients write M requests in all, each client one request at a time,
 * back to back, over C connections (gRPC channels) to the leader; latency
 * of every request is kept and the percentiles printed at the end.
 *
 * The clients are not threads: one driver thread keeps every client's
 * unary call in flight on one completion queue and starts a client's next
 * request as soon as its answer is in, so the measuring program costs
 * little of the machine it shares with the cluster (a thread per client
 * cost about a quarter of two CPUs at 13,000 puts/s).
 *
 * Each request is one unary call (send, half-close, receive in one batch):
 * senate.v1.KV/Put with a request id of the client's own session, as the
 * C client sends it, to the leader (found by a warm-up put that follows
 * `senate-leader`); with --etcd, etcdserverpb.KV/Put to the first endpoint
 * (an etcd member, best its leader). So the two systems are measured by
 * the same program, on the same gRPC library, in the same way.
 *
 * Bounded: at most --requests requests and --max-seconds of wall time.
 */
#define _GNU_SOURCE
#include "ctl.h"

#include <senate/client.h>
#include <senate/senate.h>

#include "gutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct bench {
	/* flags */
	long long clients, conns, requests, value_size, keys, max_seconds;
	bool etcd;
	grpc_channel **ch; /* the connections */
	char *value;
	/* progress */
	atomic_llong next;  /* requests handed out */
	atomic_llong done;  /* requests finished (ok or not) */
	atomic_llong failed;
	atomic_bool stop;
	double start, deadline;
	double end; /* when the last answer came (under mu) */
	char first_error[512];
	pthread_mutex_t mu;
	/* latencies in microseconds, one slot per request */
	uint32_t *lat;
} bench;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void bench_usage(FILE *f)
{
	fprintf(f,
		"usage: senatectl --endpoints A,B,C bench put [--clients N] "
		"[--conns C]\n"
		"         [--requests M] [--value-size B] [--keys K] "
		"[--max-seconds S] [--etcd]\n"
		"  --clients N      concurrent writers, each waiting for its "
		"answer [1]\n"
		"  --conns C        client connections shared by the writers "
		"[1]\n"
		"  --requests M     puts in all [10000]\n"
		"  --value-size B   bytes per value [100]\n"
		"  --keys K         keys written at random among K [100000]\n"
		"  --max-seconds S  stop after S seconds even if not done "
		"[300]\n"
		"  --etcd           send etcd v3 KV.Put requests to the first "
		"endpoint (an etcd\n"
		"                   member, best its leader) instead: the same "
		"load for comparison\n"
		"Prints ops/s and the latency percentiles p50/p90/p99/p999/max; "
		"the last line,\n"
		"`result: ...`, is for scripts (bench/).\n");
}

/* ---- the requests, encoded by hand ---------------------------------------- */

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static size_t varint_len(uint64_t v)
{
	uint8_t tmp[10];
	return put_varint(tmp, v);
}

/*
 * etcdserverpb.PutRequest { bytes key = 1; bytes value = 2; } and
 * senate.v1.PutRequest { bytes key = 1; bytes value = 2; ...;
 * RequestId request_id = 5; } share fields 1 and 2; a Senate request also
 * carries its session's request id (client_id = 1, seq = 2), as the C
 * client's do, so the store does its retry bookkeeping as for any client.
 * session == 0: no request id (etcd).
 */
static grpc_slice put_request(const char *key, size_t klen, const char *val,
			      size_t vlen, uint64_t session, uint64_t seq)
{
	grpc_slice s = grpc_slice_malloc(klen + vlen + 48);
	uint8_t *p = GRPC_SLICE_START_PTR(s), *q = p;
	*q++ = 0x0a;
	q += put_varint(q, klen);
	memcpy(q, key, klen);
	q += klen;
	*q++ = 0x12;
	q += put_varint(q, vlen);
	memcpy(q, val, vlen);
	q += vlen;
	if (session) {
		*q++ = 0x2a;
		q += put_varint(q, 2 + varint_len(session) + varint_len(seq));
		*q++ = 0x08;
		q += put_varint(q, session);
		*q++ = 0x10;
		q += put_varint(q, seq);
	}
	return grpc_slice_sub_no_ref(s, 0, (size_t)(q - p));
}

/* ---- the clients: calls in flight on one completion queue ---------------- */

typedef struct slot {
	sn__tag tag;
	bench *b;
	grpc_channel *ch;
	grpc_call *call;
	long long req; /* the request in flight */
	double t0;
	uint64_t rng, session, seq;
	grpc_byte_buffer *send, *recv;
	grpc_metadata_array initial, trailing;
	grpc_status_code status;
	grpc_slice details;
} slot;

static uint64_t next_rand(uint64_t *s)
{
	/* xorshift64* */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static void slot_done(sn__tag *t, bool ok);

/* Start the slot's next request; false when there is none left. */
static bool slot_start(slot *sl, grpc_completion_queue *cq)
{
	bench *b = sl->b;
	char key[32];
	long long i = atomic_fetch_add(&b->next, 1);

	if (i >= b->requests || atomic_load(&b->stop))
		return false;
	int kn = snprintf(key, sizeof key, "bench/%012llu",
			  (unsigned long long)(next_rand(&sl->rng) %
					       (uint64_t)b->keys));
	grpc_slice req = put_request(key, (size_t)kn, b->value,
				     (size_t)b->value_size, sl->session,
				     ++sl->seq);
	sl->send = grpc_raw_byte_buffer_create(&req, 1);
	grpc_slice_unref(req);
	sl->req = i;
	sl->recv = NULL;
	sl->status = GRPC_STATUS_UNKNOWN;
	sl->details = grpc_empty_slice();
	grpc_metadata_array_init(&sl->initial);
	grpc_metadata_array_init(&sl->trailing);
	sl->t0 = now_s();
	grpc_slice m = grpc_slice_from_static_string(
		b->etcd ? "/etcdserverpb.KV/Put" : "/senate.v1.KV/Put");
	sl->call = grpc_channel_create_call(sl->ch, NULL,
					    GRPC_PROPAGATE_DEFAULTS, cq, m,
					    NULL, sn__deadline_ms(10000), NULL);
	grpc_op ops[6];
	sn__unary_ops(ops, sl->send, &sl->initial, &sl->recv, &sl->trailing,
		      &sl->status, &sl->details);
	sl->tag.fn = slot_done;
	if (!sl->call ||
	    grpc_call_start_batch(sl->call, ops, 6, &sl->tag, NULL) !=
		    GRPC_CALL_OK) {
		/* Not started: no event will come; count it and stop. */
		if (sl->call)
			grpc_call_unref(sl->call);
		sl->call = NULL;
		grpc_byte_buffer_destroy(sl->send);
		grpc_metadata_array_destroy(&sl->initial);
		grpc_metadata_array_destroy(&sl->trailing);
		atomic_fetch_add(&b->failed, 1);
		atomic_fetch_add(&b->done, 1);
		pthread_mutex_lock(&b->mu);
		snprintf(b->first_error, sizeof b->first_error,
			 "cannot start a call");
		pthread_mutex_unlock(&b->mu);
		atomic_store(&b->stop, true);
		return false;
	}
	return true;
}

/* A request finished: record it. The next one is started by the caller. */
static void slot_done(sn__tag *t, bool ok)
{
	slot *sl = SN__CONTAINER(t, slot, tag);
	bench *b = sl->b;
	double us = (now_s() - sl->t0) * 1e6;
	bool good = ok && sl->status == GRPC_STATUS_OK && sl->recv;

	b->lat[sl->req] = !good ? UINT32_MAX /* failed: not a latency */
		: us > 4e9	? 4000000000u
				: (uint32_t)us;
	if (!good && atomic_fetch_add(&b->failed, 1) == 0) {
		pthread_mutex_lock(&b->mu);
		snprintf(b->first_error, sizeof b->first_error,
			 "%s: status %d: %.*s", b->etcd ? "etcd" : "senate",
			 (int)sl->status, (int)GRPC_SLICE_LENGTH(sl->details),
			 (const char *)GRPC_SLICE_START_PTR(sl->details));
		pthread_mutex_unlock(&b->mu);
	}
	grpc_call_unref(sl->call);
	sl->call = NULL;
	grpc_byte_buffer_destroy(sl->send);
	if (sl->recv)
		grpc_byte_buffer_destroy(sl->recv);
	grpc_slice_unref(sl->details);
	grpc_metadata_array_destroy(&sl->initial);
	grpc_metadata_array_destroy(&sl->trailing);
	atomic_fetch_add(&b->done, 1);
}

typedef struct driver {
	bench *b;
	slot *slots;
	long long n;
	grpc_completion_queue *cq;
} driver;

/* The driver thread: every client's calls, each started again as soon as
 * its answer is in, until no request is left. */
static void *driver_main(void *arg)
{
	driver *d = arg;
	long long busy = 0;

	for (long long i = 0; i < d->n; i++)
		busy += slot_start(&d->slots[i], d->cq);
	while (busy > 0) {
		grpc_event ev = grpc_completion_queue_next(
			d->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
		if (ev.type != GRPC_OP_COMPLETE)
			break; /* cannot happen: the queue is shut down last */
		slot *sl = SN__CONTAINER(ev.tag, slot, tag);
		sl->tag.fn(&sl->tag, ev.success != 0);
		if (!slot_start(sl, d->cq))
			busy--;
	}
	double t = now_s();
	pthread_mutex_lock(&d->b->mu);
	if (t > d->b->end)
		d->b->end = t;
	pthread_mutex_unlock(&d->b->mu);
	return NULL;
}

/* One synchronous put (the warm-up), SN_OK or SN_ERROR with *err; the
 * `senate-leader` trailer, if any, into leader[cap]. */
static int put_once(grpc_channel *ch, bool etcd, uint64_t session,
		    char *leader, char *err, size_t cap)
{
	grpc_slice req = put_request("bench/warmup", 12, "w", 1, session, 1);
	sn__unary_out u;
	sn__unary(ch, etcd ? "/etcdserverpb.KV/Put" : "/senate.v1.KV/Put", req,
		  sn__deadline_ms(10000), &u);
	grpc_slice_unref(req);
	int rv = u.completed && u.status == GRPC_STATUS_OK ? SN_OK : SN_ERROR;
	if (rv != SN_OK)
		snprintf(err, cap, "%s: status %d: %.*s",
			 etcd ? "etcd" : "senate", (int)u.status,
			 (int)GRPC_SLICE_LENGTH(u.details),
			 (const char *)GRPC_SLICE_START_PTR(u.details));
	leader[0] = '\0';
	for (size_t i = 0; i < u.trailing.count; i++) {
		const grpc_metadata *md = &u.trailing.metadata[i];
		if (grpc_slice_str_cmp(md->key, "senate-leader") == 0 &&
		    GRPC_SLICE_LENGTH(md->value) < cap)
			snprintf(leader, cap, "%.*s",
				 (int)GRPC_SLICE_LENGTH(md->value),
				 (const char *)GRPC_SLICE_START_PTR(md->value));
	}
	sn__unary_done(&u);
	return rv;
}

/* ---- report ---------------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static double pct(const uint32_t *s, size_t n, double p)
{
	if (!n)
		return 0;
	size_t i = (size_t)(p * (double)n);
	if (i >= n)
		i = n - 1;
	return s[i] / 1000.0;
}

static void progress(bench *b, bool final)
{
	long long d = atomic_load(&b->done);
	double el = now_s() - b->start;
	int width = 30, fill = (int)(width * d / (b->requests ? b->requests : 1));
	char bar[64];
	for (int i = 0; i < width; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[width] = '\0';
	fprintf(stderr, "\r[%s] %3lld%% %lld/%lld %.0f ops/s %s", bar,
		100 * d / (b->requests ? b->requests : 1), d, b->requests,
		el > 0 ? d / el : 0.0, final ? "\n" : "");
	fflush(stderr);
}

int ctl_bench(sn_client *c, const char *const *eps, size_t n_eps, int argc,
	      char **argv)
{
	bench b;
	memset(&b, 0, sizeof b);
	b.clients = 1;
	b.conns = 1;
	b.requests = 10000;
	b.value_size = 100;
	b.keys = 100000;
	b.max_seconds = 300;

	if (argc < 1)
		return -1;
	if (strcmp(argv[0], "--help") == 0) {
		bench_usage(stdout);
		return 0;
	}
	if (strcmp(argv[0], "put") != 0)
		return -1;
	for (int i = 1; i < argc; i++) {
		const char *f = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(f, "--etcd") == 0) {
			b.etcd = true;
			continue;
		}
		if (strcmp(f, "--help") == 0) {
			bench_usage(stdout);
			return 0;
		}
		if (!v) {
			fprintf(stderr, "senatectl bench: %s needs a value\n",
				f);
			bench_usage(stderr);
			return 2;
		}
		i++;
		if (strcmp(f, "--clients") == 0)
			b.clients = ctl_number(f, v, 1, 4096);
		else if (strcmp(f, "--conns") == 0)
			b.conns = ctl_number(f, v, 1, 256);
		else if (strcmp(f, "--requests") == 0)
			b.requests = ctl_number(f, v, 1, 100000000);
		else if (strcmp(f, "--value-size") == 0)
			b.value_size = ctl_number(f, v, 0, 1 << 20);
		else if (strcmp(f, "--keys") == 0)
			b.keys = ctl_number(f, v, 1, 1LL << 40);
		else if (strcmp(f, "--max-seconds") == 0)
			b.max_seconds = ctl_number(f, v, 1, 86400);
		else {
			fprintf(stderr, "senatectl bench: unknown flag %s\n", f);
			bench_usage(stderr);
			return 2;
		}
	}
	if (b.conns > b.clients)
		b.conns = b.clients;

	b.value = malloc((size_t)b.value_size + 1);
	b.lat = malloc((size_t)b.requests * sizeof *b.lat);
	b.ch = calloc((size_t)b.conns, sizeof *b.ch);
	slot *slots = calloc((size_t)b.clients, sizeof *slots);
	if (!b.value || !b.lat || !b.ch || !slots) {
		fprintf(stderr, "senatectl bench: out of memory\n");
		return 1;
	}
	for (long long i = 0; i < b.value_size; i++)
		b.value[i] = (char)('a' + i % 26);
	/* Requests handed out but never run (a stop) stay "failed". */
	memset(b.lat, 0xff, (size_t)b.requests * sizeof *b.lat);
	pthread_mutex_init(&b.mu, NULL);
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);

	/* The target: etcd's first endpoint; Senate's leader, found by a
	 * warm-up put that follows `senate-leader` from member to member. */
	int rv = 0;
	char target[256], leader[256], err[512] = "";
	snprintf(target, sizeof target, "%s", eps[0]);
	grpc_init();
	for (size_t hop = 0;; hop++) {
		grpc_channel_credentials *cr = grpc_insecure_credentials_create();
		grpc_channel *ch = grpc_channel_create(target, cr, NULL);
		grpc_channel_credentials_release(cr);
		int w = put_once(ch, b.etcd, b.etcd ? 0 : next_rand(&seed) | 1,
				 leader, err, sizeof err);
		grpc_channel_destroy(ch);
		if (w == SN_OK)
			break;
		if (!b.etcd && leader[0] && hop < n_eps + 2 &&
		    strcmp(leader, target) != 0) {
			snprintf(target, sizeof target, "%s", leader);
			continue;
		}
		/* The first endpoint may be down: the C client finds a leader
		 * by itself (its warm-up put), then ask the cluster who it is. */
		sn_cluster_status st;
		if (!b.etcd && hop == 0 &&
		    sn_client_put(NULL, c, "bench/warmup", 12, "w", 1, 0) ==
			    SN_OK &&
		    sn_client_status(&st, c, NULL) == SN_OK) {
			bool found = false;
			for (size_t m = 0; m < st.n_members; m++)
				if (st.members[m].id == st.leader_id) {
					snprintf(target, sizeof target, "%s",
						 st.members[m].client_address);
					found = true;
				}
			sn_cluster_status_dispose(&st);
			if (found)
				continue;
		}
		fprintf(stderr, "senatectl bench: the warm-up put failed: %s\n",
			err);
		rv = 1;
		goto out;
	}
	for (long long i = 0; i < b.conns; i++) {
		/* A subchannel pool of its own: a connection of its own (by
		 * default, channels to one target share one connection). */
		grpc_arg arg = { GRPC_ARG_INTEGER,
				 (char *)GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL,
				 { .integer = 1 } };
		grpc_channel_args args = { 1, &arg };
		grpc_channel_credentials *cr = grpc_insecure_credentials_create();
		b.ch[i] = grpc_channel_create(target, cr, &args);
		grpc_channel_credentials_release(cr);
		/* One warm-up put per connection (connects); not counted. */
		if (put_once(b.ch[i], b.etcd, b.etcd ? 0 : next_rand(&seed) | 1,
			     leader, err, sizeof err) != SN_OK) {
			fprintf(stderr, "senatectl bench: the warm-up put "
					"failed: %s\n",
				err);
			rv = 1;
			goto out;
		}
	}

	fprintf(stderr,
		"bench put: %lld clients over %lld connection%s, %lld requests, "
		"%lld-byte values, %lld keys, target %s at %s\n",
		b.clients, b.conns, b.conns > 1 ? "s" : "", b.requests,
		b.value_size, b.keys, b.etcd ? "etcd" : "senate", target);
	bool tty = isatty(2);
	driver d = { &b, slots, b.clients,
		     grpc_completion_queue_create_for_next(NULL) };
	for (long long i = 0; i < b.clients; i++) {
		slots[i].b = &b;
		slots[i].ch = b.ch[i % b.conns];
		slots[i].rng = seed + 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
		slots[i].session = b.etcd ? 0 : next_rand(&seed) | 1;
	}
	b.start = now_s();
	b.deadline = b.start + (double)b.max_seconds;
	pthread_t th;
	if (pthread_create(&th, NULL, driver_main, &d) != 0) {
		fprintf(stderr, "senatectl bench: cannot start a thread\n");
		grpc_completion_queue_shutdown(d.cq);
		grpc_completion_queue_destroy(d.cq);
		rv = 1;
		goto out;
	}
	while (atomic_load(&b.done) < b.requests && !atomic_load(&b.stop)) {
		struct timespec ts = { 0, 100 * 1000000L };
		nanosleep(&ts, NULL);
		if (tty)
			progress(&b, false);
		if (now_s() > b.deadline) {
			fprintf(stderr, "\nsenatectl bench: --max-seconds %lld "
					"reached; stopping\n",
				b.max_seconds);
			atomic_store(&b.stop, true);
		}
	}
	/* A stop lets the calls in flight finish (each has a deadline). */
	pthread_join(th, NULL);
	grpc_completion_queue_shutdown(d.cq);
	while (grpc_completion_queue_next(d.cq,
					  gpr_inf_future(GPR_CLOCK_MONOTONIC),
					  NULL).type != GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(d.cq);
	/* From the start to the last answer (not to the progress loop's next
	 * poll). */
	double el = (b.end > b.start ? b.end : now_s()) - b.start;
	if (tty)
		progress(&b, true);

	/* Percentiles of the successful requests. */
	long long bad = atomic_load(&b.failed);
	size_t n = 0;
	for (long long i = 0; i < b.requests; i++)
		if (b.lat[i] != UINT32_MAX)
			b.lat[n++] = b.lat[i];
	qsort(b.lat, n, sizeof *b.lat, cmp_u32);
	double ops = el > 0 ? (double)n / el : 0;
	printf("%zu ok, %lld failed in %.2f s: %.0f ops/s\n", n, bad, el, ops);
	printf("latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p999 %.3f  "
	       "max %.3f\n",
	       pct(b.lat, n, 0.50), pct(b.lat, n, 0.90), pct(b.lat, n, 0.99),
	       pct(b.lat, n, 0.999), n ? b.lat[n - 1] / 1000.0 : 0.0);
	if (bad)
		printf("first error: %s\n", b.first_error);
	printf("result: target=%s clients=%lld conns=%lld requests=%lld "
	       "value_size=%lld ok=%zu failed=%lld seconds=%.3f ops_s=%.1f "
	       "p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f\n",
	       b.etcd ? "etcd" : "senate", b.clients, b.conns, b.requests,
	       b.value_size, n, bad, el, ops, pct(b.lat, n, 0.50),
	       pct(b.lat, n, 0.90), pct(b.lat, n, 0.99),
	       pct(b.lat, n, 0.999));
	if (bad || (long long)n < b.requests)
		rv = 1;
out:
	for (long long i = 0; i < b.conns; i++)
		if (b.ch[i])
			grpc_channel_destroy(b.ch[i]);
	free(b.ch);
	grpc_shutdown();
	free(b.value);
	free(b.lat);
	free(slots);
	pthread_mutex_destroy(&b.mu);
	return rv;
}
