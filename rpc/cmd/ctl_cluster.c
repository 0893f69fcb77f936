/*
 * senatectl cluster up|down|status - a local cluster of real senated
 * processes kept in one directory (docs/senatectl.md, "Local clusters").
 *
 *   DIR/cluster.conf   what the first `up` was given: nodes, engine, base
 *                      port, the senated binary; every later command reads
 *                      it, and flags that contradict it are refused
 *   DIR/cluster.lock   flock()ed while an up or a down works on DIR
 *   DIR/nI/            member nI's data (senated --data-dir)
 *   DIR/nI.log         its stdout and stderr, appended
 *   DIR/nI.pid         its pid while it runs
 *
 * Members run detached (their own session, stdin from /dev/null, output to
 * the log, no inherited descriptors or signal settings), so they outlive
 * senatectl and a Ctrl-C in its terminal. A pid counts as member nI only
 * while /proc/PID/cmdline is a senated with --data-dir DIR/nI: a stale pid
 * file, or a pid since reused by another program, is never signalled.
 */
#define _GNU_SOURCE

#include "ctl.h"

#include <senate/client.h>
#include <senate/senate.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_NODES 9 /* n1..n9: names sort like their ids */
#define HOST "127.0.0.1"
#define DEFAULT_NODES 3
#define DEFAULT_BASE 7000
#define PEER_OFFSET 100 /* clients on base+i, peers on base+100+i */
#define UP_TIMEOUT_S 20
#define DOWN_TIMEOUT_S 10
#define KILL_WAIT_S 5
#define POLL_MS 100
#define STATUS_TIMEOUT_MS 1000
#define TAIL_LINES 5
#define CONF_VERSION 1

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

typedef struct cluster {
	char dir[PATH_MAX]; /* absolute */
	unsigned nodes;
	char engine[8];
	unsigned base;
	char senated[PATH_MAX]; /* absolute */
	pid_t pid[MAX_NODES + 1]; /* [1..nodes]: running members, 0 = not */
} cluster;

typedef struct flags {
	const char *dir, *engine, *senated;
	unsigned nodes, base, timeout; /* 0: not given */
} flags;

/* One member's own view, from Cluster.Status. */
typedef struct view {
	bool answered;
	const char *role;
	unsigned long long term, commit, applied, leader;
	char error[256];
} view;

static const char usage_text[] =
	"usage: senatectl cluster up --data-dir DIR [--nodes N] "
	"[--engine raft|paxos]\n"
	"                            [--base-port P] [--senated PATH] "
	"[--timeout SEC]\n"
	"       senatectl cluster down --data-dir DIR [--timeout SEC]\n"
	"       senatectl cluster status --data-dir DIR\n"
	"\n"
	"  up      start the members of the cluster in DIR that are not running\n"
	"          (the first up creates it: N members n1..nN, default 3, odd\n"
	"          recommended; clients on 127.0.0.1:P+i, peers on P+100+i,\n"
	"          P default 7000), wait until a leader serves (--timeout, default\n"
	"          20 s), print `endpoints: HOST:PORT,...`\n"
	"  down    SIGTERM every member, SIGKILL what is left after --timeout\n"
	"          (default 10 s); the data stays\n"
	"  status  every member's pid, role, term, commit and applied index\n"
	"\n"
	"DIR/cluster.conf records the first up's flags; later flags must agree.\n"
	"senated: --senated, else the one beside senatectl, else PATH.\n"
	"Exit status: 0 done, 1 failed, 2 usage.\n";

static void say_usage(FILE *f)
{
	fputs(usage_text, f);
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "senatectl cluster: ");
	fprintf(stderr, fmt, arg ? arg : "");
	fprintf(stderr, "\n(senatectl cluster --help shows the usage)\n");
	return EXIT_USAGE;
}

/* ---- small helpers ------------------------------------------------------- */

static void member_path(char *out, size_t cap, const cluster *c, unsigned i,
			const char *suffix)
{
	snprintf(out, cap, "%s/n%u%s", c->dir, i, suffix);
}

static unsigned client_port(const cluster *c, unsigned i)
{
	return c->base + i;
}

static unsigned peer_port(const cluster *c, unsigned i)
{
	return c->base + PEER_OFFSET + i;
}

static void endpoints(char *out, size_t cap, const cluster *c)
{
	size_t n = 0;
	out[0] = '\0';
	for (unsigned i = 1; i <= c->nodes && n < cap; i++)
		n += (size_t)snprintf(out + n, cap - n, "%s%s:%u",
				      i > 1 ? "," : "", HOST,
				      client_port(c, i));
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int parse_uint(const char *flag, const char *s, unsigned min,
		      unsigned max, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || !*s || *end || s[0] == '-' || v < min || v > max) {
		fprintf(stderr, "senatectl cluster: %s: '%s' is not a number "
			"in %u..%u\n", flag, s, min, max);
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

static bool is_engine(const char *e)
{
	return !strcmp(e, "raft") || !strcmp(e, "paxos");
}

static bool executable(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	       access(path, X_OK) == 0;
}

/* Print the last `lines` lines of a log, indented. */
static void print_tail(const char *path, int lines)
{
	char buf[8192];
	FILE *f = fopen(path, "r");
	if (!f) {
		printf("  (no %s: %s)\n", path, strerror(errno));
		return;
	}
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	long from = size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0;
	fseek(f, from, SEEK_SET);
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	char *p = buf + n;
	int seen = 0;
	while (p > buf && seen < lines)
		if (*--p == '\n')
			seen++;
	if (*p == '\n')
		p++;
	printf("--- last lines of %s\n", path);
	for (char *save = NULL, *l = strtok_r(p, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save))
		printf("  | %s\n", l);
}

/* ---- flags --------------------------------------------------------------- */

enum { F_DIR = 1, F_NODES = 2, F_ENGINE = 4, F_BASE = 8, F_SENATED = 16,
       F_TIMEOUT = 32, F_HELP = 64 };

/* Parse argv[1..) into *f; `allowed` is the set of flags of the command. */
static int parse_flags(int argc, char **argv, unsigned allowed, flags *f)
{
	static const struct option opts[] = {
		{ "data-dir", required_argument, NULL, F_DIR },
		{ "nodes", required_argument, NULL, F_NODES },
		{ "engine", required_argument, NULL, F_ENGINE },
		{ "base-port", required_argument, NULL, F_BASE },
		{ "senated", required_argument, NULL, F_SENATED },
		{ "timeout", required_argument, NULL, F_TIMEOUT },
		{ "help", no_argument, NULL, F_HELP },
		{ NULL, 0, NULL, 0 },
	};
	int o, idx;

	memset(f, 0, sizeof *f);
	opterr = 0;
	optind = 0; /* glibc: start afresh */
	while ((o = getopt_long(argc, argv, "+:", opts, &idx)) != -1) {
		if (o == '?')
			return usage_error("unknown flag %s", argv[optind - 1]);
		if (o == ':')
			return usage_error("%s needs a value", argv[optind - 1]);
		if (o == F_HELP) {
			say_usage(stdout);
			return -1;
		}
		if (!(allowed & (unsigned)o)) {
			fprintf(stderr, "senatectl cluster %s: --%s is not a "
				"flag of this command\n", argv[0],
				opts[idx].name);
			return EXIT_USAGE;
		}
		switch (o) {
		case F_DIR: f->dir = optarg; break;
		case F_ENGINE: f->engine = optarg; break;
		case F_SENATED: f->senated = optarg; break;
		case F_NODES:
			if (parse_uint("--nodes", optarg, 1, MAX_NODES,
				       &f->nodes))
				return EXIT_USAGE;
			break;
		case F_BASE:
			if (parse_uint("--base-port", optarg, 1,
				       65535 - PEER_OFFSET - MAX_NODES,
				       &f->base))
				return EXIT_USAGE;
			break;
		case F_TIMEOUT:
			if (parse_uint("--timeout", optarg, 1, 3600,
				       &f->timeout))
				return EXIT_USAGE;
			break;
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (!f->dir || !f->dir[0])
		return usage_error("--data-dir DIR is required%s", NULL);
	if (f->engine && !is_engine(f->engine))
		return usage_error("--engine: '%s' is not raft or paxos",
				   f->engine);
	return 0;
}

/* ---- the senated binary -------------------------------------------------- */

/* `name` on $PATH, into out (absolute). */
static bool on_path(char *out, size_t cap, const char *name)
{
	const char *path = getenv("PATH");
	char dir[PATH_MAX], cand[2 * PATH_MAX];

	for (const char *p = path; p && *p;) {
		size_t n = strcspn(p, ":");
		snprintf(dir, sizeof dir, "%.*s", (int)n, n ? p : ".");
		snprintf(cand, sizeof cand, "%s/%s", dir, name);
		if (executable(cand) && realpath(cand, out))
			return true;
		p += n + (p[n] == ':');
	}
	(void)cap;
	return false;
}

/* The senated beside this senatectl: /proc/self/exe, else argv0's dir. */
static bool beside_me(char *out, const char *argv0)
{
	char self[PATH_MAX], cand[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);

	if (n > 0) {
		self[n] = '\0';
	} else if (argv0 && strchr(argv0, '/')) {
		snprintf(self, sizeof self, "%s", argv0);
	} else {
		return false;
	}
	char *slash = strrchr(self, '/');
	snprintf(cand, sizeof cand, "%.*s/senated", (int)(slash - self), self);
	return executable(cand) && realpath(cand, out);
}

static int find_senated(char *out, const char *given, const char *argv0)
{
	if (given) {
		if (strchr(given, '/') ? executable(given) &&
						 realpath(given, out)
				       : on_path(out, PATH_MAX, given))
			return 0;
		return usage_error("--senated %s: not an executable file",
				   given);
	}
	if (beside_me(out, argv0) || on_path(out, PATH_MAX, "senated"))
		return 0;
	fprintf(stderr, "senatectl cluster: no senated beside senatectl nor "
		"on PATH; give --senated PATH\n");
	return EXIT_USAGE;
}

/* ---- cluster.conf -------------------------------------------------------- */

static void conf_path(char *out, size_t cap, const cluster *c)
{
	snprintf(out, cap, "%s/cluster.conf", c->dir);
}

static int conf_write(const cluster *c)
{
	char path[PATH_MAX + 16], tmp[PATH_MAX + 32];
	conf_path(path, sizeof path, c);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f) {
		fprintf(stderr, "senatectl cluster: cannot write %s: %s\n", tmp,
			strerror(errno));
		return EXIT_FAIL;
	}
	fprintf(f, "# A local Senate cluster, written by the first "
		"`senatectl cluster up`\n"
		"# (docs/senatectl.md). Every later up, down and status reads "
		"it; flags that\n"
		"# contradict it are refused. Member nI serves clients on "
		"%s:(base-port+I)\n"
		"# and peers on %s:(base-port+%d+I). While the cluster is "
		"down, base-port\n"
		"# and senated may be edited; nodes and engine belong to the "
		"data.\n"
		"version = %d\nnodes = %u\nengine = %s\nbase-port = %u\n"
		"senated = %s\n",
		HOST, HOST, PEER_OFFSET, CONF_VERSION, c->nodes, c->engine,
		c->base, c->senated);
	for (unsigned i = 1; i <= c->nodes; i++)
		fprintf(f, "# n%u: client %s:%u, peer %s:%u, data n%u/, log "
			"n%u.log\n", i, HOST, client_port(c, i), HOST,
			peer_port(c, i), i, i);
	bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, path) != 0) {
		fprintf(stderr, "senatectl cluster: cannot write %s: %s\n",
			path, strerror(errno));
		unlink(tmp);
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && strchr(" \t\r\n", s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* One `key = value` line into *c; a message on stderr and -1 when bad. */
static int conf_line(cluster *c, const char *path, int no, char *line,
		     unsigned *seen)
{
	static const char *const keys[] = { "version", "nodes", "engine",
					    "base-port", "senated" };
	char *eq = strchr(line, '=');
	if (!eq) {
		fprintf(stderr, "senatectl cluster: %s:%d: not `key = "
			"value`\n", path, no);
		return -1;
	}
	*eq = '\0';
	char *k = trim(line), *v = trim(eq + 1);
	unsigned key = 0, u = 0;
	while (key < 5 && strcmp(k, keys[key]))
		key++;
	if (key == 5 || (*seen & (1u << key))) {
		fprintf(stderr, "senatectl cluster: %s:%d: %s key '%s'\n",
			path, no, key == 5 ? "unknown" : "repeated", k);
		return -1;
	}
	*seen |= 1u << key;
	bool bad = false;
	switch (key) {
	case 0:
		bad = strcmp(v, "1") != 0;
		break;
	case 1:
		bad = parse_uint("nodes", v, 1, MAX_NODES, &u) != 0;
		c->nodes = u;
		break;
	case 2:
		bad = !is_engine(v);
		snprintf(c->engine, sizeof c->engine, "%s", v);
		break;
	case 3:
		bad = parse_uint("base-port", v, 1,
				 65535 - PEER_OFFSET - MAX_NODES, &u) != 0;
		c->base = u;
		break;
	case 4:
		bad = v[0] != '/' || strlen(v) >= sizeof c->senated;
		snprintf(c->senated, sizeof c->senated, "%s", v);
		break;
	}
	if (bad)
		fprintf(stderr, "senatectl cluster: %s:%d: bad %s '%s'\n", path,
			no, k, v);
	return bad ? -1 : 0;
}

/* EXIT_OK, or EXIT_USAGE with the reason on stderr (missing, malformed). */
static int conf_load(cluster *c)
{
	char path[PATH_MAX + 16], line[PATH_MAX + 64];
	unsigned seen = 0;
	int no = 0;

	conf_path(path, sizeof path, c);
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "senatectl cluster: %s is not a cluster "
			"directory (no cluster.conf: %s)\n", c->dir,
			strerror(errno));
		return EXIT_USAGE;
	}
	while (fgets(line, sizeof line, f)) {
		no++;
		char *l = trim(line);
		if (!*l || *l == '#')
			continue;
		if (conf_line(c, path, no, l, &seen)) {
			fclose(f);
			return EXIT_USAGE;
		}
	}
	fclose(f);
	if (seen != 0x1f) {
		fprintf(stderr, "senatectl cluster: %s: incomplete (it needs "
			"version, nodes, engine, base-port and senated)\n",
			path);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

/* Flags given to a later `up` must say what cluster.conf says. */
static int conf_agrees(const cluster *c, const flags *f, const char *argv0)
{
	char path[PATH_MAX + 16], want[PATH_MAX];
	const char *what = NULL;
	char has[PATH_MAX + 32], given[PATH_MAX + 32];

	conf_path(path, sizeof path, c);
	if (f->nodes && f->nodes != c->nodes) {
		what = "the members of a cluster are fixed: use a new --data-dir";
		snprintf(has, sizeof has, "nodes = %u", c->nodes);
		snprintf(given, sizeof given, "--nodes %u", f->nodes);
	} else if (f->engine && strcmp(f->engine, c->engine)) {
		what = "the data belongs to its engine: use a new --data-dir";
		snprintf(has, sizeof has, "engine = %s", c->engine);
		snprintf(given, sizeof given, "--engine %s", f->engine);
	} else if (f->base && f->base != c->base) {
		what = "to move the ports, edit base-port there while the "
		       "cluster is down";
		snprintf(has, sizeof has, "base-port = %u", c->base);
		snprintf(given, sizeof given, "--base-port %u", f->base);
	} else if (f->senated) {
		if (find_senated(want, f->senated, argv0))
			return EXIT_USAGE;
		if (strcmp(want, c->senated)) {
			what = "to change the binary, edit senated there while "
			       "the cluster is down";
			snprintf(has, sizeof has, "senated = %s", c->senated);
			snprintf(given, sizeof given, "--senated %s", want);
		}
	}
	if (!what)
		return EXIT_OK;
	fprintf(stderr, "senatectl cluster: %s contradicts %s, which has %s "
		"(%s)\n", given, path, has, what);
	return EXIT_USAGE;
}

/*
 * A directory without cluster.conf becomes a cluster only when it holds
 * nothing but what a cluster of `nodes` members would (so that data from
 * before cluster.conf, like an older `make run`'s, is taken over, and
 * nobody's unrelated files are mixed in).
 */
static int dir_adoptable(const cluster *c, bool *has_data)
{
	DIR *d = opendir(c->dir);
	struct dirent *e;
	int rc = EXIT_OK;

	*has_data = false;
	if (!d) {
		fprintf(stderr, "senatectl cluster: %s: %s\n", c->dir,
			strerror(errno));
		return EXIT_FAIL;
	}
	while ((e = readdir(d)) != NULL) {
		const char *n = e->d_name;
		unsigned i = 0;
		int end = 0;
		if (!strcmp(n, ".") || !strcmp(n, "..") ||
		    !strcmp(n, "cluster.lock") || !strcmp(n, "cluster.conf.tmp"))
			continue;
		if (sscanf(n, "n%u%n", &i, &end) == 1 && i >= 1 &&
		    i <= c->nodes && n[1] != '0' &&
		    (!n[end] || !strcmp(n + end, ".log") ||
		     !strcmp(n + end, ".pid"))) {
			*has_data |= !n[end];
			continue;
		}
		fprintf(stderr, "senatectl cluster: %s holds no cluster.conf and "
			"is not empty ('%s' is not part of a %u-member "
			"cluster): use a new or empty --data-dir\n", c->dir, n,
			c->nodes);
		rc = EXIT_USAGE;
		break;
	}
	closedir(d);
	return rc;
}

/* ---- member processes ---------------------------------------------------- */

static bool names_senated(const char *arg)
{
	const char *base = strrchr(arg, '/');
	return strstr(base ? base + 1 : arg, "senated") != NULL;
}

/* The member (1..nodes) whose senated this cmdline is, or 0. */
static unsigned cmdline_member(const char *buf, size_t len, const cluster *c)
{
	char prefix[PATH_MAX + 4];
	size_t plen = (size_t)snprintf(prefix, sizeof prefix, "%s/n", c->dir);
	const char *arg1 = buf + strlen(buf) + 1;

	/* argv[0], or argv[1] of an interpreter running a senated script */
	if (!len || !(names_senated(buf) ||
		      (arg1 < buf + len && names_senated(arg1))))
		return 0;
	for (const char *a = buf; a < buf + len; a += strlen(a) + 1) {
		const char *dir = NULL, *next = a + strlen(a) + 1;
		if (!strcmp(a, "--data-dir") && next < buf + len)
			dir = next;
		else if (!strncmp(a, "--data-dir=", 11))
			dir = a + 11;
		if (!dir)
			continue;
		if (strncmp(dir, prefix, plen) != 0)
			return 0;
		const char *d = dir + plen;
		if (d[0] >= '1' && d[0] <= '9' && !d[1] &&
		    (unsigned)(d[0] - '0') <= c->nodes)
			return (unsigned)(d[0] - '0');
		return 0;
	}
	return 0;
}

static size_t read_small(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;
	ssize_t r;
	if (fd < 0)
		return 0;
	while (n < cap - 1 && (r = read(fd, buf + n, cap - 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	buf[n] = '\0';
	return n;
}

/* A zombie or a gone process no longer serves. */
static bool alive(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if (!read_small(path, buf, sizeof buf))
		return false;
	const char *p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

/* The member pid runs as, or 0. */
static unsigned pid_member(pid_t pid, const cluster *c)
{
	char path[64], buf[16384];
	snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
	size_t n = read_small(path, buf, sizeof buf);
	unsigned i = cmdline_member(buf, n, c);
	return i && alive(pid) ? i : 0;
}

static bool is_member(pid_t pid, const cluster *c, unsigned i)
{
	return pid > 0 && pid_member(pid, c) == i;
}

typedef struct proc {
	pid_t pid;
	unsigned member;
} proc;

#define MAX_PROCS 64

/* Every running senated of this DIR (a wrapper and what it started count
 * twice), found through /proc. How many, at most cap. */
static size_t scan_proc(const cluster *c, proc *out, size_t cap)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	size_t n = 0;
	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL && n < cap) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0 || pid == getpid())
			continue;
		unsigned i = pid_member((pid_t)pid, c);
		if (i)
			out[n++] = (proc){ (pid_t)pid, i };
	}
	closedir(d);
	return n;
}

static pid_t pidfile_read(const cluster *c, unsigned i, bool *exists)
{
	char path[PATH_MAX + 16], buf[32];
	member_path(path, sizeof path, c, i, ".pid");
	*exists = access(path, F_OK) == 0;
	if (!read_small(path, buf, sizeof buf))
		return 0;
	long v = strtol(buf, NULL, 10);
	return v > 0 && v < INT_MAX ? (pid_t)v : 0;
}

static int pidfile_write(const cluster *c, unsigned i, pid_t pid)
{
	char path[PATH_MAX + 16], tmp[PATH_MAX + 32];
	member_path(path, sizeof path, c, i, ".pid");
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f || fprintf(f, "%d\n", (int)pid) < 0 || fclose(f) != 0 ||
	    rename(tmp, path) != 0) {
		fprintf(stderr, "senatectl cluster: cannot write %s: %s\n",
			path, strerror(errno));
		return -1;
	}
	return 0;
}

static void pidfile_remove(const cluster *c, unsigned i)
{
	char path[PATH_MAX + 16];
	member_path(path, sizeof path, c, i, ".pid");
	unlink(path);
}

/*
 * Which members run: c->pid[i]. With `fix`, stale pid files go and a
 * member found running without one (through /proc) gets one again.
 * Returns how many run.
 */
static unsigned find_members(cluster *c, bool fix)
{
	proc scanned[MAX_PROCS];
	size_t n_scanned = 0;
	bool did_scan = false, exists;
	unsigned running = 0;

	for (unsigned i = 1; i <= c->nodes; i++) {
		pid_t pid = pidfile_read(c, i, &exists);
		c->pid[i] = 0;
		if (is_member(pid, c, i)) {
			c->pid[i] = pid;
			running++;
			continue;
		}
		if (exists && fix) {
			pidfile_remove(c, i);
			printf("n%u: removed the stale n%u.pid (pid %d %s)\n",
			       i, i, (int)pid,
			       pid > 0 && kill(pid, 0) == 0
				       ? "is another program now"
				       : "is not running");
		}
		if (!did_scan)
			n_scanned = scan_proc(c, scanned, MAX_PROCS);
		did_scan = true;
		for (size_t k = 0; k < n_scanned && !c->pid[i]; k++)
			if (scanned[k].member == i)
				c->pid[i] = scanned[k].pid;
		if (!c->pid[i])
			continue;
		running++;
		if (fix && pidfile_write(c, i, c->pid[i]) == 0)
			printf("n%u: runs as pid %d without a pid file; "
			       "recorded it\n", i, (int)c->pid[i]);
	}
	return running;
}

/* flock DIR/cluster.lock (waits for another up or down on DIR). */
static int lock_dir(const cluster *c)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof path, "%s/cluster.lock", c->dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "senatectl cluster: %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		printf("waiting for another senatectl cluster command on %s\n",
		       c->dir);
		fflush(stdout);
		if (flock(fd, LOCK_EX) != 0) {
			fprintf(stderr, "senatectl cluster: flock %s: %s\n",
				path, strerror(errno));
			close(fd);
			return -1;
		}
	}
	return fd; /* held until exit */
}

/* ---- ports --------------------------------------------------------------- */

/*
 * Whether senated could listen on HOST:port. SO_REUSEADDR like the gRPC
 * server, so the TIME_WAIT connections of a member just stopped do not
 * count; any socket bound there (a listener, with or without
 * SO_REUSEPORT) does.
 */
static bool port_taken(unsigned port)
{
	struct sockaddr_in a;
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	bool taken = bind(fd, (struct sockaddr *)&a, sizeof a) != 0 &&
		     errno == EADDRINUSE;
	close(fd);
	return taken;
}

/* Every port of the members to start must be free; names the taken ones. */
static int check_ports(const cluster *c, bool created)
{
	int taken = 0;
	for (unsigned i = 1; i <= c->nodes; i++) {
		if (c->pid[i])
			continue;
		unsigned ports[2] = { client_port(c, i), peer_port(c, i) };
		for (int k = 0; k < 2; k++) {
			if (!port_taken(ports[k]))
				continue;
			fprintf(stderr, "senatectl cluster: port %u (n%u's %s "
				"port) is in use\n", ports[k], i,
				k ? "peer" : "client");
			taken++;
		}
	}
	if (taken)
		fprintf(stderr, "senatectl cluster: %s\n",
			created ? "another --base-port avoids them (clients "
				  "on base+1.., peers on base+101..)"
				: "stop what holds them, or move the cluster: "
				  "base-port in cluster.conf");
	return taken ? EXIT_FAIL : EXIT_OK;
}

/* ---- starting a member --------------------------------------------------- */

/* In the child, between fork and exec: only async-signal-safe calls. */
static void child_exec(char *const argv[], int null_fd, int log_fd, int err_fd)
{
	struct sigaction dfl;
	sigset_t none;
	int e;

	setsid(); /* no controlling terminal: Ctrl-C there does not reach it */
	/* Out of the way of 0..2 (the parent may have come without them). */
	int ep = fcntl(err_fd, F_DUPFD_CLOEXEC, 10);
	int nf = fcntl(null_fd, F_DUPFD, 10), lf = fcntl(log_fd, F_DUPFD, 10);
	if (ep < 0 || nf < 0 || lf < 0 || dup2(nf, 0) < 0 || dup2(lf, 1) < 0 ||
	    dup2(lf, 2) < 0)
		goto fail;
	/* Nothing else inherited: a pipe held by a daemon keeps a reader
	 * (a shell's $(...), a test runner) waiting forever. */
	if (close_range(3, (unsigned)ep - 1, 0) != 0 ||
	    close_range((unsigned)ep + 1, ~0u, 0) != 0)
		for (int fd = 3; fd < 1024; fd++)
			if (fd != ep)
				close(fd);
	/* Signal settings as from a fresh login, not what senatectl got
	 * (a shell's background job ignores SIGINT and SIGQUIT). */
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			sigaction(s, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execv(argv[0], argv);
fail:
	e = errno;
	ssize_t w = write(ep >= 0 ? ep : err_fd, &e, sizeof e);
	(void)w;
	_exit(127);
}

static void initial_cluster(char *out, size_t cap, const cluster *c)
{
	size_t n = 0;
	for (unsigned i = 1; i <= c->nodes && n < cap; i++)
		n += (size_t)snprintf(out + n, cap - n, "%sn%u=%s:%u;%s:%u",
				      i > 1 ? "," : "", i, HOST,
				      peer_port(c, i), HOST,
				      client_port(c, i));
}

/* Start member i detached; its pid, or 0 with the reason on stderr. */
static pid_t spawn(const cluster *c, unsigned i)
{
	char name[8], data[PATH_MAX + 8], log[PATH_MAX + 16], peer[32],
		client[32], list[1024];
	snprintf(name, sizeof name, "n%u", i);
	member_path(data, sizeof data, c, i, "");
	member_path(log, sizeof log, c, i, ".log");
	snprintf(peer, sizeof peer, "%s:%u", HOST, peer_port(c, i));
	snprintf(client, sizeof client, "%s:%u", HOST, client_port(c, i));
	initial_cluster(list, sizeof list, c);
	char *const argv[] = { (char *)c->senated, "--name", name,
			       "--data-dir", data, "--listen-peer", peer,
			       "--listen-client", client, "--initial-cluster",
			       list, "--engine", (char *)c->engine, NULL };

	int log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int pipefd[2] = { -1, -1 };
	pid_t pid = -1;
	int e = 0;
	if (log_fd < 0 || null_fd < 0 || pipe2(pipefd, O_CLOEXEC) != 0) {
		e = errno;
		goto out;
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0)
		child_exec(argv, null_fd, log_fd, pipefd[1]);
	e = errno;
	close(pipefd[1]);
	pipefd[1] = -1;
	/* The pipe closes on a successful exec; else the child's errno. */
	if (pid > 0 && read(pipefd[0], &e, sizeof e) == (ssize_t)sizeof e) {
		waitpid(pid, NULL, 0);
		pid = -1;
	}
out:
	if (pid <= 0)
		fprintf(stderr, "senatectl cluster: cannot start n%u (%s, log "
			"%s): %s\n", i, c->senated, log, strerror(e));
	if (log_fd >= 0)
		close(log_fd);
	if (null_fd >= 0)
		close(null_fd);
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	return pid > 0 ? pid : 0;
}

/* ---- Cluster.Status ------------------------------------------------------ */

/* Member i's own view; v->answered false when it did not answer. */
static void query(const cluster *c, unsigned i, view *v)
{
	char target[32];
	const char *eps[1] = { target };
	sn_client_options o;
	sn_client *cl;
	sn_cluster_status st;

	memset(v, 0, sizeof *v);
	v->role = "unreachable";
	snprintf(target, sizeof target, "%s:%u", HOST, client_port(c, i));
	sn_client_options_init(&o, SN_CLIENT_OPTIONS_VERSION);
	o.endpoints = eps;
	o.n_endpoints = 1;
	o.timeout_ms = STATUS_TIMEOUT_MS;
	if (sn_client_open(&cl, &o) != SN_OK)
		return;
	if (sn_client_status(&st, cl, target) == SN_OK) {
		for (size_t m = 0; m < st.n_members; m++) {
			const sn_member_info *ms = &st.members[m];
			if (!ms->self)
				continue;
			v->answered = true;
			v->role = ctl_role_name(ms->role);
			v->term = ms->term;
			v->commit = ms->commit;
			v->applied = ms->applied;
			v->leader = st.leader_id;
		}
		snprintf(v->error, sizeof v->error, "%s", st.error);
		sn_cluster_status_dispose(&st);
	}
	sn_client_close(cl);
}

/* The member that says it leads and that a majority (itself included)
 * follow, or 0. */
static unsigned leader_of(const cluster *c, const view *v)
{
	for (unsigned l = 1; l <= c->nodes; l++) {
		unsigned votes = 0;
		if (!v[l].answered || strcmp(v[l].role, "leader") != 0 ||
		    v[l].leader != l || v[l].error[0])
			continue;
		for (unsigned i = 1; i <= c->nodes; i++)
			votes += v[i].answered && v[i].leader == l;
		if (votes > c->nodes / 2)
			return l;
	}
	return 0;
}

/* What `up` waits for: every member answers and runs, and a leader serves. */
static unsigned serving_leader(const cluster *c, const view *v)
{
	for (unsigned i = 1; i <= c->nodes; i++)
		if (!v[i].answered || v[i].error[0])
			return 0;
	return leader_of(c, v);
}

static void print_views(const cluster *c, const view *v)
{
	char ep[32];
	printf("%-6s %-8s %-20s %-12s %8s %10s %10s %6s\n", "member", "pid",
	       "endpoint", "role", "term", "commit", "applied", "leader");
	for (unsigned i = 1; i <= c->nodes; i++) {
		char pid[16], leader[8];
		snprintf(ep, sizeof ep, "%s:%u", HOST, client_port(c, i));
		snprintf(pid, sizeof pid, "%d", (int)c->pid[i]);
		snprintf(leader, sizeof leader, "n%llu", v[i].leader);
		if (!v[i].answered) {
			printf("n%-5u %-8s %-20s %s\n", i, c->pid[i] ? pid : "-",
			       ep, c->pid[i] ? "unreachable" : "stopped");
			continue;
		}
		printf("n%-5u %-8s %-20s %-12s %8llu %10llu %10llu %6s%s%s\n",
		       i, c->pid[i] ? pid : "?", ep, v[i].role, v[i].term,
		       v[i].commit, v[i].applied, v[i].leader ? leader : "-",
		       v[i].error[0] ? " STOPPED: " : "", v[i].error);
	}
}

/* A member that died while we waited: which, how, its log. */
static void report_death(const cluster *c, unsigned i, pid_t pid, int st,
			 bool reaped)
{
	char log[PATH_MAX + 16];
	member_path(log, sizeof log, c, i, ".log");
	if (reaped && WIFEXITED(st))
		printf("n%u (pid %d) exited with status %d\n", i, (int)pid,
		       WEXITSTATUS(st));
	else if (reaped && WIFSIGNALED(st))
		printf("n%u (pid %d) was killed by signal %d\n", i, (int)pid,
		       WTERMSIG(st));
	else
		printf("n%u (pid %d) is gone\n", i, (int)pid);
	print_tail(log, TAIL_LINES);
	pidfile_remove(c, i);
}

/* 0 and the leader's number, or -1: a member died or time ran out. */
static int wait_leader(cluster *c, const bool started[], unsigned timeout_s)
{
	long long deadline = now_ms() + (long long)timeout_s * 1000;
	view v[MAX_NODES + 1];
	char log[PATH_MAX + 16];

	for (;;) {
		for (unsigned i = 1; i <= c->nodes; i++) {
			int st = 0;
			pid_t r = started[i] ? waitpid(c->pid[i], &st, WNOHANG)
					     : 0;
			if (r == c->pid[i] || !is_member(c->pid[i], c, i)) {
				report_death(c, i, c->pid[i], st, r > 0);
				c->pid[i] = 0;
				return -1;
			}
		}
		for (unsigned i = 1; i <= c->nodes; i++)
			query(c, i, &v[i]);
		unsigned l = serving_leader(c, v);
		if (l)
			return (int)l;
		if (now_ms() >= deadline)
			break;
		sleep_ms(POLL_MS);
	}
	printf("no leader within %u s; what the members say:\n", timeout_s);
	print_views(c, v);
	for (unsigned i = 1; i <= c->nodes; i++) {
		member_path(log, sizeof log, c, i, ".log");
		print_tail(log, TAIL_LINES);
	}
	return -1;
}

/* ---- the commands -------------------------------------------------------- */

/* DIR made absolute (and created for `up`). */
static int open_dir(cluster *c, const char *dir, bool create)
{
	char tmp[PATH_MAX];
	if (create && mkdir(dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "senatectl cluster: cannot create %s: %s\n", dir,
			strerror(errno));
		return EXIT_FAIL;
	}
	if (!realpath(dir, tmp)) {
		fprintf(stderr, "senatectl cluster: %s%s: %s\n", dir,
			create ? "" : " is not a cluster directory",
			strerror(errno));
		return create ? EXIT_FAIL : EXIT_USAGE;
	}
	snprintf(c->dir, sizeof c->dir, "%s", tmp);
	return EXIT_OK;
}

/* A new cluster from the flags (cluster.conf is written once ports check). */
static int create(cluster *c, const flags *f, const char *argv0)
{
	bool has_data;
	int rc;

	c->nodes = f->nodes ? f->nodes : DEFAULT_NODES;
	snprintf(c->engine, sizeof c->engine, "%s",
		 f->engine ? f->engine : "raft");
	c->base = f->base ? f->base : DEFAULT_BASE;
	if ((rc = find_senated(c->senated, f->senated, argv0)) != 0)
		return rc;
	if ((rc = dir_adoptable(c, &has_data)) != 0)
		return rc;
	if (has_data)
		printf("%s holds member data but no cluster.conf: taking it "
		       "over as a %u-member %s cluster\n", c->dir, c->nodes,
		       c->engine);
	if (c->nodes % 2 == 0)
		fprintf(stderr, "senatectl cluster: note: %u members tolerate "
			"no more failures than %u; an odd number is "
			"recommended\n", c->nodes, c->nodes - 1);
	return EXIT_OK;
}

static int cmd_up(const flags *f, const char *argv0)
{
	cluster c;
	char conf[PATH_MAX + 16], eps[256];
	bool started[MAX_NODES + 1] = { false }, created = false;
	int rc;

	memset(&c, 0, sizeof c);
	if ((rc = open_dir(&c, f->dir, true)) != 0 || lock_dir(&c) < 0)
		return rc ? rc : EXIT_FAIL;
	conf_path(conf, sizeof conf, &c);
	if (access(conf, F_OK) == 0) {
		if ((rc = conf_load(&c)) != 0 ||
		    (rc = conf_agrees(&c, f, argv0)) != 0)
			return rc;
		if (!executable(c.senated)) {
			fprintf(stderr, "senatectl cluster: %s (senated in %s) "
				"is not an executable file: edit that line\n",
				c.senated, conf);
			return EXIT_USAGE;
		}
	} else {
		if ((rc = create(&c, f, argv0)) != 0)
			return rc;
		created = true;
	}
	unsigned running = find_members(&c, true);
	if ((rc = check_ports(&c, created)) != 0)
		return rc;
	if (created && (rc = conf_write(&c)) != 0)
		return rc;
	for (unsigned i = 1; i <= c.nodes; i++) {
		if (c.pid[i]) {
			printf("n%u already running (pid %d)\n", i,
			       (int)c.pid[i]);
			continue;
		}
		if (!(c.pid[i] = spawn(&c, i)) ||
		    pidfile_write(&c, i, c.pid[i]) != 0) {
			if (running || i > 1)
				fprintf(stderr, "senatectl cluster: the "
					"others are left running (senatectl "
					"cluster down --data-dir %s stops "
					"them)\n", c.dir);
			return EXIT_FAIL;
		}
		started[i] = true;
		printf("started n%u (pid %d)\n", i, (int)c.pid[i]);
	}
	if (running < c.nodes)
		printf("waiting for a leader (up to %u s)...\n",
		       f->timeout ? f->timeout : UP_TIMEOUT_S);
	fflush(stdout);
	int l = wait_leader(&c, started, f->timeout ? f->timeout
						    : UP_TIMEOUT_S);
	if (l < 0) {
		printf("the members that run are left running: senatectl "
		       "cluster down --data-dir %s stops them\n", c.dir);
		return EXIT_FAIL;
	}
	endpoints(eps, sizeof eps, &c);
	printf("cluster: %u members, engine %s, leader n%d, data in %s "
	       "(logs n1.log..)\n", c.nodes, c.engine, l, c.dir);
	printf("endpoints: %s\n", eps);
	return EXIT_OK;
}

/* Wait until none of t[0..n) runs (pid 0 once gone), or the deadline.
 * Returns how many still run. */
static size_t wait_gone(const cluster *c, proc *t, size_t n,
			long long deadline)
{
	for (;;) {
		size_t left = 0;
		for (size_t k = 0; k < n; k++) {
			if (t[k].pid && !is_member(t[k].pid, c, t[k].member))
				t[k].pid = 0;
			left += t[k].pid != 0;
		}
		if (!left || now_ms() >= deadline)
			return left;
		sleep_ms(50);
	}
}

/* The recorded members, then any other senated of DIR that /proc shows
 * (one started by hand, or whose pid file was lost): down leaves none. */
static size_t down_targets(const cluster *c, proc *t)
{
	proc all[MAX_PROCS];
	size_t n = 0, n_all = scan_proc(c, all, MAX_PROCS);

	for (unsigned i = 1; i <= c->nodes; i++)
		if (c->pid[i])
			t[n++] = (proc){ c->pid[i], i };
	for (size_t k = 0; k < n_all && n < MAX_PROCS; k++) {
		bool known = false;
		for (size_t j = 0; j < n; j++)
			known |= t[j].pid == all[k].pid;
		if (!known)
			t[n++] = all[k];
	}
	return n;
}

static int cmd_down(const flags *f)
{
	cluster c;
	proc t[MAX_PROCS];
	unsigned timeout = f->timeout ? f->timeout : DOWN_TIMEOUT_S;
	bool failed = false;
	int rc;

	memset(&c, 0, sizeof c);
	if ((rc = open_dir(&c, f->dir, false)) != 0 ||
	    (rc = conf_load(&c)) != 0)
		return rc;
	if (lock_dir(&c) < 0)
		return EXIT_FAIL;
	find_members(&c, true);
	size_t n = down_targets(&c, t);
	if (!n) {
		printf("the cluster in %s is not running\n", c.dir);
		return EXIT_OK;
	}
	for (size_t k = 0; k < n; k++) {
		printf("stopping n%u (pid %d)\n", t[k].member, (int)t[k].pid);
		if (kill(t[k].pid, SIGTERM) != 0)
			fprintf(stderr, "senatectl cluster: cannot signal n%u "
				"(pid %d): %s\n", t[k].member, (int)t[k].pid,
				strerror(errno));
	}
	fflush(stdout);
	if (wait_gone(&c, t, n, now_ms() + (long long)timeout * 1000)) {
		for (size_t k = 0; k < n; k++)
			if (t[k].pid && kill(t[k].pid, SIGKILL) == 0)
				printf("n%u (pid %d) did not stop within %u s: "
				       "killed it (SIGKILL)\n", t[k].member,
				       (int)t[k].pid, timeout);
		wait_gone(&c, t, n, now_ms() + KILL_WAIT_S * 1000);
	}
	for (size_t k = 0; k < n; k++) {
		if (!t[k].pid)
			continue;
		fprintf(stderr, "senatectl cluster: n%u (pid %d) is still "
			"running\n", t[k].member, (int)t[k].pid);
		failed = true;
	}
	for (unsigned i = 1; i <= c.nodes; i++) {
		bool left = false;
		for (size_t k = 0; k < n; k++)
			left |= t[k].pid && t[k].member == i;
		if (!left)
			pidfile_remove(&c, i);
	}
	if (failed)
		return EXIT_FAIL;
	printf("cluster stopped; its data stays in %s (senatectl cluster up "
	       "--data-dir %s starts it again)\n", c.dir, c.dir);
	return EXIT_OK;
}

static int cmd_status(const flags *f)
{
	cluster c;
	view v[MAX_NODES + 1];
	char eps[256];
	int rc;

	memset(&c, 0, sizeof c);
	if ((rc = open_dir(&c, f->dir, false)) != 0 ||
	    (rc = conf_load(&c)) != 0)
		return rc;
	unsigned running = find_members(&c, false);
	for (unsigned i = 1; i <= c.nodes; i++) {
		if (c.pid[i])
			query(&c, i, &v[i]);
		else
			memset(&v[i], 0, sizeof v[i]);
	}
	print_views(&c, v);
	unsigned l = leader_of(&c, v);
	endpoints(eps, sizeof eps, &c);
	printf("cluster: %u members (%u running), engine %s, ", c.nodes,
	       running, c.engine);
	if (l)
		printf("leader n%u, ", l);
	else
		printf("no leader, ");
	printf("data in %s\nendpoints: %s\n", c.dir, eps);
	return serving_leader(&c, v) ? EXIT_OK : EXIT_FAIL;
}

int ctl_cluster(int argc, char **argv, const char *argv0)
{
	flags f;
	int rc;

	if (argc < 1 || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) {
		say_usage(argc < 1 ? stderr : stdout);
		return argc < 1 ? EXIT_USAGE : EXIT_OK;
	}
	if (!strcmp(argv[0], "up")) {
		rc = parse_flags(argc, argv, F_DIR | F_NODES | F_ENGINE |
					     F_BASE | F_SENATED | F_TIMEOUT, &f);
		return rc ? (rc < 0 ? EXIT_OK : rc) : cmd_up(&f, argv0);
	}
	if (!strcmp(argv[0], "down")) {
		rc = parse_flags(argc, argv, F_DIR | F_TIMEOUT, &f);
		return rc ? (rc < 0 ? EXIT_OK : rc) : cmd_down(&f);
	}
	if (!strcmp(argv[0], "status")) {
		rc = parse_flags(argc, argv, F_DIR, &f);
		return rc ? (rc < 0 ? EXIT_OK : rc) : cmd_status(&f);
	}
	return usage_error("unknown command '%s' (up, down or status)",
			   argv[0]);
}
