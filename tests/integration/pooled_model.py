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
import keras_fixture as kf

t = sys.argv[1]
layers = [
    kf.input_layer(), kf.qconv2d("conv", 8), kf.qrelu("relu"),
    {"class_name": "ZeroPadding2D", "config": {"name": "pad", "padding": [[1, 0], [0, 1]]}},
    {"class_name": "MaxPooling2D", "config": {"name": "pool", "pool_size": [3, 3],
        "strides": [2, 2], "padding": "same"}},
    {"class_name": "Dropout", "config": {"name": "drop", "rate": 0.5}},
    *kf.classifier_head(),
]
rng = np.random.default_rng(7)
weights = {"conv": {"kernel": rng.normal(0, 0.3, (3, 3, 3, 8)), "bias": rng.normal(0, 0.1, 8)},
           "dense": {"kernel": rng.normal(0, 0.05, (17 * 17 * 8, 10)),
                     "bias": rng.normal(0, 0.1, 10)}}
kf.write_keras(f"{t}/pooled", "pooled", layers, weights)

# the first 200 bundled CIFAR-10 images, labelled with the reference's predictions;
# quantized dyadic logits can tie exactly: those images have no single right answer
kf.label_by_reference(f"{t}/pooled", f"{t}/pred.bin", 200)
