/*
 * ctl_bench.c - `senatectl bench put` (docs/senatectl.md, docs/benchmarks.md):
 * N clients (threads) each write their share of M requests back to back
 * through the public C client, over C connections (sn_client objects, each
 * with its own gRPC channels); latency of every request is kept and the
 * percentiles printed at the end.
 *
 * --etcd sends the same load to an etcd v3 member instead (raw
 * etcdserverpb.KV/Put calls, one gRPC unary call each in a single batch,
 * like the Senate client does), so that the two are measured by the same
 * program, on the same gRPC library, in the same way.
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
	const char *target; /* etcd: the member to send to */
	/* connections: sn_clients (Senate) or channels (etcd) */
	sn_client **cl;
	grpc_channel **ch;
	char *value;
	/* progress */
	atomic_llong next;  /* requests handed out */
	atomic_llong done;  /* requests finished (ok or not) */
	atomic_llong failed;
	atomic_bool stop;
	double start, deadline;
	double end; /* when the last writer finished (under mu) */
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

/* ---- one etcd put ---------------------------------------------------------- */

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

/* etcdserverpb.PutRequest { bytes key = 1; bytes value = 2; } */
static grpc_slice etcd_request(const char *key, size_t klen, const char *val,
			       size_t vlen)
{
	grpc_slice s = grpc_slice_malloc(klen + vlen + 24);
	uint8_t *p = GRPC_SLICE_START_PTR(s), *q = p;
	*q++ = 0x0a;
	q += put_varint(q, klen);
	memcpy(q, key, klen);
	q += klen;
	*q++ = 0x12;
	q += put_varint(q, vlen);
	memcpy(q, val, vlen);
	q += vlen;
	return grpc_slice_sub_no_ref(s, 0, (size_t)(q - p));
}

/* SN_OK or SN_ERROR with a message in *err. */
static int etcd_put(grpc_channel *ch, grpc_slice req, char *err, size_t cap)
{
	sn__unary_out u;
	sn__unary(ch, "/etcdserverpb.KV/Put", req, sn__deadline_ms(10000), &u);
	int rv = u.completed && u.status == GRPC_STATUS_OK ? SN_OK : SN_ERROR;
	if (rv != SN_OK)
		snprintf(err, cap, "etcd: status %d: %.*s", (int)u.status,
			 (int)GRPC_SLICE_LENGTH(u.details),
			 (const char *)GRPC_SLICE_START_PTR(u.details));
	sn__unary_done(&u);
	return rv;
}

/* ---- the writers ----------------------------------------------------------- */

typedef struct writer {
	bench *b;
	long long id;
	uint64_t rng;
} writer;

static uint64_t next_rand(uint64_t *s)
{
	/* xorshift64* */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static void *writer_main(void *arg)
{
	writer *w = arg;
	bench *b = w->b;
	sn_client *c = b->cl ? b->cl[w->id % b->conns] : NULL;
	grpc_channel *ch = b->ch ? b->ch[w->id % b->conns] : NULL;
	char key[32], err[512];

	for (;;) {
		long long i = atomic_fetch_add(&b->next, 1);
		if (i >= b->requests || atomic_load(&b->stop))
			break;
		int kn = snprintf(key, sizeof key, "bench/%012llu",
				  (unsigned long long)(next_rand(&w->rng) %
						       (uint64_t)b->keys));
		double t0 = now_s();
		int rv;
		if (b->etcd) {
			grpc_slice req = etcd_request(key, (size_t)kn, b->value,
						      (size_t)b->value_size);
			rv = etcd_put(ch, req, err, sizeof err);
			grpc_slice_unref(req);
		} else {
			rv = sn_client_put(NULL, c, key, (size_t)kn, b->value,
					   (size_t)b->value_size, 0);
			if (rv != SN_OK)
				snprintf(err, sizeof err, "%s", sn_errmsg());
		}
		double us = (now_s() - t0) * 1e6;
		b->lat[i] = us > 4e9 ? 4000000000u : (uint32_t)us;
		if (rv != SN_OK) {
			b->lat[i] = UINT32_MAX; /* failed: not a latency */
			if (atomic_fetch_add(&b->failed, 1) == 0) {
				pthread_mutex_lock(&b->mu);
				snprintf(b->first_error, sizeof b->first_error,
					 "%s", err);
				pthread_mutex_unlock(&b->mu);
			}
		}
		atomic_fetch_add(&b->done, 1);
	}
	double t = now_s();
	pthread_mutex_lock(&b->mu);
	if (t > b->end)
		b->end = t;
	pthread_mutex_unlock(&b->mu);
	return NULL;
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
	pthread_t *th = calloc((size_t)b.clients, sizeof *th);
	writer *ws = calloc((size_t)b.clients, sizeof *ws);
	if (!b.value || !b.lat || !th || !ws) {
		fprintf(stderr, "senatectl bench: out of memory\n");
		return 1;
	}
	for (long long i = 0; i < b.value_size; i++)
		b.value[i] = (char)('a' + i % 26);
	/* Requests handed out but never run (a stop) stay "failed". */
	memset(b.lat, 0xff, (size_t)b.requests * sizeof *b.lat);
	pthread_mutex_init(&b.mu, NULL);

	/* Connections: the first is the command's own client. */
	int rv = 0;
	grpc_init();
	if (b.etcd) {
		b.target = eps[0];
		b.ch = calloc((size_t)b.conns, sizeof *b.ch);
		for (long long i = 0; b.ch && i < b.conns; i++) {
			grpc_channel_credentials *cr =
				grpc_insecure_credentials_create();
			b.ch[i] = grpc_channel_create(b.target, cr, NULL);
			grpc_channel_credentials_release(cr);
		}
	} else {
		b.cl = calloc((size_t)b.conns, sizeof *b.cl);
		for (long long i = 0; b.cl && i < b.conns; i++) {
			if (i == 0) {
				b.cl[0] = c;
				continue;
			}
			sn_client_options o;
			sn_client_options_init(&o, SN_CLIENT_OPTIONS_VERSION);
			o.endpoints = eps;
			o.n_endpoints = n_eps;
			if (sn_client_open(&b.cl[i], &o) != SN_OK) {
				fprintf(stderr, "senatectl bench: %s\n",
					sn_errmsg());
				return 1;
			}
		}
	}
	if ((b.etcd && !b.ch) || (!b.etcd && !b.cl)) {
		fprintf(stderr, "senatectl bench: out of memory\n");
		return 1;
	}

	/* One warm-up put per connection (connects, finds the leader); not
	 * counted. */
	for (long long i = 0; i < b.conns; i++) {
		char err[512] = "";
		int w;
		if (b.etcd) {
			grpc_slice req = etcd_request("bench/warmup", 12, "w", 1);
			w = etcd_put(b.ch[i], req, err, sizeof err);
			grpc_slice_unref(req);
		} else {
			w = sn_client_put(NULL, b.cl[i], "bench/warmup", 12, "w",
					  1, 0);
			snprintf(err, sizeof err, "%s", sn_errmsg());
		}
		if (w != SN_OK) {
			fprintf(stderr, "senatectl bench: the warm-up put "
					"failed: %s\n",
				err);
			rv = 1;
			goto out;
		}
	}

	fprintf(stderr,
		"bench put: %lld clients over %lld connection%s, %lld requests, "
		"%lld-byte values, %lld keys, target %s\n",
		b.clients, b.conns, b.conns > 1 ? "s" : "", b.requests,
		b.value_size, b.keys, b.etcd ? "etcd" : "senate");
	bool tty = isatty(2);
	b.start = now_s();
	b.deadline = b.start + (double)b.max_seconds;
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
	for (long long i = 0; i < b.clients; i++) {
		ws[i].b = &b;
		ws[i].id = i;
		ws[i].rng = seed + 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
		if (pthread_create(&th[i], NULL, writer_main, &ws[i]) != 0) {
			fprintf(stderr, "senatectl bench: cannot start a "
					"thread\n");
			atomic_store(&b.stop, true);
			b.clients = i;
			rv = 1;
			break;
		}
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
		/* Every writer may have ended early (a thread failed). */
		if (atomic_load(&b.next) >= b.requests + b.clients)
			break;
	}
	for (long long i = 0; i < b.clients; i++)
		pthread_join(th[i], NULL);
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
	if (b.cl)
		for (long long i = 1; i < b.conns; i++)
			sn_client_close(b.cl[i]);
	if (b.ch)
		for (long long i = 0; i < b.conns; i++)
			grpc_channel_destroy(b.ch[i]);
	free(b.cl);
	free(b.ch);
	grpc_shutdown();
	free(b.value);
	free(b.lat);
	free(th);
	free(ws);
	pthread_mutex_destroy(&b.mu);
	return rv;
}
