#!/bin/sh
# Must-show (softmax on a tensor with several positions): Keras's softmax normalises the
# last (channel) axis at each position. A model with a softmax Activation on an (8,8,8)
# map and softmax fused into a Conv2D, a DepthwiseConv2D and a Conv2DTranspose, then a
# classifier head, written here as Keras files with random weights, is imported; upset's
# engine agrees with tools/qkeras_ref.py (numpy, reading the Keras files) on every image's
# prediction; the oracle through those layers is identical on the delta path and the whole
# network; `upset rank`'s loss (the differentiable network's forward) equals the
# reference's. A softmax over the whole tensor fails each of these. A classifier whose
# output is a per-pixel softmax map has no single prediction: refused by name.
. tests/integration/lib.sh

"$PY" - "$T" <<'EOP' || fail "building the Keras model and its reference predictions"
import sys
import numpy as np
sys.path[:0] = ["tools", "tests/integration"]
import keras_fixture as kf

t = sys.argv[1]
softmax = {"activation": "softmax", "use_bias": True}
seg = {"class_name": "Conv2D", "config": dict(softmax, name="seg", filters=6,
       kernel_size=[1, 1], strides=[1, 1], padding="valid")}
layers = [
    kf.input_layer(), kf.qconv2d("conv", 8, strides=4),
    {"class_name": "Activation", "config": {"name": "sm", "activation": "softmax"}},
    seg,
    {"class_name": "DepthwiseConv2D", "config": dict(softmax, name="dw", kernel_size=[3, 3],
        strides=[1, 1], padding="same", depth_multiplier=2)},
    {"class_name": "Conv2DTranspose", "config": dict(softmax, name="up", filters=4,
        kernel_size=[2, 2], strides=[2, 2], padding="valid")},
    *kf.classifier_head(),
]
rng = np.random.default_rng(5)
weights = {"conv": {"kernel": rng.normal(0, 0.5, (3, 3, 3, 8)), "bias": rng.normal(0, 0.1, 8)},
           "seg": {"kernel": rng.normal(0, 3, (1, 1, 8, 6)), "bias": rng.normal(0, 0.3, 6)},
           "dw": {"depthwise_kernel": rng.normal(0, 3, (3, 3, 6, 2)),
                  "bias": rng.normal(0, 0.3, 12)},
           "up": {"kernel": rng.normal(0, 3, (2, 2, 4, 12)), "bias": rng.normal(0, 0.3, 4)},
           "dense": {"kernel": rng.normal(0, 1.0, (16 * 16 * 4, 10)),
                     "bias": rng.normal(0, 0.1, 10)}}
kf.write_keras(f"{t}/sm", "sm", layers, weights)
kf.label_by_reference(f"{t}/sm", f"{t}/pred.bin", 200, margin=1e-4)
# the same without the head: the per-pixel softmax map is the output
kf.write_keras(f"{t}/seg", "seg", layers[:4], weights)
EOP

tools/import_qkeras.py "$T/sm.json" "$T/sm.h5" --name sm --task classifier \
    -o "$T/sm_native.h5" >"$T/import.log" 2>&1 || { fail "import"; cat "$T/import.log" >&2; }
"$UPSET" info "$T/sm_native.h5" >"$T/info.txt" || fail "upset info"
grep -Eq "sm +activation +main +\(8,8,8\) +\(8,8,8\)" "$T/info.txt" \
    && grep -Eq "seg +conv2d +main +\(8,8,8\) +\(8,8,6\)" "$T/info.txt" \
    && grep -Eq "dw +depthwise_conv2d +main +\(8,8,6\) +\(8,8,12\)" "$T/info.txt" \
    && grep -Eq "up +conv2d_transpose +main +\(8,8,12\) +\(16,16,4\)" "$T/info.txt" \
    && pass "imported: softmax on (8,8,8), fused into conv2d, depthwise_conv2d, conv2d_transpose" \
    || fail "layout: $(cat "$T/info.txt")"

kind_end_to_end "$T/sm" "$T/sm_native.h5" "$T/pred.bin" 1296 "per-position softmax"

tools/import_qkeras.py "$T/seg.json" "$T/seg.h5" --name seg --task classifier \
    -o "$T/seg_native.h5" >"$T/seg_import.log" 2>&1 \
    || { fail "import (per-pixel output)"; cat "$T/seg_import.log" >&2; }
"$UPSET" eval --model "$T/seg_native.h5" --data "$T/pred.bin" --format cifar10 \
    >"$T/seg.log" 2>&1 && fail "a classifier with a per-pixel output: evaluated"
grep -qF "its output must be one vector of class scores (1,1,n), one label a sample, but its last layer seg gives (8,8,6)" "$T/seg.log" \
    && pass "a classifier ending in a per-pixel softmax (8,8,6): refused by name" \
    || fail "per-pixel classifier: $(cat "$T/seg.log")"
finish
