/* TensorFlow's fused batch norm at inference, in float32: y = x * scale + offset with
 * the coefficients model_prepare folded. */
#include <math.h>

#include "layer.h"
#include "upset/kernels.h"

static double batchnorm_at(const layer_t *L, double in, int k)
{
    float y = (float)in * L->bn_scale[k];
    return (double)(y + L->bn_offset[k]);
}

static double input_at(const tensor_t *in, int64_t p)
{
    return in->kind == TENSOR_FIXED ? (double)in->fixed[p] * in->scale : in->real[p];
}

static int fwd_batchnorm(const layer_t *L, const tensor_t *in, tensor_t *out, upset_err_t *err)
{
    (void)err;
    const int c = L->out.c;
    const int fixed = in->kind == TENSOR_FIXED;
    if (kernel_batchnorm(fixed ? in->fixed : NULL, fixed ? NULL : in->real, in->scale, out->n, c,
                         L->bn_scale, L->bn_offset, out->real) == 0)
        return 0;
    for (int64_t p = 0; p < out->n; p += c)
        for (int k = 0; k < c; k++)
            out->real[p + k] = batchnorm_at(L, input_at(in, p + k), k);
    return 0;
}

static int always(const layer_t *L)
{
    (void)L;
    return 1;
}

static void bn_at(const layer_t *L, const tensor_t *in, tensor_t *out, int64_t i)
{
    out->real[i] = batchnorm_at(L, input_at(in, i), (int)(i % L->out.c));
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

static int load_batchnorm(h5ctx_t *c, hid_t g, layer_t *L)
{
    if (load_same_shape(c, L))
        return -1;
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
}

/* TensorFlow's fused batch norm at inference folds its four vectors, in float32, into
 * scale = gamma * rsqrt(var + eps) and offset = beta - mean * scale. */
static int prepare_batchnorm(layer_t *L, upset_err_t *err)
{
    if (L->bn_scale)
        return 0;
    L->bn_scale = upset_calloc((size_t)L->out.c, sizeof *L->bn_scale, err);
    L->bn_offset = upset_calloc((size_t)L->out.c, sizeof *L->bn_offset, err);
    if (!L->bn_scale || !L->bn_offset)
        return -1;
    for (int k = 0; k < L->out.c; k++) {
        L->bn_scale[k] = L->gamma[k] * (1.0f / sqrtf(L->moving_variance[k] + (float)L->epsilon));
        L->bn_offset[k] = L->beta[k] - L->moving_mean[k] * L->bn_scale[k];
    }
    return 0;
}

static layer_diff_t bn_diff(const layer_t *L)
{
    (void)L;
    return DIFF_BN;
}

const layer_ops_t LAYER_OPS_BATCHNORM = {
    .name = "batchnorm", .load = load_batchnorm, .prepare = prepare_batchnorm,
    .out_type = out_type_real, .forward = fwd_batchnorm, .elementwise = always, .at = bn_at,
    .at_list = layer_at_each, .diff = bn_diff};

int batchnorm_quantize_span(const layer_t *L, const layer_t *Q, const tensor_t *in,
                            tensor_t *codes, int64_t start, int64_t n)
{
    const int fixed = in->kind == TENSOR_FIXED;
    return kernel_batchnorm_quantize(fixed ? in->fixed + start : NULL,
                                     fixed ? NULL : in->real + start, in->scale, n, L->out.c,
                                     L->bn_scale, L->bn_offset, &Q->aq, codes->fixed + start);
}

int batchnorm_quantize(const layer_t *L, const layer_t *Q, const tensor_t *in, tensor_t *codes)
{
    return batchnorm_quantize_span(L, Q, in, codes, 0, codes->n);
}
