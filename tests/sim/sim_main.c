/*
 * senate-sim: run the deterministic cluster simulator over a range of seeds.
 *
 *   senate-sim --engine raft --seeds A-B [--nodes N] [--steps K]
 *              [--mutant NAME] [--verbose]
 *
 * One line per failing seed, with the command that replays it exactly, a
 * line of snapshot coverage (how many seeds installed a snapshot received
 * in chunks, how many saw a transfer interrupted), then
 * "seeds: S, violations: V". Exit status: 0 when V == 0, 1 when a seed
 * failed, 2 on a usage error.
 */
#include "sim.h"

#include "base/base.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: senate-sim --engine NAME --seeds A-B [--nodes N] "
		"[--steps K]\n"
		"                  [--mutant NAME] [--snap-window N] [--reorder] "
		"[--metrics]\n                  [--verbose]\n"
		"  --engine NAME    consensus engine: %s\n"
		"  --seeds A-B      run seeds A..B (or one seed: --seeds A)\n"
		"  --nodes N        cluster size 1..%d (default: 3..5 by seed)\n"
		"  --steps K        events in the chaos phase (default %d)\n"
		"  --mutant NAME    break one rule on purpose:",
		sim_engine_names(), SIM_MAX_NODES, SIM_DEFAULT_STEPS);
	for (int i = 0; i < SN__MUTANT_COUNT; i++)
		fprintf(f, "%s %s", i ? "," : "", sn__mutant_name(i));
	fprintf(f, "\n"
		"  --snap-window N  snapshot chunks in flight per follower "
		"(0: the engine's\n"
		"                   default window; otherwise drawn by seed)\n"
		"  --reorder        every message its own delay (links are "
		"FIFO otherwise)\n"
		"  --metrics        print throughput, messages per commit and "
		"the times from a\n                   leader's crash to the next "
		"leader and the next commit\n"
		"  --verbose        print an event trace and the run's counters"
		"\n");
}

static int bad(const char *fmt, const char *arg)
{
	fprintf(stderr, "senate-sim: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	usage(stderr);
	return 2;
}

static bool parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (!s || !*s || *s == '-')
		return false;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno == 0 && *end == '\0';
}

static bool parse_range(const char *s, uint64_t *a, uint64_t *b)
{
	char buf[64];
	char *dash;

	if (!s || strlen(s) >= sizeof buf)
		return false;
	strcpy(buf, s);
	dash = strchr(buf, '-');
	if (!dash)
		return parse_u64(buf, a) && (*b = *a, true);
	*dash = '\0';
	return parse_u64(buf, a) && parse_u64(dash + 1, b) && *a <= *b;
}

typedef struct args {
	sim_params p;
	uint64_t first, last;
	bool metrics;
} args;

static int parse(int argc, char **argv, args *a)
{
	const char *engine = "raft";
	bool seeds = false;
	uint64_t v;

	a->p.steps = SIM_DEFAULT_STEPS;
	a->p.snap_window = -1;
	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1]
							      : NULL;
		if (strcmp(opt, "--verbose") == 0) {
			a->p.verbose = true;
			continue;
		}
		if (strcmp(opt, "--metrics") == 0) {
			a->metrics = true;
			continue;
		}
		if (strcmp(opt, "--reorder") == 0) {
			a->p.reorder = true;
			continue;
		}
		if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
			usage(stdout);
			exit(0);
		}
		if (!val)
			return bad("missing value after %s", opt);
		i++;
		if (strcmp(opt, "--engine") == 0) {
			engine = val;
		} else if (strcmp(opt, "--seeds") == 0) {
			if (!parse_range(val, &a->first, &a->last))
				return bad("bad seed range '%s' (want A-B)",
					   val);
			seeds = true;
		} else if (strcmp(opt, "--nodes") == 0) {
			if (!parse_u64(val, &v) || v < 1 || v > SIM_MAX_NODES)
				return bad("bad node count '%s'", val);
			a->p.n_nodes = (int)v;
		} else if (strcmp(opt, "--steps") == 0) {
			if (!parse_u64(val, &v) || v < 1)
				return bad("bad step count '%s'", val);
			a->p.steps = v;
		} else if (strcmp(opt, "--snap-window") == 0) {
			if (!parse_u64(val, &v) || v > 1u << 20)
				return bad("bad snapshot window '%s'", val);
			a->p.snap_window = (int)v;
		} else if (strcmp(opt, "--mutant") == 0) {
			a->p.mutant = sn__mutant_from_name(val);
			if (a->p.mutant < 0)
				return bad("unknown mutant '%s'", val);
			a->p.mutant_name = a->p.mutant ? val : NULL;
		} else {
			return bad("unknown option '%s'", opt);
		}
	}
	a->p.engine = sim_engine_find(engine);
	if (!a->p.engine)
		return bad("unknown engine '%s'", engine);
	if (!seeds)
		return bad("%s", "--seeds is required");
	return 0;
}

/* Keep the library's own warnings (malformed input we inject on purpose)
 * out of the report; --verbose shows them. */
static void quiet(void *userdata, sn_log_level level, const char *msg)
{
	(void)userdata;
	(void)level;
	(void)msg;
}

/* Seeds that reached each snapshot situation, and totals. */
/* --metrics: totals and samples over all seeds. */
typedef struct metrics {
	uint64_t msgs, commits, time, leader_crashes;
	sim_time *elect, *recover;
	size_t n_elect, n_recover;
} metrics;

static void add_samples(sim_time **v, size_t *n, const sim_time *x, size_t k)
{
	*v = realloc(*v, (*n + k + 1) * sizeof **v);
	if (!*v) {
		fprintf(stderr, "senate-sim: out of memory\n");
		exit(2);
	}
	memcpy(*v + *n, x, k * sizeof *x);
	*n += k;
}

static int cmp_time(const void *a, const void *b)
{
	sim_time x = *(const sim_time *)a, y = *(const sim_time *)b;
	return x < y ? -1 : x > y;
}

/* "p50 p90 p99 max" of v, in election timeouts. */
static void percentiles(char *buf, size_t cap, sim_time *v, size_t n)
{
	if (!n) {
		snprintf(buf, cap, "no samples");
		return;
	}
	qsort(v, n, sizeof *v, cmp_time);
	snprintf(buf, cap, "p50 %.2f, p90 %.2f, p99 %.2f, max %.2f (n=%zu)",
		 v[n / 2] / 100.0, v[n * 9 / 10] / 100.0, v[n * 99 / 100] / 100.0,
		 v[n - 1] / 100.0, n);
}

static void report_metrics(metrics *m)
{
	char e[128], r[128];

	percentiles(e, sizeof e, m->elect, m->n_elect);
	percentiles(r, sizeof r, m->recover, m->n_recover);
	printf("metrics: %.1f commits per 1000 time units, %.1f messages per "
	       "commit; %" PRIu64 " leader crashes: next leader after %s "
	       "election timeouts; next commit after %s\n",
	       m->time ? 1000.0 * (double)m->commits / (double)m->time : 0.0,
	       m->commits ? (double)m->msgs / (double)m->commits : 0.0,
	       m->leader_crashes, e, r);
	free(m->elect);
	free(m->recover);
}

typedef struct coverage {
	uint64_t chunked, interrupted, resumed, finished, restart_resumed;
	sim_stats total;
} coverage;

static void cover(coverage *c, const sim_stats *t)
{
	c->chunked += t->chunked_installs > 0;
	c->interrupted += t->interrupted > 0 || t->chunks_lost > 0;
	c->resumed += t->resumed_installs > 0;
	c->finished += t->finished_installs > 0;
	c->restart_resumed += t->restart_resumes > 0;
	c->total.snaps_taken += t->snaps_taken;
	c->total.installs += t->installs;
	c->total.chunks_sent += t->chunks_sent;
	c->total.interrupted += t->interrupted;
	c->total.chunks_lost += t->chunks_lost;
}

static void report_coverage(const coverage *c, uint64_t seeds)
{
	printf("snapshots: %" PRIu64 "/%" PRIu64 " seeds installed a chunked "
	       "snapshot, %" PRIu64 "/%" PRIu64 " had a transfer interrupted "
	       "(%" PRIu64 " installed one after an interruption, %" PRIu64
	       " resumed one mid-way after the receiver restarted), %" PRIu64
	       " finished an install at recovery; %" PRIu64 " taken, %" PRIu64
	       " installed, %" PRIu64 " chunks sent, %" PRIu64 " lost, %"
	       PRIu64 " transfers cut\n", c->chunked, seeds, c->interrupted,
	       seeds, c->resumed, c->restart_resumed, c->finished,
	       c->total.snaps_taken,
	       c->total.installs, c->total.chunks_sent, c->total.chunks_lost,
	       c->total.interrupted);
}

int main(int argc, char **argv)
{
	args a = { 0 };
	uint64_t violations = 0, seeds = 0;
	coverage cov = { 0 };
	metrics met = { 0 };
	int rv = parse(argc, argv, &a);

	if (rv)
		return rv;
	if (!a.p.verbose)
		sn_log_set_handler(quiet, NULL, SN_LOG_OFF);
	sn__mutant = a.p.mutant;
	for (uint64_t seed = a.first;; seed++) {
		char reason[600];
		int n_nodes;
		sim_stats st;
		sim_samples sm;
		a.p.seed = seed;
		seeds++;
		if (!sim_run(&a.p, reason, sizeof reason, &n_nodes, &st, &sm)) {
			violations++;
			char extra[64] = "";
			if (a.p.snap_window >= 0)
				snprintf(extra, sizeof extra, " --snap-window %d",
					 a.p.snap_window);
			if (a.p.reorder)
				strcat(extra, " --reorder");
			printf("seed %" PRIu64 ": VIOLATION %s -- replay: "
			       "build/bin/senate-sim --engine %s --seeds %" PRIu64
			       "-%" PRIu64 " --nodes %d --steps %" PRIu64 "%s%s%s\n",
			       seed, reason, a.p.engine->name, seed, seed,
			       n_nodes, a.p.steps,
			       a.p.mutant_name ? " --mutant " : "",
			       a.p.mutant_name ? a.p.mutant_name : "", extra);
			fflush(stdout);
		}
		cover(&cov, &st);
		met.msgs += st.msgs;
		met.commits += st.commits;
		met.time += st.end;
		met.leader_crashes += st.leader_crashes;
		add_samples(&met.elect, &met.n_elect, sm.elect, sm.n_elect);
		add_samples(&met.recover, &met.n_recover, sm.recover,
			    sm.n_recover);
		if (seed == a.last)
			break;
	}
	report_coverage(&cov, seeds);
	if (a.metrics)
		report_metrics(&met);
	else
		free(met.elect), free(met.recover);
	printf("seeds: %" PRIu64 ", violations: %" PRIu64 "\n", seeds,
	       violations);
	return violations ? 1 : 0;
}
