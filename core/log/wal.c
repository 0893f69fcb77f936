/*
 * The write-ahead log behind <senate/sys/storage.h>: options, open (lock the
 * directory, recover, repair, start the storage thread), the sn_storage ops
 * (check, encode and queue on the caller's thread), close.
 */
#define _GNU_SOURCE

#include "wal_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIN_SEGMENT_BYTES 1024u
#define MAX_BATCH_BYTES (1u << 30)
/* Appends wait once this many batches' worth of bytes are queued. */
#define QUEUE_BATCHES 4u

int sn_wal_options_init(sn_wal_options *opts, unsigned version)
{
	const sn_wal_options defaults = SN_WAL_OPTIONS_INIT;

	if (!opts)
		return sn__err(SN_EINVAL, "sn_wal_options_init: NULL options");
	if (version != SN_WAL_OPTIONS_VERSION)
		return sn__err(SN_EINVAL, "sn_wal_options: unknown version %u",
			       version);
	*opts = defaults;
	return SN_OK;
}

static int check_options(const sn_wal_options *o)
{
	if (!o)
		return sn__err(SN_EINVAL, "sn_wal_open: NULL options");
	if (o->version != SN_WAL_OPTIONS_VERSION)
		return sn__err(SN_EINVAL, "sn_wal_options: unknown version %u",
			       o->version);
	if (!o->dir || !o->dir[0])
		return sn__err(SN_EINVAL, "sn_wal_options: no dir");
	if (o->segment_bytes && o->segment_bytes < MIN_SEGMENT_BYTES)
		return sn__err(SN_EINVAL, "sn_wal_options: segment_bytes %llu "
			       "is below %u", (unsigned long long)o->segment_bytes,
			       MIN_SEGMENT_BYTES);
	if (o->max_batch_bytes > MAX_BATCH_BYTES)
		return sn__err(SN_EINVAL, "sn_wal_options: max_batch_bytes "
			       "%zu is above %u", o->max_batch_bytes,
			       MAX_BATCH_BYTES);
	return SN_OK;
}

/* ---- the directory ---- */

static int sync_parent(char *path)
{
	char *slash = strrchr(path, '/');
	int fd, rc = 0;

	if (slash == path)
		fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	else if (slash) {
		*slash = '\0';
		fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		*slash = '/';
	} else {
		fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd < 0)
		return -1;
	if (sn__wal_hooks.fsync(fd) != 0)
		rc = -1;
	close(fd);
	return rc;
}

/* mkdir -p, making each directory it creates durable. 0 or errno. */
static int make_dir(char *path, bool sync)
{
	char *slash;
	int e;

	if (mkdir(path, 0755) == 0)
		return sync && sync_parent(path) != 0 ? errno : 0;
	if (errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return errno;
	slash = strrchr(path, '/');
	if (!slash || slash == path)
		return ENOENT;
	*slash = '\0';
	e = make_dir(path, sync);
	*slash = '/';
	if (e)
		return e;
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		return errno;
	return sync && sync_parent(path) != 0 ? errno : 0;
}

static int open_dir(sn__wal *w)
{
	int e = make_dir(w->dir, !w->no_sync);

	if (e)
		return sn__err(SN_EIO, "%s: create: %s", w->dir, strerror(e));
	w->dirfd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->dirfd < 0)
		return sn__err(SN_EIO, "%s: open: %s", w->dir, strerror(errno));
	/* One writer per directory, also within one process. */
	if (flock(w->dirfd, LOCK_EX | LOCK_NB) != 0)
		return sn__err(errno == EWOULDBLOCK ? SN_EBUSY : SN_EIO,
			       "%s: locked by another open WAL: %s", w->dir,
			       strerror(errno));
	return SN_OK;
}

/* ---- life cycle ---- */

static void release_recovered(sn__wal *w)
{
	if (w->recovered) {
		sn__wal_recovery_free(w->recovered);
		sn__free(w->recovered);
		w->recovered = NULL;
	}
}

static void wal_free(sn__wal *w)
{
	while (w->head) {
		sn__wal_req *r = w->head;
		w->head = r->next;
		sn__wal_req_free(r);
	}
	release_recovered(w);
	if (w->fd >= 0)
		close(w->fd);
	if (w->dirfd >= 0)
		close(w->dirfd); /* releases the lock */
	sn__wal_model_free(&w->model);
	sn__wal_model_free(&w->disk);
	sn__free(w->segs);
	sn__free(w->iov);
	sn__free(w->dir);
	pthread_cond_destroy(&w->work);
	pthread_cond_destroy(&w->space);
	pthread_cond_destroy(&w->idle);
	pthread_mutex_destroy(&w->mu);
	sn__free(w);
}

static const sn__storage_ops wal_ops;

static sn__wal *wal_new(const sn_wal_options *o)
{
	sn__wal *w = sn__calloc(1, sizeof *w);
	pthread_condattr_t ca;

	if (!w)
		return NULL;
	w->base.ops = &wal_ops;
	w->fd = w->dirfd = -1;
	w->segment_bytes = o->segment_bytes ? o->segment_bytes : 64u << 20;
	w->max_batch_bytes = o->max_batch_bytes ? o->max_batch_bytes : 8u << 20;
	w->queue_limit = QUEUE_BATCHES * w->max_batch_bytes;
	w->no_sync = o->no_sync != 0;
	sn__wal_model_init(&w->model);
	sn__wal_model_init(&w->disk);
	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->space, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&w->work, NULL);
	pthread_cond_init(&w->idle, NULL);
	w->dir = sn__strdup(o->dir);
	if (!w->dir) {
		wal_free(w);
		return NULL;
	}
	return w;
}

/* Recover, repair, and make the last segment (or a new one) active. */
static int recover(sn__wal *w, sn_storage_state *state)
{
	sn__wal_recovery *rec = sn__calloc(1, sizeof *rec);
	int rc;

	if (!rec)
		return sn__err(SN_ENOMEM, "out of memory (recovery)");
	w->recovered = rec;
	rc = sn__wal_recover(rec, w->dirfd, w->dir);
	if (rc == SN_OK)
		rc = sn__wal_repair(w, rec);
	if (rc == SN_OK)
		rc = sn__wal_model_copy(&w->model, &rec->model);
	if (rc == SN_OK)
		rc = sn__wal_model_copy(&w->disk, &rec->model);
	if (rc)
		return rc;
	w->segs = rec->segs;
	w->n_segs = rec->n_segs;
	w->segs_cap = rec->segs_cap;
	rec->segs = NULL;
	rec->n_segs = rec->segs_cap = 0;
	if (w->n_segs == 0)
		rc = sn__wal_segment_create(w, 1, 0, 0);
	else
		rc = sn__wal_segment_resume(w, w->segs[w->n_segs - 1].seq,
					    rec->end);
	if (rc)
		return rc;
	state->hard_state = rec->model.hs;
	state->has_snapshot = rec->model.has_snapshot;
	if (rec->model.has_snapshot)
		state->snapshot = rec->model.snap;
	state->entries = rec->n_entries ? rec->entries : NULL;
	state->n_entries = rec->n_entries;
	return SN_OK;
}

static int wal_open(sn_storage **out, sn_storage_state *state,
		    const sn_wal_options *opts, bool inline_writes)
{
	sn__wal *w;
	int rc;

	if (!out || !state)
		return sn__err(SN_EINVAL, "sn_wal_open: NULL argument");
	*out = NULL;
	memset(state, 0, sizeof *state);
	rc = check_options(opts);
	if (rc)
		return rc;
	w = wal_new(opts);
	if (!w)
		return sn__err(SN_ENOMEM, "out of memory (WAL)");
	w->inline_writes = inline_writes;
	rc = open_dir(w);
	if (rc == SN_OK)
		rc = recover(w, state);
	if (rc == SN_OK && !inline_writes)
		rc = sn__wal_thread_start(w);
	if (rc) {
		memset(state, 0, sizeof *state);
		wal_free(w);
		return rc;
	}
	*out = &w->base;
	return SN_OK;
}

int sn_wal_open(sn_storage **out, sn_storage_state *state,
		const sn_wal_options *opts)
{
	return wal_open(out, state, opts, false);
}

int sn__wal_open_inline(sn_storage **out, sn_storage_state *state,
			const sn_wal_options *opts)
{
	return wal_open(out, state, opts, true);
}

int sn__wal_set_inline(sn_storage *s, bool on)
{
	sn__wal *w = (sn__wal *)s;
	int rc;

	if (!s || s->ops != &wal_ops)
		return sn__err(SN_EINVAL, "sn__wal_set_inline: not a WAL");
	if (!on && !w->thread_started && (rc = sn__wal_thread_start(w)))
		return rc;
	pthread_mutex_lock(&w->mu);
	w->inline_writes = on;
	if (!on && w->head)
		pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->mu);
	return SN_OK;
}

/* ---- the ops, on the caller's thread ---- */

static int encode_append(sn__wal_req *req, const sn_hard_state *hs,
			 const sn_entry *entries, size_t n)
{
	size_t len = hs ? SN__WAL_HARD_STATE_REC_SIZE : 0;
	uint8_t *p;

	for (size_t i = 0; i < n; i++) {
		size_t sz = sn__wal_entry_rec_size(entries[i].len);
		if (sz == SIZE_MAX || len + sz > SN__WAL_MAX_REC_LEN -
						     SN__WAL_FRAME_OVERHEAD)
			return sn__err(SN_ETOOLARGE, "sn_storage_append: the "
				       "batch exceeds %u bytes",
				       SN__WAL_MAX_REC_LEN);
		len += sz;
	}
	req->buf = p = len ? sn__malloc(len) : NULL;
	if (len && !p)
		return sn__err(SN_ENOMEM, "out of memory (append)");
	req->len = len;
	if (hs)
		p = sn__wal_put_hard_state(p, hs);
	for (size_t i = 0; i < n; i++)
		p = sn__wal_put_entry(p, &entries[i]);
	req->n_records = (uint32_t)(n + (hs ? 1 : 0));
	return SN_OK;
}

static int wal_append(sn_storage *s, const sn_hard_state *hs,
		      const sn_entry *entries, size_t n, sn_storage_cb cb,
		      void *userdata)
{
	sn__wal *w = (sn__wal *)s;
	sn__wal_req *req;
	char msg[200];
	int rc;

	release_recovered(w);
	if (n && sn__wal_model_check_entry(&w->model, entries[0].index)) {
		snprintf(msg, sizeof msg, "%s", sn_errmsg());
		return sn__err(SN_EINVAL, "sn_storage_append: %s", msg);
	}
	if (n >= UINT32_MAX)
		return sn__err(SN_ETOOLARGE, "sn_storage_append: %zu entries",
			       n);
	req = sn__calloc(1, sizeof *req);
	if (!req)
		return sn__err(SN_ENOMEM, "out of memory (append)");
	req->kind = SN__WAL_REQ_WRITE;
	req->cb = cb;
	req->userdata = userdata;
	rc = encode_append(req, hs, entries, n);
	if (hs) {
		req->has_hs = true;
		req->hs = *hs;
	}
	if (n) {
		req->first_index = entries[0].index;
		req->last_index = entries[n - 1].index;
		req->last_term = entries[n - 1].term;
	}
	if (rc == SN_OK)
		rc = sn__wal_enqueue(w, req);
	if (rc) {
		sn__wal_req_free(req);
		return rc;
	}
	if (hs)
		w->model.hs = *hs;
	if (n)
		sn__wal_model_entries(&w->model, entries[0].index,
				      entries[n - 1].index,
				      entries[n - 1].term);
	return SN_OK;
}

static sn__wal_req *snapshot_req(const sn_snapshot_meta *meta, bool reset)
{
	size_t n = meta->n_voters;
	sn__wal_req *req = sn__calloc(1, sizeof *req);

	if (!req)
		return NULL;
	req->kind = SN__WAL_REQ_WRITE;
	req->len = sn__wal_snapshot_rec_size(n);
	req->buf = sn__malloc(req->len);
	req->install = sn__malloc(sizeof *req->install + n * sizeof(uint64_t));
	if (!req->buf || !req->install) {
		sn__wal_req_free(req);
		return NULL;
	}
	sn__wal_put_snapshot(req->buf, meta,
			     reset ? SN__WAL_SNAP_RESET : SN__WAL_SNAP_TAKEN);
	req->n_records = 1;
	req->snap_reset = reset;
	*req->install = *meta;
	if (n) {
		uint64_t *v = (uint64_t *)(req->install + 1);
		memcpy(v, meta->voters, n * sizeof *v);
		req->install->voters = v;
	}
	return req;
}

static int wal_snapshot(sn_storage *s, const sn_snapshot_meta *meta,
			bool reset, sn_storage_cb cb, void *userdata)
{
	sn__wal *w = (sn__wal *)s;
	const char *fn = reset ? "sn_storage_install" : "sn_storage_snapshot";
	sn__wal_req *req;
	char msg[200];
	int rc;

	release_recovered(w);
	if (sn__wal_model_check_snapshot(&w->model, meta, reset)) {
		snprintf(msg, sizeof msg, "%s", sn_errmsg());
		return sn__err(SN_EINVAL, "%s: %s", fn, msg);
	}
	if (sn__wal_model_reserve(&w->model, meta->n_voters) ||
	    !(req = snapshot_req(meta, reset)))
		return sn__err(SN_ENOMEM, "out of memory (%s)", fn);
	req->cb = cb;
	req->userdata = userdata;
	rc = sn__wal_enqueue(w, req);
	if (rc) {
		sn__wal_req_free(req);
		return rc;
	}
	sn__wal_model_snapshot(&w->model, meta, NULL, reset); /* reserved */
	return SN_OK;
}

static int wal_compact(sn_storage *s, uint64_t index)
{
	sn__wal *w = (sn__wal *)s;
	sn__wal_req *req;
	int rc;

	release_recovered(w);
	req = sn__calloc(1, sizeof *req);
	if (!req)
		return sn__err(SN_ENOMEM, "out of memory (compact)");
	req->kind = SN__WAL_REQ_COMPACT;
	req->compact_index = index;
	rc = sn__wal_enqueue(w, req);
	if (rc)
		sn__wal_req_free(req);
	return rc;
}

static int wal_error(sn_storage *s, char *buf, size_t len)
{
	sn__wal *w = (sn__wal *)s;
	int rc;

	pthread_mutex_lock(&w->mu);
	rc = w->err;
	if (buf && len)
		snprintf(buf, len, "%s", w->errmsg);
	pthread_mutex_unlock(&w->mu);
	return rc;
}

static void wal_close(sn_storage *s)
{
	sn__wal *w = (sn__wal *)s;

	sn__wal_thread_stop(w);
	wal_free(w);
}

static const sn__storage_ops wal_ops = {
	"wal", wal_append, wal_snapshot, wal_compact, wal_error, wal_close
};
