#!/bin/sh
# Must-show (average pooling): a Keras/QKeras CNN with AveragePooling2D (SAME, odd sizes,
# stride 2: padded windows average fewer values) and GlobalAveragePooling2D, written here as
# Keras files with random quantized weights, is imported; upset's engine agrees with
# tools/qkeras_ref.py (numpy emulation of TensorFlow, reading the Keras files) on every
# image's prediction; the oracle through both poolings is identical on the delta path and
# the whole-network path; pooling that does not follow a quantizer is refused by name.
. tests/integration/lib.sh

"$PY" - "$T" <<'EOF' || fail "building the Keras models and their reference predictions"
import sys
import numpy as np
sys.path[:0] = ["tools", "tests/integration"]
import keras_fixture
import qkeras_ref

t = sys.argv[1]
q6 = {"class_name": "quantized_bits",
      "config": {"bits": 6, "integer": 0, "symmetric": 0, "alpha": 1, "keep_negative": True}}
relu = lambda n: {"class_name": "QActivation", "config": {"name": n, "activation": {
    "class_name": "quantized_relu", "config": {"bits": 6, "integer": 2}}}}
def conv(n, f):
    return {"class_name": "QConv2D", "config": {"name": n, "filters": f, "kernel_size": [3, 3],
            "strides": [1, 1], "padding": "same", "activation": "linear", "use_bias": True,
            "kernel_quantizer": q6, "bias_quantizer": q6}}
layers = [
    {"class_name": "InputLayer", "config": {"name": "in", "batch_input_shape": [None, 32, 32, 3]}},
    conv("conv", 8), relu("relu"),
    {"class_name": "AveragePooling2D", "config": {"name": "avg", "pool_size": [3, 3],
        "strides": [2, 2], "padding": "same"}},
    relu("relu2"), conv("conv2", 8), relu("relu3"),
    {"class_name": "GlobalAveragePooling2D", "config": {"name": "gap"}},
    {"class_name": "QDense", "config": {"name": "dense", "units": 10, "activation": "linear",
        "use_bias": True, "kernel_quantizer": q6, "bias_quantizer": q6}},
    {"class_name": "Activation", "config": {"name": "softmax", "activation": "softmax"}},
]
rng = np.random.default_rng(11)
weights = {"conv": {"kernel": rng.normal(0, 0.3, (3, 3, 3, 8)), "bias": rng.normal(0, 0.1, 8)},
           "conv2": {"kernel": rng.normal(0, 0.2, (3, 3, 8, 8)), "bias": rng.normal(0, 0.1, 8)},
           "dense": {"kernel": rng.normal(0, 0.4, (8, 10)), "bias": rng.normal(0, 0.1, 10)}}
def write(path, layers):
    keras_fixture.write_keras(path, "avg", layers, weights)
write(f"{t}/avg", layers)
# the same pooling straight after a convolution (no quantizer between): refused
weights["dense"]["kernel"] = rng.normal(0, 0.05, (16 * 16 * 8, 10))
write(f"{t}/bad", layers[:2] + layers[3:4] + [{"class_name": "Flatten", "config": {"name": "f"}},
      layers[8], layers[9]])
weights["dense"]["kernel"] = rng.normal(0, 0.4, (8, 10))

rec, x = keras_fixture.cifar_images(300)
net = qkeras_ref.load([f"{t}/avg.json", f"{t}/avg.h5"])
y, _ = qkeras_ref.forward(net, x)
keep, pred = keras_fixture.write_labelled(rec, y, f"{t}/pred.bin", margin=1e-5)
print(f"reference: {keep.sum()} images with a clear winner, {len(set(pred[keep]))} classes")
EOF

tools/import_qkeras.py "$T/avg.json" "$T/avg.h5" --name avg --task classifier \
    -o "$T/avg_native.h5" >"$T/import.log" 2>&1 || { fail "import"; cat "$T/import.log" >&2; }
grep -c "average_pooling2d" "$T/import.log" | grep -q 2 \
    && pass "imported: AveragePooling2D and GlobalAveragePooling2D as average_pooling2d" \
    || fail "import listing: $(cat "$T/import.log")"

agrees "$T/avg_native.h5" "$T/pred.bin" \
    && pass "engine == numpy reference on every prediction ($AGREE_N images)" \
    || fail "engine disagrees with the reference: $AGREE_OUT"

cat >"$T/oracle.yaml" <<EOC
name: it-avg
model: $T/avg_native.h5
data: {format: cifar10, files: [$T/pred.bin], count: 12, correct_only: false}
kind: oracle
oracle: {first_bit: 0, bit_count: 1800}
output: $T/delta.h5
EOC
fast_equals_full 2 2 "$T/oracle.yaml" "$T/delta.h5" "$T/full.h5" bits \
    "oracle through both poolings: delta == whole network (1,800 bits of both convolutions)"
"$PY" -c "
import h5py, sys
m = h5py.File('$T/delta.h5')['bits/mispredicts'][:]
sys.exit(0 if (m > 0).any() else 1)" && pass "some flips change predictions" \
    || fail "no flip changed any prediction (the comparison would be empty)"

if tools/import_qkeras.py "$T/bad.json" "$T/bad.h5" --name bad --task classifier \
       -o "$T/bad_native.h5" >"$T/bad_import.log" 2>&1 && ! "$UPSET" info "$T/bad_native.h5" >"$T/bad.log" 2>&1; then
    grep -q "layer avg: average_pooling2d must follow a quantizer" "$T/bad.log" \
        && pass "average pooling without a quantizer before it refused by name" \
        || fail "refusal: $(cat "$T/bad.log")"
else
    fail "average pooling after a float layer: $(cat "$T/bad_import.log" "$T/bad.log" 2>/dev/null)"
fi
finish
