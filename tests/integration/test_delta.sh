#!/bin/sh
# Delta re-evaluation (with memoised tails and warm-started EMD) equals whole-network
# re-evaluation (--full) on the int64 reference loops (UPSET_KERNEL=wide) exactly, on
# every bundled model with a task metric, over random bits of the whole fault space and
# over bits of every faultable layer of the CNNs (narrow and wide changes, layer 0).
. tests/integration/lib.sh

HGCAL='data: {format: hgcal, files: [data/hgcal/ttbar_0PU.csv], count: 40}'
DIG='data: {format: hdf5, files: [data/digits/digits.h5], offset: 1437, count: 360, correct_only: false}'
C10='data: {format: cifar10, files: [data/cifar10/test_batch_first1017.bin], labels: data/cifar10/test_labels_10000.bin, count: 30, correct_only: true}'
for spec in "econt_small:$HGCAL:150" "econt_medium:$HGCAL:150" "econt_medium5:$HGCAL:150" \
            "econt_large:$HGCAL:100" "cifar10:$C10:40" "rn07:$C10:40" \
            "chisel4ml_digits:$DIG:400"; do
    model=${spec%%:*}; rest=${spec#*:}; data=${rest%:*}; budget=${rest##*:}
    cat > "$T/$model.yaml" <<EOC
name: it-delta-$model
model: models/$model.h5
$data
kind: guided
guided: {order: random, budget: $budget}
seed: 11
output: $T/$model-delta.h5
EOC
    mpi 2 run "$T/$model.yaml" --quiet || { fail "$model delta run"; continue; }
    UPSET_KERNEL=wide mpi 2 run "$T/$model.yaml" --quiet --full --output "$T/$model-full.h5" ||
        { fail "$model full run"; continue; }
    if same_data "$T/$model-delta.h5" "$T/$model-full.h5" bits; then
        pass "$model: $budget random bits, delta == full"
    else
        fail "$model: delta and full re-evaluation differ"
    fi
done
# the first 12 bits of 2 weights in every faultable layer of the CNNs
for model in cifar10 rn07; do
    before=$FAILS
    for first in 0 768 17152 33536 164608 295680; do
        cat > "$T/$model-l$first.yaml" <<EOC
name: it-delta-layer
model: models/$model.h5
$C10
kind: oracle
oracle: {first_bit: $first, bit_count: 12}
output: $T/$model-l$first-delta.h5
EOC
        mpi 2 run "$T/$model-l$first.yaml" --quiet || { fail "$model bits $first delta run"; continue; }
        UPSET_KERNEL=wide mpi 2 run "$T/$model-l$first.yaml" --quiet --full --output "$T/$model-l$first-full.h5" ||
            { fail "$model bits $first full run"; continue; }
        same_data "$T/$model-l$first-delta.h5" "$T/$model-l$first-full.h5" bits ||
            fail "$model: bits $first.. differ between delta and full"
    done
    [ "$FAILS" -eq "$before" ] && pass "$model: 12 bits of each faultable layer, delta == full (int64 loops)"
done
finish
