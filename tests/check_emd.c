/* EMD solver checked against GLPK (simplex, then its exact rational solver on smaller
 * instances), against the closed form of the 1-D EMD, and for plan feasibility, symmetry,
 * warm == cold and input validation. */
#include <glpk.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check_util.h"
#include "upset/emd.h"

#define NMAX 60

static emd_workspace_t *ws;
static upset_err_t err;

static void setup(void)
{
    ws = emd_workspace_create(NMAX, NMAX, &err);
    ck_assert_msg(ws != NULL, "%s", err.msg);
}

static void teardown(void) { emd_workspace_free(ws); }

/* xorshift64*: reproducible instances */
static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}
static double unif(void) { return (double)(rnd() >> 11) * 0x1.0p-53; }
static int irand(int k) { return (int)(rnd() % (uint64_t)k); }

/* The transportation LP, solved by GLPK; exact=1 re-solves it in rational arithmetic. */
static double glpk_emd(const double *a, int n, const double *b, int m, const double *cost,
                       int exact)
{
    glp_prob *lp = glp_create_prob();
    glp_set_obj_dir(lp, GLP_MIN);
    glp_add_rows(lp, n + m);
    for (int i = 0; i < n; i++)
        glp_set_row_bnds(lp, i + 1, GLP_FX, a[i], a[i]);
    for (int j = 0; j < m; j++)
        glp_set_row_bnds(lp, n + j + 1, GLP_FX, b[j], b[j]);
    glp_add_cols(lp, n * m);
    int *ia = malloc((size_t)(2 * n * m + 1) * sizeof *ia);
    int *ja = malloc((size_t)(2 * n * m + 1) * sizeof *ja);
    double *ar = malloc((size_t)(2 * n * m + 1) * sizeof *ar);
    int p = 1;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++) {
            int k = i * m + j + 1;
            glp_set_col_bnds(lp, k, GLP_LO, 0, 0);
            glp_set_obj_coef(lp, k, cost[i * m + j]);
            ia[p] = i + 1, ja[p] = k, ar[p++] = 1;
            ia[p] = n + j + 1, ja[p] = k, ar[p++] = 1;
        }
    glp_load_matrix(lp, p - 1, ia, ja, ar);
    glp_smcp parm;
    glp_init_smcp(&parm);
    parm.msg_lev = GLP_MSG_OFF;
    ck_assert_int_eq(glp_simplex(lp, &parm), 0);
    if (exact)
        ck_assert_int_eq(glp_exact(lp, &parm), 0);
    ck_assert_int_eq(glp_get_status(lp), GLP_OPT);
    double z = glp_get_obj_val(lp);
    glp_delete_prob(lp);
    free(ia);
    free(ja);
    free(ar);
    return z;
}

/* Sparse random masses: zero cells with probability pzero; integers when integer=1 so
 * both totals are exact; b is then rescaled to a's total. */
static void random_masses(double *a, int n, double *b, int m, double pzero, int integer)
{
    double sa = 0, sb = 0;
    for (;;) {
        sa = sb = 0;
        for (int i = 0; i < n; i++)
            sa += a[i] = unif() < pzero ? 0 : integer ? 1 + irand(50) : unif();
        for (int j = 0; j < m; j++)
            sb += b[j] = unif() < pzero ? 0 : integer ? 1 + irand(50) : unif();
        if (sa > 0 && sb > 0)
            break;
    }
    if (integer) {
        /* balance with whole units so totals stay exact */
        while (sb < sa) {
            int j = irand(m);
            b[j] += 1, sb += 1;
        }
        while (sa < sb) {
            int i = irand(n);
            a[i] += 1, sa += 1;
        }
    } else {
        for (int j = 0; j < m; j++)
            b[j] *= sa / sb;
    }
}

/* Cost families: 0 uniform random, 1 random with negatives, 2 Manhattan on a grid (ties),
 * 3 Euclidean between hexagonal lattice sites (ties), 4 few distinct values, 5 all equal. */
static void random_cost(double *c, int n, int m, int kind)
{
    double px[NMAX], py[NMAX], qx[NMAX], qy[NMAX];
    for (int i = 0; i < (n > m ? n : m); i++) {
        int r = irand(8), s = irand(8);
        double hx = s + 0.5 * (r & 1), hy = r * 0.8660254037844386;
        int r2 = irand(8), s2 = irand(8);
        double hx2 = s2 + 0.5 * (r2 & 1), hy2 = r2 * 0.8660254037844386;
        if (kind == 2) {
            px[i] = r, py[i] = s, qx[i] = r2, qy[i] = s2;
        } else {
            px[i] = hx, py[i] = hy, qx[i] = hx2, qy[i] = hy2;
        }
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++) {
            double *x = &c[i * m + j];
            switch (kind) {
            case 0: *x = 10 * unif(); break;
            case 1: *x = 10 * unif() - 5; break;
            case 2: *x = fabs(px[i] - qx[j]) + fabs(py[i] - qy[j]); break;
            case 3: *x = hypot(px[i] - qx[j], py[i] - qy[j]); break;
            case 4: *x = irand(3); break;
            default: *x = 2.5; break;
            }
        }
}

/* The plan of the last solve carries a to b, costs dist, and is nonnegative. */
static void check_plan(const double *a, int n, const double *b, int m, const double *cost,
                       double dist)
{
    static double plan[NMAX * NMAX];
    ck_assert_msg(emd_last_plan(ws, plan, n, m, &err) == 0, "%s", err.msg);
    double total = 0, z = 0, scale = 0;
    for (int i = 0; i < n; i++)
        total += a[i];
    for (int k = 0; k < n * m; k++)
        scale = fmax(scale, fabs(cost[k]));
    double tol = 1e-12 * (total + 1), worst = 0; /* one assertion: Check logs each one */
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < m; j++) {
            double x = plan[i * m + j];
            worst = fmax(worst, -x);
            s += x;
            z += x * cost[i * m + j];
        }
        worst = fmax(worst, fabs(s - a[i]));
    }
    for (int j = 0; j < m; j++) {
        double s = 0;
        for (int i = 0; i < n; i++)
            s += plan[i * m + j];
        worst = fmax(worst, fabs(s - b[j]));
    }
    ck_assert_msg(worst <= tol, "plan negative or off its margins by %g", worst);
    ck_assert_msg(fabs(z - dist) <= 1e-12 * (1 + scale) * (total + 1),
                  "plan costs %.17g, dist %.17g", z, dist);
}

static double solve_ok(const double *a, int n, const double *b, int m, const double *cost)
{
    double d = NAN;
    ck_assert_msg(emd_solve(ws, a, n, b, m, cost, &d, NULL, &err) == 0, "%s", err.msg);
    check_plan(a, n, b, m, cost, d);
    return d;
}

static void assert_close(double got, double want, double scale, const char *what, int inst)
{
    ck_assert_msg(fabs(got - want) <= 1e-9 * (fabs(want) + scale), "%s instance %d: %.17g vs %.17g",
                  what, inst, got, want);
}

START_TEST(matches_glpk_random)
{
    static double a[NMAX], b[NMAX], c[NMAX * NMAX];
    for (int t = 0; t < 400; t++) {
        int n = 1 + irand(NMAX), m = 1 + irand(NMAX), kind = t % 6;
        if (t % 5 == 0)
            m = n;
        random_cost(c, n, m, kind);
        random_masses(a, n, b, m, (double)irand(90) / 100.0, t % 2);
        double d = solve_ok(a, n, b, m, c);
        double g = glpk_emd(a, n, b, m, c, t % 2 && n * m <= 400); /* exact needs exact totals */
        assert_close(d, g, 1.0, "glpk", t);
    }
}
END_TEST

START_TEST(degenerate_cases)
{
    static double a[NMAX], b[NMAX], c[NMAX * NMAX];
    for (int t = 0; t < 120; t++) {
        int n = 1 + irand(NMAX);
        /* metrics with many ties: grid Manhattan, hexagonal Euclidean, discrete 0/1 */
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double dx = i % 7 - j % 7, dy = i / 7 - j / 7;
                c[i * n + j] = t % 3 == 0   ? fabs(dx) + fabs(dy)
                               : t % 3 == 1 ? hypot(dx + 0.5 * dy, 0.8660254037844386 * dy)
                                            : (double)(i != j);
            }
        random_masses(a, n, b, n, (double)irand(90) / 100.0, 1);
        /* identical histograms cost nothing */
        ck_assert_double_eq_tol(solve_ok(a, n, a, n, c), 0.0, 1e-12);
        /* all mass in one cell against a spread histogram: every unit travels from there */
        double total = 0;
        for (int j = 0; j < n; j++)
            total += b[j];
        memset(a, 0, sizeof a);
        int k = irand(n);
        a[k] = total;
        double want = 0;
        for (int j = 0; j < n; j++)
            want += b[j] * c[k * n + j];
        assert_close(solve_ok(a, n, b, n, c), want, 1.0, "one cell", t);
        assert_close(solve_ok(b, n, a, n, c), glpk_emd(b, n, a, n, c, 0), 1.0, "one cell T", t);
        /* single nonzero cell on each side */
        memset(b, 0, sizeof b);
        int l = irand(n);
        b[l] = total;
        assert_close(solve_ok(a, n, b, n, c), total * c[k * n + l], 1.0, "single", t);
    }
    /* 1 x 1, all zero, and tied costs everywhere */
    double one = 3, cc = 7;
    ck_assert_double_eq_tol(solve_ok(&one, 1, &one, 1, &cc), 21.0, 1e-12);
    double z[4] = {0}, c4[16];
    for (int k = 0; k < 16; k++)
        c4[k] = 1;
    ck_assert_double_eq(solve_ok(z, 4, z, 4, c4), 0.0);
    double u[4] = {1, 1, 1, 1}, v[4] = {4, 0, 0, 0};
    ck_assert_double_eq_tol(solve_ok(u, 4, v, 4, c4), 4.0, 1e-12);
}
END_TEST

/* 1-D EMD with cost |x_i - x_j| equals the L1 distance of the cumulative distributions. */
START_TEST(line_closed_form)
{
    static double a[NMAX], b[NMAX], c[NMAX * NMAX];
    double x[NMAX];
    for (int t = 0; t < 200; t++) {
        int n = 1 + irand(NMAX);
        x[0] = 0;
        for (int i = 1; i < n; i++)
            x[i] = x[i - 1] + (t % 2 ? 1.0 : 0.1 + unif());
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                c[i * n + j] = fabs(x[i] - x[j]);
        random_masses(a, n, b, n, (double)irand(90) / 100.0, t % 3 == 0);
        double want = 0, ca = 0, cb = 0;
        for (int i = 0; i + 1 < n; i++) {
            ca += a[i];
            cb += b[i];
            want += fabs(ca - cb) * (x[i + 1] - x[i]);
        }
        assert_close(solve_ok(a, n, b, n, c), want, 1.0, "line", t);
    }
    /* a mass of 2.5 moved by d = 3 along the line */
    double p[5] = {2.5, 0, 0, 0, 0}, q[5] = {0, 0, 0, 2.5, 0}, lc[25];
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++)
            lc[i * 5 + j] = abs(i - j);
    ck_assert_double_eq_tol(solve_ok(p, 5, q, 5, lc), 7.5, 1e-12);
}
END_TEST

START_TEST(symmetric)
{
    static double a[NMAX], b[NMAX], c[NMAX * NMAX], ct[NMAX * NMAX];
    for (int t = 0; t < 200; t++) {
        int n = 1 + irand(NMAX), m = 1 + irand(NMAX);
        random_cost(c, n, m, t % 6);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < m; j++)
                ct[j * n + i] = c[i * m + j];
        random_masses(a, n, b, m, (double)irand(90) / 100.0, t % 2);
        double d1 = solve_ok(a, n, b, m, c), d2 = solve_ok(b, m, a, n, ct);
        assert_close(d1, d2, 1.0, "symmetry", t);
    }
}
END_TEST

/* Sequences of small changes of the second histogram, warm-started from the reference
 * solution's basis (and chained through one basis object), agree with cold solves. */
START_TEST(warm_equals_cold)
{
    static double a[NMAX], b0[NMAX], b[NMAX], c[NMAX * NMAX];
    emd_basis_t *ref = emd_basis_create(NMAX, NMAX, &err);
    emd_basis_t *chain = emd_basis_create(NMAX, NMAX, &err);
    ck_assert_ptr_nonnull(ref);
    ck_assert_ptr_nonnull(chain);
    long fallbacks = 0, solves = 0;
    for (int t = 0; t < 150; t++) {
        int n = 1 + irand(NMAX), m = n > 10 && t % 3 ? n : 1 + irand(NMAX);
        random_cost(c, n, m, t % 6);
        random_masses(a, n, b0, m, (double)irand(80) / 100.0, 0);
        double d0;
        ck_assert_msg(emd_solve(ws, a, n, b0, m, c, &d0, ref, &err) == 0, "%s", err.msg);
        ck_assert_msg(emd_solve(ws, a, n, b0, m, c, &d0, chain, &err) == 0, "%s", err.msg);
        for (int s = 0; s < 20; s++) {
            double sb = 0, sa = 0;
            memcpy(b, b0, sizeof b);
            int changes = 1 + irand(4);
            for (int k = 0; k < changes; k++) {
                int j = irand(m);
                switch (irand(3)) {
                case 0: b[j] = 0; break;                /* a cell dies */
                case 1: b[j] += unif(); break;          /* one appears or grows */
                default: b[j] *= 0.5 + unif(); break;   /* a small change */
                }
            }
            for (int j = 0; j < m; j++)
                sb += b[j];
            for (int i = 0; i < n; i++)
                sa += a[i];
            if (sb == 0)
                b[irand(m)] = sb = 1;
            for (int j = 0; j < m; j++)
                b[j] *= sa / sb;
            double cold, w1, w2;
            ck_assert_msg(emd_solve(ws, a, n, b, m, c, &cold, NULL, &err) == 0, "%s", err.msg);
            ck_assert_msg(emd_solve_warm(ws, ref, a, n, b, m, c, &w1, NULL, &err) == 0, "%s",
                          err.msg);
            check_plan(a, n, b, m, c, w1);
            fallbacks += emd_last_stats(ws).fallback;
            ck_assert_msg(emd_solve_warm(ws, chain, a, n, b, m, c, &w2, chain, &err) == 0,
                          "%s", err.msg);
            check_plan(a, n, b, m, c, w2);
            fallbacks += emd_last_stats(ws).fallback;
            solves += 2;
            ck_assert_int_eq(emd_last_stats(ws).warm, 1);
            ck_assert_msg(fabs(w1 - cold) <= 1e-12 * (1 + fabs(cold)) * 10 &&
                              fabs(w2 - cold) <= 1e-12 * (1 + fabs(cold)) * 10,
                          "instance %d.%d: cold %.17g warm %.17g chained %.17g", t, s, cold, w1,
                          w2);
        }
        /* an empty basis is a dual start from scratch */
        emd_basis_clear(chain);
        double w;
        ck_assert_msg(emd_solve_warm(ws, chain, a, n, b0, m, c, &w, chain, &err) == 0, "%s",
                      err.msg);
        assert_close(w, d0, 1.0, "empty basis", t);
        ck_assert_int_eq(chain->n, n);
    }
    /* the warm path itself must be what answers */
    ck_assert_msg(fallbacks * 10 < solves, "%ld fallbacks in %ld warm solves", fallbacks, solves);
    emd_basis_free(ref);
    emd_basis_free(chain);
}
END_TEST

/* Small problems with unit-normalised masses (k / total, as the ECON-T metric feeds them) and
 * costs in {0, 1, 2}: rounding makes near-ties in the starting heuristic, which then has to
 * fall back to its artificial start. */
START_TEST(normalised_small_vs_glpk)
{
    double a[8], b[8], c[64];
    for (int t = 0; t < 5000; t++) {
        int n = 1 + t % 5, m = 1 + (t / 5) % 5;
        double sa = 0, sb = 0;
        for (int i = 0; i < n; i++)
            sa += a[i] = irand(8) ? 1 + irand(10) : 0;
        for (int j = 0; j < m; j++)
            sb += b[j] = irand(8) ? 1 + irand(10) : 0;
        if (sa == 0)
            sa += a[0] = 1;
        if (sb == 0)
            sb += b[0] = 1;
        for (int i = 0; i < n; i++)
            a[i] /= sa;
        for (int j = 0; j < m; j++)
            b[j] /= sb;
        for (int k = 0; k < n * m; k++)
            c[k] = irand(3);
        assert_close(solve_ok(a, n, b, m, c), glpk_emd(a, n, b, m, c, 0), 1.0, "normalised", t);
    }
}
END_TEST

/* A basis that does not belong to the problem (other costs, other masses, garbage) must not
 * change the answer: the warm start notices and solves cold. */
START_TEST(warm_with_foreign_basis)
{
    static double a[NMAX], b[NMAX], a2[NMAX], b2[NMAX], c[NMAX * NMAX], c2[NMAX * NMAX];
    emd_basis_t *bs = emd_basis_create(NMAX, NMAX, &err);
    for (int t = 0; t < 200; t++) {
        int n = 1 + irand(NMAX), m = 1 + irand(NMAX);
        random_cost(c, n, m, t % 6);
        random_cost(c2, n, m, (t + 1) % 6);
        random_masses(a, n, b, m, (double)irand(80) / 100.0, t % 2);
        random_masses(a2, n, b2, m, (double)irand(80) / 100.0, t % 2);
        double d, w, want = solve_ok(a, n, b, m, c);
        ck_assert_int_eq(emd_solve(ws, a2, n, b2, m, t % 2 ? c2 : c, &d, bs, &err), 0);
        if (t % 3 == 2)
            for (int k = 0; k < bs->narcs; k++) {
                bs->arc_row[k] = irand(2 * n) - n / 2;
                bs->arc_col[k] = irand(m);
                bs->pot_row[irand(n)] = 1e6 * (unif() - 0.5);
            }
        ck_assert_msg(emd_solve_warm(ws, bs, a, n, b, m, c, &w, NULL, &err) == 0, "%s", err.msg);
        check_plan(a, n, b, m, c, w);
        assert_close(w, want, 1.0, "foreign basis", t);
    }
    emd_basis_free(bs);
}
END_TEST

START_TEST(bad_inputs)
{
    double a[3] = {1, 2, 3}, b[3] = {3, 2, 1}, c[9] = {0, 1, 2, 1, 0, 1, 2, 1, 0}, d;
    double bad[3] = {NAN, INFINITY, -1};
    for (int k = 0; k < 3; k++) {
        double x[3] = {1, 2, 3};
        x[1] = bad[k];
        err.msg[0] = 0;
        ck_assert_int_eq(emd_solve(ws, x, 3, b, 3, c, &d, NULL, &err), -1);
        ck_assert_msg(strstr(err.msg, "cell 1") != NULL, "%s", err.msg);
        ck_assert_int_eq(emd_solve(ws, a, 3, x, 3, c, &d, NULL, &err), -1);
        ck_assert_msg(strstr(err.msg, "cell 1") != NULL, "%s", err.msg);
        ck_assert_int_eq(emd_last_plan(ws, c, 3, 3, &err), -1);
    }
    double more[3] = {3, 2, 1.01};
    ck_assert_int_eq(emd_solve(ws, a, 3, more, 3, c, &d, NULL, &err), -1);
    ck_assert_msg(strstr(err.msg, "unbalanced") != NULL, "%s", err.msg);
    /* within the relative tolerance the imbalance is accepted and does not enter the cost */
    double close[3] = {3, 2, 1 + 1e-12};
    ck_assert_int_eq(emd_solve(ws, a, 3, close, 3, c, &d, NULL, &err), 0);
    ck_assert_double_eq_tol(d, 4.0, 1e-9);
    /* a non-finite cost counts only where both cells have mass */
    double a0[3] = {1, 2, 0}, b0[3] = {0, 2, 1}, cn[9] = {0, 1, 2, 1, 0, 1, 2, 1, 0};
    cn[0] = NAN;
    ck_assert_int_eq(emd_solve(ws, a0, 3, b0, 3, cn, &d, NULL, &err), 0);
    ck_assert_double_eq_tol(d, 2.0, 1e-12);
    cn[0] = 0;
    cn[5] = INFINITY;
    ck_assert_int_eq(emd_solve(ws, a0, 3, b0, 3, cn, &d, NULL, &err), -1);
    ck_assert_msg(strstr(err.msg, "cost[1][2]") != NULL, "%s", err.msg);
    ck_assert_int_eq(emd_solve(ws, a, NMAX + 1, b, 3, c, &d, NULL, &err), -1);
    ck_assert_ptr_null(emd_workspace_create(0, 5, &err));
    /* basis size mismatches */
    emd_basis_t *small = emd_basis_create(2, 2, &err), *big = emd_basis_create(4, 4, &err);
    ck_assert_int_eq(emd_solve(ws, a, 3, b, 3, c, &d, small, &err), -1);
    double a2[2] = {1, 1}, b2[2] = {1, 1};
    ck_assert_int_eq(emd_solve(ws, a2, 2, b2, 2, c, &d, big, &err), 0);
    ck_assert_int_eq(emd_solve_warm(ws, big, a, 3, b, 3, c, &d, NULL, &err), -1);
    ck_assert_int_eq(emd_last_plan(ws, c, 3, 3, &err), -1);
    emd_basis_free(small);
    emd_basis_free(big);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("emd");
    TCase *tc = tcase_create("emd");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, matches_glpk_random);
    tcase_add_test(tc, degenerate_cases);
    tcase_add_test(tc, line_closed_form);
    tcase_add_test(tc, symmetric);
    tcase_add_test(tc, warm_equals_cold);
    tcase_add_test(tc, normalised_small_vs_glpk);
    tcase_add_test(tc, warm_with_foreign_basis);
    tcase_add_test(tc, bad_inputs);
    suite_add_tcase(s, tc);
    return s;
}

UPSET_CHECK_MAIN(make_suite)
