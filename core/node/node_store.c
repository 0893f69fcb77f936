/* The built-in store as a node's state machine (node_store.h). */
#define _POSIX_C_SOURCE 200809L

#include "node_store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static uint64_t st_applied(void *ud)
{
	return sn__store_applied(ud, NULL);
}

static int st_apply(void *ud, const sn_entry *es, size_t n, sn_buf *out)
{
	sn__store_result *res = sn__calloc(n, sizeof *res);
	int rv;

	if (!res)
		return sn__err(SN_ENOMEM, "store: out of memory");
	rv = sn__store_apply_pending(ud, es, n, res);
	for (size_t i = 0; i < n; i++) {
		if (rv == SN_OK) { /* hand the encoded result over, no copy */
			out[i] = res[i].raw;
			res[i].raw = (sn_buf)SN_BUF_INIT;
		}
		sn__store_result_dispose(&res[i]);
	}
	sn__free(res);
	return rv;
}

/* The node has handed the results over: commit (and sync) the batch. */
static int st_flush(void *ud)
{
	return sn__store_commit(ud);
}

/* On the node's snapshot thread, while the apply thread goes on. */
static int st_snapshot_live(void *ud, int fd, uint64_t *index, uint64_t *term)
{
	return sn__store_snapshot_live(ud, fd, index, term);
}

/* Copy the received snapshot into a file next to the store, then swap. */
static int st_restore(void *ud, const sn_snapshot_meta *m,
		      sn_snapshot_reader *r)
{
	sn__store *st = ud;
	const char *dir = sn__store_dir(st);
	size_t len = strlen(dir) + 32;
	char *path = sn__malloc(len);
	uint8_t *buf = sn__malloc(64 << 10);
	uint64_t off = 0;
	int fd = -1, rv = SN_OK;

	if (!path || !buf) {
		rv = sn__err(SN_ENOMEM, "store: out of memory");
		goto out;
	}
	snprintf(path, len, "%s/restore-XXXXXX", dir);
	fd = mkstemp(path);
	if (fd < 0) {
		rv = sn__err(SN_EIO, "store: %s: %s", path, strerror(errno));
		goto out;
	}
	while (off < m->size && rv == SN_OK) {
		size_t got = 0;
		rv = sn_snapshot_read(r, off, buf, 64 << 10, &got);
		if (rv == SN_OK && got == 0)
			rv = sn__err(SN_ECORRUPT, "store: snapshot %llu ends at "
				     "%llu of %llu bytes",
				     (unsigned long long)m->index,
				     (unsigned long long)off,
				     (unsigned long long)m->size);
		if (rv == SN_OK && write(fd, buf, got) != (ssize_t)got)
			rv = sn__err(SN_EIO, "store: writing %s: %s", path,
				     strerror(errno));
		off += got;
	}
	if (rv == SN_OK && fsync(fd) != 0)
		rv = sn__err(SN_EIO, "store: fsync %s: %s", path,
			     strerror(errno));
	close(fd);
	fd = -1;
	if (rv == SN_OK)
		rv = sn__store_restore(st, path);
	if (rv != SN_OK)
		unlink(path); /* consumed on success */
out:
	if (fd >= 0)
		close(fd);
	sn__free(path);
	sn__free(buf);
	return rv;
}

int sn__node_store_sm(sn_state_machine *out, sn__store *st)
{
	*out = (sn_state_machine){ st, st_applied, st_apply, NULL, st_restore,
				   st_flush, st_snapshot_live };
	return SN_OK;
}
