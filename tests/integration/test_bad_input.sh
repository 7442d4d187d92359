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
case_ too_many_flips "too_many_flips.yaml:5:30: multibit.flips"
# trials past any machine's memory: refused before allocating (Linux overcommits, so a
# calloc that succeeds only meets the out-of-memory killer later, with no message)
campaign huge_trials "name: x" "model: models/econt_medium.h5" "$GOOD_DATA" "kind: multibit" "multibit: {trials: 100000000000, flips: 5}"
case_ huge_trials "multibit.trials = 100000000000 needs .* GiB of records on rank 0, more than this machine's"
campaign huge_act "name: x" "model: models/econt_medium.h5" "$GOOD_DATA" "kind: activation" "activation: {trials: 100000000000}"
case_ huge_act "activation.trials = 100000000000 needs .* GiB of records on rank 0, more than this machine's"
# the checks that need the model give the key's place in the file too
campaign bad_layer "name: x" "model: models/econt_medium.h5" "$GOOD_DATA" "kind: oracle" "oracle: {layers: [conv2d_0_m, nope]}"
case_ bad_layer "bad_layer.yaml:5:18: oracle.layers: 'nope' is not a faultable layer"
campaign big_k "name: x" "model: models/chisel4ml_digits.h5" "data: {format: hdf5, files: [data/digits/digits.h5], count: 8, correct_only: false}" "kind: rank" "rank: {metric: hessian, eigen_k: 1000, samples: 4}"
if "$UPSET" rank "$T/big_k.yaml" --quiet >"$T/big_k.log" 2>&1; then
    fail "rank.eigen_k above the parameter count accepted"
else
    grep -q "big_k.yaml:5:34: rank.eigen_k = 1000 exceeds the 369 parameters" "$T/big_k.log" && [ ! -e "$T/big_k.h5" ] \
        && pass "big_k: $(head -n 1 "$T/big_k.log")" || fail "big_k: $(cat "$T/big_k.log")"
fi

campaign bit_range "name: x" "model: models/econt_medium.h5" "$GOOD_DATA" "kind: oracle" "oracle: {first_bit: 12000, bit_count: 5000}"
case_ bit_range "exceed the 12720 faultable bits"

# a first_bit past the fault space: the message points at the value (line 5 of the file)
campaign first_past_end "name: x" "model: models/econt_medium.h5" "$GOOD_DATA" "kind: oracle" "oracle: {first_bit: 12720}"
case_ first_past_end "first_past_end.yaml:5:21: oracle.first_bit: first_bit 12720 and bit_count 0 exceed the 12720 faultable bits"

# first_bit + bit_count would overflow int64 (UBSan caught it)
campaign bit_overflow "name: x" "model: models/econt_medium.h5" "$GOOD_DATA" "kind: oracle" "oracle: {first_bit: 5, bit_count: 9223372036854775807}"
case_ bit_overflow "first_bit 5 and bit_count 9223372036854775807 exceed the 12720 faultable bits"

# a count far beyond the file: refused on the data, not by a huge allocation
campaign huge_count "name: x" "model: models/econt_medium.h5" "data: {format: hgcal, files: [data/hgcal/ttbar_0PU.csv], count: 4611686018427387904}" "kind: oracle"
case_ huge_count "4611686018427387904 requested"


# paths that are directories
campaign model_dir "name: x" "model: models" "$GOOD_DATA" "kind: oracle"
case_ model_dir "models: is a directory, not a model file"
campaign data_dir "name: x" "model: models/econt_medium.h5" "data: {format: hgcal, files: [data], count: 5}" "kind: oracle"
case_ data_dir "data: is a directory, not an HGCal CSV"
campaign cifar_dir "name: x" "model: models/cifar10.h5" "data: {format: cifar10, files: [data], count: 5}" "kind: oracle"
case_ cifar_dir "data: is a directory, not a CIFAR-10 binary file"
grep -q "relative to $(pwd)" "$T/missing_model.log" && pass "missing model: says what it was relative to" \
    || fail "missing model: no working directory in $(cat "$T/missing_model.log")"
grep -q "No such file or directory" "$T/missing_model.log" || fail "missing model: no system error"

# HGCal charges: only decimal integers, and small enough that a row's sum stays finite
head -n 1 data/hgcal/ttbar_0PU.csv >"$T/hex.csv"
sed -n 2p data/hgcal/ttbar_0PU.csv | sed 's/^0,/0x10,/' >>"$T/hex.csv"
campaign hex_charge "name: x" "model: models/econt_medium.h5" "data: {format: hgcal, files: [$T/hex.csv], count: 1}" "kind: oracle"
case_ hex_charge "hex.csv:2: column 1 (CALQ_0) is not a non-negative integer charge"
head -n 1 data/hgcal/ttbar_0PU.csv >"$T/big.csv"
sed -n 2p data/hgcal/ttbar_0PU.csv | sed 's/^[0-9]*,[0-9]*,/1e308,1e308,/' >>"$T/big.csv"
sed -n 2p data/hgcal/ttbar_0PU.csv | sed 's/^[0-9]*,[0-9]*,/18014398509481984,0,/' >>"$T/big.csv"
campaign big_charge "name: x" "model: models/econt_medium.h5" "data: {format: hgcal, files: [$T/big.csv], count: 1}" "kind: oracle"
case_ big_charge "big.csv:2: column 1 (CALQ_0) is not a non-negative integer charge"
sed -i 2d "$T/big.csv"
case_ big_charge "big.csv:2: column 1 (CALQ_0) = 18014398509481984 exceeds 2^53"

# --set kind=... would drop the file's section of the old kind
campaign kind_switch "name: x" "model: models/econt_medium.h5" "$GOOD_DATA" "kind: oracle" "oracle: {first_bit: 0, bit_count: 10}"
if mpi 2 run "$T/kind_switch.yaml" --quiet --set kind=multibit >"$T/ks.log" 2>&1; then
    fail "--set kind=multibit over an oracle: section: accepted"
else
    grep -q "has a 'oracle' section, which kind 'multibit' does not use" "$T/ks.log" \
        && pass "--set kind over another kind's section refused" || fail "kind switch: $(cat "$T/ks.log")"
fi

# upset eval / info arguments
M="--model models/econt_medium.h5 --data data/hgcal/ttbar_0PU.csv"
check_cli() { # check_cli NAME PATTERN ARGS...: fails with PATTERN in the message
    name=$1 pattern=$2; shift 2
    if "$UPSET" "$@" >"$T/cli.log" 2>&1; then
        fail "$name: exit status 0"
    elif grep -q -- "$pattern" "$T/cli.log"; then
        pass "$name: $(head -n 1 "$T/cli.log")"
    else
        fail "$name: $(cat "$T/cli.log")"
    fi
}
check_cli "eval --count 0" "evaluates nothing" eval $M --count 0
check_cli "eval --count junk" "expected a whole number" eval $M --count 5x
check_cli "eval --flip twice" "bit 12 is given twice" eval $M --count 5 --flip 12,12
check_cli "eval --emd-zero junk" "expected uniform or reference" eval $M --emd-zero zero
check_cli "info without a model" "usage: upset info" info
# `upset run` on a rank campaign says it is the wrong command, even over an existing output
echo keep > "$T/rank_out.h5"
check_cli "run on a rank campaign" "kind 'rank' is not run by .upset run." run configs/rank_econt_small_hessian.yaml --output "$T/rank_out.h5"
[ "$(cat "$T/rank_out.h5")" = keep ] || fail "run on a rank campaign: the existing output changed"
# correct_only that keeps nothing says why (chisel4ml's chance-level model misses digits 0-7;
# it said "no samples left after selection")
check_cli "eval --correct-only keeping nothing" "none of the 8 samples is classified correctly" \
    eval --model models/chisel4ml_digits.h5 --data data/digits/digits.h5 --count 8 --correct-only
# more --set options than a command takes: said so (it was a bare usage text); a bad
# --set is named as such
many=""; for i in $(seq 64); do many="$many --set seed=$i"; done
check_cli "run with 64 --set" "upset run: more than 63 --set options" run configs/demo.yaml $many --output "$T/many.h5"
check_cli "rank with 64 --set" "upset rank: more than 63 --set options" rank configs/rank_econt_small_hessian.yaml $many --output "$T/many.h5"
[ -e "$T/many.h5" ] && fail "64 --set: a results file was written"
check_cli "run --set without =" "^upset run: --set: 'seed': expected key=value" run configs/demo.yaml --set seed --output "$T/many.h5"
# an --output path that is not UTF-8 cannot be stored in the results file's campaign YAML
# (the message was "out of memory")
bad_path=$(printf '%s/x\377.h5' "$T")
check_cli "run --output not UTF-8" "not valid UTF-8" run configs/demo.yaml --output "$bad_path" --quiet
[ -e "$bad_path" ] && fail "run --output not UTF-8: a results file was written"

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
# --help on every command: its usage on stdout, exit 0; a bad argument: usage on stderr, 2
for c in run eval info rank protect analyze samplesize trial; do
    "$UPSET" $c --help >"$T/help.out" 2>"$T/help.err"; rc=$?
    [ $rc -eq 0 ] && grep -q "upset $c" "$T/help.out" && [ ! -s "$T/help.err" ] \
        || fail "upset $c --help: rc $rc, stdout '$(head -c 80 "$T/help.out")', stderr '$(head -c 80 "$T/help.err")'"
done
pass "every command's --help prints its usage on stdout and exits 0"
"$UPSET" run --no-such-flag >"$T/bad.out" 2>"$T/bad.err"; rc=$?
[ $rc -eq 2 ] && grep -q "usage" "$T/bad.err" && [ ! -s "$T/bad.out" ] \
    && pass "an unknown flag: usage on stderr, exit 2" || fail "unknown flag: rc $rc"
finish
