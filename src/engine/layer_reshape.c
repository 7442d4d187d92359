/* flatten and reshape: the same C-order values under another shape. */
#include <string.h>

#include "layer.h"

static int always(const layer_t *L)
{
    (void)L;
    return 1;
}

static void copy_at(const layer_t *L, const tensor_t *in, tensor_t *out, int64_t i)
{
    (void)L;
    if (out->kind == TENSOR_FIXED)
        out->fixed[i] = in->fixed[i];
    else
        out->real[i] = tensor_value(in, i);
}

static int fwd_copy(const layer_t *L, const tensor_t *in, tensor_t *out, upset_err_t *err)
{
    (void)err;
    if (in->kind == out->kind && (in->fixed ? in->fixed == out->fixed : in->real == out->real))
        return 0; /* the engine shares the buffer (engine_t.alias) */
    if (in->kind == TENSOR_FIXED && out->kind == TENSOR_FIXED)
        memcpy(out->fixed, in->fixed, (size_t)out->n * sizeof *out->fixed);
    else if (in->kind == TENSOR_REAL && out->kind == TENSOR_REAL)
        memcpy(out->real, in->real, (size_t)out->n * sizeof *out->real);
    else
        layer_at_all(L, in, out);
    return 0;
}

static void copy_list(const layer_t *L, const tensor_t *in, tensor_t *out, const int64_t *pos,
                      int64_t n)
{
    if (in->kind == TENSOR_FIXED && out->kind == TENSOR_FIXED && in->fixed == out->fixed)
        return; /* shared buffer */
    if (in->kind == TENSOR_FIXED && out->kind == TENSOR_FIXED)
        for (int64_t j = 0; j < n; j++)
            out->fixed[pos[j]] = in->fixed[pos[j]];
    else
        layer_at_each(L, in, out, pos, n);
}

static int load_reshape(h5ctx_t *c, hid_t g, layer_t *L)
{
    (void)g;
    if (shape_size(L->in) != shape_size(L->out))
        return upset_fail(c->err, "%s: %s: %s changes the element count", c->file, c->where,
                          layer_kind_name(L->kind));
    return 0;
}

static layer_diff_t copy_diff(const layer_t *L)
{
    (void)L;
    return DIFF_COPY;
}

const layer_ops_t LAYER_OPS_RESHAPE = {.name = "reshape", .load = load_reshape,
                                       .forward = fwd_copy, .elementwise = always,
                                       .at = copy_at, .at_list = copy_list, .diff = copy_diff};
