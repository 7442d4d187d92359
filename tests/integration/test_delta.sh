#!/bin/sh
# Delta re-evaluation (with memoised tails and warm-started EMD) equals whole-network
# re-evaluation (--full) exactly, on every bundled model with a task metric, over random
# bits of the whole fault space.
. tests/integration/lib.sh

HGCAL='data: {format: hgcal, files: [data/hgcal/ttbar_0PU.csv], count: 40}'
C10='data: {format: cifar10, files: [data/cifar10/test_batch_first1017.bin], labels: data/cifar10/test_labels_10000.bin, count: 30, correct_only: true}'
for spec in "econt_small:$HGCAL:150" "econt_medium:$HGCAL:150" "econt_medium5:$HGCAL:150" \
            "econt_large:$HGCAL:100" "cifar10:$C10:40" "rn07:$C10:40"; do
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
    mpi 2 run "$T/$model.yaml" --quiet --full --output "$T/$model-full.h5" || { fail "$model full run"; continue; }
    if same_data "$T/$model-delta.h5" "$T/$model-full.h5" bits; then
        pass "$model: $budget random bits, delta == full"
    else
        fail "$model: delta and full re-evaluation differ"
    fi
done
finish
