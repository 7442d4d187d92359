#!/bin/sh
# Must-show (layer kinds beyond the paper's models): a Keras/QKeras model with ZeroPadding2D
# (asymmetric), MaxPooling2D (SAME, odd sizes, stride 2) and Dropout, written here as Keras
# files (JSON config + weights HDF5, random quantized weights), is imported; upset's engine
# agrees with tools/qkeras_ref.py (numpy emulation of TensorFlow/QKeras, reading the Keras
# files, not upset's) on every image's prediction; the oracle through the new layers is
# identical on the delta path and the whole-network reference path; `upset rank`
# differentiates through the new layers (its loss equals the reference's).
. tests/integration/lib.sh

"$PY" tests/integration/pooled_model.py "$T" || fail "building the Keras model and its reference predictions"

tools/import_qkeras.py "$T/pooled.json" "$T/pooled.h5" --name pooled --task classifier \
    -o "$T/pooled_native.h5" >"$T/import.log" 2>&1 || { fail "import"; cat "$T/import.log" >&2; }
grep -q "zero_padding2d" "$T/import.log" && grep -q "max_pooling2d" "$T/import.log" \
    && ! grep -qi "dropout" "$T/import.log" && pass "imported: zero_padding2d, max_pooling2d, no dropout layer" \
    || fail "import listing: $(cat "$T/import.log")"

# upset info: the cost of a flip per faultable layer, against the layer shapes by hand:
# conv 32*32 pixels * 3*3*3 * 8 = 221,184 MACs, dense 2,312 * 10 = 23,120
"$UPSET" info "$T/pooled_native.h5" >"$T/info.txt" || fail "upset info"
grep -q "whole forward pass 244304" "$T/info.txt" && grep -Eq "^  conv +244304 MACs" "$T/info.txt" \
    && grep -Eq "^  dense +23120 MACs" "$T/info.txt" && pass "upset info: per-layer flip cost" \
    || fail "upset info cost: $(tail -n 4 "$T/info.txt")"

got=$("$UPSET" eval --model "$T/pooled_native.h5" --data "$T/pred.bin" --format cifar10)
echo "$got" | grep -Eq "accuracy 1.0000 \(1[0-9][0-9] / 1[0-9][0-9] correct" \
    && pass "engine == numpy reference on every prediction: $(echo "$got" | grep accuracy)" \
    || fail "engine disagrees with the reference: $got"

cat >"$T/oracle.yaml" <<EOC
name: it-pooled
model: $T/pooled_native.h5
data: {format: cifar10, files: [$T/pred.bin], count: 60, correct_only: false}
kind: oracle
oracle: {first_bit: 0, bit_count: 1296}
output: $T/delta.h5
EOC
mpi 2 run "$T/oracle.yaml" --quiet || fail "oracle (delta path)"
UPSET_KERNEL=wide mpi 2 run "$T/oracle.yaml" --quiet --full --output "$T/full.h5" || fail "oracle (--full)"
same_data "$T/delta.h5" "$T/full.h5" bits \
    && pass "oracle through zero padding and max pooling: delta == whole network (1,296 conv bits)" \
    || fail "delta and whole-network oracles differ"
"$PY" -c "
import h5py, sys
m = h5py.File('$T/delta.h5')['bits/mispredicts'][:]
sys.exit(0 if (m > 0).any() else 1)" && pass "some conv flips change predictions" \
    || fail "no flip changed any prediction (the comparison would be empty)"

cat >"$T/rank.yaml" <<EOC
name: it-pooled-rank
model: $T/pooled_native.h5
data: {format: cifar10, files: [$T/pred.bin], count: 20}
kind: rank
rank: {metric: gradient, samples: 20}
output: $T/rank.h5
EOC
for np in 1 2; do
    mpi $np rank "$T/rank.yaml" --quiet --output "$T/rank_$np.h5" || fail "upset rank -np $np"
done
"$PY" - "$T" <<'EOP' || fail "rank through zero padding and max pooling"
import sys
sys.path[:0] = ["tools", "tests/integration"]
import keras_fixture
t = sys.argv[1]
loss, want, n = keras_fixture.check_rank(f"{t}/rank_1.h5", f"{t}/pooled", f"{t}/pred.bin", 20,
                                         f"{t}/rank_2.h5")
print(f"ok: upset rank through zero padding and max pooling: loss {loss:.8f} == the reference's "
      f"{want:.8f}; {n} bits ranked once, -np 1 == -np 2")
EOP
finish
