/* Rank correlation: average ranks, Pearson, Spearman (overall and per group). */
#include <math.h>
#include <stdlib.h>

#include "upset/analyze.h"

typedef struct {
    double v;
    int64_t i;
} keyed_t;

static int by_value(const void *a, const void *b)
{
    const keyed_t *x = a, *y = b;
    if (x->v != y->v)
        return x->v < y->v ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

int analyze_average_ranks(const double *v, int64_t n, double *rank, upset_err_t *err)
{
    keyed_t *k = upset_calloc((size_t)n, sizeof *k, err);
    if (!k)
        return -1;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(v[i])) {
            free(k);
            return upset_fail(err, "rank: value %lld is NaN", (long long)i);
        }
        k[i] = (keyed_t){v[i], i};
    }
    qsort(k, (size_t)n, sizeof *k, by_value);
    for (int64_t a = 0; a < n;) {
        int64_t b = a + 1;
        while (b < n && k[b].v == k[a].v)
            b++;
        double mean = 0.5 * (double)(a + 1 + b); /* mean of the 1-based ranks a+1..b */
        for (int64_t j = a; j < b; j++)
            rank[k[j].i] = mean;
        a = b;
    }
    free(k);
    return 0;
}

double analyze_pearson(const double *x, const double *y, int64_t n)
{
    if (n < 2)
        return NAN;
    double mx = 0, my = 0;
    for (int64_t i = 0; i < n; i++) {
        mx += x[i];
        my += y[i];
    }
    mx /= (double)n;
    my /= (double)n;
    double sxy = 0, sxx = 0, syy = 0;
    for (int64_t i = 0; i < n; i++) {
        double dx = x[i] - mx, dy = y[i] - my;
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if (sxx <= 0 || syy <= 0)
        return NAN;
    double r = sxy / sqrt(sxx * syy);
    return r > 1 ? 1 : r < -1 ? -1 : r;
}

int analyze_spearman(const double *x, const double *y, int64_t n, double *rho, upset_err_t *err)
{
    double *rx = upset_calloc((size_t)n, sizeof *rx, err);
    double *ry = rx ? upset_calloc((size_t)n, sizeof *ry, err) : NULL;
    int rc = ry ? 0 : -1;
    if (!rc)
        rc = analyze_average_ranks(x, n, rx, err) || analyze_average_ranks(y, n, ry, err);
    if (!rc)
        *rho = analyze_pearson(rx, ry, n);
    free(rx);
    free(ry);
    return rc ? -1 : 0;
}

int analyze_spearman_groups(const double *x, const double *y, const int32_t *group, int64_t n,
                            int32_t n_groups, double *rho, int64_t *count, upset_err_t *err)
{
    double *gx = upset_calloc((size_t)n, sizeof *gx, err);
    double *gy = gx ? upset_calloc((size_t)n, sizeof *gy, err) : NULL;
    if (!gy) {
        free(gx);
        return -1;
    }
    int rc = 0;
    for (int32_t g = 0; g < n_groups && !rc; g++) {
        int64_t m = 0;
        for (int64_t i = 0; i < n; i++)
            if (group[i] == g) {
                gx[m] = x[i];
                gy[m++] = y[i];
            }
        if (count)
            count[g] = m;
        rc = analyze_spearman(gx, gy, m, &rho[g], err);
    }
    free(gx);
    free(gy);
    return rc;
}
