#include "upset/fixed.h"

#include <math.h>
#include <stdio.h>

int quant_signed(const quant_t *q)
{
    return (q->kind == QUANT_BITS && q->keep_negative) || (q->kind == QUANT_RELU && q->neg_shift);
}

int quant_frac(const quant_t *q)
{
    if (quant_signed(q))
        return q->bits - q->integer - 1;
    return q->bits - q->integer;
}

int32_t quant_code_min(const quant_t *q)
{
    if (q->kind == QUANT_RELU && q->neg_shift) /* the slope's codes: -2^(bits-1) * 2^-s */
        return -(int32_t)(1u << (q->bits - 1 - q->neg_shift));
    if (quant_signed(q))
        return -(int32_t)(1u << (q->bits - 1));
    return 0;
}

int32_t quant_code_max(const quant_t *q)
{
    if (quant_signed(q))
        return (int32_t)(1u << (q->bits - 1)) - 1;
    return (int32_t)(1u << q->bits) - 1;
}

int64_t quant_code_bound(const quant_t *q)
{
    const int64_t lo = -(int64_t)quant_code_min(q), hi = quant_code_max(q);
    return lo > hi ? lo : hi;
}

/* A leaky relu scales negative inputs by its slope 2^-s before rounding on the grid. */
static int neg_shift(const quant_t *q)
{
    return q->kind == QUANT_RELU ? q->neg_shift : 0;
}

static int32_t clip_code(const quant_t *q, double k)
{
    double lo = quant_code_min(q), hi = quant_code_max(q);
    if (k < lo)
        return (int32_t)lo;
    if (k > hi)
        return (int32_t)hi;
    return (int32_t)k;
}

double round_half_even(double v)
{
    /* Adding and subtracting 2^52 leaves an integer rounded as the default rounding mode
     * rounds (half to even): nearbyint without its libm call. |v| >= 2^52 is integral. */
    const double two52 = 4503599627370496.0;
    if (!(fabs(v) < two52))
        return v;
    return v < 0 ? (v - two52) + two52 : (v + two52) - two52;
}

static double quant_scale(const quant_t *q)
{
    int f = quant_frac(q);
    return f >= 0 && f < 63 ? (double)(UINT64_C(1) << f) : ldexp(1.0, f);
}

int32_t quant_code_from_double(const quant_t *q, double x)
{
    if (isnan(x))
        return 0;
    /* x * 2^f is exact (power of two; the product equals ldexp's); rounding half to even
     * as tf.round does. */
    const double slope = x < 0 && neg_shift(q) ? ldexp(1.0, -neg_shift(q)) : 1.0;
    return clip_code(q, round_half_even(x * slope * quant_scale(q)));
}

void quant_codes_from_floats(const quant_t *q, const double *x, int64_t n, int64_t *out)
{
    const double scale = quant_scale(q), lo = quant_code_min(q), hi = quant_code_max(q);
    const double neg_scale = scale * ldexp(1.0, -neg_shift(q));
    for (int64_t i = 0; i < n; i++) {
        double v = (double)(float)x[i];
        if (isnan(v)) {
            out[i] = 0;
            continue;
        }
        double k = round_half_even(v * (v < 0 ? neg_scale : scale));
        out[i] = k < lo ? (int64_t)lo : k > hi ? (int64_t)hi : (int64_t)k;
    }
}

/* x / 2^shift rounded half to even, for 0 < shift < 64: the floor division's remainder is
 * x's low bits; branch-free (ties are rare, signs are not). */
static inline int64_t shift_half_even(int64_t x, int shift)
{
    const int64_t half = (int64_t)((uint64_t)1 << (shift - 1)),
                  rem = (int64_t)((uint64_t)x & (((uint64_t)1 << shift) - 1));
    const int64_t k = x >> shift; /* arithmetic shift: floor division */
    return k + ((rem > half) | ((rem == half) & (int)(k & 1)));
}

int64_t round_shift_half_even(int64_t x, int shift)
{
    if (shift <= 0)
        return x;
    if (shift >= 64) /* |x| / 2^64 <= 1/2, and a tie rounds to the even 0 */
        return 0;
    return shift_half_even(x, shift);
}

int32_t quant_code_from_fixed(const quant_t *q, int64_t acc, int acc_frac)
{
    int shift = acc_frac - quant_frac(q) + (acc < 0 ? neg_shift(q) : 0);
    int64_t k;
    if (shift >= 0) {
        k = round_shift_half_even(acc, shift);
    } else {
        /* scaled up by 2^-shift: past 2^62 any code saturates (and shifting by 64 is undefined) */
        if (-shift > 62)
            return acc > 0 ? quant_code_max(q) : acc < 0 ? quant_code_min(q) : 0;
        int64_t lim = INT64_MAX >> (-shift);
        if (acc > lim)
            return quant_code_max(q);
        if (acc < -lim)
            return quant_code_min(q);
        k = acc * ((int64_t)1 << (-shift));
    }
    if (k < quant_code_min(q))
        return quant_code_min(q);
    if (k > quant_code_max(q))
        return quant_code_max(q);
    return (int32_t)k;
}

int quant_fixed_shift(const quant_t *q, int acc_frac)
{
    const int shift = acc_frac - quant_frac(q);
    return neg_shift(q) || shift <= 0 || shift >= 62 ? 0 : shift;
}

void quant_codes_from_fixed(const quant_t *q, const int64_t *acc, int64_t n, int acc_frac,
                            int64_t *out)
{
    const int shift = quant_fixed_shift(q, acc_frac);
    if (!shift) { /* a leaky slope, or no rounding */
        for (int64_t i = 0; i < n; i++)
            out[i] = quant_code_from_fixed(q, acc[i], acc_frac);
        return;
    }
    const int64_t lo = quant_code_min(q), hi = quant_code_max(q);
    for (int64_t i = 0; i < n; i++) {
        const int64_t k = shift_half_even(acc[i], shift);
        out[i] = k < lo ? lo : k > hi ? hi : k;
    }
}

double quant_value(const quant_t *q, int32_t code)
{
    return ldexp((double)code, -quant_frac(q));
}

int32_t code_flip_bit(int32_t code, int bits, int is_signed, int pos)
{
    uint32_t mask = bits >= 32 ? 0xffffffffu : ((1u << bits) - 1u);
    uint32_t u = ((uint32_t)code & mask) ^ (1u << (bits - 1 - pos));
    if (is_signed && (u & (1u << (bits - 1))))
        u |= ~mask;
    return (int32_t)u;
}

const char *quant_describe(const quant_t *q, char *buf, int len)
{
    switch (q->kind) {
    case QUANT_BITS:
        snprintf(buf, (size_t)len, "quantized_bits(%d,%d,keep_negative=%d)", q->bits,
                 q->integer, q->keep_negative);
        break;
    case QUANT_RELU:
        if (q->neg_shift)
            snprintf(buf, (size_t)len, "quantized_relu(%d,%d,negative_slope=2^-%d)", q->bits,
                     q->integer, q->neg_shift);
        else
            snprintf(buf, (size_t)len, "quantized_relu(%d,%d)", q->bits, q->integer);
        break;
    default:
        snprintf(buf, (size_t)len, "float");
    }
    return buf;
}
