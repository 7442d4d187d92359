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
            apply_real_activation(L->act, out->real + obase, cout, cout);
        }
    return 0;
}

static int load_conv2d(h5ctx_t *c, hid_t g, layer_t *L)
{
    if (load_kernel_dims(c, g, L, 0) || load_strides_padding(c, g, L) ||
        load_check_conv_shape(c, L, conv_out_dim(L->in.h, L->kh, L->stride_h, L->pad_same),
                              conv_out_dim(L->in.w, L->kw, L->stride_w, L->pad_same)))
        return -1;
    return load_weights(c, g, L, (h5_shape_t){4, {L->kh, L->kw, L->cin, L->cout}});
}

static int64_t conv2d_macs(const layer_t *L)
{
    return (int64_t)L->out.h * L->out.w * L->kh * L->kw * L->cin * L->cout;
}

/* Weight (tap, ci, co) feeds channel co of every output pixel whose window puts that tap
 * inside the image, from input channel ci there. */
static int64_t conv2d_feeds(const layer_t *L, int64_t w, int64_t *out_pos, int64_t *in_pos)
{
    const int cin = L->cin, cout = L->cout;
    const int co = (int)(w % cout), ci = (int)(w / cout % cin);
    const int64_t tap = w / ((int64_t)cin * cout);
    const int wkh = (int)(tap / L->kw), wkw = (int)(tap % L->kw);
    int ph, pw;
    conv_padding(L, &ph, &pw);
    int64_t n = 0;
    for (int oh = 0; oh < L->out.h; oh++) {
        const int ih = oh * L->stride_h - ph + wkh;
        if (ih < 0 || ih >= L->in.h)
            continue;
        for (int ow = 0; ow < L->out.w; ow++) {
            const int iw = ow * L->stride_w - pw + wkw;
            if (iw < 0 || iw >= L->in.w)
                continue;
            in_pos[n] = ((int64_t)ih * L->in.w + iw) * cin + ci;
            out_pos[n++] = ((int64_t)oh * L->out.w + ow) * cout + co;
        }
    }
    return n;
}

void conv_window_blocks(const layer_t *L, int64_t tap_weights, linear_visit_t visit, void *ctx)
{
    int ph, pw;
    conv_padding(L, &ph, &pw);
    for (int oh = 0; oh < L->out.h; oh++)
        for (int ow = 0; ow < L->out.w; ow++) {
            const int64_t oo = ((int64_t)oh * L->out.w + ow) * L->cout;
            for (int kh = 0; kh < L->kh; kh++) {
                const int ih = oh * L->stride_h - ph + kh;
                if (ih < 0 || ih >= L->in.h)
                    continue;
                for (int kw = 0; kw < L->kw; kw++) {
                    const int iw = ow * L->stride_w - pw + kw;
                    if (iw < 0 || iw >= L->in.w)
                        continue;
                    visit(ctx, ((int64_t)kh * L->kw + kw) * tap_weights,
                          ((int64_t)ih * L->in.w + iw) * L->cin, oo);
                }
            }
        }
}

static void conv2d_blocks(const layer_t *L, linear_visit_t visit, void *ctx)
{
    conv_window_blocks(L, (int64_t)L->cin * L->cout, visit, ctx);
}

const layer_ops_t LAYER_OPS_CONV2D = {
    .name = "conv2d", .load = load_conv2d, .prepare = linear_prepare_narrow,
    .out_type = linear_out_type, .macs = conv2d_macs, .forward = fwd_conv2d,
    .feeds = conv2d_feeds, .diff = linear_diff, .block = BLOCK_CI_CO, .blocks = conv2d_blocks};
