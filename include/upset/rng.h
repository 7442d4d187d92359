/* Counter-based random numbers: every value is a pure function of
 * (seed, stream, counter), so results never depend on which rank drew them or
 * in which order. The mixer is SplitMix64's finaliser applied to a combination
 * of the three words (Steele, Lea & Flood 2014). */
#ifndef UPSET_RNG_H
#define UPSET_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t seed, stream, counter;
} rng_t;

static inline rng_t rng_make(uint64_t seed, uint64_t stream)
{
    rng_t r = {seed, stream, 0};
    return r;
}

uint64_t rng_next(rng_t *r);
/* Uniform in [0, n), n > 0, without modulo bias. */
uint64_t rng_below(rng_t *r, uint64_t n);
/* Uniform double in [0, 1). */
double rng_uniform(rng_t *r);

/* A Poisson(lambda) count, lambda in [0, 1e9]: Knuth's product of uniforms below 10,
 * Hormann's transformed rejection (PTRS, 1993) above. */
int64_t rng_poisson(rng_t *r, double lambda);

/* k distinct values drawn uniformly from [0, n) into out (Floyd's algorithm;
 * mark is scratch of n bytes, all zero on entry and on return). */
void rng_distinct(rng_t *r, int64_t n, int64_t k, int64_t *out, unsigned char *mark);

#endif
