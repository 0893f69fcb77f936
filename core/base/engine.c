/* The public sn_engine_* functions: dispatch to the protocol's table. */
#include "engine_impl.h"

void sn_engine_free(sn_engine *e)
{
	if (e)
		e->ops->destroy(e);
}

const char *sn_engine_name(const sn_engine *e)
{
	return e->ops->name;
}

int sn_engine_step(sn_engine *e, const sn_message *m)
{
	if (!m || (m->len && !m->data))
		return sn__err(SN_EINVAL, "sn_engine_step: no message");
	return e->ops->step(e, m);
}

void sn_engine_tick(sn_engine *e)
{
	e->ops->tick(e);
}

int sn_engine_propose(uint64_t *index_out, sn_engine *e, const void *data,
		      size_t len)
{
	if (len && !data)
		return sn__err(SN_EINVAL, "sn_engine_propose: NULL data");
	return e->ops->propose(e, index_out, data, len);
}

int sn_engine_read_index(sn_engine *e, uint64_t ctx)
{
	return e->ops->read_index(e, ctx);
}

int sn_engine_transfer_leader(sn_engine *e, uint64_t to)
{
	if (!e->ops->transfer_leader)
		return sn__err(SN_ENOTSUP, "%s: no leader transfer",
			       e->ops->name);
	return e->ops->transfer_leader(e, to);
}

int sn_engine_campaign(sn_engine *e)
{
	return e->ops->campaign(e);
}

int sn_engine_has_ready(const sn_engine *e)
{
	return e->ops->has_ready(e);
}

int sn_engine_ready(sn_engine *e, sn_ready *rd)
{
	return e->ops->ready(e, rd);
}

void sn_engine_advance(sn_engine *e)
{
	e->ops->advance(e);
}

void sn_engine_persisted(sn_engine *e, uint64_t index, uint64_t term)
{
	e->ops->persisted(e, index, term);
}

int sn_engine_snapshot_taken(sn_engine *e, const sn_snapshot_meta *meta)
{
	if (!meta || (meta->n_voters && !meta->voters))
		return sn__err(SN_EINVAL, "sn_engine_snapshot_taken: no meta");
	return e->ops->snapshot_taken(e, meta);
}

int sn_engine_compact(sn_engine *e, uint64_t index)
{
	return e->ops->compact(e, index);
}

void sn_engine_get_status(sn_engine_status *out, const sn_engine *e)
{
	e->ops->status(e, out);
}
