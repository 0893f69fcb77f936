/*
 * What the WAL's records mean. One set of rules serves the writer (which
 * refuses an append that replay could not accept), recovery (which replays
 * records with it) and the storage thread (which writes checkpoints from
 * it), so the three can never disagree.
 */
#include "wal_impl.h"

void sn__wal_model_init(sn__wal_model *m)
{
	memset(m, 0, sizeof *m);
	m->first = 1; /* empty, next index 1 */
}

void sn__wal_model_free(sn__wal_model *m)
{
	sn__free(m->voters);
	sn__wal_model_init(m);
}

void sn__wal_model_start(sn__wal_model *m, const sn__wal_checkpoint *cp)
{
	m->last = cp->last_index;
	m->last_term = cp->last_term;
	m->first = m->last + 1;
}

static bool empty(const sn__wal_model *m)
{
	return m->first == m->last + 1;
}

int sn__wal_model_check_replayed(const sn__wal_model *m, uint64_t index)
{
	if (index == 0)
		return sn__err(SN_EINVAL, "entry index 0");
	if (m->has_snapshot && index <= m->snap.index)
		return sn__err(SN_EINVAL, "entry %llu is covered by the "
			       "snapshot at %llu", (unsigned long long)index,
			       (unsigned long long)m->snap.index);
	if (index > m->last + 1)
		return sn__err(SN_EINVAL, "entry %llu leaves a gap after %llu",
			       (unsigned long long)index,
			       (unsigned long long)m->last);
	return SN_OK;
}

int sn__wal_model_check_entry(const sn__wal_model *m, uint64_t index)
{
	int rc = sn__wal_model_check_replayed(m, index);

	if (rc == SN_OK && !empty(m) && index < m->first)
		return sn__err(SN_EINVAL, "entry %llu precedes the log's first "
			       "index %llu", (unsigned long long)index,
			       (unsigned long long)m->first);
	return rc;
}

void sn__wal_model_entries(sn__wal_model *m, uint64_t first_index,
			   uint64_t last_index, uint64_t last_term)
{
	if (empty(m) || first_index < m->first)
		m->first = first_index;
	m->last = last_index;
	m->last_term = last_term;
}

int sn__wal_model_check_snapshot(const sn__wal_model *m,
				 const sn_snapshot_meta *meta, bool reset)
{
	if (meta->index == 0)
		return sn__err(SN_EINVAL, "snapshot index 0");
	if (meta->n_voters > SN__WAL_MAX_VOTERS)
		return sn__err(SN_EINVAL, "snapshot with %zu voters (at most "
			       "%u)", meta->n_voters, SN__WAL_MAX_VOTERS);
	if (m->has_snapshot && meta->index < m->snap.index)
		return sn__err(SN_EINVAL, "snapshot %llu is older than the "
			       "current %llu",
			       (unsigned long long)meta->index,
			       (unsigned long long)m->snap.index);
	if (reset)
		return SN_OK;
	if (meta->index > m->last)
		return sn__err(SN_EINVAL, "snapshot %llu is beyond the log's "
			       "last index %llu",
			       (unsigned long long)meta->index,
			       (unsigned long long)m->last);
	if (meta->index == m->last && meta->term != m->last_term)
		return sn__err(SN_EINVAL, "snapshot %llu has term %llu, the "
			       "log's entry there %llu",
			       (unsigned long long)meta->index,
			       (unsigned long long)meta->term,
			       (unsigned long long)m->last_term);
	if (m->has_snapshot && meta->index == m->snap.index &&
	    meta->term != m->snap.term)
		return sn__err(SN_EINVAL, "snapshot %llu has term %llu, the "
			       "current one %llu",
			       (unsigned long long)meta->index,
			       (unsigned long long)meta->term,
			       (unsigned long long)m->snap.term);
	return SN_OK;
}

int sn__wal_model_reserve(sn__wal_model *m, size_t n_voters)
{
	uint64_t *v;

	if (n_voters <= m->voters_cap)
		return SN_OK;
	v = sn__realloc(m->voters, n_voters * sizeof *v);
	if (!v)
		return sn__err(SN_ENOMEM, "out of memory (snapshot voters)");
	m->voters = v;
	m->voters_cap = n_voters;
	if (m->has_snapshot && m->snap.n_voters)
		m->snap.voters = v; /* the array moved */
	return SN_OK;
}

int sn__wal_model_snapshot(sn__wal_model *m, const sn_snapshot_meta *meta,
			   const uint8_t *voters_le, bool reset)
{
	size_t n = meta->n_voters;

	if (sn__wal_model_reserve(m, n))
		return SN_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (meta->voters) {
			m->voters[i] = meta->voters[i];
		} else {
			sn__reader r = { voters_le + 8 * i, 8, false };
			m->voters[i] = sn__get_u64(&r);
		}
	}
	m->snap = *meta;
	m->snap.voters = n ? m->voters : NULL;
	m->has_snapshot = true;
	if (reset) {
		m->last = meta->index;
		m->last_term = meta->term;
		m->first = m->last + 1;
	}
	return SN_OK;
}

int sn__wal_model_copy(sn__wal_model *dst, const sn__wal_model *src)
{
	sn__wal_model_free(dst);
	*dst = *src;
	dst->voters = NULL;
	dst->voters_cap = 0;
	dst->has_snapshot = false;
	memset(&dst->snap, 0, sizeof dst->snap);
	if (!src->has_snapshot)
		return SN_OK;
	return sn__wal_model_snapshot(dst, &src->snap, NULL, false);
}
