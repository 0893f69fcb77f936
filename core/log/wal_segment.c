/*
 * WAL segment files: the system-call seam, creating a segment (temporary
 * file, preallocate, header + checkpoint, sync, rename, sync the directory),
 * resuming the last one, and deleting the ones compaction made useless.
 */
#define _GNU_SOURCE

#include "wal_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the system-call seam (wal_fault.h) ---- */

static ssize_t real_pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
	return pwritev(fd, iov, n, off);
}

static ssize_t real_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	return pwrite(fd, buf, len, off);
}

static int real_fallocate(int fd, off_t off, off_t len)
{
	int e = posix_fallocate(fd, off, len);
	if (e) {
		errno = e;
		return -1;
	}
	return 0;
}

sn__wal_sys sn__wal_hooks = {
	real_pwritev, real_pwrite, fdatasync, fsync, real_fallocate
};
unsigned sn__wal_busy_timeout_ms = 10000;

void sn__wal_hooks_reset(void)
{
	sn__wal_sys real = {
		real_pwritev, real_pwrite, fdatasync, fsync, real_fallocate
	};
	sn__wal_hooks = real;
	sn__wal_busy_timeout_ms = 10000;
}

/* ---- helpers ---- */

int sn__wal_errno_code(int e)
{
	return e == ENOSPC || e == EDQUOT ? SN_ENOSPC : SN_EIO;
}

/* Write all of iov[0, n) at `off`, finishing short writes. 0 or errno. */
int sn__wal_write_all(int fd, struct iovec *iov, int n, uint64_t off)
{
	while (n > 0) {
		int cnt = n < IOV_MAX ? n : IOV_MAX;
		ssize_t done = sn__wal_hooks.pwritev(fd, iov, cnt, (off_t)off);

		if (done < 0 && errno == EINTR)
			continue;
		if (done < 0)
			return errno ? errno : EIO;
		if (done == 0)
			return EIO; /* no progress: treat as an I/O error */
		off += (uint64_t)done;
		while (n > 0 && (size_t)done >= iov->iov_len) {
			done -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + done;
			iov->iov_len -= (size_t)done;
		}
	}
	return 0;
}

static int pwrite_all(int fd, const uint8_t *buf, size_t len, uint64_t off)
{
	while (len > 0) {
		ssize_t done = sn__wal_hooks.pwrite(fd, buf, len, (off_t)off);
		if (done < 0 && errno == EINTR)
			continue;
		if (done < 0)
			return errno ? errno : EIO;
		if (done == 0)
			return EIO;
		buf += done;
		len -= (size_t)done;
		off += (uint64_t)done;
	}
	return 0;
}

/* fdatasync `fd` unless syncing is off. 0 or errno. */
int sn__wal_sync(sn__wal *w, int fd)
{
	if (w->no_sync)
		return 0;
	return sn__wal_hooks.fdatasync(fd) == 0 ? 0 : (errno ? errno : EIO);
}

static int sync_dir(sn__wal *w)
{
	if (w->no_sync)
		return 0;
	return sn__wal_hooks.fsync(w->dirfd) == 0 ? 0 : (errno ? errno : EIO);
}

static int io_err(sn__wal *w, int e, const char *what, const char *name)
{
	return sn__err(sn__wal_errno_code(e), "%s/%s: %s: %s", w->dir, name,
		       what, strerror(e));
}

static int push_seg(sn__wal *w, uint64_t seq, uint64_t cp_last)
{
	if (sn__grow((void **)&w->segs, &w->segs_cap, w->n_segs + 1,
		     sizeof *w->segs))
		return SN_ENOMEM;
	w->segs[w->n_segs].seq = seq;
	w->segs[w->n_segs].cp_last = cp_last;
	w->n_segs++;
	return SN_OK;
}

/* ---- creating a segment ---- */

/* Segment header + a frame [CHECKPOINT, HARD_STATE, SNAPSHOT marker?]. */
static uint8_t *encode_head(const sn__wal_model *m, uint64_t seq,
			    uint64_t prev_end, size_t *len_out)
{
	size_t body = SN__WAL_CHECKPOINT_REC_SIZE + SN__WAL_HARD_STATE_REC_SIZE;
	sn__wal_checkpoint cp = { prev_end, m->last, m->last_term };
	uint32_t n = 2;
	uint8_t *buf, *p;

	if (m->has_snapshot) {
		body += sn__wal_snapshot_rec_size(m->snap.n_voters);
		n++;
	}
	*len_out = SN__WAL_SEG_HEADER + SN__WAL_FRAME_OVERHEAD + body;
	buf = sn__malloc(*len_out);
	if (!buf)
		return NULL;
	sn__wal_seg_header_put(buf, seq);
	p = buf + SN__WAL_SEG_HEADER;
	sn__wal_frame_header_put(p, (uint32_t)body, n);
	p += SN__WAL_FRAME_HEADER;
	p = sn__wal_put_checkpoint(p, &cp);
	p = sn__wal_put_hard_state(p, &m->hs);
	if (m->has_snapshot)
		p = sn__wal_put_snapshot(p, &m->snap, 0);
	*p = SN__WAL_FRAME_TRAILER;
	return buf;
}

static int create_file(sn__wal *w, const char *tmp, const uint8_t *head,
		       size_t head_len, uint64_t cap, int *fd_out)
{
	int fd = openat(w->dirfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
			0644);
	int e;

	if (fd < 0)
		return io_err(w, errno, "create", tmp);
	if (sn__wal_hooks.fallocate(fd, 0, (off_t)cap) != 0) {
		e = errno;
		close(fd);
		return io_err(w, e, "preallocate", tmp);
	}
	if ((e = pwrite_all(fd, head, head_len, 0)) != 0 ||
	    (e = sn__wal_sync(w, fd)) != 0) {
		close(fd);
		return io_err(w, e, "write segment header", tmp);
	}
	*fd_out = fd;
	return SN_OK;
}

int sn__wal_segment_create(sn__wal *w, uint64_t seq, uint64_t prev_end,
			   uint64_t need)
{
	char tmp[SN__WAL_NAME_MAX], name[SN__WAL_NAME_MAX];
	size_t head_len;
	uint64_t cap;
	uint8_t *head;
	int fd = -1, rc, e;

	sn__wal_seg_name(tmp, seq, true);
	sn__wal_seg_name(name, seq, false);
	head = encode_head(&w->disk, seq, prev_end, &head_len);
	if (!head)
		return sn__err(SN_ENOMEM, "out of memory (segment header)");
	/* A batch larger than a segment gets a segment of its own size. */
	cap = head_len + need;
	if (cap < w->segment_bytes)
		cap = w->segment_bytes;
	rc = create_file(w, tmp, head, head_len, cap, &fd);
	sn__free(head);
	if (rc)
		goto fail;
	if (renameat(w->dirfd, tmp, w->dirfd, name) != 0) {
		rc = io_err(w, errno, "rename", tmp);
		goto fail;
	}
	if ((e = sync_dir(w)) != 0) {
		/* The name may not be durable; the segment must not be used. */
		rc = io_err(w, e, "fsync directory after creating", name);
		close(fd);
		return rc;
	}
	if (push_seg(w, seq, w->disk.last)) {
		close(fd);
		return sn__err(SN_ENOMEM, "out of memory (segment list)");
	}
	if (w->fd >= 0)
		close(w->fd);
	w->fd = fd;
	w->off = head_len;
	w->cap = cap;
	return SN_OK;
fail:
	if (fd >= 0)
		close(fd);
	unlinkat(w->dirfd, tmp, 0);
	return rc;
}

int sn__wal_segment_resume(sn__wal *w, uint64_t seq, uint64_t end)
{
	char name[SN__WAL_NAME_MAX];
	struct stat st;
	int fd;

	sn__wal_seg_name(name, seq, false);
	fd = openat(w->dirfd, name, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return io_err(w, errno, "open", name);
	if (fstat(fd, &st) != 0) {
		int e = errno;
		close(fd);
		return io_err(w, e, "stat", name);
	}
	w->fd = fd;
	w->off = end;
	w->cap = (uint64_t)st.st_size;
	return SN_OK;
}

/* ---- compaction ---- */

void sn__wal_segments_compact(sn__wal *w, uint64_t index)
{
	size_t k = 0, done = 0;

	/* Replaying from segment i needs nothing older than i, and drops only
	 * entries up to its checkpoint's last_index: those must be covered. */
	for (size_t i = 1; i < w->n_segs; i++)
		if (w->segs[i].cp_last <= index)
			k = i;
	for (; done < k; done++) {
		char name[SN__WAL_NAME_MAX];
		sn__wal_seg_name(name, w->segs[done].seq, false);
		if (unlinkat(w->dirfd, name, 0) != 0 && errno != ENOENT) {
			sn__log(SN_LOG_WARN, "%s/%s: compaction could not "
				"delete it: %s", w->dir, name, strerror(errno));
			break;
		}
		sn__log(SN_LOG_DEBUG, "%s/%s: deleted by compaction through "
			"%llu", w->dir, name, (unsigned long long)index);
	}
	memmove(w->segs, w->segs + done, (w->n_segs - done) * sizeof *w->segs);
	w->n_segs -= done;
}
