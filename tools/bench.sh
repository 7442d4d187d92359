#!/bin/sh
# `make bench`: performance figures, measured side by side in one run on this machine.
#   1. oracle throughput, delta (default) vs forced full re-evaluation (--full), in
#      (bit flips x samples) per second per core: ECON-T Medium, CIFAR-10
#   2. EMD: cold vs warm-started solves (build/bench_emd); the int16 kernel in L1, the core's
#      clock and int16 peak (build/bench_kernels), the CIFAR-10 convolutions' share of it;
#      OpenBLAS's dgemm after im2col and oneDNN's int8 convolution against the engine's
#      kernels, layer by layer (build/bench_libs)
#   3. -np 1 vs -np 2 on the same campaign (parallel efficiency): ECON-T Medium, a
#      one-minute CIFAR-10 campaign over random bits, and contiguous conv2 bits (blocks);
#      with the memo's share at each rank count
#   4. coordinator: chunk completions per second with many oversubscribed ranks
#   5. peak memory per rank of a CIFAR-10 oracle over every bundled image, and over the
#      paper's 8,313 (the bundled images repeated, each copy one pixel apart)
#   6. this engine against an earlier commit (BENCH_BASE, default the last commit before
#      engine v2), built in a git worktree: fault-free forward and single-bit oracle
#      throughput, start-up cost, and the full CIFAR-10 and ECON-T Large oracles projected
#      from contiguous slices of each faultable layer; BENCH_REPS runs of each side,
#      interleaved, median CPU time (BENCH_BASE=none skips it); multi-bit trials too; the
#      projections as wall time at -np 2 here and on one 88-vCPU node
#   7. against the peer a user would otherwise run: tools/peer_bench.py, a PyTorch per-bit
#      loop (batched; CIFAR-10 in float32, ECON-T with the EMD from POT), on the same bits and
#      inputs, 1 rank vs 1 thread and -np 2 vs 2 threads, in wall time: upset's whole command
#      (start-up included) against the peer's loop, then the two per-bit loops alone (needs
#      python3-torch and python3-pot: tools/install-deps.sh --bench)
#   8. RN07's first layer (768 bits over the first 839 images) at -np 2, wall time
# Sizes are small enough for a few minutes on 2 cores; BENCH_SCALE=4 makes each bigger.
set -eu
cd "$(dirname "$0")/.."
UPSET=${1:-build/upset}
S=${BENCH_SCALE:-1}
PY=${PYTHON:-/usr/bin/python3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
# one machine, as README advises: ob1 over shared memory; Open MPI's default spends 0.2 s of
# each MPI_Init starting UCX, which on one machine buys nothing (both engines run alike)
export OMPI_MCA_pml="${OMPI_MCA_pml:-ob1}"
T=$(mktemp -d "${TMPDIR:-/tmp}/upset-bench.XXXXXX")
trap 'rm -rf "$T"' EXIT

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)," \
     "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

# CPU seconds of one command (all its processes, from getrusage: microseconds, where
# /usr/bin/time prints hundredths, a tick of the shortest runs here), its wall time and
# peak resident memory
measure() { # measure OUTVAR_PREFIX CMD...
    pfx=$1; shift
    "$PY" -c '
import resource, subprocess, sys, time
t0 = time.monotonic()
with open(sys.argv[1], "w") as out:
    rc = subprocess.call(sys.argv[3:], stdout=out, stderr=subprocess.STDOUT)
wall = time.monotonic() - t0
r = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[2], "w") as f:
    f.write("%.4f %.4f %.3f %d\n" % (r.ru_utime, r.ru_stime, wall, r.ru_maxrss))
sys.exit(rc)' "$T/out" "$T/time" "$@" || { cat "$T/out" >&2; exit 1; }
    read -r u s e m < "$T/time"
    eval "${pfx}_cpu=\$(echo \"$u + $s\" | bc)"; eval "${pfx}_wall=$e"; eval "${pfx}_kb=$m"
}
rate() { echo "scale=0; $1 * $2 / $3" | bc; } # flips samples seconds
# out_attr NAME: a root attribute of the last results file
out_attr() { "$PY" -c 'import h5py, sys; print(h5py.File(sys.argv[1], "r").attrs[sys.argv[2]])' "$T/out.h5" "$1"; }

campaign() { # campaign FILE MODEL DATA-LINE KIND-LINES...
    f=$1 model=$2 data=$3; shift 3
    { echo "name: bench"; echo "model: $model"; echo "$data"; printf '%s\n' "$@";
      echo "output: $T/out.h5"; } > "$f"
}

echo
echo "== 1. oracle throughput, one rank: delta re-evaluation vs --full"
MED_N=$((2000 * S)); MED_BITS=$((1200 * S))
# a random sample of bits across the whole fault space (guided order=random, budget)
campaign "$T/med.yaml" models/econt_medium.h5 \
    "data: {format: hgcal, files: [data/hgcal/ttbar_0PU.csv], count: $MED_N}" \
    "kind: guided" "guided: {order: random, budget: $MED_BITS}"
measure md "$UPSET" run "$T/med.yaml" --quiet --force
measure mf "$UPSET" run "$T/med.yaml" --quiet --force --full
C10_N=$((200 * S)); C10_BITS=$((240 * S))
campaign "$T/c10.yaml" models/cifar10.h5 \
    "data: {format: cifar10, files: [data/cifar10/test_batch_first1017.bin], labels: data/cifar10/test_labels_10000.bin, count: $C10_N, correct_only: true}" \
    "kind: guided" "guided: {order: random, budget: $C10_BITS}"
measure cd "$UPSET" run "$T/c10.yaml" --quiet --force
measure cf "$UPSET" run "$T/c10.yaml" --quiet --force --full
C10_EVAL=$(out_attr n_samples)
printf '%-34s %14s %14s %9s\n' "" "delta" "full" "speed-up"
printf '%-34s %14s %14s %9s\n' "ECON-T Medium ($MED_BITS bits x $MED_N)" \
    "$(rate $MED_BITS $MED_N $md_cpu)/s" "$(rate $MED_BITS $MED_N $mf_cpu)/s" \
    "$(echo "scale=1; $mf_cpu / $md_cpu" | bc)x"
printf '%-34s %14s %14s %9s\n' "CIFAR-10 ($C10_BITS bits x $C10_EVAL)" \
    "$(rate $C10_BITS $C10_EVAL $cd_cpu)/s" "$(rate $C10_BITS $C10_EVAL $cf_cpu)/s" \
    "$(echo "scale=1; $cf_cpu / $cd_cpu" | bc)x"
echo "(flips x samples per second per core, CPU time incl. the fault-free baseline)"

echo
echo "== 2. EMD, cold vs warm start; the int16 kernel's own rate, the clock and int16 peak, the CIFAR-10 convolutions against it"
if [ -x build/bench_emd ]; then build/bench_emd; else echo "build/bench_emd not built"; fi

if [ -x build/bench_kernels ]; then
    build/bench_kernels | tee "$T/kern.txt" | grep -v '^peak.*_gmacs='
    peak=$(sed -n 's/^peak_gmacs=//p' "$T/kern.txt")
    peak512=$(sed -n 's/^peak512_gmacs=//p' "$T/kern.txt")
    # the CIFAR-10 convolutions' rates (upset eval --layers: each layer alone, and in place
    # in the forward pass with its fused batch norm and quantizer) against those peaks
    "$UPSET" eval --model models/cifar10.h5 --data data/cifar10/test_batch_first1017.bin \
        --labels data/cifar10/test_labels_10000.bin --layers > "$T/layers.txt"
    awk -v peak="${peak:-0}" -v peak512="${peak512:-0}" '
        function share(r) {
            s = ""
            if (peak > 0) s = sprintf(" (%.0f %% of the 256-bit peak", 100 * r / peak)
            if (peak512 > 0) s = s sprintf(", %.0f %% of the 512-bit one", 100 * r / peak512)
            return s (peak > 0 ? ")" : "")
        }
        $3 == "conv2d" && $4 >= 1000000 {
        printf "%s: %d MACs per image, alone %.1f GMAC/s%s, in the forward pass %.1f GMAC/s%s\n",
            $2, $4, $6, share($6), $8, share($8) }' "$T/layers.txt"
fi
# the library alternatives, one thread each, against the engine's kernels on the same layers
# and images: OpenBLAS's dgemm after im2col (exact on integer codes as doubles) and oneDNN's
# int8 convolution (exact for 8-bit codes where the processor has VNNI or AMX)
if [ -x build/bench_libs ]; then
    echo "OpenBLAS dgemm and oneDNN int8 convolutions against the engine's kernels, CIFAR-10's quantized layers:"
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 build/bench_libs models/cifar10.h5 \
        data/cifar10/test_batch_first1017.bin 200 ||
        echo "bench_libs failed (its message above); the other sections go on"
fi

echo
# efficiency YAML: the same campaign at -np 1 and -np 2, wall time; and the memo's share at
# each (a rank keeps to its own range of the items, so the share should hardly fall)
memo_share() { sed -n 's/.*(\([0-9.]*%\)) took the result.*/\1/p' "$T/out"; }
efficiency() {
    measure p1 mpirun -np 1 "$UPSET" run "$1" --force
    m1=$(memo_share)
    measure p2 mpirun -np 2 "$UPSET" run "$1" --force
    m2=$(memo_share)
    eff=$(echo "scale=3; $p1_wall / (2 * $p2_wall)" | bc)
    echo "wall: -np 1 ${p1_wall} s, -np 2 ${p2_wall} s; speed-up $(echo "scale=2; $p1_wall / $p2_wall" | bc)," \
         "efficiency $(echo "scale=0; 100 * $eff / 1" | bc) %"
    if [ -n "$m1" ] && [ -n "$m2" ]; then echo "memo share: -np 1 $m1, -np 2 $m2"; fi
}
echo "== 3. parallel efficiency, -np 1 vs -np 2 (same campaign; needs an otherwise idle machine)"
echo "ECON-T Medium, $((1500 * S)) bits x $((2000 * S)) inputs:"
campaign "$T/par.yaml" models/econt_medium.h5 \
    "data: {format: hgcal, files: [data/hgcal/ttbar_0PU.csv], count: $((2000 * S))}" \
    "kind: oracle" "oracle: {first_bit: 432, bit_count: $((1500 * S))}"
efficiency "$T/par.yaml"
echo "CIFAR-10, $((4000 * S)) random bits x the 839 correct images (30 s to a minute on one core):"
campaign "$T/par10.yaml" models/cifar10.h5 \
    "data: {format: cifar10, files: [data/cifar10/test_batch_first1017.bin], labels: data/cifar10/test_labels_10000.bin, correct_only: true}" \
    "kind: guided" "guided: {order: random, budget: $((4000 * S))}"
efficiency "$T/par10.yaml"
eff10=$eff # section 6 projects wall times with it
echo "CIFAR-10, $((160 * S)) contiguous conv2 bits x the 839 correct images (as an oracle runs them):"
campaign "$T/par2.yaml" models/cifar10.h5 \
    "data: {format: cifar10, files: [data/cifar10/test_batch_first1017.bin], labels: data/cifar10/test_labels_10000.bin, correct_only: true}" \
    "kind: oracle" "oracle: {first_bit: 20000, bit_count: $((160 * S))}"
efficiency "$T/par2.yaml"

echo
echo "== 4. coordinator: chunk completions per second (1-item chunks, 1 sample, oversubscribed)"
for np in 4 8; do
    campaign "$T/co.yaml" models/econt_medium.h5 \
        "data: {format: hgcal, files: [data/hgcal/ttbar_0PU.csv], count: 1}" \
        "kind: oracle" "chunk_size: 1"
    measure co mpirun -np $np "$UPSET" run "$T/co.yaml" --quiet --force
    el=$(out_attr elapsed_s)
    echo "-np $np: 12720 one-item chunks in $el s: $(echo "scale=0; 12720 / $el" | bc) chunks/s"
done

echo
echo "== 5. peak memory per rank, CIFAR-10 oracle on every bundled image (correct ones), then on 8,313"
# peak_rss NAME DATA-LINE NOTE: an 8-bit CIFAR-10 oracle at -np 2, each rank's peak RSS in
# its own file (two ranks writing one pipe can interleave), then the image count
peak_rss() {
    campaign "$T/$1.yaml" models/cifar10.h5 "$2" "kind: oracle" "oracle: {first_bit: 200000, bit_count: 8}"
    mpirun -np 2 sh -c '/usr/bin/time -f "rank peak RSS %M KB" -o "$0.$OMPI_COMM_WORLD_RANK" "$@"' \
        "$T/$1.rss" "$UPSET" run "$T/$1.yaml" --quiet --force >/dev/null 2>&1
    cat "$T/$1".rss.*
    echo "($(out_attr n_samples) images$3)"
}
peak_rss mem "data: {format: cifar10, files: [data/cifar10/test_batch_first1017.bin], labels: data/cifar10/test_labels_10000.bin, correct_only: true}" ""
# The paper's 8,313 images: the bundled 1,017 repeated, copy c with its pixel byte c raised
# by one, so that no image repeats byte for byte (repeats would be evaluated once); memory
# depends on the image count, not on what the images show
"$PY" -c '
import sys
rec = 3073
src = open(sys.argv[1], "rb").read()
n_src = len(src) // rec
out = bytearray()
for k in range(8313):
    r = bytearray(src[(k % n_src) * rec:(k % n_src + 1) * rec])
    c = k // n_src
    if c:
        r[c] = (r[c] + 1) % 256
    out += r
open(sys.argv[2], "wb").write(out)' data/cifar10/test_batch_first1017.bin "$T/paper8313.bin"
peak_rss mem8313 "data: {format: cifar10, files: [$T/paper8313.bin], count: 8313, correct_only: false}" \
    ", the paper's count: the bundled ones repeated, each copy one pixel apart; target under 2 GiB = 2097152 KB"

echo
BASE=${BENCH_BASE:-364c255}
REPS=${BENCH_REPS:-3}
if [ "$BASE" != none ] && git rev-parse -q --verify "$BASE^{commit}" >/dev/null; then
    echo "== 6. this engine vs commit $BASE (same machine, interleaved, median of $REPS, CPU s)"
    git worktree add -f --detach "$T/base" "$BASE" >/dev/null 2>&1
    (cd "$T/base" && make -s build/upset >/dev/null 2>&1) || { echo "cannot build $BASE"; exit 1; }
    OLD="$T/base/build/upset"
    median() { tr ' ' '\n' | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
    side() { # side NAME CMD...: sets NAME_old / NAME_new to the median CPU seconds
        name=$1; shift; o=""; n=""
        for r in $(seq "$REPS"); do
            measure x "$OLD" "$@"; o="$o $x_cpu"
            measure x "$UPSET" "$@"; n="$n $x_cpu"
        done
        eval "${name}_old=$(echo $o | median)"; eval "${name}_new=$(echo $n | median)"
    }
    ratio() { echo "scale=1; $1 / $2" | bc; }
    C10D="--data data/cifar10/test_batch_first1017.bin --labels data/cifar10/test_labels_10000.bin"
    side fc eval --model models/cifar10.h5 $C10D
    side fl eval --model models/econt_large.h5 --data data/hgcal/ttbar_0PU.csv --count $((20000 * S))
    campaign "$T/o10.yaml" models/cifar10.h5 \
        "data: {format: cifar10, files: [data/cifar10/test_batch_first1017.bin], labels: data/cifar10/test_labels_10000.bin, count: $((300 * S)), correct_only: true}" \
        "kind: guided" "guided: {order: random, budget: $((200 * S))}"
    side oc run "$T/o10.yaml" --quiet --force
    N10=$(out_attr n_samples)
    campaign "$T/o1.yaml" models/cifar10.h5 \
        "data: {format: cifar10, files: [data/cifar10/test_batch_first1017.bin], labels: data/cifar10/test_labels_10000.bin, correct_only: true}" \
        "kind: oracle" "oracle: {first_bit: 300000, bit_count: 1}"
    side su run "$T/o1.yaml" --quiet --force
    campaign "$T/ol.yaml" models/econt_large.h5 \
        "data: {format: hgcal, files: [data/hgcal/ttbar_0PU.csv], count: $((2000 * S))}" \
        "kind: guided" "guided: {order: random, budget: $((300 * S))}"
    side ol run "$T/ol.yaml" --quiet --force
    side om run "$T/med.yaml" --quiet --force
    campaign "$T/mb.yaml" models/econt_medium.h5 \
        "data: {format: hgcal, files: [data/hgcal/ttbar_0PU.csv], count: $((2000 * S))}" \
        "kind: multibit" "multibit: {trials: $((100 * S)), flips: 960, protection: none}"
    side mb run "$T/mb.yaml" --quiet --force
    # project NAME MODEL DATA-LINE SLICE-SAMPLES FULL-SAMPLES "BITS PER LAYER" SLICES: a full
    # oracle's mix, from SLICES contiguous slices of each faultable layer, evenly spaced (one:
    # its middle; three: its quartiles), run as the oracle runs bits (weight by weight). A
    # slice's cost per flip x sample is its CPU time less a 1-bit campaign's (start-up), over
    # slice bits x samples; a layer's is the mean of its slices'; the projection weights each
    # layer by its bits (upset info) at the full campaign's samples. Sets NAME_old /
    # NAME_new (core-hours).
    project() {
        p_name=$1 p_model=$2 p_data=$3 p_ns=$4 p_nf=$5 p_bits=$6 p_sl=$7
        "$UPSET" info "$p_model" |
            sed -n 's/.*(\([0-9]*\) weights, bits \([0-9]*\)\.\.\([0-9]*\)).*/\1 \2 \3/p' > "$T/layers"
        last_bit=$(tail -n 1 "$T/layers" | cut -d' ' -f3)
        campaign "$T/pz.yaml" "$p_model" "$p_data" "kind: oracle" "oracle: {first_bit: $last_bit, bit_count: 1}"
        side pz run "$T/pz.yaml" --quiet --force
        p_old=0 p_new=0 k=0
        while read -r nw lo hi; do
            k=$((k + 1))
            nb=$(echo "$p_bits" | cut -d' ' -f$k)
            per_w=$(((hi - lo + 1) / nw))
            lo_cost=0 new_cost=0
            for q in $(seq "$p_sl"); do
                first=$((lo + (hi - lo + 1) * q / (p_sl + 1) / per_w * per_w))
                campaign "$T/ps.yaml" "$p_model" "$p_data" "kind: oracle" "oracle: {first_bit: $first, bit_count: $nb}"
                side ps run "$T/ps.yaml" --quiet --force
                o_c=$(echo "scale=9; ($ps_old - $pz_old) / ($nb * $p_ns)" | bc)
                n_c=$(echo "scale=9; ($ps_new - $pz_new) / ($nb * $p_ns)" | bc)
                printf '  %s layer %d: %5d bits from %6d, %8.2f vs %7.2f us per flip x sample\n' \
                    "$p_name" "$k" "$nb" "$first" "$(echo "$o_c * 1000000" | bc)" \
                    "$(echo "$n_c * 1000000" | bc)"
                lo_cost=$(echo "scale=9; $lo_cost + $o_c / $p_sl" | bc)
                new_cost=$(echo "scale=9; $new_cost + $n_c / $p_sl" | bc)
            done
            p_old=$(echo "scale=9; $p_old + ($hi - $lo + 1) * $lo_cost * $p_nf / 3600" | bc)
            p_new=$(echo "scale=9; $p_new + ($hi - $lo + 1) * $new_cost * $p_nf / 3600" | bc)
        done < "$T/layers"
        eval "${p_name}_old=$p_old"; eval "${p_name}_new=$p_new"
    }
    # CIFAR-10 at the 839 correct images, the middle of each layer (the old engine's
    # conv0/conv1 flips cost ms each, hence few bits there); ECON-T Large at 20,000 inputs,
    # each layer's quartiles (its dense layer's cost per flip varies by a third along it);
    # its slices' first 2,000 inputs repeat less often than the 20,000 (23 % vs 44 % are
    # copies the engine evaluates once), so the new side's projection errs high
    c10_data="data: {format: cifar10, files: [data/cifar10/test_batch_first1017.bin], labels: data/cifar10/test_labels_10000.bin, count: $((300 * S)), correct_only: true}"
    project cifar10 models/cifar10.h5 "$c10_data" "$N10" 839 "16 16 32 256 1024 8192" 1
    project large models/econt_large.h5 \
        "data: {format: hgcal, files: [data/hgcal/ttbar_0PU.csv], count: $((2000 * S))}" \
        $((2000 * S)) 20000 "200 700" 3
    printf '%-58s %9s %9s %7s\n' "" "$BASE" "now" "ratio"
    printf '%-58s %9s %9s %6sx\n' "CIFAR-10 forward, 1,017 images (CPU s)" "$fc_old" "$fc_new" "$(ratio "$fc_old" "$fc_new")"
    printf '%-58s %9s %9s %6sx\n' "ECON-T Large forward + EMD, $((20000 * S)) inputs" "$fl_old" "$fl_new" "$(ratio "$fl_old" "$fl_new")"
    printf '%-58s %9s %9s %6sx\n' "CIFAR-10 oracle, $((200 * S)) random bits x $N10 images" "$oc_old" "$oc_new" "$(ratio "$oc_old" "$oc_new")"
    printf '%-58s %9.2f %9.2f %6sx\n' "CIFAR-10 full oracle from per-layer slices (core-hours)" \
        "$cifar10_old" "$cifar10_new" "$(ratio "$cifar10_old" "$cifar10_new")"
    printf '%-58s %9s %9s %6sx\n' "CIFAR-10 start-up, 1-bit campaign on 839 images" "$su_old" "$su_new" "$(ratio "$su_old" "$su_new")"
    printf '%-58s %9s %9s %6sx\n' "ECON-T Large oracle, $((300 * S)) random bits x $((2000 * S))" "$ol_old" "$ol_new" "$(ratio "$ol_old" "$ol_new")"
    printf '%-58s %9.2f %9.2f %6sx\n' "ECON-T Large full oracle from per-layer slices (core-hours)" \
        "$large_old" "$large_new" "$(ratio "$large_old" "$large_new")"
    printf '%-58s %9s %9s %6sx\n' "ECON-T Medium oracle, $MED_BITS random bits x $MED_N" "$om_old" "$om_new" "$(ratio "$om_old" "$om_new")"
    printf '%-58s %9s %9s %6sx\n' "ECON-T Medium multibit, $((100 * S)) trials x 960 flips x $((2000 * S))" "$mb_old" "$mb_new" "$(ratio "$mb_old" "$mb_new")"
    echo "(CPU seconds of the whole command, start-up included; ratio = $BASE / now)"
    # the projections as wall time: at -np 2 here (both ranks at section 3's CIFAR-10
    # efficiency) and on one 88-vCPU node (88 ranks busy, start-up left out); a flip's cost
    # per image does not depend on the image count, so the paper's 8,313 images scale it
    wall() { # wall NAME CORE-HOURS
        printf '  %-42s %7.2f h at -np 2 here, %6.0f s on one 88-vCPU node\n' "$1" \
            "$(echo "scale=4; $2 / (2 * $eff10)" | bc)" "$(echo "scale=4; $2 * 3600 / 88" | bc)"
    }
    echo "projected wall time of the full oracles, this engine (target: CIFAR-10 at 839 images <= 12 h here):"
    wall "CIFAR-10, 459,520 bits x 839 images" "$cifar10_new"
    wall "CIFAR-10, 459,520 bits x 8,313 images" "$(echo "scale=6; $cifar10_new * 8313 / 839" | bc)"
    wall "ECON-T Large, 61,344 bits x 20,000 inputs" "$large_new"
    git worktree remove --force "$T/base" >/dev/null 2>&1 || true
fi

echo
# peer YAML PEER-NAME WHAT PEER-ARGS...: upset on the campaign and tools/peer_bench.py on its
# bits, at -np 1 vs 1 thread and -np 2 vs 2 threads
peer() {
    yaml=$1 name=$2 what=$3; shift 3
    for np in 1 2; do
        measure up mpirun -np $np "$UPSET" run "$yaml" --quiet --force
        # a peer that did not compute upset's results (other inputs, another bit's result)
        # exits 1: its lines, and no ratio
        "$PY" tools/peer_bench.py "$@" --bits-from "$T/out.h5" --threads $np > "$T/peer.txt" ||
            { cat "$T/peer.txt" >&2; exit 1; }
        eval "$(tail -n 1 "$T/peer.txt")"
        echo "-np $np vs $np thread(s): upset ${up_wall} s (start-up included), $name ${peer_wall_s} s" \
             "(its start-up excluded): $(echo "scale=1; $peer_wall_s / $up_wall" | bc)x;" \
             "per-bit $what on $peer_same of $peer_bits bits x $peer_images samples"
        echo "   CPU time (robust to other load): upset ${up_cpu} s, $name ${peer_cpu_s} s:" \
             "$(echo "scale=1; $peer_cpu_s / $up_cpu" | bc)x"
        # the per-bit loops alone, timed alike: upset's results file keeps its work phase's
        # wall time (elapsed_s: after start-up and the fault-free pass, as the peer's loop)
        up_loop=$(out_attr elapsed_s)
        echo "   per-bit loops alone (start-up and fault-free pass excluded on both sides, wall):" \
             "upset ${up_loop} s, $name ${peer_wall_s} s: $(echo "scale=1; $peer_wall_s / $up_loop" | bc)x"
        if [ $np = 1 ]; then up1_cpu=$up_cpu peer1_cpu_s=$peer_cpu_s peer1_bits=$peer_bits; fi
    done
}
echo "== 7. upset vs a PyTorch per-bit loop (tools/peer_bench.py), CIFAR-10, same bits and images"
if "$PY" -c "import torch, ot" 2>/dev/null; then
    campaign "$T/peer.yaml" models/cifar10.h5 \
        "data: {format: cifar10, files: [data/cifar10/test_batch_first1017.bin], labels: data/cifar10/test_labels_10000.bin, count: $((300 * S)), correct_only: true}" \
        "kind: guided" "guided: {order: random, budget: $((200 * S))}"
    peer "$T/peer.yaml" "PyTorch loop" "mispredicts equal" --model models/cifar10.h5 \
        --data data/cifar10/test_batch_first1017.bin --labels data/cifar10/test_labels_10000.bin \
        --count $((300 * S))
    echo
    echo "== 7b. upset vs a PyTorch + POT per-bit loop (tools/peer_bench.py), ECON-T Medium, same bits and inputs"
    campaign "$T/peer_ae.yaml" models/econt_medium.h5 \
        "data: {format: hgcal, files: [data/hgcal/ttbar_0PU.csv], count: $((2000 * S))}" \
        "kind: guided" "guided: {order: random, budget: $((100 * S))}"
    peer "$T/peer_ae.yaml" "PyTorch + POT loop" "mean EMD equal (1e-9 relative)" \
        --model models/econt_medium.h5 --data data/hgcal/ttbar_0PU.csv --count $((2000 * S))
    # per further bit, once each side's start-up is paid (1 rank vs 1 thread, CPU time, the
    # figures peer just measured): upset's 100-bit campaign less a 1-bit one, against the
    # peer's time per bit
    campaign "$T/peer_ae1.yaml" models/econt_medium.h5 \
        "data: {format: hgcal, files: [data/hgcal/ttbar_0PU.csv], count: $((2000 * S))}" \
        "kind: guided" "guided: {order: random, budget: 1}"
    measure u1 mpirun -np 1 "$UPSET" run "$T/peer_ae1.yaml" --quiet --force # launched as peer launches
    echo "per further bit (CPU): upset $(echo "scale=2; ($up1_cpu - $u1_cpu) * 1000 / ($((100 * S)) - 1)" | bc) ms," \
         "PyTorch + POT loop $(echo "scale=2; $peer1_cpu_s * 1000 / $peer1_bits" | bc) ms:" \
         "$(echo "scale=1; $peer1_cpu_s * ($((100 * S)) - 1) / $peer1_bits / ($up1_cpu - $u1_cpu)" | bc)x"
else
    echo "skipped: python3-torch or python3-pot is not installed (tools/install-deps.sh --bench installs them)"
fi

echo
echo "== 8. RN07's first layer: its 768 bits x the images it classifies correctly among the first 839, -np 2 (target <= 2 min)"
campaign "$T/rn.yaml" models/rn07.h5 \
    "data: {format: cifar10, files: [data/cifar10/test_batch_first1017.bin], labels: data/cifar10/test_labels_10000.bin, count: 839, correct_only: true}" \
    "kind: oracle" "oracle: {first_bit: 0, bit_count: 768}"
measure rn mpirun -np 2 "$UPSET" run "$T/rn.yaml" --quiet --force
echo "wall ${rn_wall} s, CPU ${rn_cpu} s; $(out_attr n_samples) images"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
