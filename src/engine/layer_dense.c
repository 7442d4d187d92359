/* Dense: exact integers when quantized on an exact input (layer_linear.c), else double. */
#include "layer.h"

static int fwd_dense(const layer_t *L, const tensor_t *in, tensor_t *out, upset_err_t *err)
{
    (void)err;
    if (out->kind == TENSOR_FIXED) {
        if (narrow_linear(L, in, out) == 0)
            return 0;
        int64_t sum[L->cout];
        layer_pixel_sums(L, in->fixed, 0, 0, L->cout, sum);
        fixed_pixel(L, fixed_align(L, in, out), out->fixed, sum);
        return 0;
    }
    for (int c = 0; c < L->cout; c++)
        out->real[c] = bias_value(L, c);
    double w[L->quantized ? L->cout : 1];
    for (int i = 0; i < L->cin; i++) {
        double x = tensor_value(in, i);
        if (x == 0)
            continue;
        const int64_t row = (int64_t)i * L->cout;
        if (L->quantized) {
            for (int c = 0; c < L->cout; c++)
                w[c] = weight_value(L, row + c);
            for (int c = 0; c < L->cout; c++)
                out->real[c] += x * w[c];
        } else {
            const float *wf = L->kernel + row;
            for (int c = 0; c < L->cout; c++)
                out->real[c] += x * (double)wf[c];
        }
    }
    apply_real_activation(L->act, out->real, L->cout);
    return 0;
}

const layer_ops_t LAYER_OPS_DENSE = {"dense", fwd_dense, NULL, NULL, NULL};
