#!/bin/sh
# Must-show (a layer kind added as one engine file and one registry row): a Keras/QKeras
# model with UpSampling2D (nearest, size (2, 3): unequal factors, so rows and columns cannot
# be confused), written here as Keras files with random quantized weights, is imported;
# upset's engine agrees with tools/qkeras_ref.py (numpy emulation of TensorFlow/QKeras,
# reading the Keras files) on every image's prediction; the oracle through the new layer is
# identical on the delta path and the whole-network reference path; `upset rank`
# differentiates through it (its loss equals the reference's, -np 1 == -np 2).
. tests/integration/lib.sh

"$PY" - "$T" <<'EOP' || fail "building the Keras model and its reference predictions"
import sys
import numpy as np
sys.path[:0] = ["tools", "tests/integration"]
import keras_fixture as kf

t = sys.argv[1]
layers = [
    kf.input_layer(), kf.qconv2d("conv", 8, strides=4), kf.qrelu("relu"),
    {"class_name": "UpSampling2D", "config": {"name": "up", "size": [2, 3],
        "interpolation": "nearest", "data_format": "channels_last"}},
    *kf.classifier_head(),
]
rng = np.random.default_rng(11)
weights = {"conv": {"kernel": rng.normal(0, 0.3, (3, 3, 3, 8)), "bias": rng.normal(0, 0.1, 8)},
           "dense": {"kernel": rng.normal(0, 0.05, (16 * 24 * 8, 10)),
                     "bias": rng.normal(0, 0.1, 10)}}
kf.write_keras(f"{t}/up", "up", layers, weights)
kf.label_by_reference(f"{t}/up", f"{t}/pred.bin", 200)
EOP

tools/import_qkeras.py "$T/up.json" "$T/up.h5" --name up --task classifier \
    -o "$T/up_native.h5" >"$T/import.log" 2>&1 || { fail "import"; cat "$T/import.log" >&2; }
grep -q "up_sampling2d" "$T/import.log" && pass "imported: up_sampling2d" \
    || fail "import listing: $(cat "$T/import.log")"
"$UPSET" info "$T/up_native.h5" | grep -Eq "up_sampling2d +main +\(8,8,8\) +\(16,24,8\)" \
    && pass "upset info: up_sampling2d (8,8,8) -> (16,24,8)" || fail "upset info"

# the importer refuses what the engine does not compute: bilinear interpolation
sed 's/"interpolation": "nearest"/"interpolation": "bilinear"/' "$T/up.json" >"$T/bilinear.json"
tools/import_qkeras.py "$T/bilinear.json" "$T/up.h5" --name up --task classifier \
    -o "$T/bilinear_native.h5" >"$T/bilinear.log" 2>&1 && fail "bilinear: imported"
grep -q "interpolation 'bilinear' is not supported" "$T/bilinear.log" && [ ! -e "$T/bilinear_native.h5" ] \
    && pass "importer: bilinear up-sampling refused by name, no file written" \
    || fail "bilinear: $(cat "$T/bilinear.log")"

# a bad record is refused by name: no size, a zero factor, a size that does not give out_shape
for case in "missing:attribute 'size' is missing" "zero:'size' needs 2 values in 1..4096" \
            "mismatch:shape mismatch: in (8,8,8) up-sampled 3x3 is not out_shape (16,24,8)"; do
    tag=${case%%:*} msg=${case#*:}
    cp "$T/up_native.h5" "$T/bad_$tag.h5"
    "$PY" - "$T/bad_$tag.h5" "$tag" <<'EOP'
import sys
import h5py
import numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    g = f["layers/L002"]
    if sys.argv[2] == "missing":
        del g.attrs["size"]
    else:
        g.attrs["size"] = np.array([0, 2] if sys.argv[2] == "zero" else [3, 3], np.int32)
EOP
    "$UPSET" info "$T/bad_$tag.h5" >"$T/bad.log" 2>&1 && fail "$tag: accepted"
    grep -qF "layer /layers/L002 (up): $msg" "$T/bad.log" && pass "refused ($tag): $msg" \
        || fail "$tag: $(cat "$T/bad.log")"
done

kind_end_to_end "$T/up" "$T/up_native.h5" "$T/pred.bin" 1296 "up-sampling"
finish
