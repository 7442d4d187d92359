/* conv2d (kernel (kh, kw, cin, cout), TensorFlow's padding): exact integers when
 * quantized on an exact input (layer_linear.c), else double. */
#include <string.h>

#include "layer.h"

/* Heap scratch kept per process (ranks are processes): a model's sizes never decide the
 * stack's. */
static struct {
    int64_t *sum;
    double *rsum;
    size_t cap_sum, cap_rsum;
} scratch;

static int fwd_conv2d(const layer_t *L, const tensor_t *in, tensor_t *out, upset_err_t *err)
{
    const int cin = L->cin, cout = L->cout;
    if (scratch_grow((void **)&scratch.sum, &scratch.cap_sum, (size_t)cout, sizeof(int64_t)) ||
        scratch_grow((void **)&scratch.rsum, &scratch.cap_rsum, (size_t)cout, sizeof(double)))
        return upset_fail(err, "layer %s: out of memory", L->name);
    const int64_t pixels = (int64_t)L->out.h * L->out.w;
    if (out->kind == TENSOR_FIXED) {
        if (narrow_linear(L, in, out) == 0)
            return 0;
        fixed_align_t a = fixed_align(L, in, out);
        int64_t *sum = scratch.sum;
        for (int64_t p = 0; p < pixels; p++) {
            layer_pixel_sums(L, in->fixed, p, 0, cout, sum);
            fixed_pixel(L, a, out->fixed + p * cout, sum);
        }
        return 0;
    }
    int ph, pw;
    conv_padding(L, &ph, &pw);
    double *rsum = scratch.rsum;
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
            memcpy(out->real + obase, rsum, (size_t)cout * sizeof *rsum);
            if (L->act != ACT_SOFTMAX)
                apply_real_activation(L->act, out->real + obase, cout);
        }
    if (L->act == ACT_SOFTMAX)
        apply_real_activation(L->act, out->real, out->n);
    return 0;
}

const layer_ops_t LAYER_OPS_CONV2D = {"conv2d", fwd_conv2d, NULL, NULL, NULL};
