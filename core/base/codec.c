#include "base.h"

static const uint8_t *take(sn__reader *r, size_t n)
{
	const uint8_t *p;
	if (r->bad || r->left < n) {
		r->bad = true;
		r->left = 0;
		return NULL;
	}
	p = r->p;
	r->p += n;
	r->left -= n;
	return p;
}

uint8_t sn__get_u8(sn__reader *r)
{
	const uint8_t *p = take(r, 1);
	return p ? p[0] : 0;
}

uint32_t sn__get_u32(sn__reader *r)
{
	const uint8_t *p = take(r, 4);
	uint32_t v = 0;
	if (p)
		for (int i = 3; i >= 0; i--)
			v = (v << 8) | p[i];
	return v;
}

uint64_t sn__get_u64(sn__reader *r)
{
	const uint8_t *p = take(r, 8);
	uint64_t v = 0;
	if (p)
		for (int i = 7; i >= 0; i--)
			v = (v << 8) | p[i];
	return v;
}

const void *sn__get_bytes(sn__reader *r, size_t n)
{
	return take(r, n);
}

uint8_t *sn__put_u8(uint8_t *p, uint8_t v)
{
	*p = v;
	return p + 1;
}

uint8_t *sn__put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	return p + 4;
}

uint8_t *sn__put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	return p + 8;
}

uint64_t sn__splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}
