/*
 * Snapshot files: written through a temporary file that can be resumed,
 * committed atomically (fsync, rename, fsync the directory), read back with
 * every checksum verified. The format is in snapshot.h and
 * docs/storage-format.md ("Snapshot files").
 */
#define _POSIX_C_SOURCE 200809L

#include "snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#define IO_CHUNK (64u << 10)
/* "snap-" 16 "-" 16 "-" 16 "-" 8 ".snap.tmp" */
#define TEMP_NAME_LEN 73

struct sn_snapshot_writer {
	int dirfd;
	int fd;
	char *dir;
	char temp[SN__SNAPSHOT_NAME_MAX];
	sn_snapshot_meta meta; /* voters not kept: the header has them */
	size_t header_len;
	uint64_t offset; /* data bytes written */
	uint32_t crc;    /* CRC32C of data[0, offset) */
	int failed;      /* a write or sync failed: contents untrusted */
	uint64_t *voters; /* only when resumed: what the caller was told */
};

struct sn_snapshot_reader {
	int fd;
	size_t header_len;
	uint64_t size;
	uint64_t *voters;
};

static int io_code(int e)
{
	return e == ENOSPC || e == EDQUOT ? SN_ENOSPC : e == ENOMEM ? SN_ENOMEM
								    : SN_EIO;
}

static int io_err(int e, const char *what, const char *dir, const char *name)
{
	return sn__err(io_code(e), "snapshot: %s %s/%s: %s", what, dir,
		       name ? name : "", strerror(e));
}

/* Prefix the current detail message with the file's name. */
static int file_err(int code, const char *dir, const char *name)
{
	char detail[256];
	snprintf(detail, sizeof detail, "%s", sn_errmsg());
	return sn__err(code, "snapshot %s/%s: %s", dir, name, detail);
}

static void temp_name(char *name, const sn_snapshot_meta *m)
{
	snprintf(name, SN__SNAPSHOT_NAME_MAX,
		 "snap-%016llx-%016llx-%016llx-%08x.snap.tmp",
		 (unsigned long long)m->index, (unsigned long long)m->term,
		 (unsigned long long)m->size, (unsigned)m->crc);
}

/* A temporary snapshot file's index, or false when `name` is not one. */
static bool parse_temp_name(const char *name, uint64_t *index)
{
	uint64_t term;
	char copy[SN__SNAPSHOT_NAME_MAX];

	if (strlen(name) != TEMP_NAME_LEN || strncmp(name, "snap-", 5) != 0 ||
	    strcmp(name + TEMP_NAME_LEN - 9, ".snap.tmp") != 0)
		return false;
	/* Reuse the complete-name parser on "snap-<index>-<term>.snap". */
	memcpy(copy, name, 38);
	memcpy(copy + 38, ".snap", 6);
	return sn__snapshot_parse_name(copy, index, &term);
}

static bool is_temp_prefix(const char *name)
{
	size_t n = strlen(name);
	return n > 14 && strncmp(name, "snap-", 5) == 0 &&
	       strcmp(name + n - 9, ".snap.tmp") == 0;
}

/* ---- low-level I/O ------------------------------------------------------ */

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		if (n == 0)
			return EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* Read exactly len bytes; ENODATA when the file ends first. */
static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		if (n == 0)
			return ENODATA;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* CRC32C of `len` bytes of fd starting at `off`, continuing from `crc`. */
static int crc_range(int fd, uint64_t off, uint64_t len, uint32_t *crc)
{
	uint8_t *buf = sn__malloc(IO_CHUNK);
	int e = 0;

	if (!buf)
		return ENOMEM;
	while (len > 0 && e == 0) {
		size_t n = len < IO_CHUNK ? (size_t)len : IO_CHUNK;
		e = pread_all(fd, buf, n, off);
		if (e == 0) {
			*crc = sn__crc32c(*crc, buf, n);
			off += n;
			len -= n;
		}
	}
	sn__free(buf);
	return e;
}

/* fsync the directory that holds `path` (a new entry in it must survive a
 * crash too). 0 or -1 with errno. */
static int sync_parent(const char *path)
{
	char parent[4096];
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;
	int fd, rc = 0;

	if (n >= sizeof parent) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (!slash)
		strcpy(parent, ".");
	else if (n == 0)
		strcpy(parent, "/");
	else {
		memcpy(parent, path, n);
		parent[n] = '\0';
	}
	fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fsync(fd) != 0)
		rc = -1;
	close(fd);
	return rc;
}

/* mkdir -p `path`, making every directory it creates durable. 0 or -1. */
static int make_dir(const char *path)
{
	char copy[4096];
	size_t n = strlen(path);

	if (n >= sizeof copy) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(copy, path, n + 1);
	while (n > 1 && copy[n - 1] == '/') /* "dir/" -> "dir" */
		copy[--n] = '\0';
	if (mkdir(copy, 0755) == 0)
		return sync_parent(copy);
	if (errno == EEXIST)
		return 0;
	if (errno == ENOENT) {
		char *slash = strrchr(copy, '/');
		if (slash && slash != copy) {
			*slash = '\0';
			if (make_dir(copy) != 0)
				return -1;
			*slash = '/';
			if (mkdir(copy, 0755) == 0)
				return sync_parent(copy);
			if (errno == EEXIST)
				return 0;
		}
	}
	return -1;
}

static int open_dir(const char *dir, bool create)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create) {
		if (make_dir(dir) != 0)
			return -1;
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	return fd;
}

/* ---- writer ------------------------------------------------------------- */

static void writer_free(sn_snapshot_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	if (w->dirfd >= 0)
		close(w->dirfd);
	sn__free(w->dir);
	sn__free(w->voters);
	sn__free(w);
}

static void writer_discard(sn_snapshot_writer *w)
{
	if (unlinkat(w->dirfd, w->temp, 0) != 0 && errno != ENOENT)
		sn__log(SN_LOG_WARN, "snapshot: cannot remove %s/%s: %s",
			w->dir, w->temp, strerror(errno));
}

/*
 * Resume the temporary file already open in w->fd when its header is the
 * one we would write; otherwise start it over. `hdr` is our header.
 */
static int writer_resume(sn_snapshot_writer *w, const uint8_t *hdr)
{
	struct stat st;
	uint8_t *old;
	uint64_t have;
	int e;

	if (fstat(w->fd, &st) != 0)
		return io_err(errno, "stat", w->dir, w->temp);
	if ((uint64_t)st.st_size < w->header_len)
		goto restart;
	have = (uint64_t)st.st_size - w->header_len;
	if (have > w->meta.size)
		goto restart;
	old = sn__malloc(w->header_len);
	if (!old)
		return sn__err(SN_ENOMEM, "snapshot: out of memory");
	e = pread_all(w->fd, old, w->header_len, 0);
	if (e == 0 && memcmp(old, hdr, w->header_len) != 0)
		e = EINVAL; /* same name, other voters: not ours */
	sn__free(old);
	if (e == EINVAL || e == ENODATA)
		goto restart;
	if (e != 0)
		return io_err(e, "read", w->dir, w->temp);
	e = crc_range(w->fd, w->header_len, have, &w->crc);
	if (e != 0)
		return io_err(e, "read", w->dir, w->temp);
	w->offset = have;
	sn__log(SN_LOG_INFO, "snapshot: resuming %s/%s at offset %llu",
		w->dir, w->temp, (unsigned long long)have);
	return SN_OK;

restart:
	if (ftruncate(w->fd, 0) != 0)
		return io_err(errno, "truncate", w->dir, w->temp);
	e = pwrite_all(w->fd, hdr, w->header_len, 0);
	if (e != 0)
		return io_err(e, "write", w->dir, w->temp);
	w->offset = 0;
	w->crc = 0;
	return SN_OK;
}

int sn_snapshot_writer_open(sn_snapshot_writer **out, const char *dir,
			    const sn_snapshot_meta *meta)
{
	uint8_t *hdr;
	size_t hlen;
	sn_snapshot_writer *w;
	int rv;

	if (!out || !dir || !meta)
		return sn__err(SN_EINVAL, "snapshot: NULL argument");
	*out = NULL;
	if (meta->index == 0)
		return sn__err(SN_EINVAL, "snapshot: index 0");
	hlen = sn__snapshot_meta_size(meta->n_voters);
	if (hlen == 0 || (meta->n_voters > 0 && !meta->voters))
		return sn__err(SN_EINVAL, "snapshot: bad voters (%zu)",
			       meta->n_voters);
	if (meta->size > (uint64_t)INT64_MAX - hlen)
		return sn__err(SN_ETOOLARGE, "snapshot: size %llu",
			       (unsigned long long)meta->size);

	hdr = sn__malloc(hlen);
	w = sn__calloc(1, sizeof *w);
	if (!hdr || !w) {
		sn__free(hdr);
		sn__free(w);
		return sn__err(SN_ENOMEM, "snapshot: out of memory");
	}
	w->fd = -1;
	w->dirfd = -1;
	w->meta = *meta;
	w->meta.voters = NULL;
	w->meta.n_voters = 0;
	w->header_len = hlen;
	temp_name(w->temp, meta);
	rv = sn__snapshot_meta_encode(hdr, hlen, meta, &hlen);
	if (rv != SN_OK)
		goto fail;
	w->dir = sn__strdup(dir);
	if (!w->dir) {
		rv = sn__err(SN_ENOMEM, "snapshot: out of memory");
		goto fail;
	}
	w->dirfd = open_dir(dir, true);
	if (w->dirfd < 0) {
		rv = io_err(errno, "open directory", dir, NULL);
		goto fail;
	}
	w->fd = openat(w->dirfd, w->temp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		rv = io_err(errno, "open", dir, w->temp);
		goto fail;
	}
	rv = writer_resume(w, hdr);
	if (rv != SN_OK)
		goto fail;
	sn__free(hdr);
	*out = w;
	return SN_OK;

fail:
	sn__free(hdr);
	writer_free(w);
	return rv;
}

uint64_t sn_snapshot_writer_offset(const sn_snapshot_writer *w)
{
	return w->offset;
}

int sn_snapshot_write(sn_snapshot_writer *w, uint64_t offset, const void *data,
		      size_t len)
{
	int e;

	if (w->failed)
		return sn__err(SN_ESTOPPED, "snapshot %s/%s: an earlier write "
			       "or sync failed", w->dir, w->temp);
	if (offset == 0 && w->offset != 0) {
		/* A transfer that starts over (a CRC mismatch, another
		 * leader) rewrites the file from its first byte. */
		if (ftruncate(w->fd, (off_t)w->header_len) != 0) {
			w->failed = io_code(errno);
			return io_err(errno, "truncate", w->dir, w->temp);
		}
		w->offset = 0;
		w->crc = 0;
	}
	if (offset != w->offset)
		return sn__err(SN_EINVAL, "snapshot %s/%s: write at offset "
			       "%llu, expected %llu", w->dir, w->temp,
			       (unsigned long long)offset,
			       (unsigned long long)w->offset);
	if (len > w->meta.size - w->offset)
		return sn__err(SN_ETOOLARGE, "snapshot %s/%s: %zu bytes at "
			       "offset %llu exceed the size %llu", w->dir,
			       w->temp, len, (unsigned long long)offset,
			       (unsigned long long)w->meta.size);
	if (len == 0)
		return SN_OK;
	if (!data)
		return sn__err(SN_EINVAL, "snapshot: data is NULL");
	e = pwrite_all(w->fd, data, len, w->header_len + offset);
	if (e != 0) {
		/* A partial write leaves bytes past w->offset; the next
		 * attempt overwrites them, but stop: the disk is failing. */
		w->failed = io_code(e);
		return io_err(e, "write", w->dir, w->temp);
	}
	w->crc = sn__crc32c(w->crc, data, len);
	w->offset += len;
	return SN_OK;
}

int sn_snapshot_writer_sync(sn_snapshot_writer *w)
{
	if (w->failed)
		return sn__err(SN_ESTOPPED, "snapshot %s/%s: an earlier write "
			       "or sync failed", w->dir, w->temp);
	if (fdatasync(w->fd) != 0) {
		/* Never retried: the page cache may have dropped the data. */
		w->failed = io_code(errno);
		return io_err(errno, "fdatasync", w->dir, w->temp);
	}
	return SN_OK;
}

/* Delete complete snapshots older than {index, term} and temporary files
 * of snapshots up to `index`. Failures are logged: the commit stands. */
static void remove_stale(sn_snapshot_writer *w, uint64_t index, uint64_t term)
{
	int fd = dup(w->dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (!d) {
		if (fd >= 0)
			close(fd);
		sn__log(SN_LOG_WARN, "snapshot: cannot list %s: %s", w->dir,
			strerror(errno));
		return;
	}
	while ((de = readdir(d)) != NULL) {
		uint64_t i, t;
		bool stale;
		if (sn__snapshot_parse_name(de->d_name, &i, &t))
			stale = i < index || (i == index && t < term);
		else if (parse_temp_name(de->d_name, &i))
			stale = i <= index;
		else
			stale = is_temp_prefix(de->d_name);
		if (!stale)
			continue;
		if (unlinkat(w->dirfd, de->d_name, 0) == 0)
			sn__log(SN_LOG_INFO, "snapshot: removed %s/%s", w->dir,
				de->d_name);
		else if (errno != ENOENT)
			sn__log(SN_LOG_WARN, "snapshot: cannot remove %s/%s: "
				"%s", w->dir, de->d_name, strerror(errno));
	}
	closedir(d);
	/* Make the removals durable too, so that a crash cannot bring back
	 * an old snapshot next to the new one (harmless, but untidy). */
	if (fsync(w->dirfd) != 0)
		sn__log(SN_LOG_WARN, "snapshot: fsync %s: %s", w->dir,
			strerror(errno));
}

int sn_snapshot_writer_commit(sn_snapshot_writer *w)
{
	char name[SN__SNAPSHOT_NAME_MAX];
	int rv = SN_OK;

	if (!w)
		return sn__err(SN_EINVAL, "snapshot: NULL writer");
	if (w->failed) {
		rv = sn__err(SN_ESTOPPED, "snapshot %s/%s: an earlier write "
			     "or sync failed", w->dir, w->temp);
		goto discard;
	}
	if (w->offset != w->meta.size || w->crc != w->meta.crc) {
		rv = sn__err(SN_ECORRUPT, "snapshot %s/%s: %llu bytes with "
			     "CRC32C 0x%08x, expected %llu bytes with 0x%08x",
			     w->dir, w->temp, (unsigned long long)w->offset,
			     (unsigned)w->crc,
			     (unsigned long long)w->meta.size,
			     (unsigned)w->meta.crc);
		goto discard;
	}
	if (fsync(w->fd) != 0) {
		rv = io_err(errno, "fsync", w->dir, w->temp);
		goto discard;
	}
	sn__snapshot_name(name, w->meta.index, w->meta.term);
	if (renameat(w->dirfd, w->temp, w->dirfd, name) != 0) {
		rv = io_err(errno, "rename to", w->dir, name);
		goto discard;
	}
	if (fsync(w->dirfd) != 0) {
		/* The rename may or may not survive a crash; either way the
		 * caller must not rely on the snapshot. */
		rv = io_err(errno, "fsync directory", w->dir, NULL);
		writer_free(w);
		return rv;
	}
	remove_stale(w, w->meta.index, w->meta.term);
	writer_free(w);
	return SN_OK;

discard:
	writer_discard(w);
	writer_free(w);
	return rv;
}

void sn_snapshot_writer_close(sn_snapshot_writer *w)
{
	if (!w)
		return;
	if (w->failed) /* what is in it cannot be trusted for a resume */
		writer_discard(w);
	writer_free(w);
}

uint32_t sn_snapshot_writer_crc(const sn_snapshot_writer *w)
{
	return w->crc;
}

static int reader_header(sn_snapshot_reader *r, sn_snapshot_meta *meta,
			 const char *dir, const char *name, bool temp);

/* The temporary file of the highest index in `dir`; SN_ENOTFOUND if none. */
static int find_newest_temp(const char *dir, char *best)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	uint64_t bi = 0;
	bool found = false;

	if (!d) {
		if (errno == ENOENT)
			return sn__err(SN_ENOTFOUND, "snapshot: no directory "
				       "%s", dir);
		return io_err(errno, "list", dir, NULL);
	}
	while ((de = readdir(d)) != NULL) {
		uint64_t i;
		if (!parse_temp_name(de->d_name, &i) || (found && i <= bi))
			continue;
		bi = i;
		found = true;
		memcpy(best, de->d_name, TEMP_NAME_LEN + 1);
	}
	closedir(d);
	return found ? SN_OK
		     : sn__err(SN_ENOTFOUND, "snapshot: no transfer to resume "
			       "in %s", dir);
}

int sn_snapshot_writer_resume(sn_snapshot_writer **out,
			      sn_snapshot_meta *meta_out, const char *dir)
{
	char name[SN__SNAPSHOT_NAME_MAX], path[4096];
	sn_snapshot_reader hdr = { -1, 0, 0, NULL };
	sn_snapshot_meta meta;
	int rv;

	if (!out || !meta_out || !dir)
		return sn__err(SN_EINVAL, "snapshot: NULL argument");
	*out = NULL;
	rv = find_newest_temp(dir, name);
	if (rv != SN_OK)
		return rv;
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >=
	    sizeof path)
		return sn__err(SN_EINVAL, "snapshot: path too long");
	hdr.fd = open(path, O_RDONLY | O_CLOEXEC);
	if (hdr.fd < 0)
		return errno == ENOENT ? sn__err(SN_ENOTFOUND, "snapshot: %s "
						 "vanished", path)
				       : io_err(errno, "open", dir, name);
	rv = reader_header(&hdr, &meta, dir, name, true);
	close(hdr.fd);
	if (rv == SN_ECORRUPT) {
		/* Not even its header made it: nothing to resume. */
		sn__log(SN_LOG_WARN, "snapshot: removing %s: %s", path,
			sn_errmsg());
		if (unlink(path) != 0 && errno != ENOENT)
			sn__log(SN_LOG_WARN, "snapshot: cannot remove %s: %s",
				path, strerror(errno));
		sn__free(hdr.voters);
		return sn__err(SN_ENOTFOUND, "snapshot: no transfer to resume "
			       "in %s", dir);
	}
	if (rv == SN_OK)
		rv = sn_snapshot_writer_open(out, dir, &meta);
	if (rv != SN_OK) {
		sn__free(hdr.voters);
		return rv;
	}
	(*out)->voters = hdr.voters; /* meta.voters points into it */
	*meta_out = meta;
	return SN_OK;
}

/* ---- reader ------------------------------------------------------------- */

/* The newest complete snapshot's name in `dir`; SN_ENOTFOUND if none. */
static int find_newest(const char *dir, char *best)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	uint64_t bi = 0, bt = 0;
	bool found = false;

	if (!d) {
		if (errno == ENOENT)
			return sn__err(SN_ENOTFOUND, "snapshot: no directory "
				       "%s", dir);
		return io_err(errno, "list", dir, NULL);
	}
	while ((de = readdir(d)) != NULL) {
		uint64_t i, t;
		if (!sn__snapshot_parse_name(de->d_name, &i, &t))
			continue;
		if (!found || i > bi || (i == bi && t > bt)) {
			bi = i;
			bt = t;
			found = true;
			memcpy(best, de->d_name, 44);
		}
	}
	closedir(d);
	return found ? SN_OK
		     : sn__err(SN_ENOTFOUND, "snapshot: none in %s", dir);
}

/* Read and check the header of the open snapshot file `name` (a complete
 * one, or with `temp` a temporary one). */
static int reader_header(sn_snapshot_reader *r, sn_snapshot_meta *meta,
			 const char *dir, const char *name, bool temp)
{
	char expect[SN__SNAPSHOT_NAME_MAX];
	uint8_t fixed[SN__SNAPSHOT_FIXED_LEN], *hdr;
	uint64_t index, term;
	size_t hlen;
	uint32_t n_voters;
	int rv, e = pread_all(r->fd, fixed, sizeof fixed, 0);

	if (e == ENODATA)
		return sn__err(SN_ECORRUPT, "snapshot %s/%s: shorter than its "
			       "header", dir, name);
	if (e != 0)
		return io_err(e, "read", dir, name);
	rv = sn__snapshot_meta_peek(fixed, sizeof fixed, &hlen);
	if (rv != SN_OK)
		return file_err(rv, dir, name);
	hdr = sn__malloc(hlen);
	n_voters = (uint32_t)((hlen - SN__SNAPSHOT_FIXED_LEN - 4) / 8);
	r->voters = sn__calloc(n_voters ? n_voters : 1, sizeof *r->voters);
	if (!hdr || !r->voters) {
		sn__free(hdr);
		return sn__err(SN_ENOMEM, "snapshot: out of memory");
	}
	e = pread_all(r->fd, hdr, hlen, 0);
	if (e == 0)
		rv = sn__snapshot_meta_decode(meta, r->voters, n_voters, hdr,
					      hlen, &r->header_len);
	sn__free(hdr);
	if (e == ENODATA)
		return sn__err(SN_ECORRUPT, "snapshot %s/%s: shorter than its "
			       "header", dir, name);
	if (e != 0)
		return io_err(e, "read", dir, name);
	if (rv != SN_OK)
		return file_err(SN_ECORRUPT, dir, name);
	if (temp) {
		temp_name(expect, meta);
		if (strcmp(expect, name) == 0)
			return SN_OK;
		return sn__err(SN_ECORRUPT, "snapshot %s/%s: header says "
			       "%s", dir, name, expect);
	}
	sn__snapshot_parse_name(name, &index, &term);
	if (meta->index != index || meta->term != term)
		return sn__err(SN_ECORRUPT, "snapshot %s/%s: header says "
			       "index %llu term %llu", dir, name,
			       (unsigned long long)meta->index,
			       (unsigned long long)meta->term);
	return SN_OK;
}

/* Check the data's length and CRC32C against the header. */
static int reader_verify(sn_snapshot_reader *r, const sn_snapshot_meta *meta,
			 const char *dir, const char *name)
{
	struct stat st;
	uint32_t crc = 0;
	int e;

	if (fstat(r->fd, &st) != 0)
		return io_err(errno, "stat", dir, name);
	if ((uint64_t)st.st_size != r->header_len + meta->size)
		return sn__err(SN_ECORRUPT, "snapshot %s/%s: %llu bytes, "
			       "expected %llu", dir, name,
			       (unsigned long long)st.st_size,
			       (unsigned long long)(r->header_len + meta->size));
	e = crc_range(r->fd, r->header_len, meta->size, &crc);
	if (e == ENODATA)
		return sn__err(SN_ECORRUPT, "snapshot %s/%s: truncated", dir,
			       name);
	if (e != 0)
		return io_err(e, "read", dir, name);
	if (crc != meta->crc)
		return sn__err(SN_ECORRUPT, "snapshot %s/%s: data CRC32C "
			       "0x%08x, expected 0x%08x", dir, name,
			       (unsigned)crc, (unsigned)meta->crc);
	return SN_OK;
}

int sn_snapshot_reader_open(sn_snapshot_reader **out, sn_snapshot_meta *meta_out,
			    const char *dir)
{
	char name[SN__SNAPSHOT_NAME_MAX], path[4096];
	sn_snapshot_meta meta;
	sn_snapshot_reader *r;
	int rv;

	if (!out || !meta_out || !dir)
		return sn__err(SN_EINVAL, "snapshot: NULL argument");
	*out = NULL;
	rv = find_newest(dir, name);
	if (rv != SN_OK)
		return rv;
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >=
	    sizeof path)
		return sn__err(SN_EINVAL, "snapshot: path too long");
	r = sn__calloc(1, sizeof *r);
	if (!r)
		return sn__err(SN_ENOMEM, "snapshot: out of memory");
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0) {
		/* Removed between the listing and now: a concurrent commit. */
		rv = errno == ENOENT ? sn__err(SN_ENOTFOUND, "snapshot: %s "
					       "vanished", path)
				     : io_err(errno, "open", dir, name);
		sn_snapshot_reader_close(r);
		return rv;
	}
	rv = reader_header(r, &meta, dir, name, false);
	if (rv == SN_OK)
		rv = reader_verify(r, &meta, dir, name);
	if (rv != SN_OK) {
		sn_snapshot_reader_close(r);
		return rv;
	}
	r->size = meta.size;
	*meta_out = meta;
	*out = r;
	return SN_OK;
}

int sn_snapshot_read(sn_snapshot_reader *r, uint64_t offset, void *buf,
		     size_t len, size_t *n_out)
{
	uint64_t left;
	int e;

	if (!r || !n_out || (!buf && len > 0))
		return sn__err(SN_EINVAL, "snapshot: NULL argument");
	*n_out = 0;
	if (offset > r->size)
		return sn__err(SN_EINVAL, "snapshot: offset %llu beyond the "
			       "size %llu", (unsigned long long)offset,
			       (unsigned long long)r->size);
	left = r->size - offset;
	if (len > left)
		len = (size_t)left;
	e = pread_all(r->fd, buf, len, r->header_len + offset);
	if (e == ENODATA)
		return sn__err(SN_ECORRUPT, "snapshot: file shrank while open");
	if (e != 0)
		return sn__err(io_code(e), "snapshot: read: %s", strerror(e));
	*n_out = len;
	return SN_OK;
}

void sn_snapshot_reader_close(sn_snapshot_reader *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	sn__free(r->voters);
	sn__free(r);
}
