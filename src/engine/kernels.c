/* int16 dot products with int32 accumulators (see kernels.h). */
#include "upset/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86 1
#endif

/* The fan-in of one output as nseg segments of seg values each (xs[s]; the weights of
 * segment s at s * seg): im2col without the copy where a receptive field lies inside
 * the input. */
static void dot16_portable(const int16_t *const *xs, int nseg, int64_t seg, const int16_t *w,
                           int n_rows, int64_t w_stride, int32_t *out)
{
    for (int r = 0; r < n_rows; r++) {
        const int16_t *wr = w + r * w_stride;
        int32_t acc = 0;
        for (int g = 0; g < nseg; g++)
            for (int64_t j = 0; j < seg; j++)
                acc += (int32_t)xs[g][j] * wr[g * seg + j];
        out[r] = acc;
    }
}

/* out[c] = sum over pairs j of x[2j] w[j][c][0] + x[2j+1] w[j][c][1], the pairs of
 * segment g (seg_pairs each) at xs[g] */
static void pairs16_portable(const int16_t *const *xs, int nseg, int64_t seg_pairs,
                             const int16_t *wp, int n, int32_t *out)
{
    for (int c = 0; c < n; c++)
        out[c] = 0;
    for (int g = 0; g < nseg; g++)
        for (int64_t j = 0; j < seg_pairs; j++) {
            const int32_t x0 = xs[g][2 * j], x1 = xs[g][2 * j + 1];
            if (!x0 && !x1)
                continue;
            const int16_t *wr = wp + (g * seg_pairs + j) * n * 2;
            for (int c = 0; c < n; c++)
                out[c] += x0 * wr[2 * c] + x1 * wr[2 * c + 1];
        }
}

/* One variant's int16 kernels (kernels_int16.inc fills one per variant). */
typedef struct {
    void (*dot16)(const int16_t *const *xs, int nseg, int64_t seg, const int16_t *w, int n_rows,
                  int64_t w_stride, int32_t *out);
    void (*dot16x2)(const int16_t *const *xa, const int16_t *const *xb, int nseg, int64_t seg,
                    const int16_t *w, int n_rows, int64_t w_stride, int32_t *outa, int32_t *outb);
    void (*dot16_many)(const int16_t *const *xs, int nseg, int64_t seg, const int16_t *w,
                       int n_items, int32_t *out);
    void (*pairs16)(const int16_t *const *xs, int nseg, int64_t seg_pairs, const int16_t *wp,
                    int n, int32_t *out);
    void (*pairs16x2)(const int16_t *const *xa, const int16_t *const *xb, int nseg,
                      int64_t seg_pairs, const int16_t *wp, int n, int32_t *outa, int32_t *outb);
    /* NULL where the variant has too few registers */
    void (*pairs16x4)(const int16_t *const *xs, int64_t step, int nseg, int64_t seg_pairs,
                      const int16_t *wp, int n, int32_t *out);
} int16_kernels_t;

#ifdef HAVE_X86
/* Keeps four loaded vectors in registers: without it the compiler folds each load into
 * both multiply-adds that use it, and the two-pixel kernels load every weight twice. */
#define KEEP_IN_REGISTERS(a, b, c, d) __asm__("" : "+x"(a), "+x"(b), "+x"(c), "+x"(d))

/* Four int32 accumulators of the int16 kernels (inline: they stay in registers). */
typedef struct {
    __m256i a0, a1, a2, a3;
} acc4_t;

/* 32 channels' sums (eight per accumulator) to out. */
__attribute__((target("avx2"), always_inline)) static inline void store4_avx2(int32_t *out,
                                                                             const acc4_t *s)
{
    _mm256_storeu_si256((__m256i *)out, s->a0);
    _mm256_storeu_si256((__m256i *)(out + 8), s->a1);
    _mm256_storeu_si256((__m256i *)(out + 16), s->a2);
    _mm256_storeu_si256((__m256i *)(out + 24), s->a3);
}

__attribute__((target("avx2"))) static int32_t hsum8(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

/* Four rows' dot products (one per accumulator) to out[0..3]. */
__attribute__((target("avx2"), always_inline)) static inline void hsum4_avx2(int32_t *out,
                                                                            const acc4_t *s)
{
    out[0] = hsum8(s->a0), out[1] = hsum8(s->a1), out[2] = hsum8(s->a2), out[3] = hsum8(s->a3);
}

#define I16_TARGET "avx2"
#define I16(name) name##_avx2
#define I16_DPADD(a, v, w) _mm256_add_epi32(a, _mm256_madd_epi16(v, w))
#include "kernels_int16.inc"
#undef I16_TARGET
#undef I16
#undef I16_DPADD

#define I16_TARGET "avx2,avx512vnni,avx512vl"
#define I16(name) name##_vnni
#define I16_DPADD(a, v, w) _mm256_dpwssd_epi32(a, v, w)
#define I16_X4 1
#include "kernels_int16.inc"
#undef I16_X4
#undef I16_TARGET
#undef I16
#undef I16_DPADD

/* The vector bodies below stop at the last whole vector and return where they stopped;
 * the public function finishes with its plain loop. */
__attribute__((target("avx2"))) static int fixed_out_avx2(const int32_t *sum, const int64_t *bias,
                                                          int shift, int relu, int n, int64_t *out)
{
    const __m256i zero = _mm256_setzero_si256();
    int c = 0;
    for (; c + 4 <= n; c += 4) {
        __m256i v = _mm256_cvtepi32_epi64(_mm_loadu_si128((const __m128i *)(sum + c)));
        v = _mm256_add_epi64(_mm256_slli_epi64(v, shift),
                             _mm256_loadu_si256((const __m256i *)(bias + c)));
        if (relu) /* v < 0 -> 0 */
            v = _mm256_andnot_si256(_mm256_cmpgt_epi64(zero, v), v);
        _mm256_storeu_si256((__m256i *)(out + c), v);
    }
    return c;
}

/* v = v > 0 ? v : +0.0 by a mask (NaN and -0.0 give +0.0, as the comparison does), with
 * no branch to mispredict on the signs of a float layer's outputs. */
__attribute__((target("avx2"))) static int64_t relu_f64_avx2(double *v, int64_t n)
{
    const __m256d zero = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const __m256d x = _mm256_loadu_pd(v + i);
        _mm256_storeu_pd(v + i, _mm256_and_pd(x, _mm256_cmp_pd(x, zero, _CMP_GT_OQ)));
    }
    return i;
}

/* Four int64 lanes: the weights sign-extended, multiplied by dx as signed 32-bit halves
 * (exact: |dx| < 2^31 checked by the caller), added. */
__attribute__((target("avx2"))) static int64_t axpy_i64_avx2(int64_t *acc, int64_t dx,
                                                             const int32_t *w, int64_t n)
{
    const __m256i d = _mm256_set1_epi64x(dx);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const __m256i wv = _mm256_cvtepi32_epi64(_mm_loadu_si128((const __m128i *)(w + i)));
        __m256i *a = (__m256i *)(acc + i);
        _mm256_storeu_si256(a, _mm256_add_epi64(_mm256_loadu_si256(a), _mm256_mul_epi32(d, wv)));
    }
    return i;
}

/* Eight int32 lanes: acc += dx * w, each product and sum within int32 (the caller's bound),
 * so the low 32 bits vpmulld keeps are the whole product. */
__attribute__((target("avx2"))) static int64_t axpy_i32_avx2(int32_t *acc, int32_t dx,
                                                             const int32_t *w, int64_t n)
{
    const __m256i d = _mm256_set1_epi32(dx);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i *a = (__m256i *)(acc + i);
        _mm256_storeu_si256(a, _mm256_add_epi32(_mm256_loadu_si256(a),
                                                _mm256_mullo_epi32(d, _mm256_loadu_si256(
                                                                          (const __m256i *)(w + i)))));
    }
    return i;
}

/* Eight int32 accumulators at a time: o += (int64)a * 2^shift, a = 0. */
__attribute__((target("avx2"))) static int64_t add_shifted_clear_i32_avx2(int64_t *o, int32_t *a,
                                                                          int shift, int64_t n)
{
    const __m128i s = _mm_cvtsi32_si128(shift);
    const __m256i zero = _mm256_setzero_si256();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)(a + i));
        const __m256i lo = _mm256_sll_epi64(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(v)), s),
                      hi = _mm256_sll_epi64(_mm256_cvtepi32_epi64(_mm256_extracti128_si256(v, 1)), s);
        __m256i *o0 = (__m256i *)(o + i), *o1 = (__m256i *)(o + i + 4);
        _mm256_storeu_si256(o0, _mm256_add_epi64(_mm256_loadu_si256(o0), lo));
        _mm256_storeu_si256(o1, _mm256_add_epi64(_mm256_loadu_si256(o1), hi));
        _mm256_storeu_si256((__m256i *)(a + i), zero);
    }
    return i;
}

__attribute__((target("avx2"))) static int64_t count_nonzero_i32_avx2(const int32_t *x,
                                                                      int64_t n, int64_t *count)
{
    const __m256i zero = _mm256_setzero_si256();
    int64_t i = 0, zeros = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i eq = _mm256_cmpeq_epi32(_mm256_loadu_si256((const __m256i *)(x + i)), zero);
        zeros += __builtin_popcount((unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(eq)));
    }
    *count = i - zeros;
    return i;
}

__attribute__((target("avx2"))) static int64_t count_nonzero_i64_avx2(const int64_t *x,
                                                                      int64_t n, int64_t *count)
{
    const __m256i zero = _mm256_setzero_si256();
    int64_t i = 0, zeros = 0;
    for (; i + 4 <= n; i += 4) {
        const __m256i eq = _mm256_cmpeq_epi64(_mm256_loadu_si256((const __m256i *)(x + i)), zero);
        zeros += __builtin_popcount((unsigned)_mm256_movemask_pd(_mm256_castsi256_pd(eq)));
    }
    *count = i - zeros;
    return i;
}

__attribute__((target("avx2"))) static int64_t count_nonzero_f64_avx2(const double *x, int64_t n,
                                                                      int64_t *count)
{
    const __m256d zero = _mm256_setzero_pd();
    int64_t i = 0, c = 0;
    for (; i + 4 <= n; i += 4) /* unordered: NaN counts, as x != 0 */
        c += __builtin_popcount(
            (unsigned)_mm256_movemask_pd(_mm256_cmp_pd(_mm256_loadu_pd(x + i), zero, _CMP_NEQ_UQ)));
    *count = c;
    return i;
}

/* A left shift of a two's-complement lane is its product with 2^shift (modulo 2^64, as the
 * plain loop's product, which the caller keeps in range). */
__attribute__((target("avx2"))) static int64_t add_shifted_clear_i64_avx2(int64_t *o, int64_t *a,
                                                                         int shift, int64_t n)
{
    const __m128i s = _mm_cvtsi32_si128(shift);
    const __m256i zero = _mm256_setzero_si256();
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256i *ov = (__m256i *)(o + i), *av = (__m256i *)(a + i);
        const __m256i v = _mm256_sll_epi64(_mm256_loadu_si256(av), s);
        _mm256_storeu_si256(ov, _mm256_add_epi64(_mm256_loadu_si256(ov), v));
        _mm256_storeu_si256(av, zero);
    }
    return i;
}

__attribute__((target("avx2"))) static int64_t widen16_avx2(const int16_t *x, int64_t n,
                                                            int64_t *out)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        int64_t four;
        memcpy(&four, x + i, sizeof four);
        _mm256_storeu_si256((__m256i *)(out + i), _mm256_cvtepi16_epi64(_mm_cvtsi64_si128(four)));
    }
    return i;
}

__attribute__((target("avx2"))) static int64_t widen32_avx2(const int32_t *x, int64_t n,
                                                            int64_t *out)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        _mm256_storeu_si256((__m256i *)(out + i),
                            _mm256_cvtepi32_epi64(_mm_loadu_si128((const __m128i *)(x + i))));
    return i;
}

__attribute__((target("avx2"))) static int64_t axpy_f64_avx2(double *o, double x, const double *w,
                                                             int64_t n)
{
    const __m256d xv = _mm256_set1_pd(x);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        _mm256_storeu_pd(o + i, _mm256_add_pd(_mm256_loadu_pd(o + i),
                                              _mm256_mul_pd(xv, _mm256_loadu_pd(w + i))));
    return i;
}

/* kernel_axpy_rows_f64 for the columns below a multiple of 4: 32 columns at a time held in
 * registers over all the rows (one load and store of o per column, not one per row),
 * then 4 at a time. Per lane, the same products and sums in the same order. */
__attribute__((target("avx2"))) static int64_t axpy_rows_f64_avx2(double *o, const double *x,
                                                                  const int32_t *idx, int nx,
                                                                  const double *w, int64_t ldw,
                                                                  int64_t n)
{
    int64_t j = 0;
    for (; j + 32 <= n; j += 32) {
        __m256d a[8];
#pragma GCC unroll 8
        for (int q = 0; q < 8; q++)
            a[q] = _mm256_loadu_pd(o + j + 4 * q);
        for (int k = 0; k < nx; k++) {
            const __m256d xb = _mm256_set1_pd(x[k]);
            const double *row = w + idx[k] * ldw + j;
#pragma GCC unroll 8
            for (int q = 0; q < 8; q++)
                a[q] = _mm256_add_pd(a[q], _mm256_mul_pd(xb, _mm256_loadu_pd(row + 4 * q)));
        }
#pragma GCC unroll 8
        for (int q = 0; q < 8; q++)
            _mm256_storeu_pd(o + j + 4 * q, a[q]);
    }
    for (; j + 4 <= n; j += 4) {
        __m256d a = _mm256_loadu_pd(o + j);
        for (int k = 0; k < nx; k++)
            a = _mm256_add_pd(a, _mm256_mul_pd(_mm256_set1_pd(x[k]),
                                               _mm256_loadu_pd(w + idx[k] * ldw + j)));
        _mm256_storeu_pd(o + j, a);
    }
    return j;
}

__attribute__((target("avx2"))) static int64_t axpy2_f64_avx2(double *o, double x, const double *w,
                                                              double y, const double *v, int64_t n)
{
    const __m256d xv = _mm256_set1_pd(x), yv = _mm256_set1_pd(y);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const __m256d s = _mm256_add_pd(_mm256_mul_pd(xv, _mm256_loadu_pd(w + i)),
                                        _mm256_mul_pd(yv, _mm256_loadu_pd(v + i)));
        _mm256_storeu_pd(o + i, _mm256_add_pd(_mm256_loadu_pd(o + i), s));
    }
    return i;
}

__attribute__((target("avx2"))) static int64_t add_f64_avx2(double *o, const double *a, int64_t n)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        _mm256_storeu_pd(o + i, _mm256_add_pd(_mm256_loadu_pd(o + i), _mm256_loadu_pd(a + i)));
    return i;
}

/* Four int64 to int16 by a vector range test and a shuffle of the low halves; -1 when one
 * is out of range. */
__attribute__((target("avx2"))) static int64_t narrow16_avx2(const int64_t *x, int64_t n,
                                                             int64_t lim, int16_t *out)
{
    const __m256i hi = _mm256_set1_epi64x(lim), lo = _mm256_set1_epi64x(-lim);
    __m256i bad = _mm256_setzero_si256();
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)(x + i));
        bad = _mm256_or_si256(bad, _mm256_or_si256(_mm256_cmpgt_epi64(v, hi),
                                                   _mm256_cmpgt_epi64(lo, v)));
        /* the low 32 bits of each lane, then their low 16 */
        const __m256i d = _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6));
        const __m128i w = _mm_shuffle_epi8(_mm256_castsi256_si128(d),
                                           _mm_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1,
                                                         -1, -1, -1, -1));
        _mm_storel_epi64((__m128i *)(out + i), w);
    }
    return _mm256_testz_si256(bad, bad) ? i : -1;
}

/* Four batch-norm results at `at` in float32: float(x) * scale[0..3] + offset[0..3] (two
 * roundings, no fused multiply-add); integer inputs by the 2^52 trick, exact below 2^50 in
 * magnitude (others flagged in *bad), times in_scale, a power of two. */
__attribute__((target("avx2"), always_inline)) static inline __m128
batchnorm4_avx2(const int64_t *xi, const double *xr, int64_t at, __m256d in_scale,
                const float *scale, const float *offset, __m256i *bad)
{
    const __m256i magic_i = _mm256_castpd_si256(_mm256_set1_pd(6755399441055744.0)); /* 2^52+2^51 */
    const __m256d magic_d = _mm256_set1_pd(6755399441055744.0);
    const __m256i lim = _mm256_set1_epi64x(INT64_C(1) << 50), nlim = _mm256_set1_epi64x(-(INT64_C(1) << 50));
    __m256d v;
    if (xi) {
        const __m256i q = _mm256_loadu_si256((const __m256i *)(xi + at));
        *bad = _mm256_or_si256(*bad, _mm256_or_si256(_mm256_cmpgt_epi64(q, lim),
                                                     _mm256_cmpgt_epi64(nlim, q)));
        v = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_add_epi64(q, magic_i)), magic_d);
        v = _mm256_mul_pd(v, in_scale); /* a power of two: exact */
    } else {
        v = _mm256_loadu_pd(xr + at);
    }
    const __m128 y = _mm_mul_ps(_mm256_cvtpd_ps(v), _mm_loadu_ps(scale));
    return _mm_add_ps(y, _mm_loadu_ps(offset));
}

/* Four codes from values f already rounded to float32 (qs = 2^frac of the quantizer, lo and
 * hi its code limits): an exact scale, round half to even (the instruction's nearest mode,
 * as nearbyint), clip, NaN -> 0; stored as int64. */
__attribute__((target("avx2"), always_inline)) static inline void
codes4_avx2(__m256d f, __m256d qs, __m256d lo, __m256d hi, int64_t *out)
{
    const __m256d nan = _mm256_cmp_pd(f, f, _CMP_UNORD_Q);
    __m256d r = _mm256_round_pd(_mm256_mul_pd(f, qs), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r = _mm256_blendv_pd(_mm256_min_pd(_mm256_max_pd(r, lo), hi), _mm256_setzero_pd(), nan);
    _mm256_storeu_si256((__m256i *)out, _mm256_cvtepi32_epi64(_mm256_cvtpd_epi32(r)));
}

/* y = float(x) * scale[k] + offset[k] in float32 (two roundings, no fused multiply-add),
 * channels innermost; four channels per step, integer inputs by the 2^52 trick (exact
 * below 2^51 in magnitude, checked). 0, or -1 when an input is out of that range. */
__attribute__((target("avx2"))) static int batchnorm_avx2(const int64_t *xi, const double *xr,
                                                          double in_scale, int64_t n, int c,
                                                          const float *scale, const float *offset,
                                                          double *out)
{
    const __m256d vs = _mm256_set1_pd(in_scale);
    __m256i bad = _mm256_setzero_si256();
    for (int64_t p = 0; p < n; p += c)
        for (int k = 0; k < c; k += 4)
            _mm256_storeu_pd(out + p + k, _mm256_cvtps_pd(batchnorm4_avx2(
                                              xi, xr, p + k, vs, scale + k, offset + k, &bad)));
    return _mm256_testz_si256(bad, bad) ? 0 : -1;
}

/* The same from integer inputs of |x| < 2^31 into codes of at most 24 bits at a
 * non-negative frac, eight at a time in float32: float(x) * 2^-f is the one rounding of
 * x * 2^-f (a power of two, no underflow at |x| >= 1), the batch norm is the same multiply
 * and add, y * 2^frac is exact or overflows to an infinity that clips as the double does,
 * and the code limits are exact in float32. */
__attribute__((target("avx2"))) static int batchnorm_quantize_f32_avx2(
    const int64_t *xi, double in_scale, int64_t n, int c, const float *scale, const float *offset,
    const quant_t *q, int64_t *codes)
{
    const __m256i hi32 = _mm256_set1_epi64x(INT32_MAX), lo32 = _mm256_set1_epi64x(INT32_MIN);
    const __m256i lows = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    const __m256 vs = _mm256_set1_ps((float)in_scale), qs = _mm256_set1_ps((float)ldexp(1.0, quant_frac(q))),
                 lo = _mm256_set1_ps((float)quant_code_min(q)), hi = _mm256_set1_ps((float)quant_code_max(q)),
                 zero = _mm256_setzero_ps();
    __m256i bad = _mm256_setzero_si256();
    for (int64_t p = 0; p < n; p += c)
        for (int k = 0; k < c; k += 8) {
            const __m256i x0 = _mm256_loadu_si256((const __m256i *)(xi + p + k)),
                          x1 = _mm256_loadu_si256((const __m256i *)(xi + p + k + 4));
            bad = _mm256_or_si256(bad, _mm256_or_si256(_mm256_cmpgt_epi64(x0, hi32),
                                                       _mm256_cmpgt_epi64(lo32, x0)));
            bad = _mm256_or_si256(bad, _mm256_or_si256(_mm256_cmpgt_epi64(x1, hi32),
                                                       _mm256_cmpgt_epi64(lo32, x1)));
            const __m256i x32 = _mm256_permute2x128_si256(_mm256_permutevar8x32_epi32(x0, lows),
                                                          _mm256_permutevar8x32_epi32(x1, lows), 0x20);
            __m256 y = _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(x32), vs), _mm256_loadu_ps(scale + k));
            y = _mm256_add_ps(y, _mm256_loadu_ps(offset + k));
            const __m256 nan = _mm256_cmp_ps(y, y, _CMP_UNORD_Q);
            __m256 r = _mm256_round_ps(_mm256_mul_ps(y, qs), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            r = _mm256_blendv_ps(_mm256_min_ps(_mm256_max_ps(r, lo), hi), zero, nan);
            const __m256i k32 = _mm256_cvtps_epi32(r);
            _mm256_storeu_si256((__m256i *)(codes + p + k), _mm256_cvtepi32_epi64(_mm256_castsi256_si128(k32)));
            _mm256_storeu_si256((__m256i *)(codes + p + k + 4),
                                _mm256_cvtepi32_epi64(_mm256_extracti128_si256(k32, 1)));
        }
    return _mm256_testz_si256(bad, bad) ? 0 : -1;
}

/* kernel_linear_bnq_row eight at a time: the pre-activations are integers below 2^24 in
 * magnitude (the caller's proof), so float32 holds them, sum * 2^shift and the bias added
 * exactly; from there the steps of batchnorm_quantize_f32_avx2 on the same values. */
__attribute__((target("avx2"))) static void linear_bnq_row_avx2(
    const int32_t *sum, const float *bias, float mul, int relu, int64_t n, int period,
    double in_scale, const float *scale, const float *offset, const quant_t *q, int64_t *out64,
    int64_t *codes64, int16_t *codes16)
{
    const __m256 vm = _mm256_set1_ps(mul), vs = _mm256_set1_ps((float)in_scale),
                 qs = _mm256_set1_ps((float)ldexp(1.0, quant_frac(q))),
                 lo = _mm256_set1_ps((float)quant_code_min(q)), hi = _mm256_set1_ps((float)quant_code_max(q)),
                 zero = _mm256_setzero_ps();
    for (int64_t p = 0; p < n; p += period)
        for (int k = 0; k < period; k += 8) {
            __m256 x = _mm256_add_ps(
                _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(sum + p + k))), vm),
                _mm256_loadu_ps(bias + k));
            if (relu) /* an integer: max gives +0 for the negative ones, as the int64 relu */
                x = _mm256_max_ps(x, zero);
            if (out64) {
                const __m256i x32 = _mm256_cvtps_epi32(x);
                _mm256_storeu_si256((__m256i *)(out64 + p + k), _mm256_cvtepi32_epi64(_mm256_castsi256_si128(x32)));
                _mm256_storeu_si256((__m256i *)(out64 + p + k + 4),
                                    _mm256_cvtepi32_epi64(_mm256_extracti128_si256(x32, 1)));
            }
            __m256 y = _mm256_mul_ps(_mm256_mul_ps(x, vs), _mm256_loadu_ps(scale + k));
            y = _mm256_add_ps(y, _mm256_loadu_ps(offset + k));
            const __m256 nan = _mm256_cmp_ps(y, y, _CMP_UNORD_Q);
            __m256 r = _mm256_round_ps(_mm256_mul_ps(y, qs), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            r = _mm256_blendv_ps(_mm256_min_ps(_mm256_max_ps(r, lo), hi), zero, nan);
            const __m256i k32 = _mm256_cvtps_epi32(r);
            if (codes64) {
                _mm256_storeu_si256((__m256i *)(codes64 + p + k), _mm256_cvtepi32_epi64(_mm256_castsi256_si128(k32)));
                _mm256_storeu_si256((__m256i *)(codes64 + p + k + 4),
                                    _mm256_cvtepi32_epi64(_mm256_extracti128_si256(k32, 1)));
            }
            if (codes16) /* the codes fit int16 (the caller's check): no saturation */
                _mm_storeu_si128((__m128i *)(codes16 + p + k),
                                 _mm256_castsi256_si128(_mm256_permute4x64_epi64(
                                     _mm256_packs_epi32(k32, k32), 0x08)));
        }
}

/* linear_bnq_row_avx2 sixteen at a time: the same operations in the same order on each
 * lane (NaN to 0 by a mask, the int16 codes by a truncating narrow: they fit). */
__attribute__((target("avx512f,avx512bw,avx512vl"))) static void linear_bnq_row_avx512(
    const int32_t *sum, const float *bias, float mul, int relu, int64_t n, int period,
    double in_scale, const float *scale, const float *offset, const quant_t *q, int64_t *out64,
    int64_t *codes64, int16_t *codes16)
{
    const __m512 vm = _mm512_set1_ps(mul), vs = _mm512_set1_ps((float)in_scale),
                 qs = _mm512_set1_ps((float)ldexp(1.0, quant_frac(q))),
                 lo = _mm512_set1_ps((float)quant_code_min(q)), hi = _mm512_set1_ps((float)quant_code_max(q)),
                 zero = _mm512_setzero_ps();
    for (int64_t p = 0; p < n; p += period)
        for (int k = 0; k < period; k += 16) {
            __m512 x = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_loadu_si512(sum + p + k)), vm),
                                     _mm512_loadu_ps(bias + k));
            if (relu)
                x = _mm512_max_ps(x, zero);
            if (out64) {
                const __m512i x32 = _mm512_cvtps_epi32(x);
                _mm512_storeu_si512(out64 + p + k, _mm512_cvtepi32_epi64(_mm512_castsi512_si256(x32)));
                _mm512_storeu_si512(out64 + p + k + 8, _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(x32, 1)));
            }
            __m512 y = _mm512_mul_ps(_mm512_mul_ps(x, vs), _mm512_loadu_ps(scale + k));
            y = _mm512_add_ps(y, _mm512_loadu_ps(offset + k));
            const __mmask16 num = _mm512_cmp_ps_mask(y, y, _CMP_ORD_Q);
            __m512 r = _mm512_roundscale_ps(_mm512_mul_ps(y, qs), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            r = _mm512_maskz_mov_ps(num, _mm512_min_ps(_mm512_max_ps(r, lo), hi));
            const __m512i k32 = _mm512_cvtps_epi32(r);
            if (codes64) {
                _mm512_storeu_si512(codes64 + p + k, _mm512_cvtepi32_epi64(_mm512_castsi512_si256(k32)));
                _mm512_storeu_si512(codes64 + p + k + 8, _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(k32, 1)));
            }
            if (codes16)
                _mm256_storeu_si256((__m256i *)(codes16 + p + k), _mm512_cvtepi32_epi16(k32));
        }
}

/* batchnorm_avx2 followed by quantize_avx2's steps on each float32 result, without the
 * batch norm's own output: the same codes as the two passes. */
__attribute__((target("avx2"))) static int batchnorm_quantize_avx2(
    const int64_t *xi, const double *xr, double in_scale, int64_t n, int c, const float *scale,
    const float *offset, const quant_t *q, int64_t *codes)
{
    const __m256d vs = _mm256_set1_pd(in_scale), qs = _mm256_set1_pd(ldexp(1.0, quant_frac(q))),
                  lo = _mm256_set1_pd(quant_code_min(q)), hi = _mm256_set1_pd(quant_code_max(q));
    __m256i bad = _mm256_setzero_si256();
    for (int64_t p = 0; p < n; p += c)
        for (int k = 0; k < c; k += 4)
            codes4_avx2(_mm256_cvtps_pd(batchnorm4_avx2(xi, xr, p + k, vs, scale + k, offset + k,
                                                        &bad)),
                        qs, lo, hi, codes + p + k);
    return _mm256_testz_si256(bad, bad) ? 0 : -1;
}
#endif

static kernel_mode_t mode = KERNEL_AUTO;
static int mode_read;

/* UPSET_KERNEL=wide|portable|avx2|auto picks the path for a whole run (benchmarks and
 * tests compare them); kernel_set_mode overrides it. */
kernel_mode_t kernel_mode(void)
{
    if (!mode_read) {
        const char *s = getenv("UPSET_KERNEL");
        mode_read = 1;
        if (s && !strcmp(s, "wide"))
            mode = KERNEL_WIDE;
        else if (s && !strcmp(s, "portable"))
            mode = KERNEL_PORTABLE;
        else if (s && !strcmp(s, "avx2"))
            mode = KERNEL_AVX2;
    }
    return mode;
}

/* What the processor offers (asked once; ranks are single-threaded processes): 1 AVX2,
 * 2 AVX2 and AVX-512 VNNI on 256-bit vectors too, 0 neither or not x86. */
static int cpu_level(void)
{
#ifdef HAVE_X86
    static int level = -1;
    if (level < 0) {
        __builtin_cpu_init();
        level = !__builtin_cpu_supports("avx2")                 ? 0
                : __builtin_cpu_supports("avx512vnni") &&
                          __builtin_cpu_supports("avx512vl") ? 2
                                                             : 1;
    }
    return level;
#else
    return 0;
#endif
}

/* Whether the AVX2 paths run: asked by every kernel call (the delta path's scatter makes
 * millions of short ones), so worked out once per mode (-1: not yet) and inlined. */
static int avx2_on = -1;

static inline int use_avx2(void)
{
    if (avx2_on < 0)
        avx2_on = cpu_level() >= 1 && (kernel_mode() == KERNEL_AUTO || kernel_mode() == KERNEL_AVX2);
    return avx2_on;
}

/* Whether the float decoder's sums take 512-bit vectors: by default where the processor
 * has AVX-512F (UPSET_KERNEL=avx2 keeps them on 256-bit vectors); worked out once per mode. */
static int avx512_f64_on = -1;

static inline int use_avx512_f64(void)
{
    if (avx512_f64_on < 0) {
        avx512_f64_on = 0;
#ifdef HAVE_X86
        avx512_f64_on = kernel_mode() == KERNEL_AUTO && cpu_level() >= 1 &&
                        __builtin_cpu_supports("avx512f");
#endif
    }
    return avx512_f64_on;
}

/* The int16 kernels to run: the VNNI variant by default where the processor has it, else
 * AVX2; NULL for the plain C loops. */
static const int16_kernels_t *int16_chosen;
static int int16_known; /* int16_chosen worked out for the current mode */

static inline const int16_kernels_t *int16_kernels(void)
{
    if (!int16_known) {
        int16_chosen = NULL;
#ifdef HAVE_X86
        if (cpu_level() == 2 && kernel_mode() == KERNEL_AUTO)
            int16_chosen = &kernels_vnni;
        else if (use_avx2())
            int16_chosen = &kernels_avx2;
#endif
        int16_known = 1;
    }
    return int16_chosen;
}

static void sum_rows_f64_portable(const double *x, int n_x, int n_sets, const double *w,
                                  int64_t n, double *acc, int64_t acc_stride)
{
    for (int s = 0; s < n_sets; s++, x += n_x, acc += acc_stride)
        for (int64_t j0 = 0; j0 < n; j0 += 8) {
            const double *panel = w + j0 * n_x;
            for (int t = 0; t < 8; t++)
                acc[j0 + t] = 0;
            for (int i = 0; i < n_x; i++)
                for (int t = 0; t < 8; t++)
                    acc[j0 + t] += x[i] * panel[i * 8 + t];
        }
}

#ifdef HAVE_X86
/* Four input vectors at a time share every weight load, and a panel's weights are read
 * in memory order (a decoder layer's outgrow L1); eight accumulators stay in registers
 * over the whole sum. A multiply then an add (never a fused multiply-add) per term, so
 * each lane rounds as the portable loop does. */
__attribute__((target("avx2"))) static void sum_rows_f64_avx2(const double *x, int n_x,
                                                              int n_sets, const double *w,
                                                              int64_t n, double *acc,
                                                              int64_t m)
{
    int s = 0;
    for (; s + 4 <= n_sets; s += 4, x += 4 * n_x, acc += 4 * m) {
        const double *x0 = x, *x1 = x + n_x, *x2 = x + 2 * n_x, *x3 = x + 3 * n_x;
        for (int64_t j = 0; j < n; j += 8) {
            const double *panel = w + j * n_x;
            __m256d a0 = _mm256_setzero_pd(), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0,
                    d0 = a0, d1 = a0;
            for (int i = 0; i < n_x; i++) {
                const __m256d w0 = _mm256_loadu_pd(panel + i * 8),
                              w1 = _mm256_loadu_pd(panel + i * 8 + 4);
                __m256d xb = _mm256_set1_pd(x0[i]);
                a0 = _mm256_add_pd(a0, _mm256_mul_pd(xb, w0));
                a1 = _mm256_add_pd(a1, _mm256_mul_pd(xb, w1));
                xb = _mm256_set1_pd(x1[i]);
                b0 = _mm256_add_pd(b0, _mm256_mul_pd(xb, w0));
                b1 = _mm256_add_pd(b1, _mm256_mul_pd(xb, w1));
                xb = _mm256_set1_pd(x2[i]);
                c0 = _mm256_add_pd(c0, _mm256_mul_pd(xb, w0));
                c1 = _mm256_add_pd(c1, _mm256_mul_pd(xb, w1));
                xb = _mm256_set1_pd(x3[i]);
                d0 = _mm256_add_pd(d0, _mm256_mul_pd(xb, w0));
                d1 = _mm256_add_pd(d1, _mm256_mul_pd(xb, w1));
            }
            _mm256_storeu_pd(acc + j, a0);
            _mm256_storeu_pd(acc + j + 4, a1);
            _mm256_storeu_pd(acc + m + j, b0);
            _mm256_storeu_pd(acc + m + j + 4, b1);
            _mm256_storeu_pd(acc + 2 * m + j, c0);
            _mm256_storeu_pd(acc + 2 * m + j + 4, c1);
            _mm256_storeu_pd(acc + 3 * m + j, d0);
            _mm256_storeu_pd(acc + 3 * m + j + 4, d1);
        }
    }
    for (; s < n_sets; s++, x += n_x, acc += m)
        for (int64_t j = 0; j < n; j += 8) {
            const double *panel = w + j * n_x;
            __m256d a0 = _mm256_setzero_pd(), a1 = a0;
            for (int i = 0; i < n_x; i++) {
                const __m256d xb = _mm256_set1_pd(x[i]);
                a0 = _mm256_add_pd(a0, _mm256_mul_pd(xb, _mm256_loadu_pd(panel + i * 8)));
                a1 = _mm256_add_pd(a1, _mm256_mul_pd(xb, _mm256_loadu_pd(panel + i * 8 + 4)));
            }
            _mm256_storeu_pd(acc + j, a0);
            _mm256_storeu_pd(acc + j + 4, a1);
        }
}
#endif

#ifdef HAVE_X86
/* sum_rows_f64_avx2 with a panel of eight doubles as one 512-bit vector, two panels a pass:
 * half the instructions a term, which processors with two 512-bit units (Intel's Xeons)
 * issue in half the cycles. Four input vectors share each weight load; the eight sums of a
 * pass hide the adds' latency. Same multiply then add per lane, same order. */
__attribute__((target("avx512f"))) static void sum_rows_f64_avx512(const double *x, int n_x,
                                                                   int n_sets, const double *w,
                                                                   int64_t n, double *acc,
                                                                   int64_t m)
{
    int s = 0;
    for (; s + 4 <= n_sets; s += 4, x += 4 * n_x, acc += 4 * m) {
        int64_t j = 0;
        for (; j + 16 <= n; j += 16) {
            const double *p0 = w + j * n_x, *p1 = p0 + 8 * n_x;
            __m512d a[4][2];
            for (int r = 0; r < 4; r++)
                a[r][0] = a[r][1] = _mm512_setzero_pd();
            for (int i = 0; i < n_x; i++) {
                const __m512d w0 = _mm512_loadu_pd(p0 + i * 8), w1 = _mm512_loadu_pd(p1 + i * 8);
#pragma GCC unroll 4
                for (int r = 0; r < 4; r++) {
                    const __m512d xb = _mm512_set1_pd(x[r * n_x + i]);
                    a[r][0] = _mm512_add_pd(a[r][0], _mm512_mul_pd(xb, w0));
                    a[r][1] = _mm512_add_pd(a[r][1], _mm512_mul_pd(xb, w1));
                }
            }
            for (int r = 0; r < 4; r++) {
                _mm512_storeu_pd(acc + r * m + j, a[r][0]);
                _mm512_storeu_pd(acc + r * m + j + 8, a[r][1]);
            }
        }
        for (; j < n; j += 8) {
            const double *p0 = w + j * n_x;
            __m512d a[4];
            for (int r = 0; r < 4; r++)
                a[r] = _mm512_setzero_pd();
            for (int i = 0; i < n_x; i++) {
                const __m512d w0 = _mm512_loadu_pd(p0 + i * 8);
#pragma GCC unroll 4
                for (int r = 0; r < 4; r++)
                    a[r] = _mm512_add_pd(a[r], _mm512_mul_pd(_mm512_set1_pd(x[r * n_x + i]), w0));
            }
            for (int r = 0; r < 4; r++)
                _mm512_storeu_pd(acc + r * m + j, a[r]);
        }
    }
    for (; s < n_sets; s++, x += n_x, acc += m)
        for (int64_t j = 0; j < n; j += 8) {
            const double *panel = w + j * n_x;
            __m512d a = _mm512_setzero_pd();
            for (int i = 0; i < n_x; i++)
                a = _mm512_add_pd(a, _mm512_mul_pd(_mm512_set1_pd(x[i]),
                                                   _mm512_loadu_pd(panel + i * 8)));
            _mm512_storeu_pd(acc + j, a);
        }
}

/* add_sums_np_avx2 with a panel as one 512-bit vector (np accumulators, np <= 4). */
__attribute__((target("avx512f"), always_inline)) static inline void
add_sums_np_avx512(const sparse_rows_t *x, const int32_t *sets, double *out, const int64_t *off,
                   int n_sets, const double *w, int n_x, const int np)
{
    const int64_t step = 8 * (int64_t)n_x;
    for (int i = 0; i < n_sets; i++) {
        const int64_t s = sets[i];
        const double *val = x->val + s * x->stride;
        const int32_t *idx = x->idx + s * x->stride;
        __m512d a[4];
#pragma GCC unroll 4
        for (int q = 0; q < np; q++)
            a[q] = _mm512_setzero_pd();
        for (int k = 0; k < x->n[s]; k++) {
            const double *row = w + (int64_t)idx[k] * 8;
            const __m512d xb = _mm512_set1_pd(val[k]);
#pragma GCC unroll 4
            for (int q = 0; q < np; q++)
                a[q] = _mm512_add_pd(a[q], _mm512_mul_pd(xb, _mm512_loadu_pd(row + q * step)));
        }
        double *o = out + off[i];
#pragma GCC unroll 4
        for (int q = 0; q < np; q++)
            _mm512_storeu_pd(o + q * 8, _mm512_add_pd(_mm512_loadu_pd(o + q * 8), a[q]));
    }
}

__attribute__((target("avx512f"))) static void
add_sums_f64_avx512(const sparse_rows_t *x, const int32_t *sets, double *out, const int64_t *off,
                    int n_sets, const double *w, int n_x, int n_panels)
{
    switch (n_panels) {
    case 4: add_sums_np_avx512(x, sets, out, off, n_sets, w, n_x, 4); break;
    case 3: add_sums_np_avx512(x, sets, out, off, n_sets, w, n_x, 3); break;
    case 2: add_sums_np_avx512(x, sets, out, off, n_sets, w, n_x, 2); break;
    default: add_sums_np_avx512(x, sets, out, off, n_sets, w, n_x, 1); break;
    }
}
#endif

static void add_sums_f64_portable(const sparse_rows_t *x, const int32_t *sets, double *out,
                                  const int64_t *off, int n_sets, const double *w, int n_x,
                                  int n_panels)
{
    for (int i = 0; i < n_sets; i++) {
        const int64_t s = sets[i];
        const double *val = x->val + s * x->stride;
        const int32_t *idx = x->idx + s * x->stride;
        for (int q = 0; q < n_panels; q++) {
            const double *panel = w + (int64_t)q * 8 * n_x;
            double a[8] = {0};
            for (int k = 0; k < x->n[s]; k++)
                for (int t = 0; t < 8; t++)
                    a[t] += val[k] * panel[(int64_t)idx[k] * 8 + t];
            for (int t = 0; t < 8; t++)
                out[off[i] + q * 8 + t] += a[t];
        }
    }
}

static int nonzero_f64_portable(const double *x, int n, int i, double *val, int32_t *idx, int k)
{
    for (; i < n; i++) { /* branch-free: where the zeros are is unpredictable */
        val[k] = x[i], idx[k] = i;
        k += x[i] != 0;
    }
    return k;
}

#ifdef HAVE_X86
/* np panels (np <= 4, a constant once inlined, so the accumulators stay in registers)
 * for each listed input: with four, eight independent sums hide the adds' latency, and
 * the panels stay in L1 while they are swept over the inputs. A multiply then an add
 * (never a fused multiply-add) per term, so each lane rounds as the portable loop does;
 * each finished sum goes straight onto its output (as kernel_add_f64 adds). */
__attribute__((target("avx2"), always_inline)) static inline void
add_sums_np_avx2(const sparse_rows_t *x, const int32_t *sets, double *out, const int64_t *off,
                 int n_sets, const double *w, int n_x, const int np)
{
    const int64_t step = 8 * (int64_t)n_x;
    for (int i = 0; i < n_sets; i++) {
        const int64_t s = sets[i];
        const double *val = x->val + s * x->stride;
        const int32_t *idx = x->idx + s * x->stride;
        __m256d lo[4], hi[4];
#pragma GCC unroll 4
        for (int q = 0; q < np; q++)
            lo[q] = hi[q] = _mm256_setzero_pd();
        for (int k = 0; k < x->n[s]; k++) {
            const double *row = w + (int64_t)idx[k] * 8;
            const __m256d xb = _mm256_set1_pd(val[k]);
#pragma GCC unroll 4
            for (int q = 0; q < np; q++) {
                lo[q] = _mm256_add_pd(lo[q], _mm256_mul_pd(xb, _mm256_loadu_pd(row + q * step)));
                hi[q] = _mm256_add_pd(hi[q], _mm256_mul_pd(xb, _mm256_loadu_pd(row + q * step + 4)));
            }
        }
        double *a = out + off[i];
#pragma GCC unroll 4
        for (int q = 0; q < np; q++) {
            _mm256_storeu_pd(a + q * 8, _mm256_add_pd(_mm256_loadu_pd(a + q * 8), lo[q]));
            _mm256_storeu_pd(a + q * 8 + 4, _mm256_add_pd(_mm256_loadu_pd(a + q * 8 + 4), hi[q]));
        }
    }
}

__attribute__((target("avx2"))) static void
add_sums_f64_avx2(const sparse_rows_t *x, const int32_t *sets, double *out, const int64_t *off,
                  int n_sets, const double *w, int n_x, int n_panels)
{
    switch (n_panels) {
    case 4: add_sums_np_avx2(x, sets, out, off, n_sets, w, n_x, 4); break;
    case 3: add_sums_np_avx2(x, sets, out, off, n_sets, w, n_x, 3); break;
    case 2: add_sums_np_avx2(x, sets, out, off, n_sets, w, n_x, 2); break;
    default: add_sums_np_avx2(x, sets, out, off, n_sets, w, n_x, 1); break;
    }
}

/* Four values at a time: a table indexed by the nonzero mask gives the lanes to keep,
 * moved to the front (32-bit halves for the doubles, positions for the indices); the
 * stores write four values, of which the count kept are valid. */
__attribute__((target("avx2"))) static int nonzero_f64_avx2(const double *x, int n,
                                                           double *val, int32_t *idx)
{
    static int32_t lanes[16][8], pos[16][4];
    static int ready;
    if (!ready) { /* filled on first use (ranks are single-threaded processes) */
        for (int m = 0; m < 16; m++)
            for (int j = 0, k = 0; j < 4; j++)
                if (m >> j & 1)
                    pos[m][k] = j, lanes[m][2 * k] = 2 * j, lanes[m][2 * k + 1] = 2 * j + 1, k++;
        ready = 1;
    }
    const __m256d zero = _mm256_setzero_pd();
    int i = 0, k = 0;
    for (; i + 4 <= n; i += 4) {
        const __m256d v = _mm256_loadu_pd(x + i);
        const int m = _mm256_movemask_pd(_mm256_cmp_pd(v, zero, _CMP_NEQ_UQ));
        const __m256i perm = _mm256_loadu_si256((const __m256i *)lanes[m]);
        _mm256_storeu_pd(val + k, _mm256_castsi256_pd(_mm256_permutevar8x32_epi32(
                                        _mm256_castpd_si256(v), perm)));
        _mm_storeu_si128((__m128i *)(idx + k),
                         _mm_add_epi32(_mm_set1_epi32(i), _mm_loadu_si128((const __m128i *)pos[m])));
        k += __builtin_popcount((unsigned)m);
    }
    return nonzero_f64_portable(x, n, i, val, idx, k);
}
#endif

#ifdef HAVE_X86
/* quant_codes_from_floats four at a time: float32 rounding, then codes4_avx2. */
__attribute__((target("avx2"))) static void quantize_avx2(const quant_t *q, const double *x,
                                                          int64_t n, int64_t *out)
{
    const __m256d qs = _mm256_set1_pd(ldexp(1.0, quant_frac(q))),
                  lo = _mm256_set1_pd(quant_code_min(q)), hi = _mm256_set1_pd(quant_code_max(q));
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        codes4_avx2(_mm256_cvtps_pd(_mm256_cvtpd_ps(_mm256_loadu_pd(x + i))), qs, lo, hi, out + i);
    quant_codes_from_floats(q, x + i, n - i, out + i);
}
#endif

#ifdef HAVE_X86
/* quant_codes_from_fixed four at a time where it rounds (0 < shift < 62): AVX2 has no
 * 64-bit arithmetic shift, so floor(x / 2^shift) is the logical shift of x with its sign
 * bits flipped, flipped back; then one up where the remainder (x's low bits) passes half,
 * or equals it and the floor is odd; then the clip. Returns how many values it did. */
__attribute__((target("avx2"))) static int64_t quantize_fixed_avx2(const int64_t *x, int64_t n,
                                                                   int shift, int64_t lo,
                                                                   int64_t hi, int64_t *out)
{
    const __m128i sh = _mm_cvtsi32_si128(shift);
    const __m256i zero = _mm256_setzero_si256(), one = _mm256_set1_epi64x(1),
                  low = _mm256_set1_epi64x((INT64_C(1) << shift) - 1),
                  half = _mm256_set1_epi64x(INT64_C(1) << (shift - 1)),
                  vlo = _mm256_set1_epi64x(lo), vhi = _mm256_set1_epi64x(hi);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)(x + i));
        const __m256i sign = _mm256_cmpgt_epi64(zero, v);
        __m256i k = _mm256_xor_si256(_mm256_srl_epi64(_mm256_xor_si256(v, sign), sh), sign);
        const __m256i rem = _mm256_and_si256(v, low);
        const __m256i odd_tie = _mm256_and_si256(_mm256_cmpeq_epi64(rem, half),
                                                 _mm256_cmpeq_epi64(_mm256_and_si256(k, one), one));
        k = _mm256_sub_epi64(k, _mm256_or_si256(_mm256_cmpgt_epi64(rem, half), odd_tie));
        k = _mm256_blendv_epi8(k, vlo, _mm256_cmpgt_epi64(vlo, k));
        k = _mm256_blendv_epi8(k, vhi, _mm256_cmpgt_epi64(k, vhi));
        _mm256_storeu_si256((__m256i *)(out + i), k);
    }
    return i;
}
#endif

void kernel_quantize_fixed(const quant_t *q, const int64_t *acc, int64_t n, int acc_frac,
                           int64_t *out)
{
    int64_t done = 0;
#ifdef HAVE_X86
    const int shift = quant_fixed_shift(q, acc_frac);
    if (use_avx2() && shift)
        done = quantize_fixed_avx2(acc, n, shift, quant_code_min(q), quant_code_max(q), out);
#endif
    quant_codes_from_fixed(q, acc + done, n - done, acc_frac, out + done);
}

void kernel_quantize(const quant_t *q, const double *x, int64_t n, int64_t *out)
{
#ifdef HAVE_X86
    /* codes of at most 31 bits fit the int32 conversion; a leaky relu's two scales take
     * the portable loop */
    if (use_avx2() && q->bits <= 31 && !(q->kind == QUANT_RELU && q->neg_shift)) {
        quantize_avx2(q, x, n, out);
        return;
    }
#endif
    quant_codes_from_floats(q, x, n, out);
}

static int64_t n_calls, n_sparse_calls;

int64_t kernel_dot16_calls(void) { return n_calls; }
int64_t kernel_add_sums_calls(void) { return n_sparse_calls; }

void kernel_dot16_seg(const int16_t *const *xs, int nseg, int64_t seg, const int16_t *w,
                      int n_rows, int64_t w_stride, int32_t *out)
{
    n_calls++;
    const int16_kernels_t *k = int16_kernels();
    if (k) {
        k->dot16(xs, nseg, seg, w, n_rows, w_stride, out);
        return;
    }
    dot16_portable(xs, nseg, seg, w, n_rows, w_stride, out);
}

void kernel_dot16_seg2(const int16_t *const *xa, const int16_t *const *xb, int nseg, int64_t seg,
                       const int16_t *w, int n_rows, int64_t w_stride, int32_t *outa,
                       int32_t *outb)
{
    n_calls++;
    const int16_kernels_t *k = int16_kernels();
    if (k) {
        k->dot16x2(xa, xb, nseg, seg, w, n_rows, w_stride, outa, outb);
        return;
    }
    dot16_portable(xa, nseg, seg, w, n_rows, w_stride, outa);
    dot16_portable(xb, nseg, seg, w, n_rows, w_stride, outb);
}

void kernel_dot16_many(const int16_t *const *xs, int nseg, int64_t seg, const int16_t *w,
                       int n_items, int32_t *out)
{
    const int16_kernels_t *k = int16_kernels();
    if (k) {
        k->dot16_many(xs, nseg, seg, w, n_items, out);
        return;
    }
    for (int t = 0; t < n_items; t++)
        dot16_portable(xs + (int64_t)t * nseg, nseg, seg, w, 1, 0, out + t);
}

void kernel_dot16(const int16_t *x, const int16_t *w, int64_t k, int n_rows, int64_t w_stride,
                  int32_t *out)
{
    kernel_dot16_seg(&x, 1, k, w, n_rows, w_stride, out);
}

void kernel_pairs16_seg2(const int16_t *const *xa, const int16_t *const *xb, int nseg,
                         int64_t seg_pairs, const int16_t *wp, int n, int32_t *outa, int32_t *outb)
{
    n_calls++;
    const int16_kernels_t *k = int16_kernels();
    if (k) {
        k->pairs16x2(xa, xb, nseg, seg_pairs, wp, n, outa, outb);
        return;
    }
    pairs16_portable(xa, nseg, seg_pairs, wp, n, outa);
    pairs16_portable(xb, nseg, seg_pairs, wp, n, outb);
}

void kernel_pairs16_seg4(const int16_t *const *xs, int64_t step, int nseg, int64_t seg_pairs,
                         const int16_t *wp, int n, int32_t *out)
{
    n_calls++;
    const int16_kernels_t *k = int16_kernels();
    if (k && k->pairs16x4 && n % 32 == 0) {
        k->pairs16x4(xs, step, nseg, seg_pairs, wp, n, out);
        return;
    }
    const int16_t *xa[KERNEL_MAX_SEGMENTS], *xb[KERNEL_MAX_SEGMENTS];
    for (int p = 0; p < 4; p += 2) { /* two pixels at a time */
        for (int g = 0; g < nseg; g++)
            xa[g] = xs[g] + p * step, xb[g] = xa[g] + step;
        kernel_pairs16_seg2(xa, xb, nseg, seg_pairs, wp, n, out + p * n, out + (p + 1) * n);
    }
}

void kernel_pairs16_seg(const int16_t *const *xs, int nseg, int64_t seg_pairs, const int16_t *wp,
                        int n, int32_t *out)
{
    n_calls++;
    const int16_kernels_t *k = int16_kernels();
    if (k) {
        k->pairs16(xs, nseg, seg_pairs, wp, n, out);
        return;
    }
    pairs16_portable(xs, nseg, seg_pairs, wp, n, out);
}

void kernel_pairs16(const int16_t *x, const int16_t *wp, int64_t n_pairs, int n, int32_t *out)
{
    kernel_pairs16_seg(&x, 1, n_pairs, wp, n, out);
}

void kernel_fixed_out(const int32_t *sum, const int64_t *bias, int shift, int relu, int n,
                      int64_t *out)
{
    int c = 0;
#ifdef HAVE_X86
    if (use_avx2())
        c = fixed_out_avx2(sum, bias, shift, relu, n, out);
#endif
    for (; c < n; c++) {
        const int64_t v = bias[c] + (int64_t)sum[c] * ((int64_t)1 << shift);
        out[c] = relu && v < 0 ? 0 : v;
    }
}

int kernel_narrow16(const int64_t *x, int64_t n, int64_t lim, int16_t *out)
{
    int64_t i = 0;
#ifdef HAVE_X86
    if (use_avx2() && (i = narrow16_avx2(x, n, lim, out)) < 0)
        return -1;
#endif
    for (; i < n; i++) {
        if (x[i] > lim || x[i] < -lim)
            return -1;
        out[i] = (int16_t)x[i];
    }
    return 0;
}

int kernel_batchnorm(const int64_t *xi, const double *xr, double in_scale, int64_t n, int c,
                     const float *scale, const float *offset, double *out)
{
#ifdef HAVE_X86
    if (use_avx2() && c % 4 == 0)
        return batchnorm_avx2(xi, xr, in_scale, n, c, scale, offset, out);
#endif
    (void)xi, (void)xr, (void)in_scale, (void)n, (void)c, (void)scale, (void)offset, (void)out;
    return -1;
}

int kernel_batchnorm_quantize(const int64_t *xi, const double *xr, double in_scale, int64_t n,
                              int c, const float *scale, const float *offset, const quant_t *q,
                              int64_t *codes)
{
#ifdef HAVE_X86
    const int plain = !(q->kind == QUANT_RELU && q->neg_shift); /* not a leaky relu */
    if (use_avx2() && xi && c % 8 == 0 && q->bits <= 24 && quant_frac(q) >= 0 && plain &&
        batchnorm_quantize_f32_avx2(xi, in_scale, n, c, scale, offset, q, codes) == 0)
        return 0; /* else (an input beyond int32) the double path below decides */
    if (use_avx2() && c % 4 == 0 && q->bits <= 31 && plain)
        return batchnorm_quantize_avx2(xi, xr, in_scale, n, c, scale, offset, q, codes);
#endif
    (void)xi, (void)xr, (void)in_scale, (void)n, (void)c, (void)scale, (void)offset, (void)q,
        (void)codes;
    return -1;
}

int kernel_linear_bnq_row(const int32_t *sum, const float *bias, float mul, int relu, int64_t n,
                          int period, double in_scale, const float *scale, const float *offset,
                          const quant_t *q, int64_t *out64, int64_t *codes64, int16_t *codes16)
{
#ifdef HAVE_X86
    const int plain = !(q->kind == QUANT_RELU && q->neg_shift); /* not a leaky relu */
    if (cpu_level() == 2 && kernel_mode() == KERNEL_AUTO && period % 16 == 0 && n % period == 0 && q->bits <= 24 &&
        quant_frac(q) >= 0 && plain) {
        linear_bnq_row_avx512(sum, bias, mul, relu, n, period, in_scale, scale, offset, q, out64,
                            codes64, codes16);
        return 0;
    }
    if (use_avx2() && period % 8 == 0 && n % period == 0 && q->bits <= 24 &&
        quant_frac(q) >= 0 && plain) {
        linear_bnq_row_avx2(sum, bias, mul, relu, n, period, in_scale, scale, offset, q, out64,
                            codes64, codes16);
        return 0;
    }
#endif
    (void)sum, (void)bias, (void)mul, (void)relu, (void)n, (void)period, (void)in_scale, (void)scale,
        (void)offset, (void)q, (void)out64, (void)codes64, (void)codes16;
    return -1;
}

void kernel_relu_f64(double *v, int64_t n)
{
    int64_t i = 0;
#ifdef HAVE_X86
    if (use_avx2())
        i = relu_f64_avx2(v, n);
#endif
    for (; i < n; i++)
        v[i] = v[i] > 0 ? v[i] : 0;
}

void kernel_softmax_f64(const double *x, double *y, int64_t n, int64_t group)
{
    if (group <= 0 || group > n)
        group = n;
    for (int64_t p = 0; p < n; p += group) {
        const int64_t len = group < n - p ? group : n - p; /* a short last run: its own */
        const double *a = x + p;
        double *s = y + p, mx = -INFINITY, sum = 0;
        for (int64_t i = 0; i < len; i++)
            mx = a[i] > mx ? a[i] : mx;
        for (int64_t i = 0; i < len; i++)
            sum += (s[i] = exp(a[i] - mx));
        for (int64_t i = 0; i < len; i++)
            s[i] /= sum;
    }
}

void kernel_axpy_i64(int64_t *acc, int64_t dx, const int32_t *w, int64_t n)
{
    int64_t i = 0;
#ifdef HAVE_X86
    if (use_avx2() && dx >= -INT32_MAX && dx <= INT32_MAX)
        i = axpy_i64_avx2(acc, dx, w, n);
#endif
    for (; i < n; i++)
        acc[i] += dx * w[i];
}

void kernel_axpy_i32(int32_t *acc, int32_t dx, const int32_t *w, int64_t n)
{
    int64_t i = 0;
#ifdef HAVE_X86
    if (use_avx2())
        i = axpy_i32_avx2(acc, dx, w, n);
#endif
    for (; i < n; i++) /* in int64, then back: the caller's bound keeps it in int32 */
        acc[i] = (int32_t)(acc[i] + (int64_t)dx * w[i]);
}

void kernel_add_shifted_clear_i32(int64_t *o, int32_t *a, int shift, int64_t n)
{
    int64_t i = 0;
#ifdef HAVE_X86
    if (use_avx2())
        i = add_shifted_clear_i32_avx2(o, a, shift, n);
#endif
    const int64_t scale = (int64_t)1 << shift;
    for (; i < n; i++) {
        o[i] += a[i] * scale;
        a[i] = 0;
    }
}

int64_t kernel_count_nonzero_i32(const int32_t *x, int64_t n)
{
    int64_t i = 0, count = 0;
#ifdef HAVE_X86
    if (use_avx2())
        i = count_nonzero_i32_avx2(x, n, &count);
#endif
    for (; i < n; i++)
        count += x[i] != 0;
    return count;
}

int64_t kernel_count_nonzero_i64(const int64_t *x, int64_t n)
{
    int64_t i = 0, count = 0;
#ifdef HAVE_X86
    if (use_avx2())
        i = count_nonzero_i64_avx2(x, n, &count);
#endif
    for (; i < n; i++)
        count += x[i] != 0;
    return count;
}

int64_t kernel_count_nonzero_f64(const double *x, int64_t n)
{
    int64_t i = 0, count = 0;
#ifdef HAVE_X86
    if (use_avx2())
        i = count_nonzero_f64_avx2(x, n, &count);
#endif
    for (; i < n; i++)
        count += x[i] != 0;
    return count;
}

void kernel_add_shifted_clear_i64(int64_t *o, int64_t *a, int shift, int64_t n)
{
    int64_t i = 0;
#ifdef HAVE_X86
    if (use_avx2())
        i = add_shifted_clear_i64_avx2(o, a, shift, n);
#endif
    const int64_t scale = (int64_t)1 << shift;
    for (; i < n; i++) {
        o[i] += a[i] * scale;
        a[i] = 0;
    }
}

void kernel_widen16(const int16_t *x, int64_t n, int64_t *out)
{
    int64_t i = 0;
#ifdef HAVE_X86
    if (use_avx2())
        i = widen16_avx2(x, n, out);
#endif
    for (; i < n; i++)
        out[i] = x[i];
}

void kernel_widen32(const int32_t *x, int64_t n, int64_t *out)
{
    int64_t i = 0;
#ifdef HAVE_X86
    if (use_avx2())
        i = widen32_avx2(x, n, out);
#endif
    for (; i < n; i++)
        out[i] = x[i];
}

void kernel_axpy_f64(double *o, double x, const double *w, int64_t n)
{
    int64_t i = 0;
#ifdef HAVE_X86
    if (use_avx2())
        i = axpy_f64_avx2(o, x, w, n);
#endif
    for (; i < n; i++)
        o[i] += x * w[i];
}

void kernel_axpy_rows_f64(double *o, const double *x, const int32_t *idx, int nx,
                          const double *w, int64_t ldw, int64_t n)
{
    int64_t j = 0;
#ifdef HAVE_X86
    if (use_avx2())
        j = axpy_rows_f64_avx2(o, x, idx, nx, w, ldw, n);
#endif
    for (; j < n; j++)
        for (int k = 0; k < nx; k++)
            o[j] += x[k] * w[idx[k] * ldw + j];
}

void kernel_axpy2_f64(double *o, double x, const double *w, double y, const double *v, int64_t n)
{
    int64_t i = 0;
#ifdef HAVE_X86
    if (use_avx2())
        i = axpy2_f64_avx2(o, x, w, y, v, n);
#endif
    for (; i < n; i++)
        o[i] += x * w[i] + y * v[i];
}

void kernel_add_f64(double *o, const double *a, int64_t n)
{
    int64_t i = 0;
#ifdef HAVE_X86
    if (use_avx2())
        i = add_f64_avx2(o, a, n);
#endif
    for (; i < n; i++)
        o[i] += a[i];
}

void kernel_sum_rows_f64(const double *x, int n_x, int n_sets, const double *w, int64_t n,
                         double *acc, int64_t acc_stride)
{
#ifdef HAVE_X86
    if (use_avx512_f64()) {
        sum_rows_f64_avx512(x, n_x, n_sets, w, n, acc, acc_stride);
        return;
    }
    if (use_avx2()) {
        sum_rows_f64_avx2(x, n_x, n_sets, w, n, acc, acc_stride);
        return;
    }
#endif
    sum_rows_f64_portable(x, n_x, n_sets, w, n, acc, acc_stride);
}

void kernel_add_sums_f64(const sparse_rows_t *x, const int32_t *sets, double *out,
                         const int64_t *off, int n_sets, const double *w, int n_x, int n_panels)
{
    n_sparse_calls++;
#ifdef HAVE_X86
    if (use_avx512_f64()) {
        add_sums_f64_avx512(x, sets, out, off, n_sets, w, n_x, n_panels);
        return;
    }
    if (use_avx2()) {
        add_sums_f64_avx2(x, sets, out, off, n_sets, w, n_x, n_panels);
        return;
    }
#endif
    add_sums_f64_portable(x, sets, out, off, n_sets, w, n_x, n_panels);
}

int kernel_nonzero_f64(const double *x, int n, double *val, int32_t *idx)
{
#ifdef HAVE_X86
    if (use_avx2())
        return nonzero_f64_avx2(x, n, val, idx);
#endif
    return nonzero_f64_portable(x, n, 0, val, idx, 0);
}

void kernel_set_mode(kernel_mode_t m)
{
    mode = m;
    mode_read = 1;
    avx2_on = avx512_f64_on = -1;
    int16_known = 0;
}

const char *kernel_path(void)
{
    if (kernel_mode() == KERNEL_WIDE)
        return "wide";
    if (!use_avx2())
        return "portable";
    int vnni = 0;
#ifdef HAVE_X86
    vnni = int16_kernels() == &kernels_vnni;
#endif
    if (use_avx512_f64()) /* the float decoder's sums on 512-bit vectors */
        return vnni ? "avx2+vnni+avx512" : "avx2+avx512";
    return vnni ? "avx2+vnni" : "avx2";
}
