# Shared by the integration tests (sourced). Provides $UPSET, mpirun wrappers,
# a scratch directory and small assertion helpers.
set -u
UPSET=${UPSET:-build/upset}
[ -x "$UPSET" ] || { echo "integration: $UPSET is not built" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Oversubscription must be allowed: CI has 2 cores and the tests start 4 ranks.
export OMPI_MCA_rmaps_base_oversubscribe=1
# Open MPI's TCP BTL probes every interface; loopback shared memory is all we need.
export OMPI_MCA_btl=self,vader
# and its default messaging layer initialises UCX first, 0.2 s of every MPI_Init here
export OMPI_MCA_pml=ob1
PY=${PYTHON:-/usr/bin/python3}
T=$(mktemp -d "${TMPDIR:-/tmp}/upset-it.XXXXXX")
trap 'rm -rf "$T"' EXIT
FAILS=0

mpi() { # mpi NP ARGS...: runs upset on NP ranks
    np=$1; shift
    mpirun --oversubscribe -np "$np" "$UPSET" "$@"
}
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }
# same_data A B GROUP: the datasets of GROUP ("" for the whole file) are identical (attributes
# such as timing may differ).
# h5diff exits 0 on objects it cannot compare (another shape or type class: "Not comparable",
# shown only with -c), so those count as a difference here.
same_data() {
    sd_out=$(h5diff -q -c "$1" "$2" "/$3" "/$3" 2>&1) && ! printf '%s\n' "$sd_out" | grep -q "Not comparable"
}
# fast_equals_full NP NP_FULL YAML OUT FULL_OUT GROUP WHAT [ARGS...]: runs campaign YAML
# (its results in OUT) on NP ranks, then the whole network for every fault (--full) on
# NP_FULL ranks into FULL_OUT, ARGS added to both; passes with WHAT when GROUP is identical
fast_equals_full() {
    fef_np=$1 fef_full_np=$2 fef_yaml=$3 fef_out=$4 fef_full=$5 fef_group=$6 fef_what=$7
    shift 7
    if ! mpi "$fef_np" run "$fef_yaml" --quiet "$@"; then
        fail "$fef_what: the campaign failed"
    elif ! mpi "$fef_full_np" run "$fef_yaml" --quiet "$@" --full --output "$fef_full"; then
        fail "$fef_what: the --full campaign failed"
    elif same_data "$fef_out" "$fef_full" "$fef_group"; then
        pass "$fef_what"
    else
        fail "$fef_what: differs from the whole network (--full)"
    fi
}
# agrees MODEL LABELLED: `upset eval` predicts every record of LABELLED (CIFAR-10 records
# labelled with a reference's predictions) as labelled; sets AGREE_N (records) and AGREE_OUT
# (eval's output, for the failure message)
agrees() {
    AGREE_N=$(( $(stat -c %s "$2") / 3073 ))
    AGREE_OUT=$("$UPSET" eval --model "$1" --data "$2" --format cifar10)
    echo "$AGREE_OUT" | grep -q "accuracy 1.0000 ($AGREE_N / $AGREE_N correct"
}
# flips_mispredict OUT: some flip of the classifier oracle OUT changed a prediction, so a
# comparison of its results with another path's is not a comparison of zeros
flips_mispredict() {
    "$PY" -c "
import h5py, sys
sys.exit(0 if (h5py.File(sys.argv[1], 'r')['bits/mispredicts'][:] > 0).any() else 1)" "$1" \
        && pass "some flips change predictions" \
        || fail "no flip changed any prediction (the comparison would be empty)"
}
# kind_end_to_end STEM NATIVE LABELLED BITS WHAT: what a layer kind's test asks of a model
# imported from the Keras files STEM.json/STEM.h5 into NATIVE: every record of LABELLED
# predicted as the reference labelled it; an oracle over the first BITS bits and 60 records
# identical on the delta path and the whole network, with some flip changing a prediction;
# `upset rank`'s loss equal to the reference's, -np 1 == -np 2. WHAT names the layers.
kind_end_to_end() {
    kee_stem=$1 kee_native=$2 kee_pred=$3 kee_bits=$4 kee_what=$5
    agrees "$kee_native" "$kee_pred" \
        && pass "engine == numpy reference on every prediction ($AGREE_N images)" \
        || fail "engine disagrees with the reference: $AGREE_OUT"
    cat >"$T/kee_oracle.yaml" <<EOC
name: kind-end-to-end
model: $kee_native
data: {format: cifar10, files: [$kee_pred], count: 60, correct_only: false}
kind: oracle
oracle: {first_bit: 0, bit_count: $kee_bits}
output: $T/kee_delta.h5
EOC
    mpi 2 run "$T/kee_oracle.yaml" --quiet || fail "oracle (delta path)"
    UPSET_KERNEL=wide mpi 2 run "$T/kee_oracle.yaml" --quiet --full --output "$T/kee_full.h5" \
        || fail "oracle (--full)"
    same_data "$T/kee_delta.h5" "$T/kee_full.h5" bits \
        && pass "oracle through $kee_what: delta == whole network ($kee_bits bits)" \
        || fail "delta and whole-network oracles differ"
    flips_mispredict "$T/kee_delta.h5"
    cat >"$T/kee_rank.yaml" <<EOC
name: kind-end-to-end-rank
model: $kee_native
data: {format: cifar10, files: [$kee_pred], count: 20}
kind: rank
rank: {metric: gradient, samples: 20}
output: $T/kee_rank.h5
EOC
    for np in 1 2; do
        mpi $np rank "$T/kee_rank.yaml" --quiet --output "$T/kee_rank_$np.h5" \
            || fail "upset rank -np $np"
    done
    "$PY" - "$T" "$kee_stem" "$kee_pred" "$kee_what" <<'EOP' || fail "rank through $kee_what"
import sys
sys.path[:0] = ["tools", "tests/integration"]
import keras_fixture
t, stem, pred, what = sys.argv[1:]
loss, want, n = keras_fixture.check_rank(f"{t}/kee_rank_1.h5", stem, pred, 20,
                                         f"{t}/kee_rank_2.h5")
print(f"ok: upset rank through {what}: loss {loss:.8f} == the reference's {want:.8f}; "
      f"{n} bits ranked once, -np 1 == -np 2")
EOP
}
finish() {
    [ "$FAILS" -eq 0 ] || { echo "$FAILS failure(s)" >&2; exit 1; }
    exit 0
}
