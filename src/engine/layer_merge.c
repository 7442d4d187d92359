/* add and concatenate: the layers of a graph model that read several tensors
 * (Keras Add, Concatenate along the channel axis).
 *
 * Fixed-point inputs give a fixed-point output at the finest input frac: the sum of the
 * aligned integers is exact, as TensorFlow's float32 sum is while it stays below 2^24
 * units (the assumption every quantized convolution here rests on). Otherwise the output
 * is a float tensor and add reproduces Keras's float32 arithmetic: out = in0, then
 * out += in_k in input order, each sum rounded to float32 (computed in double and rounded
 * once, which is exactly float32's correctly rounded sum: double has more than 2 x 24 + 2
 * bits). In an autoencoder's float decoder, which upset runs in double, the sum stays in
 * double. Concatenate only copies values, so it is exact in every representation. */
#include "layer.h"

static int64_t shifted(const tensor_t *t, int64_t i, int frac)
{
    return t->fixed[i] * ((int64_t)1 << (frac - t->frac));
}

static void add_forward(const layer_t *L, const tensor_t *const *in, tensor_t *out)
{
    const int n = L->n_inputs;
    if (out->kind == TENSOR_FIXED) {
        for (int64_t i = 0; i < out->n; i++) {
            int64_t s = 0;
            for (int k = 0; k < n; k++)
                s += shifted(in[k], i, out->frac);
            out->fixed[i] = s;
        }
        return;
    }
    const int float32 = L->part != PART_DECODER;
    for (int64_t i = 0; i < out->n; i++) {
        double s = tensor_value(in[0], i);
        if (float32)
            s = (float)s;
        for (int k = 1; k < n; k++) {
            const double v = tensor_value(in[k], i);
            s = float32 ? (double)(float)(s + (double)(float)v) : s + v;
        }
        out->real[i] = s;
    }
}

static void concatenate_forward(const layer_t *L, const tensor_t *const *in, tensor_t *out)
{
    const int64_t pixels = (int64_t)L->out.h * L->out.w;
    int c0 = 0;
    for (int k = 0; k < L->n_inputs; k++) {
        const tensor_t *t = in[k];
        const int c = (int)(t->n / pixels);
        for (int64_t p = 0; p < pixels; p++)
            for (int j = 0; j < c; j++) {
                const int64_t src = p * c + j, dst = p * L->out.c + c0 + j;
                if (out->kind == TENSOR_FIXED)
                    out->fixed[dst] = shifted(t, src, out->frac);
                else
                    out->real[dst] = tensor_value(t, src);
            }
        c0 += c;
    }
}

int layer_merge(const layer_t *L, const tensor_t *const *in, tensor_t *out, upset_err_t *err)
{
    if (L->kind == LAYER_ADD)
        add_forward(L, in, out);
    else if (L->kind == LAYER_CONCATENATE)
        concatenate_forward(L, in, out);
    else
        return upset_fail(err, "layer %s: %s does not read several inputs", L->name,
                          layer_kind_name(L->kind));
    return 0;
}

/* The registry's row: a merge never runs on one tensor (engine.c calls layer_merge). */
static int single_forward(const layer_t *L, const tensor_t *in, tensor_t *out, upset_err_t *err)
{
    (void)in;
    (void)out;
    return upset_fail(err, "layer %s: %s reads several inputs", L->name, layer_kind_name(L->kind));
}

/* Add needs inputs of its out_shape; concatenate equal (h, w) and the channels summed. */
static int check_merge(h5ctx_t *c, const model_t *m, int i)
{
    const layer_t *L = &m->layers[i];
    int channels = 0;
    for (int k = 0; k < L->n_inputs; k++) {
        const shape3_t q = m->layers[L->inputs[k]].out;
        const int ok = L->kind == LAYER_ADD
                           ? q.h == L->out.h && q.w == L->out.w && q.c == L->out.c
                           : q.h == L->out.h && q.w == L->out.w;
        if (!ok)
            return upset_fail(c->err, "%s: %s: input %d (layer %d) has shape (%d, %d, %d), "
                                      "which %s cannot combine into out_shape (%d, %d, %d)",
                              c->file, c->where, k, L->inputs[k], q.h, q.w, q.c,
                              layer_kind_name(L->kind), L->out.h, L->out.w, L->out.c);
        channels += q.c;
    }
    if (L->kind == LAYER_CONCATENATE && channels != L->out.c)
        return upset_fail(c->err, "%s: %s: the inputs have %d channels in all, out_shape has %d",
                          c->file, c->where, channels, L->out.c);
    return 0;
}

/* Fixed-point when every input is (at the finest input frac, where the exact sum or the
 * copy loses nothing), else a float tensor. */
static void merge_out_type(const layer_t *L, const tensor_kind_t *in_kind, const int *in_frac,
                           int input_exact, tensor_kind_t *kind, int *frac)
{
    (void)input_exact;
    *kind = TENSOR_FIXED;
    *frac = 0;
    for (int k = 0; k < L->n_inputs; k++) {
        if (in_kind[k] != TENSOR_FIXED)
            *kind = TENSOR_REAL;
        *frac = in_frac[k] > *frac ? in_frac[k] : *frac;
    }
    if (*kind == TENSOR_REAL)
        *frac = 0;
}

static layer_diff_t merge_diff(const layer_t *L)
{
    return L->kind == LAYER_ADD ? DIFF_ADD : DIFF_CONCAT;
}

const layer_ops_t LAYER_OPS_MERGE = {.name = "merge", .multi_input = 1, .check = check_merge,
                                     .out_type = merge_out_type, .forward = single_forward,
                                     .diff = merge_diff};
