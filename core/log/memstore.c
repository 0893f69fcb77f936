/*
 * The in-memory storage of the simulator: the sn_storage seam with the
 * WAL's rules and a clock the caller turns. See memstore.h.
 */
#include "memstore.h"
#include "wal_impl.h"

#include <stdio.h>

typedef struct ms_write {
	struct ms_write *next;
	bool has_hs;
	sn_hard_state hs;
	sn_entry *entries; /* data copied into `arena` */
	size_t n;
	uint8_t *arena;
	sn_snapshot_meta *install; /* with voters, one allocation */
	bool reset;                /* installed (the log restarts) or taken */
	sn_storage_cb cb;
	void *userdata;
	bool acked; /* the mutant already called cb */
} ms_write;

typedef struct sn__memstore {
	sn_storage base;
	/* The log as the caller sees it, pending writes included: appends and
	 * installs are checked against it, as the WAL checks its own. */
	sn__wal_model logical;
	/* The durable image. */
	sn__wal_model durable;
	sn_entry *dents; /* each entry's data is its own allocation */
	size_t n_dents, dents_cap;
	/* Pending writes, oldest first. */
	ms_write *head, *tail;
	size_t n_pending;
	int fail_next; /* injected error for the next sync, SN_OK if none */
	int err;       /* why it stopped, SN_OK while healthy */
	char errmsg[256];
	sn__memstore_stats stats;
} sn__memstore;

static const sn__storage_ops memstore_ops;

static sn__memstore *ms_of(sn_storage *s)
{
	return s && s->ops == &memstore_ops ? (sn__memstore *)s : NULL;
}

bool sn__memstore_is(const sn_storage *s)
{
	return s && s->ops == &memstore_ops;
}

/* sn__err() with the current detail message as a suffix. */
static int wrap_err(int code, const char *what)
{
	char detail[256];
	snprintf(detail, sizeof detail, "%s", sn_errmsg());
	return sn__err(code, "memstore: %s: %s", what, detail);
}

static int stopped_err(const sn__memstore *m)
{
	return sn__err(SN_ESTOPPED, "memstore: stopped after: %s", m->errmsg);
}

/* ---- pending writes ----------------------------------------------------- */

static void write_free(ms_write *w)
{
	sn__free(w->entries);
	sn__free(w->arena);
	sn__free(w->install);
	sn__free(w);
}

static ms_write *write_new_entries(const sn_hard_state *hs,
				   const sn_entry *entries, size_t n)
{
	ms_write *w = sn__calloc(1, sizeof *w);
	size_t bytes = 0, off = 0;

	if (!w)
		return NULL;
	if (hs) {
		w->has_hs = true;
		w->hs = *hs;
	}
	for (size_t i = 0; i < n; i++)
		bytes += entries[i].len;
	w->entries = n ? sn__calloc(n, sizeof *w->entries) : NULL;
	w->arena = bytes ? sn__malloc(bytes) : NULL;
	if ((n && !w->entries) || (bytes && !w->arena)) {
		write_free(w);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		w->entries[i] = entries[i];
		w->entries[i].data = NULL;
		if (entries[i].len) {
			memcpy(w->arena + off, entries[i].data, entries[i].len);
			w->entries[i].data = w->arena + off;
			off += entries[i].len;
		}
	}
	w->n = n;
	return w;
}

static sn_snapshot_meta *meta_copy(const sn_snapshot_meta *meta)
{
	size_t n = meta->n_voters;
	sn_snapshot_meta *c = sn__malloc(sizeof *c + n * sizeof(uint64_t));
	uint64_t *voters;

	if (!c)
		return NULL;
	voters = (uint64_t *)(c + 1);
	*c = *meta;
	if (n)
		memcpy(voters, meta->voters, n * sizeof *voters);
	c->voters = n ? voters : NULL;
	return c;
}

static void enqueue(sn__memstore *m, ms_write *w)
{
	if (m->tail)
		m->tail->next = w;
	else
		m->head = w;
	m->tail = w;
	m->n_pending++;
	m->stats.writes++;
}

static ms_write *dequeue(sn__memstore *m)
{
	ms_write *w = m->head;
	if (!w)
		return NULL;
	m->head = w->next;
	if (!m->head)
		m->tail = NULL;
	m->n_pending--;
	w->next = NULL;
	return w;
}

/* ---- the durable image -------------------------------------------------- */

static void dents_clear_from(sn__memstore *m, size_t keep)
{
	for (size_t i = keep; i < m->n_dents; i++)
		sn__free((void *)m->dents[i].data);
	m->n_dents = keep;
}

static void durable_fix_first(sn__memstore *m)
{
	if (m->n_dents)
		m->durable.first = m->dents[0].index;
	else
		m->durable.first = m->durable.last + 1;
}

/* Entries replace stored ones at index >= entries[0].index. */
static int apply_entries(sn__memstore *m, const ms_write *w)
{
	uint64_t a = w->entries[0].index;
	size_t keep = 0;

	if (m->n_dents && a > m->dents[0].index &&
	    a <= m->dents[m->n_dents - 1].index + 1)
		keep = (size_t)(a - m->dents[0].index);
	dents_clear_from(m, keep);
	if (sn__grow((void **)&m->dents, &m->dents_cap, keep + w->n,
		     sizeof *m->dents) != SN_OK)
		return SN_ENOMEM;
	for (size_t i = 0; i < w->n; i++) {
		sn_entry e = w->entries[i];
		void *data = NULL;
		if (e.len) {
			data = sn__malloc(e.len);
			if (!data)
				return SN_ENOMEM;
			memcpy(data, e.data, e.len);
		}
		e.data = data;
		m->dents[m->n_dents++] = e;
	}
	m->durable.last = w->entries[w->n - 1].index;
	m->durable.last_term = w->entries[w->n - 1].term;
	durable_fix_first(m);
	return SN_OK;
}

static int apply(sn__memstore *m, const ms_write *w)
{
	if (w->install && !w->reset &&
	    SN__MUTANT(SN__MUTANT_DROP_SNAPSHOT_MARKER))
		; /* the bug: recovery will not know the snapshot */
	else if (w->install) {
		if (w->reset)
			dents_clear_from(m, 0);
		if (sn__wal_model_snapshot(&m->durable, w->install, NULL,
					   w->reset))
			return SN_ENOMEM;
	}
	if (w->has_hs)
		m->durable.hs = w->hs;
	return w->n ? apply_entries(m, w) : SN_OK;
}

/* Stop: `first` fails with `code`, every other pending write with
 * SN_ESTOPPED (a callback the mutant already fired is not called again). */
static void stop(sn__memstore *m, ms_write *first, int code, const char *why)
{
	ms_write *w;

	m->err = code;
	snprintf(m->errmsg, sizeof m->errmsg, "%s (%s)", why,
		 sn_strerror(code));
	sn__log(SN_LOG_ERROR, "memstore: stopped: %s", m->errmsg);
	if (first->cb && !first->acked)
		first->cb(first->userdata, code);
	write_free(first);
	while ((w = dequeue(m)) != NULL) {
		if (w->cb && !w->acked)
			w->cb(w->userdata, SN_ESTOPPED);
		write_free(w);
	}
}

/* ---- the ops ------------------------------------------------------------ */

static int ms_append(sn_storage *s, const sn_hard_state *hs,
		     const sn_entry *entries, size_t n, sn_storage_cb cb,
		     void *userdata)
{
	sn__memstore *m = (sn__memstore *)s;
	ms_write *w;

	if (m->err)
		return stopped_err(m);
	if (n && sn__wal_model_check_entry(&m->logical, entries[0].index))
		return wrap_err(SN_EINVAL, "append");
	w = write_new_entries(hs, entries, n);
	if (!w)
		return sn__err(SN_ENOMEM, "memstore: out of memory");
	w->cb = cb;
	w->userdata = userdata;
	if (n)
		sn__wal_model_entries(&m->logical, entries[0].index,
				      entries[n - 1].index, entries[n - 1].term);
	if (hs)
		m->logical.hs = *hs;
	enqueue(m, w);
	if (SN__MUTANT(SN__MUTANT_ACK_BEFORE_SYNC) && cb) {
		/* The bug: acknowledged while the data is still volatile. */
		w->acked = true;
		m->stats.early_acks++;
		cb(userdata, SN_OK);
	}
	return SN_OK;
}

static int ms_snapshot(sn_storage *s, const sn_snapshot_meta *meta,
		       bool reset, sn_storage_cb cb, void *userdata)
{
	sn__memstore *m = (sn__memstore *)s;
	ms_write *w;

	if (m->err)
		return stopped_err(m);
	if (sn__wal_model_check_snapshot(&m->logical, meta, reset))
		return wrap_err(SN_EINVAL, reset ? "install" : "snapshot");
	w = sn__calloc(1, sizeof *w);
	if (w) {
		w->install = meta_copy(meta);
		w->reset = reset;
	}
	if (!w || !w->install ||
	    sn__wal_model_snapshot(&m->logical, meta, NULL, reset)) {
		if (w)
			write_free(w);
		return sn__err(SN_ENOMEM, "memstore: out of memory");
	}
	w->cb = cb;
	w->userdata = userdata;
	enqueue(m, w);
	return SN_OK;
}

static int ms_compact(sn_storage *s, uint64_t index)
{
	sn__memstore *m = (sn__memstore *)s;
	size_t drop = 0;

	if (m->err)
		return stopped_err(m);
	while (drop < m->n_dents && m->dents[drop].index <= index)
		sn__free((void *)m->dents[drop++].data);
	if (drop) {
		memmove(m->dents, m->dents + drop,
			(m->n_dents - drop) * sizeof *m->dents);
		m->n_dents -= drop;
		durable_fix_first(m);
	}
	return SN_OK;
}

static int ms_error(sn_storage *s, char *buf, size_t len)
{
	sn__memstore *m = (sn__memstore *)s;
	if (buf && len)
		snprintf(buf, len, "%s", m->err ? m->errmsg : "");
	return m->err;
}

static void ms_close(sn_storage *s)
{
	sn__memstore *m = (sn__memstore *)s;

	sn__memstore_sync(s, SIZE_MAX);
	sn__memstore_crash(s); /* frees anything the callbacks queued */
	dents_clear_from(m, 0);
	sn__free(m->dents);
	sn__wal_model_free(&m->logical);
	sn__wal_model_free(&m->durable);
	sn__free(m);
}

static const sn__storage_ops memstore_ops = {
	"memstore", ms_append, ms_snapshot, ms_compact, ms_error, ms_close,
};

/* ---- the simulator's controls ------------------------------------------- */

int sn__memstore_open(sn_storage **out)
{
	sn__memstore *m;

	if (!out)
		return sn__err(SN_EINVAL, "memstore: NULL argument");
	m = sn__calloc(1, sizeof *m);
	if (!m)
		return sn__err(SN_ENOMEM, "memstore: out of memory");
	m->base.ops = &memstore_ops;
	sn__wal_model_init(&m->logical);
	sn__wal_model_init(&m->durable);
	*out = &m->base;
	return SN_OK;
}

size_t sn__memstore_pending(const sn_storage *s)
{
	return sn__memstore_is(s) ? ((const sn__memstore *)s)->n_pending : 0;
}

size_t sn__memstore_sync(sn_storage *s, size_t n)
{
	sn__memstore *m = ms_of(s);
	size_t want, done = 0;

	if (!m)
		return 0;
	/* Only what is pending now: writes queued by callbacks wait. */
	want = n < m->n_pending ? n : m->n_pending;
	while (done < want && m->head) {
		ms_write *w = dequeue(m);
		if (m->fail_next) {
			int code = m->fail_next;
			m->fail_next = SN_OK;
			stop(m, w, code, "injected sync failure");
			return done;
		}
		if (apply(m, w) != SN_OK) {
			stop(m, w, SN_ENOMEM, "out of memory applying a write");
			return done;
		}
		m->stats.synced++;
		done++;
		if (w->cb && !w->acked)
			w->cb(w->userdata, SN_OK);
		write_free(w);
	}
	return done;
}

void sn__memstore_crash(sn_storage *s)
{
	sn__memstore *m = ms_of(s);
	ms_write *w;

	if (!m)
		return;
	while ((w = dequeue(m)) != NULL) {
		m->stats.dropped++;
		write_free(w);
	}
	m->fail_next = SN_OK;
	m->err = SN_OK;
	m->errmsg[0] = '\0';
	/* After the restart the caller's view is the disk's. */
	if (sn__wal_model_copy(&m->logical, &m->durable) != SN_OK) {
		/* Out of memory copying the voters: refuse further writes
		 * rather than check them against a wrong model. */
		m->err = SN_ENOMEM;
		snprintf(m->errmsg, sizeof m->errmsg, "out of memory");
	}
}

int sn__memstore_load(sn_storage *s, sn_storage_state *out)
{
	sn__memstore *m = ms_of(s);

	if (!m || !out)
		return sn__err(SN_EINVAL, "memstore: not a memstore");
	memset(out, 0, sizeof *out);
	out->hard_state = m->durable.hs;
	out->has_snapshot = m->durable.has_snapshot;
	if (m->durable.has_snapshot)
		out->snapshot = m->durable.snap;
	out->entries = m->n_dents ? m->dents : NULL;
	out->n_entries = m->n_dents;
	return SN_OK;
}

void sn__memstore_fail(sn_storage *s, int code)
{
	sn__memstore *m = ms_of(s);
	if (m)
		m->fail_next = code ? code : SN_EIO;
}

void sn__memstore_stats_get(const sn_storage *s, sn__memstore_stats *out)
{
	memset(out, 0, sizeof *out);
	if (sn__memstore_is(s))
		*out = ((const sn__memstore *)s)->stats;
}

/* ---- the snapshot store ------------------------------------------------- */

typedef struct ms_snap {
	sn_snapshot_meta *meta; /* with its voters */
	uint8_t *data;
	size_t len, cap;
	size_t synced; /* partial: bytes a crash keeps for sure */
	bool partial;
} ms_snap;

struct sn__memsnap {
	ms_snap *items;
	size_t n, cap;
};

static bool meta_same(const sn_snapshot_meta *a, const sn_snapshot_meta *b)
{
	if (a->index != b->index || a->term != b->term || a->size != b->size ||
	    a->crc != b->crc || a->n_voters != b->n_voters)
		return false;
	return a->n_voters == 0 ||
	       memcmp(a->voters, b->voters, a->n_voters * sizeof(uint64_t)) == 0;
}

static bool older(const sn_snapshot_meta *a, uint64_t index, uint64_t term)
{
	return a->index < index || (a->index == index && a->term < term);
}

static int check_meta(const sn_snapshot_meta *meta)
{
	if (!meta)
		return sn__err(SN_EINVAL, "memsnap: NULL meta");
	if (meta->index == 0)
		return sn__err(SN_EINVAL, "memsnap: index 0");
	if (meta->n_voters && !meta->voters)
		return sn__err(SN_EINVAL, "memsnap: NULL voters");
	if (meta->size > SIZE_MAX)
		return sn__err(SN_ETOOLARGE, "memsnap: size %llu",
			       (unsigned long long)meta->size);
	return SN_OK;
}

static void item_free(ms_snap *it)
{
	sn__free(it->meta);
	sn__free(it->data);
}

static void remove_at(sn__memsnap *ms, size_t i)
{
	item_free(&ms->items[i]);
	ms->items[i] = ms->items[--ms->n];
}

static ms_snap *find(const sn__memsnap *ms, const sn_snapshot_meta *meta,
		     bool partial)
{
	for (size_t i = 0; i < ms->n; i++) {
		ms_snap *it = &ms->items[i];
		if (it->partial != partial)
			continue;
		if (partial ? meta_same(it->meta, meta)
			    : it->meta->index == meta->index &&
				      it->meta->term == meta->term)
			return it;
	}
	return NULL;
}

static ms_snap *add(sn__memsnap *ms, const sn_snapshot_meta *meta, bool partial)
{
	ms_snap *it;
	if (sn__grow((void **)&ms->items, &ms->cap, ms->n + 1,
		     sizeof *ms->items) != SN_OK)
		return NULL;
	it = &ms->items[ms->n];
	memset(it, 0, sizeof *it);
	it->meta = meta_copy(meta);
	if (!it->meta)
		return NULL;
	it->partial = partial;
	ms->n++;
	return it;
}

/* What a committed snapshot file does to its directory. */
static void prune(sn__memsnap *ms, const sn_snapshot_meta *kept)
{
	for (size_t i = ms->n; i-- > 0;) {
		ms_snap *it = &ms->items[i];
		bool stale = it->partial ? it->meta->index <= kept->index
					 : older(it->meta, kept->index,
						 kept->term);
		if (stale)
			remove_at(ms, i);
	}
}

sn__memsnap *sn__memsnap_new(void)
{
	return sn__calloc(1, sizeof(sn__memsnap));
}

void sn__memsnap_free(sn__memsnap *ms)
{
	if (!ms)
		return;
	for (size_t i = 0; i < ms->n; i++)
		item_free(&ms->items[i]);
	sn__free(ms->items);
	sn__free(ms);
}

static int verify(const sn_snapshot_meta *meta, const void *data, size_t len)
{
	uint32_t crc;
	if (len != meta->size)
		return sn__err(SN_ECORRUPT, "memsnap: %zu bytes, expected %llu",
			       len, (unsigned long long)meta->size);
	crc = sn__crc32c(0, data, len);
	if (crc != meta->crc)
		return sn__err(SN_ECORRUPT, "memsnap: CRC32C 0x%08x, expected "
			       "0x%08x", (unsigned)crc, (unsigned)meta->crc);
	return SN_OK;
}

int sn__memsnap_put(sn__memsnap *ms, const sn_snapshot_meta *meta,
		    const void *data, size_t len)
{
	ms_snap *it;
	int rv;

	if (!ms || (!data && len))
		return sn__err(SN_EINVAL, "memsnap: NULL argument");
	rv = check_meta(meta);
	if (rv == SN_OK)
		rv = verify(meta, data, len);
	if (rv != SN_OK)
		return rv;
	it = add(ms, meta, false);
	if (!it)
		return sn__err(SN_ENOMEM, "memsnap: out of memory");
	it->data = len ? sn__malloc(len) : NULL;
	if (len && !it->data) {
		remove_at(ms, ms->n - 1);
		return sn__err(SN_ENOMEM, "memsnap: out of memory");
	}
	if (len)
		memcpy(it->data, data, len);
	it->len = it->cap = len;
	/* The new one is the last item; remove an equal older copy first. */
	for (size_t i = 0; i + 1 < ms->n; i++) {
		ms_snap *o = &ms->items[i];
		if (!o->partial && o->meta->index == meta->index &&
		    o->meta->term == meta->term) {
			remove_at(ms, i);
			break;
		}
	}
	prune(ms, meta);
	return SN_OK;
}

static int out_item(const ms_snap *it, sn_snapshot_meta *meta,
		    const void **data, size_t *len)
{
	if (meta)
		*meta = *it->meta;
	if (data)
		*data = it->data;
	if (len)
		*len = it->len;
	return SN_OK;
}

int sn__memsnap_get(const sn__memsnap *ms, uint64_t index, uint64_t term,
		    sn_snapshot_meta *meta, const void **data, size_t *len)
{
	sn_snapshot_meta key = { index, term, 0, 0, NULL, 0 };
	const ms_snap *it = ms ? find(ms, &key, false) : NULL;

	if (!it)
		return sn__err(SN_ENOTFOUND, "memsnap: no snapshot %llu/%llu",
			       (unsigned long long)index,
			       (unsigned long long)term);
	return out_item(it, meta, data, len);
}

int sn__memsnap_latest(const sn__memsnap *ms, sn_snapshot_meta *meta,
		       const void **data, size_t *len)
{
	const ms_snap *best = NULL;

	for (size_t i = 0; ms && i < ms->n; i++) {
		const ms_snap *it = &ms->items[i];
		if (!it->partial &&
		    (!best || older(best->meta, it->meta->index,
				    it->meta->term)))
			best = it;
	}
	if (!best)
		return sn__err(SN_ENOTFOUND, "memsnap: no snapshot");
	return out_item(best, meta, data, len);
}

int sn__memsnap_write(sn__memsnap *ms, const sn_snapshot_meta *meta,
		      uint64_t offset, const void *data, size_t len)
{
	ms_snap *it;
	int rv;

	if (!ms || (!data && len))
		return sn__err(SN_EINVAL, "memsnap: NULL argument");
	rv = check_meta(meta);
	if (rv != SN_OK)
		return rv;
	it = find(ms, meta, true);
	if (offset == 0 && it)
		it->len = it->synced = 0; /* starts afresh */
	if (offset != (it ? it->len : 0))
		return sn__err(SN_EINVAL, "memsnap: chunk at offset %llu, "
			       "expected %zu", (unsigned long long)offset,
			       it ? it->len : 0);
	if (len > meta->size - offset)
		return sn__err(SN_ETOOLARGE, "memsnap: %zu bytes at offset "
			       "%llu exceed the size %llu", len,
			       (unsigned long long)offset,
			       (unsigned long long)meta->size);
	if (!it && !(it = add(ms, meta, true)))
		return sn__err(SN_ENOMEM, "memsnap: out of memory");
	if (sn__grow((void **)&it->data, &it->cap, it->len + len, 1) != SN_OK)
		return sn__err(SN_ENOMEM, "memsnap: out of memory");
	if (len)
		memcpy(it->data + it->len, data, len);
	it->len += len;
	return SN_OK;
}

uint64_t sn__memsnap_offset(const sn__memsnap *ms, const sn_snapshot_meta *meta)
{
	const ms_snap *it = ms && meta ? find(ms, meta, true) : NULL;
	return it ? it->len : 0;
}

int sn__memsnap_commit(sn__memsnap *ms, const sn_snapshot_meta *meta)
{
	ms_snap *it;
	int rv;

	if (!ms || !meta)
		return sn__err(SN_EINVAL, "memsnap: NULL argument");
	it = find(ms, meta, true);
	if (!it)
		return sn__err(SN_ENOTFOUND, "memsnap: no partial snapshot "
			       "%llu/%llu", (unsigned long long)meta->index,
			       (unsigned long long)meta->term);
	rv = verify(meta, it->data, it->len);
	if (rv != SN_OK) {
		remove_at(ms, (size_t)(it - ms->items));
		return rv;
	}
	/* Drop an existing complete copy, then promote the partial. */
	for (size_t i = 0; i < ms->n; i++) {
		ms_snap *o = &ms->items[i];
		if (!o->partial && o->meta->index == meta->index &&
		    o->meta->term == meta->term) {
			bool moved = ms->n - 1 == (size_t)(it - ms->items);
			remove_at(ms, i);
			if (moved) /* the last item moved into slot i */
				it = &ms->items[i];
			break;
		}
	}
	it->partial = false;
	prune(ms, meta);
	return SN_OK;
}

void sn__memsnap_sync(sn__memsnap *ms)
{
	for (size_t i = 0; ms && i < ms->n; i++)
		ms->items[i].synced = ms->items[i].len;
}

void sn__memsnap_crash(sn__memsnap *ms, uint64_t (*rand)(void *), void *ud)
{
	for (size_t i = ms ? ms->n : 0; i-- > 0;) {
		ms_snap *it = &ms->items[i];
		size_t loose;
		if (!it->partial)
			continue;
		if (rand(ud) % 4 == 0) { /* the file is gone */
			remove_at(ms, i);
			continue;
		}
		loose = it->len - it->synced;
		it->len = it->synced + (size_t)(rand(ud) % (loose + 1));
		if (it->len > it->synced && rand(ud) % 4 == 0)
			/* a block that reached the disk only half */
			it->data[it->synced + (size_t)(rand(ud) %
				 (it->len - it->synced))] ^= 0x5a;
	}
}

int sn__memsnap_partial_latest(const sn__memsnap *ms, sn_snapshot_meta *meta,
			       const void **data, size_t *len)
{
	const ms_snap *best = NULL;

	for (size_t i = 0; ms && i < ms->n; i++) {
		const ms_snap *it = &ms->items[i];
		if (it->partial && (!best || it->meta->index > best->meta->index))
			best = it;
	}
	if (!best)
		return sn__err(SN_ENOTFOUND, "memsnap: no partial snapshot");
	return out_item(best, meta, data, len);
}

void sn__memsnap_drop_partials(sn__memsnap *ms)
{
	for (size_t i = ms ? ms->n : 0; i-- > 0;)
		if (ms->items[i].partial)
			remove_at(ms, i);
}

size_t sn__memsnap_count(const sn__memsnap *ms, bool partial)
{
	size_t c = 0;
	for (size_t i = 0; ms && i < ms->n; i++)
		c += ms->items[i].partial == partial;
	return c;
}
