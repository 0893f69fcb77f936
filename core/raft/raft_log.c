/* The Raft log in memory: entries after `offset` (what a snapshot or a
 * compaction dropped lies before it), each owning a copy of its data.
 * Dropped entries keep their data alive until the next advance, because a
 * ready handed out earlier may still point at it. */
#include "raft_impl.h"

uint64_t sn__log_last(const sn__raft_log *l)
{
	return l->offset + l->n;
}

uint64_t sn__log_term(const sn__raft_log *l, uint64_t index)
{
	if (index == l->offset)
		return l->offset_term;
	if (index < l->offset || index > sn__log_last(l))
		return 0;
	return l->ents[index - l->offset - 1].term;
}

const sn_entry *sn__log_at(const sn__raft_log *l, uint64_t index)
{
	if (index <= l->offset || index > sn__log_last(l))
		return NULL;
	return &l->ents[index - l->offset - 1];
}

int sn__log_append(sn__raft_log *l, uint64_t term, uint32_t type,
		   const void *data, size_t len)
{
	void *copy = NULL;
	int rv = sn__grow((void **)&l->ents, &l->cap, l->n + 1, sizeof *l->ents);

	if (rv)
		return rv;
	if (len) {
		copy = sn__malloc(len);
		if (!copy)
			return sn__err(SN_ENOMEM, "raft log: no memory");
		memcpy(copy, data, len);
	}
	l->ents[l->n] = (sn_entry){ sn__log_last(l) + 1, term, type, copy, len };
	l->n++;
	return SN_OK;
}

/* Keep the data of entries [from, to] alive until the next advance. */
static void bury(sn__raft_log *l, uint64_t from, uint64_t to)
{
	for (uint64_t i = from; i <= to; i++) {
		void *data = (void *)sn__log_at(l, i)->data;
		if (!data)
			continue;
		/* On allocation failure free now: only a live ready can
		 * point here, and that is the caller's protocol breach. */
		if (sn__grow((void **)&l->grave, &l->cap_grave, l->n_grave + 1,
			     sizeof *l->grave))
			sn__free(data);
		else
			l->grave[l->n_grave++] = data;
	}
}

void sn__log_truncate(sn__raft_log *l, uint64_t from)
{
	if (from <= l->offset || from > sn__log_last(l))
		return;
	bury(l, from, sn__log_last(l));
	l->n = from - l->offset - 1;
	if (l->unstable > from)
		l->unstable = from;
	if (l->persisted >= from)
		l->persisted = from - 1;
}

void sn__log_compact(sn__raft_log *l, uint64_t upto)
{
	size_t k;

	if (upto <= l->offset || upto > sn__log_last(l))
		return;
	k = (size_t)(upto - l->offset);
	l->offset_term = sn__log_term(l, upto);
	bury(l, l->offset + 1, upto);
	memmove(l->ents, l->ents + k, (l->n - k) * sizeof *l->ents);
	l->n -= k;
	l->offset = upto;
}

void sn__log_reset(sn__raft_log *l, uint64_t index, uint64_t term)
{
	if (l->n)
		bury(l, l->offset + 1, sn__log_last(l));
	l->n = 0;
	l->offset = index;
	l->offset_term = term;
	l->unstable = index + 1;
	/* Nothing after the reset is durable until the caller reports the
	 * install: keep `persisted` below the new offset. */
	l->persisted = index ? index - 1 : 0;
}

void sn__log_bury(sn__raft_log *l)
{
	for (size_t i = 0; i < l->n_grave; i++)
		sn__free(l->grave[i]);
	l->n_grave = 0;
}

void sn__log_free(sn__raft_log *l)
{
	sn__log_bury(l);
	for (size_t i = 0; i < l->n; i++)
		sn__free((void *)l->ents[i].data);
	sn__free(l->ents);
	sn__free(l->grave);
	memset(l, 0, sizeof *l);
}
