/* Delta re-evaluation: a single weight-bit flip evaluated against the fault-free
 * state of each sample, by propagating only what changes.
 *
 * The fault-free run of every sample leaves, per sample, the tensors a change needs:
 * the input of every faultable layer, the input of every quantized conv2d/dense a
 * change can reach ("sparse linear" layers), their pre-activations where small, and
 * the input of the first layer the propagation hands over to the whole-tensor engine.
 * A flip of weight w in a sparse linear layer changes its outputs by Δcode·x at the
 * positions the weight feeds; the changed values go through the elementwise layers
 * after it (batch norm, quantized activation, flatten) and are compared with the
 * fault-free values there; the survivors scatter Δ·W into the next sparse linear
 * layer (exact integer accumulators, so base + Δ equals a full re-computation bit for
 * bit), and so on. A sample stops as soon as nothing differs. Where the chain meets a
 * layer it cannot propagate through sparsely (softmax, a float decoder, the end of the
 * network), the stored input of that layer is patched and the engine runs the rest.
 *
 * The same stores serve the "cached" path of multi-bit faults: a fault whose first
 * layer is L re-runs layers L.. from the stored input of L. */
#ifndef UPSET_DELTA_H
#define UPSET_DELTA_H

#include <stdint.h>

#include "upset/bitspace.h"
#include "upset/engine.h"

/* One layer input (or pre-activation) per sample, in the narrowest exact type. */
typedef enum { STORE_NONE, STORE_I16, STORE_I32, STORE_I64, STORE_F64 } store_kind_t;
typedef struct {
    store_kind_t kind;
    int64_t n; /* values per sample */
    void *data;
} store_t;

typedef enum { DELTA_UNCHANGED, DELTA_REACHED } delta_state_t;

typedef struct {
    engine_t *engine; /* scratch tensors; reads the weights of engine->model */
    int n_layers;
    int64_t n_samples;
    store_t *in;           /* (n_layers + 1): in[k] = fault-free input of layer k;
                              in[n_layers] = the network output */
    unsigned char *sparse; /* (n_layers) 1: quantized conv2d/dense on exact integers */
    int *next;             /* (n_layers) first layer after k that is not elementwise */
    int *shift_prod;       /* (n_layers) sparse layers: accumulator alignment */
    /* (n_layers) 1: a scatter into sparse layer k accumulates in int32 (acc32): its input
     * is a quantizer's codes, and fan-in x code span x largest weight code fits int32 */
    unsigned char *acc32_ok;
    int64_t *tail_macs;    /* (n_layers + 1) multiply-accumulates from layer k to the end */
    /* scratch, sized for the largest tensor */
    int64_t *pos;       /* changed flat positions */
    int64_t *val;       /* their new values (FIXED) */
    double *rval;       /* their new values (REAL chain ends) */
    int64_t *dv;        /* their changes (inputs of a sparse layer) */
    int64_t *acc;       /* scatter accumulators (largest sparse layer output) */
    int32_t *acc32;     /* the same where acc32_ok: half the vector work */
    int64_t *touched;   /* output pixels the scatter touched */
    unsigned char *mark;
    int64_t *row;       /* one sample's input of a layer (gathers) */
    int16_t *row16;     /* its int16 copy for the narrow kernels, when they apply */
    int64_t *pix;       /* one pixel's pre-activations */
    /* the outputs the last flipped weight feeds in the last sample (a zero input left
     * out), the inputs it meets there and their fault-free pre-activations: the other
     * bits of the weight reuse them (injector_eval_singles takes them in turn) */
    struct {
        int valid, layer;
        int64_t weight, sample, n;
        int64_t *pos, *x, *base;
    } fed;
    /* where the last delta_propagate stopped (DELTA_REACHED) */
    int reached;    /* layer whose input changed; n_layers: the output itself */
    int64_t n_live; /* changed values there (in pos / val / rval) */
    int written;    /* the engine's tensor there already holds every value (n_live 0) */
    /* statistics per origin layer: (flip x sample) evaluations, those proved unchanged,
     * those handed to the whole-tensor engine at a quantized layer because the change was
     * wide (the rest reached a layer that is never sparse: softmax, decoder, output) */
    int64_t *n_evals, *n_unchanged, *n_wide;
} delta_t;

/* Plans the stores for the model the engine runs. input_code_max: the largest
 * |input| * 2^input_frac over the data (for the first layer's store width), or -1.
 * The input of every faultable layer is stored too (the cached path). */
int delta_create(delta_t *d, engine_t *e, int64_t n_samples, int64_t input_code_max,
                 upset_err_t *err);
void delta_free(delta_t *d);

/* Stores sample i's fault-free tensors from the engine (just after running it whole). */
void delta_record(delta_t *d, int64_t i);

/* Forgets what the last flip's origin kept (call when the model's weights change). */
void delta_forget(delta_t *d);

/* Whether a single flip in layer l takes the delta path. */
int delta_capable(const delta_t *d, int l);

/* Propagates the flip of bit a (not applied to the model) for sample i. Returns
 * DELTA_UNCHANGED when the sample's output provably equals the fault-free one, else
 * DELTA_REACHED with d->reached, d->n_live and the changed values in d->pos/val/rval, or
 * with d->written when they are already in the engine's tensor. */
delta_state_t delta_propagate(delta_t *d, bitaddr_t a, int64_t i);

/* After DELTA_REACHED: patches the stored input of d->reached and runs the engine from
 * there, leaving the faulty network output in the engine. */
int delta_finish(delta_t *d, int64_t i, upset_err_t *err);

/* Loads the stored fault-free input of layer l for sample i into the engine (the cached
 * path: then engine_run_layers(l, ...)). 0, or -1 when layer l has no store. */
int delta_load_input(delta_t *d, int l, int64_t i);

/* 1 when the engine's current input of layer l equals sample i's stored fault-free one
 * (l == n_layers: the network output); 0 when it differs or layer l has no store. */
int delta_input_matches(const delta_t *d, int l, int64_t i);

/* Bytes of stores per sample (memory planning). */
int64_t delta_bytes_per_sample(const delta_t *d);

#endif
