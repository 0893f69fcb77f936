/*
 * The simulator's generators: xoshiro256** streams seeded through
 * splitmix64. Never libc rand(): a seed must replay bit for bit on any
 * platform, and each concern (network, disk, faults, clients, each engine)
 * draws from its own stream so that adding a draw in one does not reshuffle
 * the others.
 */
#include "sim.h"

uint64_t sim_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

void sim_rng_seed(sim_rng *r, uint64_t seed, uint64_t stream)
{
	uint64_t x = sim_mix(seed) ^ sim_mix(stream * 0x632be59bd9b4e019ull);

	for (int i = 0; i < 4; i++) {
		x = sim_mix(x + (uint64_t)i);
		r->s[i] = x;
	}
	if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3]))
		r->s[0] = 1; /* the all-zero state is a fixed point */
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t sim_rng_next(sim_rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

uint64_t sim_rng_below(sim_rng *r, uint64_t n)
{
	/* The modulo bias is irrelevant for n far below 2^64. */
	return n ? sim_rng_next(r) % n : 0;
}

uint64_t sim_rng_range(sim_rng *r, uint64_t lo, uint64_t hi)
{
	return lo + sim_rng_below(r, hi - lo + 1);
}

bool sim_rng_chance(sim_rng *r, unsigned per_mille)
{
	return sim_rng_below(r, 1000) < per_mille;
}
