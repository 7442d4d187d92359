#!/bin/sh
# Must-show (a real third-party depthwise model, and the hdf5 data format): chisel4ml's
# trained digit model (models/keras/chisel4ml_digits: QDepthwiseConv2DPermuted with a float
# bias, a QDense with alpha="auto_po2") re-imports from the clone to the committed
# models/chisel4ml_digits.h5, and sklearn's digits to data/digits/digits.h5; upset agrees
# with tools/qkeras_ref.py on all 1,797 predictions (ties at the top included); the oracle
# over both layers on the test split is identical on the fast and the whole-network paths
# and equals the reference's mispredict counts with the flipped weights, bit by bit for a
# sample of bits; malformed hdf5 data files are refused by name.
. tests/integration/lib.sh

"$PY" tools/import_qkeras.py --source-root models/keras \
    models/keras/chisel4ml_digits/sint_digit_model.json \
    models/keras/chisel4ml_digits/sint_digit_model.h5 \
    --name chisel4ml_digits --task classifier -o "$T/digits.h5" >"$T/import.log" 2>&1 \
    || { fail "import"; cat "$T/import.log" >&2; }
same_data "$T/digits.h5" models/chisel4ml_digits.h5 layers \
    && pass "the committed model re-imports from models/keras byte for byte (every layer)" \
    || fail "re-imported digit model differs from models/chisel4ml_digits.h5"
"$PY" tools/make_digits.py data/digits/digits.csv.gz -o "$T/data.h5" >/dev/null \
    && same_data "$T/data.h5" data/digits/digits.h5 x && same_data "$T/data.h5" data/digits/digits.h5 y \
    && pass "data/digits/digits.h5 regenerates from the committed CSV" \
    || fail "tools/make_digits.py does not reproduce data/digits/digits.h5"

"$UPSET" eval --model models/chisel4ml_digits.h5 --data data/digits/digits.h5 \
    --per-sample "$T/pred.csv" >"$T/eval.txt" || fail "upset eval on the digits"
"$UPSET" eval --model models/chisel4ml_digits.h5 --data data/digits/digits.h5 --offset 1437 \
    >"$T/test_split.txt" || fail "upset eval on the test split"
if "$PY" - "$T" <<'EOF'; then
import csv, sys
import numpy as np
sys.path[:0] = ["tools", "tests/integration"]
import keras_fixture, qkeras_ref
t = sys.argv[1]
net, x, y = keras_fixture.digits_reference()
out, _ = qkeras_ref.forward(net, x)
ours = np.array([int(r["prediction"]) for r in csv.DictReader(open(f"{t}/pred.csv"))])
top = np.sort(out, axis=1)
ties = int((top[:, -1] == top[:, -2]).sum())
same = int((ours == np.argmax(out, axis=1)).sum())
print(f"reference: {same} of {len(y)} predictions equal ({ties} with a tie at the top); "
      f"accuracy {np.mean(np.argmax(out, axis=1) == y):.4f}")
split = int((np.argmax(out[1437:], axis=1) == y[1437:]).sum())
open(f"{t}/ref_split.txt", "w").write(f"({split} / 360 correct")
sys.exit(0 if same == len(y) == 1797 else 1)
EOF
    pass "engine == numpy reference on all 1,797 digits' predictions"
else
    fail "engine and reference predictions differ"
fi
grep -qF "$(cat "$T/ref_split.txt")" "$T/test_split.txt" \
    && pass "test split (the last 360 digits): $(cut -c2- "$T/ref_split.txt"), as the reference counts" \
    || fail "test split: $(cat "$T/test_split.txt"), the reference: $(cat "$T/ref_split.txt")"

cat >"$T/oracle.yaml" <<EOC
name: it-digits
model: models/chisel4ml_digits.h5
data: {format: hdf5, files: [data/digits/digits.h5], offset: 1437, correct_only: true}
kind: oracle
oracle: {layers: [q_depthwise_conv2d_permuted, q_dense]}
output: $T/oracle.h5
EOC
fast_equals_full 2 4 "$T/oracle.yaml" "$T/oracle.h5" "$T/full.h5" bits \
    "oracle over all 1,476 bits: fast path at -np 2 == whole network at -np 4"
if "$PY" - "$T" <<'EOF'; then
import sys
import h5py, numpy as np
sys.path[:0] = ["tools", "tests/integration"]
import keras_fixture, qkeras_ref
t = sys.argv[1]
net, x, y = keras_fixture.digits_reference()
x, y = x[1437:], y[1437:]  # the test split
clean = np.argmax(qkeras_ref.forward(net, x)[0], axis=1)
x, y = x[clean == y], y[clean == y]  # correct_only
with h5py.File(f"{t}/oracle.h5", "r") as f:
    bits, mis = f["bits/bit"][:], f["bits/mispredicts"][:]
with h5py.File("models/chisel4ml_digits.h5", "r") as f:
    layers = [g for g in f["layers"].values() if g.attrs["faultable"]]
    steps = [2.0 ** (int(g.attrs["kernel_q_integer"]) - int(g.attrs["kernel_q_bits"]) + 1)
             for g in layers]
rng = np.random.default_rng(5)
pick = np.concatenate([np.arange(36), rng.choice(np.arange(36, 1476), 40, replace=False)])
names, widths = ["q_depthwise_conv2d_permuted", "q_dense"], [4, 4]
bad = 0
for b in pick:
    li = 0 if b < 36 else 1
    local = b if li == 0 else b - 36
    w, pos = divmod(int(local), widths[li])
    L = [L for L in net if L.name == names[li]][0]
    quantized = L._qweights
    def flipped(dt, w=w, pos=pos, li=li, quantized=quantized):
        k, bias = quantized(dt)
        k = k.copy()
        flat = k.reshape(-1)
        code = int(np.rint(flat[w] / steps[li]))
        u = (code & 15) ^ (1 << (3 - pos))  # 4-bit two's complement, MSB first
        flat[w] = (u - 16 if u & 8 else u) * steps[li]
        return k, bias
    L._qweights = flipped
    got = int((np.argmax(qkeras_ref.forward(net, x)[0], axis=1) != y).sum())
    L._qweights = quantized
    want = int(mis[np.flatnonzero(bits == b)[0]])
    bad += got != want
print(f"{len(pick)} bits (all 36 depthwise, 40 dense): {len(pick) - bad} equal the reference; "
      f"{len(y)} test digits; {int((mis > 0).sum())} of 1,476 bits cause a mispredict")
sys.exit(1 if bad else 0)
EOF
    pass "oracle == reference mispredicts for all 36 depthwise bits and 40 dense bits"
else
    fail "oracle against the reference's flipped weights"
fi

# malformed hdf5 data: a clear message naming the file and the dataset, non-zero exit
"$PY" - "$T" <<'EOF'
import sys
import h5py, numpy as np
t = sys.argv[1]
x = np.zeros((5, 8, 8, 1), np.float32)
cases = {"nox": {"y": np.zeros(5, np.int32)},
         "rank5": {"x": np.zeros((5, 1, 8, 8, 1), np.float32)},
         "ylen": {"x": x, "y": np.zeros(4, np.int32)},
         "yfloat": {"x": x, "y": np.zeros(5, np.float32)},
         "yneg": {"x": x, "y": np.array([0, 1, -2, 3, 4], np.int32)},
         "ybig": {"x": x, "y": np.array([0, 1, 12, 3, 4], np.int32)},
         "nan": {"x": np.where(np.arange(320).reshape(5, 8, 8, 1) == 7, np.nan, 0).astype(np.float32),
                 "y": np.zeros(5, np.int32)},
         "shape": {"x": np.zeros((5, 7, 8, 1), np.float32), "y": np.zeros(5, np.int32)},
         "nolabels": {"x": x},
         "xscalar": {"x": np.float32(1), "y": np.zeros(5, np.int32)},
         "yscalar": {"x": x, "y": np.int32(3)}}
for name, ds in cases.items():
    with h5py.File(f"{t}/bad_{name}.h5", "w") as f:
        for k, v in ds.items():
            f.create_dataset(k, data=v)
open(f"{t}/bad_text.h5", "w").write("not hdf5\n")
# h5py's own lzf filter, which libhdf5 lacks: the read failed as "a value outside
# float32's range, or a corrupt file"
with h5py.File(f"{t}/bad_lzf.h5", "w") as f:
    f.create_dataset("x", data=x, chunks=(1, 8, 8, 1), compression="lzf")
    f.create_dataset("y", data=np.zeros(5, np.int32))
EOF
for c in "nox:/x is missing" "rank5:unsupported rank" "ylen:/y must be (n) = (5)" \
         "yfloat:dataset 'y' must hold integers" "yneg:/y\[2\] = -2" "ybig:labels go up to class 12" "nan:dataset 'x' holds NaN" \
         "shape:(7,8,1) but model" "nolabels:needs labelled data" "text:not an HDF5 file" \
         "xscalar:/x is a scalar" "yscalar:/y must be (n) = (5)" \
         "lzf:dataset 'x' is stored with HDF5 filter 32000 (lzf)"; do
    name=${c%%:*} want=${c#*:}
    if "$UPSET" eval --model models/chisel4ml_digits.h5 --data "$T/bad_$name.h5" \
            >"$T/out" 2>&1; then
        fail "bad data '$name' accepted"
    elif grep -q "bad_$name.h5" "$T/out" && grep -q -- "$want" "$T/out"; then
        pass "bad data '$name': $(tail -n 1 "$T/out" | cut -c1-110)"
    else
        fail "bad data '$name': unclear message: $(cat "$T/out")"
    fi
done
"$UPSET" eval --model models/chisel4ml_digits.h5 --data data/digits/digits.h5 --offset 1797 \
    >"$T/out" 2>&1 && fail "offset past the end accepted" || \
    { grep -q "holds 1797 samples; offset 1797 count all" "$T/out" && pass "offset past the end: $(tail -n 1 "$T/out" | cut -c1-90)" \
      || fail "offset message: $(cat "$T/out")"; }
sed -e 's#format: hdf5, files: \[data/digits/digits.h5\]#format: hdf5, files: [data/digits/digits.h5], labels: x.bin#' \
    "$T/oracle.yaml" >"$T/labels.yaml"
"$UPSET" run "$T/labels.yaml" --output "$T/never.h5" >"$T/out" 2>&1 \
    && fail "data.labels with hdf5 accepted" \
    || { grep -q "data.labels" "$T/out" && [ ! -e "$T/never.h5" ] \
         && pass "data.labels with format hdf5 refused by name, no results file" \
         || fail "labels message: $(cat "$T/out")"; }

finish
