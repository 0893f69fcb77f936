/*
 * core/store/store.c - opening and closing the store's LMDB environment,
 * its meta records, and the reads (any thread, one read transaction each).
 */
#define _POSIX_C_SOURCE 200809L /* pthread_rwlock_t */
#include "store_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int sn__store_mdb_err(int rc, const char *what)
{
	switch (rc) {
	case MDB_READERS_FULL:
		return sn__err(SN_EBUSY, "%s: every LMDB reader slot is taken",
			       what);
	case MDB_MAP_FULL:
		return sn__err(SN_ENOSPC, "%s: the LMDB map is full (raise "
			       "map_size)", what);
	case ENOMEM:
		return sn__err(SN_ENOMEM, "%s: out of memory", what);
	case ENOSPC:
		return sn__err(SN_ENOSPC, "%s: %s", what, mdb_strerror(rc));
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
		return sn__err(SN_ECORRUPT, "%s: %s", what, mdb_strerror(rc));
	default:
		return sn__err(SN_EIO, "%s: %s", what, mdb_strerror(rc));
	}
}

static uint64_t get_u64_at(const MDB_val *v, size_t at)
{
	sn__reader r = { (const uint8_t *)v->mv_data + at, 8, false };
	return sn__get_u64(&r);
}

/* Check or write the format record; load applied and revision. */
static int load_meta(sn__store *st, MDB_txn *txn)
{
	MDB_val k = { 6, "format" }, v;
	uint8_t fmt[8];
	int rc = mdb_get(txn, st->meta, &k, &v);

	if (rc == MDB_NOTFOUND) {
		sn__put_u32(sn__put_u32(fmt, SN__STORE_FORMAT),
			    SN__STORE_PREFIX);
		v.mv_size = sizeof fmt;
		v.mv_data = fmt;
		if ((rc = mdb_put(txn, st->meta, &k, &v, 0)) != 0)
			return sn__store_mdb_err(rc, "store: format record");
	} else if (rc != 0) {
		return sn__store_mdb_err(rc, "store: format record");
	} else {
		sn__reader r = { v.mv_data, v.mv_size, false };
		uint32_t f = sn__get_u32(&r), p = sn__get_u32(&r);
		if (r.bad || r.left || f != SN__STORE_FORMAT ||
		    p != SN__STORE_PREFIX)
			return sn__err(SN_ECORRUPT, "store %s: unknown format "
				       "(format %u, prefix %u)", st->dir, f, p);
	}
	k.mv_size = 7;
	k.mv_data = "applied";
	rc = mdb_get(txn, st->meta, &k, &v);
	if (rc == 0 && v.mv_size == 16)
		sn__store_set_applied(st, get_u64_at(&v, 0), get_u64_at(&v, 8));
	else if (rc != MDB_NOTFOUND)
		return rc ? sn__store_mdb_err(rc, "store: applied record")
			  : sn__err(SN_ECORRUPT, "store: bad applied record");
	else
		sn__store_set_applied(st, 0, 0);
	k.mv_size = 8;
	k.mv_data = "revision";
	rc = mdb_get(txn, st->meta, &k, &v);
	if (rc == 0 && v.mv_size == 8)
		st->revision = get_u64_at(&v, 0);
	else if (rc != MDB_NOTFOUND)
		return rc ? sn__store_mdb_err(rc, "store: revision record")
			  : sn__err(SN_ECORRUPT, "store: bad revision record");
	else
		st->revision = 0;
	return SN_OK;
}

static int open_dbis(sn__store *st, MDB_txn *txn)
{
	struct {
		const char *name;
		MDB_dbi *dbi;
	} dbs[] = { { "meta", &st->meta },
		    { "kv", &st->kv },
		    { "clients", &st->clients },
		    { "idle", &st->idle } };

	for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++) {
		int rc = mdb_dbi_open(txn, dbs[i].name, MDB_CREATE, dbs[i].dbi);
		if (rc != 0)
			return sn__store_mdb_err(rc, "store: open database");
	}
	return SN_OK;
}

int sn__store_env_open(sn__store *st)
{
	/* Lazy: nothing synced per commit (see store.h). Otherwise each
	 * commit syncs its data pages, the meta page lazily. Not
	 * MDB_WRITEMAP, though it measured a few percent faster: LMDB then
	 * maps a sparse file of map_size, and on a full disk a write to a
	 * hole is a SIGBUS instead of an ENOSPC that stops the node with a
	 * message. */
	unsigned flags = MDB_NOTLS |
			 (st->lazy || st->no_sync ? MDB_NOSYNC : MDB_NOMETASYNC);
	MDB_txn *txn = NULL;
	int rc, rv;

	if ((rc = mdb_env_create(&st->env)) != 0)
		return sn__store_mdb_err(rc, "store: mdb_env_create");
	if ((rc = mdb_env_set_maxdbs(st->env, 4)) != 0 ||
	    (rc = mdb_env_set_mapsize(st->env, st->map_size)) != 0) {
		rv = sn__store_mdb_err(rc, "store: configure LMDB");
		goto fail;
	}
	if ((rc = mdb_env_open(st->env, st->dir, flags, 0600)) != 0) {
		rv = sn__err(rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH
				     ? SN_ECORRUPT
				     : SN_EIO,
			     "store: open LMDB in %s: %s", st->dir,
			     mdb_strerror(rc));
		goto fail;
	}
	if (mdb_env_get_maxkeysize(st->env) < SN__STORE_PREFIX) {
		rv = sn__err(SN_ENOTSUP, "store: this LMDB takes keys of at "
			     "most %d bytes, %d needed",
			     mdb_env_get_maxkeysize(st->env),
			     SN__STORE_PREFIX);
		goto fail;
	}
	if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0) {
		rv = sn__store_mdb_err(rc, "store: begin");
		goto fail;
	}
	if ((rv = open_dbis(st, txn)) != SN_OK ||
	    (rv = load_meta(st, txn)) != SN_OK)
		goto fail;
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0) {
		rv = sn__store_mdb_err(rc, "store: commit");
		goto fail;
	}
	return SN_OK;
fail:
	if (txn)
		mdb_txn_abort(txn);
	mdb_env_close(st->env);
	st->env = NULL;
	return rv;
}

int sn__store_env_close(sn__store *st, bool sync)
{
	int rv = SN_OK;

	if (!st->env)
		return SN_OK;
	if (sync) {
		int rc = mdb_env_sync(st->env, 1);
		if (rc != 0)
			rv = sn__err(SN_EIO, "store %s: sync: %s", st->dir,
				     mdb_strerror(rc));
	}
	mdb_env_close(st->env);
	st->env = NULL;
	return rv;
}

/* ---- store.state: was the store synced before the machine restarted? -- */

#define STATE_MAGIC "senate-store-state 1"

static bool read_boot_id(const char *path, char *out, size_t cap)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return false;
	n = fread(out, 1, cap - 1, f);
	fclose(f);
	while (n && (out[n - 1] == '\n' || out[n - 1] == ' '))
		n--;
	out[n] = '\0';
	return n > 0 && !strchr(out, '\n');
}

static void state_path(const sn__store *st, char *out, size_t cap,
		       const char *suffix)
{
	snprintf(out, cap, "%s/store.state%s", st->dir, suffix);
}

/* SN_OK and the recorded boot id and clean flag, SN_ENOTFOUND without a
 * file, SN_ECORRUPT for a file that does not parse. */
static int state_read(const sn__store *st, char *boot, size_t cap,
		      bool *clean)
{
	char path[4200], line[128], magic[32];
	int c = -1;
	FILE *f;

	state_path(st, path, sizeof path, "");
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT
			       ? SN_ENOTFOUND
			       : sn__err(SN_EIO, "store: %s: %s", path,
					 strerror(errno));
	boot[0] = '\0';
	if (!fgets(magic, sizeof magic, f) ||
	    strncmp(magic, STATE_MAGIC "\n", sizeof STATE_MAGIC) != 0)
		c = -2;
	while (c != -2 && fgets(line, sizeof line, f)) {
		size_t n = strlen(line);
		if (n && line[n - 1] == '\n')
			line[--n] = '\0';
		if (!strncmp(line, "boot ", 5) && n - 5 < cap)
			memcpy(boot, line + 5, n - 4);
		else if (!strcmp(line, "clean 1") || !strcmp(line, "clean 0"))
			c = line[6] == '1';
	}
	fclose(f);
	if (c < 0 || !boot[0])
		return sn__err(SN_ECORRUPT, "store: %s does not parse", path);
	*clean = c == 1;
	return SN_OK;
}

/* Replace store.state (write, fsync, rename, fsync the directory). */
static int state_write(sn__store *st, bool clean)
{
	char path[4200], tmp[4200];
	int fd, dfd, rv = SN_OK;
	FILE *f;

	state_path(st, path, sizeof path, "");
	state_path(st, tmp, sizeof tmp, ".tmp");
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return sn__err(SN_EIO, "store: create %s: %s", tmp,
			       strerror(errno));
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return sn__err(SN_ENOMEM, "store: out of memory");
	}
	fprintf(f, STATE_MAGIC "\nboot %s\nclean %d\n", st->boot, clean);
	if (fflush(f) != 0 || fsync(fd) != 0)
		rv = sn__err(SN_EIO, "store: write %s: %s", tmp,
			     strerror(errno));
	fclose(f);
	if (rv == SN_OK && rename(tmp, path) != 0)
		rv = sn__err(SN_EIO, "store: rename %s: %s", tmp,
			     strerror(errno));
	if (rv != SN_OK)
		return rv;
	dfd = open(st->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) != 0)
		rv = sn__err(SN_EIO, "store: fsync %s: %s", st->dir,
			     strerror(errno));
	if (dfd >= 0)
		close(dfd);
	return rv;
}

/* Before the env opens: discard a data.mdb that was not synced before the
 * machine restarted, then record this boot as an unclean one. */
static int state_begin(sn__store *st)
{
	char data[4200], lock[4200], boot[64];
	bool clean = false;
	int rv;

	snprintf(data, sizeof data, "%s/data.mdb", st->dir);
	snprintf(lock, sizeof lock, "%s/lock.mdb", st->dir);
	if (access(data, F_OK) == 0) {
		rv = state_read(st, boot, sizeof boot, &clean);
		if (rv == SN_ECORRUPT || (rv == SN_OK && !clean &&
					  strcmp(boot, st->boot) != 0)) {
			sn__log(SN_LOG_WARN, "store %s: the machine restarted "
				"since the store was last synced (%s): "
				"discarding it; the node rebuilds it from its "
				"newest snapshot and the WAL", st->dir,
				rv == SN_OK ? "an unclean stop in an earlier "
					      "boot"
					    : sn_errmsg());
			if (unlink(data) != 0 ||
			    (unlink(lock) != 0 && errno != ENOENT))
				return sn__err(SN_EIO, "store: remove %s: %s",
					       data, strerror(errno));
		} else if (rv != SN_OK && rv != SN_ENOTFOUND) {
			return rv;
		}
	}
	return state_write(st, false);
}

int sn__store_open(sn__store **out, const sn__store_options *o)
{
	sn__store *st;
	int rv;

	*out = NULL;
	if (!o || !o->dir || !*o->dir)
		return sn__err(SN_EINVAL, "store: no directory given");
	if (o->max_key_bytes > SN__STORE_KEY_HARD_MAX ||
	    o->max_value_bytes > SN__STORE_VALUE_HARD_MAX)
		return sn__err(SN_EINVAL, "store: limits above the hard bounds "
			       "(keys %u, values %u bytes)",
			       SN__STORE_KEY_HARD_MAX,
			       SN__STORE_VALUE_HARD_MAX);
	if (mkdir(o->dir, 0700) != 0 && errno != EEXIST)
		return sn__err(SN_EIO, "store: mkdir %s: %s", o->dir,
			       strerror(errno));
	st = sn__calloc(1, sizeof *st);
	if (!st)
		return sn__err(SN_ENOMEM, "store: out of memory");
	st->dir = sn__strdup(o->dir);
	st->cmd = sn__malloc(sizeof *st->cmd);
	if (!st->dir || !st->cmd) {
		sn__free(st->dir);
		sn__free(st->cmd);
		sn__free(st);
		return sn__err(SN_ENOMEM, "store: out of memory");
	}
	st->map_size = o->map_size ? o->map_size : SN__STORE_DEFAULT_MAP_SIZE;
	st->max_key = o->max_key_bytes ? o->max_key_bytes
				       : SN__STORE_DEFAULT_MAX_KEY;
	st->max_value = o->max_value_bytes ? o->max_value_bytes
					   : SN__STORE_DEFAULT_MAX_VALUE;
	st->client_idle = o->client_idle_entries
				  ? o->client_idle_entries
				  : SN__STORE_DEFAULT_CLIENT_IDLE;
	st->no_sync = o->no_sync;
	st->lazy = !o->no_sync &&
		   read_boot_id(o->boot_id_path ? o->boot_id_path
						: SN__STORE_BOOT_ID_PATH,
				st->boot, sizeof st->boot);
	pthread_rwlock_init(&st->lock, NULL);
	pthread_mutex_init(&st->meta_lock, NULL);
	if ((st->lazy && (rv = state_begin(st)) != SN_OK) ||
	    (rv = sn__store_env_open(st)) != SN_OK) {
		sn__store_close(st);
		return rv;
	}
	*out = st;
	return SN_OK;
}

void sn__store_close(sn__store *st)
{
	if (!st)
		return;
	if (st->pending) /* never committed: the WAL replays it */
		mdb_txn_abort(st->pending);
	st->pending = NULL;
	if (st->env) {
		bool broken = st->broken;
		int rv = sn__store_env_close(st, !st->no_sync);
		if (rv == SN_OK && st->lazy && !broken)
			rv = state_write(st, true);
		if (rv != SN_OK) /* the next boot rebuilds it */
			sn__log(SN_LOG_ERROR, "store %s: not closed cleanly: "
				"%s", st->dir, sn_errmsg());
	}
	pthread_rwlock_destroy(&st->lock);
	pthread_mutex_destroy(&st->meta_lock);
	sn_buf_dispose(&st->bucket);
	sn_buf_dispose(&st->bucket2);
	sn_buf_dispose(&st->keys);
	sn_buf_dispose(&st->res);
	sn__free(st->cmd);
	sn__free(st->dir);
	sn__free(st);
}

void sn__store_set_applied(sn__store *st, uint64_t index, uint64_t term)
{
	pthread_mutex_lock(&st->meta_lock);
	st->applied = index;
	st->applied_term = term;
	pthread_mutex_unlock(&st->meta_lock);
}

uint64_t sn__store_applied(const sn__store *cst, uint64_t *term)
{
	sn__store *st = (sn__store *)cst;
	uint64_t index;

	pthread_mutex_lock(&st->meta_lock);
	index = st->applied;
	if (term)
		*term = st->applied_term;
	pthread_mutex_unlock(&st->meta_lock);
	return index;
}

const char *sn__store_dir(const sn__store *st)
{
	return st->dir;
}

uint64_t sn__store_revision(const sn__store *st)
{
	return atomic_load(&((sn__store *)st)->revision);
}

/* ---- reads ------------------------------------------------------------ */

static int read_revision(sn__store *st, MDB_txn *txn, uint64_t *rev)
{
	MDB_val k = { 8, "revision" }, v;
	int rc = mdb_get(txn, st->meta, &k, &v);

	if (rc == MDB_NOTFOUND) {
		*rev = 0;
		return SN_OK;
	}
	if (rc != 0)
		return sn__store_mdb_err(rc, "store: read revision");
	if (v.mv_size != 8)
		return sn__err(SN_ECORRUPT, "store: bad revision record");
	*rev = get_u64_at(&v, 0);
	return SN_OK;
}

int sn__store_range(sn__store_read *out, sn__store *st, const void *key,
		    size_t klen, const void *end, size_t elen, uint64_t limit,
		    uint64_t revision, unsigned flags)
{
	sn__wbuf w = { &out->raw, false };
	MDB_txn *txn = NULL;
	int rc, rv;

	memset(out, 0, sizeof *out);
	if (klen == 0)
		return sn__err(SN_EINVAL, "store range: empty key");
	if (flags & ~(SN__STORE_KEYS_ONLY | SN__STORE_COUNT_ONLY))
		return sn__err(SN_EINVAL, "store range: unknown flags %#x",
			       flags);
	pthread_rwlock_rdlock(&st->lock);
	if (st->broken || !st->env) {
		rv = sn__err(SN_ESTATE, "store: closed after a failed restore");
		goto out;
	}
	if ((rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn)) != 0) {
		rv = sn__store_mdb_err(rc, "store: begin read");
		goto out;
	}
	if ((rv = read_revision(st, txn, &out->revision)) != SN_OK)
		goto out;
	if (revision != 0 && revision != out->revision) {
		rv = sn__err(SN_ENOTSUP, "store range: revision %llu requested "
			     "but only the current one (%llu) is kept",
			     (unsigned long long)revision,
			     (unsigned long long)out->revision);
		goto out;
	}
	rv = sn__kv_range(&w, txn, st->kv, key, klen, end, elen, limit, flags);
	if (rv == SN_OK)
		rv = sn__read_decode(out);
out:
	if (txn)
		mdb_txn_abort(txn);
	pthread_rwlock_unlock(&st->lock);
	if (rv != SN_OK) {
		uint64_t r = out->revision;
		sn__store_read_dispose(out);
		out->revision = r;
	}
	return rv;
}

int sn__store_get(sn__store_read *out, sn__store *st, const void *key,
		  size_t klen)
{
	int rv = sn__store_range(out, st, key, klen, NULL, 0, 0, 0, 0);

	if (rv == SN_OK && out->n_kvs == 0)
		return sn__err(SN_ENOTFOUND, "store: no such key");
	return rv;
}
