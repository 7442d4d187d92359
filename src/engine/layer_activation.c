/* Activations (linear, relu, sigmoid, softmax, quantized_relu, quantized_bits) and the
 * input quantizer: a quantizer rounds half to even and clips (fixed.h); a quantizer
 * after a float32 layer first rounds its input to float32, as TensorFlow does. */
#include <math.h>

#include "layer.h"
#include "upset/kernels.h"

static void activation_at(const layer_t *L, const tensor_t *in, tensor_t *out, int64_t i)
{
    if (layer_is_quantizer(L)) {
        out->fixed[i] = in->kind == TENSOR_FIXED
                            ? quant_code_from_fixed(&L->aq, in->fixed[i], in->frac)
                            : quant_code_from_double(&L->aq, (double)(float)in->real[i]);
    } else if (out->kind == TENSOR_FIXED) { /* linear or relu on exact integers */
        out->fixed[i] = (L->act == ACT_RELU && in->fixed[i] < 0) ? 0 : in->fixed[i];
    } else {
        double v = tensor_value(in, i);
        if (L->act == ACT_RELU)
            v = v > 0 ? v : 0;
        else if (L->act == ACT_SIGMOID)
            v = 1.0 / (1.0 + exp(-v));
        out->real[i] = v;
    }
}

/* Scratch of the list path (grown on demand, kept). */
static struct {
    double *x;
    int64_t *codes;
    size_t cap_x, cap_codes;
} scratch;

static void activation_list(const layer_t *L, const tensor_t *in, tensor_t *out,
                            const int64_t *pos, int64_t n)
{
    if (layer_is_quantizer(L) && in->kind == TENSOR_REAL &&
        scratch_grow((void **)&scratch.x, &scratch.cap_x, (size_t)n, sizeof(double)) == 0 &&
        scratch_grow((void **)&scratch.codes, &scratch.cap_codes, (size_t)n, sizeof(int64_t)) == 0) {
        /* gathered, quantized a vector at a time (the same codes), scattered back */
        for (int64_t j = 0; j < n; j++)
            scratch.x[j] = in->real[pos[j]];
        kernel_quantize(&L->aq, scratch.x, n, scratch.codes);
        for (int64_t j = 0; j < n; j++)
            out->fixed[pos[j]] = scratch.codes[j];
        return;
    }
    if (layer_is_quantizer(L) && in->kind == TENSOR_FIXED &&
        scratch_grow((void **)&scratch.codes, &scratch.cap_codes, (size_t)(2 * n),
                     sizeof(int64_t)) == 0) {
        int64_t *x = scratch.codes, *codes = scratch.codes + n; /* gathered, rescaled, back */
        for (int64_t j = 0; j < n; j++)
            x[j] = in->fixed[pos[j]];
        kernel_quantize_fixed(&L->aq, x, n, in->frac, codes);
        for (int64_t j = 0; j < n; j++)
            out->fixed[pos[j]] = codes[j];
        return;
    }
    layer_at_each(L, in, out, pos, n);
}

static int fwd_activation(const layer_t *L, const tensor_t *in, tensor_t *out, upset_err_t *err)
{
    (void)err;
    if (layer_is_quantizer(L) && in->kind == TENSOR_REAL) { /* the same codes, a tensor at a time */
        kernel_quantize(&L->aq, in->real, out->n, out->fixed);
    } else if (layer_is_quantizer(L)) {
        kernel_quantize_fixed(&L->aq, in->fixed, out->n, in->frac, out->fixed);
    } else if (L->act == ACT_SOFTMAX || (L->act == ACT_SIGMOID && out->kind == TENSOR_REAL)) {
        for (int64_t i = 0; i < out->n; i++) /* the values, then the activation on them all */
            out->real[i] = tensor_value(in, i);
        apply_real_activation(L->act, out->real, out->n, L->out.c);
    } else {
        layer_at_all(L, in, out);
    }
    return 0;
}

static int activation_elementwise(const layer_t *L)
{
    return L->kind == LAYER_QUANT_INPUT || L->act != ACT_SOFTMAX;
}

static int load_activation(h5ctx_t *c, hid_t g, layer_t *L)
{
    char s[64];
    if (load_same_shape(c, L) || h5_attr_string(c, g, "activation", s, sizeof s) ||
        load_act(c, s, &L->act))
        return -1;
    if (L->act == ACT_QRELU)
        return load_quant(c, g, "q_", QUANT_RELU, &L->aq);
    if (L->act == ACT_QBITS)
        return load_quant(c, g, "q_", QUANT_BITS, &L->aq);
    return 0;
}

static int load_quant_input(h5ctx_t *c, hid_t g, layer_t *L)
{
    return load_same_shape(c, L) || load_quant(c, g, "q_", QUANT_BITS, &L->aq) ? -1 : 0;
}

/* A quantizer gives codes; sigmoid and softmax a float tensor; linear and relu keep what
 * they read. */
static void activation_out_type(const layer_t *L, const tensor_kind_t *in_kind,
                                const int *in_frac, int input_exact, tensor_kind_t *kind,
                                int *frac)
{
    if (layer_is_quantizer(L))
        out_type_codes(L, in_kind, in_frac, input_exact, kind, frac);
    else if (L->act == ACT_SIGMOID || L->act == ACT_SOFTMAX)
        *kind = TENSOR_REAL;
}

static layer_diff_t activation_diff(const layer_t *L)
{
    return layer_is_quantizer(L) ? DIFF_QUANT : L->act == ACT_LINEAR ? DIFF_COPY : DIFF_ACT;
}

const layer_ops_t LAYER_OPS_ACTIVATION = {
    .name = "activation", .load = load_activation, .out_type = activation_out_type,
    .forward = fwd_activation, .elementwise = activation_elementwise, .at = activation_at,
    .at_list = activation_list, .diff = activation_diff};
const layer_ops_t LAYER_OPS_QUANT_INPUT = {
    .name = "quant_input", .load = load_quant_input, .out_type = activation_out_type,
    .forward = fwd_activation, .elementwise = activation_elementwise, .at = activation_at,
    .at_list = activation_list, .diff = activation_diff};
