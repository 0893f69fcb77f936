/*
 * senatectl - talk to a Senate cluster (docs/senatectl.md), through the
 * public C client <senate/client.h>.
 *
 *   senatectl --endpoints A,B,C put KEY VALUE [--prev-kv]
 *   senatectl --endpoints A,B,C get KEY [--serializable]
 *   senatectl --endpoints A,B,C del KEY [--prefix]
 *   senatectl --endpoints A,B,C range PREFIX [--limit N]
 *   senatectl --endpoints A,B,C status
 *   senatectl --endpoints A,B,C bench put [flags]          (ctl_bench.c)
 *   senatectl cluster up|down|status --data-dir DIR ...   (ctl_cluster.c)
 *
 * The client finds the leader, fails over and retries until --timeout; a
 * write carries a request id, so a retry after a lost reply cannot apply
 * it twice. Exit status: 0 done, 1 the cluster said no (not found,
 * refused, unreachable), 2 usage.
 */
#define _POSIX_C_SOURCE 200809L

#include "ctl.h"

#include <senate/client.h>
#include <senate/senate.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: senatectl --endpoints HOST:PORT[,HOST:PORT...] "
		"[--timeout MS] COMMAND\n"
		"  put KEY VALUE [--prev-kv]  write a key (prints the revision)\n"
		"  get KEY [--serializable]   read a key (linearizable unless "
		"--serializable)\n"
		"  del KEY [--prefix]         delete a key (or every key with "
		"this prefix)\n"
		"  range PREFIX [--limit N]   keys with this prefix, in order\n"
		"  status                     every endpoint's view: member, "
		"role, term, commit,\n"
		"                             applied, leader, lag (commit "
		"entries not applied yet)\n"
		"  bench put [--clients N] [--requests M] [--value-size B]\n"
		"                             write load: ops/s and p50/p99/"
		"p999 latency\n"
		"                             (senatectl bench --help)\n"
		"       senatectl cluster up|down|status --data-dir DIR [...]\n"
		"                             a local cluster of senated "
		"processes\n"
		"                             (senatectl cluster --help)\n");
}

static int failed(const char *what)
{
	fprintf(stderr, "senatectl: %s: %s\n", what, sn_errmsg());
	return 1;
}

/* ---- commands ------------------------------------------------------------- */

static int cmd_put(sn_client *c, const char *k, const char *v, bool prev)
{
	sn_put_result r;
	if (sn_client_put(&r, c, k, strlen(k), v, strlen(v),
			  prev ? SN_CLIENT_PREV_KV : 0) != SN_OK)
		return failed("put");
	printf("OK revision %lld\n", (long long)r.revision);
	if (r.has_prev)
		printf("previous %.*s (revision %lld)\n", (int)r.prev.value.size,
		       (const char *)r.prev.value.ptr,
		       (long long)r.prev.mod_revision);
	sn_put_result_dispose(&r);
	return 0;
}

static int cmd_get(sn_client *c, const char *k, bool serializable)
{
	sn_kv kv;
	int rv = sn_client_get(&kv, c, k, strlen(k),
			       serializable ? SN_CLIENT_SERIALIZABLE : 0);
	if (rv == SN_ENOTFOUND) {
		fprintf(stderr, "senatectl: %s: not found\n", k);
		return 1;
	}
	if (rv != SN_OK)
		return failed("get");
	printf("%.*s\n", (int)kv.value.size, (const char *)kv.value.ptr);
	sn_kv_dispose(&kv);
	return 0;
}

static int cmd_del(sn_client *c, const char *k, bool prefix)
{
	sn_delete_result r;
	if (sn_client_delete(&r, c, k, strlen(k), NULL, 0,
			     prefix ? SN_CLIENT_PREFIX : 0) != SN_OK)
		return failed("del");
	printf("deleted %lld\n", (long long)r.deleted);
	sn_delete_result_dispose(&r);
	return 0;
}

static int cmd_range(sn_client *c, const char *prefix, long long limit)
{
	sn_range_result r;
	if (sn_client_range(&r, c, prefix, strlen(prefix), NULL, 0, limit,
			    SN_CLIENT_PREFIX) != SN_OK)
		return failed("range");
	for (size_t i = 0; i < r.n; i++)
		printf("%.*s=%.*s\n", (int)r.kvs[i].key.size,
		       (const char *)r.kvs[i].key.ptr,
		       (int)r.kvs[i].value.size,
		       (const char *)r.kvs[i].value.ptr);
	if (r.more)
		fprintf(stderr, "(%lld keys in all; --limit cut the list)\n",
			(long long)r.count);
	sn_range_result_dispose(&r);
	return 0;
}

static int cmd_status(sn_client *c, char **eps, size_t n)
{
	sn_cluster_status *st = calloc(n, sizeof *st);
	int *ok = calloc(n, sizeof *ok);
	uint64_t top = 0;
	int bad = 0;

	if (!st || !ok) {
		free(st);
		free(ok);
		return 1;
	}
	/* Ask every endpoint first: the lag is against the highest commit
	 * any member reports. */
	for (size_t i = 0; i < n; i++) {
		ok[i] = sn_client_status(&st[i], c, eps[i]) == SN_OK;
		if (!ok[i]) {
			/* keep the message for the table */
			snprintf(st[i].error, sizeof st[i].error, "%s",
				 sn_errmsg());
			continue;
		}
		for (size_t m = 0; m < st[i].n_members; m++)
			if (st[i].members[m].self &&
			    st[i].members[m].commit > top)
				top = st[i].members[m].commit;
	}
	printf("%-22s %6s %-12s %10s %10s %10s %8s %8s %s\n", "endpoint",
	       "member", "role", "term", "commit", "applied", "leader", "lag",
	       "engine");
	for (size_t i = 0; i < n; i++) {
		if (!ok[i]) {
			printf("%-22s %6s %-12s  %s\n", eps[i], "-",
			       "unreachable", st[i].error);
			bad = 1;
			continue;
		}
		for (size_t m = 0; m < st[i].n_members; m++) {
			const sn_member_info *mi = &st[i].members[m];
			if (!mi->self)
				continue;
			printf("%-22s %6llu %-12s %10llu %10llu %10llu %8llu "
			       "%8llu %s%s%s\n",
			       eps[i], (unsigned long long)mi->id,
			       ctl_role_name(mi->role),
			       (unsigned long long)mi->term,
			       (unsigned long long)mi->commit,
			       (unsigned long long)mi->applied,
			       (unsigned long long)st[i].leader_id,
			       (unsigned long long)(top > mi->applied
							    ? top - mi->applied
							    : 0),
			       st[i].engine,
			       st[i].error[0] ? " STOPPED: " : "",
			       st[i].error);
		}
		sn_cluster_status_dispose(&st[i]);
	}
	free(st);
	free(ok);
	return bad;
}

/* ---- main ----------------------------------------------------------------- */

#define MAX_ENDPOINTS 16

static size_t split_endpoints(char *list, char **out)
{
	size_t n = 0;
	char *save = NULL;

	for (char *t = strtok_r(list, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		if (n == MAX_ENDPOINTS) {
			fprintf(stderr, "senatectl: at most %d endpoints\n",
				MAX_ENDPOINTS);
			return 0;
		}
		out[n++] = t;
	}
	return n;
}

/* A number in [min, max] or exit 2. */
long long ctl_number(const char *flag, const char *s, long long min,
		     long long max)
{
	char *end;
	long long v = strtoll(s, &end, 10);
	if (!*s || *end || v < min || v > max) {
		fprintf(stderr, "senatectl: %s: '%s' is not a number in "
				"%lld..%lld\n",
			flag, s, min, max);
		exit(2);
	}
	return v;
}

void sn__absl_tune(void); /* absl_tune.cc */

int main(int argc, char **argv)
{
	char *list = NULL, *eps[MAX_ENDPOINTS];
	unsigned timeout_ms = 5000;
	int i = 1;

	sn_log_set_handler(NULL, NULL, SN_LOG_OFF);
	sn__absl_tune();
	if (argc > 1 && strcmp(argv[1], "cluster") == 0)
		return ctl_cluster(argc - 2, argv + 2, argv[0]);
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--endpoints") == 0 && i + 1 < argc) {
			list = argv[++i];
			continue;
		}
		if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			timeout_ms = (unsigned)ctl_number("--timeout", argv[++i],
							  1, 3600000);
			continue;
		}
		fprintf(stderr, "senatectl: unknown option %s\n", argv[i]);
		usage(stderr);
		return 2;
	}
	size_t n = list ? split_endpoints(list, eps) : 0;
	if (!n || i >= argc) {
		if (!list)
			fprintf(stderr, "senatectl: --endpoints is required\n");
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[i++];
	int left = argc - i;
	char **a = argv + i;

	sn_client_options o;
	sn_client_options_init(&o, SN_CLIENT_OPTIONS_VERSION);
	o.endpoints = (const char *const *)eps;
	o.n_endpoints = n;
	o.timeout_ms = timeout_ms;
	if (o.attempt_ms > timeout_ms)
		o.attempt_ms = timeout_ms;
	sn_client *c;
	if (sn_client_open(&c, &o) != SN_OK) {
		fprintf(stderr, "senatectl: %s\n", sn_errmsg());
		return 2;
	}
	int rv = -1;
	if (strcmp(cmd, "put") == 0 && (left == 2 || (left == 3 &&
			strcmp(a[2], "--prev-kv") == 0)))
		rv = cmd_put(c, a[0], a[1], left == 3);
	else if (strcmp(cmd, "get") == 0 && (left == 1 || (left == 2 &&
			strcmp(a[1], "--serializable") == 0)))
		rv = cmd_get(c, a[0], left == 2);
	else if (strcmp(cmd, "del") == 0 && (left == 1 || (left == 2 &&
			strcmp(a[1], "--prefix") == 0)))
		rv = cmd_del(c, a[0], left == 2);
	else if (strcmp(cmd, "range") == 0 && (left == 1 || (left == 3 &&
			strcmp(a[1], "--limit") == 0)))
		rv = cmd_range(c, a[0], left == 3 ? ctl_number("--limit", a[2],
							       0, 1LL << 40)
						  : 0);
	else if (strcmp(cmd, "status") == 0 && left == 0)
		rv = cmd_status(c, eps, n);
	else if (strcmp(cmd, "bench") == 0)
		rv = ctl_bench(c, (const char *const *)eps, n, left, a);
	if (rv < 0) {
		fprintf(stderr, "senatectl: bad command or arguments: %s\n", cmd);
		usage(stderr);
		rv = 2;
	}
	sn_client_close(c);
	return rv;
}
