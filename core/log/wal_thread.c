/*
 * The storage thread and group commit. The caller's thread encodes records
 * and queues them (sn__wal_enqueue); the storage thread takes everything
 * queued, up to max_batch_bytes, writes it as one frame with one pwritev,
 * covers it with one fdatasync, then runs the callbacks in order. The first
 * failed write or sync stops the WAL for good: that batch's callbacks get the
 * error, every later one SN_ESTOPPED, and nothing is retried.
 */
#define _GNU_SOURCE

#include "wal_impl.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

void sn__wal_req_free(sn__wal_req *req)
{
	if (!req)
		return;
	sn__free(req->buf);
	sn__free(req->install);
	sn__free(req);
}

int sn__wal_fail(sn__wal *w, int code, const char *fmt, ...)
{
	char msg[sizeof w->errmsg];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&w->mu);
	if (w->err == SN_OK) {
		w->err = code;
		snprintf(w->errmsg, sizeof w->errmsg, "%s", msg);
	}
	pthread_cond_broadcast(&w->space);
	pthread_mutex_unlock(&w->mu);
	sn__log(SN_LOG_ERROR, "WAL stopped (%s): %s", sn_strerror(code), msg);
	return code;
}

static void drain(sn__wal *w);

/* ---- the caller's side ---- */

static void deadline_in(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static int stopped(sn__wal *w)
{
	return sn__err(SN_ESTOPPED, "%s: the WAL stopped after an earlier "
		       "failure: %s", w->dir, w->errmsg);
}

int sn__wal_enqueue(sn__wal *w, sn__wal_req *req)
{
	struct timespec deadline;
	int rc = SN_OK;

	pthread_mutex_lock(&w->mu);
	deadline_in(&deadline, sn__wal_busy_timeout_ms);
	/* Backpressure: wait while the queue holds more than its limit. A
	 * request is always admitted into an empty queue, however large. */
	while (!w->err && req->len && w->queued_bytes &&
	       w->queued_bytes + req->len > w->queue_limit) {
		if (pthread_cond_timedwait(&w->space, &w->mu, &deadline) ==
		    ETIMEDOUT) {
			rc = sn__err(SN_EBUSY, "%s: the write queue stayed "
				     "full (%zu bytes) for %u ms", w->dir,
				     w->queued_bytes, sn__wal_busy_timeout_ms);
			break;
		}
	}
	if (rc == SN_OK && w->err)
		rc = stopped(w);
	if (rc == SN_OK) {
		req->next = NULL;
		if (w->tail)
			w->tail->next = req;
		else
			w->head = req;
		w->tail = req;
		w->queued_bytes += req->len;
		if (!w->inline_writes) {
			pthread_cond_signal(&w->work);
		} else {
			/* Batches in order, one writer at a time: after a
			 * switch from the storage thread, let it finish. */
			while (w->draining)
				pthread_cond_wait(&w->idle, &w->mu);
			drain(w);
		}
	}
	pthread_mutex_unlock(&w->mu);
	return rc;
}

/* ---- the storage thread ---- */

/* Detach the next batch: a compaction alone, or writes up to the batch
 * limit (at least one), or - once stopped - everything. */
static sn__wal_req *take_batch(sn__wal *w, size_t *bytes)
{
	sn__wal_req *first = w->head, *last = first;
	size_t sum = first->len;

	if (w->err) {
		last = w->tail;
		sum = w->queued_bytes;
	} else if (first->kind == SN__WAL_REQ_WRITE) {
		while (last->next && last->next->kind == SN__WAL_REQ_WRITE &&
		       sum + last->next->len <= w->max_batch_bytes) {
			last = last->next;
			sum += last->len;
		}
	}
	w->head = last->next;
	if (!w->head)
		w->tail = NULL;
	last->next = NULL;
	*bytes = sum;
	return first;
}

static void apply_done(sn__wal *w, const sn__wal_req *r)
{
	sn__wal_model *m = &w->disk;

	if (r->install)
		/* Room for the voters was reserved before the write: this
		 * cannot fail. */
		sn__wal_model_snapshot(m, r->install, NULL, r->snap_reset);
	if (r->has_hs)
		m->hs = r->hs;
	if (r->last_index)
		sn__wal_model_entries(m, r->first_index, r->last_index,
				      r->last_term);
}

static int grow_iov(sn__wal *w, size_t n)
{
	if (sn__grow((void **)&w->iov, &w->iov_cap, n, sizeof *w->iov))
		return sn__wal_fail(w, SN_ENOMEM, "out of memory (iovec)");
	return SN_OK;
}

static const char *active_name(sn__wal *w, char *name)
{
	sn__wal_seg_name(name, w->segs[w->n_segs - 1].seq, false);
	return name;
}

/* Point w->iov at the frame: header, each request's records, trailer. */
static int frame_iov(sn__wal *w, sn__wal_req *batch, size_t n_reqs,
		     uint8_t *hdr, size_t *n_iov)
{
	static const uint8_t trailer = SN__WAL_FRAME_TRAILER;
	size_t n = 1;

	if (grow_iov(w, 2 + n_reqs))
		return SN_ENOMEM;
	w->iov[0].iov_base = hdr;
	w->iov[0].iov_len = SN__WAL_FRAME_HEADER;
	for (sn__wal_req *r = batch; r; r = r->next) {
		if (!r->len)
			continue;
		w->iov[n].iov_base = r->buf;
		w->iov[n++].iov_len = r->len;
	}
	w->iov[n].iov_base = (void *)&trailer;
	w->iov[n++].iov_len = 1;
	*n_iov = n;
	return SN_OK;
}

/*
 * Whether a batch must be synced before its callbacks run: anything but a
 * hard state that moves only the commit index does. The commit index is
 * not needed for safety (recovery may find an older one and the engine
 * learns it again), so such a write is left to the page cache and becomes
 * durable with the next synced frame - one fdatasync less per committed
 * entry. Term and vote always reach the disk before anything depends on
 * them, so the model's term and vote are synced values.
 */
static bool must_sync(const sn__wal *w, const sn__wal_req *batch)
{
	for (const sn__wal_req *r = batch; r; r = r->next) {
		if (r->last_index || r->install || r->snap_reset)
			return true;
		if (r->has_hs && (r->hs.term != w->disk.hs.term ||
				  r->hs.vote != w->disk.hs.vote))
			return true;
	}
	return false;
}

/* Write one batch as one frame and sync it (when it must be). */
static int write_batch(sn__wal *w, sn__wal_req *batch, size_t bytes)
{
	uint8_t hdr[SN__WAL_FRAME_HEADER];
	char name[SN__WAL_NAME_MAX];
	uint64_t frame = SN__WAL_FRAME_OVERHEAD + (uint64_t)bytes;
	uint32_t n_rec = 0;
	size_t n_iov, n_reqs = 0;
	int e;

	for (sn__wal_req *r = batch; r; r = r->next) {
		n_rec += r->n_records;
		n_reqs++;
		if (r->install &&
		    sn__wal_model_reserve(&w->disk, r->install->n_voters))
			return sn__wal_fail(w, SN_ENOMEM, "%s", sn_errmsg());
	}
	if (n_rec == 0)
		return SN_OK; /* a barrier: everything before it is durable */
	if (w->off + frame > w->cap) {
		/* A frame never spans segments: start the next one. */
		int rc = sn__wal_segment_create(w, w->segs[w->n_segs - 1].seq + 1,
						w->off, frame);
		if (rc)
			return sn__wal_fail(w, rc, "%s", sn_errmsg());
	}
	sn__wal_frame_header_put(hdr, (uint32_t)bytes, n_rec);
	if (frame_iov(w, batch, n_reqs, hdr, &n_iov))
		return SN_ENOMEM;
	e = sn__wal_write_all(w->fd, w->iov, (int)n_iov, w->off);
	if (e)
		return sn__wal_fail(w, sn__wal_errno_code(e), "%s/%s: write of "
				    "%llu bytes at offset %llu: %s", w->dir,
				    active_name(w, name),
				    (unsigned long long)frame,
				    (unsigned long long)w->off, strerror(e));
	e = must_sync(w, batch) ? sn__wal_sync(w, w->fd) : 0;
	if (e) /* never retried: the page cache may have dropped the data */
		return sn__wal_fail(w, sn__wal_errno_code(e), "%s/%s: fdatasync: "
				    "%s", w->dir, active_name(w, name),
				    strerror(e));
	w->off += frame;
	for (sn__wal_req *r = batch; r; r = r->next)
		apply_done(w, r);
	return SN_OK;
}

static void run_batch(sn__wal *w, sn__wal_req *batch, size_t bytes,
		      bool was_stopped)
{
	int status;

	if (was_stopped)
		status = SN_ESTOPPED;
	else if (batch->kind == SN__WAL_REQ_COMPACT)
		status = (sn__wal_segments_compact(w, batch->compact_index),
			  SN_OK);
	else
		status = write_batch(w, batch, bytes);
	while (batch) {
		sn__wal_req *next = batch->next;
		if (batch->cb)
			batch->cb(batch->userdata, status);
		sn__wal_req_free(batch);
		batch = next;
	}
}

/* Take and run batches until the queue is empty (with w->mu held; it is
 * released while a batch runs). Nothing when another thread drains: it
 * takes what was queued meanwhile too. */
static void drain(sn__wal *w)
{
	if (w->draining)
		return;
	w->draining = true;
	while (w->head) {
		bool was_stopped = w->err != SN_OK;
		size_t bytes;
		sn__wal_req *batch = take_batch(w, &bytes);
		pthread_mutex_unlock(&w->mu);
		run_batch(w, batch, bytes, was_stopped);
		pthread_mutex_lock(&w->mu);
		w->queued_bytes -= bytes;
		pthread_cond_broadcast(&w->space);
	}
	w->draining = false;
	pthread_cond_broadcast(&w->idle);
}

static void *storage_thread(void *arg)
{
	sn__wal *w = arg;

	sn__thread_name("sn-wal");

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while ((!w->head || w->draining) && !w->closing)
			pthread_cond_wait(&w->work, &w->mu);
		if (!w->head)
			break;
		if (w->draining) { /* closing while an appender writes */
			pthread_cond_wait(&w->idle, &w->mu);
			continue;
		}
		drain(w);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int sn__wal_thread_start(sn__wal *w)
{
	int e = pthread_create(&w->thread, NULL, storage_thread, w);

	if (e)
		return sn__err(SN_ENOMEM, "cannot start the storage thread: %s",
			       strerror(e));
	w->thread_started = true;
	return SN_OK;
}

void sn__wal_thread_stop(sn__wal *w)
{
	if (!w->thread_started)
		return;
	pthread_mutex_lock(&w->mu);
	w->closing = true;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	w->thread_started = false;
}
