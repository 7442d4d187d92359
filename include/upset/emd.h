/* Exact earth mover's distance (optimal transport) between two histograms.
 *
 *   EMD(a, b) = min sum_ij cost[i*m + j] * x_ij
 *               subject to x_ij >= 0, sum_j x_ij = a_i, sum_i x_ij = b_j
 *
 * a (n) and b (m) are nonnegative masses with equal totals; cost is n x m, row-major, any finite
 * values. The distance is NOT normalised: callers that want the unit-mass EMD divide the masses
 * by their sums first (econt_emd() does).
 *
 * Method: the network simplex on the transportation graph, in double, with no allocation per
 * call (all memory lives in an emd_workspace_t created once). Cells with zero mass are removed
 * before solving, so a sparse histogram is a small problem.
 *   - emd_solve(): cold start. A greedy spanning tree (the cells of the larger side, those with
 *     the largest gap between their two cheapest partners first, each draw from their cheapest
 *     partners) built on symbolically perturbed masses, which makes it a strongly feasible tree
 *     (Cunningham); in the rare near-ties where rounding spoils that, an artificial star
 *     (big-M arcs to an extra root) is used instead. Then primal pivots with block pricing and
 *     Cunningham's leaving rule (last blocking arc of the cycle walked from its apex), which
 *     rules out cycling on degenerate problems (single nonzero cell, identical histograms, tied
 *     hex distances).
 *   - emd_solve_warm(): starts from an emd_basis_t saved by an earlier solve with the SAME cost
 *     matrix (e.g. the fault-free solution of the same sample, whose first histogram is identical
 *     and whose second differs a little). The saved duals stay feasible when only the masses
 *     change, so the saved tree is a dual-feasible basis: rebuilt as it was when the nonzero
 *     cells are the same, otherwise repaired (saved arcs still present, new cells priced
 *     against the old duals, pieces joined by Hungarian-style dual shifts). A dual simplex then
 *     drives the negative flows out. If that phase runs too long, or the final optimality check
 *     (every reduced cost, on duals recomputed along the tree) fails, the call falls back to the
 *     cold method, so a warm start always returns the optimum (emd_last_stats() tells which
 *     path ran). Cold and warm agree within the optimality tolerance below (a few 1e-13
 *     relative in practice); where the optimum is not unique their plans may differ.
 *     A basis of other sizes than the histograms is refused with a message; one whose content
 *     does not fit (other costs, other cells, corrupted) only costs the fallback.
 *
 * Tolerance policy (all relative, fixed):
 *   - mass balance: |sum a - sum b| <= 1e-9 * max(sum a, sum b), else the call fails;
 *     the tiny remaining imbalance is absorbed at the root of the spanning tree (the plan's
 *     margin at one cell is off by it), so it moves the cost by at most imbalance * max|cost|.
 *   - optimality: reduced costs >= -1e-13 * M, M = (N/2 + 1) * max|cost| (N = nonzero cells),
 *     i.e. rounding noise of the duals; the returned cost is then within ~1e-13 * M * mass of
 *     the exact optimum.
 *   - primal feasibility (dual phase): flows >= -4 * N * DBL_EPSILON * mass.
 * Inputs: masses must be finite and >= 0 (NaN, infinities and negatives are refused with a
 * message naming the cell); costs read (those of nonzero cells) must be finite. */
#ifndef UPSET_EMD_H
#define UPSET_EMD_H

#include "upset/error.h"

/* Largest histogram length a workspace can be created for. */
#define EMD_DIM_MAX 16384

typedef struct emd_workspace emd_workspace_t;

/* An optimal basis in the caller's (original) indexing, reusable as a warm start.
 * Create it once with emd_basis_create() and keep one per sample if needed (a 48 x 48 basis
 * holds at most 95 arcs and 96 duals). The arcs are listed in pre-order of the spanning tree
 * (each one hangs a new cell below one listed before it). */
typedef struct {
    int n, m;          /* histogram lengths it refers to; 0 = empty basis */
    int narcs;         /* basic transport arcs stored */
    int cap_n, cap_m;  /* capacity it was created with */
    int *arc_row;      /* (narcs) source cell of each basic arc */
    int *arc_col;      /* (narcs) target cell of each basic arc */
    double *pot_row;   /* (n) dual of each source cell; NaN where the cell had no mass */
    double *pot_col;   /* (m) dual of each target cell; NaN where the cell had no mass */
} emd_basis_t;

/* What the last solve did (for benchmarks and tests). */
typedef struct {
    long pivots;       /* primal network-simplex pivots (of the cold method, fallback included) */
    long dual_pivots;  /* dual-simplex pivots of a warm start */
    int warm;          /* 1: emd_solve_warm was called */
    int fallback;      /* 1: the warm start gave up and the cold method ran */
    int n, m;          /* sizes after removing zero cells */
} emd_stats_t;

/* Workspace for histograms of up to nmax x mmax cells. NULL (message in err) on failure. */
emd_workspace_t *emd_workspace_create(int nmax, int mmax, upset_err_t *err);
void emd_workspace_free(emd_workspace_t *ws);

/* Cold solve. On success returns 0 and stores the distance in *dist; when basis_out is not
 * NULL it receives the optimal basis (for a later warm start). */
int emd_solve(emd_workspace_t *ws, const double *a, int n, const double *b, int m,
              const double *cost, double *dist, emd_basis_t *basis_out, upset_err_t *err);

/* Warm solve from `start` (a basis saved with the same n, m and cost matrix; an empty basis is
 * allowed and gives a dual start from scratch). start and basis_out may be the same object.
 * Returns -1 (message in err) on bad masses or costs as emd_solve(), or when start is neither
 * empty nor of size n x m. */
int emd_solve_warm(emd_workspace_t *ws, const emd_basis_t *start, const double *a, int n,
                   const double *b, int m, const double *cost, double *dist,
                   emd_basis_t *basis_out, upset_err_t *err);

emd_stats_t emd_last_stats(const emd_workspace_t *ws);

/* The optimal transport plan of the last successful solve, as an n x m row-major matrix in the
 * caller's indexing (n, m as passed to that solve). Returns -1 if there is none. Entries carry
 * rounding: after a warm start one may be negative by up to the feasibility tolerance. */
int emd_last_plan(const emd_workspace_t *ws, double *plan, int n, int m, upset_err_t *err);

emd_basis_t *emd_basis_create(int nmax, int mmax, upset_err_t *err);
void emd_basis_free(emd_basis_t *basis);
/* Makes the basis empty (a warm start from it is a dual start from scratch). */
void emd_basis_clear(emd_basis_t *basis);

#endif
