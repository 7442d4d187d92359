#!/bin/sh
# Must-show (leaky quantized_relu): a Keras/QKeras CNN whose activations are
# quantized_relu(bits, integer, negative_slope = 2^-s), written here as Keras files with
# random quantized weights, is imported (the slope as q_negative_slope_shift); upset's
# engine agrees with tools/qkeras_ref.py (QKeras's quantized_relu.__call__ in numpy,
# reading the Keras files) on every image's prediction, with negative activations present;
# the oracle is identical on the delta path and the whole-network path; activation upsets
# flip the registers' two's-complement codes; a slope that is not a power of two is refused
# by name; upset rank differentiates it (QKeras's STE: relu(x, alpha) clipped) and its loss
# equals the reference's.
. tests/integration/lib.sh

"$PY" - "$T" <<'EOF' || fail "building the Keras model and its reference predictions"
import sys
import numpy as np
sys.path[:0] = ["tools", "tests/integration"]
import keras_fixture as kf

t = sys.argv[1]
leaky = lambda n, bits, slope: kf.qrelu(n, bits, negative_slope=slope)
layers = [
    kf.input_layer(),
    kf.qconv2d("conv", 8, strides=2), leaky("lk1", 6, 0.25), kf.qconv2d("conv2", 8, strides=2),
    leaky("lk2", 8, 0.125),
    *kf.classifier_head(),
]
rng = np.random.default_rng(3)
weights = {"conv": {"kernel": rng.normal(0, 0.3, (3, 3, 3, 8)), "bias": rng.normal(-0.2, 0.1, 8)},
           "conv2": {"kernel": rng.normal(0, 0.2, (3, 3, 8, 8)), "bias": rng.normal(0, 0.1, 8)},
           "dense": {"kernel": rng.normal(0, 0.05, (8 * 8 * 8, 10)),
                     "bias": rng.normal(0, 0.1, 10)}}
def write(path, layers):
    kf.write_keras(path, "leaky", layers, weights)
write(f"{t}/leaky", layers)
write(f"{t}/slope3", layers[:2] + [leaky("lk2", 8, 0.3)] + layers[3:4] + layers[5:])
_, _, outs = kf.label_by_reference(f"{t}/leaky", f"{t}/pred.bin", keep_outputs=True)
neg = {n: float((v < 0).mean()) for n, v in outs if n in ("lk1", "lk2")}
assert min(neg.values()) > 0.05, neg  # the negative (leaky) branch is exercised
print(f"negative activations: {neg}")
EOF

tools/import_qkeras.py "$T/leaky.json" "$T/leaky.h5" --name leaky --task classifier \
    -o "$T/native.h5" >"$T/import.log" 2>&1 || { fail "import"; cat "$T/import.log" >&2; }
"$UPSET" info "$T/native.h5" >"$T/info.txt" || fail "upset info"
grep -q "quantized_relu(6,2,negative_slope=2^-2)" "$T/info.txt" \
    && grep -q "quantized_relu(8,2,negative_slope=2^-3)" "$T/info.txt" \
    && pass "imported: leaky quantized_relu with slopes 2^-2 and 2^-3" \
    || fail "import: $(cat "$T/info.txt")"

agrees "$T/native.h5" "$T/pred.bin" \
    && pass "engine == numpy reference on every prediction ($AGREE_N images)" \
    || fail "engine disagrees with the reference: $AGREE_OUT"

cat >"$T/oracle.yaml" <<EOC
name: it-leaky
model: $T/native.h5
data: {format: cifar10, files: [$T/pred.bin], count: 12, correct_only: false}
kind: oracle
oracle: {first_bit: 0, bit_count: 1800}
output: $T/delta.h5
EOC
fast_equals_full 2 2 "$T/oracle.yaml" "$T/delta.h5" "$T/full.h5" bits \
    "oracle through the leaky activations: delta == whole network (1,800 bits)"

# activation upsets in the leaky registers: two's-complement codes, so flipping the sign
# bit of a code in [-2^(bits-1-s), 2^(bits-1) - 1] gives the code minus 2^(bits-1) or plus
sed -e 's/kind: oracle/kind: activation/' -e 's/^oracle: .*$/activation: {trials: 300}/' \
    -e "s#$T/delta.h5#$T/act.h5#" "$T/oracle.yaml" >"$T/act.yaml"
mpi 2 run "$T/act.yaml" --quiet || fail "activation campaign on leaky registers"
"$PY" - "$T" <<'EOP' || fail "activation upsets on leaky registers"
import sys, h5py
t = sys.argv[1]
with h5py.File(f"{t}/act.h5", "r") as f:
    n_bits = int(f.attrs["n_activation_bits"])
    changed = int(f["trials/changed"][:].sum())
# lk1: (16, 16, 8) x 6 bits, lk2: (8, 8, 8) x 8 bits
ok = n_bits == 16 * 16 * 8 * 6 + 8 * 8 * 8 * 8 and changed > 0
print(("ok" if ok else "FAIL") + f": {n_bits} register bits per image, {changed} of 300 upsets change the output")
sys.exit(0 if ok else 1)
EOP

if tools/import_qkeras.py "$T/slope3.json" "$T/slope3.h5" --name bad --task classifier \
       -o "$T/slope3_native.h5" >"$T/slope3.log" 2>&1; then
    fail "negative_slope 0.3 imported"
else
    grep -q "negative_slope 0.3 (a power of two" "$T/slope3.log" \
        && pass "negative_slope 0.3 refused by name" || fail "slope: $(cat "$T/slope3.log")"
fi
cat >"$T/rank.yaml" <<EOC
name: it-leaky-rank
model: $T/native.h5
data: {format: cifar10, files: [$T/pred.bin], count: 20}
kind: rank
rank: {metric: gradient, samples: 20}
output: $T/rank.h5
EOC
mpi 2 rank "$T/rank.yaml" --quiet || fail "upset rank on a leaky quantized_relu"
"$PY" - "$T" <<'EOP' || fail "rank through the leaky quantized_relu"
import sys
sys.path[:0] = ["tools", "tests/integration"]
import keras_fixture
t = sys.argv[1]
loss, want, n = keras_fixture.check_rank(f"{t}/rank.h5", f"{t}/leaky", f"{t}/pred.bin", 20)
print(f"ok: upset rank through the leaky quantized_relu: loss {loss:.8f} == the reference's "
      f"{want:.8f}; {n} bits ranked once")
EOP
finish
