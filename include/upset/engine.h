/* Forward pass of one sample through a model, bit-faithful to QKeras inference:
 * quantized layers run on exact integers (int64 accumulators, values = v * 2^-frac),
 * BatchNorm runs in float32 as TensorFlow's fused inference kernel does, the float
 * decoder runs in double. Every layer's output is kept (run state), so a caller can
 * re-run only the layers after a change (delta re-evaluation). */
#ifndef UPSET_ENGINE_H
#define UPSET_ENGINE_H

#include <stdint.h>

#include "upset/error.h"
#include "upset/model.h"

typedef enum { TENSOR_FIXED, TENSOR_REAL } tensor_kind_t;

/* One sample's activation: FIXED holds exact integers v with value v * 2^-frac;
 * REAL holds doubles. Layout (h, w, c), C order. */
typedef struct {
    tensor_kind_t kind;
    int frac;
    double scale; /* 2^-frac */
    int64_t n;
    int64_t *fixed;
    double *real;
} tensor_t;

/* Element i as a double. Inline: the evaluator, the output comparison and the decoder's
 * input conversions ask per element. A product with 2^-frac is exact, as ldexp is,
 * without the libm call. */
static inline double tensor_value(const tensor_t *t, int64_t i)
{
    return t->kind == TENSOR_REAL ? t->real[i] : (double)t->fixed[i] * t->scale;
}

typedef struct {
    const model_t *model; /* weights are read at run time: flips in model show up */
    int input_frac;       /* >= 0: raw inputs are exact multiples of 2^-input_frac */
    tensor_t input;       /* (h, w, c) of the model input */
    tensor_t input_fixed; /* the input as exact integers, when the first layer reads it so */
    int64_t input_bound;  /* the largest |code| in input_fixed (engine_wrote(-1) after a write) */
    int input_bits_most;  /* input_fixed's codes stay below 2^this, so every value fits int64 */
    tensor_t *out;        /* out[i] = output of layer i */
    int n_layers;
    /* fuse[i]: batch norm i feeds only quantizer i + 1, and a run through both computes
     * the codes in one pass, leaving out[i] unwritten (unwritten[i]; a run starting at
     * i + 1 then starts at i; engine_run_lean leaves more so) */
    unsigned char *fuse, *unwritten;
    /* only_next[i]: layer i's output is read by layer i + 1 alone (what fusing and lean
     * runs ask; worked out once) */
    unsigned char *only_next;
    /* alias[i]: layer i (flatten or reshape) holds its input's values in the same order, so
     * out[i] shares its input's buffer and costs no copy */
    unsigned char *alias;
    /* NULL, or per layer: seconds spent in it as runs go (a layer run fused with the ones
     * after it holds their time too): `upset eval --layers` */
    double *layer_wall;
} engine_t;

/* input_frac: pass a value >= 0 when every input value is an exact multiple of
 * 2^-input_frac (CIFAR-10 pixels/256: 8), so a quantized first layer without an
 * input quantizer still runs on integers; -1 otherwise. */
int engine_create(engine_t *e, const model_t *m, int input_frac, upset_err_t *err);
void engine_free(engine_t *e);

/* Sets the model input to x (shape of the model input); engine_run_layers(0, ..) reads it. */
void engine_set_input(engine_t *e, const double *x);

/* Runs every layer on x (shape of the model input). */
int engine_run(engine_t *e, const double *x, upset_err_t *err);

/* Re-runs layers first..last (inclusive) from out[first-1] (or the input). */
int engine_run_layers(engine_t *e, int first, int last, upset_err_t *err);

/* engine_run_layers(first, last layer) for a caller that reads the model output alone
 * afterwards: an output that only fused kernels read (a convolution's before its batch
 * norm, codes whose next convolution got their int16 copy) may be left unwritten, and is
 * flagged so. */
int engine_run_lean(engine_t *e, int first, upset_err_t *err);

/* The caller wrote layer l's output (l = -1: the input) itself: no longer unwritten. */
void engine_wrote(engine_t *e, int l);

/* The tensor layer l reads (its first input): a layer's output, or the (converted) input. */
const tensor_t *engine_layer_input(const engine_t *e, int l);
tensor_t *engine_layer_input_mut(engine_t *e, int l);

/* Exact int64 sums of x * w over output pixel p's receptive field of a quantized conv2d
 * or dense, channels [c0, c1), before bias and alignment (x: one sample's layer input). */
void layer_pixel_sums(const layer_t *L, const int64_t *x, int64_t p, int c0, int c1,
                      int64_t *sum);
/* The narrow path's int16 copy of an input x of L (n codes) into x16: 0, or -1 when the
 * path does not apply (no int16 kernel, the wide mode, a code beyond the int32 bound). */
int narrow_input(const layer_t *L, const int64_t *x, int64_t n, int16_t *x16);
/* layer_pixel_sums from narrow_input's copy: the same integers by the int16 kernels. */
void narrow_pixel_sums(const layer_t *L, const int16_t *x16, int64_t p, int c0, int c1,
                       int64_t *sum);
/* narrow_pixel_sums of one channel co at n output pixels pix[t] (any order) into sum[t]:
 * the receptive fields inside the input are read in place and handed to the kernel
 * together (a flip's fed positions, whose pre-activations are not stored). */
void narrow_channel_sums(const layer_t *L, const int16_t *x16, int co, const int64_t *pix,
                         int64_t n, int64_t *sum);

/* NULL when every layer kind's registry row has what its kind needs (a forward pass; for
 * an elementwise kind its outputs at positions; for what upset rank differentiates as a
 * linear map its blocks, as a window its table), else which kind lacks what. */
const char *layer_registry_gap(void);

/* Multiply-accumulates of one forward of L (padding included; 0 for elementwise kinds). */
int64_t layer_macs(const layer_t *L);

/* TensorFlow's padding before the first row / column of a conv2d. */
void conv_padding(const layer_t *L, int *ph, int *pw);
/* A conv2d_transpose pads its output as conv2d pads its input. */
void convt_padding(const layer_t *L, int *ph, int *pw);

/* Runs one layer: in -> out (out pre-allocated with the layer's output kind). */
int layer_forward(const layer_t *L, const tensor_t *in, tensor_t *out, upset_err_t *err);

/* Runs an add or concatenate over its L->n_inputs inputs. */
int layer_merge(const layer_t *L, const tensor_t *const *in, tensor_t *out, upset_err_t *err);

const tensor_t *engine_output(const engine_t *e);

/* ---- partial re-evaluation (delta) ---- */

/* 1 for layers whose output at index i depends only on the input at index i
 * (batchnorm, activations other than softmax, flatten, reshape, input quantizer). */
int layer_is_elementwise(const layer_t *L);
/* Recomputes out[i] of an elementwise layer from in[i], exactly as layer_forward does. */
void layer_forward_at(const layer_t *L, const tensor_t *in, tensor_t *out, int64_t i);
/* The same at n positions (the same values, a list at a time). */
void layer_forward_list(const layer_t *L, const tensor_t *in, tensor_t *out, const int64_t *pos,
                        int64_t n);
/* Whether the delta path scatters a change through L (layer_feeds answers for it). */
int layer_has_feeds(const layer_t *L);
/* The outputs weight w of L feeds, out_pos[k], and the input each reads there, in_pos[k]
 * (room for L's most: kh * kw output pixels at stride 1); returns how many. */
int64_t layer_feeds(const layer_t *L, int64_t w, int64_t *out_pos, int64_t *in_pos);

/* ---- what the differentiable network (sensitivity/net.c) asks of a layer's kind ---- */

/* The step L becomes: its math lives in net.c, shared by the kinds that name it. */
typedef enum {
    DIFF_NONE, /* not differentiated (upset rank refuses the model) */
    DIFF_LINEAR, /* a linear map (then its fused activation, if any) */
    DIFF_BN,
    DIFF_QUANT, /* a quantizer with the straight-through gradient; its quantizer is L->aq */
    DIFF_ACT,   /* relu, sigmoid, softmax (L->act) */
    DIFF_COPY,
    DIFF_ADD,
    DIFF_CONCAT,
    DIFF_MAXPOOL,
    DIFF_AVGPOOL,
    DIFF_ZEROPAD
} layer_diff_t;
layer_diff_t layer_diff(const layer_t *L);

/* A linear kind's weights as blocks: for each block the kernel offset wo, the input offset
 * xo and the output offset oo, visited in the engine's summation order. Within a block,
 * CI_CO: y[oo + co] += x[xo + ci] * W[wo + ci * cout + co] (conv2d, dense);
 * CO_CI: the same with W[wo + co * cin + ci] (conv2d_transpose's stored layout);
 * DEPTHWISE: y[oo + ci * mult + m] += x[xo + ci] * W[wo + ci * mult + m]. */
typedef enum { BLOCK_CI_CO, BLOCK_CO_CI, BLOCK_DEPTHWISE } linear_block_t;
typedef void (*linear_visit_t)(void *ctx, int64_t wo, int64_t xo, int64_t oo);
linear_block_t layer_linear_block(const layer_t *L);
void layer_linear_blocks(const layer_t *L, linear_visit_t visit, void *ctx);

/* A window kind's table (a new array, NULL when out of memory): max and average pooling,
 * for output pixel p, win[p * wlen + j] = the input pixel of window position j (-1 outside
 * the image); zero padding, wlen = 1 and win[i] = the output index of input value i. */
int64_t *layer_window(const layer_t *L, int *wlen, upset_err_t *err);

#endif
