/* Outgoing messages and read states of an engine (msgq.h). */
#include "msgq.h"

static void msgq_clear(sn__msgq *q)
{
	for (size_t i = 0; i < q->n; i++)
		sn__free((void *)q->v[i].data);
	q->n = 0;
}

static void msgq_swap(sn__msgq *a, sn__msgq *b)
{
	sn__msgq t = *a;
	*a = *b;
	*b = t;
}

int sn__outbox_msg(sn__outbox *o, bool after_persist, const char *engine,
		   uint64_t group, uint64_t from, uint64_t to, size_t size,
		   uint8_t **buf)
{
	sn__msgq *q = after_persist ? &o->out_after : &o->out;
	int rv;

	rv = sn__grow((void **)&q->v, &q->cap, q->n + 1, sizeof *q->v);
	if (rv)
		return rv;
	*buf = sn__malloc(size);
	if (!*buf)
		return sn__err(SN_ENOMEM, "%s: no memory for a message",
			       engine);
	q->v[q->n++] = (sn_message){ group, from, to, *buf, size };
	return SN_OK;
}

void sn__outbox_read(sn__outbox *o, uint64_t ctx, uint64_t index, int status)
{
	if (sn__grow((void **)&o->reads, &o->cap_reads, o->n_reads + 1,
		     sizeof *o->reads))
		return;
	o->reads[o->n_reads++] = (sn_read_state){ ctx, index, status };
}

bool sn__outbox_pending(const sn__outbox *o)
{
	return o->out.n || o->out_after.n || o->n_reads;
}

void sn__outbox_ready(sn__outbox *o, sn_ready *rd)
{
	sn_read_state *reads = o->reads;
	size_t cap = o->cap_reads;

	msgq_swap(&o->out, &o->rd);
	msgq_swap(&o->out_after, &o->rd_after);
	rd->messages = o->rd.v;
	rd->n_messages = o->rd.n;
	rd->messages_after_persist = o->rd_after.v;
	rd->n_messages_after_persist = o->rd_after.n;

	o->reads = o->rd_reads;
	o->cap_reads = o->cap_rd_reads;
	o->rd_reads = reads;
	o->cap_rd_reads = cap;
	o->n_rd_reads = o->n_reads;
	o->n_reads = 0;
	rd->reads = o->rd_reads;
	rd->n_reads = o->n_rd_reads;
}

void sn__outbox_advance(sn__outbox *o)
{
	msgq_clear(&o->rd);
	msgq_clear(&o->rd_after);
	o->n_rd_reads = 0;
}

void sn__outbox_free(sn__outbox *o)
{
	msgq_clear(&o->out);
	msgq_clear(&o->out_after);
	msgq_clear(&o->rd);
	msgq_clear(&o->rd_after);
	sn__free(o->out.v);
	sn__free(o->out_after.v);
	sn__free(o->rd.v);
	sn__free(o->rd_after.v);
	sn__free(o->reads);
	sn__free(o->rd_reads);
	memset(o, 0, sizeof *o);
}
