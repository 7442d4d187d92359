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
import keras_fixture as kf

t = sys.argv[1]
layers = [
    kf.input_layer(), kf.qconv2d("conv", 8), kf.qrelu("relu"),
    {"class_name": "AveragePooling2D", "config": {"name": "avg", "pool_size": [3, 3],
        "strides": [2, 2], "padding": "same"}},
    kf.qrelu("relu2"), kf.qconv2d("conv2", 8), kf.qrelu("relu3"),
    {"class_name": "GlobalAveragePooling2D", "config": {"name": "gap"}},
    *kf.classifier_head(flatten=None),
]
rng = np.random.default_rng(11)
weights = {"conv": {"kernel": rng.normal(0, 0.3, (3, 3, 3, 8)), "bias": rng.normal(0, 0.1, 8)},
           "conv2": {"kernel": rng.normal(0, 0.2, (3, 3, 8, 8)), "bias": rng.normal(0, 0.1, 8)},
           "dense": {"kernel": rng.normal(0, 0.4, (8, 10)), "bias": rng.normal(0, 0.1, 10)}}
def write(path, layers):
    kf.write_keras(path, "avg", layers, weights)
write(f"{t}/avg", layers)
# the same pooling straight after a convolution (no quantizer between): refused
weights["dense"]["kernel"] = rng.normal(0, 0.05, (16 * 16 * 8, 10))
write(f"{t}/bad", layers[:2] + layers[3:4] + [{"class_name": "Flatten", "config": {"name": "f"}},
      layers[8], layers[9]])
weights["dense"]["kernel"] = rng.normal(0, 0.4, (8, 10))
# a 'valid' window larger than its input (Keras would not build it): refused by the importer
big = {"class_name": "AveragePooling2D", "config": {"name": "big", "pool_size": [40, 40],
       "padding": "valid"}}
write(f"{t}/big", layers[:3] + [big] + layers[4:])

kf.label_by_reference(f"{t}/avg", f"{t}/pred.bin", margin=1e-5)
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
flips_mispredict "$T/delta.h5"

if tools/import_qkeras.py "$T/bad.json" "$T/bad.h5" --name bad --task classifier \
       -o "$T/bad_native.h5" >"$T/bad_import.log" 2>&1 && ! "$UPSET" info "$T/bad_native.h5" >"$T/bad.log" 2>&1; then
    grep -q "layer avg: average_pooling2d must follow a quantizer" "$T/bad.log" \
        && pass "average pooling without a quantizer before it refused by name" \
        || fail "refusal: $(cat "$T/bad.log")"
else
    fail "average pooling after a float layer: $(cat "$T/bad_import.log" "$T/bad.log" 2>/dev/null)"
fi
if tools/import_qkeras.py "$T/big.json" "$T/big.h5" --name big --task classifier \
       -o "$T/big_native.h5" >"$T/big.log" 2>&1; then
    fail "a 40x40 valid pooling window over 32x32 imported"
else
    grep -q "big.*'valid' window of 40 over an input of 32 has no output" "$T/big.log" && [ ! -e "$T/big_native.h5" ] \
        && pass "a valid window larger than its input refused by the importer, by name" \
        || fail "big window: $(cat "$T/big.log")"
fi
finish
