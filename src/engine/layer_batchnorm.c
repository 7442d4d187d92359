/* TensorFlow's fused batch norm at inference, in float32: y = x * scale + offset with
 * the coefficients model_prepare folded. */
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

const layer_ops_t LAYER_OPS_BATCHNORM = {"batchnorm", fwd_batchnorm, always, bn_at, layer_at_each};

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
