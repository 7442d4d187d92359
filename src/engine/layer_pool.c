/* Pooling and zero padding. max_pooling2d and zero_padding2d move or pick values, never
 * compute new ones, so a fixed-point tensor stays fixed-point with its fraction bits and
 * the result is exact in any representation (QKeras, TensorFlow and hls4ml agree).
 * average_pooling2d computes one float32 quotient per output (below). */
#include "layer.h"

/* TensorFlow's SAME padding for pooling puts the odd row or column at the end; padded
 * positions never win the max (they are skipped, as TF pads with -inf). */
static int fwd_max_pooling2d(const layer_t *L, const tensor_t *in, tensor_t *out,
                             upset_err_t *err)
{
    (void)err;
    const int ph = L->pad_same ? same_pad_before(L->in.h, L->out.h, L->kh, L->stride_h) : 0;
    const int pw = L->pad_same ? same_pad_before(L->in.w, L->out.w, L->kw, L->stride_w) : 0;
    const int C = L->in.c;
    for (int oh = 0; oh < L->out.h; oh++)
        for (int ow = 0; ow < L->out.w; ow++)
            for (int c = 0; c < C; c++) {
                const int64_t o = ((int64_t)oh * L->out.w + ow) * C + c;
                int first = 1;
                for (int kh = 0; kh < L->kh; kh++) {
                    const int ih = oh * L->stride_h + kh - ph;
                    if (ih < 0 || ih >= L->in.h)
                        continue;
                    for (int kw = 0; kw < L->kw; kw++) {
                        const int iw = ow * L->stride_w + kw - pw;
                        if (iw < 0 || iw >= L->in.w)
                            continue;
                        const int64_t i = ((int64_t)ih * L->in.w + iw) * C + c;
                        if (out->kind == TENSOR_FIXED) {
                            if (first || in->fixed[i] > out->fixed[o])
                                out->fixed[o] = in->fixed[i];
                        } else {
                            const double v = tensor_value(in, i);
                            if (first || v > out->real[o])
                                out->real[o] = v;
                        }
                        first = 0;
                    }
                }
            }
    return 0;
}

static int fwd_zero_padding2d(const layer_t *L, const tensor_t *in, tensor_t *out,
                              upset_err_t *err)
{
    (void)err;
    const int C = L->in.c;
    for (int64_t i = 0; i < out->n; i++) {
        if (out->kind == TENSOR_FIXED)
            out->fixed[i] = 0;
        else
            out->real[i] = 0;
    }
    for (int ih = 0; ih < L->in.h; ih++)
        for (int iw = 0; iw < L->in.w; iw++)
            for (int c = 0; c < C; c++) {
                const int64_t i = ((int64_t)ih * L->in.w + iw) * C + c;
                const int64_t o =
                    ((int64_t)(ih + L->pad_top) * L->out.w + iw + L->pad_left) * C + c;
                if (out->kind == TENSOR_FIXED)
                    out->fixed[o] = in->fixed[i];
                else
                    out->real[o] = tensor_value(in, i);
            }
    return 0;
}

const layer_ops_t LAYER_OPS_MAX_POOLING2D = {"max_pooling2d", fwd_max_pooling2d, NULL, NULL, NULL};
const layer_ops_t LAYER_OPS_ZERO_PADDING2D = {"zero_padding2d", fwd_zero_padding2d, NULL, NULL,
                                              NULL};

/* average_pooling2d (Keras AveragePooling2D, and GlobalAveragePooling2D as a pool over the
 * whole image) as TensorFlow computes it at inference (tf.nn.avg_pool, reduce_mean): the
 * window's values summed in float32, divided once by the number of positions that are
 * inside the image (SAME padding leaves the padded ones out of both), in float32. The
 * model loader admits it only on quantizer codes whose window sums stay below 2^24, where
 * that float32 sum is exact in any order; so the sum is taken exactly in int64 and the one
 * rounding is the division's. hls4ml's fixed-point pooling rounds differently; upset
 * follows the Keras model. */
static int fwd_average_pooling2d(const layer_t *L, const tensor_t *in, tensor_t *out,
                                 upset_err_t *err)
{
    if (in->kind != TENSOR_FIXED)
        return upset_fail(err, "layer %s: average pooling needs fixed-point codes", L->name);
    const int ph = L->pad_same ? same_pad_before(L->in.h, L->out.h, L->kh, L->stride_h) : 0;
    const int pw = L->pad_same ? same_pad_before(L->in.w, L->out.w, L->kw, L->stride_w) : 0;
    const int C = L->in.c;
    for (int oh = 0; oh < L->out.h; oh++)
        for (int ow = 0; ow < L->out.w; ow++)
            for (int c = 0; c < C; c++) {
                int64_t sum = 0;
                int count = 0;
                for (int kh = 0; kh < L->kh; kh++) {
                    const int ih = oh * L->stride_h + kh - ph;
                    for (int kw = 0; ih >= 0 && ih < L->in.h && kw < L->kw; kw++) {
                        const int iw = ow * L->stride_w + kw - pw;
                        if (iw < 0 || iw >= L->in.w)
                            continue;
                        sum += in->fixed[((int64_t)ih * L->in.w + iw) * C + c];
                        count++;
                    }
                }
                /* sum * 2^-frac is a float32 exactly (|sum| < 2^24) */
                const float s = (float)((double)sum * in->scale);
                out->real[((int64_t)oh * L->out.w + ow) * C + c] = (double)(s / (float)count);
            }
    return 0;
}

const layer_ops_t LAYER_OPS_AVERAGE_POOLING2D = {"average_pooling2d", fwd_average_pooling2d,
                                                 NULL, NULL, NULL};
