/* A convolution with its output pixels across the vector lanes (kernels.h).
 *
 * The int16 kernels in kernels.c put output channels across the lanes, or take one dot
 * product per channel where there are too few channels to fill a vector (CIFAR-10's conv1
 * has 4) and then spend their time on horizontal sums. Here eight neighbouring output
 * pixels of one row share each weight instead: the input is first rearranged into pair
 * planes (for each input row and pair of channels, the row's pixels side by side), so the
 * eight pixels' codes at one kernel tap are one unaligned load, and each weight pair,
 * broadcast, meets them in one VNNI multiply-add. The sums are the same integers as every
 * other path's (the caller's int32 bound holds them).
 *
 * 256-bit vectors: a 512-bit form ran the layer 1.6x faster alone, yet the forward pass
 * and oracle slices no faster, the code after it running slower (docs/performance.md). */
#include <string.h>

#include "upset/kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86 1
#endif

static int32_t pair_at(const int16_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void pair_planes_portable(const int16_t *x, int h, int w, int np, int64_t pitch,
                                 int32_t *planes)
{
    for (int r = 0; r < h; r++)
        for (int j = 0; j < np; j++) {
            int32_t *plane = planes + ((int64_t)r * np + j) * pitch;
            const int16_t *row = x + (int64_t)r * w * np * 2;
            for (int p = 0; p < w; p++)
                plane[p] = pair_at(row + ((int64_t)p * np + j) * 2);
            for (int64_t p = w; p < pitch; p++)
                plane[p] = 0;
        }
}

static void conv_lanes_portable(const conv_lanes_t *c, int oh, int n_rows, int32_t *sum, int cs)
{
    for (int i = 0; i < n_rows; i++)
        for (int ow = 0; ow < c->out_w; ow++)
            for (int co = 0; co < c->cout; co++) {
                const int16_t *w = c->wp + 2 * co;
                int32_t acc = 0;
                for (int r = 0; r < c->kh; r++) {
                    const int32_t *in = c->planes + (int64_t)((oh + i) * c->stride_h + r) *
                                                        c->np * c->plane_pitch + ow;
                    for (int k = 0; k < c->kw; k++)
                        for (int j = 0; j < c->np; j++, w += 2 * c->cout8) {
                            int16_t x[2]; /* the pair as pair_at packed it */
                            memcpy(x, in + (int64_t)j * c->plane_pitch + k, sizeof x);
                            acc += (int32_t)x[0] * w[0] + (int32_t)x[1] * w[1];
                        }
                }
                sum[((int64_t)i * c->out_w + ow) * cs + co] = acc;
            }
}

#ifdef HAVE_X86
/* Sixteen rows of sixteen int32 (rows[i], i < 16) transposed in registers: out[j][i] =
 * rows[i][j], by the usual four rounds of interleaves. */
__attribute__((target("avx512f"), always_inline)) static inline void
transpose16_avx512(__m512i a[16])
{
    __m512i t[16], u[16];
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++) {
        t[2 * k] = _mm512_unpacklo_epi32(a[2 * k], a[2 * k + 1]);
        t[2 * k + 1] = _mm512_unpackhi_epi32(a[2 * k], a[2 * k + 1]);
    }
    /* u[4k + m], 128-bit lane L: column 4L + m of rows 4k .. 4k + 3 */
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        u[4 * k] = _mm512_unpacklo_epi64(t[4 * k], t[4 * k + 2]);
        u[4 * k + 1] = _mm512_unpackhi_epi64(t[4 * k], t[4 * k + 2]);
        u[4 * k + 2] = _mm512_unpacklo_epi64(t[4 * k + 1], t[4 * k + 3]);
        u[4 * k + 3] = _mm512_unpackhi_epi64(t[4 * k + 1], t[4 * k + 3]);
    }
#pragma GCC unroll 4
    for (int m = 0; m < 4; m++) {
        const __m512i v1 = _mm512_shuffle_i32x4(u[m], u[4 + m], 0x88),
                      v2 = _mm512_shuffle_i32x4(u[m], u[4 + m], 0xdd),
                      v3 = _mm512_shuffle_i32x4(u[8 + m], u[12 + m], 0x88),
                      v4 = _mm512_shuffle_i32x4(u[8 + m], u[12 + m], 0xdd);
        a[m] = _mm512_shuffle_i32x4(v1, v3, 0x88);
        a[4 + m] = _mm512_shuffle_i32x4(v2, v4, 0x88);
        a[8 + m] = _mm512_shuffle_i32x4(v1, v3, 0xdd);
        a[12 + m] = _mm512_shuffle_i32x4(v2, v4, 0xdd);
    }
}

/* Pair planes sixteen pixels at a time: np a multiple of 16 by 16 x 16 transposes, np = 2
 * by two permutes; 0 when done, -1 for other np (the plain loop). Pixels from w on read
 * as zeros (masked loads), so every plane's tail up to pitch (a multiple of 16) is 0.
 * Shuffles only, which run as fast on 512-bit vectors as on 256-bit ones. */
__attribute__((target("avx512f"))) static int pair_planes_avx512(const int16_t *x, int h, int w,
                                                                int np, int64_t pitch,
                                                                int32_t *planes)
{
    if (np % 16 && np != 2)
        return -1;
    for (int r = 0; r < h; r++) {
        const int32_t *row = (const int32_t *)(const void *)(x + (int64_t)r * w * np * 2);
        int32_t *out = planes + (int64_t)r * np * pitch;
        for (int p0 = 0; p0 < pitch; p0 += 16) {
            const int n = w - p0 < 0 ? 0 : w - p0 > 16 ? 16 : w - p0; /* real pixels */
            if (np == 2) {
                const __mmask16 lo = (__mmask16)(n >= 8 ? 0xffff : (1u << (2 * n)) - 1),
                                hi = (__mmask16)(n <= 8 ? 0 : (1u << (2 * (n - 8))) - 1);
                const __m512i a = _mm512_maskz_loadu_epi32(lo, row + 2 * p0),
                              b = _mm512_maskz_loadu_epi32(hi, row + 2 * p0 + 16);
                const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20,
                                                       22, 24, 26, 28, 30),
                              odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
                _mm512_storeu_si512(out + p0, _mm512_permutex2var_epi32(a, even, b));
                _mm512_storeu_si512(out + pitch + p0, _mm512_permutex2var_epi32(a, odd, b));
                continue;
            }
            for (int j0 = 0; j0 < np; j0 += 16) {
                __m512i a[16];
#pragma GCC unroll 16
                for (int i = 0; i < 16; i++) /* pixel p0 + i's pairs j0 .. j0 + 15 */
                    a[i] = _mm512_maskz_loadu_epi32((__mmask16)(i < n ? 0xffff : 0),
                                                    row + (int64_t)(p0 + i) * np + j0);
                transpose16_avx512(a);
#pragma GCC unroll 16
                for (int j = 0; j < 16; j++)
                    _mm512_storeu_si512(out + (int64_t)(j0 + j) * pitch + p0, a[j]);
            }
        }
    }
    return 0;
}

/* Keeps broadcast weights in registers: without it the compiler folds each broadcast
 * into all four multiply-adds that use it, four loads where one would do. */
#define KEEP4(a, b, c, d) __asm__("" : "+v"(a), "+v"(b), "+v"(c), "+v"(d))

enum { LANES_V = KERNEL_LANES_VECTORS }; /* 24 accumulators: 4 vectors gave 84 GMAC/s on
                                          * CIFAR-10's conv1 alone, 6 give 95 */

/* LANES_V (row, eight-pixel block) vectors by four output channels: 4 LANES_V
 * accumulators over the whole fan-in, LANES_V input loads and four weight broadcasts per
 * 4 LANES_V multiply-adds. A last group of fewer vectors repeats its last one (computed,
 * not stored). */
__attribute__((target("avx2,avx512vnni,avx512vl"))) static void
conv_lanes_vnni(const conv_lanes_t *c, int oh, int n_rows, int32_t *sum, int cs)
{
    const int vpr = (c->out_w + 7) / 8, nv = n_rows * vpr;
    const int64_t row_pitch = (int64_t)c->np * c->plane_pitch;
    for (int v0 = 0; v0 < nv; v0 += LANES_V) {
        const int32_t *base[LANES_V];
        int row[LANES_V], x0[LANES_V];
        for (int q = 0; q < LANES_V; q++) {
            const int v = v0 + q < nv ? v0 + q : nv - 1;
            row[q] = v / vpr, x0[q] = v % vpr * 8;
            base[q] = c->planes + (int64_t)(oh + row[q]) * c->stride_h * row_pitch + x0[q];
        }
        for (int c0 = 0; c0 < c->cout; c0 += 4) {
            /* a<vector><channel>, named: an array here ends up in memory */
            __m256i a00, a01, a02, a03, a10, a11, a12, a13, a20, a21, a22, a23, a30, a31, a32, a33,
                a40, a41, a42, a43, a50, a51, a52, a53;
            a00 = a01 = a02 = a03 = a10 = a11 = a12 = a13 = _mm256_setzero_si256();
            a20 = a21 = a22 = a23 = a30 = a31 = a32 = a33 = _mm256_setzero_si256();
            a40 = a41 = a42 = a43 = a50 = a51 = a52 = a53 = _mm256_setzero_si256();
            const int16_t *w = c->wp + 2 * c0;
            const int taps = c->kw * c->np; /* (column, pair) steps of a kernel row */
            for (int r = 0; r < c->kh; r++) {
                const int64_t at = r * row_pitch;
                const int32_t *b0 = base[0] + at, *b1 = base[1] + at, *b2 = base[2] + at,
                              *b3 = base[3] + at, *b4 = base[4] + at, *b5 = base[5] + at;
                /* step (k, j) reads column k of plane j: o = k + j * plane_pitch */
                int64_t o = 0;
                for (int t = 0, j = 0; t < taps; t++, w += 2 * c->cout8) {
                    __m256i w0 = _mm256_set1_epi32(pair_at(w)), w1 = _mm256_set1_epi32(pair_at(w + 2)),
                            w2 = _mm256_set1_epi32(pair_at(w + 4)), w3 = _mm256_set1_epi32(pair_at(w + 6));
                    KEEP4(w0, w1, w2, w3);
#define LANES_ROW(x, a0, a1, a2, a3)                                                             \
    do {                                                                                         \
        const __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(x));              \
        a0 = _mm256_dpwssd_epi32(a0, v, w0), a1 = _mm256_dpwssd_epi32(a1, v, w1);                \
        a2 = _mm256_dpwssd_epi32(a2, v, w2), a3 = _mm256_dpwssd_epi32(a3, v, w3);                \
    } while (0)
                    LANES_ROW(b0 + o, a00, a01, a02, a03);
                    LANES_ROW(b1 + o, a10, a11, a12, a13);
                    LANES_ROW(b2 + o, a20, a21, a22, a23);
                    LANES_ROW(b3 + o, a30, a31, a32, a33);
                    LANES_ROW(b4 + o, a40, a41, a42, a43);
                    LANES_ROW(b5 + o, a50, a51, a52, a53);
#undef LANES_ROW
                    if (++j < c->np) {
                        o += c->plane_pitch;
                    } else {
                        j = 0;
                        o += 1 - (int64_t)(c->np - 1) * c->plane_pitch;
                    }
                }
            }
            const __m256i a[LANES_V][4] = {{a00, a01, a02, a03}, {a10, a11, a12, a13},
                                           {a20, a21, a22, a23}, {a30, a31, a32, a33},
                                           {a40, a41, a42, a43}, {a50, a51, a52, a53}};
            /* four channels x eight pixels to pixels x four channels: u[m]'s 128-bit lane
             * L is pixel 4L + m's four sums */
            for (int q = 0; q < LANES_V && v0 + q < nv; q++) {
                const __m256i t0 = _mm256_unpacklo_epi32(a[q][0], a[q][1]),
                              t1 = _mm256_unpackhi_epi32(a[q][0], a[q][1]),
                              t2 = _mm256_unpacklo_epi32(a[q][2], a[q][3]),
                              t3 = _mm256_unpackhi_epi32(a[q][2], a[q][3]);
                const __m256i u[4] = {_mm256_unpacklo_epi64(t0, t2), _mm256_unpackhi_epi64(t0, t2),
                                      _mm256_unpacklo_epi64(t1, t3), _mm256_unpackhi_epi64(t1, t3)};
                int32_t *out = sum + ((int64_t)row[q] * c->out_w + x0[q]) * cs + c0;
                const int n = c->out_w - x0[q] < 8 ? c->out_w - x0[q] : 8;
#define LANES_STORE(L)                                                                           \
    for (int m = 0; m < 4 && 4 * L + m < n; m++)                                                 \
        _mm_storeu_si128((__m128i *)(out + (int64_t)(4 * L + m) * cs),                           \
                         _mm256_extracti128_si256(u[m], L));
                LANES_STORE(0)
                LANES_STORE(1)
#undef LANES_STORE
            }
        }
    }
}

static int lanes_cpu(void)
{
    static int ok = -1;
    if (ok < 0) {
        __builtin_cpu_init();
        ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512vnni");
    }
    return ok;
}
#endif

int kernel_conv_lanes_available(void)
{
#ifdef HAVE_X86
    return kernel_mode() == KERNEL_AUTO && lanes_cpu();
#else
    return 0;
#endif
}

void kernel_pair_planes(const int16_t *x, int h, int w, int np, int64_t pitch, int32_t *planes)
{
#ifdef HAVE_X86
    if (kernel_conv_lanes_available() && pitch % 16 == 0 &&
        pair_planes_avx512(x, h, w, np, pitch, planes) == 0)
        return;
#endif
    pair_planes_portable(x, h, w, np, pitch, planes);
}

void kernel_conv_lanes(const conv_lanes_t *c, int oh, int n_rows, int32_t *sum, int cs)
{
#ifdef HAVE_X86
    if (kernel_conv_lanes_available() && c->cout % 4 == 0) {
        conv_lanes_vnni(c, oh, n_rows, sum, cs);
        return;
    }
#endif
    conv_lanes_portable(c, oh, n_rows, sum, cs);
}
