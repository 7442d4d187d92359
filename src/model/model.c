/* Loads the native HDF5 model format (docs/model-format.md) and validates every
 * layer's shapes, so the engine can trust what it runs. */
#include "upset/model.h"

#include <hdf5.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "h5util.h"
#include "upset/fileutil.h"
#include "upset/fnv.h"

static const char *const KIND_NAMES[LAYER_KIND_COUNT] = {
    "quant_input", "conv2d",  "conv2d_transpose", "dense",         "batchnorm",
    "activation",  "flatten", "reshape",          "max_pooling2d", "zero_padding2d",
    "average_pooling2d", "depthwise_conv2d", "add", "concatenate"};

const char *layer_kind_name(layer_kind_t k)
{
    return (unsigned)k < LAYER_KIND_COUNT ? KIND_NAMES[k] : "?";
}

const char *layer_file_kind(const layer_t *L)
{
    return L->bias_add ? "bias_add" : layer_kind_name(L->kind);
}

const char *act_name(act_t a)
{
    static const char *const names[] = {"linear",  "relu",           "sigmoid",
                                        "softmax", "quantized_relu", "quantized_bits"};
    return (unsigned)a < sizeof names / sizeof *names ? names[a] : "?";
}

const char *task_name(task_t t)
{
    return t == TASK_CLASSIFIER ? "classifier" : t == TASK_AUTOENCODER ? "autoencoder" : "encoder";
}

static int parse_act(h5ctx_t *c, const char *s, act_t *out)
{
    static const char *const names[] = {"linear",  "relu",           "sigmoid",
                                        "softmax", "quantized_relu", "quantized_bits"};
    for (int i = 0; i < 6; i++)
        if (!strcmp(s, names[i])) {
            *out = (act_t)i;
            return 0;
        }
    return upset_fail(c->err, "%s: %s: unsupported activation '%s'", c->file, c->where, s);
}

static int read_shape(h5ctx_t *c, hid_t g, const char *name, shape3_t *s)
{
    int64_t v[3];
    int n;
    if (h5_attr_ints(c, g, name, v, 3, &n))
        return -1;
    for (int i = 0; i < n; i++)
        if (v[i] < 1 || v[i] > (1 << 20))
            return upset_fail(c->err, "%s: %s: attribute '%s' has an absurd dimension %lld",
                              c->file, c->where, name, (long long)v[i]);
    s->h = n == 3 ? (int)v[0] : 1;
    s->w = n == 3 ? (int)v[1] : n == 2 ? (int)v[0] : 1;
    s->c = (int)v[n - 1];
    if (shape_size(*s) > (INT64_C(1) << 28)) /* 2 GiB of doubles per tensor and sample */
        return upset_fail(c->err, "%s: %s: attribute '%s' (%d, %d, %d) asks for an absurd tensor",
                          c->file, c->where, name, s->h, s->w, s->c);
    return 0;
}

/* Reads q_bits/q_integer/q_keep_negative style attributes with a prefix. */
static int read_quant(h5ctx_t *c, hid_t g, const char *prefix, quant_kind_t kind, quant_t *q)
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
    if (bits < 1 || bits > 24 || integer < -24 || integer > bits)
        return upset_fail(c->err, "%s: %s: quantizer %sbits=%lld integer=%lld is out of range",
                          c->file, c->where, prefix, (long long)bits, (long long)integer);
    q->kind = kind;
    q->bits = (int)bits;
    q->integer = (int)integer;
    q->keep_negative = keep != 0;
    q->neg_shift = (int)shift;
    return 0;
}

static h5_shape_t shape1(int64_t n)
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

/* The stored kernel's shape, as Keras stores it. */
static h5_shape_t kernel_shape(const layer_t *L)
{
    if (L->kind == LAYER_DENSE)
        return (h5_shape_t){2, {L->cin, L->cout, 0, 0}};
    if (L->kind == LAYER_CONV2D_TRANSPOSE)
        return (h5_shape_t){4, {L->kh, L->kw, L->cout, L->cin}};
    if (L->kind == LAYER_DEPTHWISE_CONV2D)
        return (h5_shape_t){4, {L->kh, L->kw, L->cin, L->depth_mult}};
    return (h5_shape_t){4, {L->kh, L->kw, L->cin, L->cout}};
}

/* The optional per-channel shifts of QKeras alpha="auto_po2" (one per index of the
 * kernel's last axis); the codes then become integers on kq's grid (model.h). A shifted
 * code, flipped or not, stays within the 24 bits every quantizer is held to (bits + shift
 * <= 24), the bound the engine's exact int64 sums rest on. */
static int load_kernel_shift(h5ctx_t *c, hid_t g, layer_t *L)
{
    if (H5Lexists(g, "kernel_shift", H5P_DEFAULT) <= 0)
        return 0;
    const h5_shape_t ks = kernel_shape(L);
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

static int load_weights(h5ctx_t *c, hid_t g, layer_t *L)
{
    int64_t v;
    char act[64];
    if (h5_attr_int(c, g, "use_bias", &v))
        return -1;
    L->use_bias = v != 0;
    if (h5_attr_int(c, g, "quantized", &v))
        return -1;
    L->quantized = v != 0;
    if (h5_attr_string(c, g, "activation", act, sizeof act) || parse_act(c, act, &L->act))
        return -1;
    if (L->act == ACT_QRELU || L->act == ACT_QBITS)
        return upset_fail(c->err, "%s: %s: a quantized activation must be its own layer", c->file,
                          c->where);
    if (h5_alloc_read_floats(c, g, "kernel", &L->kernel, kernel_shape(L)))
        return -1;
    if (L->use_bias && h5_alloc_read_floats(c, g, "bias", &L->bias, shape1(L->cout)))
        return -1;
    if (!L->quantized)
        return 0;
    if (read_quant(c, g, "kernel_q_", QUANT_BITS, &L->kq) ||
        alloc_read_codes(c, g, "kernel_code", &L->kernel_code, kernel_shape(L), &L->kq) ||
        load_kernel_shift(c, g, L))
        return -1;
    if (L->use_bias && (read_quant(c, g, "bias_q_", QUANT_BITS, &L->bq) ||
                        alloc_read_codes(c, g, "bias_code", &L->bias_code, shape1(L->cout), &L->bq)))
        return -1;
    return 0;
}

/* Keras's output size of a convolution or pooling window: same: ceil(in / stride); valid:
 * floor((in - k) / stride) + 1, and none when the window is larger than the input. */
static int conv_out_dim(int in, int k, int stride, int same)
{
    return same ? (in + stride - 1) / stride : in < k ? 0 : (in - k) / stride + 1;
}

/* Two positive ints (pool_size, strides). */
static int read_pair(h5ctx_t *c, hid_t g, const char *name, int *a, int *b)
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
static int read_strides_padding(h5ctx_t *c, hid_t g, layer_t *L)
{
    char s[64];
    if (read_pair(c, g, "strides", &L->stride_h, &L->stride_w) ||
        h5_attr_string(c, g, "padding", s, sizeof s))
        return -1;
    if (strcmp(s, "same") && strcmp(s, "valid"))
        return upset_fail(c->err, "%s: %s: padding '%s' is not same or valid", c->file, c->where,
                          s);
    L->pad_same = !strcmp(s, "same");
    return 0;
}

/* max_pooling2d, average_pooling2d: Keras's output size (conv_out_dim), channels unchanged. */
static int load_pooling(h5ctx_t *c, hid_t g, layer_t *L)
{
    if (read_pair(c, g, "pool_size", &L->kh, &L->kw) || read_strides_padding(c, g, L))
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

/* Average pooling is exact only on codes: TensorFlow sums the window in float32, which is
 * exact (in any order) while every partial sum of codes stays below 2^24, and then divides
 * once, correctly rounded. So its input must come straight from a quantizer whose codes
 * keep window x 2^bits below 2^24; anything else is refused rather than approximated. */
static int check_average_input(h5ctx_t *c, const model_t *m, int i)
{
    const layer_t *L = &m->layers[i], *P = L->inputs[0] >= 0 ? &m->layers[L->inputs[0]] : NULL;
    const int quantizer = P && (P->kind == LAYER_QUANT_INPUT ||
                                (P->kind == LAYER_ACTIVATION &&
                                 (P->act == ACT_QRELU || P->act == ACT_QBITS)));
    if (!quantizer)
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

/* zero_padding2d: pads (top, bottom, left, right) rows and columns of zeros. */
static int load_zero_padding(h5ctx_t *c, hid_t g, layer_t *L)
{
    int64_t v[4];
    int n;
    if (h5_attr_ints(c, g, "pads", v, 4, &n))
        return -1;
    if (n != 4 || v[0] < 0 || v[1] < 0 || v[2] < 0 || v[3] < 0 || v[0] + v[1] > 4096 ||
        v[2] + v[3] > 4096)
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

/* A float bias after a quantized kernel (QKeras with no bias_quantizer): TensorFlow adds it
 * to the float32 sum, which is the batch norm with gamma 1, mean 0 and variance + epsilon
 * = 1 (both folds, float32 in model_prepare and double in sensitivity/net.c, then give a
 * scale of exactly 1 and an offset of exactly the bias). */
static int load_bias_add(h5ctx_t *c, hid_t g, layer_t *L)
{
    const size_t n = (size_t)L->out.c;
    if (h5_alloc_read_floats(c, g, "bias", &L->beta, shape1(L->out.c)))
        return -1;
    if (!(L->gamma = upset_calloc(n, sizeof(float), c->err)) ||
        !(L->moving_mean = upset_calloc(n, sizeof(float), c->err)) || /* zeros */
        !(L->moving_variance = upset_calloc(n, sizeof(float), c->err)))
        return -1;
    L->epsilon = 0.5;
    for (size_t k = 0; k < n; k++) {
        L->gamma[k] = 1.0f;
        L->moving_variance[k] = 0.5f;
    }
    return 0;
}

/* Fills the kind-specific fields of L from group g and checks shapes. */
static int load_layer(h5ctx_t *c, hid_t g, layer_t *L)
{
    char s[64];
    const int elementwise = L->kind == LAYER_QUANT_INPUT || L->kind == LAYER_ACTIVATION ||
                            L->kind == LAYER_BATCHNORM;
    if (elementwise && (L->in.h != L->out.h || L->in.w != L->out.w || L->in.c != L->out.c))
        return upset_fail(c->err, "%s: %s: %s layers keep their shape, but in_shape (%d, %d, %d) "
                                  "and out_shape (%d, %d, %d) differ",
                          c->file, c->where, layer_kind_name(L->kind), L->in.h, L->in.w, L->in.c,
                          L->out.h, L->out.w, L->out.c);
    switch (L->kind) {
    case LAYER_QUANT_INPUT:
        return read_quant(c, g, "q_", QUANT_BITS, &L->aq);
    case LAYER_ACTIVATION:
        if (h5_attr_string(c, g, "activation", s, sizeof s) || parse_act(c, s, &L->act))
            return -1;
        if (L->act == ACT_QRELU)
            return read_quant(c, g, "q_", QUANT_RELU, &L->aq);
        if (L->act == ACT_QBITS)
            return read_quant(c, g, "q_", QUANT_BITS, &L->aq);
        return 0;
    case LAYER_FLATTEN:
    case LAYER_RESHAPE:
        if (shape_size(L->in) != shape_size(L->out))
            return upset_fail(c->err, "%s: %s: %s changes the element count", c->file, c->where,
                              layer_kind_name(L->kind));
        return 0;
    case LAYER_BATCHNORM:
        if (L->bias_add)
            return load_bias_add(c, g, L);
        if (h5_attr_double(c, g, "epsilon", &L->epsilon))
            return -1;
        if (!(L->epsilon > 0 && L->epsilon < 1))
            return upset_fail(c->err, "%s: %s: epsilon = %g is not in (0, 1)", c->file, c->where,
                              L->epsilon);
        if (h5_alloc_read_floats(c, g, "gamma", &L->gamma, shape1(L->out.c)) ||
            h5_alloc_read_floats(c, g, "beta", &L->beta, shape1(L->out.c)) ||
            h5_alloc_read_floats(c, g, "moving_mean", &L->moving_mean, shape1(L->out.c)) ||
            h5_alloc_read_floats(c, g, "moving_variance", &L->moving_variance, shape1(L->out.c)))
            return -1;
        for (int k = 0; k < L->out.c; k++)
            if (L->moving_variance[k] < 0)
                return upset_fail(c->err, "%s: %s: moving_variance[%d] = %g is negative", c->file,
                                  c->where, k, L->moving_variance[k]);
        return 0;
    case LAYER_DENSE:
        L->cin = (int)shape_size(L->in);
        L->cout = (int)shape_size(L->out);
        L->kh = L->kw = 1;
        L->n_weights = (int64_t)L->cin * L->cout;
        return load_weights(c, g, L);
    case LAYER_MAX_POOLING2D:
    case LAYER_AVERAGE_POOLING2D:
        return load_pooling(c, g, L);
    case LAYER_ZERO_PADDING2D:
        return load_zero_padding(c, g, L);
    case LAYER_ADD:
    case LAYER_CONCATENATE:
        return 0; /* shapes: check_merge_shapes, which sees every input */
    case LAYER_CONV2D:
    case LAYER_CONV2D_TRANSPOSE:
    case LAYER_DEPTHWISE_CONV2D:
        break;
    default:
        return upset_fail(c->err, "%s: %s: unknown layer kind", c->file, c->where);
    }
    /* conv2d / conv2d_transpose: the kernel shape comes from the dataset itself */
    hsize_t dims[4] = {0};
    const int nd = h5_dataset_extents(g, "kernel", dims);
    if (nd <= 0)
        return upset_fail(c->err, "%s: %s: dataset 'kernel' is missing", c->file, c->where);
    if (nd != 4)
        return upset_fail(c->err, "%s: %s: conv kernel must have 4 dimensions, has %d", c->file,
                          c->where, nd);
    L->kh = (int)dims[0];
    L->kw = (int)dims[1];
    int transpose = L->kind == LAYER_CONV2D_TRANSPOSE;
    L->cin = (int)dims[transpose ? 3 : 2];
    L->cout = (int)dims[transpose ? 2 : 3];
    L->n_weights = (int64_t)L->kh * L->kw * L->cin * L->cout;
    if (L->kind == LAYER_DEPTHWISE_CONV2D) { /* (kh, kw, cin, depth_mult) */
        L->depth_mult = L->cout;
        if ((int64_t)L->cin * L->depth_mult > (1 << 20))
            return upset_fail(c->err, "%s: %s: %d x %d depthwise channels is absurd", c->file,
                              c->where, L->cin, L->depth_mult);
        L->cout = L->cin * L->depth_mult;
    }
    if (read_strides_padding(c, g, L))
        return -1;
    int eh, ew;
    if (transpose) {
        eh = L->pad_same ? L->in.h * L->stride_h : (L->in.h - 1) * L->stride_h + L->kh;
        ew = L->pad_same ? L->in.w * L->stride_w : (L->in.w - 1) * L->stride_w + L->kw;
    } else {
        eh = conv_out_dim(L->in.h, L->kh, L->stride_h, L->pad_same);
        ew = conv_out_dim(L->in.w, L->kw, L->stride_w, L->pad_same);
    }
    if (L->in.c != L->cin || L->out.c != L->cout || L->out.h != eh || L->out.w != ew)
        return upset_fail(c->err,
                          "%s: %s: shape mismatch: in (%d,%d,%d) out (%d,%d,%d) but kernel "
                          "%dx%d %d->%d stride %d gives (%d,%d,%d)",
                          c->file, c->where, L->in.h, L->in.w, L->in.c, L->out.h, L->out.w,
                          L->out.c, L->kh, L->kw, L->cin, L->cout, L->stride_h, eh, ew, L->cout);
    return load_weights(c, g, L);
}

static uint64_t file_checksum(const char *path)
{
    uint64_t h = FNV1A64_INIT_MODEL_DATA;
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    unsigned char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        h = fnv1a64(h, buf, n);
    fclose(f);
    return h;
}

static int same_shape(shape3_t a, shape3_t b) { return a.h == b.h && a.w == b.w && a.c == b.c; }

static shape3_t producer_shape(const model_t *m, int src)
{
    return src < 0 ? m->input : m->layers[src].out;
}

/* The optional `inputs` attribute: the layers a layer reads (default: the one before it).
 * Only layer 0 reads the model input (it alone may read it as exact integers). */
static int read_inputs(h5ctx_t *c, hid_t g, model_t *m, int i)
{
    layer_t *L = &m->layers[i];
    const int merge = L->kind == LAYER_ADD || L->kind == LAYER_CONCATENATE;
    L->n_inputs = 1;
    L->inputs[0] = i - 1;
    if (h5_has_attr(g, "inputs")) {
        int64_t v[UPSET_MAX_INPUTS];
        if (h5_attr_ints(c, g, "inputs", v, UPSET_MAX_INPUTS, &L->n_inputs))
            return -1;
        for (int k = 0; k < L->n_inputs; k++) {
            if (v[k] < (i == 0 && !merge ? -1 : 0) || v[k] >= i)
                return upset_fail(c->err,
                                  "%s: %s: inputs[%d] = %lld is not an earlier layer (0..%d%s)",
                                  c->file, c->where, k, (long long)v[k], i - 1,
                                  i == 0 ? ", or -1 for the model input" : "");
            L->inputs[k] = (int)v[k];
        }
    }
    if (merge && L->n_inputs < 2)
        return upset_fail(c->err, "%s: %s: %s needs at least two layers in 'inputs'", c->file,
                          c->where, layer_kind_name(L->kind));
    if (!merge && L->n_inputs != 1)
        return upset_fail(c->err, "%s: %s: a %s layer reads one input, 'inputs' lists %d",
                          c->file, c->where, layer_kind_name(L->kind), L->n_inputs);
    if (L->n_inputs != 1 || L->inputs[0] != i - 1)
        m->graph = 1;
    return 0;
}

/* in_shape is the (first) input's shape; add needs equal shapes, concatenate equal
 * (h, w) and the channels summed. */
static int check_input_shapes(h5ctx_t *c, const model_t *m, int i)
{
    const layer_t *L = &m->layers[i];
    const shape3_t p = producer_shape(m, L->inputs[0]);
    if (!same_shape(L->in, p))
        return upset_fail(c->err, "%s: %s: in_shape (%d, %d, %d) is not what %s gives (%d, %d, %d)",
                          c->file, c->where, L->in.h, L->in.w, L->in.c,
                          L->inputs[0] < 0 ? "the model's input_shape" : "its input layer", p.h,
                          p.w, p.c);
    if (L->kind != LAYER_ADD && L->kind != LAYER_CONCATENATE)
        return 0;
    int channels = 0;
    for (int k = 0; k < L->n_inputs; k++) {
        const shape3_t q = producer_shape(m, L->inputs[k]);
        const int ok = L->kind == LAYER_ADD ? same_shape(q, L->out)
                                            : q.h == L->out.h && q.w == L->out.w;
        if (!ok)
            return upset_fail(c->err, "%s: %s: input %d (layer %d) has shape (%d, %d, %d), which "
                                      "%s cannot combine into out_shape (%d, %d, %d)",
                              c->file, c->where, k, L->inputs[k], q.h, q.w, q.c,
                              layer_kind_name(L->kind), L->out.h, L->out.w, L->out.c);
        channels += q.c;
    }
    if (L->kind == LAYER_CONCATENATE && channels != L->out.c)
        return upset_fail(c->err, "%s: %s: the inputs have %d channels in all, out_shape has %d",
                          c->file, c->where, channels, L->out.c);
    return 0;
}

static int load_layers(h5ctx_t *c, hid_t file, model_t *m)
{
    char where[160];
    int64_t next_bit = 0;
    for (int i = 0; i < m->n_layers; i++) {
        layer_t *L = &m->layers[i];
        char gname[32], s[64];
        snprintf(gname, sizeof gname, "/layers/L%03d", i);
        snprintf(where, sizeof where, "layer %s", gname);
        c->where = where;
        if (H5Lexists(file, "/layers", H5P_DEFAULT) <= 0 ||
            H5Lexists(file, gname, H5P_DEFAULT) <= 0)
            return upset_fail(c->err, "%s: group %s is missing (n_layers = %d)", c->file, gname,
                              m->n_layers);
        hid_t g = H5Gopen2(file, gname, H5P_DEFAULT);
        int rc = h5_attr_string(c, g, "kind", s, sizeof s);
        if (!rc) {
            int k = 0;
            while (k < LAYER_KIND_COUNT && strcmp(KIND_NAMES[k], s))
                k++;
            if (!strcmp(s, "bias_add")) { /* a float bias: the batch norm y = x * 1 + bias */
                k = LAYER_BATCHNORM;
                L->bias_add = 1;
            }
            if (k == LAYER_KIND_COUNT) {
                char list[256] = "";
                for (int j = 0; j < LAYER_KIND_COUNT; j++)
                    snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
                             j ? ", " : "", KIND_NAMES[j]);
                rc = upset_fail(c->err, "%s: %s: unsupported layer kind '%s' (supported: %s, "
                                        "bias_add)",
                                c->file, where, s, list);
            }
            L->kind = (layer_kind_t)k;
        }
        if (!rc)
            rc = h5_attr_string(c, g, "name", L->name, sizeof L->name);
        if (!rc) {
            snprintf(where, sizeof where, "layer %s (%s)", gname, L->name);
            rc = h5_attr_string(c, g, "part", s, sizeof s);
        }
        if (!rc) {
            if (!strcmp(s, "encoder"))
                L->part = PART_ENCODER;
            else if (!strcmp(s, "decoder"))
                L->part = PART_DECODER;
            else if (!strcmp(s, "main"))
                L->part = PART_MAIN;
            else
                rc = upset_fail(c->err, "%s: %s: part '%s' is not encoder/decoder/main", c->file,
                                where, s);
        }
        int64_t f = 0;
        if (!rc)
            rc = h5_attr_int(c, g, "faultable", &f);
        L->faultable = f != 0;
        if (!rc)
            rc = read_shape(c, g, "in_shape", &L->in);
        if (!rc)
            rc = read_shape(c, g, "out_shape", &L->out);
        if (!rc)
            rc = read_inputs(c, g, m, i);
        if (!rc)
            rc = check_input_shapes(c, m, i);
        if (!rc)
            rc = load_layer(c, g, L);
        if (!rc && L->faultable && !(L->quantized && L->kernel_code))
            rc = upset_fail(c->err, "%s: %s: faultable layer has no quantized kernel", c->file,
                            where);
        H5Gclose(g);
        if (rc)
            return -1;
        if (L->faultable) {
            L->bit_first = next_bit;
            L->n_bits = L->n_weights * L->kq.bits;
            next_bit += L->n_bits;
        }
    }
    m->n_fault_bits = next_bit;
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].kind == LAYER_AVERAGE_POOLING2D && check_average_input(c, m, i))
            return -1;
    return 0;
}

int model_load(const char *path, model_t *m, upset_err_t *err)
{
    memset(m, 0, sizeof *m);
    snprintf(m->path, sizeof m->path, "%s", path);
    if (file_check_input(path, "a model file", err))
        return -1;
    if (H5Fis_hdf5(path) <= 0)
        return upset_fail(err, "%s: not an HDF5 file (truncated or corrupt model?)", path);
    h5_quiet_t quiet;
    hid_t file = h5_open_quiet(path, &quiet);
    int rc = -1;
    if (file < 0) {
        upset_fail(err, "%s: cannot open as HDF5 (truncated or corrupt model?)", path);
        goto out;
    }
    h5ctx_t c = {path, "/", err};
    char s[256];
    int64_t v;
    if (h5_attr_string(&c, file, "upset_format", s, sizeof s))
        goto out;
    if (strcmp(s, "upset-model")) {
        upset_fail(err, "%s: not an upset model (upset_format = '%s'); convert Keras models with "
                        "tools/import_qkeras.py", path, s);
        goto out;
    }
    if (h5_attr_int(&c, file, "format_version", &v))
        goto out;
    if (v != UPSET_MODEL_FORMAT_VERSION) {
        upset_fail(err, "%s: model format_version %lld is not supported (this upset reads %d)",
                   path, (long long)v, UPSET_MODEL_FORMAT_VERSION);
        goto out;
    }
    if (h5_attr_string(&c, file, "name", m->name, sizeof m->name) ||
        h5_attr_string(&c, file, "task", s, sizeof s))
        goto out;
    if (!strcmp(s, "classifier"))
        m->task = TASK_CLASSIFIER;
    else if (!strcmp(s, "autoencoder"))
        m->task = TASK_AUTOENCODER;
    else if (!strcmp(s, "encoder"))
        m->task = TASK_ENCODER;
    else {
        upset_fail(err, "%s: task '%s' is not classifier, autoencoder or encoder", path, s);
        goto out;
    }
    if (read_shape(&c, file, "input_shape", &m->input) || h5_attr_int(&c, file, "n_layers", &v))
        goto out;
    if (v < 1 || v > 4096) {
        upset_fail(err, "%s: n_layers = %lld is absurd", path, (long long)v);
        goto out;
    }
    m->n_layers = (int)v;
    m->layers = upset_calloc((size_t)m->n_layers, sizeof *m->layers, err);
    if (!m->layers || load_layers(&c, file, m))
        goto out;
    if (m->task == TASK_AUTOENCODER && model_encoder_last(m) < 0) {
        upset_fail(err, "%s: an autoencoder needs encoder and decoder layers", path);
        goto out;
    }
    if (model_prepare(m, err))
        goto out;
    m->checksum = file_checksum(path);
    rc = 0;
out:
    h5_close_quiet(file, &quiet);
    if (rc)
        model_free(m);
    return rc;
}

static void layer_free(layer_t *L)
{
    free(L->kernel);
    free(L->bias);
    free(L->kernel_code);
    free(L->kernel_shift);
    free(L->bias_code);
    free(L->gamma);
    free(L->beta);
    free(L->moving_mean);
    free(L->moving_variance);
    free(L->bn_scale);
    free(L->bn_offset);
    free(L->convt_w);
    free(L->dense_w);
    free(L->kernel_t16);
    free(L->kernel_p16);
}

/* Derived, read-only forms of the weights, computed once:
 * - TensorFlow's fused batch norm at inference folds its four vectors, in float32, into
 *   scale = gamma * rsqrt(var + eps) and offset = beta - mean * scale (engine/layers.c
 *   applies y = x * scale + offset);
 * - a float conv2d_transpose kernel as doubles in the order its fast loop reads them
 *   (float layers are never faulted, so it stays valid);
 * - quantized conv2d/dense codes as int16 in the narrow kernels' order (bitspace_flip
 *   keeps it in step with kernel_code). */
int model_prepare(model_t *m, upset_err_t *err)
{
    for (int l = 0; l < m->n_layers; l++) {
        layer_t *L = &m->layers[l];
        if (L->n_inputs == 0) { /* a model built by hand is a chain */
            L->n_inputs = 1;
            L->inputs[0] = l - 1;
        }
        if (L->kind == LAYER_DENSE && !L->quantized && !L->dense_w) {
            /* rows a cache line apart modulo 4 KB: a kernel reading one block of columns
             * down every row then uses every L1 set, where rows 4 KB apart (512 outputs)
             * would all fall into one set and evict each other */
            L->dense_ld = ((int64_t)L->cout + 7) / 8 * 8 + 8;
            L->dense_w = upset_calloc((size_t)(L->cin * L->dense_ld), sizeof *L->dense_w, err);
            if (!L->dense_w)
                return -1;
            for (int64_t i = 0; i < L->cin; i++)
                for (int64_t c = 0; c < L->cout; c++)
                    L->dense_w[i * L->dense_ld + c] = (double)L->kernel[i * L->cout + c];
        }
        if (L->kind == LAYER_CONV2D_TRANSPOSE && !L->quantized && !L->convt_w) {
            /* kernel (kh, kw, cout, cin) -> panels of (cin, kh * kw * cout) doubles */
            const int taps = L->kh * L->kw;
            L->convt_cols = ((int64_t)taps * L->cout + 7) / 8 * 8;
            L->convt_w = upset_calloc((size_t)(L->convt_cols * L->cin), sizeof *L->convt_w, err);
            if (!L->convt_w)
                return -1;
            for (int t = 0; t < taps; t++)
                for (int c = 0; c < L->cout; c++)
                    for (int ci = 0; ci < L->cin; ci++) {
                        const int64_t j = (int64_t)t * L->cout + c;
                        L->convt_w[((j / 8) * L->cin + ci) * 8 + j % 8] =
                            (double)L->kernel[((int64_t)t * L->cout + c) * L->cin + ci];
                    }
        }
        if ((L->kind == LAYER_CONV2D || L->kind == LAYER_DENSE) && L->quantized &&
            L->kq.bits + L->max_kernel_shift <= 15 && !L->kernel_t16) {
            const int64_t k = L->n_weights / L->cout;
            L->kernel_kp = (k + KERNEL_K_ALIGN - 1) / KERNEL_K_ALIGN * KERNEL_K_ALIGN;
            L->kernel_t16 = upset_calloc((size_t)(L->kernel_kp * L->cout), sizeof(int16_t), err);
            if (!L->kernel_t16)
                return -1;
            L->kernel_cout8 = (L->cout + 7) / 8 * 8;
            L->kernel_p16 = upset_calloc((size_t)(L->kernel_kp * L->kernel_cout8),
                                         sizeof(int16_t), err);
            if (!L->kernel_p16)
                return -1;
            for (int64_t w = 0; w < L->n_weights; w++) {
                L->kernel_t16[layer_t16_index(L, w)] = (int16_t)L->kernel_code[w];
                L->kernel_p16[layer_p16_index(L, w)] = (int16_t)L->kernel_code[w];
            }
        }
        if (L->kind != LAYER_BATCHNORM || L->bn_scale)
            continue;
        L->bn_scale = upset_calloc((size_t)L->out.c, sizeof *L->bn_scale, err);
        L->bn_offset = upset_calloc((size_t)L->out.c, sizeof *L->bn_offset, err);
        if (!L->bn_scale || !L->bn_offset)
            return -1;
        for (int k = 0; k < L->out.c; k++) {
            L->bn_scale[k] =
                L->gamma[k] * (1.0f / sqrtf(L->moving_variance[k] + (float)L->epsilon));
            L->bn_offset[k] = L->beta[k] - L->moving_mean[k] * L->bn_scale[k];
        }
    }
    return 0;
}

void model_free(model_t *m)
{
    if (!m)
        return;
    for (int i = 0; m->layers && i < m->n_layers; i++)
        layer_free(&m->layers[i]);
    free(m->layers);
    m->layers = NULL;
    m->n_layers = 0;
}

static int dup_array(void **dst, const void *src, size_t bytes, upset_err_t *err)
{
    *dst = NULL;
    if (!src)
        return 0;
    *dst = malloc(bytes);
    if (!*dst)
        return upset_fail(err, "out of memory copying a model");
    memcpy(*dst, src, bytes);
    return 0;
}

int model_clone(const model_t *src, model_t *dst, upset_err_t *err)
{
    *dst = *src;
    dst->layers = upset_calloc((size_t)src->n_layers, sizeof *dst->layers, err);
    if (!dst->layers)
        return -1;
    for (int i = 0; i < src->n_layers; i++) {
        const layer_t *S = &src->layers[i];
        layer_t *D = &dst->layers[i];
        *D = *S;
        size_t c = S->kind == LAYER_BATCHNORM ? (size_t)S->out.c * sizeof(float) : 0;
        if (dup_array((void **)&D->kernel, S->kernel, (size_t)S->n_weights * sizeof(float), err) ||
            dup_array((void **)&D->bias, S->bias, (size_t)S->cout * sizeof(float), err) ||
            dup_array((void **)&D->kernel_code, S->kernel_code,
                      (size_t)S->n_weights * sizeof(int32_t), err) ||
            dup_array((void **)&D->kernel_shift, S->kernel_shift,
                      (size_t)S->n_kernel_shift * sizeof(int32_t), err) ||
            dup_array((void **)&D->bias_code, S->bias_code, (size_t)S->cout * sizeof(int32_t),
                      err) ||
            dup_array((void **)&D->gamma, S->gamma, c, err) ||
            dup_array((void **)&D->beta, S->beta, c, err) ||
            dup_array((void **)&D->moving_mean, S->moving_mean, c, err) ||
            dup_array((void **)&D->moving_variance, S->moving_variance, c, err) ||
            dup_array((void **)&D->bn_scale, S->bn_scale, c, err) ||
            dup_array((void **)&D->bn_offset, S->bn_offset, c, err) ||
            dup_array((void **)&D->convt_w, S->convt_w,
                      S->convt_w ? (size_t)(S->convt_cols * S->cin) * sizeof(double) : 0, err) ||
            dup_array((void **)&D->dense_w, S->dense_w,
                      S->dense_w ? (size_t)(S->cin * S->dense_ld) * sizeof(double) : 0, err) ||
            dup_array((void **)&D->kernel_t16, S->kernel_t16,
                      (size_t)(S->kernel_kp * S->cout) * sizeof(int16_t), err) ||
            dup_array((void **)&D->kernel_p16, S->kernel_p16,
                      (size_t)(S->kernel_kp * S->kernel_cout8) * sizeof(int16_t), err)) {
            dst->n_layers = i + 1;
            model_free(dst);
            return -1;
        }
    }
    return 0;
}

int model_encoder_last(const model_t *m)
{
    int last = -1, has_decoder = 0;
    for (int i = 0; i < m->n_layers; i++) {
        if (m->layers[i].part == PART_ENCODER)
            last = i;
        if (m->layers[i].part == PART_DECODER)
            has_decoder = 1;
    }
    return has_decoder ? last : -1;
}
