/* The global bit index (DESIGN.md): faultable layers in model order, each kernel
 * flattened in C order of its Keras shape, each weight owning `bits` consecutive
 * indices, MSB (sign) first. With include_bias, each layer's quantized bias codes follow
 * its kernel's bits (the same way, bias bits each), before the next layer: FKeras's order
 * with biases. A bias is addressed as weight n_weights + channel. */
#ifndef UPSET_BITSPACE_H
#define UPSET_BITSPACE_H

#include <stdint.h>

#include "upset/model.h"

typedef struct {
    int layer;      /* index into model->layers */
    int64_t weight; /* flat C-order index into the layer's kernel; n_weights + c: bias c */
    int bit;        /* 0 = MSB */
} bitaddr_t;

/* Lays the fault space out with (include = 1) or without each faultable layer's quantized
 * bias bits; model_load lays it out without. */
void bitspace_include_bias(model_t *m, int include);
/* 1 when L has quantized bias codes that include_bias can fault. */
int bitspace_has_bias(const layer_t *L);
/* How many of L's bias codes the current fault space holds (cout, or 0 without biases). */
int64_t bitspace_bias_codes(const layer_t *L);

/* 0 on success, -1 when index is outside [0, n_fault_bits). */
int bitspace_locate(const model_t *m, int64_t index, bitaddr_t *out);
int64_t bitspace_index(const model_t *m, bitaddr_t a);

/* 1 when a addresses a bias code; its code's width in bits; its current code. */
int bitspace_is_bias(const model_t *m, bitaddr_t a);
int bitspace_width(const model_t *m, bitaddr_t a);
int32_t bitspace_code(const model_t *m, bitaddr_t a);
/* The value (0 or 1) a's bit holds in its current code. */
int bitspace_bit_value(const model_t *m, bitaddr_t a);

/* The code of a's weight with a's bit flipped (the model is not changed). */
int32_t bitspace_flipped_code(const model_t *m, bitaddr_t a);

/* Flips one bit of a weight (or bias) code in place; flipping twice restores it. */
void bitspace_flip(model_t *m, bitaddr_t a);

/* Number of faultable layers and their indices. */
int bitspace_layers(const model_t *m, int *idx, int max);

#endif
