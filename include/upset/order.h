/* The one ordering of bits by error that every consumer uses (protection masks, the
 * protection planner, the analysis's oracle-optimal order): largest first, ties by lower
 * index, so every tool ranks the same oracle the same way. */
#ifndef UPSET_ORDER_H
#define UPSET_ORDER_H

#include <stdint.h>

#include "upset/error.h"

/* Sorts the n indices in idx by key[idx] descending, ties by lower index. A NaN key is
 * refused (it has no place in the order). */
int order_by_key_desc(const double *key, int64_t *idx, int64_t n, upset_err_t *err);

/* order = 0 .. n-1 sorted so: every index of key once. */
int order_all_by_key_desc(const double *key, int64_t n, int64_t *order, upset_err_t *err);

#endif
