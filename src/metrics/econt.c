/* ECON-T geometry tables (transcribed from data/reference/econt_geometry.txt) and the
 * EMD / telescope-loss metrics on them. */
#include "upset/econt.h"

#include <math.h>
#include <string.h>

/* Ground distance unit: Euclidean distance between centres over half the cell pitch,
 * as in the reference metric. */
#define HEX_DIST_UNIT (0.5 * 2.4168015)

static const double hex_xy[ECONT_CELLS][2] = {
    {0.0, 0.0},
    {0.0, -2.4168015},
    {0.0, -4.833603},
    {0.0, -7.2504044},
    {2.09301, -1.2083969},
    {2.09301, -3.6251984},
    {2.09301, -6.042},
    {2.09301, -8.458794},
    {4.18602, -2.4168015},
    {4.18602, -4.833603},
    {4.18602, -7.2504044},
    {4.18602, -9.667198},
    {6.27903, -3.6251984},
    {6.27903, -6.042},
    {6.27903, -8.458794},
    {6.27903, -10.875603},
    {-8.37204, -10.271393},
    {-6.27903, -9.063004},
    {-4.18602, -7.854599},
    {-2.0930138, -6.6461945},
    {-8.37204, -7.854599},
    {-6.27903, -6.6461945},
    {-4.18602, -5.4377975},
    {-2.0930138, -4.229393},
    {-8.37204, -5.4377975},
    {-6.27903, -4.229393},
    {-4.18602, -3.020996},
    {-2.0930138, -1.8125992},
    {-8.37204, -3.020996},
    {-6.27903, -1.8125992},
    {-4.18602, -0.6042023},
    {-2.0930138, 0.6042023},
    {4.7092705, -12.386101},
    {2.6162605, -11.177696},
    {0.5232506, -9.969299},
    {-1.5697594, -8.760895},
    {2.6162605, -13.594498},
    {0.5232506, -12.386101},
    {-1.5697594, -11.177696},
    {-3.6627693, -9.969299},
    {0.5232506, -14.802895},
    {-1.5697594, -13.594498},
    {-3.6627693, -12.386101},
    {-5.7557793, -11.177696},
    {-1.5697594, -16.0113},
    {-3.6627693, -14.802895},
    {-5.7557793, -13.594498},
    {-7.848793, -12.386101}};

static const int arrange[64] = {
    28, 29, 30, 31, 0, 4, 8, 12, 24, 25, 26, 27, 1, 5, 9, 13,
    20, 21, 22, 23, 2, 6, 10, 14, 16, 17, 18, 19, 3, 7, 11, 15,
    47, 43, 39, 35, 35, 34, 33, 32, 46, 42, 38, 34, 39, 38, 37, 36,
    45, 41, 37, 33, 43, 42, 41, 40, 44, 40, 36, 32, 47, 46, 45, 44};

static const int arr_mask[64] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0,
    1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0};

static const int remap[48] = {
    4, 12, 20, 28, 5, 13, 21, 29, 6, 14, 22, 30, 7, 15, 23, 31,
    24, 25, 26, 27, 16, 17, 18, 19, 8, 9, 10, 11, 0, 1, 2, 3,
    59, 51, 43, 35, 58, 50, 42, 34, 57, 49, 41, 33, 56, 48, 40, 32};

static const int sc36_cells[36][4] = {
    {0, 1, 4, 5},
    {2, 3, 6, 7},
    {8, 9, 12, 13},
    {10, 11, 14, 15},
    {16, 17, 20, 21},
    {18, 19, 22, 23},
    {24, 25, 28, 29},
    {26, 27, 30, 31},
    {32, 33, 36, 37},
    {34, 35, 38, 39},
    {40, 41, 44, 45},
    {42, 43, 46, 47},
    {4, 5, 8, 9},
    {6, 7, 10, 11},
    {20, 21, 24, 25},
    {22, 23, 26, 27},
    {36, 37, 40, 41},
    {38, 39, 42, 43},
    {1, 2, 5, 6},
    {9, 10, 13, 14},
    {17, 18, 21, 22},
    {25, 26, 29, 30},
    {33, 34, 37, 38},
    {41, 42, 45, 46},
    {5, 6, 9, 10},
    {21, 22, 25, 26},
    {37, 38, 41, 42},
    {0, 1, 27, 31},
    {1, 2, 23, 27},
    {2, 3, 19, 23},
    {3, 7, 34, 35},
    {7, 11, 33, 34},
    {11, 15, 32, 33},
    {16, 17, 47, 43},
    {17, 18, 43, 39},
    {18, 19, 39, 35}};

static const double sc36_weight[36] = {
    0.375,
    0.33333333333333331,
    0.5625,
    0.375,
    0.375,
    0.33333333333333331,
    0.5625,
    0.375,
    0.375,
    0.33333333333333331,
    0.5625,
    0.375,
    0.375,
    0.25,
    0.375,
    0.25,
    0.375,
    0.25,
    0.25,
    0.375,
    0.25,
    0.375,
    0.25,
    0.375,
    0.25,
    0.25,
    0.25,
    0.375,
    0.25,
    0.41666666666666663,
    0.41666666666666663,
    0.25,
    0.375,
    0.375,
    0.25,
    0.41666666666666663};

static const int sc12_cells[12][4] = {
    {0, 1, 4, 5},
    {2, 3, 6, 7},
    {8, 9, 12, 13},
    {10, 11, 14, 15},
    {16, 17, 20, 21},
    {18, 19, 22, 23},
    {24, 25, 28, 29},
    {26, 27, 30, 31},
    {32, 33, 36, 37},
    {34, 35, 38, 39},
    {40, 41, 44, 45},
    {42, 43, 46, 47}};

static double ground[ECONT_CELLS * ECONT_CELLS];
static int ground_ready;

const double *econt_hex_coords(void) { return &hex_xy[0][0]; }
const int *econt_arrange_8x8(void) { return arrange; }
const int *econt_arr_mask_8x8(void) { return arr_mask; }
const int *econt_remap_8x8(void) { return remap; }

const double *econt_ground_distance(void)
{
    /* Filled once; every rank fills it before any thread exists, and refilling gives
     * identical bytes, so the race-free lazy init needs no lock. */
    if (!ground_ready) {
        for (int i = 0; i < ECONT_CELLS; i++)
            for (int j = 0; j < ECONT_CELLS; j++)
                ground[i * ECONT_CELLS + j] =
                    hypot(hex_xy[i][0] - hex_xy[j][0], hex_xy[i][1] - hex_xy[j][1]) /
                    HEX_DIST_UNIT;
        ground_ready = 1;
    }
    return ground;
}

void econt_8x8_from_cells(const double *cells, double *img)
{
    for (int p = 0; p < 64; p++)
        img[p] = arr_mask[p] ? cells[arrange[p]] : 0.0;
}

void econt_cells_from_8x8(const double *img, double *cells)
{
    for (int i = 0; i < ECONT_CELLS; i++)
        cells[i] = img[remap[i]];
}

/* Unit-sum copy of h; 0 when it sums to zero (dst untouched), -1 on a bad value. */
static int normalise(const double *h, double *dst, const char *what, upset_err_t *err)
{
    double s = 0;
    for (int i = 0; i < ECONT_CELLS; i++) {
        if (!(h[i] >= 0) || !isfinite(h[i]))
            return upset_fail(err, "EMD: %s cell %d is %g (charges must be finite and >= 0)",
                              what, i, h[i]);
        s += h[i];
    }
    if (s == 0)
        return 0;
    if (isinf(s)) { /* finite charges whose sum overflows: scale by the largest first */
        double mx = 0;
        for (int i = 0; i < ECONT_CELLS; i++)
            mx = h[i] > mx ? h[i] : mx;
        s = 0;
        for (int i = 0; i < ECONT_CELLS; i++)
            s += h[i] / mx;
        for (int i = 0; i < ECONT_CELLS; i++)
            dst[i] = h[i] / mx / s;
        return 1;
    }
    for (int i = 0; i < ECONT_CELLS; i++)
        dst[i] = h[i] / s;
    return 1;
}

int econt_emd(emd_workspace_t *ws, const double *in, const double *out, int zero_rule,
              double *emd, upset_err_t *err)
{
    return econt_emd_warm(ws, NULL, in, out, zero_rule, emd, NULL, err);
}

int econt_emd_warm(emd_workspace_t *ws, const emd_basis_t *start, const double *in,
                   const double *out, int zero_rule, double *emd, emd_basis_t *basis_out,
                   upset_err_t *err)
{
    double a[ECONT_CELLS], b[ECONT_CELLS];
    int ra = normalise(in, a, "input", err), rb = normalise(out, b, "output", err);
    if (ra < 0 || rb < 0)
        return -1;
    if ((ra == 0 && rb == 0) || ((ra == 0 || rb == 0) && zero_rule == ECONT_ZERO_REFERENCE)) {
        /* no transport problem: the saved basis is one without arcs (sized, so that a caller
         * can tell the sample was scored), and a warm start from it is the cold solve */
        if (basis_out && (basis_out->cap_n < ECONT_CELLS || basis_out->cap_m < ECONT_CELLS))
            return upset_fail(err, "EMD: basis holds %d x %d cells, histograms have %d x %d",
                              basis_out->cap_n, basis_out->cap_m, ECONT_CELLS, ECONT_CELLS);
        if (basis_out) {
            basis_out->n = basis_out->m = ECONT_CELLS;
            basis_out->narcs = 0;
            for (int i = 0; i < ECONT_CELLS; i++)
                basis_out->pot_row[i] = basis_out->pot_col[i] = NAN;
        }
        *emd = ra == 0 && rb == 0 ? 0 : -0.5;
        return 0;
    }
    if (ra == 0 || rb == 0) {
        double *z = ra == 0 ? a : b;
        for (int i = 0; i < ECONT_CELLS; i++)
            z[i] = 1.0 / ECONT_CELLS;
    }
    if (start && start->n && start->narcs)
        return emd_solve_warm(ws, start, a, ECONT_CELLS, b, ECONT_CELLS, econt_ground_distance(),
                              emd, basis_out, err);
    return emd_solve(ws, a, ECONT_CELLS, b, ECONT_CELLS, econt_ground_distance(), emd, basis_out,
                     err);
}

/* sum over cells of d^2 * max(y, yhat) * w, with its gradient in yhat accumulated into g. */
static double tele_term(double y, double yh, double w, double *g)
{
    double d = y - yh, mx = y > yh ? y : yh;
    if (g)
        *g += w * (-2.0 * d * mx + (yh > y ? d * d : 0.0));
    return w * d * d * mx;
}

double econt_telescope_loss(const double *y, const double *yhat, double *grad)
{
    double g1[ECONT_CELLS] = {0};
    double l1 = 0, l2 = 0, l3 = 0;
    for (int i = 0; i < ECONT_CELLS; i++) {
        double gi = 0;
        l1 += tele_term(y[i], yhat[i], 1.0 / ECONT_CELLS, grad ? &gi : NULL);
        g1[i] = 4.0 * gi;
    }
    for (int s = 0; s < 36; s++) {
        double ys = 0, hs = 0, gs = 0;
        for (int k = 0; k < 4; k++) {
            ys += y[sc36_cells[s][k]];
            hs += yhat[sc36_cells[s][k]];
        }
        l2 += tele_term(ys, hs, sc36_weight[s] / 36.0, grad ? &gs : NULL);
        for (int k = 0; k < 4; k++)
            g1[sc36_cells[s][k]] += 2.0 * gs;
    }
    for (int t = 0; t < 3; t++) {
        double ys = 0, hs = 0, gs = 0;
        for (int q = 4 * t; q < 4 * t + 4; q++)
            for (int k = 0; k < 4; k++) {
                ys += y[sc12_cells[q][k]];
                hs += yhat[sc12_cells[q][k]];
            }
        l3 += tele_term(ys, hs, 1.0 / 3.0, grad ? &gs : NULL);
        for (int q = 4 * t; q < 4 * t + 4; q++)
            for (int k = 0; k < 4; k++)
                g1[sc12_cells[q][k]] += gs;
    }
    if (grad)
        memcpy(grad, g1, sizeof g1);
    return 4.0 * l1 + 2.0 * l2 + l3;
}
