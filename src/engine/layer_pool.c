/* Pooling and zero padding. max_pooling2d and zero_padding2d move or pick values, never
 * compute new ones, so a fixed-point tensor stays fixed-point with its fraction bits and
 * the result is exact in any representation (QKeras, TensorFlow and hls4ml agree).
 * average_pooling2d computes one float32 quotient per output (below). */
#include <math.h>

#include "layer.h"

/* TensorFlow's SAME padding for pooling puts the odd row or column at the end; padded
 * positions never win the max (they are skipped, as TF pads with -inf). */
static int fwd_max_pooling2d(const layer_t *L, const tensor_t *in, tensor_t *out,
                             upset_err_t *err)
{
    (void)err;
    int ph, pw;
    conv_padding(L, &ph, &pw); /* pool_window's geometry too */
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

/* max_pooling2d, average_pooling2d: Keras's output size (conv_out_dim), channels unchanged. */
static int load_pooling(h5ctx_t *c, hid_t g, layer_t *L)
{
    if (load_pair(c, g, "pool_size", &L->kh, &L->kw) || load_strides_padding(c, g, L))
        return -1;
    int eh = conv_out_dim(L->in.h, L->kh, L->stride_h, L->pad_same);
    int ew = conv_out_dim(L->in.w, L->kw, L->stride_w, L->pad_same);
    if (L->out.h != eh || L->out.w != ew || L->out.c != L->in.c)
        return upset_fail(c->err,
                          "%s: %s: shape mismatch: in (%d,%d,%d) pooled %dx%d stride %dx%d %s "
                          "gives (%d,%d,%d), out_shape is (%d,%d,%d)",
                          c->file, c->where, L->in.h, L->in.w, L->in.c, L->kh, L->kw, L->stride_h,
                          L->stride_w, L->pad_same ? "same" : "valid", eh, ew, L->in.c, L->out.h,
                          L->out.w, L->out.c);
    return 0;
}

/* zero_padding2d: pads (top, bottom, left, right) rows and columns of zeros. */
static int load_zero_padding(h5ctx_t *c, hid_t g, layer_t *L)
{
    int64_t v[4];
    int n;
    if (h5_attr_ints(c, g, "pads", v, 4, &n))
        return -1;
    int in_range = n == 4;
    for (int i = 0; i < n; i++) /* each bounded first, so the sums cannot overflow */
        in_range = in_range && v[i] >= 0 && v[i] <= 4096;
    if (!in_range || v[0] + v[1] > 4096 || v[2] + v[3] > 4096)
        return upset_fail(c->err, "%s: %s: 'pads' needs 4 values (top, bottom, left, right) in "
                                  "0..4096",
                          c->file, c->where);
    L->pad_top = (int)v[0];
    L->pad_bottom = (int)v[1];
    L->pad_left = (int)v[2];
    L->pad_right = (int)v[3];
    if (L->out.h != L->in.h + L->pad_top + L->pad_bottom ||
        L->out.w != L->in.w + L->pad_left + L->pad_right || L->out.c != L->in.c)
        return upset_fail(c->err, "%s: %s: shape mismatch: in (%d,%d,%d) padded by %d,%d,%d,%d "
                                  "is not out_shape (%d,%d,%d)",
                          c->file, c->where, L->in.h, L->in.w, L->in.c, L->pad_top,
                          L->pad_bottom, L->pad_left, L->pad_right, L->out.h, L->out.w,
                          L->out.c);
    return 0;
}

/* Pooling windows in the forward passes' geometry (see layer_window). */
static int64_t *pool_window(const layer_t *L, int *wlen, upset_err_t *err)
{
    int ph, pw;
    conv_padding(L, &ph, &pw);
    *wlen = L->kh * L->kw;
    const int64_t pixels = (int64_t)L->out.h * L->out.w;
    int64_t *win = upset_calloc((size_t)(pixels * *wlen), sizeof *win, err);
    if (!win)
        return NULL;
    for (int oh = 0; oh < L->out.h; oh++)
        for (int ow = 0; ow < L->out.w; ow++)
            for (int kh = 0; kh < L->kh; kh++)
                for (int kw = 0; kw < L->kw; kw++) {
                    const int ih = oh * L->stride_h + kh - ph, iw = ow * L->stride_w + kw - pw;
                    const int inside = ih >= 0 && ih < L->in.h && iw >= 0 && iw < L->in.w;
                    win[((int64_t)oh * L->out.w + ow) * *wlen + kh * L->kw + kw] =
                        inside ? (int64_t)ih * L->in.w + iw : -1;
                }
    return win;
}

/* Where each input value lands (see layer_window). */
static int64_t *padding_window(const layer_t *L, int *wlen, upset_err_t *err)
{
    *wlen = 1;
    int64_t *win = upset_calloc((size_t)shape_size(L->in), sizeof *win, err);
    if (!win)
        return NULL;
    for (int ih = 0; ih < L->in.h; ih++)
        for (int iw = 0; iw < L->in.w; iw++)
            for (int c = 0; c < L->in.c; c++)
                win[((int64_t)ih * L->in.w + iw) * L->in.c + c] =
                    ((int64_t)(ih + L->pad_top) * L->out.w + iw + L->pad_left) * L->in.c + c;
    return win;
}

static layer_diff_t max_diff(const layer_t *L)
{
    (void)L;
    return DIFF_MAXPOOL;
}

static layer_diff_t padding_diff(const layer_t *L)
{
    (void)L;
    return DIFF_ZEROPAD;
}

const layer_ops_t LAYER_OPS_MAX_POOLING2D = {.name = "max_pooling2d", .load = load_pooling,
                                             .forward = fwd_max_pooling2d, .diff = max_diff,
                                             .window = pool_window};
const layer_ops_t LAYER_OPS_ZERO_PADDING2D = {.name = "zero_padding2d", .load = load_zero_padding,
                                              .forward = fwd_zero_padding2d,
                                              .diff = padding_diff, .window = padding_window};

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
    int ph, pw;
    conv_padding(L, &ph, &pw); /* pool_window's geometry too */
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

/* Average pooling is exact only on codes: TensorFlow sums the window in float32, which is
 * exact (in any order) while every partial sum of codes stays below 2^24, and then divides
 * once, correctly rounded. So its input must come straight from a quantizer whose codes
 * keep window x 2^bits below 2^24; anything else is refused rather than approximated. */
static int check_average_input(h5ctx_t *c, const model_t *m, int i)
{
    const layer_t *L = &m->layers[i], *P = L->inputs[0] >= 0 ? &m->layers[L->inputs[0]] : NULL;
    if (!P || !layer_is_quantizer(P))
        return upset_fail(c->err,
                          "%s: layer %s: average_pooling2d must follow a quantizer "
                          "(quantized_relu or quantized_bits): TensorFlow's float32 average of "
                          "other values depends on its summation order, which upset does not "
                          "reproduce",
                          c->file, L->name);
    if ((double)L->kh * L->kw * ldexp(1.0, P->aq.bits) >= 16777216.0)
        return upset_fail(c->err,
                          "%s: layer %s: a %dx%d average of %d-bit codes can exceed float32's "
                          "24-bit exact range; upset would not match TensorFlow",
                          c->file, L->name, L->kh, L->kw, P->aq.bits);
    return 0;
}

static layer_diff_t average_diff(const layer_t *L)
{
    (void)L;
    return DIFF_AVGPOOL;
}

const layer_ops_t LAYER_OPS_AVERAGE_POOLING2D = {
    .name = "average_pooling2d", .load = load_pooling, .check = check_average_input,
    .out_type = out_type_real, .forward = fwd_average_pooling2d, .diff = average_diff,
    .window = pool_window};
