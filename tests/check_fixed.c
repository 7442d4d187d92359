/* Quantizer semantics checked against brute force over every code. */
#include <math.h>
#include <stdint.h>

#include "check_util.h"
#include "upset/fixed.h"

/* The nearest code by exhaustive search; ties go to the even code; then clip. */
static int32_t brute_code(const quant_t *q, double x)
{
    int f = quant_frac(q);
    int64_t lo = quant_code_min(q), hi = quant_code_max(q);
    double best_d = INFINITY;
    int64_t best = 0;
    /* search a wide window so clipping is exercised too */
    for (int64_t k = lo - 300; k <= hi + 300; k++) {
        double d = fabs(x - ldexp((double)k, -f));
        if (d < best_d || (d == best_d && (k % 2 == 0))) {
            best_d = d;
            best = k;
        }
    }
    if (best < lo)
        best = lo;
    if (best > hi)
        best = hi;
    return (int32_t)best;
}

START_TEST(quantize_matches_brute_force)
{
    const quant_t qs[] = {{QUANT_BITS, 6, 1, 1, 0}, {QUANT_BITS, 8, 2, 1, 0}, {QUANT_BITS, 5, 0, 1, 0},
                          {QUANT_RELU, 9, 1, 0, 0}, {QUANT_RELU, 12, 3, 0, 0}, {QUANT_BITS, 7, 2, 0, 0}};
    for (size_t qi = 0; qi < sizeof qs / sizeof *qs; qi++) {
        const quant_t *q = &qs[qi];
        int f = quant_frac(q);
        /* every half step (the ties) and points in between, over the range and beyond */
        for (int64_t s = -4 * (1 << q->bits); s <= 4 * (1 << q->bits); s++) {
            double x = ldexp((double)s, -f - 2);
            ck_assert_int_eq(quant_code_from_double(q, x), brute_code(q, x));
        }
    }
}
END_TEST

/* round_half_even equals nearbyint on ties, near-ties, large, tiny and special values;
 * the whole-tensor quantizer equals the per-value one. */
START_TEST(round_half_even_matches_nearbyint)
{
    uint64_t s = 7;
    int64_t checked = 0;
    for (int i = 0; i < 200000; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        double v;
        switch (i % 5) {
        case 0: /* exact halves */
            v = (double)((int64_t)(s >> 40) - (1 << 23)) + 0.5;
            break;
        case 1: /* one ulp either side of a half */
            v = nextafter((double)((int64_t)(s >> 44)) + 0.5, (s & 1) ? INFINITY : -INFINITY);
            break;
        case 2: /* any magnitude, both signs */
            v = ldexp((double)(s >> 11), (int)(s % 130) - 110) * ((s >> 7 & 1) ? -1 : 1);
            break;
        case 3: /* around 2^52 */
            v = ldexp(1.0, 52) + (double)((int64_t)(s >> 60) - 8) * 0.5;
            v = (s >> 5 & 1) ? -v : v;
            break;
        default:
            v = (double)(int64_t)(s >> 1) * 1e-9;
        }
        double want = nearbyint(v), got = round_half_even(v);
        ck_assert_msg(got == want, "round_half_even(%.17g) = %.17g, nearbyint %.17g", v, got,
                      want);
        checked++;
    }
    const double special[] = {0.0, -0.0, 0.5, -0.5, 1.5, -2.5, INFINITY, -INFINITY, 1e308};
    for (size_t i = 0; i < sizeof special / sizeof *special; i++)
        ck_assert(round_half_even(special[i]) == nearbyint(special[i]));
    ck_assert(isnan(round_half_even(NAN)));
    const quant_t q = {QUANT_RELU, 8, 2, 0, 0};
    double x[2000];
    int64_t got[2000];
    for (int i = 0; i < 2000; i++)
        x[i] = (i == 7) ? NAN : ldexp((double)(i - 1000), -7) + (i % 3) * 1e-9;
    quant_codes_from_floats(&q, x, 2000, got);
    for (int i = 0; i < 2000; i++)
        ck_assert_int_eq(got[i], quant_code_from_double(&q, (double)(float)x[i]));
    ck_assert_int_gt(checked, 0);
}
END_TEST

START_TEST(quantize_fixed_matches_double)
{
    const quant_t q = {QUANT_RELU, 9, 1, 0, 0};
    for (int64_t acc = -70000; acc <= 70000; acc += 7) {
        int frac = 14;
        ck_assert_int_eq(quant_code_from_fixed(&q, acc, frac),
                         quant_code_from_double(&q, ldexp((double)acc, -frac)));
        ck_assert_int_eq(quant_code_from_fixed(&q, acc, 3),
                         quant_code_from_double(&q, ldexp((double)acc, -3)));
    }
}
END_TEST

/* The whole-tensor rescale equals the per-value one: ties, clipping at both ends, shifts
 * from 1 to 61 and none, a leaky slope, extremes of int64. */
START_TEST(quantize_fixed_tensor_matches_scalar)
{
    const quant_t qs[] = {{QUANT_RELU, 8, 2, 0, 0}, {QUANT_BITS, 8, 2, 1, 0}, {QUANT_RELU, 9, 1, 0, 0},
                          {QUANT_BITS, 16, 3, 1, 0}, {QUANT_RELU, 8, 2, 0, 2}};
    enum { N = 4000 };
    static int64_t acc[N], got[N];
    uint64_t s = 12345;
    for (int i = 0; i < N; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        const int64_t r = (int64_t)(s >> 1);
        acc[i] = i < 3000 ? (r % 4000001) - 2000000 /* near the codes' range */
                          : i < 3990 ? r >> (i % 60) : 0;
    }
    acc[3990] = INT64_MAX, acc[3991] = INT64_MIN, acc[3992] = 1 << 9, acc[3993] = 3 << 9;
    acc[3994] = -(1 << 9), acc[3995] = -(3 << 9), acc[3996] = (5 << 9) / 2;
    for (size_t t = 0; t < sizeof qs / sizeof *qs; t++)
        for (int frac = 0; frac <= 64; frac += (frac < 20 ? 1 : 11)) {
            quant_codes_from_fixed(&qs[t], acc, N, frac, got);
            for (int i = 0; i < N; i++)
                ck_assert_msg(got[i] == quant_code_from_fixed(&qs[t], acc[i], frac),
                              "quantizer %zu frac %d acc %lld", t, frac, (long long)acc[i]);
        }
}
END_TEST

START_TEST(frac_and_ranges)
{
    quant_t a = {QUANT_BITS, 6, 1, 1, 0};
    ck_assert_int_eq(quant_frac(&a), 4);
    ck_assert_int_eq(quant_code_min(&a), -32);
    ck_assert_int_eq(quant_code_max(&a), 31);
    quant_t r = {QUANT_RELU, 8, 2, 0, 0};
    ck_assert_int_eq(quant_frac(&r), 6);
    ck_assert_int_eq(quant_code_max(&r), 255);
    ck_assert(quant_value(&r, 255) == 4.0 - 1.0 / 64);
}
END_TEST

START_TEST(flip_twice_restores_and_is_twos_complement)
{
    for (int bits = 2; bits <= 12; bits++) {
        int32_t lo = -(1 << (bits - 1)), hi = (1 << (bits - 1)) - 1;
        for (int32_t k = lo; k <= hi; k++)
            for (int pos = 0; pos < bits; pos++) {
                int32_t f = code_flip_bit(k, bits, 1, pos);
                ck_assert(f >= lo && f <= hi);
                ck_assert_int_eq(code_flip_bit(f, bits, 1, pos), k);
                /* flipping bit pos changes the value by exactly 2^(bits-1-pos), and the
                 * MSB carries weight -2^(bits-1) */
                int32_t w = 1 << (bits - 1 - pos);
                int was_set = (((uint32_t)k >> (bits - 1 - pos)) & 1u) != 0;
                int32_t expect = pos == 0 ? (was_set ? k + w : k - w) : (was_set ? k - w : k + w);
                ck_assert_int_eq(f, expect);
            }
    }
    ck_assert_int_eq(code_flip_bit(0, 6, 1, 0), -32); /* sign bit */
    ck_assert_int_eq(code_flip_bit(0, 6, 1, 5), 1);   /* LSB */
    ck_assert_int_eq(code_flip_bit(5, 4, 0, 0), 13);  /* unsigned */
}
END_TEST

START_TEST(round_shift_is_half_even)
{
    ck_assert_int_eq(round_shift_half_even(5, 1), 2);  /* 2.5 -> 2 */
    ck_assert_int_eq(round_shift_half_even(7, 1), 4);  /* 3.5 -> 4 */
    ck_assert_int_eq(round_shift_half_even(-5, 1), -2);
    ck_assert_int_eq(round_shift_half_even(-7, 1), -4);
    ck_assert_int_eq(round_shift_half_even(-6, 2), -2); /* -1.5 -> -2 */
    ck_assert_int_eq(round_shift_half_even(-10, 2), -2); /* -2.5 -> -2 */
    ck_assert_int_eq(round_shift_half_even(11, 2), 3);
    /* against the floating-point rounding of the exact quotient (|x| < 2^53 and a power of
     * two: x * 2^-shift is exact in double; nearbyint rounds half to even): random values,
     * exact ties, a tie's neighbours, both signs, every shift */
    uint64_t s = 99;
    for (int shift = 1; shift < 62; shift++)
        for (int i = 0; i < 400; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            int64_t x = (int64_t)(s >> 12) - (INT64_C(1) << 51); /* |x| < 2^52 */
            if (i % 4 == 1 && shift < 50) /* a tie: an odd multiple of half a step */
                x = ((x >> shift) * 2 + 1) * (INT64_C(1) << (shift - 1));
            if (i % 4 == 2 && shift < 50)
                x = ((x >> shift) * 2 + 1) * (INT64_C(1) << (shift - 1)) + (i % 8 < 4 ? 1 : -1);
            const double want = nearbyint(ldexp((double)x, -shift));
            ck_assert_msg(round_shift_half_even(x, shift) == (int64_t)want,
                          "x = %lld, shift %d: %lld, want %.0f", (long long)x, shift,
                          (long long)round_shift_half_even(x, shift), want);
        }
}
END_TEST

/* x / 2^shift rounded half to even by exact 128-bit arithmetic: the reference for shifts
 * past double's 53 bits, up to and beyond int64's width. */
static int64_t brute_round_shift(int64_t x, int shift)
{
    const __int128 d = (__int128)1 << shift;
    __int128 q = x / d, r = x % d; /* truncated: make it the floor division */
    if (r < 0)
        q -= 1, r += d;
    if (2 * r > d || (2 * r == d && (q & 1)))
        q += 1;
    return (int64_t)q;
}

/* Shifts of 62 and more: a quotient of 1.5 is 2, not 0; int64's extremes; beyond 64 bits
 * every value rounds to 0 (at most a tie, -1/2, which goes to the even 0). */
START_TEST(round_shift_wide_shifts)
{
    const int64_t xs[] = {INT64_MIN,
                          INT64_MIN + 1,
                          -(INT64_C(3) << 61),
                          -(INT64_C(1) << 62) - 1,
                          -(INT64_C(1) << 62),
                          -(INT64_C(1) << 61),
                          -1,
                          0,
                          1,
                          INT64_C(1) << 61,
                          INT64_C(1) << 62,
                          (INT64_C(1) << 62) + 1,
                          INT64_C(3) << 61,
                          INT64_MAX - 1,
                          INT64_MAX};
    for (int shift = 55; shift <= 70; shift++)
        for (size_t i = 0; i < sizeof xs / sizeof *xs; i++) {
            const int64_t want = brute_round_shift(xs[i], shift);
            ck_assert_msg(round_shift_half_even(xs[i], shift) == want,
                          "x = %lld, shift %d: %lld, want %lld", (long long)xs[i], shift,
                          (long long)round_shift_half_even(xs[i], shift), (long long)want);
        }
    ck_assert_int_eq(round_shift_half_even(INT64_C(3) << 61, 62), 2); /* 1.5 -> 2 */
}
END_TEST

/* An accumulator far coarser than the quantizer's grid (acc_frac - frac <= -63): any
 * non-zero value is past the range and clips; zero stays zero. */
START_TEST(quantize_fixed_coarse_accumulator)
{
    const quant_t q = {QUANT_BITS, 24, -24, 1, 0}; /* frac 47 */
    for (int acc_frac = -15; acc_frac >= -40; acc_frac--) {
        ck_assert_int_eq(quant_code_from_fixed(&q, 1, acc_frac), quant_code_max(&q));
        ck_assert_int_eq(quant_code_from_fixed(&q, -1, acc_frac), quant_code_min(&q));
        ck_assert_int_eq(quant_code_from_fixed(&q, 0, acc_frac), 0);
    }
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("fixed");
    TCase *core = tcase_create("core");
    tcase_add_test(core, quantize_matches_brute_force);
    tcase_add_test(core, quantize_fixed_matches_double);
    tcase_add_test(core, quantize_fixed_tensor_matches_scalar);
    tcase_add_test(core, round_half_even_matches_nearbyint);
    tcase_add_test(core, frac_and_ranges);
    tcase_add_test(core, flip_twice_restores_and_is_twos_complement);
    tcase_add_test(core, round_shift_is_half_even);
    tcase_add_test(core, round_shift_wide_shifts);
    tcase_add_test(core, quantize_fixed_coarse_accumulator);
    suite_add_tcase(s, core);
    return s;
}

UPSET_CHECK_MAIN(make_suite)
