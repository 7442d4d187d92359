/* Loading a layer from the model file: what the kinds' loaders share (layer_load.c), and
 * the registry's entry points that model.c calls (engine/layers.c: each kind's own loader
 * and checks live in its engine/layer_<kind>.c). Each returns 0, or -1 with a message
 * naming the file, the layer and the field. */
#ifndef UPSET_LAYER_LOAD_H
#define UPSET_LAYER_LOAD_H

#include "h5util.h"
#include "upset/model.h"

/* The kind's own fields of L from its group g, with the kind's shape checks (in_shape,
 * out_shape, kind and inputs are read already). */
int layer_kind_load(h5ctx_t *c, hid_t g, layer_t *L);
/* Checks of layer i that need the layers it reads (loaded before it). */
int layer_kind_check(h5ctx_t *c, const model_t *m, int i);
/* The kind's derived, read-only forms of L's weights (model_prepare), once. */
int layer_kind_prepare(layer_t *L, upset_err_t *err);
/* Whether the kind reads two or more layers (add, concatenate). */
int layer_kind_multi_input(layer_kind_t k);

/* ---- shared by the kinds' loaders ---- */

h5_shape_t shape1(int64_t n);
/* An activation name into *out. */
int load_act(h5ctx_t *c, const char *s, act_t *out);
/* The quantizer attributes <prefix>bits, <prefix>integer, ... into q. */
int load_quant(h5ctx_t *c, hid_t g, const char *prefix, quant_kind_t kind, quant_t *q);
/* An elementwise kind keeps its shape. */
int load_same_shape(h5ctx_t *c, const layer_t *L);
/* Two positive ints (pool_size, strides). */
int load_pair(h5ctx_t *c, hid_t g, const char *name, int *a, int *b);
/* `strides` and `padding` of a window layer (convolutions, pooling). */
int load_strides_padding(h5ctx_t *c, hid_t g, layer_t *L);
/* Keras's output size of a convolution or pooling window along one axis. */
int conv_out_dim(int in, int k, int stride, int same);
/* A convolution's kernel extents from its dataset: kh, kw and the two channel counts in
 * the order Keras stores them (transpose: (kh, kw, cout, cin)). */
int load_kernel_dims(h5ctx_t *c, hid_t g, layer_t *L, int transpose);
/* A convolution's expected output (eh, ew) against out_shape and the kernel's channels. */
int load_check_conv_shape(h5ctx_t *c, const layer_t *L, int64_t eh, int64_t ew);
/* use_bias, quantized, activation, the kernel (of shape ks, as Keras stores the kind's),
 * bias, and when quantized their quantizers, codes and optional per-channel shifts (one per
 * index of the kernel's last axis). */
int load_weights(h5ctx_t *c, hid_t g, layer_t *L, h5_shape_t ks);

#endif
