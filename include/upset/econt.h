/* ECON-T / HGCal geometry and task metrics: the 48 trigger cells of one sensor,
 * their 8x8 arrangement as the autoencoder sees it, the EMD between input and
 * reconstruction, and the telescope loss the models were trained with.
 * Tables are transcribed from the Ecoder reference code (data/reference/econt_geometry.txt,
 * which tests/check_econt.c compares against these compiled-in copies). */
#ifndef UPSET_ECONT_H
#define UPSET_ECONT_H

#include "upset/emd.h"
#include "upset/error.h"

#define ECONT_CELLS 48

/* What EMD means when the input or the reconstruction sums to zero (no defined
 * unit-mass histogram):
 *   UNIFORM   - a zero-sum side is taken as the uniform histogram over the 48 cells, so a
 *               fault that kills the output is penalised (both zero: 0).
 *   REFERENCE - the reference code's -0.5, which rewards such a fault; compatibility only. */
enum { ECONT_ZERO_UNIFORM = 0, ECONT_ZERO_REFERENCE = 1 };

/* Cell centres (x, y) and the ground distance in cell pitches (48 x 48, row-major). */
const double *econt_hex_coords(void);
const double *econt_ground_distance(void);

/* Arrangement: pixel p of the 8x8 input takes cell arrange[p] (masked pixels are 0);
 * cell i of an 8x8 output is read back from pixel remap[i]. */
void econt_8x8_from_cells(const double *cells, double *img);
void econt_cells_from_8x8(const double *img, double *cells);
const int *econt_arrange_8x8(void);
const int *econt_arr_mask_8x8(void);
const int *econt_remap_8x8(void);

/* EMD between two 48-cell charge vectors, each normalised to unit sum; negative
 * values are refused. ws is a workspace of at least 48 x 48. */
int econt_emd(emd_workspace_t *ws, const double *in, const double *out, int zero_rule,
              double *emd, upset_err_t *err);

/* The same, warm-started from `start` (a basis saved by an earlier call on the same
 * sample, e.g. its fault-free solution; NULL or empty: cold) and saving the optimal
 * basis to basis_out when not NULL. Equal to the cold result to ~1e-13 relative, and a
 * pure function of (start, in, out), so results never depend on call order. A sample with
 * no transport problem (both sides zero, or a zero side under REFERENCE) saves a basis of
 * 48 x 48 cells without arcs, and a start without arcs gives the cold solve. */
int econt_emd_warm(emd_workspace_t *ws, const emd_basis_t *start, const double *in,
                   const double *out, int zero_rule, double *emd, emd_basis_t *basis_out,
                   upset_err_t *err);

/* Telescope loss of one sample (48 cells each): 4*L1 + 2*L2 + L3 over 1x1, 2x2 and 4x4
 * cell groups, each term the mean of (y - yhat)^2 * max(y, yhat) (2x2 weighted).
 * grad (optional, 48) receives d loss / d yhat. */
double econt_telescope_loss(const double *y, const double *yhat, double *grad);

#endif
