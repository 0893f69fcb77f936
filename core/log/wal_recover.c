/*
 * Recovery: replay every segment in seq order, tell a torn tail (a write
 * the crash cut short: never acknowledged) from corruption (refuse to start,
 * naming file and offset, changing nothing), then repair what a crash left.
 * The rules are in docs/storage-format.md ("Recovery").
 */
#define _GNU_SOURCE

#include "wal_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECTOR 512u

/* One segment being replayed. */
typedef struct walk {
	sn__wal_recovery *rec;
	const char *dir;
	char name[SN__WAL_NAME_MAX];
	uint64_t seq;
	const uint8_t *buf;
	size_t size;
	size_t nz_end;   /* offset just past the last non-zero byte */
	bool first_seg;  /* the oldest segment: its checkpoint starts the log */
	bool last_seg;
	bool have_cp;    /* this segment's checkpoint was seen */
	uint64_t prev_end;
} walk;

static int corrupt(const walk *wk, uint64_t off, const char *what)
{
	return sn__err(SN_ECORRUPT, "%s/%s: offset %llu: %s", wk->dir,
		       wk->name, (unsigned long long)off, what);
}

/* ---- reading ---- */

static int read_file(int dirfd, const char *dir, const char *name,
		     uint8_t **buf_out, size_t *size_out)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t got = 0;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC), e = 0;

	if (fd < 0)
		return sn__err(SN_EIO, "%s/%s: open: %s", dir, name,
			       strerror(errno));
	if (fstat(fd, &st) != 0) {
		e = errno;
		goto out;
	}
	buf = sn__malloc((size_t)st.st_size);
	if (!buf) {
		close(fd);
		return sn__err(SN_ENOMEM, "out of memory reading %s/%s", dir,
			       name);
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = pread(fd, buf + got, (size_t)st.st_size - got,
				  (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			e = n < 0 ? errno : EIO;
			goto out;
		}
		got += (size_t)n;
	}
out:
	close(fd);
	if (e) {
		sn__free(buf);
		return sn__err(SN_EIO, "%s/%s: read: %s", dir, name,
			       strerror(e));
	}
	*buf_out = buf;
	*size_out = got;
	return SN_OK;
}

static size_t nonzero_end(const uint8_t *p, size_t n)
{
	while (n >= 8) {
		uint64_t v;
		memcpy(&v, p + n - 8, 8);
		if (v)
			break;
		n -= 8;
	}
	while (n > 0 && p[n - 1] == 0)
		n--;
	return n;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	return nonzero_end(p, n) == 0;
}

/* ---- applying records ---- */

static int push_entry(sn__wal_recovery *rec, const sn_entry *e)
{
	sn__wal_model *m = &rec->model;
	bool empty = m->first == m->last + 1;
	sn_entry *slot;

	/* Every held entry at index >= e->index goes (all of them when it
	 * comes before the first: that one was written when the compacted
	 * segments were still there). */
	rec->n_entries = empty || e->index < m->first
				 ? 0 : (size_t)(e->index - m->first);
	if (sn__grow((void **)&rec->entries, &rec->entries_cap,
		     rec->n_entries + 1, sizeof *rec->entries) ||
	    sn__grow((void **)&rec->arena, &rec->arena_cap,
		     rec->arena_len + e->len, 1))
		return sn__err(SN_ENOMEM, "out of memory replaying the WAL");
	slot = &rec->entries[rec->n_entries++];
	*slot = *e;
	/* The arena may move: keep an offset until replay is over. */
	slot->data = (const void *)(uintptr_t)rec->arena_len;
	if (e->len)
		memcpy(rec->arena + rec->arena_len, e->data, e->len);
	rec->arena_len += e->len;
	sn__wal_model_entries(m, e->index, e->index, e->term);
	return SN_OK;
}

static int push_seg(sn__wal_recovery *rec, uint64_t seq, uint64_t cp_last)
{
	if (sn__grow((void **)&rec->segs, &rec->segs_cap, rec->n_segs + 1,
		     sizeof *rec->segs))
		return sn__err(SN_ENOMEM, "out of memory replaying the WAL");
	rec->segs[rec->n_segs].seq = seq;
	rec->segs[rec->n_segs].cp_last = cp_last;
	rec->n_segs++;
	return SN_OK;
}

static int apply_checkpoint(walk *wk, const sn__wal_checkpoint *cp,
			    uint64_t off)
{
	sn__wal_model *m = &wk->rec->model;
	char what[200];

	if (wk->first_seg) {
		sn__wal_model_start(m, cp);
	} else if (cp->prev_end != wk->prev_end || cp->last_index != m->last ||
		   cp->last_term != m->last_term) {
		snprintf(what, sizeof what, "checkpoint (previous segment ends "
			 "at %llu, last entry %llu term %llu) disagrees with "
			 "the replay (%llu, %llu, %llu): data was lost",
			 (unsigned long long)cp->prev_end,
			 (unsigned long long)cp->last_index,
			 (unsigned long long)cp->last_term,
			 (unsigned long long)wk->prev_end,
			 (unsigned long long)m->last,
			 (unsigned long long)m->last_term);
		return corrupt(wk, off, what);
	}
	wk->have_cp = true;
	return push_seg(wk->rec, wk->seq, cp->last_index);
}

static int apply_snapshot(walk *wk, const sn__wal_rec *r, uint64_t off)
{
	sn__wal_model *m = &wk->rec->model;
	char what[200];

	if (r->snap_flags & (SN__WAL_SNAP_RESET | SN__WAL_SNAP_TAKEN)) {
		bool reset = r->snap_flags & SN__WAL_SNAP_RESET;
		if (sn__wal_model_check_snapshot(m, &r->snap, reset) != SN_OK) {
			snprintf(what, sizeof what, "snapshot record: %s",
				 sn_errmsg());
			return corrupt(wk, off, what);
		}
		if (reset)
			wk->rec->n_entries = 0;
		return sn__wal_model_snapshot(m, &r->snap, r->voters_le, reset);
	}
	/* A marker repeats the installed snapshot at a segment's head. */
	if (!wk->first_seg && (!m->has_snapshot || m->snap.index != r->snap.index ||
			       m->snap.term != r->snap.term))
		return corrupt(wk, off, "snapshot marker disagrees with the "
			       "installed snapshot");
	return sn__wal_model_snapshot(m, &r->snap, r->voters_le, false);
}

static int apply_record(walk *wk, const sn__wal_rec *r, uint64_t off,
			bool head)
{
	char what[200];

	if (head != (r->type == SN__WAL_REC_CHECKPOINT))
		return corrupt(wk, off, head ? "segment does not start with "
			       "a checkpoint" : "checkpoint inside a segment");
	switch (r->type) {
	case SN__WAL_REC_CHECKPOINT:
		return apply_checkpoint(wk, &r->cp, off);
	case SN__WAL_REC_HARD_STATE:
		wk->rec->model.hs = r->hs;
		return SN_OK;
	case SN__WAL_REC_SNAPSHOT:
		return apply_snapshot(wk, r, off);
	default: /* SN__WAL_REC_ENTRY: the decoder knows no other type */
		if (sn__wal_model_check_replayed(&wk->rec->model,
						 r->entry.index) != SN_OK) {
			snprintf(what, sizeof what, "entry record: %s",
				 sn_errmsg());
			return corrupt(wk, off, what);
		}
		return push_entry(wk->rec, &r->entry);
	}
}

static int apply_frame(walk *wk, const sn__wal_frame *f, uint64_t off)
{
	const uint8_t *p = f->body;
	size_t left = f->body_len;

	for (uint32_t i = 0; i < f->n_records; i++) {
		uint64_t roff = off + SN__WAL_FRAME_HEADER +
				(uint64_t)(p - f->body);
		sn__wal_rec r;
		size_t used;
		int rc;

		sn__wal_rec_decode(&r, p, left, &used); /* checked by parse */
		rc = apply_record(wk, &r, roff, !wk->have_cp && i == 0);
		if (rc)
			return rc;
		p += used;
		left -= used;
	}
	return SN_OK;
}

/* ---- torn tail or corruption? ---- */

/* Is there a complete, valid frame starting anywhere in [from, to)? */
static bool valid_frame_in(const walk *wk, size_t from, size_t to)
{
	for (size_t y = from; y + SN__WAL_FRAME_HEADER <= to; y++) {
		sn__wal_frame f;
		if (wk->buf[y] != 0x53 || wk->buf[y + 1] != 0x4e)
			continue; /* "SN" of the frame magic */
		if (sn__wal_frame_parse(&f, wk->buf + y, wk->size - y) ==
		    SN__FRAME_OK)
			return true;
	}
	return false;
}

/* Does [from, to) contain a whole 512-byte sector of zeros (a sector the
 * crash did not let reach the disk while later ones did)? */
static bool zero_sector_in(const walk *wk, size_t from, size_t to)
{
	size_t s = (from + SECTOR - 1) / SECTOR * SECTOR;

	for (; s + SECTOR <= to; s += SECTOR)
		if (all_zero(wk->buf + s, SECTOR))
			return true;
	return false;
}

/*
 * The frame at `off` of the last segment failed with `st`. It is a torn
 * tail - the last write, cut short by the crash - only if the damage looks
 * like a write that did not finish (its end, or a whole sector of it, is
 * missing) and no complete frame follows it. A flipped bit in a complete
 * frame never looks like that: a complete frame ends in a non-zero trailer,
 * and its header's CRC protects its length.
 */
static bool torn(const walk *wk, size_t off, int st, const sn__wal_frame *f)
{
	size_t end;

	switch (st) {
	case SN__FRAME_SHORT: /* runs past the end of the file */
		return true;
	case SN__FRAME_ZERO:  /* header lost, data after it */
		return !valid_frame_in(wk, off + 1, wk->nz_end);
	case SN__FRAME_BAD_HEADER:
		return off + SN__WAL_FRAME_HEADER > wk->nz_end;
	default:              /* SN__FRAME_BAD_BODY */
		end = off + f->size;
		if (end > wk->nz_end)
			return true; /* the trailer never made it */
		return zero_sector_in(wk, off, end) &&
		       !valid_frame_in(wk, end, wk->nz_end);
	}
}

static const char *damage(const walk *wk, size_t off, int st,
			  const sn__wal_frame *f, size_t *where)
{
	const uint8_t *p = f->body;
	size_t left = f->body_len;

	*where = off;
	switch (st) {
	case SN__FRAME_SHORT:
		return "frame cut short by the end of the file";
	case SN__FRAME_ZERO:
		return "zero frame header followed by data";
	case SN__FRAME_BAD_HEADER:
		return "bad frame header (magic, checksum or length)";
	default:
		break;
	}
	for (uint32_t i = 0; i < f->n_records; i++) {
		sn__wal_rec r;
		size_t used;
		*where = (size_t)(p - wk->buf);
		if (sn__wal_rec_decode(&r, p, left, &used) != SN_OK)
			return "bad record (checksum, length or contents)";
		p += used;
		left -= used;
	}
	*where = (size_t)(p - wk->buf);
	return left ? "frame body does not match its record count"
		    : "bad frame trailer";
}

/* ---- one segment ---- */

/* Walk the frames of a segment whose header checked out. */
static int walk_frames(walk *wk)
{
	sn__wal_recovery *rec = wk->rec;
	size_t off = SN__WAL_SEG_HEADER;

	for (;;) {
		sn__wal_frame f;
		int st = sn__wal_frame_parse(&f, wk->buf + off, wk->size - off);
		size_t where;
		const char *what;

		if (st == SN__FRAME_OK) {
			int rc = apply_frame(wk, &f, off);
			if (rc)
				return rc;
			off += f.size;
			continue;
		}
		if (st == SN__FRAME_ZERO && off >= wk->nz_end)
			break; /* the end: zeros (or nothing) from here on */
		what = damage(wk, off, st, &f, &where);
		if (!wk->last_seg || !torn(wk, off, st, &f))
			return corrupt(wk, where, what);
		rec->truncate_last = true;
		break;
	}
	if (!wk->have_cp) {
		/* Nothing valid, not even the checkpoint: a segment whose
		 * creation never completed. Only the newest may be like that,
		 * and only if it does not hold the log's only checkpoint. */
		if (!wk->last_seg || (wk->first_seg && wk->seq != 1))
			return corrupt(wk, SN__WAL_SEG_HEADER,
				       "segment has no checkpoint");
		rec->drop_last = true;
		rec->truncate_last = false;
		return SN_OK;
	}
	rec->end = off;
	rec->last_size = wk->size;
	return SN_OK;
}

static int replay_segment(walk *wk)
{
	uint64_t seq;
	char what[160];

	wk->nz_end = nonzero_end(wk->buf, wk->size);
	if (sn__wal_seg_header_check(wk->buf, wk->size, &seq) != SN_OK) {
		/* Never written (empty, or zeros/a cut header and nothing
		 * after it): the newest segment may be like that. */
		if (wk->last_seg && wk->nz_end <= SN__WAL_SEG_HEADER &&
		    !(wk->first_seg && wk->seq != 1)) {
			wk->rec->drop_last = true;
			return SN_OK;
		}
		snprintf(what, sizeof what, "%s", sn_errmsg());
		return corrupt(wk, 0, what);
	}
	if (seq != wk->seq)
		return corrupt(wk, 16, "segment header names another seq");
	return walk_frames(wk);
}

/* ---- the directory ---- */

static int cmp_seq(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The segments' seqs, sorted, and the temporary files. */
static int list_dir(sn__wal_recovery *rec, int dirfd, const char *dir,
		    uint64_t **seqs_out, size_t *n_out)
{
	uint64_t *seqs = NULL, seq;
	size_t n = 0, cap = 0;
	struct dirent *d;
	int fd = dup(dirfd), rc = SN_OK;
	DIR *dp = fd >= 0 ? fdopendir(fd) : NULL;

	if (!dp) {
		if (fd >= 0)
			close(fd);
		return sn__err(SN_EIO, "%s: list: %s", dir, strerror(errno));
	}
	rewinddir(dp);
	while ((d = readdir(dp)) != NULL) {
		int kind = sn__wal_parse_name(d->d_name, &seq);
		if (kind == 1) {
			if (sn__grow((void **)&seqs, &cap, n + 1, sizeof *seqs))
				goto nomem;
			seqs[n++] = seq;
		} else if (kind == 2) {
			char *s = sn__strdup(d->d_name);
			if (!s || sn__grow((void **)&rec->temps,
					   &rec->temps_cap, rec->n_temps + 1,
					   sizeof *rec->temps)) {
				sn__free(s);
				goto nomem;
			}
			rec->temps[rec->n_temps++] = s;
		}
	}
	closedir(dp);
	if (n > 1)
		qsort(seqs, n, sizeof *seqs, cmp_seq);
	*seqs_out = seqs;
	*n_out = n;
	return rc;
nomem:
	closedir(dp);
	sn__free(seqs);
	return sn__err(SN_ENOMEM, "out of memory listing %s", dir);
}

static int replay_all(sn__wal_recovery *rec, int dirfd, const char *dir,
		      const uint64_t *seqs, size_t n)
{
	uint64_t prev_end = 0;

	for (size_t i = 0; i < n; i++) {
		walk wk = { .rec = rec, .dir = dir, .seq = seqs[i],
			    .first_seg = i == 0, .last_seg = i + 1 == n,
			    .prev_end = prev_end };
		uint8_t *buf = NULL;
		int rc;

		sn__wal_seg_name(wk.name, seqs[i], false);
		if (i > 0 && seqs[i] != seqs[i - 1] + 1)
			return corrupt(&wk, 0, "gap: the segment before it is "
				       "missing");
		rc = read_file(dirfd, dir, wk.name, &buf, &wk.size);
		if (rc)
			return rc;
		wk.buf = buf;
		rc = replay_segment(&wk);
		sn__free(buf);
		if (rc)
			return rc;
		prev_end = rec->end;
	}
	return SN_OK;
}

int sn__wal_recover(sn__wal_recovery *rec, int dirfd, const char *dir)
{
	uint64_t *seqs = NULL;
	size_t n = 0;
	int rc;

	memset(rec, 0, sizeof *rec);
	sn__wal_model_init(&rec->model);
	rc = list_dir(rec, dirfd, dir, &seqs, &n);
	if (rc == SN_OK)
		rc = replay_all(rec, dirfd, dir, seqs, n);
	sn__free(seqs);
	if (rc)
		return rc;
	for (size_t i = 0; i < rec->n_entries; i++) {
		sn_entry *e = &rec->entries[i];
		e->data = e->len ? rec->arena + (uintptr_t)e->data : NULL;
	}
	return SN_OK;
}

void sn__wal_recovery_free(sn__wal_recovery *rec)
{
	if (!rec)
		return;
	sn__wal_model_free(&rec->model);
	sn__free(rec->entries);
	sn__free(rec->arena);
	sn__free(rec->segs);
	for (size_t i = 0; i < rec->n_temps; i++)
		sn__free(rec->temps[i]);
	sn__free(rec->temps);
	memset(rec, 0, sizeof *rec);
}

/* ---- repairs, once the whole log checked out ---- */

static int cut_tail(sn__wal *w, const char *name, uint64_t end,
		    uint64_t size)
{
	uint64_t cap = size > w->segment_bytes ? size : w->segment_bytes;
	int fd = openat(w->dirfd, name, O_RDWR | O_CLOEXEC), e = 0;

	if (fd < 0)
		e = errno;
	else if (ftruncate(fd, (off_t)end) != 0)
		e = errno;
	else if (sn__wal_hooks.fallocate(fd, 0, (off_t)cap) != 0)
		e = errno;
	else
		e = sn__wal_sync(w, fd);
	if (fd >= 0)
		close(fd);
	if (e)
		return sn__err(sn__wal_errno_code(e), "%s/%s: truncating the "
			       "torn tail: %s", w->dir, name, strerror(e));
	return SN_OK;
}

int sn__wal_repair(sn__wal *w, sn__wal_recovery *rec)
{
	char name[SN__WAL_NAME_MAX];
	uint64_t last_seq = rec->n_segs ? rec->segs[rec->n_segs - 1].seq : 0;
	bool unlinked = false;
	int rc;

	for (size_t i = 0; i < rec->n_temps; i++) {
		if (unlinkat(w->dirfd, rec->temps[i], 0) != 0 && errno != ENOENT)
			return sn__err(SN_EIO, "%s/%s: remove: %s", w->dir,
				       rec->temps[i], strerror(errno));
		sn__log(SN_LOG_WARN, "%s/%s: removed a temporary file left by "
			"a crash", w->dir, rec->temps[i]);
		unlinked = true;
	}
	if (rec->drop_last) {
		sn__wal_seg_name(name, last_seq + 1, false);
		if (rec->n_segs == 0)
			sn__wal_seg_name(name, 1, false);
		if (unlinkat(w->dirfd, name, 0) != 0)
			return sn__err(SN_EIO, "%s/%s: remove: %s", w->dir,
				       name, strerror(errno));
		sn__log(SN_LOG_WARN, "%s/%s: removed: its creation never "
			"completed (no checkpoint)", w->dir, name);
		unlinked = true;
	}
	if (rec->truncate_last) {
		sn__wal_seg_name(name, last_seq, false);
		sn__log(SN_LOG_WARN, "%s/%s: torn tail at offset %llu: "
			"truncating (the write was never acknowledged)",
			w->dir, name, (unsigned long long)rec->end);
		rc = cut_tail(w, name, rec->end, rec->last_size);
		if (rc)
			return rc;
	}
	if (unlinked && !w->no_sync && sn__wal_hooks.fsync(w->dirfd) != 0)
		return sn__err(SN_EIO, "%s: fsync: %s", w->dir,
			       strerror(errno));
	return SN_OK;
}
