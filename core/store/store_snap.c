/*
 * core/store/store_snap.c - snapshots of the store: a compacted LMDB copy
 * written to a file descriptor, and restoring the store from such a copy.
 */
#define _POSIX_C_SOURCE 200809L /* pthread_rwlock_t */
#include "store_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int sn__store_snapshot(sn__store *st, int fd, uint64_t *index, uint64_t *term)
{
	int rc;

	if ((rc = sn__store_commit(st)) != SN_OK)
		return rc;
	if (st->broken || !st->env)
		return sn__err(SN_ESTATE, "store: closed after a failed "
			       "restore");
	/* Only the writer thread applies, and it is here: the copy covers
	 * exactly the applied index read now. */
	*index = sn__store_applied(st, term);
	rc = mdb_env_copyfd2(st->env, fd, MDB_CP_COMPACT);
	if (rc != 0)
		return sn__store_mdb_err(rc, "store: snapshot copy");
	return SN_OK;
}

static int check_copy(const char *path, size_t map_size, uint64_t *index,
		      uint64_t *term);

int sn__store_snapshot_live(sn__store *st, int fd, uint64_t *index,
			    uint64_t *term)
{
	char path[64];
	int rc, rv;

	pthread_rwlock_rdlock(&st->lock); /* no restore swaps the env */
	if (st->broken || !st->env) {
		pthread_rwlock_unlock(&st->lock);
		return sn__err(SN_ESTATE, "store: closed after a failed "
			       "restore");
	}
	rc = mdb_env_copyfd2(st->env, fd, MDB_CP_COMPACT);
	pthread_rwlock_unlock(&st->lock);
	if (rc != 0)
		return sn__store_mdb_err(rc, "store: snapshot copy");
	/* Which state did the copy's read transaction see? Ask the copy. */
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	rv = check_copy(path, st->map_size, index, term);
	if (rv == SN_OK && (!*index || !*term))
		rv = sn__err(SN_ESTATE, "store: the snapshot copy holds no "
			     "applied entry");
	return rv;
}

/* Open `path` (an LMDB file) read-only and check it is a store. */
static int check_copy(const char *path, size_t map_size, uint64_t *index,
		      uint64_t *term)
{
	sn__store probe;
	MDB_txn *txn = NULL;
	int rc, rv = SN_OK;

	memset(&probe, 0, sizeof probe);
	probe.dir = (char *)path;
	if ((rc = mdb_env_create(&probe.env)) != 0)
		return sn__store_mdb_err(rc, "store restore");
	mdb_env_set_maxdbs(probe.env, 4);
	mdb_env_set_mapsize(probe.env, map_size);
	rc = mdb_env_open(probe.env, path,
			  MDB_NOSUBDIR | MDB_RDONLY | MDB_NOLOCK, 0600);
	if (rc == 0)
		rc = mdb_txn_begin(probe.env, NULL, MDB_RDONLY, &txn);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "meta", 0, &probe.meta);
	if (rc != 0) {
		rv = sn__err(rc == ENOENT ? SN_ENOTFOUND : SN_ECORRUPT,
			     "store restore: %s is not a store copy: %s", path,
			     mdb_strerror(rc));
		goto out;
	}
	/* The format check of load_meta, without writing. */
	{
		MDB_val k = { 6, "format" }, v;
		sn__reader r;
		rc = mdb_get(txn, probe.meta, &k, &v);
		r = (sn__reader){ v.mv_data, rc ? 0 : v.mv_size, false };
		if (rc != 0 || sn__get_u32(&r) != SN__STORE_FORMAT ||
		    sn__get_u32(&r) != SN__STORE_PREFIX || r.bad || r.left) {
			rv = sn__err(SN_ECORRUPT, "store restore: %s has no "
				     "store format record this build reads",
				     path);
			goto out;
		}
		k = (MDB_val){ 7, "applied" };
		rc = mdb_get(txn, probe.meta, &k, &v);
		*index = 0;
		if (term)
			*term = 0;
		if (rc == 0 && v.mv_size == 16) {
			sn__reader a = { v.mv_data, 16, false };
			*index = sn__get_u64(&a);
			if (term)
				*term = sn__get_u64(&a);
		}
	}
out:
	if (txn)
		mdb_txn_abort(txn);
	mdb_env_close(probe.env);
	return rv;
}

/* fsync a file or directory by path. */
static int sync_path(const char *path, bool dir)
{
	int fd = open(path, (dir ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
	int rv = SN_OK;

	if (fd < 0)
		return sn__err(SN_EIO, "store restore: open %s: %s", path,
			       strerror(errno));
	if (fsync(fd) != 0)
		rv = sn__err(SN_EIO, "store restore: fsync %s: %s", path,
			     strerror(errno));
	close(fd);
	return rv;
}

int sn__store_restore(sn__store *st, const char *copy_path)
{
	char target[4096];
	uint64_t index = 0;
	int rv;

	if ((rv = sn__store_commit(st)) != SN_OK)
		return rv;
	if (st->broken || !st->env)
		return sn__err(SN_ESTATE, "store: closed after a failed "
			       "restore");
	if ((size_t)snprintf(target, sizeof target, "%s/data.mdb", st->dir) >=
	    sizeof target)
		return sn__err(SN_EINVAL, "store restore: path too long");
	if ((rv = check_copy(copy_path, st->map_size, &index, NULL)) != SN_OK ||
	    (rv = sync_path(copy_path, false)) != SN_OK)
		return rv;
	pthread_rwlock_wrlock(&st->lock);
	sn__store_env_close(st, false); /* replaced by the synced copy */
	if (rename(copy_path, target) != 0) {
		rv = sn__err(errno == EXDEV ? SN_EINVAL : SN_EIO,
			     "store restore: rename %s to %s: %s", copy_path,
			     target, strerror(errno));
		/* The old data is still in place. */
		if (sn__store_env_open(st) != SN_OK)
			st->broken = true;
		goto out;
	}
	if ((rv = sync_path(st->dir, true)) != SN_OK ||
	    (rv = sn__store_env_open(st)) != SN_OK)
		st->broken = true;
out:
	pthread_rwlock_unlock(&st->lock);
	if (rv == SN_OK)
		sn__log(SN_LOG_INFO, "store %s: restored a copy at index %llu",
			st->dir, (unsigned long long)index);
	return rv;
}
