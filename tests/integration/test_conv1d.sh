#!/bin/sh
# Must-show (Conv1D): a Keras/QKeras model with Reshape to (length, channels) and two
# QConv1D layers (SAME with stride 2, then VALID), written here as Keras files with random
# quantized weights, is imported as conv2d layers over (1, length, channels) with the
# kernel's bit indices unchanged; upset's engine agrees with tools/qkeras_ref.py (a direct
# 1-D convolution in numpy, reading the Keras files) on every image's prediction; the
# oracle through both is identical on the delta path and the whole-network path; causal
# padding is refused by name.
. tests/integration/lib.sh

"$PY" - "$T" <<'EOF' || fail "building the Keras model and its reference predictions"
import sys
import numpy as np
sys.path[:0] = ["tools", "tests/integration"]
import keras_fixture as kf

t = sys.argv[1]
def conv(n, f, k, s, p):
    return {"class_name": "QConv1D", "config": {"name": n, "filters": f, "kernel_size": [k],
            "strides": [s], "padding": p, "activation": "linear", "use_bias": True,
            "kernel_quantizer": kf.Q6, "bias_quantizer": kf.Q6}}
layers = [
    kf.input_layer(),
    {"class_name": "Reshape", "config": {"name": "seq", "target_shape": [1024, 3]}},
    conv("c1", 8, 5, 2, "same"), kf.qrelu("r1"), conv("c2", 4, 3, 1, "valid"), kf.qrelu("r2"),
    *kf.classifier_head(),
]
rng = np.random.default_rng(5)
weights = {"c1": {"kernel": rng.normal(0, 0.3, (5, 3, 8)), "bias": rng.normal(0, 0.1, 8)},
           "c2": {"kernel": rng.normal(0, 0.2, (3, 8, 4)), "bias": rng.normal(0, 0.1, 4)},
           "dense": {"kernel": rng.normal(0, 0.03, (510 * 4, 10)),
                     "bias": rng.normal(0, 0.1, 10)}}
def write(path, layers):
    kf.write_keras(path, "c1d", layers, weights)
write(f"{t}/c1d", layers)
write(f"{t}/causal", layers[:2] + [conv("c1", 8, 5, 2, "causal")] + layers[3:])
kf.label_by_reference(f"{t}/c1d", f"{t}/pred.bin")
EOF

tools/import_qkeras.py "$T/c1d.json" "$T/c1d.h5" --name c1d --task classifier \
    -o "$T/c1d_native.h5" >"$T/import.log" 2>&1 || { fail "import"; cat "$T/import.log" >&2; }
"$UPSET" info "$T/c1d_native.h5" >"$T/info.txt" || fail "upset info"
# c1: 5*3*8 = 120 weights (bits 0..719), c2: 3*8*4 = 96 weights (bits 720..1295)
grep -Eq "c1 +conv2d .*\(1,1024,3\) +\(1,512,8\) .* 720 \(120 weights, bits 0\.\.719\)" "$T/info.txt" \
    && grep -Eq "c2 +conv2d .*\(1,512,8\) +\(1,510,4\) .* 576 \(96 weights, bits 720\.\.1295\)" "$T/info.txt" \
    && pass "Conv1D layers: conv2d over (1, length, channels), 1,296 kernel bits" \
    || fail "layout: $(cat "$T/info.txt")"
"$PY" - "$T" <<'EOP' || fail "kernel codes in Keras's C order"
import sys, h5py, numpy as np
t = sys.argv[1]
with h5py.File(f"{t}/c1d.h5", "r") as k, h5py.File(f"{t}/c1d_native.h5", "r") as n:
    w = k["c1"]["c1/kernel:0"][:]
    g = [n["layers"][x] for x in n["layers"] if n["layers"][x].attrs["name"] in (b"c1", "c1")][0]
    codes = g["kernel_code"][:]
    want = np.clip(np.rint(w * 32), -32, 31)  # quantized_bits(6, 0): code = round(w * 2^5)
    ok = codes.size == w.size and (codes.ravel() == want.ravel()).all()
print(("ok" if ok else "FAIL") + ": the Conv1D kernel's codes keep Keras's (k, cin, cout) C order")
sys.exit(0 if ok else 1)
EOP

agrees "$T/c1d_native.h5" "$T/pred.bin" \
    && pass "engine == numpy reference on every prediction ($AGREE_N images)" \
    || fail "engine disagrees with the reference: $AGREE_OUT"

cat >"$T/oracle.yaml" <<EOC
name: it-c1d
model: $T/c1d_native.h5
data: {format: cifar10, files: [$T/pred.bin], count: 12, correct_only: false}
kind: oracle
oracle: {first_bit: 0, bit_count: 1296}
output: $T/delta.h5
EOC
fast_equals_full 2 2 "$T/oracle.yaml" "$T/delta.h5" "$T/full.h5" bits \
    "oracle through both Conv1D layers: delta == whole network (their 1,296 bits)"
flips_mispredict "$T/delta.h5"

if tools/import_qkeras.py "$T/causal.json" "$T/causal.h5" --name bad --task classifier \
       -o "$T/causal_native.h5" >"$T/causal.log" 2>&1; then
    fail "causal Conv1D imported"
else
    grep -q "padding 'causal' (only same/valid; not causal)" "$T/causal.log" && [ ! -e "$T/causal_native.h5" ] \
        && pass "causal Conv1D refused by name" || fail "causal: $(cat "$T/causal.log")"
fi
finish
