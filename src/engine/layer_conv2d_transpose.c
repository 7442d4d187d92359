/* Transposed convolution as TensorFlow defines it, in double (the float decoder). */
#include <string.h>

#include "layer.h"
#include "upset/kernels.h"

/* Scratch of the fast path (grown on demand, kept). */
static struct {
    double *x, *acc, *w;
    size_t cap_x, cap_acc, cap_w;
} scratch;

/* Each of n rows of out = the bias (cout values): the first row, then the filled part
 * copied after itself, doubling (a few calls, whatever cout is). */
static void fill_rows(double *out, const layer_t *L, int64_t n)
{
    const int64_t total = n * L->cout;
    for (int c = 0; c < L->cout; c++)
        out[c] = bias_value(L, c);
    for (int64_t done = L->cout; done < total; done *= 2)
        memcpy(out + done, out, (size_t)(done < total - done ? done : total - done) * sizeof *out);
}

/* Input pixels handed to the float kernel at a time (they share its weight loads). */
enum { CONVT_BLOCK = 4 };

/* The fast transposed convolution: per input pixel, the partial sums of every tap and
 * output channel are independent accumulations (each still sums ci = 0, 1, ... from
 * 0.0, as the reference loop below does), so they run side by side, CONVT_BLOCK input
 * pixels at a time; they are then added to the outputs pixel by pixel in the reference
 * order. Bit-identical to the reference (no reassociation, no contraction). */
static int convt_fast(const layer_t *L, const tensor_t *in, tensor_t *out)
{
    const int cin = L->cin, cout = L->cout;
    const int64_t nacc = L->convt_cols, n_pix = (int64_t)L->in.h * L->in.w;
    if (!L->convt_w ||
        scratch_grow((void **)&scratch.x, &scratch.cap_x, (size_t)in->n, sizeof(double)) ||
        scratch_grow((void **)&scratch.acc, &scratch.cap_acc, (size_t)(CONVT_BLOCK * nacc),
                     sizeof(double)))
        return -1;
    const double *x = in->real, *w = L->convt_w; /* panels of (cin, tap * cout) */
    if (in->kind != TENSOR_REAL) {
        for (int64_t i = 0; i < in->n; i++)
            scratch.x[i] = tensor_value(in, i);
        x = scratch.x;
    }
    int ph, pw;
    convt_padding(L, &ph, &pw);
    fill_rows(out->real, L, out->n / cout);
    for (int64_t p0 = 0; p0 < n_pix; p0 += CONVT_BLOCK) {
        const int nb = (int)(n_pix - p0 < CONVT_BLOCK ? n_pix - p0 : CONVT_BLOCK);
        kernel_sum_rows_f64(x + p0 * cin, cin, nb, w, nacc, scratch.acc);
        for (int b = 0; b < nb; b++) {
            const int ih = (int)((p0 + b) / L->in.w), iw = (int)((p0 + b) % L->in.w);
            const double *acc = scratch.acc + b * nacc;
            /* the taps of one kernel row that land inside the output feed consecutive
             * output columns: one contiguous add per kernel row */
            const int ow0 = iw * L->stride_w - pw;
            const int kw0 = ow0 < 0 ? -ow0 : 0;
            const int kw1 = L->out.w - 1 - ow0 < L->kw - 1 ? L->out.w - 1 - ow0 : L->kw - 1;
            if (kw0 > kw1)
                continue;
            for (int kh = 0; kh < L->kh; kh++) {
                int oh = ih * L->stride_h + kh - ph;
                if (oh < 0 || oh >= L->out.h)
                    continue;
                double *o = out->real + ((int64_t)oh * L->out.w + ow0 + kw0) * cout;
                const double *a = acc + ((int64_t)kh * L->kw + kw0) * cout;
                const int64_t len = (int64_t)(kw1 - kw0 + 1) * cout;
                if (len >= 8)
                    kernel_add_f64(o, a, len);
                else /* a few values (one output channel): no call */
                    for (int64_t j = 0; j < len; j++)
                        o[j] += a[j];
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
    /* plain double copies of input and kernel so the inner loop is a straight dot product
     * (heap scratch: a model's sizes must never decide the stack's) */
    if (scratch_grow((void **)&scratch.x, &scratch.cap_x, (size_t)in->n, sizeof(double)) ||
        scratch_grow((void **)&scratch.w, &scratch.cap_w, (size_t)L->n_weights, sizeof(double)))
        return upset_fail(err, "layer %s: out of memory", L->name);
    double *x = scratch.x, *w = scratch.w;
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

const layer_ops_t LAYER_OPS_CONV2D_TRANSPOSE = {"conv2d_transpose", fwd_conv2d_transpose, NULL,
                                                NULL, NULL};
