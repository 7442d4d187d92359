#!/bin/sh
# Must-show (tools/plot_*.py, the figure scripts of `make figures`): a figure is drawn from
# a real analysis where no covered bit has a nonzero error; a damaged table is refused with
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

finish
