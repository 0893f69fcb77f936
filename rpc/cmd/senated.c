/*
 * senated - one Senate member as a process: the LMDB store run by an
 * sn_node (Raft or Multi-Paxos), the gRPC peer transport and the gRPC
 * server (Peer on the peer address; KV, Cluster, Health on the client
 * address). See docs/senated.md.
 */
#define _GNU_SOURCE /* SCHED_BATCH */
#include "rpc.h"

#include <senate/senate.h>

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "node/node_store.h"

#define MAX_MEMBERS 16

static const char usage_text[] =
	"usage: senated --name NAME --data-dir DIR --listen-peer HOST:PORT\n"
	"               --listen-client HOST:PORT --initial-cluster LIST\n"
	"               [--engine raft|paxos] [--group N] [--tick-ms MS]\n"
	"               [--election-ticks N] [--snapshot-entries N]\n"
	"               [--sched batch|other] [--log-level LEVEL] [--help]\n"
	"\n"
	"  --name NAME              this member's name in --initial-cluster\n"
	"  --data-dir DIR           WAL and snapshots in DIR, the store in\n"
	"                           DIR/store (created if missing)\n"
	"  --listen-peer ADDR       where other members connect (Peer)\n"
	"  --listen-client ADDR     where clients connect (KV, Cluster, Health)\n"
	"  --initial-cluster LIST   every member, this one included:\n"
	"                           NAME=PEER_ADDR[;CLIENT_ADDR],...\n"
	"                           (CLIENT_ADDR is what a follower names as\n"
	"                           the leader's address to clients)\n"
	"  --engine raft|paxos      consensus engine [raft]\n"
	"  --group N                the consensus group's id [1]\n"
	"  --tick-ms MS             one engine tick [100]\n"
	"  --election-ticks N       election timeout in ticks [10]\n"
	"  --snapshot-entries N     applied entries between snapshots (the\n"
	"                           log before one is compacted; sooner\n"
	"                           after 64 MiB of entries) [100000]\n"
	"  --sched batch|other      the threads' Linux scheduling policy:\n"
	"                           SCHED_BATCH (a woken thread does not\n"
	"                           preempt the running one) or SCHED_OTHER\n"
	"                           [batch]\n"
	"  --log-level LEVEL        debug, info, warn, error [info]\n"
	"\n"
	"Member ids are 1..N in the byte order of the names: every member must\n"
	"be given the same --initial-cluster. SIGTERM or SIGINT stop it\n"
	"cleanly (exit 0). Bad flags: this text on stderr, exit 2.\n";

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

static void log_line(void *ud, sn_log_level level, const char *msg)
{
	(void)ud;
	static const char *const names[] = { "DEBUG", "INFO", "WARN",
					     "ERROR" };
	struct timespec ts;
	struct tm tm;
	char when[32];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
	pthread_mutex_lock(&log_mu);
	fprintf(stderr, "%s.%03ldZ %-5s %s\n", when, ts.tv_nsec / 1000000L,
		(unsigned)level < 4 ? names[level] : "?", msg);
	fflush(stderr);
	pthread_mutex_unlock(&log_mu);
}

static void logf_(sn_log_level level, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	log_line(NULL, level, buf);
}

static void bad_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "senated: ");
	fprintf(stderr, fmt, arg ? arg : "");
	fprintf(stderr, "\n\n%s", usage_text);
	exit(2);
}

typedef struct member_cfg {
	char name[64];
	char peer[128];
	char client[128];
} member_cfg;

static int cmp_member(const void *a, const void *b)
{
	return strcmp(((const member_cfg *)a)->name,
		      ((const member_cfg *)b)->name);
}

/* NAME=PEER[;CLIENT],... */
static size_t parse_cluster(const char *list, member_cfg *out)
{
	size_t n = 0;
	char *copy = strdup(list);
	if (!copy)
		bad_usage("out of memory%s", NULL);
	char *save = NULL;
	for (char *tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (n == MAX_MEMBERS)
			bad_usage("--initial-cluster: more than 16 members%s",
				  NULL);
		char *eq = strchr(tok, '=');
		if (!eq || eq == tok || !eq[1])
			bad_usage("--initial-cluster: '%s' is not "
				  "NAME=PEER_ADDR[;CLIENT_ADDR]",
				  tok);
		*eq = '\0';
		char *semi = strchr(eq + 1, ';');
		if (semi)
			*semi = '\0';
		member_cfg *m = &out[n];
		if (strlen(tok) >= sizeof m->name ||
		    strlen(eq + 1) >= sizeof m->peer ||
		    (semi && strlen(semi + 1) >= sizeof m->client))
			bad_usage("--initial-cluster: '%s': name or address "
				  "too long",
				  tok);
		snprintf(m->name, sizeof m->name, "%s", tok);
		snprintf(m->peer, sizeof m->peer, "%s", eq + 1);
		snprintf(m->client, sizeof m->client, "%s",
			 semi ? semi + 1 : "");
		for (size_t i = 0; i < n; i++)
			if (!strcmp(out[i].name, m->name))
				bad_usage("--initial-cluster: '%s' twice",
					  m->name);
		n++;
	}
	free(copy);
	if (!n)
		bad_usage("--initial-cluster is empty%s", NULL);
	qsort(out, n, sizeof *out, cmp_member);
	return n;
}

/* mkdir -p; 0 or -1 (errno). */
static int mkdirs(const char *path)
{
	char buf[4096];
	if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(buf, 0755) && errno != EEXIST ? -1 : 0;
}

static unsigned long parse_num(const char *flag, const char *s,
			       unsigned long min, unsigned long max)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || !*s || *end || v < min || v > max) {
		char msg[128];
		snprintf(msg, sizeof msg, "%s: '%%s' is not a number in "
			 "%lu..%lu", flag, min, max);
		bad_usage(msg, s);
	}
	return v;
}

void sn__absl_tune(void); /* absl_tune.cc */

int main(int argc, char **argv)
{
	const char *name = NULL, *data_dir = NULL, *lpeer = NULL,
		   *lclient = NULL, *cluster = NULL, *engine = "raft";
	unsigned long group = 1, tick_ms = 100, election_ticks = 10,
		      snapshot_entries = 100000;
	sn_log_level level = SN_LOG_INFO;
	int policy = SCHED_BATCH;
	enum { O_NAME = 1, O_DIR, O_PEER, O_CLIENT, O_CLUSTER, O_ENGINE,
	       O_GROUP, O_TICK, O_ELECTION, O_SNAP, O_SCHED, O_LOG, O_HELP };
	static const struct option opts[] = {
		{ "name", required_argument, NULL, O_NAME },
		{ "data-dir", required_argument, NULL, O_DIR },
		{ "listen-peer", required_argument, NULL, O_PEER },
		{ "listen-client", required_argument, NULL, O_CLIENT },
		{ "initial-cluster", required_argument, NULL, O_CLUSTER },
		{ "engine", required_argument, NULL, O_ENGINE },
		{ "group", required_argument, NULL, O_GROUP },
		{ "tick-ms", required_argument, NULL, O_TICK },
		{ "election-ticks", required_argument, NULL, O_ELECTION },
		{ "snapshot-entries", required_argument, NULL, O_SNAP },
		{ "sched", required_argument, NULL, O_SCHED },
		{ "log-level", required_argument, NULL, O_LOG },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	opterr = 0;
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case O_NAME: name = optarg; break;
		case O_DIR: data_dir = optarg; break;
		case O_PEER: lpeer = optarg; break;
		case O_CLIENT: lclient = optarg; break;
		case O_CLUSTER: cluster = optarg; break;
		case O_ENGINE: engine = optarg; break;
		case O_GROUP:
			group = parse_num("--group", optarg, 1, ~0ul);
			break;
		case O_TICK:
			tick_ms = parse_num("--tick-ms", optarg, 1, 60000);
			break;
		case O_ELECTION:
			election_ticks = parse_num("--election-ticks", optarg,
						   2, 100000);
			break;
		case O_SNAP:
			snapshot_entries = parse_num("--snapshot-entries",
						     optarg, 1, 1ul << 40);
			break;
		case O_SCHED:
			if (!strcmp(optarg, "batch"))
				policy = SCHED_BATCH;
			else if (!strcmp(optarg, "other"))
				policy = SCHED_OTHER;
			else
				bad_usage("--sched: '%s' is not batch or other",
					  optarg);
			break;
		case O_LOG:
			if (!strcmp(optarg, "debug"))
				level = SN_LOG_DEBUG;
			else if (!strcmp(optarg, "info"))
				level = SN_LOG_INFO;
			else if (!strcmp(optarg, "warn"))
				level = SN_LOG_WARN;
			else if (!strcmp(optarg, "error"))
				level = SN_LOG_ERROR;
			else
				bad_usage("--log-level: '%s' is not debug, "
					  "info, warn or error",
					  optarg);
			break;
		case O_HELP: fputs(usage_text, stdout); return 0;
		default:
			bad_usage("unknown flag or missing value: %s",
				  argv[optind - 1]);
		}
	}
	if (optind < argc)
		bad_usage("unexpected argument '%s'", argv[optind]);
	if (!name || !data_dir || !lpeer || !lclient || !cluster)
		bad_usage("--name, --data-dir, --listen-peer, "
			  "--listen-client and --initial-cluster are "
			  "required%s",
			  NULL);
	if (strcmp(engine, "raft") && strcmp(engine, "paxos"))
		bad_usage("--engine: '%s' is not raft or paxos", engine);

	member_cfg cfg[MAX_MEMBERS];
	size_t n = parse_cluster(cluster, cfg);
	uint64_t self = 0;
	sn__rpc_member members[MAX_MEMBERS];
	uint64_t voters[MAX_MEMBERS];
	for (size_t i = 0; i < n; i++) {
		members[i].id = i + 1;
		members[i].peer_addr = cfg[i].peer;
		members[i].client_addr = cfg[i].client[0] ? cfg[i].client
							  : NULL;
		voters[i] = i + 1;
		if (!strcmp(cfg[i].name, name))
			self = i + 1;
	}
	if (!self)
		bad_usage("--name '%s' is not in --initial-cluster", name);
	/* This member's own client address is the one it listens on. */
	if (!members[self - 1].client_addr)
		members[self - 1].client_addr = lclient;

	/* Signals go to the main thread only (sigwait below): block them
	 * before any thread starts. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	sn__absl_tune();

	sn_log_set_handler(log_line, NULL, level);
	logf_(SN_LOG_INFO, "senated: member %s (id %llu of %zu), engine %s, "
	      "group %lu, data in %s",
	      name, (unsigned long long)self, n, engine, group, data_dir);
	/* Before any thread starts: they all inherit it (docs/senated.md).
	 * SCHED_BATCH needs no privilege; should it fail anyway, the member
	 * runs as it is. */
	struct sched_param sp = { 0 };
	if (sched_setscheduler(0, policy, &sp) != 0)
		logf_(SN_LOG_WARN, "senated: cannot set scheduling policy %s: "
		      "%s", policy == SCHED_BATCH ? "SCHED_BATCH" : "SCHED_OTHER",
		      strerror(errno));
	else
		logf_(SN_LOG_INFO, "senated: threads scheduled %s",
		      policy == SCHED_BATCH ? "SCHED_BATCH" : "SCHED_OTHER");

	char store_dir[4096];
	snprintf(store_dir, sizeof store_dir, "%s/store", data_dir);
	if (mkdirs(store_dir)) {
		logf_(SN_LOG_ERROR, "senated: cannot create %s: %s", store_dir,
		      strerror(errno));
		return 1;
	}
	int rc = 1;
	sn__store *st = NULL;
	sn__rpc_peer *peer = NULL;
	sn_node *node = NULL;
	sn__rpc_server *srv = NULL;

	sn__store_options so = { 0 };
	so.dir = store_dir;
	if (sn__store_open(&st, &so) != SN_OK) {
		logf_(SN_LOG_ERROR, "senated: cannot open the store in %s: %s",
		      store_dir, sn_errmsg());
		goto out;
	}
	logf_(SN_LOG_INFO, "senated: store in %s at revision %llu, applied "
	      "index %llu",
	      store_dir, (unsigned long long)sn__store_revision(st),
	      (unsigned long long)sn__store_applied(st, NULL));
	sn_state_machine sm;
	sn__node_store_sm(&sm, st);

	sn__rpc_peer_options po = { 0 };
	po.id = self;
	po.group = group;
	po.members = members;
	po.n_members = n;
	if (sn__rpc_peer_new(&peer, &po) != SN_OK) {
		logf_(SN_LOG_ERROR, "senated: peer transport: %s", sn_errmsg());
		goto out;
	}
	sn_transport tr;
	sn__rpc_peer_transport(peer, &tr);

	sn_node_options no;
	sn_node_options_init(&no, SN_NODE_OPTIONS_VERSION);
	no.id = self;
	no.group = group;
	no.voters = voters;
	no.n_voters = n;
	no.engine = engine;
	no.data_dir = data_dir;
	no.tick_ms = (unsigned)tick_ms;
	no.election_ticks = (unsigned)election_ticks;
	no.snapshot_entries = snapshot_entries;
	/* An entry is one store command: a value up to the store's limit
	 * (1 MiB), its key (up to 4 KiB) and a few dozen bytes of framing; a
	 * value of exactly the limit must fit. */
	no.max_entry_bytes = (1u << 20) + 4096 + 1024;
	if (no.snapshot_trailing >= snapshot_entries)
		no.snapshot_trailing = snapshot_entries / 2;
	no.transport = &tr;
	no.sm = &sm;
	if (sn_node_open(&node, &no) != SN_OK) {
		logf_(SN_LOG_ERROR, "senated: cannot open the node in %s: %s",
		      data_dir, sn_errmsg());
		goto out;
	}

	sn__rpc_server_options sv = { 0 };
	sv.node = node;
	sv.store = st;
	sv.id = self;
	sv.group = group;
	sv.engine = engine;
	sv.members = members;
	sv.n_members = n;
	sv.listen_peer = lpeer;
	sv.listen_client = lclient;
	if (sn__rpc_server_start(&srv, &sv) != SN_OK) {
		logf_(SN_LOG_ERROR, "senated: %s", sn_errmsg());
		goto out;
	}
	logf_(SN_LOG_INFO, "senated: listening for peers on %s (port %d), "
	      "for clients on %s (port %d)",
	      lpeer, sn__rpc_server_peer_port(srv), lclient,
	      sn__rpc_server_client_port(srv));

	int sig = 0;
	while (sigwait(&sigs, &sig) != 0)
		;
	logf_(SN_LOG_INFO, "senated: %s: shutting down",
	      sig == SIGTERM ? "SIGTERM" : "SIGINT");
	rc = 0;
out:
	sn__rpc_server_stop(srv);
	sn_node_close(node);
	sn__rpc_peer_free(peer);
	sn__store_close(st);
	if (rc == 0)
		logf_(SN_LOG_INFO, "senated: stopped");
	sn_log_set_handler(NULL, NULL, SN_LOG_WARN);
	return rc;
}
