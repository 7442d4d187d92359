/* Rank-affine hand-out with stealing (see include/upset/handout.h). */
#include "upset/handout.h"

#include <stdlib.h>

int handout_init(handout_t *h, int n_ranks, int64_t n_items, const unsigned char *done,
                 upset_err_t *err)
{
    *h = (handout_t){.n_ranks = n_ranks, .n_items = n_items, .done = done};
    h->lo = upset_calloc((size_t)n_ranks, sizeof *h->lo, err);
    h->hi = upset_calloc((size_t)n_ranks, sizeof *h->hi, err);
    if (!h->lo || !h->hi) {
        handout_free(h);
        return -1;
    }
    for (int64_t i = 0; i < n_items; i++)
        h->n_left += !done[i];
    /* rank r's range ends where (r + 1) / n_ranks of the items to do have passed, done
     * items after them included (so the last range ends at n_items) */
    int64_t i = 0, seen = 0;
    for (int r = 0; r < n_ranks; r++) {
        const int64_t upto = h->n_left * (r + 1) / n_ranks;
        h->lo[r] = i;
        while (i < n_items && (seen < upto || done[i]))
            seen += !done[i++];
        h->hi[r] = i;
    }
    return 0;
}

void handout_free(handout_t *h)
{
    free(h->lo);
    free(h->hi);
    h->lo = h->hi = NULL;
}

int handout_next(handout_t *h, int r)
{
    int how = HANDOUT_OWN;
    for (;;) {
        while (h->lo[r] < h->hi[r] && h->done[h->lo[r]])
            h->lo[r]++;
        if (h->lo[r] < h->hi[r])
            return how;
        if (h->n_left == 0)
            return HANDOUT_NONE;
        int v = -1;
        for (int k = 0; k < h->n_ranks; k++)
            if (h->hi[k] > h->lo[k] && (v < 0 || h->hi[k] - h->lo[k] > h->hi[v] - h->lo[v]))
                v = k;
        if (v < 0)
            return HANDOUT_NONE;
        /* the back half (all of a one-item range), so the owner goes on undisturbed */
        const int64_t mid = h->lo[v] + (h->hi[v] - h->lo[v]) / 2;
        h->lo[r] = mid;
        h->hi[r] = h->hi[v];
        h->hi[v] = mid;
        h->n_steals++;
        how = HANDOUT_STOLEN;
    }
}

double handout_seconds_left(const handout_t *h, const double *per_item, double avg_rate)
{
    double known = 0, sum = 0;
    int n_known = 0;
    for (int r = 0; r < h->n_ranks; r++)
        if (per_item[r] > 0)
            known += per_item[r], n_known++;
    if (n_known == 0)
        return avg_rate > 0 ? (double)h->n_left / avg_rate : -1;
    for (int r = 0; r < h->n_ranks; r++)
        sum += (double)(h->hi[r] - h->lo[r]) * (per_item[r] > 0 ? per_item[r] : known / n_known);
    return sum / h->n_ranks;
}

int64_t handout_take(handout_t *h, int r, int64_t want, int64_t *first)
{
    int64_t n = 0;
    *first = h->lo[r];
    while (n < want && h->lo[r] < h->hi[r] && !h->done[h->lo[r]]) {
        h->lo[r]++;
        n++;
    }
    h->n_left -= n;
    return n;
}
