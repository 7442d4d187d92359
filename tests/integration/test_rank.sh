#!/bin/sh
# `upset rank`: the same ranking for any number of ranks (bit-identical), the text
# ranking matches the HDF5 one and is a permutation of the fault space, the
# model-free orders, and bad inputs (clear message, exit 1, no output files).
. tests/integration/lib.sh

# rank_yaml NAME MODEL METRIC DATA-LINE [EXTRA-RANK-LINES...]: writes $T/NAME.yaml
rank_yaml() {
    name=$1 model=$2 metric=$3 data=$4; shift 4
    {
        echo "name: $name"
        echo "model: $model"
        echo "$data"
        echo "kind: rank"
        echo "seed: 7"
        echo "output: $T/$name.h5"
        echo "rank:"
        echo "  metric: $metric"
        for line in "$@"; do echo "  $line"; done
    } > "$T/$name.yaml"
}
HGCAL='data: {format: hgcal, files: [data/hgcal/ttbar_0PU.csv], count: 40}'
CIFAR='data: {format: cifar10, files: [data/cifar10/test_batch_first1017.bin], count: 6, correct_only: true}'

# --- Hessian on 1 and 3 ranks: bit-identical datasets and eigenvalues
rank_yaml h1 models/econt_small.h5 hessian "$HGCAL" "eigen_k: 2" "samples: 40" "trace: true" "trace_max_iter: 6"
cp "$T/h1.yaml" "$T/h3.yaml"
sed -i "s#$T/h1.h5#$T/h3.h5#" "$T/h3.yaml"
if mpi 1 rank "$T/h1.yaml" --quiet && mpi 3 rank "$T/h3.yaml" --quiet; then
    if same_data "$T/h1.h5" "$T/h3.h5" ranking && same_data "$T/h1.h5" "$T/h3.h5" params &&
        same_data "$T/h1.h5" "$T/h3.h5" eigen && cmp -s "$T/h1.txt" "$T/h3.txt"; then
        pass "hessian: -np 1 and -np 3 give identical rankings, scores and eigenvectors"
    else
        fail "hessian: -np 1 and -np 3 differ"
    fi
    if "$PY" - "$T/h1.h5" "$T/h3.h5" "$T/h1.txt" <<'EOF'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
for k in ("eigenvalues", "eigen_residuals", "traces", "loss"):
    assert np.array_equal(a.attrs[k], b.attrs[k]), k
assert a.attrs["format"] == "upset-ranking" and a.attrs["format_version"] == 1
assert a.attrs["metric"] == "hessian" and a.attrs["score"] == "fkeras"
assert len(a.attrs["model_checksum_fnv1a64"]) == 16 and a.attrs["n_samples"] == 40
assert "kind: rank" in a.attrs["campaign_yaml"]
bits = a["ranking/bit"][...]
txt = np.loadtxt(sys.argv[3], dtype=np.int64)
assert np.array_equal(bits, txt), "text ranking differs from /ranking/bit"
assert np.array_equal(np.sort(bits), np.arange(10240)), "not a permutation"
assert len(a.attrs["eigenvalues"]) == 2 and a["eigen/vectors"].shape == (2, 1280)
assert all(r <= 1e-3 for r in a.attrs["eigen_residuals"])
EOF
    then pass "hessian: attributes agree, the text ranking is /ranking/bit, a permutation"
    else fail "hessian: attribute or text checks"; fi
else
    fail "hessian: upset rank failed"
fi

# --- gradient on CIFAR-10 (classifier, correct images only), 2 ranks
rank_yaml g2 models/cifar10.h5 gradient "$CIFAR" "trace: false"
if mpi 2 rank "$T/g2.yaml" --quiet && "$PY" - "$T/g2.h5" <<'EOF'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
s, g = f["params/score"][...], f["params/gradient"][...]
assert f.attrs["metric"] == "gradient" and len(s) == 57440
assert np.array_equal(s, np.abs(g)) and np.isfinite(f.attrs["loss"])
assert np.array_equal(np.sort(f["ranking/bit"][...]), np.arange(459520))
EOF
then pass "gradient: CIFAR-10 classifier ranking on 2 ranks"
else fail "gradient: CIFAR-10"; fi

# --- model-free orders
rank_yaml m1 models/econt_medium.h5 msb_lsb "$HGCAL"
rank_yaml r1 models/econt_medium.h5 random "$HGCAL"
cp "$T/r1.yaml" "$T/r2.yaml"
sed -i "s#$T/r1.h5#$T/r2.h5#" "$T/r2.yaml"
if mpi 1 rank "$T/m1.yaml" --quiet && mpi 2 rank "$T/r1.yaml" --quiet &&
    mpi 1 rank "$T/r2.yaml" --quiet --set seed=8 && "$PY" - "$T" <<'EOF'
import sys, numpy as np
t = sys.argv[1]
m = np.loadtxt(f"{t}/m1.txt", dtype=np.int64)
assert np.array_equal(m[:2120], np.arange(2120) * 6), "msb_lsb must start with every MSB in order"
assert np.array_equal(np.sort(m), np.arange(12720))
r1, r2 = np.loadtxt(f"{t}/r1.txt", dtype=np.int64), np.loadtxt(f"{t}/r2.txt", dtype=np.int64)
assert np.array_equal(np.sort(r1), np.arange(12720)) and not np.array_equal(r1, r2)
EOF
then pass "msb_lsb and random orders"
else fail "msb_lsb / random"; fi

# --- bad inputs: message, exit 1, no files
bad() { # bad NAME EXPECTED-TEXT [ARGS...]
    name=$1 want=$2; shift 2
    if mpi 2 rank "$T/$name.yaml" --quiet "$@" >"$T/$name.log" 2>&1; then
        fail "$name: exit status 0"
    elif ! grep -q -- "$want" "$T/$name.log"; then
        fail "$name: message lacks '$want':"; sed 's/^/    /' "$T/$name.log" >&2
    elif [ -e "$T/$name.h5" ] || [ -e "$T/$name.txt" ] || [ -e "$T/$name.h5.tmp" ]; then
        fail "$name: an output file was left behind"
    else
        pass "$name: $(grep -m1 -- "$want" "$T/$name.log")"
    fi
}
rank_yaml nomodel models/no_such.h5 hessian "$HGCAL"
bad nomodel "models/no_such.h5"
rank_yaml encoder models/zcu102_encoder.h5 gradient "$HGCAL"
bad encoder "no loss is defined"
rank_yaml badscore models/econt_small.h5 hessian "$HGCAL" "score: median"
bad badscore "rank.score"
{ echo "name: x"; echo "model: models/econt_small.h5"; echo "$HGCAL"; echo "kind: oracle"; echo "output: $T/oracle.h5"; } > "$T/oracle.yaml"
bad oracle "not \`upset rank\`"

# --- a bad option value: exit 2 with the option and the value named, not the bare usage
rank_yaml optval models/econt_small.h5 msb_lsb "$HGCAL"
for args in "--eigen-tol 0" "--eigen-tol abc" "--eigen-max-iter 0" "--eigen-max-iter 5x" \
    "--mode float"; do
    set -- $args
    "$UPSET" rank "$T/optval.yaml" --quiet "$@" >"$T/optval.log" 2>&1
    rc=$?
    if [ $rc -ne 2 ] || ! grep -q -- "^upset rank: $1 '$2': expected" "$T/optval.log"; then
        fail "rank $args: exit $rc, $(head -n 1 "$T/optval.log")"
    elif [ -e "$T/optval.h5" ] || [ -e "$T/optval.txt" ]; then
        fail "rank $args: an output file was written"
    else
        pass "rank $args: $(cat "$T/optval.log")"
    fi
done
if mpi 1 rank "$T/m1.yaml" --quiet >"$T/exists.log" 2>&1; then
    fail "existing output overwritten without --force"
elif grep -q -- "--force" "$T/exists.log"; then
    pass "existing output: $(head -n 1 "$T/exists.log")"
else
    fail "existing output: unclear message"
fi

# --- a --force rerun whose text ranking cannot be written leaves neither file, not the
# previous run's .txt beside no .h5 (a guided campaign would read it as the new ranking)
rank_yaml stale models/econt_small.h5 msb_lsb "$HGCAL"
if "$UPSET" rank "$T/stale.yaml" --quiet && mkdir "$T/stale.txt.tmp" &&
    ! "$UPSET" rank "$T/stale.yaml" --quiet --force --set rank.metric=random \
        >"$T/stale.log" 2>&1 && grep -q "stale.txt.tmp" "$T/stale.log" &&
    [ ! -e "$T/stale.h5" ] && [ ! -e "$T/stale.txt" ]; then
    pass "failed text write on --force: neither file left"
else
    fail "failed text write on --force: $(ls "$T" | grep stale | tr '\n' ' ')"
fi
rmdir "$T/stale.txt.tmp" 2>/dev/null

# --- a second ranking of the same output while the first runs: refused, naming the first
rank_yaml slow models/econt_medium.h5 hessian "data: {format: hgcal, files: [data/hgcal/ttbar_0PU.csv], count: 2000}" "eigen_k: 8" "samples: 2000" "trace: true"
mpi 1 rank "$T/slow.yaml" --quiet >"$T/slow.log" 2>&1 &
pid=$!
i=0
while [ ! -e "$T/slow.h5.lock" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
if mpi 1 rank "$T/slow.yaml" --quiet --force >"$T/second.log" 2>&1; then
    fail "a second upset rank on the same output was not refused"
else
    grep -q "another run is writing this output (pid [0-9]* on" "$T/second.log" \
        && pass "second upset rank refused: $(head -n 1 "$T/second.log")" \
        || fail "second upset rank: $(cat "$T/second.log")"
fi
kill $pid 2>/dev/null
wait $pid 2>/dev/null
finish
