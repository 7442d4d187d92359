/* How the sampling campaigns choose bits: reproducible from (seed, trial) alone,
 * so any rank draws the same bits for a trial. */
#ifndef UPSET_FAULTDRAW_H
#define UPSET_FAULTDRAW_H

#include <stdint.h>

#include "upset/campaign.h"
#include "upset/error.h"

/* Multi-bit trial: k distinct bits drawn uniformly from [0, n_bits) with the
 * stream of `trial`; the drawn bits whose protect[] byte is set are dropped (an
 * error-correcting memory would undo them). Writes the kept bits to out (k slots)
 * and returns how many; mark is n_bits bytes of zero scratch, zero again on return.
 * protect may be NULL (nothing protected). */
int64_t multibit_draw(uint64_t seed, int64_t trial, int64_t n_bits, int64_t k,
                      const unsigned char *protect, int64_t *out, unsigned char *mark);

/* The bits a protection policy shields (mask[b] = 1), from an oracle's per-bit error and
 * sensitive flags (unused for none / all): none; all; every sensitive bit; the
 * round(percent/100 * #sensitive) sensitive bits of largest error; or the
 * round(percent/100 * n) bits of largest error among all (ties: lower index first). */
int protection_mask(protection_t policy, double percent, int64_t n, const double *error,
                    const unsigned char *sensitive, unsigned char *mask, int64_t *n_protected,
                    upset_err_t *err);

#endif
