/*
 * senate-bench-wal: how fast the write-ahead log makes entries durable.
 *
 * For each entry size (100 B, 4 KiB) and each number of concurrent
 * proposers K (1, 8, 64), a fresh WAL is opened in its own directory and
 * entries are appended for a bounded time or count. Proposers are modelled
 * the way the node runtime drives the WAL: one thread (the loop thread)
 * makes every storage call, as the seam requires, and keeps K single-entry
 * appends outstanding; each completion (on the storage thread) frees a slot
 * and the loop submits the next entry. K outstanding appends are K clients
 * that each wait for their write before sending the next, without K
 * threads contending for a lock.
 *
 * Reported per case: entries/s, fdatasync calls/s (counted exactly through
 * the WAL's system-call seam, core/log/wal_fault.h), entries per fdatasync,
 * MB/s of entry data, and the append latency (submission to durable
 * callback) at p50, p99 and max.
 *
 * Usage: senate-bench-wal [--dir DIR] [--seconds S] [--max-entries N]
 *                         [--sizes 100,4096] [--proposers 1,8,64]
 *                         [--no-sync] [--keep]
 * DIR (default ./senate-bench-wal.d) should be on the disk being measured:
 * a tmpfs measures nothing.
 */
#define _GNU_SOURCE

#include <senate/senate.h>

#include "log/wal_fault.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define MAX_LIST 8

typedef struct config {
	const char *dir;
	double seconds;
	uint64_t max_entries;
	size_t sizes[MAX_LIST], n_sizes;
	size_t proposers[MAX_LIST], n_proposers;
	int no_sync;
	int keep;
} config;

/* One outstanding append. */
typedef struct slot {
	struct bench *b;
	uint64_t t_submit;
} slot;

typedef struct bench {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	slot *slots;
	size_t *free_slots, n_free;
	uint64_t *lat_ns;   /* one per completed append */
	uint64_t n_done, lat_cap;
	uint64_t t_last_done;
	int first_error;
} bench;

static atomic_uint_fast64_t n_fdatasync;
static int (*real_fdatasync)(int fd);

static int counting_fdatasync(int fd)
{
	atomic_fetch_add(&n_fdatasync, 1);
	return real_fdatasync(fd);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void on_durable(void *userdata, int status)
{
	slot *s = userdata;
	bench *b = s->b;
	uint64_t t = now_ns();

	pthread_mutex_lock(&b->mu);
	if (status != SN_OK && !b->first_error)
		b->first_error = status;
	if (b->n_done < b->lat_cap)
		b->lat_ns[b->n_done] = t - s->t_submit;
	b->n_done++;
	b->t_last_done = t;
	b->free_slots[b->n_free++] = (size_t)(s - b->slots);
	pthread_cond_signal(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[4096];

	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

typedef struct result {
	uint64_t entries, syncs;
	double seconds;
	double p50_us, p99_us, max_us;
} result;

static int run_case(const config *c, size_t size, size_t k, result *res)
{
	char dir[4096];
	sn_wal_options opts;
	sn_storage *s = NULL;
	sn_storage_state st;
	bench b;
	uint8_t *data;
	uint64_t index = 1, t0, deadline, syncs0;
	int rv;

	snprintf(dir, sizeof dir, "%s/case-%zu-%zu", c->dir, size, k);
	remove_dir(dir);
	sn_wal_options_init(&opts, SN_WAL_OPTIONS_VERSION);
	opts.dir = dir;
	opts.no_sync = c->no_sync;
	rv = sn_wal_open(&s, &st, &opts);
	if (rv != SN_OK) {
		fprintf(stderr, "senate-bench-wal: sn_wal_open %s: %s: %s\n",
			dir, sn_strerror(rv), sn_errmsg());
		return rv;
	}

	memset(&b, 0, sizeof b);
	pthread_mutex_init(&b.mu, NULL);
	pthread_cond_init(&b.cv, NULL);
	b.slots = calloc(k, sizeof *b.slots);
	b.free_slots = calloc(k, sizeof *b.free_slots);
	b.lat_cap = c->max_entries;
	b.lat_ns = calloc(b.lat_cap ? b.lat_cap : 1, sizeof *b.lat_ns);
	data = malloc(size);
	if (!b.slots || !b.free_slots || !b.lat_ns || !data) {
		fprintf(stderr, "senate-bench-wal: out of memory\n");
		exit(1);
	}
	for (size_t i = 0; i < size; i++)
		data[i] = (uint8_t)(i * 131 + 7);
	for (size_t i = 0; i < k; i++) {
		b.slots[i].b = &b;
		b.free_slots[b.n_free++] = i;
	}

	syncs0 = atomic_load(&n_fdatasync);
	t0 = now_ns();
	deadline = t0 + (uint64_t)(c->seconds * 1e9);
	while (index <= c->max_entries) {
		sn_entry e = { index, 1, SN_ENTRY_NORMAL, data, size };
		slot *sl;

		pthread_mutex_lock(&b.mu);
		while (b.n_free == 0)
			pthread_cond_wait(&b.cv, &b.mu);
		sl = &b.slots[b.free_slots[--b.n_free]];
		rv = b.first_error;
		pthread_mutex_unlock(&b.mu);
		if (rv != SN_OK || now_ns() >= deadline)
			break;
		sl->t_submit = now_ns();
		rv = sn_storage_append(s, NULL, &e, 1, on_durable, sl);
		if (rv != SN_OK) {
			fprintf(stderr, "senate-bench-wal: append %llu: %s: %s\n",
				(unsigned long long)index, sn_strerror(rv),
				sn_errmsg());
			break;
		}
		index++;
	}
	/* Wait for everything submitted (the slot taken last is unused). */
	pthread_mutex_lock(&b.mu);
	while (b.n_done < index - 1)
		pthread_cond_wait(&b.cv, &b.mu);
	pthread_mutex_unlock(&b.mu);

	res->entries = b.n_done;
	res->syncs = atomic_load(&n_fdatasync) - syncs0;
	res->seconds = (double)((b.t_last_done > t0 ? b.t_last_done : now_ns()) -
				t0) / 1e9;
	sn_storage_close(s);
	if (rv == SN_OK)
		rv = b.first_error;

	{
		uint64_t n = b.n_done < b.lat_cap ? b.n_done : b.lat_cap;
		qsort(b.lat_ns, n, sizeof *b.lat_ns, cmp_u64);
		res->p50_us = n ? b.lat_ns[n / 2] / 1e3 : 0;
		res->p99_us = n ? b.lat_ns[(n * 99) / 100 < n ? (n * 99) / 100
							      : n - 1] / 1e3
				: 0;
		res->max_us = n ? b.lat_ns[n - 1] / 1e3 : 0;
	}
	free(b.slots);
	free(b.free_slots);
	free(b.lat_ns);
	free(data);
	pthread_mutex_destroy(&b.mu);
	pthread_cond_destroy(&b.cv);
	if (!c->keep)
		remove_dir(dir);
	return rv;
}

static const char *fs_name(const char *dir)
{
	struct statfs sf;
	if (statfs(dir, &sf) != 0)
		return "?";
	switch ((unsigned long)sf.f_type) {
	case 0xEF53: return "ext2/3/4";
	case 0x58465342: return "xfs";
	case 0x9123683E: return "btrfs";
	case 0x01021994: return "tmpfs";
	case 0x794c7630: return "overlayfs";
	case 0x2fc12fc1: return "zfs";
	default: return "other";
	}
}

static void print_machine(const config *c)
{
	char model[256] = "?", line[512];
	struct utsname u;
	FILE *f = fopen("/proc/cpuinfo", "r");

	while (f && fgets(line, sizeof line, f)) {
		char *colon = strchr(line, ':');
		if (strncmp(line, "model name", 10) == 0 && colon) {
			snprintf(model, sizeof model, "%s", colon + 2);
			model[strcspn(model, "\n")] = '\0';
			break;
		}
	}
	if (f)
		fclose(f);
	uname(&u);
	printf("senate-bench-wal: libsenate %s, %s %s, %ld CPUs (%s)\n",
	       SN_VERSION_STRING, u.sysname, u.release,
	       sysconf(_SC_NPROCESSORS_ONLN), model);
	printf("dir %s (%s), %.1f s or %llu entries per case, %s\n", c->dir,
	       fs_name(c->dir), c->seconds,
	       (unsigned long long)c->max_entries,
	       c->no_sync ? "NO SYNC (no_sync=1)" : "fdatasync on");
	if (strcmp(fs_name(c->dir), "tmpfs") == 0)
		printf("warning: %s is a tmpfs: fdatasync costs nothing here\n",
		       c->dir);
}

static int parse_list(const char *s, size_t *out, size_t *n)
{
	char *end;
	*n = 0;
	while (*s) {
		unsigned long v = strtoul(s, &end, 10);
		if (end == s || v == 0 || *n == MAX_LIST)
			return -1;
		out[(*n)++] = v;
		s = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			return -1;
	}
	return *n ? 0 : -1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: senate-bench-wal [--dir DIR] [--seconds S] "
		   "[--max-entries N]\n"
		   "                        [--sizes 100,4096] "
		   "[--proposers 1,8,64] [--no-sync] [--keep]\n");
}

int main(int argc, char **argv)
{
	config c = { "senate-bench-wal.d", 2.0, 1000000, { 100, 4096 }, 2,
		     { 1, 8, 64 }, 3, 0, 0 };
	int failed = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--no-sync") == 0) {
			c.no_sync = 1;
		} else if (strcmp(a, "--keep") == 0) {
			c.keep = 1;
		} else if (strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (v && strcmp(a, "--dir") == 0) {
			c.dir = v;
			i++;
		} else if (v && strcmp(a, "--seconds") == 0) {
			c.seconds = atof(v);
			i++;
		} else if (v && strcmp(a, "--max-entries") == 0) {
			c.max_entries = strtoull(v, NULL, 10);
			i++;
		} else if (v && strcmp(a, "--sizes") == 0) {
			if (parse_list(v, c.sizes, &c.n_sizes))
				return usage(stderr), 2;
			i++;
		} else if (v && strcmp(a, "--proposers") == 0) {
			if (parse_list(v, c.proposers, &c.n_proposers))
				return usage(stderr), 2;
			i++;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (c.seconds <= 0 || c.max_entries == 0)
		return usage(stderr), 2;
	if (mkdir(c.dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "senate-bench-wal: mkdir %s: %s\n", c.dir,
			strerror(errno));
		return 1;
	}

	real_fdatasync = sn__wal_hooks.fdatasync;
	sn__wal_hooks.fdatasync = counting_fdatasync;

	print_machine(&c);
	printf("%6s %9s %9s %7s %10s %9s %9s %7s %9s %9s %9s\n", "size",
	       "proposers", "entries", "seconds", "entries/s", "fsyncs/s",
	       "ent/fsync", "MB/s", "p50_us", "p99_us", "max_us");
	for (size_t i = 0; i < c.n_sizes; i++) {
		for (size_t j = 0; j < c.n_proposers; j++) {
			result r;
			double secs;
			if (run_case(&c, c.sizes[i], c.proposers[j], &r) != SN_OK) {
				failed = 1;
				continue;
			}
			secs = r.seconds > 0 ? r.seconds : 1e-9;
			printf("%6zu %9zu %9llu %7.2f %10.0f %9.0f %9.1f %7.1f "
			       "%9.0f %9.0f %9.0f\n",
			       c.sizes[i], c.proposers[j],
			       (unsigned long long)r.entries, r.seconds,
			       r.entries / secs, r.syncs / secs,
			       r.syncs ? (double)r.entries / r.syncs : 0.0,
			       r.entries * (double)c.sizes[i] / secs / 1e6,
			       r.p50_us, r.p99_us, r.max_us);
			fflush(stdout);
		}
	}
	if (!c.keep)
		rmdir(c.dir); /* only if empty: never someone else's files */
	return failed;
}
