#!/bin/sh
# Must-show (layer kinds beyond the paper's models): a Keras/QKeras model with ZeroPadding2D
# (asymmetric), MaxPooling2D (SAME, odd sizes, stride 2) and Dropout, written here as Keras
# files (JSON config + weights HDF5, random quantized weights), is imported; upset's engine
# agrees with tools/qkeras_ref.py (numpy emulation of TensorFlow/QKeras, reading the Keras
# files, not upset's) on every image's prediction; the oracle through the new layers is
# identical on the delta path and the whole-network reference path; `upset rank`
# differentiates through the new layers (its loss equals the reference's).
. tests/integration/lib.sh

"$PY" tests/integration/pooled_model.py "$T" || fail "building the Keras model and its reference predictions"

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

kind_end_to_end "$T/pooled" "$T/pooled_native.h5" "$T/pred.bin" 1296 \
    "zero padding and max pooling"
finish
