#!/bin/sh
# `make demo`: fault-free evaluation of the bundled ECON-T Medium and CIFAR-10 models,
# then the demo campaign (an ECON-T Medium single-bit oracle over a bit range) on
# NP ranks (default 2). Usage: tools/demo.sh [UPSET]
set -eu
cd "$(dirname "$0")/.."
UPSET=${1:-build/upset}
NP=${NP:-2}
MPIRUN="mpirun --oversubscribe -np $NP"
# one machine: shared memory through ob1 (Open MPI would otherwise spend 0.2 s of each
# MPI_Init starting UCX); a user's own setting wins
export OMPI_MCA_pml="${OMPI_MCA_pml:-ob1}"
[ "$(id -u)" -eq 0 ] && MPIRUN="$MPIRUN --allow-run-as-root"

echo "== upset info models/econt_medium.h5"
"$UPSET" info models/econt_medium.h5
echo
echo "== fault-free ECON-T Medium on the first 20,000 non-empty rows of ttbar_0PU.csv"
"$UPSET" eval --model models/econt_medium.h5 --data data/hgcal/ttbar_0PU.csv --count 20000
echo
echo "== fault-free CIFAR-10 CNN on the 1,017 bundled test images"
"$UPSET" eval --model models/cifar10.h5 --data data/cifar10/test_batch_first1017.bin \
    --labels data/cifar10/test_labels_10000.bin
echo
echo "== demo campaign: $MPIRUN upset run configs/demo.yaml"
mkdir -p results
$MPIRUN "$UPSET" run configs/demo.yaml --force
