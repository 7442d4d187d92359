#!/bin/sh
# Must-show (bias bits, include_bias): each faultable layer's quantized bias codes join the
# fault space right after its kernel's bits (FKeras's order with biases). On a small Keras
# CNN, the oracle over every bias bit equals tools/qkeras_ref.py (numpy QKeras reading the
# Keras files, with the flipped bias written into them) image for image; the delta and
# whole-network paths agree; on ECON-T Medium the kernel bits keep their results, shifted
# past the first layer's bias bits, a bias bit equals `upset eval --include-bias --flip`,
# and multibit trials over the larger space are identical across rank counts.
. tests/integration/lib.sh

"$PY" tests/integration/pooled_model.py "$T" >/dev/null || fail "building the Keras model"
tools/import_qkeras.py "$T/pooled.json" "$T/pooled.h5" --name pooled --task classifier \
    -o "$T/native.h5" >"$T/import.log" 2>&1 || { fail "import"; cat "$T/import.log" >&2; }
"$UPSET" info "$T/native.h5" >"$T/info.txt" || fail "upset info"
# conv: 216 weights x 6 bits = 1,296 kernel bits, then 8 bias codes x 6 bits; dense: 23,120
# weights x 6 bits from 1,344, then 10 bias codes x 6 bits
grep -q "with include_bias: 140124 bits; bias bits per layer: conv 1296..1343 (8 codes x 6 bits) dense 140064..140123 (10 codes x 6 bits)" "$T/info.txt" \
    && pass "upset info: the bias bits follow each layer's kernel bits" \
    || fail "layout: $(grep include_bias "$T/info.txt")"

for part in conv:1296:48 dense:140064:60; do
    name=${part%%:*} rest=${part#*:}
    cat >"$T/$name.yaml" <<EOC
name: it-bias-$name
model: $T/native.h5
data: {format: cifar10, files: [$T/pred.bin], count: 60, correct_only: false}
kind: oracle
include_bias: true
oracle: {first_bit: ${rest%%:*}, bit_count: ${rest#*:}}
output: $T/$name.h5
EOC
    fast_equals_full 2 2 "$T/$name.yaml" "$T/$name.h5" "$T/${name}_full.h5" bits \
        "$name bias bits: delta/cached path == whole network"
done

"$PY" - "$T" <<'EOP' || fail "bias bits against the numpy reference"
import shutil, sys
import h5py
import numpy as np
sys.path.insert(0, "tools")
import qkeras_ref

t = sys.argv[1]
rec = np.fromfile(f"{t}/pred.bin", dtype=np.uint8).reshape(-1, 3073)[:60]
x = rec[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).astype(np.float32) / 256
label = rec[:, 0].astype(int)
ok, n, changed = True, 0, 0
for name, first in (("conv", 1296), ("dense", 140064)):
    with h5py.File(f"{t}/{name}.h5", "r") as f:
        bits, mis = f["bits/bit"][:], f["bits/mispredicts"][:]
        layer_w, pos = f["bits/weight"][:], f["bits/bit_pos"][:]
    with h5py.File(f"{t}/pooled.h5", "r") as f:
        bias = f[name][f"{name}/bias:0"][:].astype(np.float32)
        n_kernel = f[name][f"{name}/kernel:0"].size
    # quantized_bits(6, 0): code = round(b * 32) clipped to [-32, 31], value = code / 32
    codes = np.clip(np.rint(bias * 32), -32, 31).astype(int)
    for b, m, w, p in zip(bits, mis, layer_w, pos):
        c = int(w) - n_kernel  # a bias is addressed past the kernel
        assert int(b) == first + 6 * c + int(p), (b, w, p)
        flipped = ((codes[c] & 63) ^ (1 << (5 - int(p))))
        flipped = flipped - 64 if flipped >= 32 else flipped  # two's complement, 6 bits
        shutil.copy(f"{t}/pooled.h5", f"{t}/flip.h5")
        with h5py.File(f"{t}/flip.h5", "r+") as f:
            v = f[name][f"{name}/bias:0"]
            arr = v[:]
            arr[c] = flipped / 32
            v[...] = arr
        net = qkeras_ref.load([f"{t}/pooled.json", f"{t}/flip.h5"])
        y, _ = qkeras_ref.forward(net, x)
        want = int((np.argmax(y, axis=1) != label).sum())
        n += 1
        changed += want > 0
        if want != int(m):
            ok = False
            print(f"FAIL: {name} bias {c} bit {p}: reference {want} mispredicts, oracle {int(m)}")
ok &= changed > 0
print(("ok" if ok else "FAIL") + f": {n} bias bits: oracle mispredicts == numpy reference "
      f"({changed} change some prediction)")
sys.exit(0 if ok else 1)
EOP

# ECON-T Medium: with include_bias the first layer's 48 bias bits follow its 432 kernel bits,
# so encoded_vector's kernel bit k moves from 432 + k to 480 + k with the same result
DATA='data: {format: hgcal, files: [data/hgcal/ttbar_0PU.csv], count: 60}'
for v in plain bias; do
    first=432; [ $v = bias ] && first=420
    cat >"$T/med_$v.yaml" <<EOC
name: it-bias-med-$v
model: models/econt_medium.h5
$DATA
kind: oracle
include_bias: $([ $v = bias ] && echo true || echo false)
oracle: {first_bit: $first, bit_count: 90}
output: $T/med_$v.h5
EOC
    mpi 2 run "$T/med_$v.yaml" --quiet || fail "ECON-T oracle ($v)"
done
"$PY" - "$T" <<'EOP' || fail "ECON-T kernel bits shifted past the bias"
import sys, h5py
t = sys.argv[1]
p, b = h5py.File(f"{t}/med_plain.h5", "r"), h5py.File(f"{t}/med_bias.h5", "r")
plain = dict(zip(p["bits/bit"][:].tolist(), p["bits/mean_emd"][:].tolist()))
got = dict(zip(b["bits/bit"][:].tolist(), b["bits/mean_emd"][:].tolist()))
same = all(got[480 + k] == plain[432 + k] for k in range(30))
print(("ok" if same else "FAIL") + ": encoded_vector's kernel bits 432+k (plain) == 480+k (with biases)")
sys.exit(0 if same else 1)
EOP
for bit in 432 437 470; do
    want=$("$PY" -c "
import h5py; f = h5py.File('$T/med_bias.h5')
print(repr(float(dict(zip(f['bits/bit'][:].tolist(), f['bits/mean_emd'][:].tolist()))[$bit])))")
    got=$("$UPSET" eval --model models/econt_medium.h5 --data data/hgcal/ttbar_0PU.csv --count 60 \
        --include-bias --flip "$bit" | sed -n 's/^mean EMD //p')
    "$PY" -c "import sys; a, b = $want, $got; sys.exit(abs(a - b) > 1e-12 * max(1, abs(a)))" \
        && pass "bias bit $bit: oracle == eval --include-bias --flip ($got)" \
        || fail "bias bit $bit: oracle $want, eval $got"
done

# multibit over kernel and bias bits: the same trials at -np 1 and 4
cat >"$T/mb.yaml" <<EOC
name: it-bias-mb
model: models/econt_medium.h5
$DATA
kind: multibit
include_bias: true
seed: 3
multibit: {trials: 40, flips: 30, fault_model: stuck_at_1}
output: $T/mb.h5
EOC
for np in 1 4; do
    mpi $np run "$T/mb.yaml" --quiet --output "$T/mb_$np.h5" || fail "multibit include_bias -np $np"
done
same_data "$T/mb_1.h5" "$T/mb_4.h5" trials && pass "multibit with bias bits: -np 1 == -np 4" \
    || fail "multibit with bias bits differs across rank counts"
# upset trial says that the indices count bias bits (replayed without --include-bias,
# indices below 12720 name other weights and eval printed another number without a word);
# with --include-bias the replay gives the trial's recorded mean EMD
"$UPSET" trial "$T/mb_1.h5" 2 >"$T/trial.txt" 2>"$T/trial.err" || fail "upset trial include_bias"
grep -q "is an include_bias campaign: .*replay with upset eval --include-bias --flip" "$T/trial.err" \
    && pass "upset trial names an include_bias campaign's replay option" \
    || fail "upset trial on include_bias results: stderr '$(cat "$T/trial.err")'"
bits=$(sed -n 's/^trial 2 flipped //p' "$T/trial.txt")
got=$("$UPSET" eval --model models/econt_medium.h5 --data data/hgcal/ttbar_0PU.csv --count 60 \
    --include-bias --flip "$bits" | sed -n 's/^mean EMD //p')
"$PY" -c "
import h5py, sys; want = h5py.File('$T/mb_1.h5')['trials/mean_emd'][2]
sys.exit(1 if abs(want - $got) > 1e-12 * max(1, abs(want)) else 0)" \
    && pass "include_bias trial 2 replayed by eval --include-bias --flip: $got" \
    || fail "include_bias trial 2 replay: eval $got"

# the kinds that fault kernels only refuse include_bias by name
sed -e 's/kind: multibit/kind: binfi/' -e '/^multibit:/d' -e "s#$T/mb.h5#$T/binfi.h5#" "$T/mb.yaml" >"$T/binfi.yaml"
if mpi 1 run "$T/binfi.yaml" >"$T/binfi.log" 2>&1; then
    fail "binfi accepted include_bias"
else
    grep -q "include_bias: binfi campaigns fault kernels only" "$T/binfi.log" && [ ! -e "$T/binfi.h5" ] \
        && pass "binfi refuses include_bias by name" || fail "binfi: $(cat "$T/binfi.log")"
fi
# upset rank with include_bias: each layer's bias codes are parameters after its kernel, the
# ranking covers every kernel and bias bit once, and a bias parameter's gradient equals a
# central difference of the loss over the same samples (quantizers off: float-shadow)
cat >"$T/rank.yaml" <<EOC
name: it-bias-rank
model: models/econt_medium.h5
$DATA
kind: rank
include_bias: true
rank: {metric: gradient, samples: 40}
output: $T/rank.h5
EOC
for np in 1 2; do
    mpi $np rank "$T/rank.yaml" --quiet --force --mode float-shadow --output "$T/rank_$np.h5" \
        || fail "upset rank include_bias -np $np"
done
"$PY" - "$T" <<'EOP' || fail "rank with bias bits"
import sys, h5py, numpy as np
t = sys.argv[1]
with h5py.File(f"{t}/rank_1.h5", "r") as a, h5py.File(f"{t}/rank_2.h5", "r") as b:
    bits, n = a["ranking/bit"][:], int(a.attrs["n_fault_bits"])
    layer, weight = a["params/layer"][:], a["params/weight"][:]
    same = (a["params/gradient"][:] == b["params/gradient"][:]).all() and (bits == b["ranking/bit"][:]).all()
# econt_medium with biases: conv 72 weights + 8 biases, dense 2048 weights + 16 biases
assert n == 12720 + 8 * 6 + 16 * 6, n
assert sorted(bits) == list(range(n)), "each bit once"
assert len(weight) == 72 + 8 + 2048 + 16, len(weight)
assert list(weight[72:80]) == list(range(72, 80)) and (layer[72:80] == 1).all(), "conv biases past the kernel"
assert list(weight[-16:]) == list(range(2048, 2064)), "dense biases past the kernel"
assert same, "-np 1 and -np 2 differ"
print(f"ok: upset rank with include_bias: {len(weight)} parameters (biases after each kernel), "
      f"{n} bits ranked once each, -np 1 == -np 2")
EOP
finish
