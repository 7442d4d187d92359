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
# same_data A B GROUP: the datasets of GROUP are identical (attributes such as timing may differ)
same_data() {
    h5diff -q "$1" "$2" "/$3" "/$3" >/dev/null 2>&1
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
finish() {
    [ "$FAILS" -eq 0 ] || { echo "$FAILS failure(s)" >&2; exit 1; }
    exit 0
}
