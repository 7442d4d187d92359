#include "upset/rng.h"

#include <math.h>

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

int64_t rng_poisson(rng_t *r, double lambda)
{
    if (!(lambda > 0))
        return 0;
    if (lambda < 10) { /* multiply uniforms until the product drops below e^-lambda */
        const double limit = exp(-lambda);
        double prod = rng_uniform(r);
        int64_t k = 0;
        while (prod > limit) {
            prod *= rng_uniform(r);
            k++;
        }
        return k;
    }
    const double slam = sqrt(lambda), loglam = log(lambda);
    const double b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
    const double invalpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2);
    for (;;) {
        const double u = rng_uniform(r) - 0.5, v = rng_uniform(r), us = 0.5 - fabs(u);
        const double k = floor((2 * a / us + b) * u + lambda + 0.43);
        if (us >= 0.07 && v <= vr)
            return (int64_t)k;
        if (k < 0 || (us < 0.013 && v > us))
            continue;
        if (log(v) + log(invalpha) - log(a / (us * us) + b) <=
            -lambda + k * loglam - lgamma(k + 1))
            return (int64_t)k;
    }
}
