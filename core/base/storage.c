/* The public sn_storage_* functions: check arguments, dispatch. */
#include "storage_impl.h"

static int check_entries(const sn_entry *entries, size_t n)
{
	if (n && !entries)
		return sn__err(SN_EINVAL, "sn_storage_append: NULL entries");
	for (size_t i = 0; i < n; i++) {
		const sn_entry *e = &entries[i];
		if (e->index == 0)
			return sn__err(SN_EINVAL,
				       "sn_storage_append: entry index 0");
		if (i && e->index != entries[i - 1].index + 1)
			return sn__err(SN_EINVAL,
				       "sn_storage_append: index %llu follows "
				       "%llu (not consecutive)",
				       (unsigned long long)e->index,
				       (unsigned long long)entries[i - 1].index);
		if (e->len && !e->data)
			return sn__err(SN_EINVAL,
				       "sn_storage_append: entry %llu has no data",
				       (unsigned long long)e->index);
	}
	return SN_OK;
}

int sn_storage_append(sn_storage *s, const sn_hard_state *hs,
		      const sn_entry *entries, size_t n, sn_storage_cb cb,
		      void *userdata)
{
	int rc;

	if (!s)
		return sn__err(SN_EINVAL, "sn_storage_append: NULL storage");
	rc = check_entries(entries, n);
	if (rc)
		return rc;
	return s->ops->append(s, hs, entries, n, cb, userdata);
}

static int snapshot(sn_storage *s, const sn_snapshot_meta *meta, bool reset,
		    sn_storage_cb cb, void *userdata)
{
	const char *fn = reset ? "sn_storage_install" : "sn_storage_snapshot";

	if (!s || !meta)
		return sn__err(SN_EINVAL, "%s: NULL argument", fn);
	if (meta->index == 0)
		return sn__err(SN_EINVAL, "%s: index 0", fn);
	if (meta->n_voters && !meta->voters)
		return sn__err(SN_EINVAL, "%s: NULL voters", fn);
	return s->ops->snapshot(s, meta, reset, cb, userdata);
}

int sn_storage_install(sn_storage *s, const sn_snapshot_meta *meta,
		       sn_storage_cb cb, void *userdata)
{
	return snapshot(s, meta, true, cb, userdata);
}

int sn_storage_snapshot(sn_storage *s, const sn_snapshot_meta *meta,
			sn_storage_cb cb, void *userdata)
{
	return snapshot(s, meta, false, cb, userdata);
}

int sn_storage_compact(sn_storage *s, uint64_t index)
{
	if (!s)
		return sn__err(SN_EINVAL, "sn_storage_compact: NULL storage");
	return s->ops->compact(s, index);
}

int sn_storage_error(sn_storage *s, char *buf, size_t len)
{
	if (!s)
		return sn__err(SN_EINVAL, "sn_storage_error: NULL storage");
	return s->ops->error(s, buf, len);
}

void sn_storage_close(sn_storage *s)
{
	if (s)
		s->ops->close(s);
}
