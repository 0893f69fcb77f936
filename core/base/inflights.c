/* The in-flight window of one member (inflights.h). */
#include "inflights.h"

int sn__inflights_init(sn__inflights *f, size_t cap)
{
	*f = (sn__inflights){ 0 };
	f->ring = sn__calloc(cap, sizeof *f->ring);
	if (!f->ring)
		return SN_ENOMEM;
	f->cap = cap;
	return SN_OK;
}

void sn__inflights_free(sn__inflights *f)
{
	sn__free(f->ring);
	*f = (sn__inflights){ 0 };
}

bool sn__inflights_full(const sn__inflights *f, size_t max_bytes)
{
	return f->count >= f->cap || f->bytes >= max_bytes;
}

void sn__inflights_add(sn__inflights *f, uint64_t last, size_t bytes)
{
	size_t slot = (f->start + f->count) % f->cap;

	f->ring[slot] = (sn__inflight){ last, bytes };
	f->count++;
	f->bytes += bytes;
}

void sn__inflights_free_to(sn__inflights *f, uint64_t upto)
{
	while (f->count && f->ring[f->start].last <= upto) {
		f->bytes -= f->ring[f->start].bytes;
		f->start = (f->start + 1) % f->cap;
		f->count--;
	}
}

void sn__inflights_free_first(sn__inflights *f)
{
	sn__inflights_free_to(f, f->ring[f->start].last);
}

void sn__inflights_reset(sn__inflights *f)
{
	f->start = f->count = f->bytes = 0;
}
