#!/usr/bin/python3
"""Writes the small Keras/QKeras CNN the layer and activation tests share, in DIR:
pooled.json + pooled.h5 (Keras files: QConv2D, quantized_relu, ZeroPadding2D, MaxPooling2D,
Dropout, QDense, softmax; random quantized weights, seed 7) and pred.bin (the first 200
bundled CIFAR-10 images in the CIFAR binary format, labelled with tools/qkeras_ref.py's
predictions, images whose top two logits tie left out).

usage: pooled_model.py DIR
"""
import sys
import numpy as np
sys.path[:0] = ["tools", "tests/integration"]
import keras_fixture
import qkeras_ref

t = sys.argv[1]
q6 = {"class_name": "quantized_bits",
      "config": {"bits": 6, "integer": 0, "symmetric": 0, "alpha": 1, "keep_negative": True}}
layers = [
    {"class_name": "InputLayer", "config": {"name": "in", "batch_input_shape": [None, 32, 32, 3]}},
    {"class_name": "QConv2D", "config": {"name": "conv", "filters": 8, "kernel_size": [3, 3],
        "strides": [1, 1], "padding": "same", "activation": "linear", "use_bias": True,
        "kernel_quantizer": q6, "bias_quantizer": q6}},
    {"class_name": "QActivation", "config": {"name": "relu", "activation": {
        "class_name": "quantized_relu", "config": {"bits": 6, "integer": 2}}}},
    {"class_name": "ZeroPadding2D", "config": {"name": "pad", "padding": [[1, 0], [0, 1]]}},
    {"class_name": "MaxPooling2D", "config": {"name": "pool", "pool_size": [3, 3],
        "strides": [2, 2], "padding": "same"}},
    {"class_name": "Dropout", "config": {"name": "drop", "rate": 0.5}},
    {"class_name": "Flatten", "config": {"name": "flat"}},
    {"class_name": "QDense", "config": {"name": "dense", "units": 10, "activation": "linear",
        "use_bias": True, "kernel_quantizer": q6, "bias_quantizer": q6}},
    {"class_name": "Activation", "config": {"name": "softmax", "activation": "softmax"}},
]
rng = np.random.default_rng(7)
weights = {"conv": {"kernel": rng.normal(0, 0.3, (3, 3, 3, 8)), "bias": rng.normal(0, 0.1, 8)},
           "dense": {"kernel": rng.normal(0, 0.05, (17 * 17 * 8, 10)),
                     "bias": rng.normal(0, 0.1, 10)}}
keras_fixture.write_keras(f"{t}/pooled", "pooled", layers, weights)

# 200 bundled CIFAR-10 images as upset reads them (pixel / 256, (32, 32, 3)); the labels
# written with them are the reference's predictions
rec, x = keras_fixture.cifar_images(200)
net = qkeras_ref.load([f"{t}/pooled.json", f"{t}/pooled.h5"])
y, _ = qkeras_ref.forward(net, x)
# quantized dyadic logits can tie exactly: those images have no single right answer
keep, pred = keras_fixture.write_labelled(rec, y, f"{t}/pred.bin")
print(f"reference: {keep.sum()} images without a tie, {len(set(pred[keep]))} distinct classes")
