#include "upset/order.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    double v;
    int64_t i;
} keyed_t;

static int by_value_desc(const void *a, const void *b)
{
    const keyed_t *x = a, *y = b;
    if (x->v != y->v)
        return x->v > y->v ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

int order_by_key_desc(const double *key, int64_t *idx, int64_t n, upset_err_t *err)
{
    keyed_t *k = upset_calloc(n > 0 ? (size_t)n : 1, sizeof *k, err);
    if (!k)
        return -1;
    for (int64_t j = 0; j < n; j++) {
        if (isnan(key[idx[j]])) {
            free(k);
            return upset_fail(err, "the error of bit %lld is NaN: it cannot be ordered",
                              (long long)idx[j]);
        }
        k[j] = (keyed_t){key[idx[j]], idx[j]};
    }
    qsort(k, (size_t)n, sizeof *k, by_value_desc);
    for (int64_t j = 0; j < n; j++)
        idx[j] = k[j].i;
    free(k);
    return 0;
}

int order_all_by_key_desc(const double *key, int64_t n, int64_t *order, upset_err_t *err)
{
    for (int64_t j = 0; j < n; j++)
        order[j] = j;
    return order_by_key_desc(key, order, n, err);
}
