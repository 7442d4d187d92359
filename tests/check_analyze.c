/* upset analyze: the pure functions on small cases worked out by hand (in the
 * comments) and against brute force (Spearman as the Pearson correlation of
 * ranks counted pairwise), then the whole file-level analysis on synthetic
 * results files whose every table entry is worked out by hand below. */
#include <hdf5.h>
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_util.h"
#include "upset/analyze.h"
#include "upset/results.h"

static upset_err_t err;

/* ---- rank correlation ---- */

START_TEST(average_ranks_ties)
{
    double v[] = {5, 1, 5}, r[3];
    ck_assert_int_eq(analyze_average_ranks(v, 3, r, &err), 0);
    /* 1 is first; the two 5s share ranks 2 and 3 */
    ck_assert_double_eq(r[0], 2.5);
    ck_assert_double_eq(r[1], 1.0);
    ck_assert_double_eq(r[2], 2.5);
    double c[] = {7, 7, 7, 7}, rc[4];
    ck_assert_int_eq(analyze_average_ranks(c, 4, rc, &err), 0);
    for (int i = 0; i < 4; i++)
        ck_assert_double_eq(rc[i], 2.5); /* mean of 1..4 */
    double w[] = {-1, 3, 3, 0, 3}, rw[5];
    ck_assert_int_eq(analyze_average_ranks(w, 5, rw, &err), 0);
    /* -1 -> 1, 0 -> 2, the three 3s share 3, 4, 5 -> 4 */
    ck_assert_double_eq(rw[0], 1);
    ck_assert_double_eq(rw[3], 2);
    ck_assert_double_eq(rw[1], 4);
    ck_assert_double_eq(rw[4], 4);
    double bad[] = {1, NAN};
    ck_assert_int_eq(analyze_average_ranks(bad, 2, rc, &err), -1);
}
END_TEST

START_TEST(spearman_hand)
{
    /* x ranks 1..5; y = {5,6,7,8,7} ranks {1,2,3.5,5,3.5}. Deviations from the mean 3:
     * dx = {-2,-1,0,1,2}, dy = {-2,-1,.5,2,.5}: sxy = 4+1+0+2+1 = 8, sxx = 10,
     * syy = 4+1+.25+4+.25 = 9.5, rho = 8 / sqrt(95). */
    double x[] = {1, 2, 3, 4, 5}, y[] = {5, 6, 7, 8, 7}, rho;
    ck_assert_int_eq(analyze_spearman(x, y, 5, &rho, &err), 0);
    ck_assert_double_eq_tol(rho, 8 / sqrt(95), 1e-15);
    /* a monotone but non-linear relation is a perfect rank correlation */
    double a[] = {1, 2, 3, 4}, b[] = {1, 8, 27, 1000}, c[] = {10, 1, 0.5, -3};
    ck_assert_int_eq(analyze_spearman(a, b, 4, &rho, &err), 0);
    ck_assert_double_eq_tol(rho, 1, 1e-15);
    ck_assert_int_eq(analyze_spearman(a, c, 4, &rho, &err), 0);
    ck_assert_double_eq_tol(rho, -1, 1e-15);
    /* no ties: 1 - 6 sum d^2 / (n (n^2 - 1)); ranks of v = {2,1,4,3}: d = {1,-1,1,-1},
     * rho = 1 - 6*4/(4*15) = 0.6 */
    double v[] = {20, 10, 40, 30};
    ck_assert_int_eq(analyze_spearman(a, v, 4, &rho, &err), 0);
    ck_assert_double_eq_tol(rho, 0.6, 1e-15);
    /* a constant side has no rank order */
    double k[] = {3, 3, 3, 3};
    ck_assert_int_eq(analyze_spearman(a, k, 4, &rho, &err), 0);
    ck_assert(isnan(rho));
    ck_assert_int_eq(analyze_spearman(a, b, 1, &rho, &err), 0);
    ck_assert(isnan(rho));
}
END_TEST

/* Brute force: rank_i = #{v_j < v_i} + (#{v_j == v_i} + 1) / 2, then Pearson by
 * the textbook formula n sum xy - sum x sum y over the root of the variances. */
static double brute_spearman(const double *x, const double *y, int n)
{
    double *rx = malloc((size_t)n * sizeof *rx), *ry = malloc((size_t)n * sizeof *ry);
    for (int i = 0; i < n; i++) {
        int lx = 0, ex = 0, ly = 0, ey = 0;
        for (int j = 0; j < n; j++) {
            lx += x[j] < x[i], ex += x[j] == x[i];
            ly += y[j] < y[i], ey += y[j] == y[i];
        }
        rx[i] = lx + (ex + 1) / 2.0;
        ry[i] = ly + (ey + 1) / 2.0;
    }
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
    for (int i = 0; i < n; i++) {
        sx += rx[i], sy += ry[i];
        sxx += rx[i] * rx[i], syy += ry[i] * ry[i], sxy += rx[i] * ry[i];
    }
    free(rx);
    free(ry);
    return (n * sxy - sx * sy) / sqrt((n * sxx - sx * sx) * (n * syy - sy * sy));
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

START_TEST(spearman_brute_force)
{
    for (int trial = 0; trial < 200; trial++) {
        int n = 2 + (int)(rnd() % 60);
        int levels = 1 + (int)(rnd() % 8); /* few levels: many ties */
        double x[64], y[64], rho;
        for (int i = 0; i < n; i++) {
            x[i] = (double)(rnd() % (uint64_t)levels) - 3;
            y[i] = (double)(rnd() % 5) * 0.25 + (trial % 2 ? x[i] : 0);
        }
        ck_assert_int_eq(analyze_spearman(x, y, n, &rho, &err), 0);
        double want = brute_spearman(x, y, n);
        if (isnan(want) || isinf(want))
            ck_assert(isnan(rho));
        else
            ck_assert_double_eq_tol(rho, want, 1e-12);
    }
}
END_TEST

START_TEST(spearman_groups_hand)
{
    /* group 0: x {1,2,3}, y {1,2,3} -> 1; group 1: x {1,2,3}, y {3,2,1} -> -1;
     * group 2: one element -> NaN; group 9 is outside the 3 groups and ignored. */
    double x[] = {1, 1, 2, 2, 3, 3, 7, 8};
    double y[] = {1, 3, 2, 2, 3, 1, 5, 6};
    int32_t g[] = {0, 1, 0, 1, 0, 1, 2, 9};
    double rho[3];
    int64_t cnt[3];
    ck_assert_int_eq(analyze_spearman_groups(x, y, g, 8, 3, rho, cnt, &err), 0);
    ck_assert_double_eq_tol(rho[0], 1, 1e-15);
    ck_assert_double_eq_tol(rho[1], -1, 1e-15);
    ck_assert(isnan(rho[2]));
    ck_assert_int_eq(cnt[0], 3);
    ck_assert_int_eq(cnt[1], 3);
    ck_assert_int_eq(cnt[2], 1);
}
END_TEST

/* ---- curves ---- */

START_TEST(order_by_error_hand)
{
    /* 2 (index 1) and 2 (index 3) tie: lower index first; then 0.5, then -1 */
    double e[] = {0.5, 2, -1, 2};
    int64_t o[4];
    ck_assert_int_eq(analyze_order_by_error(e, 4, o, &err), 0);
    int64_t want[] = {1, 3, 0, 2};
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(o[i], want[i]);
}
END_TEST

START_TEST(cumulative_hand)
{
    /* costs {2,1,3,3,5}, errors {1,.5,2,-.25,4}, 4 points:
     * c=1: .5; c=2: .5+1 = 1.5; c=3: 1.5+2-.25 = 3.25; c=4: 3.25 (cost 5 is beyond) */
    int64_t cost[] = {2, 1, 3, 3, 5};
    double e[] = {1, 0.5, 2, -0.25, 4}, out[4];
    ck_assert_int_eq(analyze_cumulative(cost, e, 5, 4, out, &err), 0);
    ck_assert_double_eq(out[0], 0.5);
    ck_assert_double_eq(out[1], 1.5);
    ck_assert_double_eq(out[2], 3.25);
    ck_assert_double_eq(out[3], 3.25);
    int64_t bad[] = {1, 0};
    ck_assert_int_eq(analyze_cumulative(bad, e, 2, 4, out, &err), -1);
}
END_TEST

START_TEST(topk_target_hand)
{
    ck_assert_int_eq(analyze_topk_target(7, 1), 1);    /* ceil(0.07) */
    ck_assert_int_eq(analyze_topk_target(7, 50), 4);   /* ceil(3.5) */
    ck_assert_int_eq(analyze_topk_target(7, 100), 7);
    ck_assert_int_eq(analyze_topk_target(200, 1), 2);
    ck_assert_int_eq(analyze_topk_target(200, 3), 6);
    ck_assert_int_eq(analyze_topk_target(0, 50), 0);
}
END_TEST

START_TEST(topk_no_ties)
{
    /* five sensitive bits with errors 5 > 4 > 3 > 2 > 1 found at flips {3,1,5,2,4};
     * bit 5 is benign and never found. S = 5, so k = 1..20 -> m = 1, 21..40 -> 2,
     * 41..60 -> 3, 61..80 -> 4, 81..100 -> 5.
     * m=1: bit 0 at 3 -> 3; m=2: max(3,1) = 3; m=3: max(3,1,5) = 5; m=4, m=5: 5. */
    double e[] = {5, 4, 3, 2, 1, 0};
    int8_t s[] = {1, 1, 1, 1, 1, 0};
    int64_t f[] = {3, 1, 5, 2, 4, -1}, need[ANALYZE_TOPK];
    ck_assert_int_eq(analyze_topk(e, s, f, 6, need, &err), 0);
    for (int k = 1; k <= 100; k++) {
        int64_t want = k <= 40 ? 3 : 5;
        ck_assert_msg(need[k - 1] == want, "k=%d: %lld, want %lld", k, (long long)need[k - 1],
                      (long long)want);
    }
}
END_TEST

START_TEST(topk_ties)
{
    /* errors {3,2,2,2,1}, found {4,1,never,3,2}, all sensitive (S = 5).
     * m=1: bit 0 -> 4. m=2: bit 0 plus any one of the 2s (earliest: bit 1 at 1) -> 4.
     * m=3: bit 0 plus two of the 2s (bits 1, 3 at 1 and 3) -> 4.
     * m=4: all three 2s, bit 2 is never found -> -1; m=5 -> -1.
     * Bit 5 (error 9, not sensitive) is no target. */
    double e[] = {3, 2, 2, 2, 1, 9};
    int8_t s[] = {1, 1, 1, 1, 1, 0};
    int64_t f[] = {4, 1, -1, 3, 2, 7}, need[ANALYZE_TOPK];
    ck_assert_int_eq(analyze_topk(e, s, f, 6, need, &err), 0);
    ck_assert_int_eq(need[19], 4);  /* k=20: m=1 */
    ck_assert_int_eq(need[20], 4);  /* k=21: m=ceil(1.05)=2 */
    ck_assert_int_eq(need[59], 4);  /* k=60: m=3 */
    ck_assert_int_eq(need[60], -1); /* k=61: m=4 */
    ck_assert_int_eq(need[99], -1);
    /* no sensitive bit: nothing to find */
    int8_t none[] = {0, 0, 0, 0, 0, 0};
    ck_assert_int_eq(analyze_topk(e, none, f, 6, need, &err), 0);
    for (int k = 0; k < 100; k++)
        ck_assert_int_eq(need[k], 0);
}
END_TEST

START_TEST(group_counts_hand)
{
    /* group {0,1,1,2,0}: group 0 = bits 0, 4 (one sensitive, errors 1+5);
     * group 1 = bits 1, 2 (one sensitive, 2+3); group 2 = bit 3 (sensitive, 4). */
    int32_t g[] = {0, 1, 1, 2, 0};
    int8_t s[] = {1, 0, 1, 1, 0};
    double e[] = {1, 2, 3, 4, 5}, es[3];
    int64_t nb[3], ns[3];
    ck_assert_int_eq(analyze_group_counts(g, s, e, 5, 3, nb, ns, es, &err), 0);
    ck_assert_int_eq(nb[0], 2);
    ck_assert_int_eq(nb[1], 2);
    ck_assert_int_eq(nb[2], 1);
    ck_assert_int_eq(ns[0], 1);
    ck_assert_int_eq(ns[1], 1);
    ck_assert_int_eq(ns[2], 1);
    ck_assert_double_eq(es[0], 6);
    ck_assert_double_eq(es[1], 5);
    ck_assert_double_eq(es[2], 4);
    int32_t bad[] = {0, 3};
    ck_assert_int_eq(analyze_group_counts(bad, s, e, 2, 3, nb, NULL, NULL, &err), -1);
}
END_TEST

START_TEST(binfi_found_hand)
{
    /* Three weights as BinFI searches them (position 0 = MSB):
     * A (key 0, 4 bits): flips pos 1 (order 0, sensitive) -> lo=2; pos 2 (order 1, benign)
     *   -> stop. pos 0 implied sensitive by pos 1 -> found 1; pos 3 implied benign.
     * B (key 4, 4 bits): pos 1 (order 2, benign) -> hi=0; pos 0 (order 3, sensitive).
     *   pos 2, 3 implied benign.
     * C (key 8, 8 bits): pos 3 (order 4, sens) -> lo=4; pos 5 (order 5, sens) -> lo=6;
     *   pos 6 (order 6, benign) -> stop. pos 0..2 implied by pos 3 (found 5), pos 4 by
     *   pos 5 (found 6), pos 7 implied benign.
     * Records are given shuffled (C, then B, then A) to show order does not matter. */
    int64_t key[16], order[16], found[16];
    int32_t pos[16];
    int8_t flipped[16], sens[16];
    int n = 0;
    struct {
        int64_t key;
        int32_t pos;
        int8_t flipped, sens;
        int64_t order, want, want_actual;
    } rec[] = {
        {8, 0, 0, 1, -1, 5, -1}, {8, 1, 0, 1, -1, 5, -1}, {8, 2, 0, 1, -1, 5, -1},
        {8, 3, 1, 1, 4, 5, 5},   {8, 4, 0, 1, -1, 6, -1}, {8, 5, 1, 1, 5, 6, 6},
        {8, 6, 1, 0, 6, 7, 7},   {8, 7, 0, 0, -1, -1, -1}, {4, 0, 1, 1, 3, 4, 4},
        {4, 1, 1, 0, 2, 3, 3},   {4, 2, 0, 0, -1, -1, -1}, {4, 3, 0, 0, -1, -1, -1},
        {0, 3, 0, 0, -1, -1, -1}, {0, 2, 1, 0, 1, 2, 2},  {0, 1, 1, 1, 0, 1, 1},
        {0, 0, 0, 1, -1, 1, -1},
    };
    for (n = 0; n < 16; n++) {
        key[n] = rec[n].key;
        pos[n] = rec[n].pos;
        flipped[n] = rec[n].flipped;
        sens[n] = rec[n].sens;
        order[n] = rec[n].order;
    }
    ck_assert_int_eq(analyze_binfi_found(key, pos, flipped, order, sens, n, 0, found, &err), 0);
    for (int i = 0; i < n; i++)
        ck_assert_msg(found[i] == rec[i].want, "record %d: %lld, want %lld", i,
                      (long long)found[i], (long long)rec[i].want);
    ck_assert_int_eq(analyze_binfi_found(key, pos, flipped, order, sens, n, 1, found, &err), 0);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(found[i], rec[i].want_actual);
}
END_TEST

START_TEST(curve_points_hand)
{
    int64_t x[2000];
    ck_assert_int_eq(analyze_curve_points(0, x), 0);
    ck_assert_int_eq(analyze_curve_points(5, x), 5);
    ck_assert_int_eq(x[4], 5);
    ck_assert_int_eq(analyze_curve_points(1000, x), 1000);
    /* 1..1000, then 1000 + ceil(1000/200) = 1005, then 1005 + ceil(1005/200) = 1011 > 1010,
     * so the last point is 1010 */
    ck_assert_int_eq(analyze_curve_points(1010, x), 1002);
    ck_assert_int_eq(x[999], 1000);
    ck_assert_int_eq(x[1000], 1005);
    ck_assert_int_eq(x[1001], 1010);
    ck_assert_int_eq(analyze_curve_points(1010, NULL), 1002);
}
END_TEST

/* ---- end to end on synthetic results files ----
 *
 * A model of 8 faultable bits: layer 0 has two 3-bit weights (bits 0-2, 3-5),
 * layer 1 one 2-bit weight (bits 6-7); an autoencoder (ECON-T data) whose
 * fault-free mean EMD is 1.0. The oracle's delta EMD per bit:
 *     bit    0    1    2    3    4     5    6    7
 *     dEMD  .5   .2    0   .4  -.1     0   .3   .1
 * sensitive (dEMD > 0): bits 0, 1, 3, 6, 7, so S = 5.
 * Oracle-optimal order: 0 3 6 1 7 then the ties 2 5 (by index), then 4. */

static char dir[256];
static const double DEMD[8] = {0.5, 0.2, 0, 0.4, -0.1, 0, 0.3, 0.1};

typedef struct {
    int64_t bit;
    int32_t layer;
    int64_t weight;
    int32_t bit_pos;
    double mean_emd, delta_emd;
    int64_t mispredicts, n_changed;
    int8_t sensitive;
} bitrec_t;

#define COL(f, t) RESULTS_COLUMN(bitrec_t, f, t, "1", #f)
static const results_column_t BIT_COLS[] = {
    COL(bit, RESULTS_INT64),         COL(layer, RESULTS_INT32),
    COL(weight, RESULTS_INT64),      COL(bit_pos, RESULTS_INT32),
    COL(mean_emd, RESULTS_FLOAT64),  COL(delta_emd, RESULTS_FLOAT64),
    COL(mispredicts, RESULTS_INT64), COL(n_changed, RESULTS_INT64),
    COL(sensitive, RESULTS_INT8),
};
#undef COL
static const results_table_t BIT_TABLE = {"bits", sizeof(bitrec_t), BIT_COLS, 9};

typedef struct {
    int64_t bit;
    int32_t bit_pos;
    int64_t flip_order;
    int8_t flipped, sensitive;
    double error;
} binrec_t;

#define COL(f, t) RESULTS_COLUMN(binrec_t, f, t, "1", #f)
static const results_column_t BIN_COLS[] = {
    COL(bit, RESULTS_INT64),        COL(bit_pos, RESULTS_INT32), COL(flip_order, RESULTS_INT64),
    COL(flipped, RESULTS_INT8),     COL(sensitive, RESULTS_INT8), COL(error, RESULTS_FLOAT64),
};
#undef COL
static const results_table_t BIN_TABLE = {"bits", sizeof(binrec_t), BIN_COLS, 6};

typedef struct {
    int64_t trial, n_drawn;
    int8_t exceeds;
} trialrec_t;

#define COL(f, t) RESULTS_COLUMN(trialrec_t, f, t, "1", #f)
static const results_column_t TRIAL_COLS[] = {COL(trial, RESULTS_INT64),
                                              COL(n_drawn, RESULTS_INT64),
                                              COL(exceeds, RESULTS_INT8)};
#undef COL
static const results_table_t TRIAL_TABLE = {"trials", sizeof(trialrec_t), TRIAL_COLS, 3};

static bitrec_t make_bit(int64_t bit)
{
    /* layer 0: weights of 3 bits; layer 1: one weight of 2 bits from bit 6 on */
    bitrec_t r = {0};
    r.bit = bit;
    r.layer = bit < 6 ? 0 : 1;
    r.weight = bit < 6 ? bit / 3 : 0;
    r.bit_pos = (int32_t)(bit < 6 ? bit % 3 : bit - 6);
    r.delta_emd = DEMD[bit];
    r.mean_emd = 1.0 + DEMD[bit];
    r.sensitive = DEMD[bit] > 0;
    return r;
}

static char *yaml_for(const char *name, const char *kind, const char *section)
{
    static char buf[1024];
    snprintf(buf, sizeof buf,
             "name: %s\nmodel: models/m.h5\ndata:\n  format: hgcal\n  files: [d.csv]\n  count: "
             "10\nkind: %s\noutput: o.h5\n%s",
             name, kind, section);
    return buf;
}

static int64_t fixture_baseline_mispredicts; /* 0 but for the classifier's oracle */
static const char *fixture_data_ck = "00000000000000d1"; /* the data all but one file saw */

static int write_file(const char *file, const results_table_t *t, const void *rec, int64_t n,
                      const char *kind, const char *yaml, const char *model_ck, int64_t nbits,
                      const char *model_name, const results_attr_t *extra, int n_extra)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    results_attr_t a[24];
    int k = 0;
    a[k++] = RESULTS_ATTR_STR("kind", kind);
    a[k++] = RESULTS_ATTR_STR("model_name", model_name);
    a[k++] = RESULTS_ATTR_STR("model_checksum_fnv1a64", model_ck);
    a[k++] = RESULTS_ATTR_STR("data_checksum_fnv1a64", fixture_data_ck);
    a[k++] = RESULTS_ATTR_I64("n_fault_bits", nbits);
    a[k++] = RESULTS_ATTR_F64("baseline_mean_emd", 1.0);
    a[k++] = RESULTS_ATTR_I64("baseline_mispredicts", fixture_baseline_mispredicts);
    a[k++] = RESULTS_ATTR_I64("n_samples", 10);
    a[k++] = RESULTS_ATTR_STR("campaign_yaml", yaml);
    for (int i = 0; i < n_extra; i++)
        a[k++] = extra[i];
    upset_err_t e = {{0}};
    if (results_write(path, t, rec, n, a, k, &e)) {
        fprintf(stderr, "fixture %s: %s\n", path, e.msg);
        return -1;
    }
    return 0;
}

/* Lines longer than a ranking reader's 256-byte buffer: a comment whose last 60 characters
 * are digits (cut at the buffer, they read as bit 5), and a number of 300 digits. */
#define X50 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
#define Z50 "00000000000000000000000000000000000000000000000000"
#define LONG_COMMENT "# " X50 X50 X50 X50 X50 "xxx" Z50 "0000000005\n"
#define LONG_NUMBER Z50 Z50 Z50 Z50 Z50 Z50 "\n"

static int write_text(const char *file, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

/* An upset-ranking HDF5 file: root attribute format, dataset /ranking/bit. */
static int write_h5_ranking(const char *file, const int64_t *bits, hsize_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, strlen("upset-ranking"));
    hid_t sc = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, "format", st, sc, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, st, "upset-ranking");
    H5Aclose(a);
    hid_t g = H5Gcreate2(f, "ranking", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t sp = H5Screate_simple(1, &n, NULL);
    hid_t d = H5Dcreate2(g, "bit", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, bits);
    H5Dclose(d);
    H5Sclose(sp);
    H5Gclose(g);
    H5Sclose(sc);
    H5Tclose(st);
    H5Fclose(f);
    return rc < 0 ? -1 : 0;
}

#define CK "00000000000000aa"

static int write_fixtures(void)
{
    bitrec_t oracle[8];
    for (int b = 0; b < 8; b++)
        oracle[b] = make_bit(b);
    /* guided: bits 0 3 6 1 (budget 4); statfi: bits 0 6 4 */
    bitrec_t guided[4] = {make_bit(0), make_bit(3), make_bit(6), make_bit(1)};
    bitrec_t statfi[3] = {make_bit(0), make_bit(6), make_bit(4)};
    /* BinFI as in binfi_found_hand: weight 0-2: flips bit 1 (sens), bit 2 (benign),
     * bit 0 implied sensitive; weight 3-5: bit 4 (benign), bit 3 (sens), bit 5 implied
     * benign; weight 6-7: bit 6 (sens), bit 7 (sens). */
    binrec_t binfi[8] = {
        {0, 0, -1, 0, 1, NAN}, {1, 1, 0, 1, 1, 0.2}, {2, 2, 1, 1, 0, 0.0},
        {3, 0, 3, 1, 1, 0.4},  {4, 1, 2, 1, 0, -0.1}, {5, 2, -1, 0, 0, NAN},
        {6, 0, 4, 1, 1, 0.3},  {7, 1, 5, 1, 1, 0.1},
    };
    trialrec_t trials[10];
    trialrec_t trials_poisson[10];
    for (int t = 0; t < 10; t++) {
        trials[t] = (trialrec_t){t, 2, t < 3};
        trials_poisson[t] = (trialrec_t){t, 2 + t % 2, t < 3};
    }
    /* another model: 4 bits, one 4-bit weight, bits 0 and 2 sensitive */
    bitrec_t tiny[4];
    for (int b = 0; b < 4; b++) {
        tiny[b] = (bitrec_t){0};
        tiny[b].bit = b;
        tiny[b].bit_pos = b;
        tiny[b].delta_emd = b % 2 ? -0.5 : 1.5;
        tiny[b].mean_emd = 1 + tiny[b].delta_emd;
        tiny[b].sensitive = b % 2 == 0;
    }
    results_attr_t mode = RESULTS_ATTR_STR("statfi_mode", "data_unaware");
    results_attr_t mb[] = {
        RESULTS_ATTR_I64("n_protected", 5),
        RESULTS_ATTR_I64("n_exceeding", 3),
        RESULTS_ATTR_F64("error_rate", 0.3),
        RESULTS_ATTR_F64("error_rate_wilson95_lo", 0.1),
        RESULTS_ATTR_F64("error_rate_wilson95_hi", 0.6),
        RESULTS_ATTR_F64("mean_error", 0.05),
    };
    int64_t reverse[8] = {5, 4, 7, 2, 1, 6, 3, 0};
    /* a classifier: one 4-bit weight, 3 mispredicts without a fault, {5, 3, 2, 7} with */
    bitrec_t cls[4];
    int64_t cls_mis[] = {5, 3, 2, 7};
    for (int b = 0; b < 4; b++) {
        cls[b] = (bitrec_t){0};
        cls[b].bit = b;
        cls[b].bit_pos = b;
        cls[b].mispredicts = cls_mis[b];
        cls[b].sensitive = cls_mis[b] > 3;
    }
    results_attr_t task = RESULTS_ATTR_STR("task", "classifier");
    fixture_baseline_mispredicts = 3;
    int rc = write_file("classifier.h5", &BIT_TABLE, cls, 4, "oracle",
                        yaml_for("cls", "oracle", ""), "00000000000000dd", 4, "cls", &task, 1);
    fixture_baseline_mispredicts = 0;
    /* the guided run again, on other samples than the oracle's */
    fixture_data_ck = "00000000000000d2";
    rc = rc || write_file("guided_other_data.h5", &BIT_TABLE, guided, 4, "guided",
                          yaml_for("e2e_other_data", "guided", "guided:\n  order: msb_lsb\n"),
                          CK, 8, "toy", NULL, 0);
    fixture_data_ck = "00000000000000d1";
    return rc ||
           write_file("oracle.h5", &BIT_TABLE, oracle, 8, "oracle",
                      yaml_for("e2e_oracle", "oracle", ""), CK, 8, "toy", NULL, 0) ||
           /* a partial oracle: layer 0 only (bits 0-5) */
           write_file("oracle_part.h5", &BIT_TABLE, oracle, 6, "oracle",
                      yaml_for("e2e_part", "oracle", "oracle:\n  layers: [l0]\n"), CK, 8,
                      "toy", NULL, 0) ||
           write_file("guided.h5", &BIT_TABLE, guided, 4, "guided",
                      yaml_for("e2e_guided", "guided", "guided:\n  order: msb_lsb\n"), CK, 8,
                      "toy", NULL, 0) ||
           write_file("statfi.h5", &BIT_TABLE, statfi, 3, "statfi",
                      yaml_for("e2e_statfi", "statfi", ""), CK, 8, "toy", &mode, 1) ||
           write_file("binfi.h5", &BIN_TABLE, binfi, 8, "binfi", yaml_for("e2e_binfi", "binfi", ""),
                      CK, 8, "toy", NULL, 0) ||
           write_file("multibit.h5", &TRIAL_TABLE, trials, 10, "multibit",
                      yaml_for("e2e_multibit", "multibit",
                               "multibit:\n  trials: 10\n  flips: 2\n  protection: top_percent\n"
                               "  protect_percent: 50\n  oracle: oracle.h5\n"),
                      CK, 8, "toy", mb, 6) ||
           /* a radiation environment: a Poisson count of cells per trial (2, 3, 2, 3, ...) */
           write_file("multibit_poisson.h5", &TRIAL_TABLE, trials_poisson, 10, "multibit",
                      yaml_for("e2e_poisson", "multibit",
                               "multibit:\n  trials: 10\n  cross_section: 0.25\n  flux: 1\n"
                               "  exposure: 1\n"),
                      CK, 8, "toy", mb, 6) ||
           write_file("tiny.h5", &BIT_TABLE, tiny, 4, "oracle", yaml_for("tiny", "oracle", ""),
                      "00000000000000bb", 4, "tiny", NULL, 0) ||
           write_file("other_guided.h5", &BIT_TABLE, guided, 4, "guided",
                      yaml_for("e2e_other", "guided", "guided:\n  order: random\n"), "00000000000000cc", 8, "toy", NULL,
                      0) ||
           write_text("rank_a.txt", "# near-optimal: 4 and 5 swapped\n0\n3\n6\n1\n7\n2\n4\n5\n") ||
           write_text("rank_short.txt", "0\n1\n2\n3\n4\n5\n6\n") ||
           write_text("rank_range.txt", "0\n1\n2\n3\n4\n5\n6\n8\n") ||
           write_text("rank_dup.txt", "0\n1\n2\n3\n4\n5\n6\n6\n") ||
           write_text("rank_long_comment.txt", LONG_COMMENT "0\n3\n6\n1\n7\n2\n4\n5\n") ||
           write_text("rank_long_line.txt", "0\n" LONG_NUMBER "3\n6\n1\n7\n2\n4\n5\n") ||
           write_h5_ranking("rank_rev.h5", reverse, 8);
}

/* Everything the file tests allocate is kept here and freed at the end of the test. */
static void **kept;
static int n_kept, cap_kept;
static void *track(void *p)
{
    if (n_kept == cap_kept) {
        cap_kept = cap_kept ? 2 * cap_kept : 1024;
        kept = realloc(kept, (size_t)cap_kept * sizeof *kept);
    }
    ck_assert(p != NULL && kept != NULL);
    return kept[n_kept++] = p;
}
static void release(void)
{
    while (n_kept)
        free(kept[--n_kept]);
    free(kept);
    kept = NULL;
    cap_kept = 0;
}

static char *fixture(const char *file)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", dir, file);
    return track(strdup(buf));
}

/* Reads column `name` of group `table` in DIR/analysis.h5 as double. */
static double *read_out(const char *out, const char *table, const char *name, hsize_t *n)
{
    char path[600], full[256];
    snprintf(path, sizeof path, "%s/analysis.h5", out);
    snprintf(full, sizeof full, "%s/%s", table, name);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    ck_assert_msg(f >= 0, "cannot open %s", path);
    hid_t d = H5Dopen2(f, full, H5P_DEFAULT);
    ck_assert_msg(d >= 0, "no %s", full);
    hid_t sp = H5Dget_space(d);
    *n = (hsize_t)H5Sget_simple_extent_npoints(sp);
    double *v = track(calloc(*n + 1, sizeof *v));
    ck_assert(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    H5Sclose(sp);
    H5Dclose(d);
    H5Fclose(f);
    return v;
}

static char **read_strings(const char *out, const char *table, const char *name, hsize_t *n)
{
    char path[600], full[256];
    snprintf(path, sizeof path, "%s/analysis.h5", out);
    snprintf(full, sizeof full, "%s/%s", table, name);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, full, H5P_DEFAULT);
    ck_assert_msg(d >= 0, "no %s", full);
    hid_t sp = H5Dget_space(d);
    *n = (hsize_t)H5Sget_simple_extent_npoints(sp);
    char **v = track(calloc(*n + 1, sizeof *v));
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    ck_assert(H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    for (hsize_t i = 0; i < *n; i++) { /* HDF5's copies -> tracked ones */
        char *h = v[i];
        v[i] = track(strdup(h));
        H5free_memory(h);
    }
    H5Tclose(t);
    H5Sclose(sp);
    H5Dclose(d);
    H5Fclose(f);
    return v;
}

static int find_row(char **labels, hsize_t n, const char *label)
{
    for (hsize_t i = 0; i < n; i++)
        if (!strcmp(labels[i], label))
            return (int)i;
    ck_abort_msg("no row %s", label);
    return -1;
}

/* The full-resolution curve of a method from /curves + /curve_values. */
static void check_curve(const char *out, const char *label, const double *want, int n)
{
    hsize_t nm, nv;
    char **m = read_strings(out, "curves", "method", &nm);
    double *off = read_out(out, "curves", "offset", &nm);
    double *len = read_out(out, "curves", "length", &nm);
    double *val = read_out(out, "curve_values", "cumulative_error", &nv);
    int r = find_row(m, nm, label);
    ck_assert_msg((int)len[r] == n, "%s: %d points, want %d", label, (int)len[r], n);
    for (int j = 0; j < n; j++)
        ck_assert_msg(fabs(val[(int)off[r] + j] - want[j]) < 1e-12, "%s point %d: %g, want %g",
                      label, j + 1, val[(int)off[r] + j], want[j]);
}

/* bits_flipped of method `label` at k in /topk */
static int64_t topk_at(const char *out, const char *label, int k)
{
    hsize_t n;
    char **m = read_strings(out, "topk", "method", &n);
    double *kk = read_out(out, "topk", "k", &n);
    double *bf = read_out(out, "topk", "bits_flipped", &n);
    int64_t v = INT64_MIN;
    for (hsize_t i = 0; i < n; i++)
        if (!strcmp(m[i], label) && (int)kk[i] == k)
            v = (int64_t)bf[i];
    ck_assert_msg(v != INT64_MIN, "no top-k row %s k=%d", label, k);
    return v;
}

START_TEST(end_to_end)
{
    char out[600];
    snprintf(out, sizeof out, "%s/out", dir);
    const char *oracles[] = {fixture("oracle.h5"), fixture("tiny.h5")};
    analyze_input_t rankings[] = {{"near", fixture("rank_a.txt")}, {NULL, fixture("rank_rev.h5")}};
    analyze_input_t guided[] = {{NULL, fixture("guided.h5")}};
    analyze_input_t binfi[] = {{NULL, fixture("binfi.h5")}};
    analyze_input_t statfi[] = {{NULL, fixture("statfi.h5")}};
    analyze_input_t multibit[] = {{"top50", fixture("multibit.h5")}};
    analyze_opts_t o = {oracles, 2, rankings, 2, guided, 1, binfi, 1, statfi, 1, multibit, 1,
                        out};
    analyze_summary_t s;
    int rc = analyze_run(&o, &s, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    ck_assert_int_eq(s.n_sensitive, 5);
    ck_assert_int_eq(s.n_bits, 8);
    ck_assert_int_eq(s.classifier, 0);
    ck_assert_str_eq(s.warnings.msg, "");

    /* Spearman, overall: x = -(position in the ranking), y = the oracle's dEMD, checked
     * against the brute-force rank correlation of the same pairs. */
    double y[8], xa[8], xr[8];
    int64_t rank_a[8] = {0, 3, 6, 1, 7, 2, 4, 5}, rank_r[8] = {5, 4, 7, 2, 1, 6, 3, 0};
    for (int p = 0; p < 8; p++) {
        xa[rank_a[p]] = -p;
        xr[rank_r[p]] = -p;
    }
    for (int b = 0; b < 8; b++)
        y[b] = DEMD[b];
    hsize_t n;
    char **sm = read_strings(out, "spearman", "method", &n);
    double *sp = read_out(out, "spearman", "bit_pos", &n);
    double *sr = read_out(out, "spearman", "rho", &n);
    double *sn = read_out(out, "spearman", "n_bits", &n);
    int ra = -1, rr = -1, ra1 = -1;
    for (hsize_t i = 0; i < n; i++) {
        ra = !strcmp(sm[i], "near") && sp[i] == -1 ? (int)i : ra;
        rr = !strcmp(sm[i], "rank_rev") && sp[i] == -1 ? (int)i : rr;
        ra1 = !strcmp(sm[i], "near") && sp[i] == 1 ? (int)i : ra1;
    }
    ck_assert(ra >= 0 && rr >= 0 && ra1 >= 0);
    ck_assert_double_eq_tol(sr[ra], brute_spearman(xa, y, 8), 1e-12);
    ck_assert_double_eq_tol(sr[rr], brute_spearman(xr, y, 8), 1e-12);
    /* the reverse ranking is exactly anti-correlated except for the tie at 0 */
    ck_assert(sr[rr] < -0.9);
    /* bit position 1 = bits 1, 4, 7 with dEMD .2, -.1, .1 and ranking-A positions
     * 3, 6, 4: predicted order 1, 7, 4 = true order, rho = 1 */
    ck_assert_int_eq((int)sn[ra1], 3);
    ck_assert_double_eq_tol(sr[ra1], 1, 1e-12);

    /* Cumulative error. Oracle-optimal: .5 .4 .3 .2 .1 0 0 -.1 ->
     * .5 .9 1.2 1.4 1.5 1.5 1.5 1.4. Ranking A: .5 .4 .3 .2 .1 0 -.1 0 ->
     * .5 .9 1.2 1.4 1.5 1.5 1.4 1.4. Reverse: 0 -.1 .1 0 .2 .3 .4 .5 ->
     * 0 -.1 0 0 .2 .5 .9 1.4. Guided (bits 0 3 6 1): .5 .9 1.2 1.4.
     * BinFI actual, by flip: bit1 .2, bit2 0, bit4 -.1, bit3 .4, bit6 .3, bit7 .1 ->
     * .2 .2 .1 .5 .8 .9; actual+implied adds bit 0 (.5, implied at flip 1) ->
     * .7 .7 .6 1.0 1.3 1.4. StatFI (bits 0 6 4): .5 .8 .7. */
    check_curve(out, "oracle_optimal", (double[]){.5, .9, 1.2, 1.4, 1.5, 1.5, 1.5, 1.4}, 8);
    check_curve(out, "near", (double[]){.5, .9, 1.2, 1.4, 1.5, 1.5, 1.4, 1.4}, 8);
    check_curve(out, "rank_rev", (double[]){0, -.1, 0, 0, .2, .5, .9, 1.4}, 8);
    check_curve(out, "e2e_guided", (double[]){.5, .9, 1.2, 1.4}, 4);
    check_curve(out, "binfi_actual", (double[]){.2, .2, .1, .5, .8, .9}, 6);
    check_curve(out, "binfi_actual_implied", (double[]){.7, .7, .6, 1.0, 1.3, 1.4}, 6);
    check_curve(out, "statfi_data_unaware", (double[]){.5, .8, .7}, 3);

    /* Top-k (S = 5: k=20 -> 1 bit, 40 -> 2, 60 -> 3, 80 -> 4, 100 -> 5), the targets
     * by dEMD: bit 0, 3, 6, 1, 7.
     * Oracle-optimal and ranking A find them at flips 1..5.
     * Reverse: bit 0 comes last (flip 8), so every k needs 8.
     * Guided 0 3 6 1: k<=80 -> m, k=100 needs bit 7, never flipped -> -1.
     * BinFI actual never flips bit 0 -> -1 everywhere; with implications bit 0 is found at
     * flip 1, bit 3 at 4, bit 6 at 5, bit 1 at 1, bit 7 at 6 -> 1, 4, 5, 5, 6.
     * StatFI (0 6 4): k=20 -> 1, k=40 needs bit 3 -> -1. */
    for (int m = 1; m <= 5; m++) {
        ck_assert_int_eq(topk_at(out, "oracle_optimal", 20 * m), m);
        ck_assert_int_eq(topk_at(out, "near", 20 * m), m);
        ck_assert_int_eq(topk_at(out, "rank_rev", 20 * m), 8);
        ck_assert_int_eq(topk_at(out, "binfi_actual", 20 * m), -1);
    }
    ck_assert_int_eq(topk_at(out, "e2e_guided", 80), 4);
    ck_assert_int_eq(topk_at(out, "e2e_guided", 100), -1);
    int64_t implied[] = {1, 4, 5, 5, 6};
    for (int m = 1; m <= 5; m++)
        ck_assert_int_eq(topk_at(out, "binfi_actual_implied", 20 * m), implied[m - 1]);
    ck_assert_int_eq(topk_at(out, "statfi_data_unaware", 20), 1);
    ck_assert_int_eq(topk_at(out, "statfi_data_unaware", 40), -1);

    /* /methods, the row per method paper_table.py reads: flips, sensitive bits found (the
     * sensitive bits 0 1 3 6 7 among those found above), the curve's last value, Spearman
     * (NaN where there is none) and the top-k flips at 50 % (m = 3) and 100 % (m = 5). */
    struct {
        const char *label;
        int64_t flipped, found;
        double final, rho;
        int64_t top50, top100;
    } mw[] = {
        {"oracle_optimal", 8, 5, 1.4, NAN, 3, 5},
        {"near", 8, 5, 1.4, brute_spearman(xa, y, 8), 3, 5},
        {"rank_rev", 8, 5, 1.4, brute_spearman(xr, y, 8), 8, 8},
        {"e2e_guided", 4, 4, 1.4, NAN, 3, -1},
        {"binfi_actual", 6, 4, .9, NAN, -1, -1},
        {"binfi_actual_implied", 6, 5, 1.4, NAN, 5, 6},
        {"statfi_data_unaware", 3, 2, .7, NAN, -1, -1},
    };
    char **mlab = read_strings(out, "methods", "method", &n);
    double *mbf = read_out(out, "methods", "bits_flipped", &n);
    double *msf = read_out(out, "methods", "sensitive_found", &n);
    double *mfe = read_out(out, "methods", "final_error", &n);
    double *mrho = read_out(out, "methods", "spearman", &n);
    double *m50 = read_out(out, "methods", "needed_top50", &n);
    double *m100 = read_out(out, "methods", "needed_top100", &n);
    ck_assert_int_eq((int)n, 7);
    for (int i = 0; i < 7; i++) {
        int r = find_row(mlab, n, mw[i].label);
        ck_assert_msg((int64_t)mbf[r] == mw[i].flipped && (int64_t)msf[r] == mw[i].found &&
                          fabs(mfe[r] - mw[i].final) < 1e-12 && (int64_t)m50[r] == mw[i].top50 &&
                          (int64_t)m100[r] == mw[i].top100,
                      "methods %s: %g flips, %g found, final %g, top50 %g, top100 %g", mw[i].label,
                      mbf[r], msf[r], mfe[r], m50[r], m100[r]);
        if (isnan(mw[i].rho))
            ck_assert(isnan(mrho[r]));
        else
            ck_assert_double_eq_tol(mrho[r], mw[i].rho, 1e-12);
    }

    /* Per position (toy): pos 0 = bits 0 3 6, all sensitive; pos 1 = bits 1 4 7, two;
     * pos 2 = bits 2 5, none. Per layer: layer 0 = bits 0-5 (2 weights), 3 sensitive;
     * layer 1 = bits 6-7 (1 weight), 2 sensitive. The tiny model: 4 bits, 2 sensitive. */
    char **pm = read_strings(out, "sensitive_by_position", "model", &n);
    double *pp = read_out(out, "sensitive_by_position", "bit_pos", &n);
    double *pn = read_out(out, "sensitive_by_position", "n_bits", &n);
    double *ps = read_out(out, "sensitive_by_position", "sensitive_share", &n);
    double *pf = read_out(out, "sensitive_by_position", "share_of_sensitive", &n);
    double *pe = read_out(out, "sensitive_by_position", "error_sum", &n);
    /* error sums: pos 0 .5+.4+.3, pos 1 .2-.1+.1, pos 2 0+0 */
    double want_share[] = {1, 2.0 / 3, 0}, want_of[] = {3.0 / 5, 2.0 / 5, 0},
           want_sum[] = {1.2, .2, 0};
    int seen = 0;
    for (hsize_t i = 0; i < n; i++)
        if (!strcmp(pm[i], "toy")) {
            int p = (int)pp[i];
            ck_assert_int_eq((int)pn[i], p < 2 ? 3 : 2);
            ck_assert_double_eq_tol(ps[i], want_share[p], 1e-15);
            ck_assert_double_eq_tol(pf[i], want_of[p], 1e-15);
            ck_assert_double_eq_tol(pe[i], want_sum[p], 1e-12);
            seen++;
        }
    ck_assert_int_eq(seen, 3);
    /* layer 0: 6 bits, 3 sensitive, errors .5+.2+0+.4-.1+0 = 1; layer 1: 2 bits, both
     * sensitive, .3+.1 */
    double *lw = read_out(out, "sensitive_by_layer", "n_weights", &n);
    double *ls = read_out(out, "sensitive_by_layer", "n_sensitive", &n);
    double *lb = read_out(out, "sensitive_by_layer", "n_bits", &n);
    double *lsh = read_out(out, "sensitive_by_layer", "sensitive_share", &n);
    double *lof = read_out(out, "sensitive_by_layer", "share_of_sensitive", &n);
    double *le = read_out(out, "sensitive_by_layer", "error_sum", &n);
    ck_assert_int_eq((int)lw[0], 2);
    ck_assert_int_eq((int)ls[0], 3);
    ck_assert_int_eq((int)lw[1], 1);
    ck_assert_int_eq((int)ls[1], 2);
    ck_assert_int_eq((int)lb[0], 6);
    ck_assert_int_eq((int)lb[1], 2);
    ck_assert_double_eq_tol(lsh[0], .5, 1e-15);
    ck_assert_double_eq_tol(lsh[1], 1, 1e-15);
    ck_assert_double_eq_tol(lof[0], 3.0 / 5, 1e-15);
    ck_assert_double_eq_tol(lof[1], 2.0 / 5, 1e-15);
    ck_assert_double_eq_tol(le[0], 1.0, 1e-12);
    ck_assert_double_eq_tol(le[1], .4, 1e-12);
    /* whole models: toy 3 weights, 5 of 8 sensitive, errors summing to 1.4; tiny one weight,
     * 2 of 4, 1.5-.5+1.5-.5 = 2 */
    char **zm = read_strings(out, "sensitive_vs_size", "model", &n);
    double *zb = read_out(out, "sensitive_vs_size", "n_fault_bits", &n);
    double *zs = read_out(out, "sensitive_vs_size", "n_sensitive", &n);
    double *zw = read_out(out, "sensitive_vs_size", "n_weights", &n);
    double *zsh = read_out(out, "sensitive_vs_size", "sensitive_share", &n);
    double *ze = read_out(out, "sensitive_vs_size", "error_sum", &n);
    ck_assert_int_eq((int)n, 2);
    ck_assert_str_eq(zm[1], "tiny");
    ck_assert_int_eq((int)zb[1], 4);
    ck_assert_int_eq((int)zs[1], 2);
    ck_assert_int_eq((int)zs[0], 5);
    ck_assert_int_eq((int)zw[0], 3);
    ck_assert_int_eq((int)zw[1], 1);
    ck_assert_double_eq_tol(zsh[0], 5.0 / 8, 1e-15);
    ck_assert_double_eq_tol(zsh[1], .5, 1e-15);
    ck_assert_double_eq_tol(ze[0], 1.4, 1e-12);
    ck_assert_double_eq_tol(ze[1], 2.0, 1e-12);
    /* the reference's total as the root attribute paper_table.py divides by (via info.csv) */
    char ap[700];
    snprintf(ap, sizeof ap, "%s/analysis.h5", out);
    hid_t af = H5Fopen(ap, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t aa = H5Aopen(af, "total_error", H5P_DEFAULT);
    double total = NAN;
    ck_assert(aa >= 0 && H5Aread(aa, H5T_NATIVE_DOUBLE, &total) >= 0);
    H5Aclose(aa);
    H5Fclose(af);
    ck_assert_double_eq_tol(total, 1.4, 1e-12);

    /* Heatmap: 3 weights; row 2 (layer 1) has bit_0 = .3, bit_1 = .1 and no bit_2. */
    double *h0 = read_out(out, "heatmap", "bit_0", &n);
    double *h2 = read_out(out, "heatmap", "bit_2", &n);
    ck_assert_int_eq((int)n, 3);
    ck_assert_double_eq(h0[0], .5);
    ck_assert_double_eq(h0[1], .4);
    ck_assert_double_eq(h0[2], .3);
    ck_assert(isnan(h2[2]));

    /* Multibit: attributes passed through; 5 protected of 5 sensitive; flips from n_drawn */
    char **mm = read_strings(out, "multibit", "method", &n);
    ck_assert_str_eq(mm[0], "top50");
    double *mr = read_out(out, "multibit", "error_rate", &n);
    double *msh = read_out(out, "multibit", "protected_share_of_sensitive", &n);
    double *mf = read_out(out, "multibit", "flips", &n);
    double *mt = read_out(out, "multibit", "trials", &n);
    double *mpp = read_out(out, "multibit", "protect_percent", &n);
    double *mne = read_out(out, "multibit", "n_exceeding", &n);
    double *mlo = read_out(out, "multibit", "wilson95_lo", &n);
    double *mhi = read_out(out, "multibit", "wilson95_hi", &n);
    double *mme = read_out(out, "multibit", "mean_error", &n);
    ck_assert_double_eq(mr[0], 0.3);
    ck_assert_double_eq(msh[0], 1.0);
    ck_assert_double_eq(mpp[0], 50);
    ck_assert_int_eq((int)mne[0], 3);
    ck_assert_double_eq(mlo[0], 0.1);
    ck_assert_double_eq(mhi[0], 0.6);
    ck_assert_double_eq(mme[0], 0.05);
    ck_assert_int_eq((int)mf[0], 2);
    ck_assert_int_eq((int)mt[0], 10);
    /* the paper's level: 5 protected of all the model's bits */
    double *mal = read_out(out, "multibit", "protected_share_of_all", &n);
    ck_assert_double_eq_tol(mal[0], 5.0 / zb[0], 1e-15);
    /* a file written with the former name "top_percent" reads back under its explicit name */
    char **mp = read_strings(out, "multibit", "protection", &n);
    ck_assert_str_eq(mp[0], "top_percent_of_sensitive");

    /* The CSVs exist, start with their header, and no .tmp is left. */
    const char *tables[] = {"methods", "spearman", "cumulative_error", "topk",
                            "sensitive_by_position", "sensitive_by_layer", "sensitive_vs_size",
                            "heatmap", "multibit"};
    for (size_t i = 0; i < sizeof tables / sizeof *tables; i++) {
        char p[700], line[256];
        snprintf(p, sizeof p, "%s/%s.csv", out, tables[i]);
        FILE *f = fopen(p, "r");
        ck_assert_msg(f != NULL, "missing %s", p);
        ck_assert(fgets(line, sizeof line, f) != NULL);
        ck_assert_msg(strchr(line, ',') != NULL, "%s: no header", p);
        fclose(f);
        snprintf(p, sizeof p, "%s/%s.csv.tmp", out, tables[i]);
        ck_assert_int_eq(access(p, F_OK), -1);
    }
    /* the curve CSV row for ranking A at 7 flips */
    char p[700], line[256];
    snprintf(p, sizeof p, "%s/cumulative_error.csv", out);
    FILE *f = fopen(p, "r");
    int found = 0;
    while (fgets(line, sizeof line, f))
        found |= !strncmp(line, "near,7,", 7) && fabs(atof(line + 7) - 1.4) < 1e-12;
    fclose(f);
    ck_assert(found);
    analyze_summary_free(&s);
    release();
}
END_TEST

/* A multibit campaign whose trials drew different cell counts has no one `flips`: -1, not
 * the first trial's count. */
START_TEST(multibit_poisson_flips)
{
    char out[600];
    snprintf(out, sizeof out, "%s/out_poisson", dir);
    const char *oracles[] = {fixture("oracle.h5")};
    analyze_input_t multibit[] = {{"fixed", fixture("multibit.h5")},
                                  {"poisson", fixture("multibit_poisson.h5")}};
    analyze_opts_t o = {oracles, 1, NULL, 0, NULL, 0, NULL, 0, NULL, 0, multibit, 2, out};
    analyze_summary_t s;
    int rc = analyze_run(&o, &s, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    hsize_t n = 0;
    char **mm = read_strings(out, "multibit", "method", &n);
    double *mf = read_out(out, "multibit", "flips", &n);
    ck_assert_int_eq((int)n, 2);
    ck_assert_str_eq(mm[0], "fixed");
    ck_assert_int_eq((int)mf[0], 2);
    ck_assert_str_eq(mm[1], "poisson");
    ck_assert_int_eq((int)mf[1], -1);
    analyze_summary_free(&s);
    release();
}
END_TEST

/* A partial oracle (bits 0-5: dEMD .5 .2 0 .4 -.1 0, sensitive 0 1 3) restricts every
 * method to its bits, keeping the method's order, as it does a ranking: guided, StatFI and
 * BinFI flips of bits 6 and 7 are neither steps of the curves nor part of their error. */
START_TEST(partial_oracle)
{
    char out[600];
    snprintf(out, sizeof out, "%s/out_part", dir);
    const char *oracles[] = {fixture("oracle_part.h5")};
    analyze_input_t rankings[] = {{"near", fixture("rank_a.txt")}};
    analyze_input_t guided[] = {{NULL, fixture("guided.h5")}};
    analyze_input_t binfi[] = {{NULL, fixture("binfi.h5")}};
    analyze_input_t statfi[] = {{NULL, fixture("statfi.h5")}};
    analyze_opts_t o = {oracles, 1, rankings, 1, guided, 1, binfi, 1, statfi, 1, NULL, 0, out};
    analyze_summary_t s;
    int rc = analyze_run(&o, &s, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    ck_assert_int_eq(s.n_bits, 6);
    ck_assert_int_eq(s.n_sensitive, 3);
    /* ranking A restricted: 0 3 1 2 4 5; guided 0 3 [6] 1 -> 0 3 1, the same first three;
     * StatFI 0 [6] 4 -> 0 4; BinFI's covered flips: bit1 .2, bit2 0, bit4 -.1, bit3 .4,
     * with bit 0 implied at flip 1 */
    check_curve(out, "near", (double[]){.5, .9, 1.1, 1.1, 1.0, 1.0}, 6);
    check_curve(out, "e2e_guided", (double[]){.5, .9, 1.1}, 3);
    check_curve(out, "statfi_data_unaware", (double[]){.5, .4}, 2);
    check_curve(out, "binfi_actual", (double[]){.2, .2, .1, .5}, 4);
    check_curve(out, "binfi_actual_implied", (double[]){.7, .7, .6, 1.0}, 4);
    /* targets 0 3 1 (k = 100 -> all 3): guided finds them in 3 flips, as the ranking does */
    ck_assert_int_eq(topk_at(out, "near", 100), 3);
    ck_assert_int_eq(topk_at(out, "e2e_guided", 100), 3);
    ck_assert_int_eq(topk_at(out, "e2e_guided", 34), 2);
    ck_assert_int_eq(topk_at(out, "binfi_actual_implied", 100), 4);
    analyze_summary_free(&s);
    release();
}
END_TEST

/* A classifier's error is its mispredicts beyond the fault-free 3: {5, 3, 2, 7} -> {2, 0, -1,
 * 4}; sensitive bits 0 and 3. Oracle-optimal order 3 0 1 2: 4 6 6 5. */
START_TEST(classifier_errors)
{
    char out[600];
    snprintf(out, sizeof out, "%s/out_cls", dir);
    const char *oracles[] = {fixture("classifier.h5")};
    analyze_opts_t o = {oracles, 1, NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0, out};
    analyze_summary_t s;
    int rc = analyze_run(&o, &s, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    ck_assert_int_eq(s.classifier, 1);
    ck_assert_int_eq(s.n_sensitive, 2);
    hsize_t n;
    const double want[] = {2, 0, -1, 4};
    for (int p = 0; p < 4; p++) {
        char col[16];
        snprintf(col, sizeof col, "bit_%d", p);
        double *h = read_out(out, "heatmap", col, &n);
        ck_assert_int_eq((int)n, 1);
        ck_assert_double_eq(h[0], want[p]);
    }
    check_curve(out, "oracle_optimal", (double[]){4, 6, 6, 5}, 4);
    double *ze = read_out(out, "sensitive_vs_size", "error_sum", &n);
    ck_assert_double_eq(ze[0], 5);
    analyze_summary_free(&s);
    release();
}
END_TEST

/* A method run on other samples than the oracle is scored, with a warning naming it. */
START_TEST(other_data_warns)
{
    char out[600];
    snprintf(out, sizeof out, "%s/out_other_data", dir);
    const char *oracles[] = {fixture("oracle.h5")};
    analyze_input_t guided[] = {{NULL, fixture("guided_other_data.h5")}};
    analyze_opts_t o = {oracles, 1, NULL, 0, guided, 1, NULL, 0, NULL, 0, NULL, 0, out};
    analyze_summary_t s;
    int rc = analyze_run(&o, &s, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    ck_assert_msg(strstr(s.warnings.msg, "guided_other_data.h5: evaluated on other samples") &&
                      strstr(s.warnings.msg, "00000000000000d2 vs 00000000000000d1"),
                  "warnings: '%s'", s.warnings.msg);
    check_curve(out, "e2e_other_data", (double[]){.5, .9, 1.2, 1.4}, 4);
    analyze_summary_free(&s);
    release();
}
END_TEST

/* A failing input leaves no output at all. */
static void expect_failure(analyze_opts_t *o, const char *needle)
{
    char out[600];
    snprintf(out, sizeof out, "%s/fail_out", dir);
    o->out_dir = out;
    upset_err_t e = {{0}};
    analyze_summary_t s;
    ck_assert_int_eq(analyze_run(o, &s, &e), -1);
    ck_assert_msg(strstr(e.msg, needle) != NULL, "message '%s' lacks '%s'", e.msg, needle);
    struct stat st;
    ck_assert_msg(stat(out, &st) != 0, "%s was created", out);
}

START_TEST(bad_inputs)
{
    const char *oracle[] = {fixture("oracle.h5")};
    analyze_opts_t o = {0};
    o.oracles = oracle;
    o.n_oracles = 1;
    analyze_input_t r = {NULL, fixture("rank_short.txt")};
    o.rankings = &r;
    o.n_rankings = 1;
    expect_failure(&o, "has 7 bits");
    r.path = fixture("rank_range.txt");
    expect_failure(&o, "outside");
    r.path = fixture("rank_dup.txt");
    expect_failure(&o, "twice");
    r.path = fixture("rank_long_line.txt");
    expect_failure(&o, "rank_long_line.txt:2: line longer than 254 characters");
    /* a comment longer than the reader's buffer is still one comment line */
    r.path = fixture("rank_long_comment.txt");
    char long_out[600];
    snprintf(long_out, sizeof long_out, "%s/long_comment_out", dir);
    o.out_dir = long_out;
    analyze_summary_t long_sum;
    upset_err_t long_err = {{0}};
    ck_assert_msg(analyze_run(&o, &long_sum, &long_err) == 0, "%s", long_err.msg);
    analyze_summary_free(&long_sum);
    r.path = fixture("no_such_file.txt");
    expect_failure(&o, "cannot open");
    o.n_rankings = 0;
    analyze_input_t g = {NULL, fixture("other_guided.h5")};
    o.guided = &g;
    o.n_guided = 1;
    expect_failure(&o, "another model");
    g.path = fixture("binfi.h5");
    expect_failure(&o, "expected kind 'guided'");
    o.n_guided = 0;
    const char *not_oracle[] = {fixture("guided.h5")};
    o.oracles = not_oracle;
    expect_failure(&o, "expected kind 'oracle'");
    o.n_oracles = 0;
    expect_failure(&o, "required");
    /* two methods with one label */
    o.oracles = oracle;
    o.n_oracles = 1;
    analyze_input_t two[] = {{"x", fixture("rank_a.txt")}, {"x", fixture("rank_rev.h5")}};
    o.rankings = two;
    o.n_rankings = 2;
    expect_failure(&o, "used twice");
    release();
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("analyze");
    TCase *core = tcase_create("core");
    tcase_add_test(core, average_ranks_ties);
    tcase_add_test(core, spearman_hand);
    tcase_add_test(core, spearman_brute_force);
    tcase_add_test(core, spearman_groups_hand);
    tcase_add_test(core, order_by_error_hand);
    tcase_add_test(core, cumulative_hand);
    tcase_add_test(core, topk_target_hand);
    tcase_add_test(core, topk_no_ties);
    tcase_add_test(core, topk_ties);
    tcase_add_test(core, group_counts_hand);
    tcase_add_test(core, binfi_found_hand);
    tcase_add_test(core, curve_points_hand);
    suite_add_tcase(s, core);
    TCase *files = tcase_create("files");
    tcase_set_timeout(files, 60);
    tcase_add_test(files, end_to_end);
    tcase_add_test(files, partial_oracle);
    tcase_add_test(files, multibit_poisson_flips);
    tcase_add_test(files, classifier_errors);
    tcase_add_test(files, other_data_warns);
    tcase_add_test(files, bad_inputs);
    suite_add_tcase(s, files);
    return s;
}

/* The fixtures are written with results_write (MPI_COMM_SELF) in a child
 * process, so MPI never runs in this one: the analysis needs no MPI, and the
 * forked test cases stay free of MPI's allocations (clean under LeakSanitizer). */
int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/check_analyze.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("check_analyze: mkdtemp");
        return EXIT_FAILURE;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        MPI_Init(NULL, NULL);
        int rc = write_fixtures();
        MPI_Finalize();
        _exit(rc ? 1 : 0); /* _exit: MPI's leftovers are not this test's leaks */
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
        fprintf(stderr, "check_analyze: cannot write the fixtures in %s\n", dir);
        return EXIT_FAILURE;
    }
    SRunner *sr = srunner_create(make_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "check_analyze: could not remove %s\n", dir);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
