#!/bin/sh
# Must-show (hostile results files): a results file edited as a careless script or a
# hostile hand would is refused by its readers with a message naming it, never read past
# its buffers: attributes holding arrays where one value belongs (they overran the one
# value's room and crashed analyze and multibit's oracle reader), and `layer` or `bit_pos`
# columns that would size analyze's tables (2^31 - 1 crashed, 2e9 allocated 48 GB; a bit
# position past the widest code, 24 bits, is no bit of any model).
. tests/integration/lib.sh

# edit NAME PYTHON: a copy of the committed ECON-T Medium oracle as $T/NAME.h5, edited (f)
edit() {
    cp results/oracle_econt_medium.h5 "$T/$1.h5"
    "$PY" - "$T/$1.h5" "$2" <<'EOF' || fail "editing $1"
import sys
import h5py
import numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    exec(sys.argv[2])
EOF
}
# refused NAME PATTERN: analyze fails on $T/NAME.h5 with PATTERN in its message and no crash
refused() {
    ( ulimit -v 4000000; "$UPSET" analyze --oracle "$T/$1.h5" --out "$T/an_$1" --quiet ) >"$T/$1.log" 2>&1
    rc=$?
    if [ $rc -eq 0 ]; then
        fail "$1: accepted"
    elif [ $rc -ne 1 ] || ! grep -q -- "$2" "$T/$1.log"; then
        fail "$1: exit $rc, unclear: $(head -c 300 "$T/$1.log")"
    else
        pass "$1: $(head -n 1 "$T/$1.log" | head -c 200)"
    fi
}

edit complete_array "del f.attrs['complete']; f.attrs.create('complete', np.ones(100000, dtype='<i8'))"
refused complete_array "is not complete"
edit kind_array "del f.attrs['kind']; f.attrs.create('kind', np.array([b'oracle'] * 1000, dtype='S16'))"
refused kind_array "attribute 'kind' holds 1000 values, expected one string"
edit kind_vlen_array "del f.attrs['kind']; f.attrs.create('kind', ['oracle'] * 1000, dtype=h5py.string_dtype())"
refused kind_vlen_array "attribute 'kind' holds 1000 values, expected one string"
edit layer_max "L = f['bits/layer'][:]; L[0] = 2**31 - 1; f['bits/layer'][:] = L"
refused layer_max "record 0: bad layer 2147483647"
edit layer_big "L = f['bits/layer'][:]; L[5] = 2 * 10**9; f['bits/layer'][:] = L"
refused layer_big "record 5: bad layer 2000000000"
edit bit_pos_big "P = f['bits/bit_pos'][:]; P[1000] = 30; f['bits/bit_pos'][:] = P"
refused bit_pos_big "record 1000: bad layer 4 or bit position 30"

# a multibit campaign reading such a file as its oracle (protection levels; the oracle's own
# data, as the campaign requires) is refused too
cat >"$T/mb.yaml" <<EOC
name: it-hostile-oracle
model: models/econt_medium.h5
data: {format: hgcal, files: [data/hgcal/ttbar_0PU.csv], count: 20000}
kind: multibit
multibit: {trials: 2, flips: 3, protection: top_percent_of_all, protect_percent: 10, oracle: $T/complete_array.h5}
output: $T/mb.h5
EOC
if mpi 1 run "$T/mb.yaml" --quiet >"$T/mb.log" 2>&1; then
    fail "multibit with a hostile oracle file: accepted"
elif grep -q "complete_array.h5 is not complete" "$T/mb.log" && [ ! -e "$T/mb.h5" ]; then
    pass "multibit with a hostile oracle file refused, no results file"
else
    fail "multibit with a hostile oracle file: $(head -c 300 "$T/mb.log")"
fi

# the unedited file is still read
"$UPSET" analyze --oracle results/oracle_econt_medium.h5 --out "$T/an_ok" --quiet >"$T/ok.log" 2>&1 \
    && pass "the committed oracle is analysed" || fail "the committed oracle: $(cat "$T/ok.log")"
finish
