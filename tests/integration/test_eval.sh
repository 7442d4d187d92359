#!/bin/sh
# upset eval --per-sample: one CSV row per sample, checked against the data file's own
# labels, eval's summary line, the committed CIFAR-10 oracle (its delta path against eval's
# whole-network path for one flipped bit) and the rule that a failed run leaves an existing
# file untouched.
. tests/integration/lib.sh
CIFAR=data/cifar10/test_batch_first1017.bin
LABELS=data/cifar10/test_labels_10000.bin

# fault-free CIFAR-10, 60 images from image 7: labels are the records' first bytes
out=$("$UPSET" eval --model models/cifar10.h5 --data "$CIFAR" --offset 7 --count 60 \
      --per-sample "$T/clean.csv") || fail "eval --per-sample exited non-zero"
$PY - "$T/clean.csv" "$CIFAR" "$out" <<'EOF' && pass "CIFAR-10: labels are the records' bytes, mispredicts match the summary" || fail "CIFAR-10 per-sample rows: $out"
import csv, re, sys
rows = list(csv.DictReader(open(sys.argv[1])))
raw = open(sys.argv[2], 'rb').read()
assert len(rows) == 60, len(rows)
for k, r in enumerate(rows):
    assert int(r['sample']) == k and int(r['index']) == 7 + k, r
    assert int(r['label']) == raw[(7 + k) * 3073], (r, raw[(7 + k) * 3073])
    assert 0 <= int(r['prediction']) < 10 and float(r['emd']) == 0, r
wrong = sum(int(r['prediction']) != int(r['label']) for r in rows)
m = re.search(r'\((\d+) / 60 correct, (\d+) mispredicts\)', sys.argv[3])
assert m and int(m.group(2)) == wrong, (wrong, sys.argv[3])
EOF

# one sensitive bit of the committed oracle: eval's whole network with that bit flipped
# mispredicts exactly the oracle's count on the same 839 correct images
bit=$($PY -c "
import h5py, numpy as np
b = h5py.File('results/oracle_cifar10.h5', 'r')['bits']
base = h5py.File('results/oracle_cifar10.h5', 'r').attrs['baseline_mispredicts']
i = int(np.flatnonzero(b['mispredicts'][:] > base + 5)[0])
print(int(b['bit'][i]), int(b['mispredicts'][i]))")
set -- $bit
"$UPSET" eval --model models/cifar10.h5 --data "$CIFAR" --labels "$LABELS" --correct-only \
    --flip "$1" --per-sample "$T/flip.csv" >/dev/null || fail "eval --flip $1 --per-sample"
n=$($PY -c "
import csv; r = list(csv.DictReader(open('$T/flip.csv')))
print(len(r), sum(x['prediction'] != x['label'] for x in r))")
[ "$n" = "839 $2" ] && pass "bit $1: $2 mispredicts on 839 images, as the oracle says" \
    || fail "bit $1: eval per-sample gives (images, mispredicts) $n, the oracle $2"

# ECON-T: the EMD column averages to the summary's mean EMD
out=$("$UPSET" eval --model models/econt_medium.h5 --data data/hgcal/ttbar_0PU.csv --count 300 \
      --per-sample "$T/emd.csv") || fail "eval ECON-T --per-sample"
$PY - "$T/emd.csv" "$out" <<'EOF' && pass "ECON-T: 300 EMD rows average to the summary" || fail "ECON-T per-sample rows: $out"
import csv, re, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 300 and all(int(r['prediction']) == -1 and int(r['label']) == -1 for r in rows)
assert all(float(r['emd']) > 0 for r in rows)
mean = float(re.search(r'mean EMD (\S+)', sys.argv[2]).group(1))
got = sum(float(r['emd']) for r in rows) / 300
assert abs(got - mean) <= 1e-12 * mean, (got, mean)
EOF

# a run that fails leaves an existing file as it was; an unwritable path is named
echo "keep me" > "$T/keep.csv"
"$UPSET" eval --model models/cifar10.h5 --data "$CIFAR" --count 5 --flip 99999999 \
    --per-sample "$T/keep.csv" >/dev/null 2>&1 && fail "an out-of-range --flip was accepted"
[ "$(cat "$T/keep.csv")" = "keep me" ] && [ ! -e "$T/keep.csv.tmp" ] \
    && pass "a failed eval leaves the existing per-sample file untouched" \
    || fail "a failed eval changed $T/keep.csv"
# a file-size limit (ulimit -f) fails the write with a message, not a SIGXFSZ kill that
# left keep.csv.tmp behind (exit 153, no message)
( ulimit -f 4; "$UPSET" eval --model models/cifar10.h5 --data "$CIFAR" --count 300 \
      --per-sample "$T/keep.csv" >/dev/null 2>"$T/fsize.log" ); rc=$?
[ $rc -eq 1 ] && grep -q "keep.csv.tmp: write failed: File too large" "$T/fsize.log" \
    && [ "$(cat "$T/keep.csv")" = "keep me" ] && [ ! -e "$T/keep.csv.tmp" ] \
    && pass "a file-size limit: exit 1, the write error named, the old file kept, no .tmp" \
    || fail "file-size limit: exit $rc, $(cat "$T/fsize.log"), .tmp $(ls "$T"/keep.csv.tmp 2>&1)"
msg=$("$UPSET" eval --model models/cifar10.h5 --data "$CIFAR" --count 5 \
      --per-sample "$T/no/such/dir/x.csv" 2>&1 >/dev/null) && fail "eval wrote into a missing directory"
echo "$msg" | grep -q "no/such/dir/x.csv" && pass "an unwritable --per-sample path is named: $msg" \
    || fail "unwritable path message: $msg"

# --per-sample naming an input (a slip of the shell history) is refused before anything is
# written: the CSV replaced the data file itself
head -n 40 data/hgcal/ttbar_0PU.csv > "$T/in.csv"
cp "$T/in.csv" "$T/in.orig"
msg=$("$UPSET" eval --model models/econt_medium.h5 --data "$T/in.csv" --count 5 \
      --per-sample "$T/./in.csv" 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] && cmp -s "$T/in.csv" "$T/in.orig" && echo "$msg" | grep -q "is the input" \
    && pass "--per-sample over the data file refused, the data kept: $msg" \
    || fail "--per-sample over the data file: exit $rc, $msg, $(head -c 40 "$T/in.csv")"

# a trailing comma in --flip (a truncated list) and --labels with data that has none of its
# own (HGCal) are refused, not silently dropped
for bad in "--flip 5,:'5,': expected bit indices" "--labels $LABELS:--labels: only used with --format cifar10"; do
    args=${bad%%:*} want=${bad#*:}
    msg=$("$UPSET" eval --model models/econt_medium.h5 --data data/hgcal/ttbar_0PU.csv --count 5 $args 2>&1 >/dev/null) \
        && fail "eval $args was accepted"
    echo "$msg" | grep -q -- "$want" && pass "eval $args refused: $msg" || fail "eval $args: $msg"
done
# an empty --flip list (an unset shell variable) is refused: it evaluated the fault-free
# model and printed "bits flipped: " over its result, exit 0
msg=$("$UPSET" eval --model models/econt_medium.h5 --data data/hgcal/ttbar_0PU.csv --count 5 \
      --flip "" 2>&1 >/dev/null); rc=$?
[ $rc -eq 1 ] && echo "$msg" | grep -q -- "--flip: '': no bit index given" \
    && pass "an empty --flip refused: $msg" || fail "empty --flip: exit $rc, $msg"

# a second --data file is read only as more HGCal rows: with cifar10 or hdf5 data (one file,
# as a campaign's data.files) it is refused, not silently left out of the evaluation
for fmt in "cifar10:$CIFAR:cifar10" "chisel4ml_digits:data/digits/digits.h5:hdf5"; do
    model=${fmt%%:*} file=${fmt#*:} name=${fmt##*:}
    file=${file%:*}
    msg=$("$UPSET" eval --model "models/$model.h5" --data "$file" --data "$file" --count 5 \
          2>&1 >/dev/null); rc=$?
    [ $rc -eq 1 ] && echo "$msg" | grep -q -- "--data: format $name takes exactly one file, got 2" \
        && pass "two --data files with $name data refused: $msg" \
        || fail "two --data files with $name data: exit $rc, $msg"
done

# --layers: every layer timed alone and in the forward pass; a convolution's fused batch
# norm and quantizer have no time of their own there ("-"), every convolution does
"$UPSET" eval --model models/cifar10.h5 --data "$CIFAR" --labels "$LABELS" --count 20 --layers \
    > "$T/layers.txt" || fail "eval --layers exited non-zero"
$PY - "$T/layers.txt" <<'EOF' && pass "eval --layers: 18 layers, convolutions timed in the forward pass, fused layers marked" || fail "eval --layers table: $(cat "$T/layers.txt")"
import sys
rows = [l.split() for l in open(sys.argv[1]) if l[:1].isdigit()]
assert len(rows) == 18, len(rows)
for r in rows:
    assert len(r) == 8, r
    if r[2] == 'conv2d':
        assert float(r[6]) > 0 and float(r[7]) > 0 and int(r[3]) > 0, r
    if r[2] == 'batchnorm':
        assert r[6] == '-', r
last = open(sys.argv[1]).read().splitlines()[-1]
assert last.startswith("all layers:") and last.split("kernels ")[-1] in (
    "avx2", "avx2+vnni", "avx2+avx512", "avx2+vnni+avx512", "portable"), last
EOF
UPSET_KERNEL=wide "$UPSET" eval --model models/cifar10.h5 --data "$CIFAR" --labels "$LABELS" \
    --count 2 --layers | tail -n 1 | grep -q "; kernels wide$" \
    && pass "eval --layers names the kernel path it timed (UPSET_KERNEL=wide: wide)" \
    || fail "eval --layers does not name the kernel path"
finish
