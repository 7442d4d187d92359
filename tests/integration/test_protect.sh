#!/bin/sh
# Must-show (upset protect): the plan is the oracle's largest-error bits; the curve's numbers
# equal the first-order formulas computed here from the oracle (expected error, failure
# probability, TMR and ECC area); and the predicted failure probability of the unprotected
# model and of the plan agrees with independent multibit campaigns in that radiation
# environment (Poisson upsets, the plan as protect_list) on the same inputs. plan.h5 holds
# the plan's mask; the validation campaigns it writes run on held-out inputs; and `--check`
# sets each multibit campaign's measurement beside the prediction, both recomputed here
# (the exact mixture over the campaign's cells per trial, Wilson intervals).
. tests/integration/lib.sh

DATA='data: {format: hgcal, files: [data/hgcal/ttbar_0PU.csv], count: 60}'
cat >"$T/oracle.yaml" <<EOC
name: it-protect-oracle
model: models/econt_medium.h5
$DATA
kind: oracle
output: $T/oracle.h5
EOC
mpi 2 run "$T/oracle.yaml" --quiet || fail "oracle"
# 0.3 upsets per trial over the 12,720 bits: mostly single upsets, where the model holds
U=$("$PY" -c "print(repr(0.3 / 12720))")
"$UPSET" protect --oracle "$T/oracle.h5" --rate "$U" --budget 3000 --out "$T/plan" \
    --holdout 40 --trials 400 --ranking "msb=data/rankings/hessian_ranked_model_bits_iccad_2023_ECONT-baseline.txt" \
    >"$T/protect.log" 2>&1 || { fail "upset protect"; cat "$T/protect.log" >&2; }
"$UPSET" protect --oracle "$T/oracle.h5" --rate "$U" --budget 3000 --cost ecc --out "$T/ecc" \
    >/dev/null 2>&1 || fail "upset protect --cost ecc"
# a user's cost table: 3.5 extra cells per protected bit of the convolution, 2 elsewhere
printf 'layer,cost\n# hardened cells in the first layer\nconv2d_0_m, 3.5\n*,2\n' >"$T/costs.csv"
"$UPSET" protect --oracle "$T/oracle.h5" --rate "$U" --budget 3000 --cost "$T/costs.csv" \
    --out "$T/table" >/dev/null 2>&1 || fail "upset protect --cost TABLE"
for bad in "conv2d_0_m,1:no cost for layer 'encoded_vector'" "*,1\nfoo,2:costs.csv:2: 'foo' is not a faultable layer" \
           "*,1\n*,2:costs.csv:2: '*' given twice" "*,-1:expected \`layer,cost\` with a cost >= 0" \
           "conv2d_0_m,x\n*,2:costs.csv:1: expected \`layer,cost\`"; do
    printf "${bad%%:*}\n" >"$T/costs.csv"
    if "$UPSET" protect --oracle "$T/oracle.h5" --rate "$U" --cost "$T/costs.csv" --out "$T/badcost" >"$T/cost.log" 2>&1; then
        fail "cost table '${bad%%:*}' accepted"
    else
        grep -qF "${bad#*:}" "$T/cost.log" && [ ! -e "$T/badcost/plan.txt" ] \
            && pass "cost table refused: ${bad#*:}" || fail "cost table: $(cat "$T/cost.log")"
    fi
done

"$PY" - "$T" "$U" <<'EOP' || fail "plan and curve against the oracle"
import csv, math, sys, h5py
t, u = sys.argv[1], float(sys.argv[2])
with h5py.File(f"{t}/oracle.h5", "r") as f:
    bits, err, sens = f["bits/bit"][:], f["bits/delta_emd"][:], f["bits/sensitive"][:]
n = bits.size
order = sorted(range(n), key=lambda i: (-err[i], bits[i]))
plan = [int(l) for l in open(f"{t}/plan/plan.txt") if not l.startswith("#")]
assert plan == [int(bits[i]) for i in order[:3000]], "plan.txt is not the top 3,000 by error"
prot = set(plan)
pos = {int(b): i for i, b in enumerate(bits)}
def predicted(k_set):
    e = sum(max(err[pos[b]], 0) for b in range(n) if b not in k_set)
    s = sum(int(sens[pos[b]]) for b in range(n) if b not in k_set)
    return u * e, 1 - (1 - u) ** s
rows = {(r["order"], int(r["bits_protected"])): r for r in csv.DictReader(open(f"{t}/plan/curve.csv"))}
for k, ks in ((0, set()), (3000, prot)):
    e, p = predicted(ks)
    r = rows[("oracle", k)]
    assert math.isclose(float(r["predicted_error"]), e, rel_tol=1e-9), (k, r, e)
    assert math.isclose(float(r["predicted_failure"]), p, rel_tol=1e-9), (k, r, p)
    assert int(r["area_bit_cells"]) == n + 2 * k, r  # TMR: two more copies per protected bit
assert ("msb", 3000) in rows, "the ranking's curve is missing"
# ECC: a 6-bit weight with any protected bit gets SEC-DED's check bits: Hamming needs r
# with 2^r >= 6 + r + 1, so r = 4, plus one overall parity bit: 5
words = {b // 6 for b in prot}  # ECON-T Medium: every faultable weight has 6 bits
r = {(x["order"], int(x["bits_protected"])): x for x in csv.DictReader(open(f"{t}/ecc/curve.csv"))}
assert int(r[("oracle", 3000)]["area_bit_cells"]) == n + 5 * len(words), r[("oracle", 3000)]
# the cost table: the first 432 bits are conv2d_0_m's
r = {(x["order"], int(x["bits_protected"])): x for x in csv.DictReader(open(f"{t}/table/curve.csv"))}
want = n + sum(3.5 if b < 432 else 2 for b in prot)
assert float(r[("oracle", 3000)]["area_bit_cells"]) == want, (r[("oracle", 3000)], want)
# where each curve flattens: the first k whose failure is within 1 % of the unprotected one
flat = {x["order"]: x for x in csv.DictReader(open(f"{t}/plan/flat.csv"))}
s, f0 = int(sens.sum()), 1 - (1 - u) ** int(sens.sum())
for k in range(n + 1):
    if 1 - (1 - u) ** s <= 0.01 * f0:
        break
    s -= int(sens[order[k]])
assert int(flat["oracle"]["flat_bits"]) == k and int(flat["oracle"]["flat_area_bit_cells"]) == n + 2 * k, (flat, k)
assert "msb" in flat
with open(f"{t}/pred.txt", "w") as fh:
    fh.write("%r %r\n" % (predicted(set())[1], predicted(prot)[1]))
print(f"ok: plan = top 3,000 bits by error; curve matches the formulas; TMR, ECC and table "
      f"areas; the oracle curve flattens at {k} bits")
EOP

# a ranking may not take the name of the unprotected campaign (its validate_*.yaml)
if "$UPSET" protect --oracle "$T/oracle.h5" --rate "$U" --out "$T/unprot" \
    --ranking "unprotected=data/rankings/hessian_ranked_model_bits_iccad_2023_ECONT-baseline.txt" \
    >"$T/unprot.log" 2>&1; then
    fail "--ranking unprotected=... accepted: validate_unprotected.yaml is now $(grep protection: "$T/unprot/validate_unprotected.yaml")"
else
    grep -q "name 'unprotected' is taken" "$T/unprot.log" && pass "--ranking unprotected=... refused" \
        || fail "--ranking unprotected: $(cat "$T/unprot.log")"
fi
# --check plans nothing: an option only a plan uses is refused, not silently ignored
"$UPSET" protect --oracle "$T/oracle.h5" --check "$T/oracle.h5" --rate "$U" >"$T/chk.log" 2>&1
[ $? -eq 2 ] && grep -q -- "--rate plans, and --check makes no plan" "$T/chk.log" \
    && pass "--check with --rate refused by name" || fail "--check with --rate: $(head -n 2 "$T/chk.log")"
# more --ranking / --check options than the command holds: said so, not a bare usage text
many=""; for i in $(seq 16); do many="$many --ranking r$i=x.txt"; done
"$UPSET" protect --oracle "$T/oracle.h5" --rate "$U" --out "$T/many" $many >"$T/many.log" 2>&1
[ $? -eq 2 ] && grep -q "more than 15 --ranking options" "$T/many.log" && [ ! -e "$T/many" ] \
    && pass "16 --ranking options refused by message" || fail "16 rankings: $(head -n 2 "$T/many.log")"
many=""; for i in $(seq 65); do many="$many --check c$i.h5"; done
"$UPSET" protect --oracle "$T/oracle.h5" $many >"$T/many.log" 2>&1
[ $? -eq 2 ] && grep -q "more than 64 --check options" "$T/many.log" \
    && pass "65 --check options refused by message" || fail "65 checks: $(head -n 2 "$T/many.log")"
# the curve's expected error is the sum over the bits left, whatever their scale: with one
# error of 1e20 and the rest 1, protecting that one bit leaves U x (n - 1)
"$PY" - "$T" <<'EOP' || fail "oracle with one huge error"
import shutil, sys, h5py, numpy as np
t = sys.argv[1]
shutil.copy(f"{t}/oracle.h5", f"{t}/huge.h5")
with h5py.File(f"{t}/huge.h5", "r+") as f:
    d = f["bits/delta_emd"]
    d[...] = np.where(f["bits/bit"][:] == 0, 1e20, 1.0)
    if "checksum_fnv1a64" in d.attrs:
        del d.attrs["checksum_fnv1a64"]  # read unchecked, as a file from before checksums
EOP
"$UPSET" protect --oracle "$T/huge.h5" --rate 1e-3 --budget 1 --out "$T/huge" >/dev/null 2>&1 \
    || fail "upset protect on the huge-error oracle"
grep -q "^oracle,1,12722,12.719," "$T/huge/curve.csv" \
    && pass "curve: protecting the one huge error leaves U x 12,719 expected error" \
    || fail "curve after the huge error: $(grep '^oracle,1,' "$T/huge/curve.csv")"

for p in none list; do
    cat >"$T/mb_$p.yaml" <<EOC
name: it-protect-$p
model: models/econt_medium.h5
$DATA
kind: multibit
seed: 5
multibit: {trials: 4000, protection: $p, protect_list: $T/plan/plan.txt, cross_section: 1e-14, flux: 1e5, exposure: $("$PY" -c "print(repr($U / 1e-9))")}
output: $T/mb_$p.h5
EOC
    [ $p = none ] && sed -i "s#, protect_list: [^,]*,#,#" "$T/mb_$p.yaml"
    mpi 2 run "$T/mb_$p.yaml" --quiet || fail "multibit $p"
done
"$PY" - "$T" <<'EOP' || fail "prediction vs measurement"
import sys, h5py
t = sys.argv[1]
pred = [float(x) for x in open(f"{t}/pred.txt").read().split()]
ok = True
for (p, want) in zip(("none", "list"), pred):
    a = h5py.File(f"{t}/mb_{p}.h5", "r").attrs
    lo, hi, rate = a["error_rate_wilson95_lo"], a["error_rate_wilson95_hi"], a["error_rate"]
    # first order: multiple upsets in one trial (about 4 % of trials) may add a little
    good = lo - 0.015 <= want <= hi + 0.015
    ok &= good
    print(("ok" if good else "FAIL") + f": {p}: predicted failure {want:.4f}, measured "
          f"{rate:.4f} (Wilson 95 %: {lo:.4f}-{hi:.4f}) over 4000 trials")
sys.exit(0 if ok else 1)
EOP
# plan.h5: the per-bit mask, with each bit's layer, weight and position
"$PY" - "$T" <<'EOP' || fail "plan.h5"
import sys, h5py, numpy as np
t = sys.argv[1]
plan = {int(l) for l in open(f"{t}/plan/plan.txt") if not l.startswith("#")}
with h5py.File(f"{t}/plan/plan.h5", "r") as f:
    g = f["bits"]
    bits, prot = g["bit"][:], g["protected_bit"][:]
    layer, weight, pos = g["layer"][:], g["weight"][:], g["bit_pos"][:]
    a = f.attrs
    ok = set(bits[prot == 1].tolist()) == plan and a["n_protected"] == 3000 \
        and a["area_bit_cells"] == 12720 + 2 * 3000 and a["kind"] == "protection_plan"
# ECON-T Medium: conv2d_0_m (layer 1, 72 weights) then encoded_vector (layer 4), 6 bits each
want_layer = np.where(bits < 432, 1, 4)
want_w = np.where(bits < 432, bits // 6, (bits - 432) // 6)
ok &= (layer == want_layer).all() and (weight == want_w).all() and (pos == bits % 6).all()
print(("ok" if ok else "FAIL") + ": plan.h5 masks exactly the plan's 3,000 bits, addressed by layer/weight/bit")
sys.exit(0 if ok else 1)
EOP

# the validation campaigns: held-out inputs (after the oracle's 60), one seed, the rate U
grep -q "offset: 60" "$T/plan/validate_oracle.yaml" && grep -q "count: 40" "$T/plan/validate_oracle.yaml" \
    && grep -q "protect_list: '$T/plan/plan_msb.txt'" "$T/plan/validate_msb.yaml" \
    && pass "validate_*.yaml: 40 held-out inputs after the oracle's, each order's plan" \
    || fail "validation campaigns: $(cat "$T/plan/validate_oracle.yaml")"
for v in unprotected oracle; do
    mpi 2 run "$T/plan/validate_$v.yaml" --quiet || fail "validate_$v.yaml"
done
# a fixed number of cells per trial, and stuck-at cells, on the oracle's inputs
cat >"$T/mb_fixed.yaml" <<EOC
name: it-protect-fixed
model: models/econt_medium.h5
$DATA
kind: multibit
seed: 9
multibit: {trials: 1500, flips: 3, protection: list, protect_list: $T/plan/plan_msb.txt, fault_model: stuck_at_0}
output: $T/mb_fixed.h5
EOC
mpi 2 run "$T/mb_fixed.yaml" --quiet || fail "multibit fixed"
"$UPSET" protect --oracle "$T/oracle.h5" --out "$T/check" --check "$T/mb_none.h5" \
    --check "$T/mb_list.h5" --check "$T/plan/validate_unprotected.h5" \
    --check "$T/plan/validate_oracle.h5" --check "$T/mb_fixed.h5" >"$T/check.log" 2>&1 \
    || { fail "upset protect --check"; cat "$T/check.log" >&2; }
"$PY" - "$T" <<'EOP' || fail "--check against an independent computation"
import csv, math, sys, h5py, numpy as np
t = sys.argv[1]
with h5py.File(f"{t}/oracle.h5", "r") as f:
    order = np.argsort(f["bits/bit"][:])
    err, sens = f["bits/delta_emd"][:][order], f["bits/sensitive"][:][order].astype(bool)
n = err.size
with h5py.File("models/econt_medium.h5", "r") as f:
    codes = np.concatenate([f["layers"][k]["kernel_code"][:].ravel() for k in sorted(f["layers"])
                            if int(f["layers"][k].attrs["faultable"])]).astype(np.int64)
stored = ((codes[:, None] & 63) >> (5 - np.arange(6))[None, :] & 1).ravel()  # MSB first
def plan(path):
    m = np.zeros(n, bool)
    m[[int(l) for l in open(path) if not l.startswith("#")]] = True
    return m
def no_hit(k, s):  # k distinct cells out of n miss all s bits
    q = 1.0
    for i in range(k):
        q *= (n - s - i) / (n - i)
    return max(q, 0.0)
def wilson(x, m, z=1.959963984540054):
    p = x / m
    c = (p + z * z / (2 * m)) / (1 + z * z / m)
    h = z / (1 + z * z / m) * math.sqrt(p * (1 - p) / m + z * z / (4 * m * m))
    return c - h, c + h
lam = 0.3
cases = {  # results -> (mask, cell law, effective bits)
    "mb_none.h5": (np.zeros(n, bool), "poisson", np.ones(n, bool)),
    "mb_list.h5": (plan(f"{t}/plan/plan.txt"), "poisson", np.ones(n, bool)),
    "validate_unprotected.h5": (np.zeros(n, bool), "poisson", np.ones(n, bool)),
    "validate_oracle.h5": (plan(f"{t}/plan/plan.txt"), "poisson", np.ones(n, bool)),
    "mb_fixed.h5": (plan(f"{t}/plan/plan_msb.txt"), 3, stored == 1),  # stuck at 0
}
rows = {r["results"].split("/")[-1]: r for r in csv.DictReader(open(f"{t}/check/check.csv"))}
ok = True
for name, (mask, law, eff) in cases.items():
    live = ~mask & eff
    s = int((sens & live).sum())
    if law == "poisson":
        p_none = sum(math.exp(-lam) * lam ** k / math.factorial(k) * no_hit(k, s) for k in range(60))
        mean_k = lam
    else:
        p_none, mean_k = no_hit(law, s), law
    pred_fail, pred_err = 1 - p_none, mean_k / n * err[live].sum()
    path = f"{t}/plan/{name}" if name.startswith("validate") else f"{t}/{name}"
    with h5py.File(path, "r") as f:
        x, e = f["trials/exceeds"][:], f["trials/delta_emd"][:]
    lo, hi = wilson(int(x.sum()), x.size)
    r = rows[name]
    good = (math.isclose(float(r["predicted_failure"]), pred_fail, rel_tol=1e-9)
            and math.isclose(float(r["predicted_error"]), pred_err, rel_tol=1e-9, abs_tol=1e-15)
            and math.isclose(float(r["measured_failure"]), x.mean(), rel_tol=1e-9)
            and math.isclose(float(r["measured_failure_lo"]), lo, rel_tol=1e-9, abs_tol=1e-12)
            and math.isclose(float(r["measured_failure_hi"]), hi, rel_tol=1e-9)
            and math.isclose(float(r["measured_error"]), e.mean(), rel_tol=1e-9, abs_tol=1e-15)
            and r["inputs"] == ("held_out" if name.startswith("validate") else "oracle")
            and int(r["n_protected"]) == int(mask.sum()))
    ok &= good
    print(("ok" if good else "FAIL") + f": --check {name}: predicted {pred_fail:.4%} "
          f"(recomputed), measured {x.mean():.4%} [{lo:.4%}, {hi:.4%}] ({r['inputs']} inputs)")
    if not good:
        print(r, pred_fail, pred_err, x.mean(), lo, hi, e.mean(), int(mask.sum()))
sys.exit(0 if ok else 1)
EOP
# refused: an oracle is not a multibit campaign; a multiple-cell model has no first-order
# prediction; neither writes check.csv
sed -e 's/fault_model: stuck_at_0/fault_model: mcu_word/' -e "s#$T/mb_fixed.h5#$T/mb_mcu.h5#" \
    "$T/mb_fixed.yaml" >"$T/mb_mcu.yaml"
mpi 1 run "$T/mb_mcu.yaml" --quiet || fail "multibit mcu"
for bad in "$T/oracle.h5:needs multibit results" "$T/mb_mcu.h5:fault_model mcu_word"; do
    f=${bad%%:*} want=${bad#*:}
    if "$UPSET" protect --oracle "$T/oracle.h5" --check "$f" --out "$T/badcheck" >"$T/bad.log" 2>&1; then
        fail "--check $f accepted"
    else
        grep -q "$want" "$T/bad.log" && [ ! -e "$T/badcheck/check.csv" ] \
            && pass "--check refuses $(basename "$f"): $want" || fail "--check $f: $(cat "$T/bad.log")"
    fi
done
# the analysis names layers from the model file the oracle names (Figs. 11/12 axes)
"$UPSET" analyze --oracle "$T/oracle.h5" --out "$T/an" >/dev/null 2>&1 || fail "upset analyze"
cut -d, -f2,3 "$T/an/sensitive_by_layer.csv" | tr '\n' ' ' | grep -q "layer,layer_name 1,conv2d_0_m 4,encoded_vector" \
    && pass "analyze: sensitive_by_layer names the layers (conv2d_0_m, encoded_vector)" \
    || fail "layer names: $(cat "$T/an/sensitive_by_layer.csv")"
# the held-out inputs that exist: an oracle over HGCal rows 38302-38361 leaves 20 of the
# file's 38,382 non-empty rows, one over 38322-38381 none (its campaign_yaml edited)
"$PY" - "$T" <<'EOP' || fail "oracles at the end of the data"
import shutil, sys, h5py
t = sys.argv[1]
for name, off in (("end20", 38302), ("end0", 38322)):
    shutil.copy(f"{t}/oracle.h5", f"{t}/{name}.h5")
    with h5py.File(f"{t}/{name}.h5", "r+") as f:
        y = f.attrs["campaign_yaml"]
        y = (y.decode() if isinstance(y, bytes) else y).replace("  offset: 0\n", f"  offset: {off}\n")
        assert f"offset: {off}" in y
        f.attrs["campaign_yaml"] = y
EOP
"$UPSET" protect --oracle "$T/end20.h5" --rate "$U" --out "$T/end20" >"$T/end.log" 2>&1 \
    && grep -q "count: 20$" "$T/end20/validate_oracle.yaml" \
    && grep -q "offset: 38362$" "$T/end20/validate_oracle.yaml" \
    && pass "the default --holdout takes the 20 rows after the oracle's (not 2000 that are not there)" \
    || fail "20 rows left: $(cat "$T/end.log") $(grep count: "$T/end20/validate_oracle.yaml")"
"$UPSET" protect --oracle "$T/end20.h5" --rate "$U" --holdout 40 --out "$T/end40" >"$T/end.log" 2>&1
[ $? -eq 1 ] && grep -q "\-\-holdout 40: data/hgcal/ttbar_0PU.csv holds 20 samples after the oracle's" \
    "$T/end.log" && [ ! -e "$T/end40" ] \
    && pass "--holdout 40 with 20 rows left: refused, nothing written" \
    || fail "--holdout 40 with 20 rows left: $(cat "$T/end.log")"
"$UPSET" protect --oracle "$T/end0.h5" --rate "$U" --out "$T/end0" >"$T/end.log" 2>&1 \
    && grep -q "no validation campaigns: .* holds no sample after the oracle's" "$T/end.log" \
    && [ -s "$T/end0/plan.txt" ] && ! ls "$T/end0"/validate_*.yaml >/dev/null 2>&1 \
    && pass "no row after the oracle's: the plan, no validation campaign" \
    || fail "no row left: $(cat "$T/end.log")"
# tools/validate_protection.sh in a results tree holding the digits oracle (every sample:
# nothing held out), a ranking of its own, and an oracle and a ranking of another model
# whose name extends it (as cifar10 and cifar10_resnet_baseline): it plans with its own
# ranking only and, with no validation campaign, stops after the plan, exit status 0
V=$T/vp
mkdir -p "$V/results" "$V/tools"
for d in models data; do ln -s "$PWD/$d" "$V/$d"; done
cp tools/validate_protection.sh "$V/tools/"
cp results/oracle_chisel4ml_digits.h5 "$V/results/"
cp results/oracle_chisel4ml_digits.h5 "$V/results/oracle_chisel4ml_digits_wide.h5"
seq 0 1475 >"$V/results/rank_chisel4ml_digits_msb.txt"
seq 0 2999 >"$V/results/rank_chisel4ml_digits_wide_gradient.txt" # another model's bits
case $UPSET in /*) U_ABS=$UPSET ;; *) U_ABS=$PWD/$UPSET ;; esac
if (cd "$V" && BUDGETS=10 NP=1 sh tools/validate_protection.sh chisel4ml_digits 1e-3 "$U_ABS") \
    >"$T/vp.log" 2>&1 && [ -s "$V/results/protect_chisel4ml_digits/plan_msb.txt" ] \
    && [ ! -e "$V/results/protect_chisel4ml_digits/plan_wide_gradient.txt" ]; then
    pass "validate_protection.sh: the model's own rankings only; no held-out inputs, no campaigns"
else
    fail "validate_protection.sh on the digits oracle: $(tail -n 3 "$T/vp.log")"
fi
finish
