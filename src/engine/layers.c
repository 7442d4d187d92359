/* The layer registry and what the kinds share. One ops table per kind lives in
 * layer_<kind>.c; shapes were validated by the loader. */
#include <math.h>
#include <stdio.h>
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
    [LAYER_UP_SAMPLING2D] = &LAYER_OPS_UP_SAMPLING2D,
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

const char *layer_registry_gap(void)
{
    static char why[96];
    for (int k = 0; k < LAYER_KIND_COUNT; k++) {
        const layer_ops_t *ops = REGISTRY[k];
        const layer_t L = {.kind = (layer_kind_t)k};
        const layer_diff_t d = ops && ops->diff ? ops->diff(&L) : DIFF_NONE;
        const char *gap = NULL;
        if (!ops)
            gap = "no row";
        else if (!ops->name || !ops->forward)
            gap = "no forward";
        else if (ops->elementwise && (!ops->at || !ops->at_list))
            gap = "elementwise without at / at_list";
        else if (ops->diff == linear_diff && !ops->blocks)
            gap = "a linear map without blocks";
        else if ((d == DIFF_MAXPOOL || d == DIFF_AVGPOOL || d == DIFF_ZEROPAD) && !ops->window)
            gap = "a window step without a window table";
        if (gap) {
            snprintf(why, sizeof why, "%s: %s", layer_kind_name((layer_kind_t)k), gap);
            return why;
        }
    }
    return NULL;
}

int64_t layer_macs(const layer_t *L)
{
    const layer_ops_t *ops = REGISTRY[L->kind];
    return ops->macs ? ops->macs(L) : 0;
}

int layer_kind_load(h5ctx_t *c, hid_t g, layer_t *L)
{
    const layer_ops_t *ops = REGISTRY[L->kind];
    if (!ops->multi_input && L->n_inputs != 1)
        return upset_fail(c->err, "%s: %s: a %s layer reads one input, 'inputs' lists %d",
                          c->file, c->where, layer_kind_name(L->kind), L->n_inputs);
    if (ops->multi_input && L->n_inputs < 2)
        return upset_fail(c->err, "%s: %s: %s needs at least two layers in 'inputs'", c->file,
                          c->where, layer_kind_name(L->kind));
    return ops->load ? ops->load(c, g, L) : 0;
}

int layer_kind_prepare(layer_t *L, upset_err_t *err)
{
    const layer_ops_t *ops = REGISTRY[L->kind];
    return ops->prepare ? ops->prepare(L, err) : 0;
}

int layer_kind_multi_input(layer_kind_t k) { return REGISTRY[k]->multi_input; }

int layer_kind_check(h5ctx_t *c, const model_t *m, int i)
{
    const layer_ops_t *ops = REGISTRY[m->layers[i].kind];
    return ops->check ? ops->check(c, m, i) : 0;
}

void layer_out_type(const layer_t *L, const tensor_kind_t *in_kind, const int *in_frac,
                    int input_exact, tensor_kind_t *kind, int *frac)
{
    const layer_ops_t *ops = REGISTRY[L->kind];
    *kind = in_kind[0];
    *frac = in_frac[0];
    if (ops->out_type)
        ops->out_type(L, in_kind, in_frac, input_exact, kind, frac);
}

int layer_has_feeds(const layer_t *L) { return REGISTRY[L->kind]->feeds != NULL; }

int64_t layer_feeds(const layer_t *L, int64_t w, int64_t *out_pos, int64_t *in_pos)
{
    return REGISTRY[L->kind]->feeds(L, w, out_pos, in_pos);
}

layer_diff_t layer_diff(const layer_t *L)
{
    const layer_ops_t *ops = REGISTRY[L->kind];
    return ops->diff ? ops->diff(L) : DIFF_NONE;
}

linear_block_t layer_linear_block(const layer_t *L) { return REGISTRY[L->kind]->block; }

void layer_linear_blocks(const layer_t *L, linear_visit_t visit, void *ctx)
{
    REGISTRY[L->kind]->blocks(L, visit, ctx);
}

int64_t *layer_window(const layer_t *L, int *wlen, upset_err_t *err)
{
    return REGISTRY[L->kind]->window(L, wlen, err);
}

/* ---- shared helpers ---- */

void out_type_real(const layer_t *L, const tensor_kind_t *in_kind, const int *in_frac,
                   int input_exact, tensor_kind_t *kind, int *frac)
{
    (void)L, (void)in_kind, (void)in_frac, (void)input_exact, (void)frac;
    *kind = TENSOR_REAL;
}

void out_type_codes(const layer_t *L, const tensor_kind_t *in_kind, const int *in_frac,
                    int input_exact, tensor_kind_t *kind, int *frac)
{
    (void)in_kind, (void)in_frac, (void)input_exact;
    *kind = TENSOR_FIXED;
    *frac = quant_frac(&L->aq);
}

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

void apply_real_activation(act_t act, double *v, int64_t n, int64_t group)
{
    if (act == ACT_RELU) {
        kernel_relu_f64(v, n);
    } else if (act == ACT_SIGMOID) {
        for (int64_t i = 0; i < n; i++)
            v[i] = 1.0 / (1.0 + exp(-v[i]));
    } else if (act == ACT_SOFTMAX) {
        kernel_softmax_f64(v, v, n, group);
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
