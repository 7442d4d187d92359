/* Private to the engine: one ops table per layer kind (layer_<kind>.c), the registry
 * in layers.c, and the helpers the kinds share. Adding a kind is one file and one row of
 * the registry. */
#ifndef UPSET_ENGINE_LAYER_H
#define UPSET_ENGINE_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "../model/layer_load.h"
#include "upset/engine.h"
#include "upset/fixed.h"

typedef struct {
    const char *name;
    /* ---- loading (model.c, through layer_kind_load / layer_kind_check) ---- */
    int multi_input; /* reads two or more layers (add, concatenate); other kinds read one */
    /* the kind's own fields from its group, with its shape checks (NULL: none) */
    int (*load)(h5ctx_t *c, hid_t g, layer_t *L);
    /* checks that need the layers L reads (loaded before it) (NULL: none) */
    int (*check)(h5ctx_t *c, const model_t *m, int i);
    /* derived, read-only forms of the weights, once (model_prepare; NULL: none) */
    int (*prepare)(layer_t *L, upset_err_t *err);
    /* ---- the engine ---- */
    /* the kind and frac of the output from the inputs' (NULL: the first input's);
     * input_exact: the input is the model's, exact multiples of 2^-in_frac[0] */
    void (*out_type)(const layer_t *L, const tensor_kind_t *in_kind, const int *in_frac,
                     int input_exact, tensor_kind_t *kind, int *frac);
    /* multiply-adds of one forward (NULL: none) */
    int64_t (*macs)(const layer_t *L);
    /* the whole tensor: in -> out (out allocated with the kind out_type gave it) */
    int (*forward)(const layer_t *L, const tensor_t *in, tensor_t *out, upset_err_t *err);
    /* elementwise kinds only (NULL otherwise): whether L is elementwise, the output at
     * index i, and at n positions; each gives exactly what forward gives there */
    int (*elementwise)(const layer_t *L);
    void (*at)(const layer_t *L, const tensor_t *in, tensor_t *out, int64_t i);
    void (*at_list)(const layer_t *L, const tensor_t *in, tensor_t *out, const int64_t *pos,
                    int64_t n);
    /* kinds the delta path scatters through (NULL otherwise): the outputs weight w feeds
     * and the input each reads there (layer_feeds) */
    int64_t (*feeds)(const layer_t *L, int64_t w, int64_t *out_pos, int64_t *in_pos);
    /* ---- differentiation (sensitivity/net.c, through layer_diff and the two below) ---- */
    layer_diff_t (*diff)(const layer_t *L);
    /* linear kinds: their blocks in the engine's summation order (layer_linear_blocks) */
    linear_block_t block;
    void (*blocks)(const layer_t *L, linear_visit_t visit, void *ctx);
    /* window kinds: the window table (layer_window) */
    int64_t *(*window)(const layer_t *L, int *wlen, upset_err_t *err);
} layer_ops_t;

extern const layer_ops_t LAYER_OPS_QUANT_INPUT, LAYER_OPS_CONV2D, LAYER_OPS_CONV2D_TRANSPOSE,
    LAYER_OPS_DENSE, LAYER_OPS_BATCHNORM, LAYER_OPS_ACTIVATION, LAYER_OPS_RESHAPE,
    LAYER_OPS_MAX_POOLING2D, LAYER_OPS_ZERO_PADDING2D, LAYER_OPS_AVERAGE_POOLING2D,
    LAYER_OPS_DEPTHWISE_CONV2D, LAYER_OPS_MERGE, LAYER_OPS_UP_SAMPLING2D;

/* The kind and frac of L's output from its inputs' (engine.c: static typing, so buffers
 * are allocated once). */
void layer_out_type(const layer_t *L, const tensor_kind_t *in_kind, const int *in_frac,
                    int input_exact, tensor_kind_t *kind, int *frac);

/* ---- shared helpers (layers.c) ---- */

/* out_type of the kinds whose output is a float tensor whatever they read */
void out_type_real(const layer_t *L, const tensor_kind_t *in_kind, const int *in_frac,
                   int input_exact, tensor_kind_t *kind, int *frac);
/* out_type of a quantizer: codes at its frac */
void out_type_codes(const layer_t *L, const tensor_kind_t *in_kind, const int *in_frac,
                    int input_exact, tensor_kind_t *kind, int *frac);

/* TensorFlow's "same" padding before the first row/column. */
int same_pad_before(int in, int out, int k, int stride);
double weight_value(const layer_t *L, int64_t i);
/* Inline: the float dense layer asks once per output (512 a sample in ECON-T Large's
 * decoder). */
static inline double bias_value(const layer_t *L, int c)
{
    if (!L->use_bias)
        return 0.0;
    return L->quantized ? quant_value(&L->bq, L->bias_code[c]) : (double)L->bias[c];
}
/* act on v[0..n) in place; softmax normalises each run of `group` consecutive values (the
 * channels of one position, Keras's last axis: the layer's out.c), group dividing n. */
void apply_real_activation(act_t act, double *v, int64_t n, int64_t group);
/* Grows a scratch buffer (kept per process: ranks are processes) to need elements. */
int scratch_grow(void **p, size_t *cap, size_t need, size_t elem);
/* The output at every position from the kind's `at`. */
void layer_at_all(const layer_t *L, const tensor_t *in, tensor_t *out);
void layer_at_each(const layer_t *L, const tensor_t *in, tensor_t *out, const int64_t *pos,
                   int64_t n);

/* ---- batch norm then a quantizer (layer_batchnorm.c) ---- */

/* Quantizer Q's codes of batch norm L's outputs in one pass, without the batch norm's
 * output: 0, or -1 when the vector kernel does not apply (run the two layers). */
int batchnorm_quantize(const layer_t *L, const layer_t *Q, const tensor_t *in, tensor_t *codes);
/* The same over positions [start, start + n) (start and n whole pixels). */
int batchnorm_quantize_span(const layer_t *L, const layer_t *Q, const tensor_t *in,
                            tensor_t *codes, int64_t start, int64_t n);

/* ---- quantized conv2d / dense (layer_linear.c) ---- */

/* out_type of conv2d, conv2d_transpose, dense, depthwise_conv2d: exact integers when
 * quantized on exact integers with a linear or relu activation, else a float tensor. */
void linear_out_type(const layer_t *L, const tensor_kind_t *in_kind, const int *in_frac,
                     int input_exact, tensor_kind_t *kind, int *frac);
/* prepare of quantized conv2d and dense: the codes as int16 in the narrow kernels' two
 * orders (bitspace_flip keeps them in step with kernel_code), when they fit. */
int linear_prepare_narrow(layer_t *L, upset_err_t *err);
/* diff of conv2d, conv2d_transpose, dense, depthwise_conv2d: a linear map. */
layer_diff_t linear_diff(const layer_t *L);
/* The blocks of a convolution (layer_conv2d.c): one per (output pixel, tap inside the
 * image), in the forward's order, tap t's weights at t * tap_weights. */
void conv_window_blocks(const layer_t *L, int64_t tap_weights, linear_visit_t visit, void *ctx);

/* The largest weight code magnitude of L, flipped ones included. */
int64_t layer_weight_bound(const layer_t *L);

/* Integer path: out = sum(x * w) << shift_prod + bias << shift_bias, exact. */
typedef struct {
    int shift_prod, shift_bias;
} fixed_align_t;

fixed_align_t fixed_align(const layer_t *L, const tensor_t *in, const tensor_t *out);
/* One output pixel (cout values) from int64 sums: bias, alignment, fused relu. */
void fixed_pixel(const layer_t *L, fixed_align_t a, int64_t *out, const int64_t *sum);
/* The narrow path over a whole conv2d / dense: 0, or -1 when it does not apply (then the
 * caller runs the int64 reference). */
int narrow_linear(const layer_t *L, const tensor_t *in, tensor_t *out);
/* narrow_linear with more done while each output row is in L1 (engine.c asks, within one
 * run of layers): batch norm bn and quantizer q fused (their codes into codes), and the
 * int16 padded copy of the input of next (a convolution reading codes) written from those
 * codes, for next's own call (input_ready) straight after. */
typedef struct {
    const layer_t *bn, *q; /* or NULL */
    tensor_t *codes;
    const layer_t *next; /* or NULL */
    int input_ready;     /* this layer's copy was written so by the layer before */
    int64_t input_bound; /* the largest input code magnitude (-1: unknown) */
    int lean_out;        /* the layer's own output need not be written (bn alone reads it) */
    int lean_codes;      /* the codes need not be written when next's copy is (next alone
                          * reads them) */
    int codes_done;      /* out: every code is in (else run bn and q) */
    int next_ready;      /* out: next's copy is in */
    int out_skipped, codes_skipped; /* out: what was left unwritten */
} narrow_fusion_t;
/* 0 (the layer's output is in; see f for the rest), or -1: nothing done. */
int narrow_linear_fused(const layer_t *L, const tensor_t *in, tensor_t *out, narrow_fusion_t *f);

#endif
