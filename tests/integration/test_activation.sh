#!/bin/sh
# Must-show (activation upsets): each trial of `kind: activation` flips one bit of one
# quantized activation code for one sample. On a small Keras CNN, every trial's outcome
# (the faulty prediction, and whether the logits changed) equals tools/qkeras_ref.py's
# (numpy emulation of QKeras reading the Keras files, not upset's) with the same code bit
# flipped between the same layers; the trials are identical at -np 1, 2 and 4; the draws
# cover the register bits uniformly; bad layer names are refused by name.
. tests/integration/lib.sh

"$PY" tests/integration/pooled_model.py "$T" >/dev/null || fail "building the Keras model"
tools/import_qkeras.py "$T/pooled.json" "$T/pooled.h5" --name pooled --task classifier \
    -o "$T/pooled_native.h5" >"$T/import.log" 2>&1 || { fail "import"; cat "$T/import.log" >&2; }

cat >"$T/act.yaml" <<EOC
name: it-act
model: $T/pooled_native.h5
data: {format: cifar10, files: [$T/pred.bin], count: 150, correct_only: false}
kind: activation
seed: 5
activation: {trials: 600}
output: $T/act.h5
EOC
mpi 2 run "$T/act.yaml" --quiet || fail "activation campaign"
for np in 1 4; do
    mpi $np run "$T/act.yaml" --quiet --output "$T/act_$np.h5" || fail "activation -np $np"
    same_data "$T/act.h5" "$T/act_$np.h5" trials && pass "activation trials: -np $np == -np 2" \
        || fail "activation trials differ at -np $np"
done

"$PY" - "$T" <<'EOP' || fail "activation trials against the numpy reference"
import sys
import h5py
import numpy as np
sys.path.insert(0, "tools")
import qkeras_ref

t = sys.argv[1]
net = qkeras_ref.load([f"{t}/pooled.json", f"{t}/pooled.h5"])
names = [L.name for L in net]
rec = np.fromfile(f"{t}/pred.bin", dtype=np.uint8).reshape(-1, 3073)[:150]
x = rec[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).astype(np.float32) / 256
label = rec[:, 0].astype(int)
with h5py.File(f"{t}/act.h5", "r") as f:
    g = f["trials"]
    cols = {k: g[k][:] for k in ("sample", "layer", "element", "bit_pos", "mispredicted",
                                 "changed", "act_bit", "exceeds")}
    n_bits = int(f.attrs["n_activation_bits"])
# the only register of this model: relu = quantized_relu(6, 2): unsigned 6-bit codes,
# value = code / 2^4, of a (32, 32, 8) output: 49,152 bits per sample
relu = names.index("relu")
ok = n_bits == 32 * 32 * 8 * 6
print(("ok" if ok else "FAIL") + f": {n_bits} activation bits per sample")
def run(a, first, last):
    for L in net[first:last]:
        a = L(a, np.float32, "auto")
    return a
mismatch = 0
n_changed = n_mis = 0
for k in range(len(cols["sample"])):
    s, e, p = int(cols["sample"][k]), int(cols["element"][k]), int(cols["bit_pos"][k])
    a = run(x[s:s + 1], 0, relu + 1)
    clean_logits = run(a, relu + 1, len(net) - 1)
    code = np.rint(a.reshape(-1)[e] * 16).astype(np.int64)
    assert 0 <= code < 64 and code / 16 == a.reshape(-1)[e]
    a = a.copy()
    a.reshape(-1)[e] = np.float32((code ^ (1 << (5 - p))) / 16)
    logits = run(a, relu + 1, len(net) - 1)
    pred = int(np.argmax(logits[0]))
    want_mis, want_changed = int(pred != label[s]), int((logits != clean_logits).any())
    if (want_mis, want_changed) != (int(cols["mispredicted"][k]), int(cols["changed"][k])):
        mismatch += 1
        if mismatch <= 5:
            print(f"FAIL: trial {k}: sample {s} element {e} bit {p}: reference "
                  f"mispredicted={want_mis} changed={want_changed}, upset "
                  f"{cols['mispredicted'][k]} {cols['changed'][k]}")
    n_changed += want_changed
    n_mis += want_mis
    ok &= cols["act_bit"][k] == e * 6 + p and cols["layer"][k] == 1
ok &= mismatch == 0 and n_mis > 0 and n_changed > n_mis
print(("ok" if ok else "FAIL") + f": {len(cols['sample'])} trials equal the reference "
      f"({n_changed} changed the logits, {n_mis} the prediction)")
# uniform draws: the bit position (6 values) and the sample (150) by chi-square, 1e-4 level
def chi2_ok(counts, crit):
    n, k = counts.sum(), counts.size
    stat = ((counts - n / k) ** 2 / (n / k)).sum()
    return stat < crit, stat
good_p, sp = chi2_ok(np.bincount(cols["bit_pos"], minlength=6), 25.74)   # 5 d.o.f.
good_s, ss = chi2_ok(np.bincount(cols["sample"], minlength=150), 223.0)  # 149 d.o.f.
print(("ok" if good_p and good_s else "FAIL") +
      f": draws uniform over bit positions (chi2 {sp:.1f}) and samples (chi2 {ss:.1f})")
sys.exit(0 if ok and good_p and good_s else 1)
EOP

# a layer that is not a register is refused by name, and no results are written
sed -e 's/trials: 600}/trials: 10, layers: [conv]}/' -e "s#$T/act.h5#$T/bad.h5#" "$T/act.yaml" >"$T/bad.yaml"
if mpi 1 run "$T/bad.yaml" >"$T/bad.log" 2>&1; then
    fail "activation.layers: [conv] accepted"
else
    grep -q "activation.layers: 'conv' is not a quantized activation" "$T/bad.log" && [ ! -e "$T/bad.h5" ] \
        && pass "activation.layers naming a non-register layer is refused by name" \
        || fail "bad layer message: $(cat "$T/bad.log")"
fi
finish
