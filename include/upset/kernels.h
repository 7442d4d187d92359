/* Kernels of the engine's hot loops.
 *
 * Exact integer kernels on narrow codes. A quantized conv2d / dense whose input codes
 * and weight codes fit int16, and whose every partial sum provably fits int32
 * (fan-in x max|x| x max|w| < 2^31, checked by the caller), runs as int16 dot products
 * with int32 accumulators: exact, so every path below gives the same integers.
 * An AVX2 path is chosen at run time where the processor has it (its dot products as
 * AVX-512 VNNI instructions on 256-bit vectors where it has those too); the portable path
 * is plain C. The float kernel below vectorises independent sums without changing any
 * rounding. */
#ifndef UPSET_KERNELS_H
#define UPSET_KERNELS_H

#include <stdint.h>

#include "upset/fixed.h"
#include "upset/model.h" /* KERNEL_K_ALIGN */

/* out[r] = sum_j x[j] * w[r * w_stride + j], j < k, for r < n_rows. */
void kernel_dot16(const int16_t *x, const int16_t *w, int64_t k, int n_rows, int64_t w_stride,
                  int32_t *out);

/* kernel_dot16 over a fan-in held in nseg pieces of seg values (xs[g]; the weights of
 * piece g at g * seg), seg a multiple of 16: a receptive field read in place, one run per
 * kernel row, instead of copied into one row. */
void kernel_dot16_seg(const int16_t *const *xs, int nseg, int64_t seg, const int16_t *w,
                      int n_rows, int64_t w_stride, int32_t *out);

/* kernel_dot16_seg for two fan-ins (two output pixels) at once: the same integers, each
 * weight load serving both. */
void kernel_dot16_seg2(const int16_t *const *xa, const int16_t *const *xb, int nseg, int64_t seg,
                       const int16_t *w, int n_rows, int64_t w_stride, int32_t *outa,
                       int32_t *outb);

/* One weight row against n_items fan-ins, each in nseg pieces of seg values (seg a
 * multiple of 16): out[t] = sum over g, j of xs[t * nseg + g][j] * w[g * seg + j]. */
void kernel_dot16_many(const int16_t *const *xs, int nseg, int64_t seg, const int16_t *w,
                       int n_items, int32_t *out);

/* out[c] = sum_j x[j] * w_j[c] for c < n (n a multiple of 8), j < 2 n_pairs: the weights
 * as pairs along the fan-in, wp[(j/2) * 2n + 2c + j%2] (layer_t's kernel_p16). The
 * same integers as kernel_dot16 under the same bound; faster when there are many
 * output channels and a short fan-in. */
void kernel_pairs16(const int16_t *x, const int16_t *wp, int64_t n_pairs, int n, int32_t *out);
/* The same over nseg pieces of seg_pairs pairs each (xs[g]), as kernel_dot16_seg. */
void kernel_pairs16_seg(const int16_t *const *xs, int nseg, int64_t seg_pairs, const int16_t *wp,
                        int n, int32_t *out);

/* kernel_pairs16_seg for two fan-ins (two output pixels) at once: the same integers,
 * each weight load serving both. */
void kernel_pairs16_seg2(const int16_t *const *xa, const int16_t *const *xb, int nseg,
                         int64_t seg_pairs, const int16_t *wp, int n, int32_t *outa, int32_t *outb);

/* The most pieces a fan-in comes in (a kernel's rows) for kernel_pairs16_seg4. */
#define KERNEL_MAX_SEGMENTS 64
/* kernel_pairs16_seg for four fan-ins at once, fan-in k's pieces at xs[g] + k * step
 * (four neighbouring output pixels read in place), nseg <= KERNEL_MAX_SEGMENTS: out +
 * k * n holds fan-in k's n sums; the same integers. */
void kernel_pairs16_seg4(const int16_t *const *xs, int64_t step, int nseg, int64_t seg_pairs,
                         const int16_t *wp, int n, int32_t *out);

/* A convolution with output pixels across the vector lanes (kernels_lanes.c): its input as
 * pair planes, planes[((ih * np) + j) * plane_pitch + x] = the codes of channels 2j and
 * 2j + 1 of input pixel x in (padded) row ih, low half first (kernel_pair_planes); its
 * weights as kernel_p16 (pairs along a fan-in ordered (kernel row, kernel column, pair)).
 * Output pixel (oh, ow) reads rows oh * stride_h + r and columns ow + k (a stride of 1
 * along rows), so every plane row holds plane_pitch >= round_up(out_w, 16) + kw - 1
 * codes. */
typedef struct {
    const int32_t *planes;
    int64_t plane_pitch;
    int np, kh, kw, stride_h;
    const int16_t *wp; /* (kh * kw * np) pairs of cout8 channels */
    int cout8, cout;   /* cout a multiple of 4 for the vector path */
    int out_w;
} conv_lanes_t;

/* kernel_conv_lanes takes KERNEL_LANES_VECTORS (row, eight-pixel block) vectors a pass:
 * a call's rows are best a whole number of passes. */
#define KERNEL_LANES_VECTORS 6
/* Whether kernel_conv_lanes runs on vectors here (AVX-512 VNNI, kernel mode auto). */
int kernel_conv_lanes_available(void);
/* x: h rows of w pixels of 2 np int16 codes, to pair planes of pitch codes a row (zeros
 * from w on). */
void kernel_pair_planes(const int16_t *x, int h, int w, int np, int64_t pitch, int32_t *planes);
/* Output rows oh .. oh + n_rows - 1: sum[(i * out_w + ow) * cs + co] = the int32 sum of
 * output pixel (oh + i, ow), channel co < cout (cs >= cout); the same integers as
 * kernel_dot16 under its bound. */
void kernel_conv_lanes(const conv_lanes_t *c, int oh, int n_rows, int32_t *sum, int cs);

/* out[c] = bias[c] + sum[c] * 2^shift (0 <= shift < 32), then max(0, .) when relu: a
 * quantized layer's int64 outputs from its int32 sums (layer_linear.c's fixed_pixel). */
void kernel_fixed_out(const int32_t *sum, const int64_t *bias, int shift, int relu, int n,
                      int64_t *out);

/* out[i] = x[i] as int16 for i < n: 0, or -1 as soon as some |x[i]| > lim (<= 32767). */
int kernel_narrow16(const int64_t *x, int64_t n, int64_t lim, int16_t *out);

/* Batch norm at inference, channels innermost (c of them): out = float32(float32(x) *
 * scale[k]) + offset[k] in float32, x = xi[i] * in_scale (an exact power of two) or xr[i].
 * 0 when it ran (AVX2, c a multiple of 4, integer inputs below 2^50 in magnitude); -1:
 * the caller runs its scalar loop. */
int kernel_batchnorm(const int64_t *xi, const double *xr, double in_scale, int64_t n, int c,
                     const float *scale, const float *offset, double *out);

/* kernel_batchnorm then kernel_quantize(q) on its results, in one pass and without the
 * batch norm's output: the same codes. 0 when it ran; -1: the caller runs the two. */
int kernel_batchnorm_quantize(const int64_t *xi, const double *xr, double in_scale, int64_t n,
                              int c, const float *scale, const float *offset, const quant_t *q,
                              int64_t *codes);

/* One row of a quantized linear layer's int32 sums (n values, channels innermost) through
 * its bias and relu (relu != 0), then a batch norm and quantizer q. bias, scale and offset
 * hold the per-channel values for `period` consecutive sums (a whole number of pixels and
 * of 8: the channels repeated), n is a multiple of it. Every sum * mul (mul = 2^shift) and
 * sum * mul + bias is an integer below 2^24 in magnitude (exact in float32: the caller
 * proves it) and every code fits int16. Writes the layer's outputs (out64), the codes
 * (codes64) and the codes as int16 (codes16), each unless NULL: the values of
 * kernel_fixed_out then kernel_batchnorm_quantize. 0 when it ran; -1: the caller runs
 * those two. */
int kernel_linear_bnq_row(const int32_t *sum, const float *bias, float mul, int relu, int64_t n,
                          int period, double in_scale, const float *scale, const float *offset,
                          const quant_t *q, int64_t *out64, int64_t *codes64, int16_t *codes16);

/* v[i] = v[i] > 0 ? v[i] : 0 (+0.0 for NaN and -0.0 too), vectorised where possible. */
void kernel_relu_f64(double *v, int64_t n);

/* Softmax over the last axis, as Keras's: each run of `group` consecutive values of x (the
 * channels of one position; n a multiple of group, a vector one run) into y as
 * exp(x - the run's largest) / the run's sum of those; y may be x. A group outside
 * 1..n is taken as n (one run). */
void kernel_softmax_f64(const double *x, double *y, int64_t n, int64_t group);

/* acc[i] += dx * w[i] for i < n (int64 sums, as the plain loop), vectorised where |dx| <
 * 2^31 and the processor allows: the delta path's scatter of one changed input. */
void kernel_axpy_i64(int64_t *acc, int64_t dx, const int32_t *w, int64_t n);

/* kernel_axpy_i64 on int32 accumulators: acc[i] += dx * w[i], every product and every sum
 * within int32 (the caller proves it), eight lanes a vector. */
void kernel_axpy_i32(int32_t *acc, int32_t dx, const int32_t *w, int64_t n);

/* The number of nonzero values among x[0..n). */
int64_t kernel_count_nonzero_i32(const int32_t *x, int64_t n);
int64_t kernel_count_nonzero_i64(const int64_t *x, int64_t n);
/* The same for doubles (NaN counts as nonzero, -0.0 as zero). */
int64_t kernel_count_nonzero_f64(const double *x, int64_t n);

/* o[i] += a[i] * 2^shift, then a[i] = 0, for i < n (0 <= shift < 63; the caller bounds the
 * products): a scatter's accumulators folded into the pre-activations they change. */
void kernel_add_shifted_clear_i64(int64_t *o, int64_t *a, int shift, int64_t n);
/* The same from int32 accumulators (0 <= shift < 32, products in int64). */
void kernel_add_shifted_clear_i32(int64_t *o, int32_t *a, int shift, int64_t n);

/* out[i] = x[i] as int64 for i < n, vectorised where possible (the delta path's stores). */
void kernel_widen16(const int16_t *x, int64_t n, int64_t *out);
void kernel_widen32(const int32_t *x, int64_t n, int64_t *out);

/* o[i] += x * w[i] for i < n: a rounded product, then a rounded sum (no fused
 * multiply-add), vectorised where possible (the same values as the plain loop). */
void kernel_axpy_f64(double *o, double x, const double *w, int64_t n);

/* kernel_axpy_f64 for nx rows in turn: o[j] += x[k] * w[idx[k] * ldw + j] for k = 0, 1,
 * ..., nx - 1, each term rounded then added, for j < n (the float dense layer: its
 * nonzero inputs against the rows of its kernel). */
void kernel_axpy_rows_f64(double *o, const double *x, const int32_t *idx, int nx,
                          const double *w, int64_t ldw, int64_t n);

/* o[i] += x * w[i] + y * v[i]: the two products, their sum, then the sum into o[i], each
 * rounded (the sensitivity network's paired R-operator terms). */
void kernel_axpy2_f64(double *o, double x, const double *w, double y, const double *v, int64_t n);

/* o[i] += a[i] for i < n, vectorised where possible (the same sums). */
void kernel_add_f64(double *o, const double *a, int64_t n);

/* For each of n_sets input vectors s (x + s * n_x) and j < n (a multiple of 8):
 * acc[s * acc_stride + j] = x_s[0] * w_j[0] + x_s[1] * w_j[1] + ..., the weights in panels
 * of 8 columns, w_j[i] = w[((j / 8) * n_x + i) * 8 + j % 8]; each sum starts from 0.0 and
 * adds its terms in order of i, each term a rounded product (no fused multiply-add), so
 * every path rounds exactly as the plain C loop does. */
void kernel_sum_rows_f64(const double *x, int n_x, int n_sets, const double *w, int64_t n,
                         double *acc, int64_t acc_stride);

/* Sparse input vectors: vector s holds n[s] values val[s * stride + k] at positions
 * idx[s * stride + k], k < n[s], positions ascending. */
typedef struct {
    const double *val;
    const int32_t *idx;
    const int *n;
    int64_t stride;
} sparse_rows_t;

/* For each listed vector s = sets[i] (i < n_sets) and t < 8 * n_panels (n_panels <= 4):
 * out[off[i] + t] += val[0] * w_t[idx[0]] + val[1] * w_t[idx[1]] + ... over k < n[s], the
 * weights in panels of 8 columns of n_x rows, w_t[r] = w[((t / 8) * n_x + r) * 8 + t % 8].
 * Each sum starts from 0.0 and adds its terms in order of k, each a rounded product (no
 * fused multiply-add), and is then added to out[off[i] + t] once, so every path rounds exactly
 * as the plain C loop does. The float decoder passes an input's nonzero values: with
 * finite weights (the loader's rule) an omitted zero term is a signed zero, which leaves a
 * sum started from +0.0 bit for bit unchanged. */
void kernel_add_sums_f64(const sparse_rows_t *x, const int32_t *sets, double *out,
                         const int64_t *off, int n_sets, const double *w, int n_x, int n_panels);

/* The nonzero values of x[0..n) and their positions, in order, into val and idx (each
 * with room for n); returns how many. NaN counts as nonzero. */
int kernel_nonzero_f64(const double *x, int n, double *val, int32_t *idx);

/* quant_codes_from_floats (fixed.h), vectorised where the processor allows: the same
 * codes (float32 rounding, half to even, clip, NaN -> 0). */
void kernel_quantize(const quant_t *q, const double *x, int64_t n, int64_t *out);

/* quant_codes_from_fixed (fixed.h), vectorised where the processor allows: the same
 * codes (half to even, clip). */
void kernel_quantize_fixed(const quant_t *q, const int64_t *acc, int64_t n, int acc_frac,
                           int64_t *out);

/* Which path the engine's quantized conv2d / dense and its float decoder take:
 *   KERNEL_AUTO     - int16 dot products, AVX2 where the processor has it, its dot products
 *                     as AVX-512 VNNI instructions where it has those too, and the float
 *                     decoder's sums on 512-bit vectors where it has AVX-512F (default);
 *   KERNEL_AVX2     - AVX2 without VNNI, the decoder on 256-bit vectors (UPSET_KERNEL=avx2);
 *   KERNEL_PORTABLE - int16 dot products and the decoder's sums in plain C;
 *   KERNEL_WIDE     - the int64 reference loops, no narrow path.
 * All give the same integers and the same doubles; tests and `make bench` compare them. */
typedef enum { KERNEL_AUTO, KERNEL_PORTABLE, KERNEL_WIDE, KERNEL_AVX2 } kernel_mode_t;
void kernel_set_mode(kernel_mode_t m);
kernel_mode_t kernel_mode(void);

/* How often kernel_dot16 or kernel_pairs16 ran (tests check the narrow path is taken). */
int64_t kernel_dot16_calls(void);
/* How often kernel_add_sums_f64 ran (tests check the sparse decoder path is taken). */
int64_t kernel_add_sums_calls(void);

/* The path the engine takes now: "wide", "portable", "avx2", "avx2+vnni", or either of
 * the last two with "+avx512" (the decoder's 512-bit sums). */
const char *kernel_path(void);

#endif
