/* `upset analyze`: scores bit rankings and fault-injection methods against an
 * oracle (every bit flipped once) and builds the tables behind the figures
 * (docs/analysis.md).
 *
 * Two layers. The math is pure functions over arrays (rank correlation,
 * cumulative error curves, top-k discovery cost, per-group counts), unit-tested
 * on hand-made cases. analyze_run reads the results files, feeds those
 * functions and writes DIR/analysis.h5 plus one CSV per table.
 *
 * Vocabulary. A method finds bits one flip at a time: `found[i]` is the number
 * of flips the method has made when it knows bit i's outcome (1 for its first
 * flip), or -1 when it never does. A bit's `error` is its task error increase
 * (delta EMD, or mispredicts minus the fault-free mispredicts); larger is worse. */
#ifndef UPSET_ANALYZE_H
#define UPSET_ANALYZE_H

#include <stdint.h>

#include "upset/error.h"

/* ---- pure functions ---- */

/* 1-based ranks of v in ascending order; tied values share the mean of the
 * ranks they span ({5, 1, 5} -> {2.5, 1, 2.5}). NaN in v is an error. */
int analyze_average_ranks(const double *v, int64_t n, double *rank, upset_err_t *err);

/* Pearson correlation of x and y; NaN when n < 2 or either has no variance. */
double analyze_pearson(const double *x, const double *y, int64_t n);

/* Spearman's rho with average ranks for ties (the Pearson correlation of the
 * ranks); NaN when n < 2 or either side is constant. */
int analyze_spearman(const double *x, const double *y, int64_t n, double *rho, upset_err_t *err);

/* Spearman's rho within each group: rho[g] over the i with group[i] == g,
 * g in [0, n_groups); count[g] (may be NULL) gets the group's size. Entries
 * with a group outside the range are ignored. */
int analyze_spearman_groups(const double *x, const double *y, const int32_t *group, int64_t n,
                            int32_t n_groups, double *rho, int64_t *count, upset_err_t *err);

/* The indices 0..n-1 ordered by error, largest first; ties by index. */
int analyze_order_by_error(const double *error, int64_t n, int64_t *order, upset_err_t *err);

/* Cumulative error curve: out[c - 1] = sum of err[i] over the events with
 * cost[i] <= c, for c = 1..n_cost. Events with cost > n_cost are left out;
 * a cost below 1 is an error. */
int analyze_cumulative(const int64_t *cost, const double *err, int64_t n, int64_t n_cost,
                       double *out, upset_err_t *e);

/* Bits that make up the top k percent of the S sensitive bits: ceil(k S / 100). */
int64_t analyze_topk_target(int64_t n_sensitive, int k);

#define ANALYZE_TOPK 100

/* For k = 1..100, needed[k - 1] = the fewest flips after which a method has
 * found the top k percent of the sensitive bits (by error), or -1 when it never
 * does. Ties are not held against a method: with m = analyze_topk_target(S, k)
 * and t the m-th largest sensitive error, the method must have found every
 * sensitive bit with error > t and m sensitive bits with error >= t.
 * found[i] as above; bits with sensitive[i] == 0 are not targets. */
int analyze_topk(const double *error, const int8_t *sensitive, const int64_t *found, int64_t n,
                 int64_t *needed, upset_err_t *err);

/* Per-group tallies over n bits: n_bits[g], n_sensitive[g] and err_sum[g]
 * (each may be NULL) for g in [0, n_groups); a group outside the range is an
 * error. Output arrays are overwritten. */
int analyze_group_counts(const int32_t *group, const int8_t *sensitive, const double *error,
                         int64_t n, int32_t n_groups, int64_t *n_bits, int64_t *n_sensitive,
                         double *err_sum, upset_err_t *e);

/* BinFI's discovery time of each of its n per-bit records. Records of one
 * weight share weight_key (e.g. its MSB's global index); bit_pos 0 is the MSB.
 * A flipped bit is found at flip_order + 1. An unflipped bit marked sensitive
 * was implied by a sensitive flip of a less significant position of the same
 * weight: it is found with the earliest such flip. Other unflipped bits are
 * implied benign and never found as sensitive (-1). actual_only = 1 ignores
 * implications (flipped bits only). */
int analyze_binfi_found(const int64_t *weight_key, const int32_t *bit_pos, const int8_t *flipped,
                        const int64_t *flip_order, const int8_t *sensitive, int64_t n,
                        int actual_only, int64_t *found, upset_err_t *err);

/* The x values at which a curve of n points is kept in the CSV: every x up to
 * 1000, then x grows by at least 0.5 % a step, and x = n last. Writes them to
 * x (when not NULL) and returns the count. */
int64_t analyze_curve_points(int64_t n, int64_t *x);

/* ---- file level ---- */

/* A labelled input file: "NAME=PATH" on the command line, or PATH alone
 * (label NULL: taken from the file). */
typedef struct {
    const char *label;
    const char *path;
} analyze_input_t;

typedef struct {
    const char *const *oracles; /* the first is the reference; the others only feed the
                                   per-model tables (sensitive bits vs model size) */
    int n_oracles;
    const analyze_input_t *rankings; /* text or upset-ranking HDF5, one bit per position */
    int n_rankings;
    const analyze_input_t *guided;
    int n_guided;
    const analyze_input_t *binfi;
    int n_binfi;
    const analyze_input_t *statfi;
    int n_statfi;
    const analyze_input_t *multibit;
    int n_multibit;
    const char *out_dir; /* created when missing (one level) */
} analyze_opts_t;

/* One line per method, as in methods.csv. */
typedef struct {
    char label[128];
    char source[16];          /* oracle, ranking, guided, binfi, statfi */
    int64_t bits_flipped;     /* length of its cumulative curve */
    int64_t sensitive_found;  /* oracle-sensitive bits it finds */
    double final_error;       /* its cumulative error after its last flip */
    double spearman;          /* rankings only, else NaN */
    int64_t needed_top50, needed_top100; /* flips to find the top 50 / 100 % (-1: never) */
} analyze_method_summary_t;

typedef struct {
    char model_name[128];
    int classifier;          /* 1: errors are extra mispredicts, 0: delta EMD */
    int64_t n_fault_bits;    /* of the model */
    int64_t n_bits;          /* covered by the oracle */
    int64_t n_sensitive;
    analyze_method_summary_t *methods;
    int n_methods;
    upset_err_t warnings; /* empty, or one line per warning (e.g. other data) */
} analyze_summary_t;

/* Reads every input, checks they belong together, writes DIR/analysis.h5 and
 * the CSV tables (each first as NAME.tmp, renamed only when all are written;
 * on failure no new file is left). sum may be NULL; free it with
 * analyze_summary_free. */
int analyze_run(const analyze_opts_t *o, analyze_summary_t *sum, upset_err_t *err);
void analyze_summary_free(analyze_summary_t *sum);

#endif
