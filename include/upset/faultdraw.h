/* How the sampling campaigns choose bits: reproducible from (seed, trial) alone,
 * so any rank draws the same bits for a trial. */
#ifndef UPSET_FAULTDRAW_H
#define UPSET_FAULTDRAW_H

#include <stdint.h>

#include "upset/campaign.h"
#include "upset/error.h"
#include "upset/model.h"

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

/* How many cells trial t draws: multibit.flips, or with a radiation environment
 * (cross_section > 0) a Poisson count of mean cross_section * flux * exposure * n_bits from
 * the trial's own stream (independent of the cells' stream), capped at n_bits. */
int64_t multibit_cells(const campaign_t *c, int64_t n_bits, int64_t trial);

/* The bits a trial actually flips under fault model fm, from the n_drawn cells drawn
 * (multibit_draw with protect = NULL) and the protection mask (may be NULL): flip keeps
 * the unprotected cells; stuck_at_0/1 keeps the unprotected cells whose stored bit (in m's
 * fault-free codes) holds the other value; mcu_word flips, per event, the drawn bit and the
 * next mcu_size - 1 bits of its weight toward the LSB (stopping at the LSB); mcu_neighbors
 * the same bit of the drawn weight w and of weights w + s, w + 2s, ... (s = mcu_stride,
 * mcu_size weights in all, kernel C order, stopping at the layer's end); protected bits are skipped, and two events that
 * hit one bit cancel. Writes the bits to out
 * (capacity n_drawn * mcu_size) in order of first touch and returns how many; mark is
 * n_fault_bits bytes of zero scratch, zero again on return. */
int64_t fault_effective(fault_model_t fm, int mcu_size, int64_t mcu_stride, const model_t *m,
                        const unsigned char *protect, const int64_t *drawn, int64_t n_drawn,
                        int64_t *out, unsigned char *mark);

/* Scratch (int64 slots) one trial needs: its drawn cells, then the bits they flip. */
int64_t multibit_scratch(const campaign_t *c, int64_t n_bits);

/* Trial t of campaign c: draws its cells (*cells of them) and returns how many bits its
 * fault model and the protection mask make it flip, at *bits inside scratch. */
int64_t multibit_trial(const campaign_t *c, const model_t *m, const unsigned char *protect,
                       int64_t t, int64_t *scratch, unsigned char *mark, int64_t *cells,
                       const int64_t **bits);

#endif
