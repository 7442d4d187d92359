#!/bin/sh
# Must-show (tools/plot_*.py, the figure scripts of `make figures`): a figure is drawn from
# a real analysis where no covered bit has a nonzero error, its rows labelled with the
# covered weights; the protection figure's measured points each beside their own
# prediction; a damaged table is refused with
# a message naming the file, not a Python traceback; so is a missing, empty or damaged
# input of the table scripts (compare_rankings.py, upset_table.py, paper_table.py), which
# then print no partial table.
. tests/integration/lib.sh

# chisel4ml's digit model: bits 1233-1272 (LSBs of its dense layer) change no prediction
# on the 43 test digits (results/oracle_chisel4ml_digits.h5), so every heatmap cell is 0
"$UPSET" run configs/oracle_chisel4ml_digits.yaml --quiet --set oracle.first_bit=1233 \
    --set oracle.bit_count=40 --output "$T/zero.h5" || fail "digits oracle over bits 1233-1272"
"$UPSET" analyze --oracle "$T/zero.h5" --out "$T/zero" --quiet || fail "analyze of that oracle"
"$PY" -c "
import h5py, sys
sys.exit(int((h5py.File(sys.argv[1], 'r')['bits/mispredicts'][:] != 0).any()))" "$T/zero.h5" \
    || fail "the digits oracle over bits 1233-1272 has a nonzero error (the case is not tested)"
if "$PY" tools/plot_heatmap.py "$T/zero" "$T/zero_fig" >"$T/heatmap.log" 2>&1 &&
    [ -s "$T/zero_fig/heatmap.png" ] && [ -s "$T/zero_fig/heatmap.pdf" ]; then
    pass "plot_heatmap.py draws an analysis whose errors are all 0"
else
    fail "plot_heatmap.py on errors all 0: $(tail -n 1 "$T/heatmap.log")"
fi
# its rows are weights 299-309 of the dense layer (the oracle's own weight column): the
# panel's rows must be labelled with those indices, not numbered from 0
"$PY" - "$T/zero.h5" "$T/zero" <<'EOF' && pass "plot_heatmap.py labels the rows with the covered weights' indices" || fail "plot_heatmap.py: rows not labelled with the covered weights"
import sys
import h5py
sys.path.insert(0, "tools")
import plot_common as pc
import plot_heatmap
w = h5py.File(sys.argv[1], "r")["bits/weight"][:]
seen = []
pc.save = lambda fig, out_dir, name: seen.append(fig.axes[0].get_ylim())
sys.argv = ["plot_heatmap.py", sys.argv[2], sys.argv[2] + "_ylim"]
plot_heatmap.main()
want = (w.max() + 0.5, w.min() - 0.5)
assert seen == [want], (seen, want)
EOF

# damaged tables: a row cut short (a full disk, a copy interrupted) and an empty file
mkdir -p "$T/cut"
cp "$T/zero"/*.csv "$T/cut/"
head -n 3 "$T/zero/topk.csv" >"$T/cut/topk.csv"
printf 'oracle_optimal,4' >>"$T/cut/topk.csv"
: >"$T/cut/multibit.csv"
for case in "plot_topk.py topk.csv:4: 2 fields where the header has 4" \
    "plot_multibit.py multibit.csv: empty file, no header line"; do
    script=${case%% *} want="$T/cut/${case#* }"
    if "$PY" "tools/$script" "$T/cut" "$T/cut_fig" >"$T/cut.log" 2>&1; then
        fail "$script on a damaged table: exit status 0"
    elif grep -q Traceback "$T/cut.log" || ! grep -qF "$want" "$T/cut.log"; then
        fail "$script on a damaged table: $(tail -n 1 "$T/cut.log") (wanted '$want')"
    else
        pass "$script refuses a damaged table: $(tail -n 1 "$T/cut.log")"
    fi
done

# protection figure: every measured point sits beside its own campaign's prediction (the
# 960-flip multibit campaigns are predicted near 100 %, far off the curve drawn at the
# protect rate), so the crosses' heights are check.csv's predicted_failure column
"$PY" - results/figures/econt_medium/protect <<'EOF' && pass "plot_protection.py draws each measured campaign's own prediction" || fail "plot_protection.py: measured points without their predictions"
import csv, sys
sys.path.insert(0, "tools")
import plot_common as pc
import plot_protection
rows = list(csv.DictReader(open(sys.argv[1] + "/check.csv")))
assert rows, "no check.csv rows"
want = sorted(round(100 * max(float(r["predicted_failure"]), 1e-9), 9) for r in rows)
seen = []
pc.save = lambda fig, out_dir, name: seen.extend(
    round(float(y), 9) for l in fig.axes[0].get_lines() if l.get_marker() == "x"
    for y in l.get_ydata())
sys.argv = ["plot_protection.py", sys.argv[1], "/nonexistent"]
plot_protection.main()
assert sorted(seen) == want, (sorted(seen), want)
EOF

# upset_table.py takes the task from the files, not from whether any bit mispredicted: the
# zero-error digits oracle above is a classifier's (its table counts mispredicts, not ΔEMD)
mkdir -p "$T/res"
cp "$T/zero.h5" "$T/res/oracle_digits.h5"
sed -e 's#^output:.*#output: '"$T"'/res/activation_digits.h5#' -e 's/^kind: oracle/kind: activation/' \
    configs/oracle_chisel4ml_digits.yaml >"$T/act.yaml"
echo "activation: {trials: 50}" >>"$T/act.yaml"
"$UPSET" run "$T/act.yaml" --quiet || fail "digits activation campaign"
if "$PY" tools/upset_table.py "$T/res" >"$T/upsets.md" 2>"$T/upsets.log" &&
    grep -q "newly mispredicted per upset" "$T/upsets.md" && ! grep -q "ΔEMD per upset" "$T/upsets.md"; then
    pass "upset_table.py: a classifier oracle without mispredicts is still a classifier's"
else
    fail "upset_table.py on the zero-error classifier: $(grep 'per upset' "$T/upsets.md") $(tail -n 1 "$T/upsets.log")"
fi

# the table scripts on a missing, empty, cut short or damaged input: one line on stderr
# naming the file and what is wrong, a non-zero exit status, no traceback and nothing on
# stdout (no partial table for figures.sh to keep)
# refused WANT SCRIPT ARGS...: tools/SCRIPT ARGS is refused with the message WANT
refused() {
    rf_want=$1 rf_script=$2
    shift 2
    if "$PY" "tools/$rf_script" "$@" >"$T/refused.out" 2>"$T/refused.log"; then
        fail "$rf_script on a bad input: exit status 0 (wanted '$rf_want')"
    elif grep -q Traceback "$T/refused.log" || ! grep -qF "$rf_want" "$T/refused.log" ||
        [ "$(wc -l <"$T/refused.log")" -ne 1 ]; then
        fail "$rf_script on a bad input: $(tail -n 1 "$T/refused.log") (wanted '$rf_want')"
    elif [ -s "$T/refused.out" ]; then
        fail "$rf_script on a bad input: a partial table on stdout"
    else
        pass "$rf_script refuses a bad input: $(cat "$T/refused.log")"
    fi
}
B=$T/bad
RANK=results/rank_econt_medium_hessian.h5
THEIRS=data/rankings/hessian_ranked_model_bits_iccad_2023_ECONT-baseline.txt
mkdir -p "$B/ut_cut" "$B/ut_empty" "$B/pt_info/figures/econt_medium" "$B/pt_row/figures/econt_medium"
head -c 20000 "$RANK" >"$B/rank.h5"
: >"$B/empty.txt"
printf '0\n1\nx2\n' >"$B/junk.txt"
head -c 4000 "$T/zero.h5" >"$B/ut_cut/oracle_digits.h5"
cp "$T/res/activation_digits.h5" "$B/ut_cut/"
cp "$T/zero.h5" "$B/ut_empty/oracle_digits.h5"
: >"$B/ut_empty/activation_digits.h5"
head -n 3 results/figures/econt_medium/info.csv >"$B/pt_info/figures/econt_medium/info.csv"
cp "$T/cut"/*.csv "$B/pt_row/figures/econt_medium/"
refused "$B/none.h5: no such file" compare_rankings.py "$B/none.h5" "$THEIRS"
refused "$B/none.txt: no such file" compare_rankings.py "$RANK" "$B/none.txt"
refused "$B/rank.h5: not a readable HDF5 file" compare_rankings.py "$B/rank.h5" "$THEIRS"
refused "$B/empty.txt: no index in it" compare_rankings.py "$RANK" "$B/empty.txt"
refused "$B/junk.txt: not one integer per line" compare_rankings.py "$RANK" "$B/junk.txt"
refused "$B/ut_cut/oracle_digits.h5: not a readable HDF5 file" upset_table.py "$B/ut_cut"
refused "$B/ut_empty/activation_digits.h5: not a readable HDF5 file" upset_table.py "$B/ut_empty"
refused "$B/none: no such directory" upset_table.py "$B/none"
refused "$B/none: no such directory" paper_table.py "$B/none"
refused "$B/pt_info/figures/econt_medium/info.csv: no 'n_bits' row" paper_table.py "$B/pt_info"
refused "$B/pt_row/figures/econt_medium/topk.csv:4: 2 fields where the header has 4" \
    paper_table.py "$B/pt_row"

# tools/peer_bench.py (make bench's PyTorch peer): its timing counts only where it computed
# upset's results, so other inputs than upset's, or one bit's result unlike upset's, exit 1
if "$PY" -c "import torch, ot" 2>/dev/null; then
    cat >"$T/peer.yaml" <<EOF
name: peer
model: models/cifar10.h5
data: {format: cifar10, files: [data/cifar10/test_batch_first1017.bin], labels: data/cifar10/test_labels_10000.bin, count: 40, correct_only: true}
kind: guided
guided: {order: random, budget: 6}
output: $T/peer.h5
EOF
    "$UPSET" run "$T/peer.yaml" --quiet || fail "the peer's campaign"
    cp "$T/peer.h5" "$T/peer_bad.h5"
    "$PY" -c "
import h5py, sys
m = h5py.File(sys.argv[1], 'r+')['bits/mispredicts']
m[0] = m[0] + 1" "$T/peer_bad.h5"
    # peer_case WANT-RC COUNT RESULTS WHAT
    peer_case() {
        "$PY" tools/peer_bench.py --model models/cifar10.h5 --data data/cifar10/test_batch_first1017.bin \
            --labels data/cifar10/test_labels_10000.bin --count "$2" --bits-from "$3" \
            >"$T/peer.log" 2>&1
        pc_rc=$?
        if [ $pc_rc -eq "$1" ]; then pass "peer_bench.py, $4: exit status $1"; else
            fail "peer_bench.py, $4: exit status $pc_rc, wanted $1: $(tail -n 1 "$T/peer.log")"; fi
    }
    peer_case 0 40 "$T/peer.h5" "upset's inputs and results"
    peer_case 1 39 "$T/peer.h5" "one image fewer than upset's"
    peer_case 1 40 "$T/peer_bad.h5" "one bit's mispredicts unlike upset's"
else
    echo "skip: peer_bench.py needs python3-torch and python3-pot (tools/install-deps.sh --bench)"
fi

finish
