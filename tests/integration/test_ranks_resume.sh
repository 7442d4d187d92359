#!/bin/sh
# Must-show: result data are identical for -np 1, 2 and 4 (oversubscribed), and a
# campaign killed with kill -9 mid-run, then resumed, equals an uninterrupted run;
# the killed run leaves no results file that looks complete.
. tests/integration/lib.sh

cat > "$T/oracle.yaml" <<EOC
name: it-ranks
model: models/econt_medium.h5
data: {format: hgcal, files: [data/hgcal/ttbar_0PU.csv], count: 400}
kind: oracle
oracle: {first_bit: 300, bit_count: 500}
chunk_size: 7
output: $T/np1.h5
EOC
cat > "$T/multibit.yaml" <<EOC
name: it-multibit
model: models/econt_medium.h5
data: {format: hgcal, files: [data/hgcal/ttbar_0PU.csv], count: 200}
kind: multibit
multibit: {trials: 40, flips: 30}
seed: 7
output: $T/mb1.h5
EOC
for np in 1 2 4; do
    mpi $np run "$T/oracle.yaml" --quiet --output "$T/np$np.h5" || fail "oracle -np $np"
    mpi $np run "$T/multibit.yaml" --quiet --output "$T/mb$np.h5" || fail "multibit -np $np"
done
for np in 2 4; do
    same_data "$T/np1.h5" "$T/np$np.h5" bits && pass "oracle -np $np == -np 1" || fail "oracle -np $np differs"
    same_data "$T/mb1.h5" "$T/mb$np.h5" trials && pass "multibit -np $np == -np 1" || fail "multibit -np $np differs"
done

# kill -9 mid-campaign, then resume (long enough that the kill lands mid-run on a fast machine)
cat > "$T/long.yaml" <<EOC
name: it-resume
model: models/econt_medium.h5
data: {format: hgcal, files: [data/hgcal/ttbar_0PU.csv], count: 2000}
kind: oracle
oracle: {first_bit: 400, bit_count: 4800}
chunk_size: 10
checkpoint_interval: 0.5
output: $T/killed.h5
EOC
mpi 1 run "$T/long.yaml" --quiet --output "$T/whole.h5" || fail "uninterrupted run"
mpi 2 run "$T/long.yaml" --quiet >"$T/killed.log" 2>&1 &
pid=$!
i=0
while [ ! -s "$T/killed.h5.ckpt" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
sleep 0.5
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
pkill -9 -f "upset run $T/long.yaml" 2>/dev/null
sleep 0.5
if [ -e "$T/killed.h5" ]; then
    fail "the killed run left $T/killed.h5 (finished before the kill? make the campaign longer)"
elif [ ! -s "$T/killed.h5.ckpt" ]; then
    fail "the killed run left no checkpoint"
else
    pass "killed run left only a checkpoint"
fi
mpi 2 run "$T/long.yaml" --resume >"$T/resume.log" 2>&1 || { fail "resume"; cat "$T/resume.log" >&2; }
grep -m1 "resuming" "$T/resume.log" || fail "resume did not use the checkpoint"
same_data "$T/whole.h5" "$T/killed.h5" bits && pass "kill -9 + --resume == uninterrupted" \
    || fail "resumed results differ from the uninterrupted run"
[ -e "$T/killed.h5.ckpt" ] && fail "checkpoint not removed after completion"
finish
