#!/bin/sh
# Must-show: multi-bit trials with protection = all give zero errors; the sensitive and
# top-percent policies protect exactly the oracle's sensitive bits (or the requested share
# of them) and never flip them.
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
for policy in none all sensitive top_percent; do
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
with h5py.File(f"{t}/top_percent.h5", "r") as f:
    check(f.attrs["n_protected"] == round(0.5 * n_sens), "top_percent 50: half the sensitive bits")
sys.exit(0 if ok else 1)
EOP
finish
