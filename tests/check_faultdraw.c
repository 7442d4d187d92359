/* Multi-bit trials and protection policies: the bits of a trial are distinct and in
 * range, depend only on (seed, trial), are spread uniformly, and a protection mask
 * removes exactly the protected bits; each policy protects exactly the bits it names
 * (checked against a brute-force selection). */
#include <math.h>
#include <string.h>

#include "check_util.h"
#include "upset/faultdraw.h"
#include "upset/model.h"

START_TEST(test_draw_distinct_in_range)
{
    const int64_t n = 12720, k = 960;
    int64_t out[960];
    unsigned char *mark = calloc((size_t)n, 1), *seen = calloc((size_t)n, 1);
    for (int64_t t = 0; t < 200; t++) {
        ck_assert_int_eq(multibit_draw(42, t, n, k, NULL, out, mark), k);
        memset(seen, 0, (size_t)n);
        /* plain ifs in the loops: every ck_assert talks to the parent process */
        for (int64_t i = 0; i < k; i++) {
            if (out[i] < 0 || out[i] >= n || seen[out[i]])
                ck_abort_msg("trial %lld: bit %lld out of range or repeated", (long long)t,
                             (long long)out[i]);
            seen[out[i]] = 1;
        }
        for (int64_t b = 0; b < n; b++)
            if (mark[b])
                ck_abort_msg("scratch not left clean");
    }
    /* the whole space: a permutation */
    int64_t all[50];
    unsigned char m50[50] = {0}, s50[50] = {0};
    ck_assert_int_eq(multibit_draw(1, 3, 50, 50, NULL, all, m50), 50);
    for (int i = 0; i < 50; i++)
        s50[all[i]]++;
    for (int i = 0; i < 50; i++)
        ck_assert_int_eq(s50[i], 1);
    free(mark);
    free(seen);
}
END_TEST

START_TEST(test_draw_reproducible_and_uniform)
{
    const int64_t n = 100, k = 10, trials = 20000;
    int64_t a[10], b[10];
    unsigned char mark[100] = {0};
    long count[100] = {0};
    for (int64_t t = 0; t < trials; t++) {
        multibit_draw(9, t, n, k, NULL, a, mark);
        multibit_draw(9, t, n, k, NULL, b, mark);
        if (memcmp(a, b, sizeof a))
            ck_abort_msg("trial %lld is not reproducible", (long long)t);
        for (int i = 0; i < k; i++)
            count[a[i]]++;
    }
    /* every bit is drawn with probability k/n: chi-square with 99 degrees of freedom;
     * 99.9th percentile is 148.2 */
    double expect = (double)trials * k / n, chi = 0;
    for (int i = 0; i < n; i++)
        chi += (count[i] - expect) * (count[i] - expect) / expect;
    ck_assert_msg(chi < 148.2, "chi-square %.1f: draws are not uniform", chi);
    /* another seed gives another draw */
    multibit_draw(10, 0, n, k, NULL, b, mark);
    multibit_draw(9, 0, n, k, NULL, a, mark);
    ck_assert(memcmp(a, b, sizeof a));
}
END_TEST

START_TEST(test_mask_removes_exactly_protected)
{
    const int64_t n = 1000, k = 300;
    unsigned char mark[1000] = {0}, protect[1000];
    for (int i = 0; i < n; i++)
        protect[i] = (unsigned char)(i % 3 == 0);
    int64_t all[300], kept[300];
    for (int64_t t = 0; t < 50; t++) {
        multibit_draw(5, t, n, k, NULL, all, mark);
        int64_t nk = multibit_draw(5, t, n, k, protect, kept, mark);
        int64_t j = 0;
        for (int64_t i = 0; i < k; i++)
            if (!protect[all[i]]) {
                if (j >= nk || kept[j] != all[i])
                    ck_abort_msg("trial %lld: kept bits differ from the unprotected draw",
                                 (long long)t);
                j++;
            }
        ck_assert_int_eq(j, nk);
    }
    memset(protect, 1, sizeof protect);
    ck_assert_int_eq(multibit_draw(5, 0, n, k, protect, kept, mark), 0);
}
END_TEST

START_TEST(test_protection_policies)
{
    /* 10 bits; sensitive: 1, 3, 4, 7, 8 with errors 0.5, 2.0, 0.1, 2.0, 1.0 */
    const double error[10] = {0, 0.5, -0.2, 2.0, 0.1, 0, 0, 2.0, 1.0, 0};
    const unsigned char sens[10] = {0, 1, 0, 1, 1, 0, 0, 1, 1, 0};
    unsigned char mask[10];
    int64_t np;
    upset_err_t err;
    ck_assert_int_eq(protection_mask(PROTECT_NONE, 0, 10, error, sens, mask, &np, &err), 0);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(mask[i], 0);
    ck_assert_int_eq(np, 0);
    ck_assert_int_eq(protection_mask(PROTECT_ALL, 0, 10, NULL, NULL, mask, &np, &err), 0);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(mask[i], 1);
    ck_assert_int_eq(np, 10);
    ck_assert_int_eq(protection_mask(PROTECT_SENSITIVE, 0, 10, error, sens, mask, &np, &err), 0);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(mask[i], sens[i]);
    ck_assert_int_eq(np, 5);
    /* top 40 % of 5 sensitive = 2 bits: the two with error 2.0 (bits 3 and 7) */
    ck_assert_int_eq(protection_mask(PROTECT_TOP_PERCENT_OF_SENSITIVE, 40, 10, error, sens, mask, &np, &err),
                     0);
    const unsigned char want40[10] = {0, 0, 0, 1, 0, 0, 0, 1, 0, 0};
    ck_assert(!memcmp(mask, want40, 10) && np == 2);
    /* 63.5 % of 5 = 3.175 -> 3: adds bit 8 (error 1.0) */
    ck_assert_int_eq(
        protection_mask(PROTECT_TOP_PERCENT_OF_SENSITIVE, 63.5, 10, error, sens, mask, &np, &err), 0);
    const unsigned char want63[10] = {0, 0, 0, 1, 0, 0, 0, 1, 1, 0};
    ck_assert(!memcmp(mask, want63, 10) && np == 3);
    /* 100 % equals the sensitive policy, 0 % protects nothing */
    ck_assert_int_eq(
        protection_mask(PROTECT_TOP_PERCENT_OF_SENSITIVE, 100, 10, error, sens, mask, &np, &err), 0);
    ck_assert(!memcmp(mask, sens, 10) && np == 5);
    ck_assert_int_eq(protection_mask(PROTECT_TOP_PERCENT_OF_SENSITIVE, 0, 10, error, sens, mask, &np, &err),
                     0);
    ck_assert_int_eq(np, 0);
    /* the paper's levels count all 10 bits: 20 % = 2 bits of largest error (3 and 7);
     * 50 % = 5: adds 8 (1.0), 1 (0.5), 4 (0.1); 70 % = 7: then the zero-error bits 0 and 5
     * (ties: lower index), never bit 2 (negative error) before them */
    ck_assert_int_eq(protection_mask(PROTECT_TOP_PERCENT_OF_ALL, 20, 10, error, sens, mask, &np,
                                     &err), 0);
    ck_assert(!memcmp(mask, want40, 10) && np == 2);
    ck_assert_int_eq(protection_mask(PROTECT_TOP_PERCENT_OF_ALL, 50, 10, error, sens, mask, &np,
                                     &err), 0);
    ck_assert(!memcmp(mask, sens, 10) && np == 5);
    ck_assert_int_eq(protection_mask(PROTECT_TOP_PERCENT_OF_ALL, 70, 10, error, sens, mask, &np,
                                     &err), 0);
    const unsigned char want70[10] = {1, 1, 0, 1, 1, 1, 0, 1, 1, 0};
    ck_assert(!memcmp(mask, want70, 10) && np == 7);
    ck_assert_int_eq(protection_mask(PROTECT_TOP_PERCENT_OF_ALL, 100, 10, error, sens, mask, &np,
                                     &err), 0);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(mask[i], 1);
}
END_TEST

/* mcu_neighbors: the neighbours of a drawn bit are the same bit of weights w + j * stride
 * while they stay in the layer (brute force over the layer's index range); a stride so
 * large that j * stride wraps int64 gives none (it flipped bits of earlier weights). */
START_TEST(test_mcu_neighbors_stay_in_layer)
{
    model_t m;
    upset_err_t err = {{0}};
    ck_assert_int_eq(model_load("models/econt_medium.h5", &m, &err), 0);
    const layer_t *L = &m.layers[1]; /* conv2d_0_m: the first faultable layer */
    const int width = L->kq.bits;
    unsigned char *mark = calloc((size_t)m.n_fault_bits, 1);
    int64_t out[8];
    const int64_t strides[] = {1, 5, 40, INT32_MAX, INT64_MAX - 1000, INT64_MAX};
    const int64_t weights[] = {0, 3, L->n_weights - 11, L->n_weights - 1};
    for (size_t s = 0; s < sizeof strides / sizeof *strides; s++)
        for (size_t k = 0; k < sizeof weights / sizeof *weights; k++) {
            const int64_t w = weights[k], drawn = L->bit_first + w * width + 2;
            const int64_t n = fault_effective(FAULT_MCU_NEIGHBORS, 4, strides[s], &m, NULL, &drawn,
                                              1, out, mark);
            int64_t want = 0; /* neighbours w + j * stride < n_weights, j = 0..3 */
            for (int j = 0; j < 4 && (j == 0 || strides[s] <= (L->n_weights - 1 - w) / j); j++) {
                ck_assert_int_gt(n, want);
                ck_assert_int_eq(out[want], drawn + (int64_t)j * strides[s] * width);
                want++;
            }
            ck_assert_msg(n == want, "stride %lld, weight %lld: %lld bits, want %lld",
                          (long long)strides[s], (long long)w, (long long)n, (long long)want);
        }
    free(mark);
    model_free(&m);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("faultdraw");
    TCase *tc = tcase_create("faultdraw");
    tcase_add_test(tc, test_draw_distinct_in_range);
    tcase_add_test(tc, test_draw_reproducible_and_uniform);
    tcase_add_test(tc, test_mask_removes_exactly_protected);
    tcase_add_test(tc, test_protection_policies);
    tcase_add_test(tc, test_mcu_neighbors_stay_in_layer);
    suite_add_tcase(s, tc);
    return s;
}

UPSET_CHECK_MAIN(make_suite)
