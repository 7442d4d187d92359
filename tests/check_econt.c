/* ECON-T metrics on the real geometry: the compiled-in tables equal
 * data/reference/econt_geometry.txt, the ground distance of every cell pair its Euclidean
 * distance there; EMD between real HGCal inputs and real ECON-T Medium reconstructions
 * equals GLPK's optimum of the transport LP on the file's distances; EMD is
 * symmetric and zero for identical inputs; the zero-sum rules; the telescope loss against
 * the file's formula and supercell tables, its gradient against central finite differences. */
#include <glpk.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check_util.h"
#include "upset/dataset.h"
#include "upset/econt.h"
#include "upset/engine.h"

/* Reads the values following `key` on every line that starts with it. */
static int read_table(const char *key, double *out, int max)
{
    FILE *f = fopen("data/reference/econt_geometry.txt", "r");
    ck_assert_ptr_nonnull(f);
    char line[4096];
    int n = 0;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl) && line[kl] == ' ') {
            char *p = line + kl, *end;
            for (double v = strtod(p, &end); end != p && n < max; v = strtod(p, &end)) {
                out[n++] = v;
                p = end;
            }
        }
    fclose(f);
    return n;
}

/* The EMD's ground distance from the file alone: the Euclidean distance between its
 * hex_coords centres over half the cell pitch, 0.5 * 2.4168015 (the file's header). */
static void file_ground_distance(double *out)
{
    double xy[128];
    ck_assert_int_eq(read_table("hex_coords", xy, 128), 96);
    for (int i = 0; i < 48; i++)
        for (int j = 0; j < 48; j++) {
            const double dx = xy[2 * i] - xy[2 * j], dy = xy[2 * i + 1] - xy[2 * j + 1];
            out[i * 48 + j] = sqrt(dx * dx + dy * dy) / (0.5 * 2.4168015);
        }
}

START_TEST(test_tables_match_reference_file)
{
    double v[128];
    ck_assert_int_eq(read_table("hex_coords", v, 128), 96);
    const double *xy = econt_hex_coords();
    for (int i = 0; i < 96; i++)
        ck_assert(v[i] == xy[i]);
    ck_assert_int_eq(read_table("arrange_8x8", v, 128), 64);
    for (int i = 0; i < 64; i++)
        ck_assert_int_eq((int)v[i], econt_arrange_8x8()[i]);
    ck_assert_int_eq(read_table("arr_mask_8x8", v, 128), 64);
    for (int i = 0; i < 64; i++)
        ck_assert_int_eq((int)v[i], econt_arr_mask_8x8()[i]);
    ck_assert_int_eq(read_table("remap_8x8", v, 128), 48);
    for (int i = 0; i < 48; i++)
        ck_assert_int_eq((int)v[i], econt_remap_8x8()[i]);
    /* neighbouring cells are one pitch apart: ground distance 2 (half-pitch units) */
    const double *d = econt_ground_distance();
    ck_assert(fabs(d[0 * 48 + 1] - 2.0) < 1e-6);
    ck_assert(d[5 * 48 + 5] == 0);
    /* every pair: the file's Euclidean distance between its centres, in its unit */
    double want[48 * 48];
    file_ground_distance(want);
    for (int i = 0; i < 48 * 48; i++)
        ck_assert_msg(fabs(d[i] - want[i]) <= 1e-14 * want[i], "cells %d, %d: %.17g, file %.17g",
                      i / 48, i % 48, d[i], want[i]);
}
END_TEST

/* min sum c_ij x_ij, row sums a, column sums b, x >= 0, solved by GLPK. */
static double glpk_transport(const double *a, const double *b, const double *cost)
{
    glp_prob *lp = glp_create_prob();
    glp_set_obj_dir(lp, GLP_MIN);
    glp_add_rows(lp, 96);
    for (int i = 0; i < 48; i++) {
        glp_set_row_bnds(lp, 1 + i, GLP_FX, a[i], a[i]);
        glp_set_row_bnds(lp, 49 + i, GLP_FX, b[i], b[i]);
    }
    glp_add_cols(lp, 48 * 48);
    int ind[3];
    double val[3] = {0, 1, 1};
    for (int i = 0; i < 48; i++)
        for (int j = 0; j < 48; j++) {
            int col = 1 + i * 48 + j;
            glp_set_col_bnds(lp, col, GLP_LO, 0, 0);
            glp_set_obj_coef(lp, col, cost[i * 48 + j]);
            ind[1] = 1 + i;
            ind[2] = 49 + j;
            glp_set_mat_col(lp, col, 2, ind, val);
        }
    glp_smcp parm;
    glp_init_smcp(&parm);
    parm.msg_lev = GLP_MSG_OFF;
    /* GLPK's default 1e-7 tolerances leave its optimum off by up to ~5e-7 relative here
     * (checked against HiGHS, which agrees with us to 1e-15); tighten them */
    parm.tol_bnd = 1e-12;
    parm.tol_dj = 1e-12;
    ck_assert_int_eq(glp_simplex(lp, &parm), 0);
    ck_assert_int_eq(glp_get_status(lp), GLP_OPT);
    double z = glp_get_obj_val(lp);
    glp_delete_prob(lp);
    return z;
}

/* A unit-sum histogram whose cells are multiples of 2^-40 summing to exactly 1 (the
 * largest cell absorbs the rounding), so the LP is balanced in exact arithmetic too. */
static void unit(const double *h, double *out)
{
    double s = 0;
    int big = 0;
    for (int i = 0; i < 48; i++) {
        s += h[i];
        big = h[i] > h[big] ? i : big;
    }
    long long total = 0, one = 1LL << 40;
    for (int i = 0; i < 48; i++) {
        long long k = llround(h[i] / s * (double)one);
        out[i] = (double)k;
        total += k;
    }
    out[big] += (double)(one - total);
    for (int i = 0; i < 48; i++)
        out[i] = ldexp(out[i], -40);
}

START_TEST(test_emd_real_samples_vs_glpk)
{
    upset_err_t err = {{0}};
    model_t m;
    dataset_t d;
    engine_t e;
    const char *files[] = {"data/hgcal/ttbar_0PU.csv"};
    ck_assert_int_eq(model_load("models/econt_medium.h5", &m, &err), 0);
    ck_assert_msg(dataset_load_hgcal(files, 1, 0, 40, &d, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(engine_create(&e, &m, -1, &err), 0);
    emd_workspace_t *ws = emd_workspace_create(48, 48, &err);
    ck_assert_ptr_nonnull(ws);
    double cost[48 * 48]; /* the LP's costs from the file, not from the code under test */
    file_ground_distance(cost);
    double worst = 0;
    for (int s = 0; s < d.n; s++) {
        ck_assert_int_eq(engine_run(&e, d.x + s * 64, &err), 0);
        double img[64], out[48], a[48], b[48], ours, back;
        for (int p = 0; p < 64; p++)
            img[p] = tensor_value(engine_output(&e), p);
        econt_cells_from_8x8(img, out);
        unit(d.cells + s * 48, a);
        unit(out, b);
        ck_assert_int_eq(econt_emd(ws, a, b, ECONT_ZERO_UNIFORM, &ours, &err), 0);
        ck_assert_int_eq(econt_emd(ws, b, a, ECONT_ZERO_UNIFORM, &back, &err), 0);
        double lp = glpk_transport(a, b, cost);
        double rel = fabs(ours - lp) / fmax(lp, 1e-12);
        worst = rel > worst ? rel : worst;
        ck_assert_msg(rel < 1e-10, "sample %d: EMD %.15g, GLPK %.15g", s, ours, lp);
        ck_assert_msg(fabs(ours - back) <= 1e-12 * ours, "not symmetric: %.17g vs %.17g", ours,
                      back);
        double self;
        ck_assert_int_eq(econt_emd(ws, out, out, ECONT_ZERO_UNIFORM, &self, &err), 0);
        ck_assert(fabs(self) < 1e-12);
    }
    printf("econt EMD vs GLPK on 40 real samples: largest relative difference %.2e\n", worst);
    emd_workspace_free(ws);
    engine_free(&e);
    dataset_free(&d);
    model_free(&m);
}
END_TEST

START_TEST(test_zero_sum_rules)
{
    upset_err_t err;
    emd_workspace_t *ws = emd_workspace_create(48, 48, &err);
    double zero[48] = {0}, one[48] = {0}, uni[48], r;
    one[7] = 3.0;
    for (int i = 0; i < 48; i++)
        uni[i] = 1.0;
    ck_assert_int_eq(econt_emd(ws, one, zero, ECONT_ZERO_REFERENCE, &r, &err), 0);
    ck_assert(r == -0.5);
    ck_assert_int_eq(econt_emd(ws, zero, zero, ECONT_ZERO_UNIFORM, &r, &err), 0);
    ck_assert(r == 0);
    /* uniform rule: a dead output scores as the uniform histogram */
    double r2;
    ck_assert_int_eq(econt_emd(ws, one, zero, ECONT_ZERO_UNIFORM, &r, &err), 0);
    ck_assert_int_eq(econt_emd(ws, one, uni, ECONT_ZERO_UNIFORM, &r2, &err), 0);
    ck_assert(r == r2 && r > 0);
    /* mass at cell 7 against uniform: mean ground distance from cell 7 */
    double mean = 0;
    for (int j = 0; j < 48; j++)
        mean += econt_ground_distance()[7 * 48 + j] / 48.0;
    ck_assert(fabs(r - mean) < 1e-12);
    one[3] = -1;
    ck_assert_int_ne(econt_emd(ws, one, uni, ECONT_ZERO_UNIFORM, &r, &err), 0);
    ck_assert_msg(strstr(err.msg, "input cell 3"), "%s", err.msg);
    emd_workspace_free(ws);
}
END_TEST

/* The scorer's basis slot (src/task/task.c): the fault-free solve fills it, every faulty
 * output warm-starts from it. A fault-free sample with no transport problem (input and
 * output zero; a zero side under the reference rule) must still fill it, else the first
 * faulty output solved fills it instead and the others' EMDs depend on the order in
 * which a rank happened to score them. */
static double slot_score(emd_workspace_t *ws, emd_basis_t *b, const double *in,
                         const double *out, int rule)
{
    upset_err_t err;
    double r;
    if (b->n == 0)
        ck_assert_int_eq(econt_emd_warm(ws, NULL, in, out, rule, &r, b, &err), 0);
    ck_assert_int_eq(econt_emd_warm(ws, b, in, out, rule, &r, NULL, &err), 0);
    return r;
}

START_TEST(test_zero_sum_basis_order_free)
{
    upset_err_t err;
    emd_workspace_t *ws = emd_workspace_create(48, 48, &err);
    double zero[48] = {0}, in[48], o[12][48];
    uint64_t x = 12345;
    for (int k = 0; k < 12; k++)
        for (int i = 0; i < 48; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            o[k][i] = (x >> 60) < 5 ? (double)(x >> 40 & 1023) / 7.0 : 0.0;
        }
    for (int i = 0; i < 48; i++)
        in[i] = 1.0 + i % 5;
    for (int rule = 0; rule < 2; rule++) {
        const double *clean_in = rule == ECONT_ZERO_UNIFORM ? zero : in;
        for (int k = 1; k < 12; k++) {
            emd_basis_t *b1 = emd_basis_create(48, 48, &err), *b2 = emd_basis_create(48, 48, &err);
            double r;
            ck_assert(slot_score(ws, b1, clean_in, zero, rule) ==
                      (rule == ECONT_ZERO_UNIFORM ? 0 : -0.5));
            slot_score(ws, b2, clean_in, zero, rule);
            slot_score(ws, b1, clean_in, o[0], rule);
            double after = slot_score(ws, b1, clean_in, o[k], rule);
            double first = slot_score(ws, b2, clean_in, o[k], rule);
            ck_assert_int_eq(econt_emd(ws, clean_in, o[k], rule, &r, &err), 0);
            ck_assert_msg(after == first && first == r,
                          "rule %d output %d: %.17g after another output, %.17g first, %.17g cold",
                          rule, k, after, first, r);
            ck_assert_int_eq(b2->n, 48);
            emd_basis_free(b1);
            emd_basis_free(b2);
        }
    }
    emd_workspace_free(ws);
}
END_TEST

START_TEST(test_emd_sum_overflow)
{
    /* finite charges whose sum overflows a double are the same histograms scaled */
    upset_err_t err;
    emd_workspace_t *ws = emd_workspace_create(48, 48, &err);
    double in[48] = {0}, out[48] = {0}, in1[48] = {0}, out1[48] = {0}, big, small;
    in[0] = in[5] = 1e308;
    out[3] = 1.7e308;
    out[9] = 0.3e308;
    in1[0] = in1[5] = 1;
    out1[3] = 1.7;
    out1[9] = 0.3;
    ck_assert_int_eq(econt_emd(ws, in, out, ECONT_ZERO_UNIFORM, &big, &err), 0);
    ck_assert_int_eq(econt_emd(ws, in1, out1, ECONT_ZERO_UNIFORM, &small, &err), 0);
    ck_assert_msg(small > 1 && fabs(big - small) <= 1e-12 * small, "EMD %.17g, scaled %.17g", big,
                  small);
    emd_workspace_free(ws);
}
END_TEST

/* The telescope loss from the file alone (its last comment line): 4 L1 + 2 L2 + L3, each
 * the mean over its cells of (y - yhat)^2 max(y, yhat); L2's cells are the sc36 rows' sums
 * of four trigger cells, times the row's weight; L3's the sc12 rows (2x2 groups of
 * trigger cells) summed in consecutive fours into 3 cells. */
static double file_telescope_loss(const double *y, const double *yh)
{
    double sc36[36 * 5], sc12[12 * 4];
    ck_assert_int_eq(read_table("sc36", sc36, 36 * 5), 36 * 5);
    ck_assert_int_eq(read_table("sc12", sc12, 12 * 4), 12 * 4);
    double y36[36], h36[36], l1 = 0, l2 = 0, l3 = 0;
    for (int i = 0; i < 48; i++)
        l1 += (y[i] - yh[i]) * (y[i] - yh[i]) * fmax(y[i], yh[i]) / 48;
    for (int s = 0; s < 36; s++) {
        y36[s] = h36[s] = 0;
        for (int k = 0; k < 4; k++) {
            y36[s] += y[(int)sc36[5 * s + k]];
            h36[s] += yh[(int)sc36[5 * s + k]];
        }
        l2 += sc36[5 * s + 4] * (y36[s] - h36[s]) * (y36[s] - h36[s]) * fmax(y36[s], h36[s]) / 36;
    }
    for (int c = 0; c < 3; c++) {
        double ys = 0, hs = 0;
        for (int q = 4 * c; q < 4 * c + 4; q++)
            for (int k = 0; k < 4; k++) {
                ys += y[(int)sc12[4 * q + k]];
                hs += yh[(int)sc12[4 * q + k]];
            }
        l3 += (ys - hs) * (ys - hs) * fmax(ys, hs) / 3;
    }
    return 4 * l1 + 2 * l2 + l3;
}

START_TEST(test_telescope_gradient)
{
    double y[48], yh[48], g[48];
    for (int i = 0; i < 48; i++) {
        y[i] = (i * 37 % 11) / 10.0;
        yh[i] = ((i * 53 + 5) % 13) / 12.0;
    }
    econt_telescope_loss(y, yh, g);
    double worst = 0;
    for (int i = 0; i < 48; i++) {
        double h = 1e-6, keep = yh[i];
        yh[i] = keep + h;
        double up = econt_telescope_loss(y, yh, NULL);
        yh[i] = keep - h;
        double dn = econt_telescope_loss(y, yh, NULL);
        yh[i] = keep;
        double fd = (up - dn) / (2 * h);
        double rel = fabs(fd - g[i]) / fmax(fabs(fd), 1e-8);
        worst = rel > worst ? rel : worst;
    }
    printf("telescope loss gradient vs central differences: largest relative error %.1e\n", worst);
    ck_assert(worst < 1e-6);
    /* the value itself: the reference file's formula and cell tables */
    const double loss = econt_telescope_loss(y, yh, NULL), want = file_telescope_loss(y, yh);
    ck_assert_msg(fabs(loss - want) <= 1e-13 * want, "telescope loss %.17g, file's formula %.17g",
                  loss, want);
    /* identical inputs: zero loss */
    ck_assert(econt_telescope_loss(y, y, NULL) == 0);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("econt");
    TCase *tc = tcase_create("econt");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_tables_match_reference_file);
    tcase_add_test(tc, test_emd_real_samples_vs_glpk);
    tcase_add_test(tc, test_zero_sum_rules);
    tcase_add_test(tc, test_zero_sum_basis_order_free);
    tcase_add_test(tc, test_emd_sum_overflow);
    tcase_add_test(tc, test_telescope_gradient);
    suite_add_tcase(s, tc);
    return s;
}

UPSET_CHECK_MAIN(make_suite)
