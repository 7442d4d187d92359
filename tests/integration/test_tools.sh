#!/bin/sh
# Must-show (tools/plot_*.py, the figure scripts of `make figures`): a figure is drawn from
# a real analysis where no covered bit has a nonzero error, its rows labelled with the
# covered weights; the protection figure's measured points each beside their own
# prediction; a damaged table is refused with
# a message naming the file, not a Python traceback.
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

finish
