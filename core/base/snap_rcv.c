/* The receiving side of the chunked snapshot transfer (snap_rcv.h). */
#include "snap_rcv.h"

int sn__snap_meta_copy(sn_snapshot_meta *dst, uint64_t **voters,
		       const sn_snapshot_meta *src)
{
	uint64_t *v = NULL;

	if (src->n_voters) {
		v = sn__calloc(src->n_voters, sizeof *v);
		if (!v)
			return sn__err(SN_ENOMEM, "no memory for a snapshot's "
				       "voters");
		memcpy(v, src->voters, src->n_voters * sizeof *v);
	}
	sn__free(*voters);
	*voters = v;
	*dst = *src;
	dst->voters = v;
	return SN_OK;
}

static void release(sn_snapshot_chunk *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sn__free((void *)c[i].meta); /* one block: meta, voters, data */
}

/* Queue a chunk: its meta, voters and data in one block. */
static int queue(sn__snap_rcv *r, uint64_t offset, const void *data,
		 size_t len)
{
	size_t vbytes = r->meta.n_voters * sizeof(uint64_t);
	sn_snapshot_meta *meta;
	uint8_t *block;

	if (sn__grow((void **)&r->out, &r->cap_out, r->n_out + 1,
		     sizeof *r->out))
		return SN_ENOMEM;
	block = sn__malloc(sizeof *meta + vbytes + len);
	if (!block)
		return sn__err(SN_ENOMEM, "no memory for a snapshot chunk");
	meta = (sn_snapshot_meta *)block;
	*meta = r->meta;
	meta->voters = vbytes ? (uint64_t *)(block + sizeof *meta) : NULL;
	if (vbytes)
		memcpy(block + sizeof *meta, r->meta.voters, vbytes);
	if (len)
		memcpy(block + sizeof *meta + vbytes, data, len);
	r->out[r->n_out++] = (sn_snapshot_chunk){
		meta, offset, block + sizeof *meta + vbytes, len
	};
	return SN_OK;
}

static bool same(const sn__snap_rcv *r, const sn_snapshot_meta *m)
{
	return r->meta.index == m->index && r->meta.term == m->term &&
	       r->meta.size == m->size && r->meta.crc == m->crc;
}

static int start(sn__snap_rcv *r, const sn_snapshot_meta *m, uint64_t offset,
		 uint32_t crc)
{
	int rv = sn__snap_meta_copy(&r->meta, &r->voters, m);

	if (rv)
		return rv;
	r->offset = offset;
	r->crc = crc;
	return SN_OK;
}

int sn__snap_rcv_chunk(sn__snap_rcv *r, uint64_t commit,
		       const sn_snapshot_meta *m, uint64_t offset,
		       const void *data, size_t len, sn__snap_verdict *v)
{
	*v = (sn__snap_verdict){ 0 };
	if (m->index <= commit) {
		/* We hold all of it already. */
		v->hint = m->size;
		return SN_OK;
	}
	if (!same(r, m)) {
		if (offset != 0) {
			v->reject = true; /* start from the beginning */
			return SN_OK;
		}
		if (start(r, m, 0, 0))
			return SN_ENOMEM;
	}
	v->after_persist = true;
	if (offset != r->offset) {
		/* A gap or a duplicate: say where to continue. */
		v->reject = true;
		v->hint = r->offset;
		return SN_OK;
	}
	if (queue(r, offset, data, len))
		return SN_ENOMEM;
	r->offset += len;
	r->crc = sn__crc32c(r->crc, data, len);
	v->hint = r->offset;
	if (r->offset < m->size)
		return SN_OK;
	if (r->crc != m->crc) {
		r->meta.index = 0;
		v->crc_failed = v->reject = true;
		v->hint = 0;
		return SN_OK;
	}
	v->install = true;
	return SN_OK;
}

int sn__snap_rcv_resume(sn__snap_rcv *r, uint64_t commit,
			const sn_snapshot_meta *m, uint64_t offset,
			uint32_t crc)
{
	if (!m || m->index <= commit || offset >= m->size)
		return SN_OK; /* nothing to resume: a transfer starts at 0 */
	return start(r, m, offset, crc);
}

void sn__snap_rcv_ready(sn__snap_rcv *r, const sn_snapshot_chunk **chunks,
			size_t *n)
{
	sn_snapshot_chunk *c = r->rd;
	size_t cap = r->cap_rd;

	release(r->rd, r->n_rd);
	r->rd = r->out;
	r->cap_rd = r->cap_out;
	r->n_rd = r->n_out;
	r->out = c;
	r->cap_out = cap;
	r->n_out = 0;
	*chunks = r->rd;
	*n = r->n_rd;
}

void sn__snap_rcv_advance(sn__snap_rcv *r)
{
	release(r->rd, r->n_rd);
	r->n_rd = 0;
}

void sn__snap_rcv_free(sn__snap_rcv *r)
{
	sn__free(r->voters);
	release(r->out, r->n_out);
	release(r->rd, r->n_rd);
	sn__free(r->out);
	sn__free(r->rd);
	memset(r, 0, sizeof *r);
}
