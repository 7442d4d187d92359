/* Dense: exact integers when quantized on an exact input (layer_linear.c), else double. */
#include "layer.h"
#include "upset/kernels.h"

/* Heap scratch kept per process (ranks are processes): a model's sizes never decide the
 * stack's. */
static struct {
    int64_t *sum;
    double *w, *x;
    int32_t *idx;
    size_t cap_sum, cap_w, cap_x, cap_idx;
} scratch;

static int fwd_dense(const layer_t *L, const tensor_t *in, tensor_t *out, upset_err_t *err)
{
    if (scratch_grow((void **)&scratch.sum, &scratch.cap_sum, (size_t)L->cout, sizeof(int64_t)) ||
        scratch_grow((void **)&scratch.w, &scratch.cap_w, (size_t)L->cout, sizeof(double)))
        return upset_fail(err, "layer %s: out of memory", L->name);
    if (out->kind == TENSOR_FIXED) {
        if (narrow_linear(L, in, out) == 0)
            return 0;
        int64_t *sum = scratch.sum;
        layer_pixel_sums(L, in->fixed, 0, 0, L->cout, sum);
        fixed_pixel(L, fixed_align(L, in, out), out->fixed, sum);
        return 0;
    }
    for (int c = 0; c < L->cout; c++)
        out->real[c] = bias_value(L, c);
    if (!L->quantized) { /* float weights as doubles (model_prepare): all rows at once */
        if (scratch_grow((void **)&scratch.x, &scratch.cap_x, (size_t)L->cin, sizeof(double)) ||
            scratch_grow((void **)&scratch.idx, &scratch.cap_idx, (size_t)L->cin,
                         sizeof(int32_t)))
            return upset_fail(err, "layer %s: out of memory", L->name);
        int nx = 0;
        for (int i = 0; i < L->cin; i++) {
            const double x = tensor_value(in, i);
            scratch.x[nx] = x, scratch.idx[nx] = i;
            nx += x != 0;
        }
        kernel_axpy_rows_f64(out->real, scratch.x, scratch.idx, nx, L->dense_w, L->dense_ld,
                             L->cout);
    } else {
        for (int i = 0; i < L->cin; i++) {
            const double x = tensor_value(in, i);
            if (x == 0)
                continue;
            const int64_t row = (int64_t)i * L->cout;
            for (int c = 0; c < L->cout; c++) /* the current codes' values (flips show up) */
                scratch.w[c] = weight_value(L, row + c);
            kernel_axpy_f64(out->real, x, scratch.w, L->cout);
        }
    }
    apply_real_activation(L->act, out->real, L->cout, L->out.c);
    return 0;
}

static int load_dense(h5ctx_t *c, hid_t g, layer_t *L)
{
    L->cin = (int)shape_size(L->in);
    L->cout = (int)shape_size(L->out);
    L->kh = L->kw = 1;
    L->n_weights = (int64_t)L->cin * L->cout;
    return load_weights(c, g, L, (h5_shape_t){2, {L->cin, L->cout, 0, 0}});
}

/* A float dense layer's weights as doubles (the float dense path), and the quantized
 * one's int16 codes. */
static int prepare_dense(layer_t *L, upset_err_t *err)
{
    if (L->quantized)
        return linear_prepare_narrow(L, err);
    if (L->dense_w)
        return 0;
    /* rows a cache line apart modulo 4 KB: a kernel reading one block of columns down every
     * row then uses every L1 set, where rows 4 KB apart (512 outputs) would all fall into
     * one set and evict each other */
    L->dense_ld = ((int64_t)L->cout + 7) / 8 * 8 + 8;
    L->dense_w = upset_calloc_lines((size_t)(L->cin * L->dense_ld), sizeof *L->dense_w, err);
    if (!L->dense_w)
        return -1;
    for (int64_t i = 0; i < L->cin; i++)
        for (int64_t c = 0; c < L->cout; c++)
            L->dense_w[i * L->dense_ld + c] = (double)L->kernel[i * L->cout + c];
    return 0;
}

static int64_t dense_macs(const layer_t *L) { return (int64_t)L->cin * L->cout; }

/* Weight (ci, co) feeds output co from input ci. */
static int64_t dense_feeds(const layer_t *L, int64_t w, int64_t *out_pos, int64_t *in_pos)
{
    out_pos[0] = w % L->cout;
    in_pos[0] = w / L->cout;
    return 1;
}

/* One block: the whole kernel. */
static void dense_blocks(const layer_t *L, linear_visit_t visit, void *ctx)
{
    (void)L;
    visit(ctx, 0, 0, 0);
}

const layer_ops_t LAYER_OPS_DENSE = {
    .name = "dense", .load = load_dense, .prepare = prepare_dense, .out_type = linear_out_type,
    .macs = dense_macs, .forward = fwd_dense, .feeds = dense_feeds, .diff = linear_diff,
    .block = BLOCK_CI_CO, .blocks = dense_blocks};
