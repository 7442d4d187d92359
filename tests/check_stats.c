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

/* Runs `upset samplesize ARGS` and returns its first output line (stdout and stderr). */
static void samplesize_line(const char *args, char *line, size_t len)
{
    const char *upset = getenv("UPSET") ? getenv("UPSET") : "build/upset";
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s samplesize %s 2>&1", upset, args);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    line[0] = 0;
    ck_assert_ptr_nonnull(fgets(line, (int)len, p));
    pclose(p);
}

/* The command rounds as a statfi campaign does, and takes only decimal whole numbers. */
START_TEST(test_samplesize_rounding)
{
    char line[512];
    /* margin = t/2 at p = 0.5 makes e^2 (N-1) / (t^2 p (1-p)) = N - 1: n = N / N = 1
     * exactly; in doubles a hair above 1, which plain ceil made 2 */
    char args[128];
    const double e = 0.8224268134757361; /* scipy's norm.ppf(0.95) / 2 */
    ck_assert(leveugle_sample_size(3, 0.9, e, 0.5) > 1);
    ck_assert_int_eq(leveugle_sample_count(3, 0.9, e, 0.5), 1);
    snprintf(args, sizeof args, "--population 3 --confidence 0.9 --margin %.17g", e);
    samplesize_line(args, line, sizeof line);
    ck_assert_msg(strstr(line, ": 1 injections"), "%s", line);
    /* 2^53 + 1 is not a double: it used to be read as 2^53 without a word */
    samplesize_line("--population 9007199254740993", line, sizeof line);
    ck_assert_msg(strstr(line, "population 9007199254740993,"), "%s", line);
    const char *bad[] = {"0x10", "1e3", "12.0", "+5", "0", "1000000000000000001"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(args, sizeof args, "--population %s", bad[i]);
        samplesize_line(args, line, sizeof line);
        ck_assert_msg(strstr(line, "expected a whole number"), "%s: %s", bad[i], line);
    }
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
    tcase_add_test(tc, test_samplesize_rounding);
    suite_add_tcase(s, tc);
    return s;
}

UPSET_CHECK_MAIN(make_suite)
