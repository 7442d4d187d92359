/* A model in memory: layers in execution order (a chain, or a graph whose layers name
 * their inputs) with integer weight codes (quantized
 * layers) and float shadow weights, loaded from the native HDF5 format
 * (docs/model-format.md). Weights live here; run state lives in engine.h. */
#ifndef UPSET_MODEL_H
#define UPSET_MODEL_H

#include <stdint.h>

#include "upset/error.h"
#include "upset/fixed.h"

#define UPSET_MODEL_FORMAT_VERSION 1
#define UPSET_NAME_LEN 96
#define UPSET_MAX_INPUTS 16 /* inputs of one add / concatenate */
#define UPSET_MAX_LAYERS 4096 /* n_layers of a model file */
#define UPSET_MAX_CODE_BITS 24 /* a quantizer's widest code (float32 holds it exactly) */
/* The engine's int16 dot products (kernels.h) are taken over k values, k a multiple of
 * KERNEL_K_ALIGN: the model keeps its transposed int16 kernels padded so (kernel_kp). */
#define KERNEL_K_ALIGN 16

typedef enum {
    LAYER_QUANT_INPUT,
    LAYER_CONV2D,
    LAYER_CONV2D_TRANSPOSE,
    LAYER_DENSE,
    LAYER_BATCHNORM,
    LAYER_ACTIVATION,
    LAYER_FLATTEN,
    LAYER_RESHAPE,
    LAYER_MAX_POOLING2D,
    LAYER_ZERO_PADDING2D,
    LAYER_AVERAGE_POOLING2D,
    LAYER_DEPTHWISE_CONV2D,
    LAYER_ADD,
    LAYER_CONCATENATE,
    LAYER_UP_SAMPLING2D,
    LAYER_KIND_COUNT
} layer_kind_t;

typedef enum { ACT_LINEAR, ACT_RELU, ACT_SIGMOID, ACT_SOFTMAX, ACT_QRELU, ACT_QBITS } act_t;
typedef enum { PART_MAIN, PART_ENCODER, PART_DECODER } part_t;
typedef enum { TASK_CLASSIFIER, TASK_AUTOENCODER, TASK_ENCODER } task_t;

/* Tensor shape of one sample, channels last: (h, w, c); a vector is (1, 1, n). */
typedef struct {
    int h, w, c;
} shape3_t;

static inline int64_t shape_size(shape3_t s) { return (int64_t)s.h * s.w * s.c; }

typedef struct {
    layer_kind_t kind;
    char name[UPSET_NAME_LEN];
    part_t part;
    int faultable;
    shape3_t in, out; /* in: the (first) input's shape */
    /* the layers whose outputs it reads, in order (-1: the model input); a chain layer
     * reads layer i - 1. Only add and concatenate read more than one. */
    int n_inputs;
    int inputs[UPSET_MAX_INPUTS];

    /* conv2d, conv2d_transpose, dense, depthwise_conv2d. Kernel layouts are Keras's:
     * conv2d (kh, kw, cin, cout); conv2d_transpose (kh, kw, cout, cin); dense (cin, cout);
     * depthwise_conv2d (kh, kw, cin, depth_mult), output channel ci * depth_mult + m, so
     * cout = cin * depth_mult. Pooling: kh, kw = pool_size; up_sampling2d: kh, kw = size. */
    int kh, kw, cin, cout, depth_mult;
    int stride_h, stride_w;
    int pad_same;
    int use_bias;
    int quantized;
    act_t act; /* fused activation for conv/dense; the activation of LAYER_ACTIVATION */
    int64_t n_weights;
    float *kernel;        /* float shadow weights (n_weights) */
    float *bias;          /* (cout) or NULL */
    /* quantized weights (n_weights) as integers in units of kq's LSB, or NULL: the stored
     * code shifted left by kernel_shift of its channel (the kernel's last axis), so every
     * kernel reads one integer grid; bitspace.c turns them back into codes */
    int32_t *kernel_code;
    /* QKeras alpha="auto_po2": a power-of-two scale per channel of the kernel's last axis,
     * as left shifts (n_kernel_shift of them) of the codes over kq's LSB; NULL: none */
    int32_t *kernel_shift;
    int n_kernel_shift, max_kernel_shift;
    int32_t *bias_code;   /* (cout) or NULL */
    quant_t kq, bq;

    /* batchnorm (c) */
    float *gamma, *beta, *moving_mean, *moving_variance;
    double epsilon;
    int bias_add; /* read from a bias_add record: y = x + bias in float32 (gamma 1, mean 0) */
    float *bn_scale, *bn_offset; /* derived at load: y = x * scale + offset, float32 */
    /* derived: the float conv2d_transpose kernel as doubles in panels of 8 columns of
     * (kh*kw, cout): column j of row ci at ((j / 8) * cin + ci) * 8 + j % 8, the columns
     * zero-padded to convt_cols, a multiple of 8 (kernels.h's kernel_sum_rows_f64 and
     * kernel_add_sums_f64) */
    double *convt_w;
    int64_t convt_cols;
    /* derived: a float dense kernel as doubles, row i (its cout weights) at i * dense_ld */
    double *dense_w;
    int64_t dense_ld;
    /* derived: quantized conv2d/dense codes as int16, transposed to (cout, kernel_kp), zero
     * padded (the engine's narrow kernels); kept in step by bitspace_flip. NULL when the
     * quantizer is wider than 15 bits. */
    int16_t *kernel_t16;
    int64_t kernel_kp;
    /* derived: the same codes as pairs along the fan-in for broadcast kernels, (kp/2,
     * kernel_cout8, 2) with cout padded to a multiple of 8 by zeros; kept in step by
     * bitspace_flip; NULL with kernel_t16 */
    int16_t *kernel_p16;
    int kernel_cout8;

    /* quant_input and quantized activations */
    quant_t aq;

    /* max_pooling2d, average_pooling2d: pool (kh, kw), strides and padding above;
     * zero_padding2d: */
    int pad_top, pad_bottom, pad_left, pad_right;

    /* fault space: this layer owns bits [bit_first, bit_first + n_bits): its kernel's, then
     * n_bias_bits of its bias codes (0 unless the fault space includes biases) */
    int64_t bit_first, n_bits, n_bias_bits;
} layer_t;

/* Whether L is a quantizer (the input quantizer, quantized_relu or quantized_bits): its
 * output is the codes of L->aq. */
static inline int layer_is_quantizer(const layer_t *L)
{
    return L->kind == LAYER_QUANT_INPUT ||
           (L->kind == LAYER_ACTIVATION && (L->act == ACT_QRELU || L->act == ACT_QBITS));
}

/* Kernel weight w's shift (kernel_shift); a code as an integer on kq's grid; w's code. */
static inline int layer_weight_shift(const layer_t *L, int64_t w)
{
    return L->kernel_shift ? L->kernel_shift[w % L->n_kernel_shift] : 0;
}

static inline int32_t layer_weight_int(const layer_t *L, int64_t w, int32_t code)
{
    return (int32_t)(code * ((int64_t)1 << layer_weight_shift(L, w))); /* < 2^24: model.c */
}

static inline int32_t layer_weight_code(const layer_t *L, int64_t w)
{
    return L->kernel_code[w] / (int32_t)(INT32_C(1) << layer_weight_shift(L, w)); /* exact */
}

/* Where kernel weight w (flat (..., cin, cout) order: fan-in index w / cout, output w % cout)
 * sits in kernel_t16 and in kernel_p16. */
static inline int64_t layer_t16_index(const layer_t *L, int64_t w)
{
    return (w % L->cout) * L->kernel_kp + w / L->cout;
}

static inline int64_t layer_p16_index(const layer_t *L, int64_t w)
{
    const int64_t k = w / L->cout;
    return ((k >> 1) * L->kernel_cout8 + w % L->cout) * 2 + (k & 1);
}

typedef struct {
    char name[UPSET_NAME_LEN];
    char path[1024];
    task_t task;
    shape3_t input;
    int n_layers;
    layer_t *layers;
    int64_t n_fault_bits; /* faultable kernel (and, with include_bias, bias) bits */
    int include_bias;     /* the fault space holds bias bits (bitspace_include_bias) */
    int graph;            /* 1 when some layer reads other than the layer before it */
    uint64_t checksum;    /* FNV-1a 64 of the file bytes */
} model_t;

int model_load(const char *path, model_t *m, upset_err_t *err);
void model_free(model_t *m);

/* Derived fields (batch-norm scale and offset, transposed float kernels); model_load calls it, code that builds a
 * model by hand must too. */
int model_prepare(model_t *m, upset_err_t *err);

/* Deep copy (the engine flips bits in its own copy). */
int model_clone(const model_t *src, model_t *dst, upset_err_t *err);

const char *layer_kind_name(layer_kind_t k);
/* What the model file called L's kind (a bias_add is run as a batchnorm). */
const char *layer_file_kind(const layer_t *L);
const char *act_name(act_t a);
const char *task_name(task_t t);

/* Index of the output layer of the encoder (autoencoders): the last encoder layer. */
int model_encoder_last(const model_t *m);

#endif
