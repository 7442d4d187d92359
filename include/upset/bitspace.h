/* The global bit index (DESIGN.md): faultable layers in model order, each kernel
 * flattened in C order of its Keras shape, each weight owning `bits` consecutive
 * indices, MSB (sign) first. Biases are not part of it. */
#ifndef UPSET_BITSPACE_H
#define UPSET_BITSPACE_H

#include <stdint.h>

#include "upset/model.h"

typedef struct {
    int layer;      /* index into model->layers */
    int64_t weight; /* flat C-order index into the layer's kernel */
    int bit;        /* 0 = MSB */
} bitaddr_t;

/* 0 on success, -1 when index is outside [0, n_fault_bits). */
int bitspace_locate(const model_t *m, int64_t index, bitaddr_t *out);
int64_t bitspace_index(const model_t *m, bitaddr_t a);

/* The code of a's weight with a's bit flipped (the model is not changed). */
int32_t bitspace_flipped_code(const model_t *m, bitaddr_t a);

/* Flips one bit of a weight code in place; flipping twice restores it. */
void bitspace_flip(model_t *m, bitaddr_t a);

/* Number of faultable layers and their indices. */
int bitspace_layers(const model_t *m, int *idx, int max);

#endif
