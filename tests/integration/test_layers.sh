#!/bin/sh
# Must-show (layer kinds beyond the paper's models): a Keras/QKeras model with ZeroPadding2D
# (asymmetric), MaxPooling2D (SAME, odd sizes, stride 2) and Dropout, written here as Keras
# files (JSON config + weights HDF5, random quantized weights), is imported; upset's engine
# agrees with tools/qkeras_ref.py (numpy emulation of TensorFlow/QKeras, reading the Keras
# files, not upset's) on every image's prediction; the oracle through the new layers is
# identical on the delta path and the whole-network reference path; `upset rank` refuses
# the model by name.
. tests/integration/lib.sh

"$PY" - "$T" <<'EOF' || fail "building the Keras model and its reference predictions"
import json, sys
import h5py
import numpy as np
sys.path.insert(0, "tools")
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
json.dump({"class_name": "Sequential", "config": {"name": "pooled", "layers": layers}},
          open(f"{t}/pooled.json", "w"))
rng = np.random.default_rng(7)
weights = {"conv": {"kernel": rng.normal(0, 0.3, (3, 3, 3, 8)), "bias": rng.normal(0, 0.1, 8)},
           "dense": {"kernel": rng.normal(0, 0.05, (17 * 17 * 8, 10)),
                     "bias": rng.normal(0, 0.1, 10)}}
with h5py.File(f"{t}/pooled.h5", "w") as f:
    names = [L["config"]["name"] for L in layers]
    f.attrs["layer_names"] = np.array([n.encode() for n in names])
    for n in names:
        g = f.create_group(n)
        ws = weights.get(n, {})
        g.attrs["weight_names"] = np.array([f"{n}/{k}:0".encode() for k in ws])
        for k, v in ws.items():
            g.create_dataset(f"{n}/{k}:0", data=v.astype(np.float32))

# 200 bundled CIFAR-10 images as upset reads them (pixel / 256, (32, 32, 3)); the labels
# written with them are the reference's predictions
raw = np.fromfile("data/cifar10/test_batch_first1017.bin", dtype=np.uint8)[:200 * 3073]
rec = raw.reshape(200, 3073)
x = rec[:, 1:].reshape(200, 3, 32, 32).transpose(0, 2, 3, 1).astype(np.float32) / 256
net = qkeras_ref.load([f"{t}/pooled.json", f"{t}/pooled.h5"])
y, _ = qkeras_ref.forward(net, x)
pred = np.argmax(y, axis=1)
# quantized dyadic logits can tie exactly: those images have no single right answer
top2 = np.sort(y, axis=1)[:, -2:]
keep = top2[:, 1] > top2[:, 0]
out = rec[keep].copy()
out[:, 0] = pred[keep]
out.tofile(f"{t}/pred.bin")
print(f"reference: {keep.sum()} images without a tie, {len(set(pred[keep]))} distinct classes")
EOF

tools/import_qkeras.py "$T/pooled.json" "$T/pooled.h5" --name pooled --task classifier \
    -o "$T/pooled_native.h5" >"$T/import.log" 2>&1 || { fail "import"; cat "$T/import.log" >&2; }
grep -q "zero_padding2d" "$T/import.log" && grep -q "max_pooling2d" "$T/import.log" \
    && ! grep -qi "dropout" "$T/import.log" && pass "imported: zero_padding2d, max_pooling2d, no dropout layer" \
    || fail "import listing: $(cat "$T/import.log")"

# upset info: the cost of a flip per faultable layer, against the layer shapes by hand:
# conv 32*32 pixels * 3*3*3 * 8 = 221,184 MACs, dense 2,312 * 10 = 23,120
"$UPSET" info "$T/pooled_native.h5" >"$T/info.txt" || fail "upset info"
grep -q "whole forward pass 244304" "$T/info.txt" && grep -Eq "^  conv +244304 MACs" "$T/info.txt" \
    && grep -Eq "^  dense +23120 MACs" "$T/info.txt" && pass "upset info: per-layer flip cost" \
    || fail "upset info cost: $(tail -n 4 "$T/info.txt")"

got=$("$UPSET" eval --model "$T/pooled_native.h5" --data "$T/pred.bin" --format cifar10)
echo "$got" | grep -Eq "accuracy 1.0000 \(1[0-9][0-9] / 1[0-9][0-9] correct" \
    && pass "engine == numpy reference on every prediction: $(echo "$got" | grep accuracy)" \
    || fail "engine disagrees with the reference: $got"

cat >"$T/oracle.yaml" <<EOC
name: it-pooled
model: $T/pooled_native.h5
data: {format: cifar10, files: [$T/pred.bin], count: 60, correct_only: false}
kind: oracle
oracle: {first_bit: 0, bit_count: 1296}
output: $T/delta.h5
EOC
mpi 2 run "$T/oracle.yaml" --quiet || fail "oracle (delta path)"
UPSET_KERNEL=wide mpi 2 run "$T/oracle.yaml" --quiet --full --output "$T/full.h5" || fail "oracle (--full)"
same_data "$T/delta.h5" "$T/full.h5" bits \
    && pass "oracle through zero padding and max pooling: delta == whole network (1,296 conv bits)" \
    || fail "delta and whole-network oracles differ"
"$PY" -c "
import h5py, sys
m = h5py.File('$T/delta.h5')['bits/mispredicts'][:]
sys.exit(0 if (m > 0).any() else 1)" && pass "some conv flips change predictions" \
    || fail "no flip changed any prediction (the comparison would be empty)"

cat >"$T/rank.yaml" <<EOC
name: it-pooled-rank
model: $T/pooled_native.h5
data: {format: cifar10, files: [$T/pred.bin], count: 20}
kind: rank
rank: {metric: gradient, samples: 20}
output: $T/rank.h5
EOC
if mpi 1 rank "$T/rank.yaml" >"$T/rank.log" 2>&1; then
    fail "upset rank accepted a max_pooling2d model"
else
    grep -q "zero_padding2d layers are not differentiated by upset rank yet" "$T/rank.log" \
        && pass "upset rank refuses the new kinds by name" || fail "rank: $(cat "$T/rank.log")"
fi
finish
