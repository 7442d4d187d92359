/* Discovery curves: the oracle-optimal order, cumulative error vs flips, flips
 * needed to find the top k percent of sensitive bits, per-group tallies and
 * BinFI's discovery times. */
#include <math.h>
#include <stdlib.h>

#include "upset/analyze.h"
#include "upset/order.h"

int analyze_order_by_error(const double *error, int64_t n, int64_t *order, upset_err_t *err)
{
    return order_all_by_key_desc(error, n, order, err);
}

int analyze_cumulative(const int64_t *cost, const double *err, int64_t n, int64_t n_cost,
                       double *out, upset_err_t *e)
{
    for (int64_t c = 0; c < n_cost; c++)
        out[c] = 0;
    for (int64_t i = 0; i < n; i++) {
        if (cost[i] < 1)
            return upset_fail(e, "cumulative: event %lld has cost %lld (< 1)", (long long)i,
                              (long long)cost[i]);
        if (cost[i] <= n_cost)
            out[cost[i] - 1] += err[i];
    }
    for (int64_t c = 1; c < n_cost; c++)
        out[c] += out[c - 1];
    return 0;
}

int64_t analyze_topk_target(int64_t n_sensitive, int k)
{
    return (k * n_sensitive + 99) / 100;
}

/* A sensitive bit: its error and when the method finds it (INT64_MAX: never). */
typedef struct {
    double error;
    int64_t found;
} target_t;

static int by_error_then_found(const void *a, const void *b)
{
    const target_t *x = a, *y = b;
    if (x->error != y->error)
        return x->error > y->error ? -1 : 1;
    return (x->found > y->found) - (x->found < y->found);
}

int analyze_topk(const double *error, const int8_t *sensitive, const int64_t *found, int64_t n,
                 int64_t *needed, upset_err_t *err)
{
    int64_t s = 0;
    for (int64_t i = 0; i < n; i++)
        s += sensitive[i] != 0;
    target_t *t = upset_calloc((size_t)s, sizeof *t, err);
    /* before[j]: latest discovery among targets 0..j-1 (all must be found) */
    int64_t *before = t ? upset_calloc((size_t)s + 1, sizeof *before, err) : NULL;
    /* group_start[j]: first target with the same error as target j */
    int64_t *group_start = before ? upset_calloc((size_t)s, sizeof *group_start, err) : NULL;
    if (!group_start) {
        free(t);
        free(before);
        return -1;
    }
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (sensitive[i]) {
            if (isnan(error[i])) {
                free(t);
                free(before);
                free(group_start);
                return upset_fail(err, "top-k: error %lld is NaN", (long long)i);
            }
            t[m++] = (target_t){error[i], found[i] < 1 ? INT64_MAX : found[i]};
        }
    /* Within a tie the method gets to count its earliest finds first. */
    qsort(t, (size_t)s, sizeof *t, by_error_then_found);
    before[0] = 0;
    for (int64_t j = 0; j < s; j++) {
        before[j + 1] = t[j].found > before[j] ? t[j].found : before[j];
        group_start[j] = j > 0 && t[j].error == t[j - 1].error ? group_start[j - 1] : j;
    }
    for (int k = 1; k <= ANALYZE_TOPK; k++) {
        int64_t want = analyze_topk_target(s, k);
        if (want == 0) {
            needed[k - 1] = 0;
            continue;
        }
        /* every strictly larger error, then the want-th target within the tie */
        int64_t a = group_start[want - 1];
        int64_t c = before[a] > t[want - 1].found ? before[a] : t[want - 1].found;
        needed[k - 1] = c == INT64_MAX ? -1 : c;
    }
    free(t);
    free(before);
    free(group_start);
    return 0;
}

int analyze_group_counts(const int32_t *group, const int8_t *sensitive, const double *error,
                         int64_t n, int32_t n_groups, int64_t *n_bits, int64_t *n_sensitive,
                         double *err_sum, upset_err_t *e)
{
    for (int32_t g = 0; g < n_groups; g++) {
        if (n_bits)
            n_bits[g] = 0;
        if (n_sensitive)
            n_sensitive[g] = 0;
        if (err_sum)
            err_sum[g] = 0;
    }
    for (int64_t i = 0; i < n; i++) {
        int32_t g = group[i];
        if (g < 0 || g >= n_groups)
            return upset_fail(e, "group counts: bit %lld is in group %d, outside [0, %d)",
                              (long long)i, g, n_groups);
        if (n_bits)
            n_bits[g]++;
        if (n_sensitive)
            n_sensitive[g] += sensitive[i] != 0;
        if (err_sum)
            err_sum[g] += error[i];
    }
    return 0;
}

/* BinFI records ordered by weight, then by bit position, least significant first. */
static const int64_t *sort_weight;
static const int32_t *sort_pos;
static int by_weight_pos_desc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    if (sort_weight[x] != sort_weight[y])
        return sort_weight[x] < sort_weight[y] ? -1 : 1;
    return sort_pos[y] - sort_pos[x];
}

int analyze_binfi_found(const int64_t *weight_key, const int32_t *bit_pos, const int8_t *flipped,
                        const int64_t *flip_order, const int8_t *sensitive, int64_t n,
                        int actual_only, int64_t *found, upset_err_t *err)
{
    int64_t *idx = upset_calloc((size_t)n, sizeof *idx, err);
    if (!idx)
        return -1;
    for (int64_t i = 0; i < n; i++) {
        idx[i] = i;
        if (flipped[i] && flip_order[i] < 0) {
            free(idx);
            return upset_fail(err, "binfi: record %lld is flipped but has flip_order %lld",
                              (long long)i, (long long)flip_order[i]);
        }
    }
    sort_weight = weight_key;
    sort_pos = bit_pos;
    qsort(idx, (size_t)n, sizeof *idx, by_weight_pos_desc);
    /* Walk each weight from its LSB up: `earliest` is the first sensitive flip so far,
     * i.e. at a less significant position than the current one. */
    int64_t earliest = INT64_MAX;
    for (int64_t j = 0; j < n; j++) {
        int64_t i = idx[j];
        if (j == 0 || weight_key[i] != weight_key[idx[j - 1]])
            earliest = INT64_MAX;
        if (flipped[i]) {
            found[i] = flip_order[i] + 1;
            if (sensitive[i] && found[i] < earliest)
                earliest = found[i];
        } else {
            found[i] = !actual_only && sensitive[i] && earliest != INT64_MAX ? earliest : -1;
        }
    }
    free(idx);
    return 0;
}

int64_t analyze_curve_points(int64_t n, int64_t *x)
{
    int64_t m = 0;
    for (int64_t v = 1; v <= n;) {
        if (x)
            x[m] = v;
        m++;
        if (v == n)
            break;
        int64_t next = v < 1000 ? v + 1 : v + (v + 199) / 200; /* +0.5 %, at least 1 */
        v = next > n ? n : next;
    }
    return m;
}
