/* up_sampling2d (Keras UpSampling2D, interpolation "nearest"): output pixel (oh, ow) is
 * input pixel (oh / size_h, ow / size_w), every channel. It copies values, never computes
 * new ones, so a fixed-point tensor stays fixed-point with its fraction bits and the
 * result is exact in every representation. */
#include <string.h>

#include "layer.h"

static int load_upsampling(h5ctx_t *c, hid_t g, layer_t *L)
{
    if (load_pair(c, g, "size", &L->kh, &L->kw))
        return -1;
    if (L->out.h != (int64_t)L->in.h * L->kh || L->out.w != (int64_t)L->in.w * L->kw ||
        L->out.c != L->in.c)
        return upset_fail(c->err, "%s: %s: shape mismatch: in (%d,%d,%d) up-sampled %dx%d is not "
                                  "out_shape (%d,%d,%d)",
                          c->file, c->where, L->in.h, L->in.w, L->in.c, L->kh, L->kw, L->out.h,
                          L->out.w, L->out.c);
    return 0;
}

static int fwd_upsampling(const layer_t *L, const tensor_t *in, tensor_t *out, upset_err_t *err)
{
    (void)err;
    const int C = L->in.c;
    const int fixed = out->kind == TENSOR_FIXED;
    const size_t bytes = (size_t)C * (fixed ? sizeof *out->fixed : sizeof *out->real);
    for (int oh = 0; oh < L->out.h; oh++)
        for (int ow = 0; ow < L->out.w; ow++) {
            const int64_t i = ((int64_t)(oh / L->kh) * L->in.w + ow / L->kw) * C,
                          o = ((int64_t)oh * L->out.w + ow) * C;
            if (fixed)
                memcpy(out->fixed + o, in->fixed + i, bytes);
            else
                memcpy(out->real + o, in->real + i, bytes);
        }
    return 0;
}

/* To upset rank a copy is a max over a one-pixel window: the same step (its derivative
 * goes back to the one input each output read). */
static layer_diff_t upsampling_diff(const layer_t *L)
{
    (void)L;
    return DIFF_MAXPOOL;
}

static int64_t *upsampling_window(const layer_t *L, int *wlen, upset_err_t *err)
{
    *wlen = 1;
    int64_t *win = upset_calloc((size_t)L->out.h * L->out.w, sizeof *win, err);
    if (!win)
        return NULL;
    for (int oh = 0; oh < L->out.h; oh++)
        for (int ow = 0; ow < L->out.w; ow++)
            win[(int64_t)oh * L->out.w + ow] = (int64_t)(oh / L->kh) * L->in.w + ow / L->kw;
    return win;
}

const layer_ops_t LAYER_OPS_UP_SAMPLING2D = {
    .name = "up_sampling2d", .load = load_upsampling, .forward = fwd_upsampling,
    .diff = upsampling_diff, .window = upsampling_window};
