/* One forward function per layer kind, dispatched through a table indexed by
 * layer_kind_t. Shapes were validated by the loader. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "upset/engine.h"
#include "upset/kernels.h"

typedef int (*forward_fn)(const layer_t *L, const tensor_t *in, tensor_t *out, upset_err_t *err);

/* TensorFlow's "same" padding: the extra row/column goes at the bottom/right. */
static int same_pad_before(int in, int out, int k, int stride)
{
    int total = (out - 1) * stride + k - in;
    return total > 0 ? total / 2 : 0;
}

/* A transposed convolution pads its output as conv2d pads its input. */
static void convt_padding(const layer_t *L, int *ph, int *pw)
{
    *ph = L->pad_same ? same_pad_before(L->out.h, L->in.h, L->kh, L->stride_h) : 0;
    *pw = L->pad_same ? same_pad_before(L->out.w, L->in.w, L->kw, L->stride_w) : 0;
}

void conv_padding(const layer_t *L, int *ph, int *pw)
{
    *ph = L->pad_same ? same_pad_before(L->in.h, L->out.h, L->kh, L->stride_h) : 0;
    *pw = L->pad_same ? same_pad_before(L->in.w, L->out.w, L->kw, L->stride_w) : 0;
}

static double weight_value(const layer_t *L, int64_t i)
{
    return L->quantized ? quant_value(&L->kq, L->kernel_code[i]) : (double)L->kernel[i];
}

static double bias_value(const layer_t *L, int c)
{
    if (!L->use_bias)
        return 0.0;
    return L->quantized ? quant_value(&L->bq, L->bias_code[c]) : (double)L->bias[c];
}

static void apply_real_activation(act_t act, double *v, int64_t n)
{
    if (act == ACT_RELU) {
        for (int64_t i = 0; i < n; i++)
            v[i] = v[i] > 0 ? v[i] : 0;
    } else if (act == ACT_SIGMOID) {
        for (int64_t i = 0; i < n; i++)
            v[i] = 1.0 / (1.0 + exp(-v[i]));
    } else if (act == ACT_SOFTMAX) {
        double mx = -INFINITY, sum = 0;
        for (int64_t i = 0; i < n; i++)
            mx = v[i] > mx ? v[i] : mx;
        for (int64_t i = 0; i < n; i++)
            sum += (v[i] = exp(v[i] - mx));
        for (int64_t i = 0; i < n; i++)
            v[i] /= sum;
    }
}

/* Integer path: out = sum(x * w) << shift_prod + bias << shift_bias, exact. */
typedef struct {
    int shift_prod, shift_bias;
} fixed_align_t;

static fixed_align_t fixed_align(const layer_t *L, const tensor_t *in, const tensor_t *out)
{
    fixed_align_t a;
    a.shift_prod = out->frac - in->frac - quant_frac(&L->kq);
    a.shift_bias = L->use_bias ? out->frac - quant_frac(&L->bq) : 0;
    return a;
}

static void fixed_init_bias(const layer_t *L, fixed_align_t a, int64_t *acc)
{
    for (int c = 0; c < L->cout; c++)
        acc[c] = L->use_bias ? (int64_t)L->bias_code[c] * ((int64_t)1 << a.shift_bias) : 0;
}

static void fixed_finish(const layer_t *L, fixed_align_t a, int64_t *acc, const int64_t *sum)
{
    for (int c = 0; c < L->cout; c++) {
        int64_t v = acc[c] + sum[c] * ((int64_t)1 << a.shift_prod);
        acc[c] = (L->act == ACT_RELU && v < 0) ? 0 : v;
    }
}

/* ---- the narrow path: int16 codes, int32 sums (kernels.h) ---- */

/* Scratch of the narrow path, grown on demand and kept (ranks are processes). */
static struct {
    int16_t *x, *row;
    int32_t *sum;
    double *rx, *racc;
    int64_t *codes;
    size_t cap_x, cap_row, cap_sum, cap_rx, cap_racc, cap_codes;
} scratch;

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    void *q = realloc(*p, need * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = need;
    return 0;
}

/* Prepares the narrow path for L on input `in`: an int16 copy of the input (the kernel's
 * int16 copy, transposed to (cout, kp), is the model's kernel_t16). 0 when every partial sum provably fits int32 for any
 * weight code of the layer's quantizer (flipped ones included); -1 otherwise, and the
 * caller takes the int64 path. */
static int narrow_prepare(const layer_t *L, const tensor_t *in, int64_t *kp_out)
{
    const int64_t kp = L->kernel_kp;
    if (!L->kernel_t16 || kernel_mode() == KERNEL_WIDE)
        return -1;
    const int64_t wmax = -(int64_t)quant_code_min(&L->kq) > quant_code_max(&L->kq)
                             ? -(int64_t)quant_code_min(&L->kq)
                             : quant_code_max(&L->kq);
    int64_t xmax = (INT64_C(2147483647) / kp) / (wmax ? wmax : 1);
    if (xmax > INT16_MAX)
        xmax = INT16_MAX;
    if (grow((void **)&scratch.x, &scratch.cap_x, (size_t)in->n, sizeof(int16_t)) ||
        grow((void **)&scratch.row, &scratch.cap_row, (size_t)kp, sizeof(int16_t)) ||
        grow((void **)&scratch.sum, &scratch.cap_sum, (size_t)L->cout, sizeof(int32_t)))
        return -1;
    for (int64_t i = 0; i < in->n; i++) {
        int64_t v = in->fixed[i];
        if (v > xmax || v < -xmax)
            return -1;
        scratch.x[i] = (int16_t)v;
    }
    *kp_out = kp;
    return 0;
}

/* Output pixel from the int32 sums: bias << shift_bias + sum << shift_prod, fused relu. */
static void narrow_finish(const layer_t *L, fixed_align_t a, int64_t *out)
{
    for (int c = 0; c < L->cout; c++) {
        int64_t v = (L->use_bias ? (int64_t)L->bias_code[c] * ((int64_t)1 << a.shift_bias) : 0) +
                    (int64_t)scratch.sum[c] * ((int64_t)1 << a.shift_prod);
        out[c] = (L->act == ACT_RELU && v < 0) ? 0 : v;
    }
}

static int narrow_dense(const layer_t *L, const tensor_t *in, tensor_t *out)
{
    int64_t kp;
    if (narrow_prepare(L, in, &kp))
        return -1;
    memcpy(scratch.row, scratch.x, (size_t)L->cin * sizeof(int16_t));
    memset(scratch.row + L->cin, 0, (size_t)(kp - L->cin) * sizeof(int16_t));
    kernel_dot16(scratch.row, L->kernel_t16, kp, L->cout, kp, scratch.sum);
    narrow_finish(L, fixed_align(L, in, out), out->fixed);
    return 0;
}

/* im2col one output pixel at a time: the receptive field as one zero-padded row. */
static int narrow_conv2d(const layer_t *L, const tensor_t *in, tensor_t *out)
{
    int64_t kp;
    if (narrow_prepare(L, in, &kp))
        return -1;
    int ph, pw;
    conv_padding(L, &ph, &pw);
    const int cin = L->cin;
    const size_t run = (size_t)cin * sizeof(int16_t);
    const int64_t k = (int64_t)L->kh * L->kw * cin;
    memset(scratch.row + k, 0, (size_t)(kp - k) * sizeof(int16_t));
    fixed_align_t a = fixed_align(L, in, out);
    for (int oh = 0; oh < L->out.h; oh++)
        for (int ow = 0; ow < L->out.w; ow++) {
            int16_t *row = scratch.row;
            const int iw0 = ow * L->stride_w - pw;
            for (int kh = 0; kh < L->kh; kh++, row += L->kw * cin) {
                int ih = oh * L->stride_h - ph + kh;
                /* an index, not a pointer: it may lie before the tensor */
                const int64_t at = ((int64_t)ih * L->in.w + iw0) * cin;
                const int16_t *src = scratch.x;
                if (ih < 0 || ih >= L->in.h) {
                    memset(row, 0, run * (size_t)L->kw);
                } else if (iw0 >= 0 && iw0 + L->kw <= L->in.w) { /* one run (h, w, c) */
                    memcpy(row, src + at, run * (size_t)L->kw);
                } else {
                    for (int kw = 0; kw < L->kw; kw++) {
                        int iw = iw0 + kw;
                        if (iw < 0 || iw >= L->in.w)
                            memset(row + kw * cin, 0, run);
                        else
                            memcpy(row + kw * cin, src + at + (int64_t)kw * cin, run);
                    }
                }
            }
            kernel_dot16(scratch.row, L->kernel_t16, kp, L->cout, kp, scratch.sum);
            narrow_finish(L, a, out->fixed + ((int64_t)oh * L->out.w + ow) * L->cout);
        }
    return 0;
}

static int fwd_dense(const layer_t *L, const tensor_t *in, tensor_t *out, upset_err_t *err)
{
    (void)err;
    if (out->kind == TENSOR_FIXED && narrow_dense(L, in, out) == 0)
        return 0;
    if (out->kind == TENSOR_FIXED) {
        int64_t sum[L->cout];
        layer_pixel_sums(L, in->fixed, 0, 0, L->cout, sum);
        fixed_align_t a = fixed_align(L, in, out);
        fixed_init_bias(L, a, out->fixed);
        fixed_finish(L, a, out->fixed, sum);
        return 0;
    }
    for (int c = 0; c < L->cout; c++)
        out->real[c] = bias_value(L, c);
    double w[L->quantized ? L->cout : 1];
    for (int i = 0; i < L->cin; i++) {
        double x = tensor_value(in, i);
        if (x == 0)
            continue;
        const int64_t row = (int64_t)i * L->cout;
        if (L->quantized) {
            for (int c = 0; c < L->cout; c++)
                w[c] = weight_value(L, row + c);
            for (int c = 0; c < L->cout; c++)
                out->real[c] += x * w[c];
        } else {
            const float *wf = L->kernel + row;
            for (int c = 0; c < L->cout; c++)
                out->real[c] += x * (double)wf[c];
        }
    }
    apply_real_activation(L->act, out->real, L->cout);
    return 0;
}

/* The int64 reference of a quantized conv2d / dense: sums of x * w over output pixel p's
 * receptive field, channels [c0, c1), before bias and alignment (x: the layer's input). */
void layer_pixel_sums(const layer_t *L, const int64_t *x, int64_t p, int c0, int c1,
                      int64_t *sum)
{
    const int cin = L->cin, cout = L->cout, nc = c1 - c0;
    for (int c = 0; c < nc; c++)
        sum[c] = 0;
    if (L->kind == LAYER_DENSE) {
        for (int i = 0; i < cin; i++) {
            if (!x[i])
                continue;
            const int32_t *w = L->kernel_code + (int64_t)i * cout + c0; /* (cin, cout) */
            for (int c = 0; c < nc; c++)
                sum[c] += x[i] * w[c];
        }
        return;
    }
    int ph, pw;
    conv_padding(L, &ph, &pw);
    const int oh = (int)(p / L->out.w), ow = (int)(p % L->out.w);
    for (int kh = 0; kh < L->kh; kh++) {
        int ih = oh * L->stride_h - ph + kh;
        if (ih < 0 || ih >= L->in.h)
            continue;
        for (int kw = 0; kw < L->kw; kw++) {
            int iw = ow * L->stride_w - pw + kw;
            if (iw < 0 || iw >= L->in.w)
                continue;
            const int64_t *xv = x + ((int64_t)ih * L->in.w + iw) * cin;
            const int32_t *wv = /* (kh,kw,cin,cout) */
                L->kernel_code + ((int64_t)kh * L->kw + kw) * cin * cout + c0;
            for (int ci = 0; ci < cin; ci++) {
                if (!xv[ci])
                    continue;
                const int32_t *w = wv + (int64_t)ci * cout;
                for (int c = 0; c < nc; c++)
                    sum[c] += xv[ci] * w[c];
            }
        }
    }
}

static int fwd_conv2d(const layer_t *L, const tensor_t *in, tensor_t *out, upset_err_t *err)
{
    (void)err;
    const int cin = L->cin, cout = L->cout;
    const int64_t pixels = (int64_t)L->out.h * L->out.w;
    if (out->kind == TENSOR_FIXED) {
        if (narrow_conv2d(L, in, out) == 0)
            return 0;
        fixed_align_t a = fixed_align(L, in, out);
        int64_t sum[cout];
        for (int64_t p = 0; p < pixels; p++) {
            layer_pixel_sums(L, in->fixed, p, 0, cout, sum);
            fixed_init_bias(L, a, out->fixed + p * cout);
            fixed_finish(L, a, out->fixed + p * cout, sum);
        }
        return 0;
    }
    int ph, pw;
    conv_padding(L, &ph, &pw);
    double rsum[cout];
    for (int oh = 0; oh < L->out.h; oh++)
        for (int ow = 0; ow < L->out.w; ow++) {
            for (int c = 0; c < cout; c++)
                rsum[c] = bias_value(L, c);
            for (int kh = 0; kh < L->kh; kh++) {
                int ih = oh * L->stride_h - ph + kh;
                if (ih < 0 || ih >= L->in.h)
                    continue;
                for (int kw = 0; kw < L->kw; kw++) {
                    int iw = ow * L->stride_w - pw + kw;
                    if (iw < 0 || iw >= L->in.w)
                        continue;
                    int64_t xbase = ((int64_t)ih * L->in.w + iw) * cin;
                    int64_t wbase = ((int64_t)kh * L->kw + kw) * cin * cout; /* (kh,kw,cin,cout) */
                    for (int ci = 0; ci < cin; ci++) {
                        double x = tensor_value(in, xbase + ci);
                        if (x == 0)
                            continue;
                        for (int c = 0; c < cout; c++)
                            rsum[c] += x * weight_value(L, wbase + (int64_t)ci * cout + c);
                    }
                }
            }
            int64_t obase = ((int64_t)oh * L->out.w + ow) * cout;
            memcpy(out->real + obase, rsum, sizeof rsum);
            if (L->act != ACT_SOFTMAX)
                apply_real_activation(L->act, out->real + obase, cout);
        }
    if (L->act == ACT_SOFTMAX)
        apply_real_activation(L->act, out->real, out->n);
    return 0;
}

/* The fast transposed convolution: per input pixel, the partial sums of every tap and
 * output channel are independent accumulations (each still sums ci = 0, 1, ... from
 * 0.0, as the reference loop below does), so they run side by side in one long
 * vectorisable loop; they are then added to the outputs in the reference order.
 * Bit-identical to the reference (no reassociation, no contraction). */
static int convt_fast(const layer_t *L, const tensor_t *in, tensor_t *out)
{
    const int cin = L->cin, cout = L->cout, taps = L->kh * L->kw;
    const int64_t nacc = (int64_t)taps * cout;
    if (!L->convt_w ||
        grow((void **)&scratch.rx, &scratch.cap_rx, (size_t)in->n, sizeof(double)) ||
        grow((void **)&scratch.racc, &scratch.cap_racc, (size_t)nacc, sizeof(double)))
        return -1;
    double *x = scratch.rx, *acc = scratch.racc;
    const double *w = L->convt_w; /* (cin, tap, cout) */
    if (in->kind == TENSOR_REAL)
        memcpy(x, in->real, (size_t)in->n * sizeof *x);
    else
        for (int64_t i = 0; i < in->n; i++)
            x[i] = tensor_value(in, i);
    int ph, pw;
    convt_padding(L, &ph, &pw);
    for (int64_t p = 0; p < (int64_t)L->out.h * L->out.w; p++)
        for (int c = 0; c < cout; c++)
            out->real[p * cout + c] = bias_value(L, c);
    for (int ih = 0; ih < L->in.h; ih++)
        for (int iw = 0; iw < L->in.w; iw++) {
            kernel_sum_rows_f64(x + ((int64_t)ih * L->in.w + iw) * cin, cin, w, nacc, acc);
            for (int kh = 0; kh < L->kh; kh++) {
                int oh = ih * L->stride_h + kh - ph;
                if (oh < 0 || oh >= L->out.h)
                    continue;
                for (int kw = 0; kw < L->kw; kw++) {
                    int ow = iw * L->stride_w + kw - pw;
                    if (ow < 0 || ow >= L->out.w)
                        continue;
                    double *o = out->real + ((int64_t)oh * L->out.w + ow) * cout;
                    const double *a = acc + ((int64_t)kh * L->kw + kw) * cout;
                    for (int c = 0; c < cout; c++)
                        o[c] += a[c];
                }
            }
        }
    apply_real_activation(L->act, out->real, out->n);
    return 0;
}

/* Transposed convolution as TensorFlow defines it (the gradient of conv2d with
 * respect to its input): out[ih*s + k - pad] += in[ih] * w[k], kernel (kh,kw,cout,cin).
 * The loops below are the reference (UPSET_KERNEL=wide); convt_fast is the default. */
static int fwd_conv2d_transpose(const layer_t *L, const tensor_t *in, tensor_t *out,
                                upset_err_t *err)
{
    (void)err;
    if (out->kind != TENSOR_REAL)
        return upset_fail(err, "layer %s: quantized conv2d_transpose is not supported", L->name);
    if (kernel_mode() != KERNEL_WIDE && convt_fast(L, in, out) == 0)
        return 0;
    int ph, pw;
    convt_padding(L, &ph, &pw);
    const int cin = L->cin, cout = L->cout;
    /* plain double copies of input and kernel so the inner loop is a straight dot product */
    double x[in->n], w[L->n_weights];
    for (int64_t i = 0; i < in->n; i++)
        x[i] = tensor_value(in, i);
    for (int64_t i = 0; i < L->n_weights; i++)
        w[i] = weight_value(L, i);
    for (int64_t p = 0; p < (int64_t)L->out.h * L->out.w; p++)
        for (int c = 0; c < cout; c++)
            out->real[p * cout + c] = bias_value(L, c);
    for (int ih = 0; ih < L->in.h; ih++)
        for (int iw = 0; iw < L->in.w; iw++)
            for (int kh = 0; kh < L->kh; kh++) {
                int oh = ih * L->stride_h + kh - ph;
                if (oh < 0 || oh >= L->out.h)
                    continue;
                for (int kw = 0; kw < L->kw; kw++) {
                    int ow = iw * L->stride_w + kw - pw;
                    if (ow < 0 || ow >= L->out.w)
                        continue;
                    double *o = out->real + ((int64_t)oh * L->out.w + ow) * cout;
                    const double *xv = x + ((int64_t)ih * L->in.w + iw) * cin;
                    const double *wv = w + ((int64_t)kh * L->kw + kw) * cout * cin;
                    for (int c = 0; c < cout; c++) {
                        double acc = 0;
                        for (int ci = 0; ci < cin; ci++)
                            acc += xv[ci] * wv[(int64_t)c * cin + ci];
                        o[c] += acc;
                    }
                }
            }
    apply_real_activation(L->act, out->real, out->n);
    return 0;
}

/* TensorFlow's fused batch norm at inference, in float32: y = x * scale + offset with
 * the coefficients model_prepare folded. */
static double batchnorm_at(const layer_t *L, double in, int k)
{
    float y = (float)in * L->bn_scale[k];
    return (double)(y + L->bn_offset[k]);
}

static int fwd_batchnorm(const layer_t *L, const tensor_t *in, tensor_t *out, upset_err_t *err)
{
    (void)err;
    const int c = L->out.c;
    for (int64_t p = 0; p < out->n; p += c)
        for (int k = 0; k < c; k++)
            out->real[p + k] =
                batchnorm_at(L, in->kind == TENSOR_FIXED ? (double)in->fixed[p + k] * in->scale
                                                         : in->real[p + k], k);
    return 0;
}

/* The output of an elementwise layer at index i (the whole-tensor forwards below
 * call this, so a partial re-run is bit-identical to a full one). */
static void elementwise_at(const layer_t *L, const tensor_t *in, tensor_t *out, int64_t i)
{
    const quant_t *q = &L->aq;
    switch (L->kind) {
    case LAYER_BATCHNORM:
        out->real[i] = batchnorm_at(L, tensor_value(in, i), (int)(i % L->out.c));
        return;
    case LAYER_ACTIVATION:
        if (L->act != ACT_QRELU && L->act != ACT_QBITS) {
            if (out->kind == TENSOR_FIXED) { /* linear or relu on exact integers */
                out->fixed[i] = (L->act == ACT_RELU && in->fixed[i] < 0) ? 0 : in->fixed[i];
            } else {
                double v = tensor_value(in, i);
                if (L->act == ACT_RELU)
                    v = v > 0 ? v : 0;
                else if (L->act == ACT_SIGMOID)
                    v = 1.0 / (1.0 + exp(-v));
                out->real[i] = v;
            }
            return;
        }
        __attribute__((fallthrough)); /* a quantized activation quantizes like the input */
    case LAYER_QUANT_INPUT:
        out->fixed[i] = in->kind == TENSOR_FIXED
                            ? quant_code_from_fixed(q, in->fixed[i], in->frac)
                            : quant_code_from_double(q, (double)(float)in->real[i]);
        return;
    default: /* flatten, reshape: same C-order index */
        if (out->kind == TENSOR_FIXED)
            out->fixed[i] = in->fixed[i];
        else
            out->real[i] = tensor_value(in, i);
        return;
    }
}

int layer_is_elementwise(const layer_t *L)
{
    switch (L->kind) {
    case LAYER_BATCHNORM:
    case LAYER_FLATTEN:
    case LAYER_RESHAPE:
    case LAYER_QUANT_INPUT:
        return 1;
    case LAYER_ACTIVATION:
        return L->act != ACT_SOFTMAX;
    default:
        return 0;
    }
}

void layer_forward_at(const layer_t *L, const tensor_t *in, tensor_t *out, int64_t i)
{
    elementwise_at(L, in, out, i);
}

void layer_forward_list(const layer_t *L, const tensor_t *in, tensor_t *out, const int64_t *pos,
                        int64_t n)
{
    int quantizer = L->kind == LAYER_QUANT_INPUT ||
                    (L->kind == LAYER_ACTIVATION && (L->act == ACT_QRELU || L->act == ACT_QBITS));
    if (L->kind == LAYER_BATCHNORM) {
        const int c = L->out.c;
        for (int64_t j = 0; j < n; j++) {
            const int64_t p = pos[j];
            double x = in->kind == TENSOR_FIXED ? (double)in->fixed[p] * in->scale : in->real[p];
            out->real[p] = batchnorm_at(L, x, (int)(p % c));
        }
    } else if (quantizer && in->kind == TENSOR_REAL &&
               grow((void **)&scratch.rx, &scratch.cap_rx, (size_t)n, sizeof(double)) == 0 &&
               grow((void **)&scratch.codes, &scratch.cap_codes, (size_t)n, sizeof(int64_t)) == 0) {
        /* gathered, quantized a vector at a time (the same codes), scattered back */
        for (int64_t j = 0; j < n; j++)
            scratch.rx[j] = in->real[pos[j]];
        kernel_quantize(&L->aq, scratch.rx, n, scratch.codes);
        for (int64_t j = 0; j < n; j++)
            out->fixed[pos[j]] = scratch.codes[j];
    } else {
        for (int64_t j = 0; j < n; j++)
            elementwise_at(L, in, out, pos[j]);
    }
}

static int fwd_elementwise(const layer_t *L, const tensor_t *in, tensor_t *out,
                           upset_err_t *err)
{
    (void)err;
    int quantizer = L->kind == LAYER_QUANT_INPUT ||
                    (L->kind == LAYER_ACTIVATION && (L->act == ACT_QRELU || L->act == ACT_QBITS));
    if (quantizer && in->kind == TENSOR_REAL) { /* the same values, a tensor at a time */
        kernel_quantize(&L->aq, in->real, out->n, out->fixed);
        return 0;
    }
    for (int64_t i = 0; i < out->n; i++)
        elementwise_at(L, in, out, i);
    return 0;
}

static int fwd_activation(const layer_t *L, const tensor_t *in, tensor_t *out, upset_err_t *err)
{
    if (L->act != ACT_SOFTMAX)
        return fwd_elementwise(L, in, out, err);
    for (int64_t i = 0; i < out->n; i++)
        out->real[i] = tensor_value(in, i);
    apply_real_activation(L->act, out->real, out->n);
    return 0;
}

static int fwd_copy(const layer_t *L, const tensor_t *in, tensor_t *out, upset_err_t *err)
{
    return fwd_elementwise(L, in, out, err);
}

static int fwd_quant_input(const layer_t *L, const tensor_t *in, tensor_t *out, upset_err_t *err)
{
    return fwd_elementwise(L, in, out, err);
}

static const forward_fn FORWARD[LAYER_KIND_COUNT] = {
    [LAYER_QUANT_INPUT] = fwd_quant_input,
    [LAYER_CONV2D] = fwd_conv2d,
    [LAYER_CONV2D_TRANSPOSE] = fwd_conv2d_transpose,
    [LAYER_DENSE] = fwd_dense,
    [LAYER_BATCHNORM] = fwd_batchnorm,
    [LAYER_ACTIVATION] = fwd_activation,
    [LAYER_FLATTEN] = fwd_copy,
    [LAYER_RESHAPE] = fwd_copy,
};

int layer_forward(const layer_t *L, const tensor_t *in, tensor_t *out, upset_err_t *err)
{
    return FORWARD[L->kind](L, in, out, err);
}
