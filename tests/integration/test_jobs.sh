#!/bin/sh
# Must-show (runs as users launch them): jobs/cloud-vms.sh on a localhost hostfile given by
# a relative path equals a plain run, refuses bad hostfiles by line, and on Ctrl-C saves
# the checkpoint its rerun continues from; a run asked to
# stop (SIGUSR1 through mpirun, as the sbatch scripts forward SLURM's time-limit warning)
# saves its checkpoint, exits 75, and --resume finishes with identical results, while one
# whose checkpoint cannot be written exits 1 saying nothing was saved; the sbatch scripts
# parse, and their run_campaign creates the directory of the output, --output's or --set
# output='s when given, and saves the checkpoint on a scancel (TERM to it, mpirun and the
# ranks at once). (A real SLURM cluster: tests/integration/test_slurm.sh.)
. tests/integration/lib.sh

cat > "$T/c.yaml" <<EOC
name: it-jobs
model: models/econt_medium.h5
data: {format: hgcal, files: [data/hgcal/ttbar_0PU.csv], count: 2000}
kind: oracle
oracle: {first_bit: 0, bit_count: 1500}
checkpoint_interval: 1
output: $T/ref.h5
EOC
mpi 1 run "$T/c.yaml" --quiet || fail "reference run"

# cloud-vms.sh, started from another directory with relative paths
mkdir -p "$T/work"
printf '# the first VM\nlocalhost slots=2\n' >"$T/work/hosts"
sed "s|output: .*|output: $T/cloud.h5|" "$T/c.yaml" >"$T/work/c.yaml"
repo=$(pwd)
(cd "$T/work" && sh "$repo/jobs/cloud-vms.sh" hosts c.yaml) >"$T/cloud.log" 2>&1 \
    || { fail "cloud-vms.sh on localhost"; cat "$T/cloud.log" >&2; }
grep -q "2 ranks" "$T/cloud.log" || fail "cloud-vms.sh: not 2 ranks from slots=2"
same_data "$T/ref.h5" "$T/cloud.h5" bits && pass "cloud-vms.sh (relative paths, 2 slots) == plain run" \
    || fail "cloud-vms.sh results differ"
(cd "$T/work" && sh "$repo/jobs/cloud-vms.sh" hosts c.yaml) >"$T/cloud2.log" 2>&1 \
    && grep -q "already complete" "$T/cloud2.log" && pass "cloud-vms.sh rerun: already complete" \
    || fail "cloud-vms.sh rerun: $(cat "$T/cloud2.log")"
bad_hosts() { # bad_hosts NAME CONTENT PATTERN
    printf "$2" >"$T/work/$1"
    if (cd "$T/work" && sh "$repo/jobs/cloud-vms.sh" "$1" c.yaml) >"$T/bad.log" 2>&1; then
        fail "hostfile $1 accepted"
    elif grep -q "$3" "$T/bad.log"; then
        pass "hostfile $1: $(cat "$T/bad.log")"
    else
        fail "hostfile $1: $(cat "$T/bad.log")"
    fi
}
bad_hosts no_slots 'localhost\n' "no_slots:1: host localhost needs slots=N"
bad_hosts twice 'localhost slots=1\nlocalhost slots=1\n' "twice:2: host localhost already given on line 1"
bad_hosts empty '# nothing\n' "no hosts"

# Stop on a signal: checkpoint, exit 75, resume to identical results
out=$T/stopped.h5
mpirun --oversubscribe -np 2 "$UPSET" run "$T/c.yaml" --output "$out" >"$T/stop.log" 2>&1 &
pid=$!
i=0
while [ ! -s "$out.ckpt" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
kill -USR1 $pid
wait $pid
rc=$?
[ $rc -eq 75 ] && pass "SIGUSR1: exit 75" || { fail "SIGUSR1: exit $rc"; cat "$T/stop.log" >&2; }
grep -q "stopped by signal 10 .* the checkpoint keeps them" "$T/stop.log" \
    || fail "SIGUSR1: no clear message"
[ -e "$out" ] && fail "SIGUSR1: a results file was written"
# a rerun that forgot --resume must not start over on the checkpoint (its first save
# would overwrite the stopped run's work)
cp "$out.ckpt" "$T/stopped.ckpt.copy"
if mpi 2 run "$T/c.yaml" --output "$out" >"$T/plain.log" 2>&1; then
    fail "a rerun without --resume started over on the checkpoint"
elif grep -q "checkpoint exists; use --resume to continue it, or --force" "$T/plain.log" &&
    cmp -s "$out.ckpt" "$T/stopped.ckpt.copy"; then
    pass "a rerun without --resume is refused, the checkpoint untouched"
else
    fail "a rerun without --resume: no clear refusal, or the checkpoint changed"
    cat "$T/plain.log" >&2
fi
# the resubmitted job retunes what cannot change a result (how often it checkpoints, how
# many items a hand-out holds): still the same campaign (it was refused as another)
mpi 2 run "$T/c.yaml" --output "$out" --resume --set checkpoint_interval=5 --set chunk_size=7 \
    >"$T/resume.log" 2>&1 || { fail "resume after SIGUSR1 with checkpoint_interval and chunk_size changed"; cat "$T/resume.log" >&2; }
grep -q "resuming" "$T/resume.log" || fail "the resumed run did not use the checkpoint"
same_data "$T/ref.h5" "$out" bits && pass "SIGUSR1 stop + --resume (checkpoint_interval, chunk_size retuned) == uninterrupted" \
    || fail "results after a signal stop differ"
cp "$out" "$T/done.copy"
mpi 2 run "$T/c.yaml" --output "$out" --resume --set checkpoint_interval=9 >"$T/again.log" 2>&1 \
    && grep -q "already complete" "$T/again.log" && cmp -s "$out" "$T/done.copy" \
    && pass "--resume over the finished file with checkpoint_interval retuned: already complete, untouched" \
    || fail "finished file, checkpoint_interval retuned: $(cat "$T/again.log")"
mpi 2 run "$T/c.yaml" --output "$out" --resume --set seed=99 >"$T/again.log" 2>&1 \
    && fail "--resume over the finished file with another seed accepted" \
    || { grep -q "finished campaign whose campaign differs" "$T/again.log" && cmp -s "$out" "$T/done.copy" \
         && pass "--resume over the finished file with another seed refused, untouched" \
         || fail "another seed: $(cat "$T/again.log")"; }

# Stop on a signal when the checkpoint cannot be written (a 512-byte file-size limit on the
# ranks; no periodic checkpoint before it): not exit 75 ("rerun with --resume" would start
# over), but 1 with a message saying nothing was saved; on 2 ranks, so the workers agree
sed -e "s|checkpoint_interval: .*|checkpoint_interval: 600|" -e "s|bit_count: 1500|bit_count: 6000|" \
    "$T/c.yaml" >"$T/nockpt.yaml"
out=$T/nockpt.h5
OMPI_MCA_btl=self,tcp OMPI_MCA_btl_tcp_if_include=lo mpirun --oversubscribe -np 2 \
    sh -c 'trap "" XFSZ; ulimit -f 1; exec "$@"' x "$UPSET" run "$T/nockpt.yaml" --output "$out" \
    >"$T/nockpt.log" 2>&1 &
pid=$!
i=0 # the campaign line comes just before the work starts
while ! grep -q "items, 2 ranks" "$T/nockpt.log" 2>/dev/null && [ $i -lt 300 ]; do
    sleep 0.1; i=$((i + 1))
done
kill -USR1 $pid
wait $pid
rc=$?
if ! grep -q "stopped by signal 10" "$T/nockpt.log"; then
    fail "unsaved stop: the signal did not stop the run (exit $rc)"; cat "$T/nockpt.log" >&2
else
    [ $rc -eq 1 ] && pass "SIGUSR1, checkpoint not writable: exit 1" \
        || { fail "SIGUSR1, checkpoint not writable: exit $rc"; cat "$T/nockpt.log" >&2; }
    grep -q "stopped by signal 10 .*, but the checkpoint could not be written (.*File too large): nothing was saved" \
        "$T/nockpt.log" && ! grep -q "keeps them" "$T/nockpt.log" \
        && pass "SIGUSR1, checkpoint not writable: the message says nothing was saved" \
        || { fail "SIGUSR1, checkpoint not writable: unclear message"; cat "$T/nockpt.log" >&2; }
fi
[ -e "$out.ckpt" ] && fail "unsaved stop: a checkpoint exists after all"

# Ctrl-C on cloud-vms.sh: SIGINT reaches mpirun alone, which sends the ranks TERM and then
# SIGKILL (1 s later by default); the ranks must have the time to finish a chunk (2 s here:
# 20000 samples a bit, no periodic checkpoint) and save their checkpoint
out=$T/ctrlc.h5
sed -e "s|output: .*|output: $out|" -e "s|count: 2000}|count: 20000}|" "$T/nockpt.yaml" \
    >"$T/work/ctrlc.yaml"
(cd "$T/work" && exec sh "$repo/jobs/cloud-vms.sh" hosts ctrlc.yaml) >"$T/ctrlc.log" 2>&1 &
pid=$!
i=0
while ! grep -q "items, 2 ranks" "$T/ctrlc.log" 2>/dev/null && [ $i -lt 300 ]; do
    sleep 0.1; i=$((i + 1))
done
sleep 4 # chunks reach their 2 s once the rates are known
kill -INT $pid
wait $pid
[ -s "$out.ckpt" ] && grep -q "stopped by signal 15 .* the checkpoint keeps them" "$T/ctrlc.log" \
    && pass "Ctrl-C on cloud-vms.sh: the checkpoint is saved" \
    || { fail "Ctrl-C on cloud-vms.sh: no checkpoint saved"; cat "$T/ctrlc.log" >&2; }

# The sbatch scripts' run_campaign creates the output's directory, the one an --output or
# --set output= option names when given (upset applies --output, then --set); run in a
# directory laid out like the repository, with this build's binary as build/upset
mkdir -p "$T/repo/build"
ln -s "$(cd "$(dirname "$UPSET")" && pwd)/$(basename "$UPSET")" "$T/repo/build/upset"
ln -s "$repo/models" "$repo/data" "$T/repo/"
for opts in "--output $T/opt/dir/o.h5" "--output $T/unused/o.h5 --set output=$T/set/dir/o.h5"; do
    eval "set -- $opts"
    want=$(eval "echo \${$#}"); want=${want#output=}
    (cd "$T/repo" && bash -c '. "$0/jobs/lib.sh"; run_campaign "$@"' "$repo" "$T/c.yaml" --quiet \
        "$@") >"$T/lib.log" 2>&1 && same_data "$T/ref.h5" "$want" bits \
        && pass "run_campaign $opts: creates the output's directory" \
        || { fail "run_campaign $opts"; cat "$T/lib.log" >&2; }
done
[ -e "$T/unused" ] && fail "run_campaign created the directory of an --output that --set overrides"

# scancel as SLURM does it: TERM to the batch shell, mpirun and every rank at once, and once
# the shell has exited, SIGKILL to whatever is left of the job. mpirun kills its ranks on TERM
# (SIGKILL within 2 s by default) and exits 1; run_campaign must leave the ranks the time to
# save their checkpoint and report the stop as one (exit 75, "resubmit to continue").
out=$T/cancel/o.h5
(cd "$T/repo" && exec bash -c '. "$0/jobs/lib.sh"; run_campaign "$@"' "$repo" "$T/nockpt.yaml" \
    --output "$out") >"$T/cancel.log" 2>&1 &
pid=$!
i=0 # the campaign line comes just before the work starts
while ! grep -q "items, [0-9]* ranks" "$T/cancel.log" 2>/dev/null && [ $i -lt 300 ]; do
    sleep 0.1; i=$((i + 1))
done
sleep 0.5
job=$(pgrep -f -- "--output $out")
kill -TERM $job
wait $pid
rc=$?
kill -KILL $(pgrep -f -- "--output $out") 2>/dev/null
if [ $rc -eq 75 ] && [ -s "$out.ckpt" ] && grep -q "stopped with a checkpoint; resubmit to continue" "$T/cancel.log"; then
    pass "scancel (TERM to the shell, mpirun and the ranks): checkpoint saved, exit 75"
    mpi 2 run "$T/nockpt.yaml" --output "$out" --resume >"$T/cancel2.log" 2>&1 &&
        grep -q "resuming .* items already done" "$T/cancel2.log" && [ -s "$out" ] &&
        pass "after scancel, --resume continues and finishes" ||
        { fail "after scancel, --resume"; cat "$T/cancel2.log" >&2; }
else
    fail "scancel: exit $rc, checkpoint $([ -s "$out.ckpt" ] && echo saved || echo missing)"
    cat "$T/cancel.log" >&2
fi

for s in jobs/*.sbatch jobs/lib.sh; do bash -n "$s" || fail "$s does not parse"; done
sh -n jobs/cloud-vms.sh || fail "cloud-vms.sh does not parse"
finish
