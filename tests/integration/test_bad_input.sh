#!/bin/sh
# Must-show: every bad input gives a clear message, a non-zero exit and no results
# file (checked under mpirun -np 2, where rank 0 validates and every rank must stop).
. tests/integration/lib.sh

GOOD_DATA='data: {format: hgcal, files: [data/hgcal/ttbar_0PU.csv], count: 50}'

# case NAME EXPECTED-TEXT: runs $T/NAME.yaml (output $T/NAME.h5) and checks the outcome
case_() {
    name=$1 want=$2
    out="$T/$name.h5"
    if mpi 2 run "$T/$name.yaml" --quiet >"$T/$name.log" 2>&1; then
        fail "$name: exit status 0"
    elif ! grep -q -- "$want" "$T/$name.log"; then
        fail "$name: message lacks '$want':"; sed 's/^/    /' "$T/$name.log" >&2
    elif [ -e "$out" ] || [ -e "$out.tmp" ]; then
        fail "$name: a results file was left behind"
    else
        pass "$name: $(grep -m1 -- "$want" "$T/$name.log")"
    fi
}
campaign() { # campaign NAME BODY-LINES...: writes $T/NAME.yaml with an output line
    name=$1; shift
    { printf '%s\n' "$@"; echo "output: $T/$name.h5"; } > "$T/$name.yaml"
}

campaign malformed "name: x" "model: models/econt_medium.h5" "$GOOD_DATA" "kind: oracle" "oracle: {first_bit: 0, bit_count: [1"
case_ malformed "malformed.yaml:"

campaign unknown_key "name: x" "model: models/econt_medium.h5" "$GOOD_DATA" "kind: oracle" "colour: blue"
case_ unknown_key "colour"

campaign wrong_type "name: x" "model: models/econt_medium.h5" "data: {format: hgcal, files: [data/hgcal/ttbar_0PU.csv], count: many}" "kind: oracle"
case_ wrong_type "data.count"

campaign missing_model "name: x" "model: models/no_such_model.h5" "$GOOD_DATA" "kind: oracle"
case_ missing_model "models/no_such_model.h5"

campaign missing_data "name: x" "model: models/econt_medium.h5" "data: {format: hgcal, files: [data/hgcal/none.csv], count: 5}" "kind: oracle"
case_ missing_data "data/hgcal/none.csv"

campaign shape_mismatch "name: x" "model: models/econt_medium.h5" "data: {format: cifar10, files: [data/cifar10/test_batch_first1017.bin], count: 5}" "kind: oracle"
case_ shape_mismatch "expects (8,8,1)"

campaign zero_count "name: x" "model: models/econt_medium.h5" "data: {format: hgcal, files: [data/hgcal/ttbar_0PU.csv], count: 0}" "kind: oracle"
case_ zero_count "data.count"

campaign negative_trials "name: x" "model: models/econt_medium.h5" "$GOOD_DATA" "kind: multibit" "multibit: {trials: -5, flips: 3}"
case_ negative_trials "multibit.trials"

campaign too_many_flips "name: x" "model: models/econt_medium.h5" "$GOOD_DATA" "kind: multibit" "multibit: {trials: 5, flips: 20000}"
case_ too_many_flips "multibit.flips"

campaign bit_range "name: x" "model: models/econt_medium.h5" "$GOOD_DATA" "kind: oracle" "oracle: {first_bit: 12000, bit_count: 5000}"
case_ bit_range "exceed the 12720 faultable bits"

{ echo "name: x"; echo "model: models/econt_medium.h5"; echo "$GOOD_DATA"; echo "kind: oracle";
  echo "output: /nonexistent-dir/out.h5"; } > "$T/unwritable.yaml"
if mpi 2 run "$T/unwritable.yaml" --quiet >"$T/unwritable.log" 2>&1; then
    fail "unwritable: exit status 0"
elif ! grep -q "/nonexistent-dir/out.h5" "$T/unwritable.log"; then
    fail "unwritable: message does not name the path"; cat "$T/unwritable.log" >&2
else
    pass "unwritable: $(head -n1 "$T/unwritable.log")"
fi

# an existing results file is never overwritten silently
campaign exists "name: x" "model: models/econt_medium.h5" "$GOOD_DATA" "kind: oracle"
echo keep > "$T/exists.h5"
if mpi 2 run "$T/exists.yaml" --quiet >"$T/exists.log" 2>&1; then
    fail "existing output: exit status 0"
elif [ "$(cat "$T/exists.h5")" != keep ]; then
    fail "existing output: overwritten"
else
    pass "existing output kept: $(head -n1 "$T/exists.log")"
fi
finish
