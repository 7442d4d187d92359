#!/bin/sh
# Must-show (per-channel power-of-two scales and float biases): QKeras weight quantizers with
# alpha="auto_po2" on a QConv2D, a QDepthwiseConv2D and a QDense, channel scales spread over
# eight powers of two, and quantized kernels with a float bias (no bias_quantizer), written
# here as Keras files with random weights. The importer's codes times 2^(integer - bits + 1
# + shift) are exactly the weights tools/qkeras_ref.py quantizes on its own (QKeras 0.9.0's
# auto_po2 in numpy); upset's engine agrees with the reference on every prediction; the
# oracle over the shifted layers is identical on the fast and the whole-network paths; a
# sign-bit flip in the most and the least shifted channel changes predictions as the
# reference's weight change of (flipped - code) * 2^shift grid steps does; auto_po2 with
# keep_negative=False, alpha="auto" and a non-identity chisel4ml permutation are refused.
. tests/integration/lib.sh

"$PY" - "$T" <<'EOF' || fail "building the Keras model and its reference predictions"
import sys
import numpy as np
sys.path[:0] = ["tools", "tests/integration"]
import keras_fixture as kf
import qkeras_ref

t = sys.argv[1]
po2 = lambda b, i: kf.quantized_bits(b, i, alpha="auto_po2")
layers = [
    kf.input_layer(),
    {"class_name": "QConv2D", "config": {"name": "conv", "filters": 8, "kernel_size": [3, 3],
        "strides": [2, 2], "padding": "same", "activation": "linear", "use_bias": True,
        "kernel_quantizer": po2(6, 0), "bias_quantizer": None}},
    kf.qrelu("r1"),
    {"class_name": "QDepthwiseConv2D", "config": {"name": "dw", "kernel_size": [3, 3],
        "strides": [2, 2], "padding": "same", "depth_multiplier": 2, "activation": "linear",
        "use_bias": True, "depthwise_quantizer": po2(4, 1),
        "bias_quantizer": kf.quantized_bits(8, 1)}},
    kf.qrelu("r2"),
    {"class_name": "Flatten", "config": {"name": "flat"}},
    {"class_name": "QDense", "config": {"name": "dense", "units": 10, "activation": "linear",
        "use_bias": True, "kernel_quantizer": po2(5, 0), "bias_quantizer": None}},
    {"class_name": "Activation", "config": {"name": "softmax", "activation": "softmax"}},
]
rng = np.random.default_rng(31)
spread = lambda n: 2.0 ** rng.integers(-6, 2, n)  # each channel its own power of two
weights = {"conv": {"kernel": rng.normal(0, 0.3, (3, 3, 3, 8)) * spread(8),
                    "bias": rng.normal(0, 0.1, 8)},
           "dw": {"depthwise_kernel": rng.normal(0, 0.5, (3, 3, 8, 2)) * spread(2),
                  "bias": rng.normal(0, 0.1, 16)},
           "dense": {"kernel": rng.normal(0, 0.05, (8 * 8 * 16, 10)) * spread(10),
                     "bias": rng.normal(0, 0.1, 10)}}
kf.write_keras(f"{t}/po2", "po2", layers, weights)
kf.label_by_reference(f"{t}/po2", f"{t}/pred.bin")
# the reference's quantized weights, for the check of the importer's codes and shifts
net = qkeras_ref.load([f"{t}/po2.json", f"{t}/po2.h5"])
np.savez(f"{t}/ref_w.npz", **{L.name: L._qweights(np.float32)[0] for L in net
                               if L.name in ("conv", "dw", "dense")})
EOF

tools/import_qkeras.py "$T/po2.json" "$T/po2.h5" --name po2 --task classifier \
    -o "$T/native.h5" >"$T/import.log" 2>&1 || { fail "import"; cat "$T/import.log" >&2; }
"$UPSET" info "$T/native.h5" >"$T/info.txt" || fail "upset info"
grep -Eq "conv/bias +bias_add " "$T/info.txt" && grep -Eq "dense/bias +bias_add " "$T/info.txt" \
    && pass "float biases after quantized kernels: their own bias_add layers" \
    || fail "layout: $(cat "$T/info.txt")"

if "$PY" - "$T" <<'EOP'; then
import sys, h5py, numpy as np
t = sys.argv[1]
ref = np.load(f"{t}/ref_w.npz")
ok = True
with h5py.File(f"{t}/native.h5", "r") as n:
    for g in n["layers"].values():
        name = g.attrs["name"].decode() if isinstance(g.attrs["name"], bytes) else g.attrs["name"]
        if name not in ref.files:
            continue
        bits, integer = int(g.attrs["kernel_q_bits"]), int(g.attrs["kernel_q_integer"])
        codes, shift = g["kernel_code"][:].astype(np.float64), g["kernel_shift"][:]
        w = codes * 2.0 ** (integer - bits + 1 + shift)  # shift along the last axis
        same = np.array_equal(w, ref[name].astype(np.float64))
        lo, hi = int(shift.min()), int(shift.max())
        print(f"{name}: {codes.size} codes, shifts {lo}..{hi}, equal: {same}")
        ok = ok and same and hi - lo >= 2 and np.abs(codes).max() < 2 ** (bits - 1)
sys.exit(0 if ok else 1)
EOP
    pass "codes x 2^(integer - bits + 1 + shift) == the reference's auto_po2 weights"
else
    fail "codes and shifts against the reference's quantized weights"
fi

agrees "$T/native.h5" "$T/pred.bin" \
    && pass "engine == numpy reference on every prediction ($AGREE_N images)" \
    || fail "engine disagrees with the reference: $AGREE_OUT"

cat >"$T/oracle.yaml" <<EOC
name: it-po2
model: $T/native.h5
data: {format: cifar10, files: [$T/pred.bin], count: 40, correct_only: false}
kind: oracle
oracle: {layers: [conv, dw, dense]}
include_bias: true
output: $T/delta.h5
EOC
fast_equals_full 2 2 "$T/oracle.yaml" "$T/delta.h5" "$T/full.h5" bits \
    "oracle over the shifted layers' bits: fast path == whole network"

# a flip's size: `upset eval --flip` of the dense layer's first code's sign bit in the most
# and in the least shifted channel; the reference changes the same weight by the flip's
# code change times 2^shift grid steps
if "$PY" - "$T" "$UPSET" <<'EOP'; then
import subprocess, sys, h5py, numpy as np
sys.path[:0] = ["tools", "tests/integration"]
import keras_fixture, qkeras_ref
t, upset = sys.argv[1], sys.argv[2]
with h5py.File(f"{t}/native.h5", "r") as n:
    g = [g for g in n["layers"].values() if g.attrs["name"] in (b"dense", "dense")][0]
    bits, integer = int(g.attrs["kernel_q_bits"]), int(g.attrs["kernel_q_integer"])
    shift, codes = g["kernel_shift"][:], g["kernel_code"][:]
info = subprocess.run([upset, "info", f"{t}/native.h5"], capture_output=True, text=True).stdout
first = int([l for l in info.splitlines() if " dense " in l][0].split("bits ")[1].split("..")[0])
rec, x = keras_fixture.cifar_images(300)
net = qkeras_ref.load([f"{t}/po2.json", f"{t}/po2.h5"])
top2 = np.sort(qkeras_ref.forward(net, x)[0], axis=1)[:, -2:]
keep = top2[:, 1] > top2[:, 0]  # the records write_labelled kept
labels = np.fromfile(f"{t}/pred.bin", dtype=np.uint8).reshape(-1, 3073)[:, 0]
dense = [L for L in net if L.name == "dense"][0]
quantized = dense._qweights
ok = True
for c in (int(np.argmax(shift)), int(np.argmin(shift))):
    bit = first + c * bits  # weight (0, c), its sign bit (bits are MSB first)
    out = subprocess.run([upset, "eval", "--model", f"{t}/native.h5", "--data",
                          f"{t}/pred.bin", "--format", "cifar10", "--flip", str(bit)],
                         capture_output=True, text=True)
    flip = (int(codes[0, c]) ^ (1 << (bits - 1))) & ((1 << bits) - 1)
    flip -= (1 << bits) if flip >> (bits - 1) else 0  # two's complement
    change = (flip - int(codes[0, c])) * 2.0 ** (integer - bits + 1 + int(shift[c]))
    def flipped(dt):
        k, b = quantized(dt)
        k = k.copy()
        k[0, c] += change
        return k, b
    dense._qweights = flipped
    y, _ = qkeras_ref.forward(net, x)
    dense._qweights = quantized
    want = int((np.argmax(y[keep], axis=1) == labels).sum())
    acc = [l for l in out.stdout.splitlines() if l.startswith("accuracy ")]
    got = acc[0].split("(")[1].split(" /")[0] if acc else "?"
    print(f"channel {c} (shift {int(shift[c])}): sign-bit flip (bit {bit}, change {change:g}): "
          f"upset {got}, reference {want} correct")
    ok = ok and out.returncode == 0 and got == str(want)
sys.exit(0 if ok else 1)
EOP
    pass "a sign-bit flip in the most and the least shifted channel: upset == reference"
else
    fail "a flipped bit's weight change follows its channel's shift"
fi

# what the importer cannot reproduce exactly is refused by name
"$PY" - "$T" <<'EOF'
import sys
import numpy as np
sys.path[:0] = ["tests/integration"]
import keras_fixture
t = sys.argv[1]
def model(stem, layer, weights):
    keras_fixture.write_keras(f"{t}/{stem}", stem, [
        {"class_name": "InputLayer", "config": {"name": "in", "batch_input_shape": [None, 8, 8, 2]}},
        layer, {"class_name": "Flatten", "config": {"name": "flat"}}], {layer["config"]["name"]: weights})
q = lambda **k: {"class_name": "quantized_bits", "config": dict({"bits": 4, "integer": 0}, **k)}
w = np.random.default_rng(1).normal(0, 0.3, (3, 3, 2, 4))
conv = lambda kq: {"class_name": "QConv2D", "config": {"name": "c", "filters": 4, "kernel_size": [3, 3],
    "use_bias": False, "kernel_quantizer": kq}}
model("unsigned", conv(q(alpha="auto_po2", keep_negative=False)), {"kernel": w})
model("auto", conv(q(alpha="auto")), {"kernel": w})
model("permuted", {"class_name": "QDepthwiseConv2DPermuted", "config": {"name": "c",
    "kernel_size": [3, 3], "depth_multiplier": 2, "use_bias": False,
    "depthwise_quantizer": q(alpha=1)}}, {"depthwise_kernel": w[:, :, :, :2]})
EOF
for c in "unsigned:alpha='auto_po2' with keep_negative=False" "auto:alpha='auto' (only alpha=1" \
         "permuted:permutation of 2 channels x multiplier 2 is not supported"; do
    name=${c%%:*} want=${c#*:}
    if tools/import_qkeras.py "$T/$name.json" "$T/$name.h5" --name x --task classifier \
            -o "$T/$name-native.h5" >"$T/$name.log" 2>&1; then
        fail "import of '$name' accepted"
    elif grep -q -- "$want" "$T/$name.log" && [ ! -e "$T/$name-native.h5" ]; then
        pass "refused: $(grep -- "$want" "$T/$name.log" | head -n 1 | cut -c1-120)"
    else
        fail "import of '$name': unclear message: $(cat "$T/$name.log")"
    fi
done

finish
