/* Statistics for sampling campaigns against values computed independently with
 * scipy.stats (norm.ppf) and the published formulas:
 *   Leveugle et al. (DATE 2009): n = N / (1 + e^2 (N-1) / (t^2 p (1-p)))
 *   Wilson score interval: (p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)
 * and the `upset samplesize` command line. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"
#include "upset/stats.h"

#define CLOSE(a, b, tol) ck_assert_msg(fabs((a) - (b)) <= (tol) * fmax(1, fabs(b)), \
                                       "%.17g vs %.17g", (double)(a), (double)(b))

START_TEST(test_normal_quantile)
{
    CLOSE(normal_quantile(0.975), 1.959963984540054, 1e-14);
    CLOSE(normal_quantile(0.995), 2.5758293035489004, 1e-14);
    CLOSE(normal_quantile(0.1), -1.2815515655446004, 1e-14);
    CLOSE(normal_critical(0.95), 1.959963984540054, 1e-14);
    ck_assert(isnan(normal_critical(1.5)));
}
END_TEST

START_TEST(test_leveugle)
{
    CLOSE(leveugle_sample_size(12720, 0.95, 0.01, 0.5), 5472.397167547245, 1e-12);
    CLOSE(leveugle_sample_size(459520, 0.99, 0.01, 0.5), 16009.387298091737, 1e-12);
    CLOSE(leveugle_sample_size(2120, 0.95, 0.05, 0.1), 129.881322388042, 1e-12);
    ck_assert_int_eq(leveugle_sample_count(12720, 0.95, 0.01, 0.5), 5473);
    ck_assert_int_eq(leveugle_sample_count(2120, 0.95, 0.05, 0.5), 326);
    /* a margin of nearly 0 needs the whole population, never more */
    ck_assert_int_eq(leveugle_sample_count(100, 0.95, 1e-9, 0.5), 100);
    ck_assert_int_eq(leveugle_sample_count(0, 0.95, 0.01, 0.5), -1);
    ck_assert(isnan(leveugle_sample_size(100, 0.95, 0, 0.5)));
}
END_TEST

START_TEST(test_wilson)
{
    double lo, hi;
    ck_assert_int_eq(wilson_interval(189, 500, 0.95, &lo, &hi), 0);
    CLOSE(lo, 0.3365807935394356, 1e-13);
    CLOSE(hi, 0.42127954553318325, 1e-13);
    ck_assert_int_eq(wilson_interval(0, 500, 0.95, &lo, &hi), 0);
    CLOSE(lo, 0.0, 1e-15);
    CLOSE(hi, 0.007624340461552241, 1e-13);
    ck_assert_int_eq(wilson_interval(500, 500, 0.95, &lo, &hi), 0);
    CLOSE(lo, 0.9923756595384479, 1e-13);
    CLOSE(hi, 1.0, 1e-15);
    ck_assert_int_eq(wilson_interval(3, 10, 0.9, &lo, &hi), 0);
    CLOSE(lo, 0.1268765839031979, 1e-13);
    CLOSE(hi, 0.5583002041301649, 1e-13);
    ck_assert_int_eq(wilson_interval(11, 10, 0.9, &lo, &hi), -1);
}
END_TEST

/* The command prints the rounded size for the model's fault space. */
START_TEST(test_samplesize_command)
{
    const char *upset = getenv("UPSET") ? getenv("UPSET") : "build/upset";
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s samplesize --model models/econt_medium.h5 2>&1", upset);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char line[512] = {0};
    ck_assert_ptr_nonnull(fgets(line, sizeof line, p));
    pclose(p);
    ck_assert_msg(strstr(line, "population 12720") && strstr(line, ": 5473 injections"), "%s",
                  line);
    snprintf(cmd, sizeof cmd, "%s samplesize --population 100 --margin 2 2>/dev/null", upset);
    ck_assert_int_ne(system(cmd), 0);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("stats");
    tcase_add_test(tc, test_normal_quantile);
    tcase_add_test(tc, test_leveugle);
    tcase_add_test(tc, test_wilson);
    tcase_add_test(tc, test_samplesize_command);
    suite_add_tcase(s, tc);
    return s;
}

UPSET_CHECK_MAIN(make_suite)
