#!/bin/sh
# Runs each libFuzzer target for SECONDS on a seed corpus made from the bundled files,
# and reports executions, corpus size and findings (crash inputs in BUILD/fuzz/crashes/).
# Usage (from the repository root, after `make FUZZ=1 fuzz-build`):
#   tools/fuzz.sh BUILD SECONDS TARGET...      e.g. tools/fuzz.sh build-fuzz 60 campaign model
set -u
B=$1 SECONDS_EACH=$2
shift 2
C=$B/fuzz/corpus
mkdir -p "$B/fuzz/crashes"
found=0

seed() { # seed TARGET: a few valid inputs of its format, once
    d=$C/$1
    [ -d "$d" ] && return
    mkdir -p "$d"
    case $1 in
    campaign) cp configs/*.yaml "$d"/ ;;
    hgcal) head -n 6 data/hgcal/ttbar_0PU.csv >"$d/rows.csv"; head -n 1 data/hgcal/ttbar_0PU.csv >"$d/header.csv" ;;
    cifar10) head -c $((3073 * 2)) data/cifar10/test_batch_first1017.bin >"$d/two.bin" ;;
    hdf5data) # the base file as it is, then one edit of each kind of /x and of /y
        printf '\000\000' >"$d/base"
        for op in 0 1 2 3; do for xy in 0 1; do
            printf "\001\002\00$op\00$xy\003\002\005\001\003\001" >"$d/edit$op$xy"
        done; done ;;
    checkpoint) "$B/fuzz/fuzz_checkpoint" -seed_file "$d" >/dev/null 2>&1 ;;
    model) # each base model alone, then one edit of each kind on a few layers
        printf '\000' >"$d/econt"; printf '\001' >"$d/cifar"; printf '\002' >"$d/digits"
        for b in 0 1 2; do for op in 0 1 2 3 4 5 6; do for l in 1 3 4; do
            printf "\\00$b\\00$op\\00$l\\002\\003\\001\\004\\002\\001" >"$d/edit$b$op$l"
        done; done; done ;;
    esac
    # inputs that once found a bug (tests/fuzz/regressions/TARGET-*) stay in the corpus
    for r in tests/fuzz/regressions/"$1"-*; do [ -f "$r" ] && cp "$r" "$d/"; done
}

for t in "$@"; do
    seed "$t"
    log=$B/fuzz/$t.log
    ASAN_OPTIONS=detect_leaks=0 "$B/fuzz/fuzz_$t" "$C/$t" -max_total_time="$SECONDS_EACH" \
        -timeout=20 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
        -artifact_prefix="$B/fuzz/crashes/$t-" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    files=$(ls "$C/$t" | wc -l)
    if [ $rc -eq 0 ]; then
        echo "fuzz $t: ${runs:-?} inputs in ${SECONDS_EACH} s, corpus $files files, no finding"
    else
        found=$((found + 1))
        echo "fuzz $t: FINDING (exit $rc), see $log and $B/fuzz/crashes/"
        grep -m 3 -E "ERROR|SUMMARY|runtime error" "$log" | sed 's/^/    /'
    fi
done
[ $found -eq 0 ]
