#include "upset/rng.h"

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t rng_next(rng_t *r)
{
    uint64_t k = mix64(r->seed + 0x9e3779b97f4a7c15ULL);
    k = mix64(k ^ (r->stream * 0xd1b54a32d192ed03ULL));
    return mix64(k ^ (r->counter++ * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL));
}

uint64_t rng_below(rng_t *r, uint64_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n; /* reject the biased tail */
    uint64_t v;
    do
        v = rng_next(r);
    while (v >= limit);
    return v % n;
}

double rng_uniform(rng_t *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

void rng_distinct(rng_t *r, int64_t n, int64_t k, int64_t *out, unsigned char *mark)
{
    int64_t m = 0;
    for (int64_t j = n - k; j < n; j++) {
        int64_t t = (int64_t)rng_below(r, (uint64_t)j + 1);
        int64_t pick = mark[t] ? j : t;
        mark[pick] = 1;
        out[m++] = pick;
    }
    for (int64_t i = 0; i < m; i++)
        mark[out[i]] = 0;
}
