/*
 * The acceptor's log in memory: slots after `offset` (what a snapshot or a
 * compaction dropped lies before it), each owning a copy of its value.
 * Unlike Raft's, a slot may be overwritten in the middle of the log while
 * later slots are kept: the storage seam replaces every stored entry from
 * the first one written, so everything from the overwritten slot on is
 * handed out again in the next ready.
 *
 * Durability: a write ending at {index, term} may be reported durable while
 * a later write that overwrote a slot below `index` is still pending, or
 * the same {index, term} may end two writes (a kept tail written again).
 * The log keeps the writes it handed out, in order, so that `persisted` is
 * the prefix that is durable *as held in memory*: through the reported
 * write's last slot, but below the first slot of any write still pending
 * or not yet handed out.
 */
#include "paxos_impl.h"

uint64_t sn__plog_last(const sn__plog *l)
{
	return l->offset + l->n;
}

uint64_t sn__plog_term(const sn__plog *l, uint64_t index)
{
	if (index == l->offset)
		return l->offset_term;
	if (index < l->offset || index > sn__plog_last(l))
		return 0;
	return l->ents[index - l->offset - 1].term;
}

const sn_entry *sn__plog_at(const sn__plog *l, uint64_t index)
{
	if (index <= l->offset || index > sn__plog_last(l))
		return NULL;
	return &l->ents[index - l->offset - 1];
}

static void *copy_data(const void *data, size_t len)
{
	void *copy;

	if (!len)
		return NULL;
	copy = sn__malloc(len);
	if (copy)
		memcpy(copy, data, len);
	return copy;
}

int sn__plog_append(sn__plog *l, uint64_t term, uint32_t type,
		    const void *data, size_t len)
{
	void *copy;
	int rv = sn__grow((void **)&l->ents, &l->cap, l->n + 1, sizeof *l->ents);

	if (rv)
		return rv;
	copy = copy_data(data, len);
	if (len && !copy)
		return sn__err(SN_ENOMEM, "paxos log: no memory");
	l->ents[l->n] = (sn_entry){ sn__plog_last(l) + 1, term, type, copy, len };
	l->n++;
	return SN_OK;
}

/* Keep `data` alive until the next advance: a ready may point at it. */
static void bury_one(sn__plog *l, void *data)
{
	if (!data)
		return;
	/* On allocation failure free now: only a live ready can point here,
	 * and that is the caller's protocol breach. */
	if (sn__grow((void **)&l->grave, &l->cap_grave, l->n_grave + 1,
		     sizeof *l->grave))
		sn__free(data);
	else
		l->grave[l->n_grave++] = data;
}

static void bury(sn__plog *l, uint64_t from, uint64_t to)
{
	for (uint64_t i = from; i <= to; i++)
		bury_one(l, (void *)sn__plog_at(l, i)->data);
}

/* Slots from `from` on differ from what storage holds. */
static void dirty_from(sn__plog *l, uint64_t from)
{
	if (l->unstable > from)
		l->unstable = from;
	if (l->persisted >= from)
		l->persisted = from - 1;
}

int sn__plog_set(sn__plog *l, uint64_t index, uint64_t term, uint32_t type,
		 const void *data, size_t len)
{
	sn_entry *e = (sn_entry *)sn__plog_at(l, index);
	void *copy;

	if (!e)
		return sn__err(SN_EINVAL, "paxos log: no slot %llu",
			       (unsigned long long)index);
	copy = copy_data(data, len);
	if (len && !copy)
		return sn__err(SN_ENOMEM, "paxos log: no memory");
	bury_one(l, (void *)e->data);
	*e = (sn_entry){ index, term, type, copy, len };
	dirty_from(l, index);
	return SN_OK;
}

void sn__plog_truncate(sn__plog *l, uint64_t from)
{
	if (from <= l->offset || from > sn__plog_last(l))
		return;
	bury(l, from, sn__plog_last(l));
	l->n = from - l->offset - 1;
	dirty_from(l, from);
}

void sn__plog_compact(sn__plog *l, uint64_t upto)
{
	size_t k;

	if (upto <= l->offset || upto > sn__plog_last(l))
		return;
	k = (size_t)(upto - l->offset);
	l->offset_term = sn__plog_term(l, upto);
	bury(l, l->offset + 1, upto);
	memmove(l->ents, l->ents + k, (l->n - k) * sizeof *l->ents);
	l->n -= k;
	l->offset = upto;
}

void sn__plog_install(sn__plog *l, uint64_t index, uint64_t term)
{
	if (index < sn__plog_last(l) && index > l->offset) {
		sn__plog_compact(l, index);
	} else if (index >= sn__plog_last(l) || index < l->offset) {
		if (l->n)
			bury(l, l->offset + 1, sn__plog_last(l));
		l->n = 0;
		l->offset = index;
	}
	/* index == offset with entries after it: nothing to drop. */
	l->offset_term = term;
	l->unstable = index + 1;
	/* Nothing is durable until the caller reports the install (and the
	 * kept tail written after it). */
	l->persisted = index ? index - 1 : 0;
	l->n_wq = 0;
}

int sn__plog_handed(sn__plog *l, uint64_t first, uint64_t last,
		    uint64_t term)
{
	int rv = sn__grow((void **)&l->wq, &l->cap_wq, l->n_wq + 1,
			  sizeof *l->wq);

	if (rv)
		return rv;
	l->wq[l->n_wq++] = (sn__pwrite){ first, last, term };
	return SN_OK;
}

bool sn__plog_durable(sn__plog *l, uint64_t index, uint64_t term)
{
	uint64_t upto = index;
	size_t k;

	for (k = 0; k < l->n_wq; k++)
		if (l->wq[k].last == index && l->wq[k].term == term)
			break;
	if (k == l->n_wq)
		return false; /* not a write we handed out (stale) */
	memmove(l->wq, l->wq + k + 1, (l->n_wq - k - 1) * sizeof *l->wq);
	l->n_wq -= k + 1;
	for (size_t i = 0; i < l->n_wq; i++)
		if (l->wq[i].first - 1 < upto)
			upto = l->wq[i].first - 1;
	if (l->unstable - 1 < upto)
		upto = l->unstable - 1;
	if (upto > sn__plog_last(l))
		upto = sn__plog_last(l);
	if (upto <= l->persisted)
		return false;
	l->persisted = upto;
	return true;
}

void sn__plog_bury(sn__plog *l)
{
	for (size_t i = 0; i < l->n_grave; i++)
		sn__free(l->grave[i]);
	l->n_grave = 0;
}

void sn__plog_free(sn__plog *l)
{
	sn__plog_bury(l);
	for (size_t i = 0; i < l->n; i++)
		sn__free((void *)l->ents[i].data);
	sn__free(l->ents);
	sn__free(l->grave);
	sn__free(l->wq);
	memset(l, 0, sizeof *l);
}
