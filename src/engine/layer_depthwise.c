/* depthwise_conv2d (Keras DepthwiseConv2D / QKeras QDepthwiseConv2D): each input channel ci
 * is convolved alone with depth_mult kernels, giving output channels ci * depth_mult + m,
 * TensorFlow's padding. Exact integers when quantized on an exact input (the bias,
 * alignment and fused relu of layer_linear.c), else double as conv2d. Its flips take the
 * injector's cached path (re-run from the layer's stored input), not the delta path. */
#include <string.h>

#include "layer.h"

static struct {
    int64_t *sum;
    double *rsum;
    size_t cap_sum, cap_rsum;
} scratch;

static int fwd_depthwise(const layer_t *L, const tensor_t *in, tensor_t *out, upset_err_t *err)
{
    const int cin = L->cin, cout = L->cout, mult = L->depth_mult;
    if (scratch_grow((void **)&scratch.sum, &scratch.cap_sum, (size_t)cout, sizeof(int64_t)) ||
        scratch_grow((void **)&scratch.rsum, &scratch.cap_rsum, (size_t)cout, sizeof(double)))
        return upset_fail(err, "layer %s: out of memory", L->name);
    const int fixed = out->kind == TENSOR_FIXED;
    const fixed_align_t a = fixed ? fixed_align(L, in, out) : (fixed_align_t){0, 0};
    int ph, pw;
    conv_padding(L, &ph, &pw);
    int64_t *sum = scratch.sum;
    double *rsum = scratch.rsum;
    for (int oh = 0; oh < L->out.h; oh++)
        for (int ow = 0; ow < L->out.w; ow++) {
            for (int c = 0; c < cout; c++) {
                sum[c] = 0;
                rsum[c] = fixed ? 0 : bias_value(L, c);
            }
            for (int kh = 0; kh < L->kh; kh++) {
                const int ih = oh * L->stride_h - ph + kh;
                for (int kw = 0; ih >= 0 && ih < L->in.h && kw < L->kw; kw++) {
                    const int iw = ow * L->stride_w - pw + kw;
                    if (iw < 0 || iw >= L->in.w)
                        continue;
                    const int64_t xbase = ((int64_t)ih * L->in.w + iw) * cin;
                    /* (kh, kw, cin, mult): the kernels of input channel ci are consecutive */
                    const int64_t wbase = ((int64_t)kh * L->kw + kw) * cin * mult;
                    for (int ci = 0; ci < cin; ci++)
                        for (int m = 0; m < mult; m++) {
                            const int c = ci * mult + m;
                            const int64_t w = wbase + (int64_t)ci * mult + m;
                            if (fixed)
                                sum[c] += in->fixed[xbase + ci] * L->kernel_code[w];
                            else
                                rsum[c] += tensor_value(in, xbase + ci) * weight_value(L, w);
                        }
                }
            }
            const int64_t obase = ((int64_t)oh * L->out.w + ow) * cout;
            if (fixed) {
                fixed_pixel(L, a, out->fixed + obase, sum);
                continue;
            }
            memcpy(out->real + obase, rsum, (size_t)cout * sizeof *rsum);
            apply_real_activation(L->act, out->real + obase, cout, cout);
        }
    return 0;
}

/* Kernel (kh, kw, cin, depth_mult): output channel ci * depth_mult + m. */
static int load_depthwise(h5ctx_t *c, hid_t g, layer_t *L)
{
    if (load_kernel_dims(c, g, L, 0))
        return -1;
    L->depth_mult = L->cout;
    if ((int64_t)L->cin * L->depth_mult > (1 << 20))
        return upset_fail(c->err, "%s: %s: %d x %d depthwise channels is absurd", c->file,
                          c->where, L->cin, L->depth_mult);
    L->cout = L->cin * L->depth_mult;
    if (load_strides_padding(c, g, L) ||
        load_check_conv_shape(c, L, conv_out_dim(L->in.h, L->kh, L->stride_h, L->pad_same),
                              conv_out_dim(L->in.w, L->kw, L->stride_w, L->pad_same)))
        return -1;
    return load_weights(c, g, L, (h5_shape_t){4, {L->kh, L->kw, L->cin, L->depth_mult}});
}

/* Each output channel reads one input channel. */
static int64_t depthwise_macs(const layer_t *L)
{
    return (int64_t)L->out.h * L->out.w * L->kh * L->kw * L->cout;
}

/* conv2d's blocks, a tap holding cin x depth_mult = cout weights. */
static void depthwise_blocks(const layer_t *L, linear_visit_t visit, void *ctx)
{
    conv_window_blocks(L, L->cout, visit, ctx);
}

const layer_ops_t LAYER_OPS_DEPTHWISE_CONV2D = {
    .name = "depthwise_conv2d", .load = load_depthwise, .out_type = linear_out_type,
    .macs = depthwise_macs, .forward = fwd_depthwise, .diff = linear_diff,
    .block = BLOCK_DEPTHWISE, .blocks = depthwise_blocks};
