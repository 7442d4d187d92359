#!/bin/sh
# Must-show (random graph models): small functional QKeras models drawn from fixed seeds by
# tests/integration/random_graph.py — random DAGs of QConv2D (random kernels, strides,
# padding), QDepthwiseConv2D, QSeparableConv2D, QConv2DBatchnorm, convolutions with a fused
# relu, QDense, batch norms after any layer, quantized_relu / quantized_bits / leaky
# activations of random widths, max and average pooling, zero padding, up-sampling, Add
# (of two or three) and Concatenate merges, Dropout, branches nothing reads, written in a
# random topological order (or the order they were made in), so that a layer is often
# followed in the file by one that reads something else — each:
#   (a) `upset eval` predicts every labelled image as tools/qkeras_ref.py does, with the
#       default, wide, portable and AVX2 kernels;
#   (b) single flips (include_bias) over an oracle window across a layer's bias codes and
#       the next layer's kernel, and over bits spread across every faultable layer (a
#       guided ranking), and multi-bit trials, equal the whole network (--full);
#   (c) `upset rank`'s loss equals the reference's cross-entropy.
# The seeds include every one that found a bug: 1, 5, 10, 14 and 116 put layers nothing
# reads between the last dense layer and the softmax, where upset rank took the last of
# them as the logits; on the code before the row-fusion fix (c474a6d: a batch norm fused
# into the convolution before it that it does not read) seed 1004 corrupts the heap in
# `upset eval`. UPSET_GRAPH_SEEDS="..." runs other seeds.
. tests/integration/lib.sh
SEEDS=${UPSET_GRAPH_SEEDS:-"1 5 10 14 116 1000 1001 1003 42 1004 1005 1006 2 3 6 7"}

"$PY" tests/integration/random_graph.py build "$T" $SEEDS || fail "building the random models"
ok=0
for s in $SEEDS; do
    D=$T/s$s
    desc=$(cut -c1-160 "$D/desc.txt" 2>/dev/null)
    if [ ! -f "$D/n.h5" ]; then
        fail "seed $s ($desc): import: $(tail -1 "$D/import.log")"
        continue
    fi
    bad=""
    N=$(( $(stat -c %s "$D/pred.bin") / 3073 ))
    for k in auto wide portable avx2; do
        UPSET_KERNEL=$k agrees "$D/n.h5" "$D/pred.bin" || bad="$bad; $k kernels: $AGREE_OUT"
    done
    read first count <"$D/window"
    C=$(( N < 30 ? N : 30 ))
    data="data: {format: cifar10, files: [$D/pred.bin], count: $C, correct_only: false}"
    printf 'name: rg-oracle\nmodel: %s\n%s\nkind: oracle\ninclude_bias: true\noracle: {first_bit: %s, bit_count: %s}\noutput: %s\n' \
        "$D/n.h5" "$data" "$first" "$count" "$D/out_o.h5" >"$D/o.yaml"
    printf 'name: rg-guided\nmodel: %s\n%s\nkind: guided\ninclude_bias: true\nguided: {order: ranking, ranking: %s}\noutput: %s\n' \
        "$D/n.h5" "$data" "$D/bits.txt" "$D/out_g.h5" >"$D/g.yaml"
    printf 'name: rg-mb\nmodel: %s\n%s\nkind: multibit\nseed: %s\ninclude_bias: true\nmultibit: {trials: 12, flips: 3, protection: none}\noutput: %s\n' \
        "$D/n.h5" "$data" "$s" "$D/out_m.h5" >"$D/m.yaml"
    for c in o:bits g:bits m:trials; do
        y=${c%%:*} group=${c#*:}
        if ! mpi 1 run "$D/$y.yaml" --quiet >"$D/$y.log" 2>&1; then
            bad="$bad; $y campaign: $(tail -1 "$D/$y.log")"
        elif ! mpi 1 run "$D/$y.yaml" --quiet --full --output "$D/full_$y.h5" >"$D/$y.log" 2>&1; then
            bad="$bad; $y --full: $(tail -1 "$D/$y.log")"
        elif ! same_data "$D/out_$y.h5" "$D/full_$y.h5" "$group"; then
            bad="$bad; $y ($group) differs from --full"
        fi
    done
    printf 'name: rg-rank\nmodel: %s\ndata: {format: cifar10, files: [%s], count: 8, correct_only: false}\nkind: rank\ninclude_bias: true\nrank: {metric: gradient, samples: 8}\noutput: %s\n' \
        "$D/n.h5" "$D/pred.bin" "$D/rank.h5" >"$D/r.yaml"
    mpi 1 rank "$D/r.yaml" --quiet >"$D/r.log" 2>&1 || bad="$bad; upset rank: $(tail -1 "$D/r.log")"
    if [ -z "$bad" ]; then
        ok=$((ok + 1))
        echo "ok: seed $s: $N images agree (4 kernel paths); oracle bits $first+$count, guided and multi-bit == --full"
    else
        fail "seed $s ($desc)$bad"
    fi
done
"$PY" tests/integration/random_graph.py check-rank "$T" $SEEDS || fail "upset rank's loss differs from the reference's"
sensitive=$("$PY" - "$T" $SEEDS <<'EOP'
import sys, h5py
t, seeds = sys.argv[1], sys.argv[2:]
print(sum(int((h5py.File(f"{t}/s{s}/out_g.h5", "r")["bits/mispredicts"][:] > 0).sum()) for s in seeds))
EOP
)
[ "${sensitive:-0}" -gt 0 ] && pass "$ok models: $sensitive guided flips change a prediction (the comparisons are not of zeros)" \
    || fail "no guided flip changed any prediction"
finish
