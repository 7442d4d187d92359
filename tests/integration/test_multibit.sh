#!/bin/sh
# Must-show: multi-bit trials with protection = all give zero errors; the sensitive and
# top-percent policies protect exactly the oracle's sensitive bits (or the requested share
# of them) and never flip them. Also: every bit BinFI and StatFI actually flip gives the
# same error and sensitivity as the exhaustive oracle on the same data, BinFI follows its
# binary search, and StatFI's strata have Leveugle's sample sizes.
. tests/integration/lib.sh

DATA='data: {format: hgcal, files: [data/hgcal/ttbar_0PU.csv], count: 60}'
cat > "$T/oracle.yaml" <<EOC
name: it-mb-oracle
model: models/econt_medium.h5
$DATA
kind: oracle
output: $T/oracle.h5
EOC
mpi 2 run "$T/oracle.yaml" --quiet || fail "oracle"
for policy in none all sensitive top_percent_of_sensitive top_percent_of_all; do
    cat > "$T/$policy.yaml" <<EOC
name: it-mb-$policy
model: models/econt_medium.h5
$DATA
kind: multibit
multibit: {trials: 30, flips: 200, protection: $policy, protect_percent: 50, oracle: $T/oracle.h5}
output: $T/$policy.h5
EOC
    mpi 2 run "$T/$policy.yaml" --quiet || fail "multibit $policy"
done
# A guided campaign's record of a bit is the oracle's record of that bit (same inputs, same
# evaluation): so a ranking's whole curve can be read off the oracle
cat > "$T/guided.yaml" <<EOC
name: it-guided
model: models/econt_medium.h5
$DATA
kind: guided
guided: {order: random, budget: 400}
output: $T/guided.h5
EOC
mpi 2 run "$T/guided.yaml" --quiet || fail "guided"
"$PY" - "$T" <<'EOP' || fail "guided records against the oracle"
import sys, h5py, numpy as np
t = sys.argv[1]
with h5py.File(f"{t}/oracle.h5", "r") as o, h5py.File(f"{t}/guided.h5", "r") as g:
    ob, gb = o["bits"], g["bits"]
    at = {int(b): i for i, b in enumerate(ob["bit"][:])}
    idx = np.array([at[int(b)] for b in gb["bit"][:]])
    for col in ("mean_emd", "delta_emd", "n_changed", "sensitive", "layer", "weight", "bit_pos"):
        assert (ob[col][:][idx] == gb[col][:]).all(), col
print(f"ok: {len(idx)} guided records (random order) equal the oracle's records of the same bits")
EOP

# Several flips run the flipped model from the first faulty layer's stored input and stop
# where a later layer reads its fault-free input again: identical, bit for bit, to the
# whole network (--full) — with many flips, with only insensitive bits left, and with few
# flips (most samples settle), on an autoencoder and on both CNNs
C10='data: {format: cifar10, files: [data/cifar10/test_batch_first1017.bin], labels: data/cifar10/test_labels_10000.bin, count: 30}'
for spec in "none:econt_medium:200" "top_percent_of_all:econt_medium:200" "none:econt_medium:2" \
            "none:cifar10:3" "none:rn07:40"; do
    policy=${spec%%:*} rest=${spec#*:}
    model=${rest%%:*} flips=${rest#*:}
    data=$DATA
    case $model in econt*) ;; *) data=$C10 ;; esac
    cat > "$T/settle.yaml" <<EOC
name: it-mb-settle
model: models/$model.h5
$data
kind: multibit
multibit: {trials: 12, flips: $flips, protection: $policy, protect_percent: 50, oracle: $T/oracle.h5}
output: $T/settle.h5
EOC
    fast_equals_full 2 2 "$T/settle.yaml" "$T/settle.h5" "$T/settle_full.h5" trials \
        "multibit $model, $flips flips, protection $policy: identical to --full" --force
done

# upset trial replays a trial's bits: `upset eval --flip` on them (the whole network, no
# caches) gives the trial's recorded mean EMD exactly, and protected bits never flip
for trial in 0 7 29; do
    "$UPSET" trial "$T/top_percent_of_all.h5" $trial >"$T/trial.txt" || fail "upset trial $trial"
    bits=$(sed -n "s/^trial $trial flipped //p" "$T/trial.txt")
    got=$("$UPSET" eval --model models/econt_medium.h5 --data data/hgcal/ttbar_0PU.csv --count 60 \
        --flip "$bits" | sed -n 's/^mean EMD //p')
    "$PY" - "$T/top_percent_of_all.h5" $trial "$got" "$bits" "$T/trial.txt" <<'EOP' || fail "trial $trial replay"
import sys, h5py
path, t, got, bits, txt = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
flipped = [int(b) for b in bits.split(",")]
prot_line = [l for l in open(txt) if l.startswith(f"trial {t} protected")][0].split()[-1]
protected = [] if prot_line == "(none)" else [int(b) for b in prot_line.split(",")]
with h5py.File(path, "r") as f:
    tr = f["trials"]
    i = list(tr["trial"][:]).index(t)
    want, nf = float(tr["mean_emd"][i]), int(tr["n_flipped"][i])
assert len(flipped) == nf and len(flipped) + len(protected) == 200, (len(flipped), nf, len(protected))
assert len(set(flipped) | set(protected)) == 200, "a bit drawn twice"
# the campaign and eval sum the per-sample EMDs in different orders (as in
# test_oracle_reference.sh): equal to rounding
assert abs(got - want) <= 1e-12 * max(1, abs(want)), f"trial {t}: eval --flip {got!r}, campaign {want!r}"
print(f"ok: trial {t}: {nf} flipped bits replayed by eval --flip give the recorded mean EMD {want!r} ({len(protected)} protected)")
EOP
done

# Fault models: the same cells drawn (seed, trial) act as flips, stuck-at-0/1 cells or
# multiple-cell upsets in one word; checked against the model's stored codes in Python
for fm in flip stuck_at_0 stuck_at_1 mcu_word mcu_neighbors mcu_stride4; do
    model=$fm stride=1
    [ $fm = mcu_stride4 ] && model=mcu_neighbors stride=4
    cat > "$T/fm_$fm.yaml" <<EOC
name: it-fm-$fm
model: models/econt_medium.h5
$DATA
kind: multibit
seed: 11
multibit: {trials: 12, flips: 40, fault_model: $model, mcu_size: 3, mcu_stride: $stride}
output: $T/fm_$fm.h5
EOC
    mpi 2 run "$T/fm_$fm.yaml" --quiet || fail "multibit fault_model $fm"
    for t in 0 1 2 3; do "$UPSET" trial "$T/fm_$fm.h5" $t; done >"$T/fm_$fm.txt" || fail "trial $fm"
done
for fm in stuck_at_1 mcu_word mcu_neighbors; do
    for np in 1 4; do
        mpi $np run "$T/fm_$fm.yaml" --quiet --output "$T/fm_${fm}_$np.h5" || fail "$fm -np $np"
        same_data "$T/fm_$fm.h5" "$T/fm_${fm}_$np.h5" trials && pass "$fm: -np $np == -np 2" \
            || fail "$fm: -np $np differs"
    done
done
"$PY" - "$T" <<'EOP' || fail "fault model checks"
import sys, h5py, numpy as np
t = sys.argv[1]
with h5py.File("models/econt_medium.h5", "r") as f:
    layers = []  # (first global bit, bits, codes) of each faultable layer, in order
    first = 0
    for name in sorted(f["layers"]):
        g = f["layers"][name]
        if int(g.attrs["faultable"]):
            bits = int(g.attrs["kernel_q_bits"])
            codes = g["kernel_code"][:].ravel().astype(np.int64)
            layers.append((first, bits, codes))
            first += bits * codes.size
def where(b):
    for f0, bits, codes in layers:
        if b < f0 + bits * codes.size:
            return (b - f0) // bits, (b - f0) % bits, bits, codes
def stored(b):  # the bit's value in the two's complement code, MSB first
    w, pos, bits, codes = where(b)
    return (int(codes[w]) & ((1 << bits) - 1)) >> (bits - 1 - pos) & 1
def sets(fm):
    out = {}
    for line in open(f"{t}/fm_{fm}.txt"):
        parts = line.split()
        if parts[2] == "flipped":
            out[int(parts[1])] = set() if parts[3] == "(none)" else {int(x) for x in parts[3].split(",")}
    return out
F, S0, S1, M, N, N4 = (sets(x) for x in ("flip", "stuck_at_0", "stuck_at_1", "mcu_word",
                                          "mcu_neighbors", "mcu_stride4"))
ok = True
for tr in range(4):
    part = not (S0[tr] & S1[tr]) and (S0[tr] | S1[tr]) == F[tr]
    vals = all(stored(b) == 1 for b in S0[tr]) and all(stored(b) == 0 for b in S1[tr])
    want = set()
    for s in F[tr]:  # each drawn cell starts an upset of 3 bits of its word toward the LSB
        w, pos, bits, codes = where(s)
        for j in range(3):
            if pos + j < bits:
                want ^= {s + j}
    near = set()
    for s in F[tr]:  # ... or the same bit of its weight and the next 2 weights of its layer
        w, pos, bits, codes = where(s)
        for j in range(3):
            if w + j < codes.size:
                near ^= {s + j * bits}
    near4 = set()
    for s in F[tr]:  # ... or, with mcu_stride 4, of weights w + 4 and w + 8
        w, pos, bits, codes = where(s)
        for j in range(3):
            if w + 4 * j < codes.size:
                near4 ^= {s + 4 * j * bits}
    good_n = N[tr] == near and N4[tr] == near4
    ok &= part and vals and M[tr] == want and good_n
    print(("ok" if good_n else "FAIL") + f": trial {tr}: mcu_neighbors flips {len(N[tr])} bits"
          f" ({len(N4[tr])} with mcu_stride 4)")
    print(("ok" if part and vals and M[tr] == want else "FAIL") +
          f": trial {tr}: {len(F[tr])} cells; stuck-at-0 changes {len(S0[tr])} one-bits, "
          f"stuck-at-1 {len(S1[tr])} zero-bits (together the cells); mcu_word flips {len(M[tr])} bits")
with h5py.File(f"{t}/fm_stuck_at_0.h5", "r") as f:
    nf = f["trials/n_flipped"][:4]
ok &= [len(S0[i]) for i in range(4)] == list(nf)
sys.exit(0 if ok else 1)
EOP
for fm in stuck_at_0 mcu_word; do
    bits=$(sed -n "s/^trial 2 flipped //p" "$T/fm_$fm.txt")
    got=$("$UPSET" eval --model models/econt_medium.h5 --data data/hgcal/ttbar_0PU.csv --count 60 \
        --flip "$bits" | sed -n 's/^mean EMD //p')
    "$PY" -c "
import h5py, sys
want = float(h5py.File('$T/fm_$fm.h5')['trials/mean_emd'][2])
sys.exit(0 if abs(want - $got) <= 1e-12 * max(1, abs(want)) else 1)" \
        && pass "$fm: trial 2 replayed by eval --flip gives its mean EMD" || fail "$fm replay"
done

# A radiation environment: a Poisson number of cells per trial, mean sigma*flux*exposure*bits
# (12,720 bits; sigma 1e-14 cm2, flux 1e5 /cm2/s): lambda 2 (Knuth) and 300 (PTRS)
for lam in 2 300; do
    exposure=$("$PY" -c "print(repr($lam / (1e-14 * 1e5 * 12720)))")
    cat > "$T/rate$lam.yaml" <<EOC
name: it-rate-$lam
model: models/econt_medium.h5
data: {format: hgcal, files: [data/hgcal/ttbar_0PU.csv], count: 5}
kind: multibit
seed: 21
multibit: {trials: 4000, cross_section: 1e-14, flux: 1e5, exposure: $exposure}
output: $T/rate$lam.h5
EOC
    mpi 2 run "$T/rate$lam.yaml" --quiet || fail "rate $lam"
done
for np in 1 4; do
    mpi $np run "$T/rate300.yaml" --quiet --output "$T/rate300_np$np.h5" || fail "rate 300 -np $np"
    same_data "$T/rate300.h5" "$T/rate300_np$np.h5" trials && pass "Poisson trials: -np $np == -np 2" \
        || fail "Poisson trials differ at -np $np"
done
"$PY" - "$T" <<'EOP' || fail "Poisson counts"
import math, sys, h5py
t = sys.argv[1]
ok = True
for lam in (2, 300):
    k = h5py.File(f"{t}/rate{lam}.h5", "r")["trials/n_drawn"][:].astype(float)
    n = k.size
    mean, var, p0 = k.mean(), k.var(), (k == 0).mean()
    # four standard errors of the mean, of the variance (2 lambda^2 + lambda) / n, of P(0)
    good = (abs(mean - lam) < 4 * math.sqrt(lam / n) and
            abs(var - lam) < 4 * math.sqrt((2 * lam * lam + lam) / n) and
            abs(p0 - math.exp(-lam)) < 4 * math.sqrt(math.exp(-lam) * (1 - math.exp(-lam)) / n) + 1e-12)
    ok &= good
    print(("ok" if good else "FAIL") + f": Poisson({lam}) over {n} trials: mean {mean:.3f}, "
          f"variance {var:.3f}, P(0) {p0:.4f} (exp(-lambda) {math.exp(-lam):.4f})")
sys.exit(0 if ok else 1)
EOP
"$UPSET" trial "$T/rate300.h5" 5 | sed -n 's/^trial 5 flipped //p' | tr ',' '\n' | wc -l >"$T/n5"
"$PY" -c "
import h5py, sys
sys.exit(0 if int(h5py.File('$T/rate300.h5')['trials/n_drawn'][5]) == int(open('$T/n5').read()) else 1)" \
    && pass "upset trial lists a Poisson trial's cells" || fail "upset trial: Poisson cell count"
sed 's/flux: 1e5, //' "$T/rate2.yaml" >"$T/noflux.yaml"
if mpi 1 run "$T/noflux.yaml" --quiet --output "$T/noflux.h5" >"$T/noflux.log" 2>&1; then
    fail "cross_section without flux accepted"
else
    grep -q "needs multibit.flux and multibit.exposure" "$T/noflux.log" \
        && pass "cross_section without flux refused" || fail "noflux: $(cat "$T/noflux.log")"
fi

# A designer's own protected set (protection: list): listed bits never flip
printf '# hardened by the layout\n3\n0\n1\n2\n' >"$T/list.txt"
seq 100 4 4099 >>"$T/list.txt"
cat > "$T/list.yaml" <<EOC
name: it-mb-list
model: models/econt_medium.h5
$DATA
kind: multibit
seed: 4
multibit: {trials: 20, flips: 2000, protection: list, protect_list: $T/list.txt}
output: $T/list.h5
EOC
mpi 2 run "$T/list.yaml" --quiet || fail "multibit protection list"
for t in 0 1 2; do "$UPSET" trial "$T/list.h5" $t; done >"$T/list_trials.txt" || fail "trial list"
"$PY" - "$T" <<'EOP' && pass "protection list: 1,004 listed bits never flip, and drawn ones are reported protected" || fail "protection list"
import sys, h5py
t = sys.argv[1]
listed = {int(l) for l in open(f"{t}/list.txt") if not l.startswith("#")}
assert len(listed) == 1004 and int(h5py.File(f"{t}/list.h5")["/"].attrs["n_protected"]) == 1004
seen_protected = 0
for line in open(f"{t}/list_trials.txt"):
    _, tr, what, bits = line.split()
    b = set() if bits == "(none)" else {int(x) for x in bits.split(",")}
    if what == "flipped":
        assert not (b & listed), f"trial {tr}: a listed bit flipped"
    else:
        assert b <= listed, f"trial {tr}: an unlisted bit reported protected"
        seen_protected += len(b)
assert seen_protected > 0, "no listed bit was ever drawn: the check would be empty"
EOP
printf '5\n5\n' >"$T/dup.txt"
sed "s#protect_list: .*}#protect_list: $T/dup.txt}#; s#output: .*#output: $T/dup.h5#" "$T/list.yaml" >"$T/dup.yaml"
mpi 1 run "$T/dup.yaml" --quiet >"$T/dup.log" 2>&1 && fail "a bit listed twice accepted" \
    || { grep -q "bit 5 is listed twice" "$T/dup.log" && pass "protect_list: a bit listed twice refused" \
         || fail "dup: $(cat "$T/dup.log")"; }
# a guided ranking too: a repeated bit would be flipped again and counted twice in the curve
sed "s#order: random, budget: 400#order: ranking, ranking: $T/dup.txt#; s#output: .*#output: $T/gdup.h5#" \
    "$T/guided.yaml" >"$T/gdup.yaml"
mpi 1 run "$T/gdup.yaml" --quiet >"$T/gdup.log" 2>&1 && fail "guided: a ranking listing a bit twice accepted" \
    || { grep -q "dup.txt: bit 5 is listed twice" "$T/gdup.log" && [ ! -e "$T/gdup.h5" ] \
         && pass "guided: a ranking listing a bit twice refused" || fail "gdup: $(cat "$T/gdup.log")"; }

# trials must be scored on the oracle's inputs
sed 's/count: 60/count: 61/; s/it-mb-sensitive/it-mb-other-inputs/' "$T/sensitive.yaml" >"$T/other.yaml"
sed -i "s|output: .*|output: $T/other.h5|" "$T/other.yaml"
if mpi 2 run "$T/other.yaml" --quiet >"$T/other.log" 2>&1; then
    fail "multibit with an oracle measured on other inputs was accepted"
else
    grep -q "measured on other inputs than this campaign's data" "$T/other.log" \
        && echo "ok: an oracle on other inputs is refused" || fail "other inputs: $(cat "$T/other.log")"
fi
for k in binfi statfi; do
    printf 'name: it-%s\nmodel: models/econt_medium.h5\n%s\nkind: %s\noutput: %s\n' \
        $k "$DATA" $k "$T/$k.h5" > "$T/$k.yaml"
    mpi 2 run "$T/$k.yaml" --quiet || fail "$k"
done
"$PY" - "$T" <<'EOP' || fail "protection checks"
import sys, h5py, numpy as np
t = sys.argv[1]
with h5py.File(f"{t}/oracle.h5", "r") as f:
    n_sens = int(f["bits/sensitive"][:].sum())
    nbits = f["bits/bit"].size
ok = True
def check(cond, what):
    global ok
    print(("ok: " if cond else "FAIL: ") + what)
    ok &= bool(cond)
with h5py.File(f"{t}/all.h5", "r") as f:
    tr = f["trials"]
    check(f.attrs["n_protected"] == nbits, "all: every bit protected")
    check((tr["n_flipped"][:] == 0).all(), "all: no bit flipped in any trial")
    check((tr["delta_emd"][:] == 0).all() and (tr["exceeds"][:] == 0).all()
          and (tr["n_changed"][:] == 0).all(), "all: zero errors in every trial")
with h5py.File(f"{t}/none.h5", "r") as f:
    check((f["trials/n_flipped"][:] == 200).all(), "none: all 200 drawn bits flipped")
    check(f["trials/exceeds"][:].sum() > 0, "none: some trials exceed the fault-free EMD")
with h5py.File(f"{t}/sensitive.h5", "r") as f:
    check(f.attrs["n_protected"] == n_sens, f"sensitive: {n_sens} sensitive bits protected")
    nf = f["trials/n_flipped"][:]
    check((nf <= 200).all() and (nf < 200).any(), "sensitive: protected draws are dropped")
with h5py.File(f"{t}/top_percent_of_sensitive.h5", "r") as f:
    check(f.attrs["n_protected"] == round(0.5 * n_sens), "top_percent_of_sensitive 50: half the sensitive bits")
# the paper's levels: a share of all bits (which ones: tests/check_faultdraw.c)
with h5py.File(f"{t}/top_percent_of_all.h5", "r") as f:
    check(f.attrs["n_protected"] == round(0.5 * nbits), "top_percent_of_all 50: half of all bits")

with h5py.File(f"{t}/oracle.h5", "r") as f:
    o_sens = f["bits/sensitive"][:]
    o_err = f["bits/delta_emd"][:]
with h5py.File(f"{t}/binfi.h5", "r") as f:
    b = {k: f["bits/" + k][:] for k in ("bit", "bit_pos", "flipped", "sensitive", "error", "weight", "layer")}
fl = b["flipped"] == 1
check(np.array_equal(b["sensitive"][fl], o_sens[b["bit"][fl]]) and
      np.array_equal(b["error"][fl], o_err[b["bit"][fl]]), f"binfi: {fl.sum()} flipped bits match the oracle")
# the search, replayed: positions 0..5 of each weight, monotone assumption
ok_search = True
for w0 in range(0, b["bit"].size, 6):
    lo, hi, flips = 0, 5, set()
    while lo <= hi:
        mid = (lo + hi) // 2
        flips.add(mid)
        if o_sens[w0 + mid]:
            lo = mid + 1
        else:
            hi = mid - 1
    ok_search &= set(np.nonzero(b["flipped"][w0:w0 + 6])[0]) == flips
check(ok_search, "binfi: flipped positions follow the binary search over the oracle's outcomes")
with h5py.File(f"{t}/statfi.h5", "r") as f:
    sb = f["bits/bit"][:]
    check(np.array_equal(f["bits/sensitive"][:], o_sens[sb]) and
          np.array_equal(f["bits/delta_emd"][:], o_err[sb]), f"statfi: {sb.size} injected bits match the oracle")
    N, n, p = f.attrs["strata_population"], f.attrs["strata_sample"], f.attrs["strata_p"]
    t95 = 1.959963984540054
    want = np.ceil(N / (1 + 0.05**2 * (N - 1) / (t95**2 * p * (1 - p))))
    check(np.array_equal(np.maximum(want, 1), n), "statfi: Leveugle sample size per stratum")
    check(len(set(sb.tolist())) == sb.size, "statfi: no bit injected twice")
sys.exit(0 if ok else 1)
EOP
finish
