/*
 * rng.h
 *	  The simulator's only source of randomness: xoshiro256** seeded
 *	  through splitmix64.  Everything a simulated run decides (faults,
 *	  delays, workloads) is drawn from one of these, so a seed replays.
 */
#ifndef ZZ_SIM_RNG_H
#define ZZ_SIM_RNG_H

#include <stdint.h>

typedef struct zz_rng
{
	uint64_t	s[4];
} zz_rng;

/* splitmix64: one step of the seeding generator (also a good mixer). */
static inline uint64_t
zz_splitmix64(uint64_t *x)
{
	uint64_t	z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline void
zz_rng_seed(zz_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = zz_splitmix64(&seed);
}

static inline uint64_t
zz_rng_next(zz_rng *r)
{
	uint64_t   *s = r->s;
	uint64_t	x = s[1] * 5;
	uint64_t	result = ((x << 7) | (x >> 57)) * 9;
	uint64_t	t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = (s[3] << 45) | (s[3] >> 19);
	return result;
}

/* Uniform in [0, n); n > 0.  (Modulo bias is irrelevant at these sizes.) */
static inline uint64_t
zz_rng_below(zz_rng *r, uint64_t n)
{
	return zz_rng_next(r) % n;
}

/* Uniform in [lo, hi]. */
static inline uint64_t
zz_rng_range(zz_rng *r, uint64_t lo, uint64_t hi)
{
	return lo + zz_rng_below(r, hi - lo + 1);
}

/* True with probability ppm / 1,000,000. */
static inline int
zz_rng_chance(zz_rng *r, uint32_t ppm)
{
	return zz_rng_below(r, 1000000) < ppm;
}

#endif							/* ZZ_SIM_RNG_H */
