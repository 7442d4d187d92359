/* The layer registry and what the kinds share. One ops table per kind lives in
 * layer_<kind>.c; shapes were validated by the loader. */
#include <math.h>
#include <stdlib.h>

#include "layer.h"
#include "upset/kernels.h"

static const layer_ops_t *const REGISTRY[LAYER_KIND_COUNT] = {
    [LAYER_QUANT_INPUT] = &LAYER_OPS_QUANT_INPUT,
    [LAYER_CONV2D] = &LAYER_OPS_CONV2D,
    [LAYER_CONV2D_TRANSPOSE] = &LAYER_OPS_CONV2D_TRANSPOSE,
    [LAYER_DENSE] = &LAYER_OPS_DENSE,
    [LAYER_BATCHNORM] = &LAYER_OPS_BATCHNORM,
    [LAYER_ACTIVATION] = &LAYER_OPS_ACTIVATION,
    [LAYER_FLATTEN] = &LAYER_OPS_RESHAPE,
    [LAYER_RESHAPE] = &LAYER_OPS_RESHAPE,
    [LAYER_MAX_POOLING2D] = &LAYER_OPS_MAX_POOLING2D,
    [LAYER_ZERO_PADDING2D] = &LAYER_OPS_ZERO_PADDING2D,
    [LAYER_AVERAGE_POOLING2D] = &LAYER_OPS_AVERAGE_POOLING2D,
    [LAYER_DEPTHWISE_CONV2D] = &LAYER_OPS_DEPTHWISE_CONV2D,
    [LAYER_ADD] = &LAYER_OPS_MERGE,
    [LAYER_CONCATENATE] = &LAYER_OPS_MERGE,
};

int layer_forward(const layer_t *L, const tensor_t *in, tensor_t *out, upset_err_t *err)
{
    return REGISTRY[L->kind]->forward(L, in, out, err);
}

int layer_is_elementwise(const layer_t *L)
{
    const layer_ops_t *ops = REGISTRY[L->kind];
    return ops->elementwise && ops->elementwise(L);
}

void layer_forward_at(const layer_t *L, const tensor_t *in, tensor_t *out, int64_t i)
{
    REGISTRY[L->kind]->at(L, in, out, i);
}

void layer_forward_list(const layer_t *L, const tensor_t *in, tensor_t *out, const int64_t *pos,
                        int64_t n)
{
    REGISTRY[L->kind]->at_list(L, in, out, pos, n);
}

int64_t layer_macs(const layer_t *L)
{
    const int64_t per_pixel = (int64_t)L->kh * L->kw * L->cin * L->cout;
    switch (L->kind) {
    case LAYER_CONV2D:
        return (int64_t)L->out.h * L->out.w * per_pixel;
    case LAYER_CONV2D_TRANSPOSE:
        return (int64_t)L->in.h * L->in.w * per_pixel;
    case LAYER_DENSE:
        return (int64_t)L->cin * L->cout;
    case LAYER_DEPTHWISE_CONV2D: /* each output channel reads one input channel */
        return (int64_t)L->out.h * L->out.w * L->kh * L->kw * L->cout;
    default:
        return 0;
    }
}

/* ---- shared helpers ---- */

int same_pad_before(int in, int out, int k, int stride)
{
    int total = (out - 1) * stride + k - in;
    return total > 0 ? total / 2 : 0;
}

void conv_padding(const layer_t *L, int *ph, int *pw)
{
    *ph = L->pad_same ? same_pad_before(L->in.h, L->out.h, L->kh, L->stride_h) : 0;
    *pw = L->pad_same ? same_pad_before(L->in.w, L->out.w, L->kw, L->stride_w) : 0;
}

void convt_padding(const layer_t *L, int *ph, int *pw)
{
    *ph = L->pad_same ? same_pad_before(L->out.h, L->in.h, L->kh, L->stride_h) : 0;
    *pw = L->pad_same ? same_pad_before(L->out.w, L->in.w, L->kw, L->stride_w) : 0;
}

double weight_value(const layer_t *L, int64_t i)
{
    return L->quantized ? quant_value(&L->kq, L->kernel_code[i]) : (double)L->kernel[i];
}

void apply_real_activation(act_t act, double *v, int64_t n)
{
    if (act == ACT_RELU) {
        kernel_relu_f64(v, n);
    } else if (act == ACT_SIGMOID) {
        for (int64_t i = 0; i < n; i++)
            v[i] = 1.0 / (1.0 + exp(-v[i]));
    } else if (act == ACT_SOFTMAX) {
        double mx = -INFINITY, sum = 0;
        for (int64_t i = 0; i < n; i++)
            mx = v[i] > mx ? v[i] : mx;
        for (int64_t i = 0; i < n; i++)
            sum += (v[i] = exp(v[i] - mx));
        for (int64_t i = 0; i < n; i++)
            v[i] /= sum;
    }
}

int scratch_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    void *q = realloc(*p, need * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = need;
    return 0;
}

void layer_at_all(const layer_t *L, const tensor_t *in, tensor_t *out)
{
    const layer_ops_t *ops = REGISTRY[L->kind];
    for (int64_t i = 0; i < out->n; i++)
        ops->at(L, in, out, i);
}

void layer_at_each(const layer_t *L, const tensor_t *in, tensor_t *out, const int64_t *pos,
                   int64_t n)
{
    const layer_ops_t *ops = REGISTRY[L->kind];
    for (int64_t j = 0; j < n; j++)
        ops->at(L, in, out, pos[j]);
}
