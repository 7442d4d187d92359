/* Which items each rank computes next (the scheduler's hand-out policy, without MPI).
 *
 * Every rank owns a contiguous range of the items and takes its chunks from the front
 * of it, so a rank works through consecutive items as a one-rank run would. A rank
 * whose range is used up takes the back half of the largest range left, which
 * balances the end of a run. Consecutive items share cached state (a campaign's work
 * order puts the bits that feed one output together, and the injector memoises per
 * sample what their flips lead to), so handing each rank a stream of its own keeps
 * what one rank computed useful to its next chunk, whatever the rank count.
 *
 * Items whose done flag is set when the hand-out starts (a resumed run's) are skipped;
 * a handed-out item leaves every range, so no item is handed out twice. */
#ifndef UPSET_HANDOUT_H
#define UPSET_HANDOUT_H

#include <stdint.h>

#include "upset/error.h"

typedef struct {
    int n_ranks;
    int64_t n_items;
    const unsigned char *done; /* done before the hand-out: skipped */
    int64_t *lo, *hi;          /* per rank: its items not yet handed out, [lo, hi) */
    int64_t n_left;            /* items neither done nor handed out */
    int64_t n_steals;
} handout_t;

enum { HANDOUT_NONE, HANDOUT_OWN, HANDOUT_STOLEN };

/* Splits the items not done into n_ranks ranges of (nearly) equal counts. */
int handout_init(handout_t *h, int n_ranks, int64_t n_items, const unsigned char *done,
                 upset_err_t *err);
void handout_free(handout_t *h);

/* Makes rank r's range start at an item to hand out, taking the back half of the
 * largest range when r's own is used up. HANDOUT_OWN: r goes on where it was;
 * HANDOUT_STOLEN: r starts on another part of the items (what it measured no longer
 * predicts them); HANDOUT_NONE: every item is handed out. */
int handout_next(handout_t *h, int r);

/* After handout_next said OWN or STOLEN: the next run of rank r's range, at most want
 * (>= 1) items, consecutive and none done. Returns the count; *first, the first item. */
int64_t handout_take(handout_t *h, int r, int64_t want, int64_t *first);

/* The ETA: each rank's range still to hand out at that rank's own seconds per item
 * (per_item[r], 0 = not measured: the mean of those measured), shared among the ranks.
 * Items along the work order cost alike, while a run's average rate mixes regions that
 * do not (one rank racing through cheap dense bits while another is on convolution
 * bits). Where no rank has measured, the items left at avg_rate items/s; -1 when that
 * is 0 too. */
double handout_seconds_left(const handout_t *h, const double *per_item, double avg_rate);

#endif
