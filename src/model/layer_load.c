/* What the kinds' loaders share (layer_load.h). */
#include "layer_load.h"

#include <stdio.h>
#include <string.h>

int load_act(h5ctx_t *c, const char *s, act_t *out)
{
    for (int i = ACT_LINEAR; i <= ACT_QBITS; i++) /* the names act_name gives */
        if (!strcmp(s, act_name((act_t)i))) {
            *out = (act_t)i;
            return 0;
        }
    return upset_fail(c->err, "%s: %s: unsupported activation '%s'", c->file, c->where, s);
}

/* Reads q_bits/q_integer/q_keep_negative style attributes with a prefix. */
int load_quant(h5ctx_t *c, hid_t g, const char *prefix, quant_kind_t kind, quant_t *q)
{
    char name[64];
    int64_t bits, integer, keep = 1;
    snprintf(name, sizeof name, "%sbits", prefix);
    if (h5_attr_int(c, g, name, &bits))
        return -1;
    snprintf(name, sizeof name, "%sinteger", prefix);
    if (h5_attr_int(c, g, name, &integer))
        return -1;
    int64_t shift = 0;
    if (kind == QUANT_BITS) {
        snprintf(name, sizeof name, "%skeep_negative", prefix);
        if (h5_attr_int(c, g, name, &keep))
            return -1;
    }
    snprintf(name, sizeof name, "%snegative_slope_shift", prefix);
    if (kind == QUANT_RELU && h5_has_attr(g, name) && h5_attr_int(c, g, name, &shift))
        return -1;
    if (shift < 0 || (shift && shift > bits - 1))
        return upset_fail(c->err, "%s: %s: %s = %lld: a leaky slope 2^-s needs 1 <= s <= bits - 1",
                          c->file, c->where, name, (long long)shift);
    if (bits < 1 || bits > UPSET_MAX_CODE_BITS || integer < -24 || integer > bits)
        return upset_fail(c->err, "%s: %s: quantizer %sbits=%lld integer=%lld is out of range",
                          c->file, c->where, prefix, (long long)bits, (long long)integer);
    /* QKeras's signed 1-bit quantized_bits is a sign function (+-1), not the two's-complement
     * codes {-1, 0} the engine holds (the importer refuses it too) */
    if (kind == QUANT_BITS && keep && bits < 2)
        return upset_fail(c->err, "%s: %s: quantizer %sbits=1 with %skeep_negative=1 is not "
                                  "supported (a signed quantizer needs at least 2 bits)",
                          c->file, c->where, prefix, prefix);
    q->kind = kind;
    q->bits = (int)bits;
    q->integer = (int)integer;
    q->keep_negative = keep != 0;
    q->neg_shift = (int)shift;
    return 0;
}

h5_shape_t shape1(int64_t n)
{
    return (h5_shape_t){1, {n, 0, 0, 0}};
}


static int alloc_read_codes(h5ctx_t *c, hid_t g, const char *name, int32_t **out, h5_shape_t s,
                            const quant_t *q)
{
    const int64_t n = h5_shape_count(s);
    if (h5_alloc_read_int32s(c, g, name, out, s))
        return -1;
    for (int64_t i = 0; i < n; i++)
        if ((*out)[i] < quant_code_min(q) || (*out)[i] > quant_code_max(q))
            return upset_fail(c->err, "%s: %s: %s[%lld] = %d does not fit %d-bit codes", c->file,
                              c->where, name, (long long)i, (*out)[i], q->bits);
    return 0;
}

/* The optional per-channel shifts of QKeras alpha="auto_po2" (one per index of the
 * kernel's last axis); the codes then become integers on kq's grid (model.h). A shifted
 * code, flipped or not, stays within the 24 bits every quantizer is held to (bits + shift
 * <= 24), the bound the engine's exact int64 sums rest on. */
static int load_kernel_shift(h5ctx_t *c, hid_t g, layer_t *L, h5_shape_t ks)
{
    if (H5Lexists(g, "kernel_shift", H5P_DEFAULT) <= 0)
        return 0;
    const int64_t n = ks.d[ks.nd - 1];
    if (h5_alloc_read_int32s(c, g, "kernel_shift", &L->kernel_shift, shape1(n)))
        return -1;
    L->n_kernel_shift = (int)n;
    for (int64_t i = 0; i < n; i++) {
        const int32_t s = L->kernel_shift[i];
        if (s < 0 || s + L->kq.bits > 24)
            return upset_fail(c->err, "%s: %s: kernel_shift[%lld] = %d is outside 0..%d (the "
                                      "shifted %d-bit codes must fit 24 bits)",
                              c->file, c->where, (long long)i, s, 24 - L->kq.bits, L->kq.bits);
        L->max_kernel_shift = s > L->max_kernel_shift ? s : L->max_kernel_shift;
    }
    for (int64_t w = 0; w < L->n_weights; w++)
        L->kernel_code[w] = layer_weight_int(L, w, L->kernel_code[w]);
    return 0;
}

int load_weights(h5ctx_t *c, hid_t g, layer_t *L, h5_shape_t ks)
{
    int64_t v;
    char act[64];
    if (h5_attr_int(c, g, "use_bias", &v))
        return -1;
    L->use_bias = v != 0;
    if (h5_attr_int(c, g, "quantized", &v))
        return -1;
    L->quantized = v != 0;
    if (h5_attr_string(c, g, "activation", act, sizeof act) || load_act(c, act, &L->act))
        return -1;
    if (L->act == ACT_QRELU || L->act == ACT_QBITS)
        return upset_fail(c->err, "%s: %s: a quantized activation must be its own layer", c->file,
                          c->where);
    if (h5_alloc_read_floats(c, g, "kernel", &L->kernel, ks))
        return -1;
    if (L->use_bias && h5_alloc_read_floats(c, g, "bias", &L->bias, shape1(L->cout)))
        return -1;
    if (!L->quantized)
        return 0;
    if (load_quant(c, g, "kernel_q_", QUANT_BITS, &L->kq) ||
        alloc_read_codes(c, g, "kernel_code", &L->kernel_code, ks, &L->kq) ||
        load_kernel_shift(c, g, L, ks))
        return -1;
    if (L->use_bias && (load_quant(c, g, "bias_q_", QUANT_BITS, &L->bq) ||
                        alloc_read_codes(c, g, "bias_code", &L->bias_code, shape1(L->cout), &L->bq)))
        return -1;
    return 0;
}

/* Keras's output size of a convolution or pooling window: same: ceil(in / stride); valid:
 * floor((in - k) / stride) + 1, and none when the window is larger than the input. */
int conv_out_dim(int in, int k, int stride, int same)
{
    return same ? (in + stride - 1) / stride : in < k ? 0 : (in - k) / stride + 1;
}

/* Two positive ints (pool_size, strides). */
int load_pair(h5ctx_t *c, hid_t g, const char *name, int *a, int *b)
{
    int64_t v[2];
    int n;
    if (h5_attr_ints(c, g, name, v, 2, &n))
        return -1;
    if (n != 2 || v[0] < 1 || v[1] < 1 || v[0] > 4096 || v[1] > 4096)
        return upset_fail(c->err, "%s: %s: '%s' needs 2 values in 1..4096", c->file, c->where,
                          name);
    *a = (int)v[0];
    *b = (int)v[1];
    return 0;
}

/* `strides` and `padding` of a window layer (convolutions, pooling). */
int load_strides_padding(h5ctx_t *c, hid_t g, layer_t *L)
{
    char s[64];
    if (load_pair(c, g, "strides", &L->stride_h, &L->stride_w) ||
        h5_attr_string(c, g, "padding", s, sizeof s))
        return -1;
    if (strcmp(s, "same") && strcmp(s, "valid"))
        return upset_fail(c->err, "%s: %s: padding '%s' is not same or valid", c->file, c->where,
                          s);
    L->pad_same = !strcmp(s, "same");
    return 0;
}


int load_same_shape(h5ctx_t *c, const layer_t *L)
{
    if (L->in.h != L->out.h || L->in.w != L->out.w || L->in.c != L->out.c)
        return upset_fail(c->err, "%s: %s: %s layers keep their shape, but in_shape (%d, %d, %d) "
                                  "and out_shape (%d, %d, %d) differ",
                          c->file, c->where, layer_kind_name(L->kind), L->in.h, L->in.w, L->in.c,
                          L->out.h, L->out.w, L->out.c);
    return 0;
}

int load_kernel_dims(h5ctx_t *c, hid_t g, layer_t *L, int transpose)
{
    hsize_t dims[4] = {0};
    const int nd = h5_dataset_extents(g, "kernel", dims);
    if (nd <= 0)
        return upset_fail(c->err, "%s: %s: dataset 'kernel' is missing", c->file, c->where);
    if (nd != 4)
        return upset_fail(c->err, "%s: %s: conv kernel must have 4 dimensions, has %d", c->file,
                          c->where, nd);
    /* bounded before the casts: a zero axis divides by zero later, a huge one wraps int */
    const hsize_t most[4] = {4096, 4096, 1 << 20, 1 << 20};
    for (int i = 0; i < 4; i++)
        if (dims[i] < 1 || dims[i] > most[i])
            return upset_fail(c->err, "%s: %s: kernel axis %d has %llu entries, expected 1..%llu",
                              c->file, c->where, i, (unsigned long long)dims[i],
                              (unsigned long long)most[i]);
    if ((double)dims[0] * (double)dims[1] * (double)dims[2] * (double)dims[3] > 0x1p28)
        return upset_fail(c->err, "%s: %s: kernel (%llu, %llu, %llu, %llu) is absurdly large",
                          c->file, c->where, (unsigned long long)dims[0],
                          (unsigned long long)dims[1], (unsigned long long)dims[2],
                          (unsigned long long)dims[3]);
    L->kh = (int)dims[0];
    L->kw = (int)dims[1];
    L->cin = (int)dims[transpose ? 3 : 2];
    L->cout = (int)dims[transpose ? 2 : 3];
    L->n_weights = (int64_t)L->kh * L->kw * L->cin * L->cout;
    return 0;
}

int load_check_conv_shape(h5ctx_t *c, const layer_t *L, int64_t eh, int64_t ew)
{
    if (L->in.c != L->cin || L->out.c != L->cout || L->out.h != eh || L->out.w != ew)
        return upset_fail(c->err,
                          "%s: %s: shape mismatch: in (%d,%d,%d) out (%d,%d,%d) but kernel "
                          "%dx%d %d->%d stride %d gives (%lld,%lld,%d)",
                          c->file, c->where, L->in.h, L->in.w, L->in.c, L->out.h, L->out.w,
                          L->out.c, L->kh, L->kw, L->cin, L->cout, L->stride_h, (long long)eh,
                          (long long)ew, L->cout);
    return 0;
}
