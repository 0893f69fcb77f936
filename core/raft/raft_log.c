/* The Raft log in memory: entries own copies of their data. Replaced
 * entries keep their data alive until the next advance, because a ready
 * handed out earlier may still point at it. */
#include "raft_impl.h"

uint64_t sn__log_last(const sn__raft_log *l)
{
	return l->n;
}

uint64_t sn__log_term(const sn__raft_log *l, uint64_t index)
{
	if (index == 0 || index > l->n)
		return 0;
	return l->ents[index - 1].term;
}

const sn_entry *sn__log_at(const sn__raft_log *l, uint64_t index)
{
	if (index == 0 || index > l->n)
		return NULL;
	return &l->ents[index - 1];
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
	l->ents[l->n] = (sn_entry){ l->n + 1, term, type, copy, len };
	l->n++;
	return SN_OK;
}

void sn__log_truncate(sn__raft_log *l, uint64_t from)
{
	if (from == 0 || from > l->n)
		return;
	for (uint64_t i = from; i <= l->n; i++) {
		void *data = (void *)l->ents[i - 1].data;
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
	l->n = from - 1;
	if (l->unstable > from)
		l->unstable = from;
	if (l->persisted >= from)
		l->persisted = from - 1;
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
