#!/bin/sh
# Must-show (SLURM as users launch it): a one-node SLURM cluster on localhost (munged,
# slurmctld and slurmd from Debian's slurm-wlm, a node with this machine's CPUs) runs
# jobs/oracle.sbatch under a time limit; the job checkpoints on SLURM's warning signal
# and stops (exit 75); its resubmission, cancelled with scancel, checkpoints too; the next
# resubmission resumes it to results identical to a plain run; one more says "already
# complete" (exit 0). Skips, saying why, where SLURM cannot start (not installed, not root,
# ports taken).
. tests/integration/lib.sh
skip() { echo "skip: $*"; exit 0; }
for c in munged slurmctld slurmd sbatch squeue scancel; do
    command -v $c >/dev/null 2>&1 || skip "no $c (apt-get install slurm-wlm munge)"
done
[ "$(id -u)" -eq 0 ] || skip "starting slurmd needs root"
[ -r /etc/munge/munge.key ] || skip "no /etc/munge/munge.key"

S=$T/slurm
mkdir -p "$S/state" "$S/spool" "$S/munge"
cp /etc/munge/munge.key "$S/munge/key" && chmod 600 "$S/munge/key"
stop_cluster() {
    for p in "$S/slurmd.pid" "$S/slurmctld.pid" "$S/munge/pid"; do
        [ -s "$p" ] && kill "$(cat "$p")" 2>/dev/null
    done
    sleep 1
    rm -rf "$T"
}
trap stop_cluster EXIT
munged --force -S "$S/munge/sock" --key-file "$S/munge/key" --pid-file "$S/munge/pid" \
    --log-file "$S/munge/log" --seed-file "$S/munge/seed" || skip "munged does not start"
node=$(hostname -s)
cat >"$S/slurm.conf" <<EOC
ClusterName=upsetit
SlurmctldHost=$node
SlurmctldPort=16917
SlurmdPort=16918
AuthType=auth/munge
AuthInfo=socket=$S/munge/sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/ctld.log
SlurmdLogFile=$S/d.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
KillWait=30
MinJobAge=300
NodeName=$node CPUs=$(nproc) State=UNKNOWN
PartitionName=it Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOC
export SLURM_CONF=$S/slurm.conf
slurmctld -f "$SLURM_CONF" && slurmd -f "$SLURM_CONF" || skip "slurmctld/slurmd do not start"
i=0
until sinfo -h -o %t 2>/dev/null | grep -q idle; do
    i=$((i + 1))
    [ $i -gt 30 ] && skip "the node never became idle: $(tail -n 3 "$S/ctld.log")"
    sleep 1
done
echo "SLURM up: node $node, $(nproc) CPUs"

# A campaign of two to three minutes on 2 ranks (ECON-T Large, 6000 samples): the time-limit
# warning, due 20 s in but sent up to a minute early or late as SLURM's checks fall, must
# find it running, and so must a scancel of its resubmission.
cat >"$T/c.yaml" <<EOC
name: it-slurm
model: models/econt_large.h5
data: {format: hgcal, files: [data/hgcal/ttbar_0PU.csv], count: 6000}
kind: oracle
checkpoint_interval: 5
output: $T/out/slurm.h5
EOC
# wait_job ID: until the job has left the queue
wait_job() {
    i=0
    while squeue -h -j "$1" 2>/dev/null | grep -q .; do
        i=$((i + 1))
        [ $i -gt 600 ] && { fail "job $1 still queued after 10 min"; scancel "$1"; return 1; }
        sleep 1
    done
}
exit_code() { scontrol show job "$1" 2>/dev/null | grep -o 'ExitCode=[0-9]*:[0-9]*'; }
submit() { # submit NAME SBATCH-OPTIONS...: the job id
    name=$1; shift
    sbatch --parsable --ntasks=2 -o "$T/$name.log" "$@" jobs/oracle.sbatch "$T/c.yaml"
}
# done_items LOG: the items a resumed job found done
done_items() { sed -n 's/^resuming .*: \([0-9]*\) of [0-9]* items already done$/\1/p' "$1"; }

jid=$(submit first --time=2 --signal=B:USR1@100) || fail "sbatch"
wait_job "$jid"
if grep -q "stopped by signal 10" "$T/first.log" && [ -s "$T/out/slurm.h5.ckpt" ] &&
    [ ! -e "$T/out/slurm.h5" ] && [ "$(exit_code "$jid")" = ExitCode=75:0 ]; then
    pass "time-limit warning: the job checkpointed and stopped, exit 75 ($(grep -o 'after [0-9]* of [0-9]* items' "$T/first.log"))"
else
    fail "first job did not stop with a checkpoint and exit 75 ($(exit_code "$jid"))"; cat "$T/first.log" >&2
fi
grep -q "resubmit to continue" "$T/first.log" || fail "first job: no resubmit hint"

# the resubmission, cancelled once it has worked a while: it saves its checkpoint too
jid=$(submit second --time=10) || fail "sbatch (resubmission)"
i=0
while ! grep -q "items, 2 ranks" "$T/second.log" 2>/dev/null && [ $i -lt 300 ]; do
    sleep 1; i=$((i + 1))
done
sleep 15
scancel "$jid"
wait_job "$jid"
first=$(done_items "$T/second.log")
if [ -n "$first" ] && grep -q "stopped with a checkpoint; resubmit to continue" "$T/second.log"; then
    pass "scancel of the resumed job: stopped with a checkpoint"
else
    fail "scancel of the resumed job"; cat "$T/second.log" >&2
fi

jid=$(submit third --time=10) || fail "sbatch (second resubmission)"
wait_job "$jid"
second=$(done_items "$T/third.log")
[ -n "$first" ] && [ -n "$second" ] && [ "$second" -gt "$first" ] && [ -s "$T/out/slurm.h5" ] &&
    [ "$(exit_code "$jid")" = ExitCode=0:0 ] \
    && pass "resubmission resumed ($first, then $second items done) and finished" \
    || { fail "resubmission after the scancel ($first, then $second items done)"; cat "$T/third.log" >&2; }

mpi 2 run "$T/c.yaml" --quiet --output "$T/ref.h5" || fail "reference run"
if [ -z "$first" ] || [ -z "$second" ]; then
    fail "the comparison with a plain run would not test a stop and resubmission"
elif same_data "$T/ref.h5" "$T/out/slurm.h5" bits; then
    pass "stopped twice (time limit, scancel) + resubmitted == plain run"
else
    fail "results after the SLURM stops and resubmissions differ from a plain run"
fi

jid=$(submit fourth --time=10) || fail "sbatch (fourth)"
wait_job "$jid"
grep -q "already complete" "$T/fourth.log" && [ "$(exit_code "$jid")" = ExitCode=0:0 ] \
    && pass "a resubmitted finished job: already complete, exit 0" \
    || { fail "fourth submission ($(exit_code "$jid"))"; cat "$T/fourth.log" >&2; }
finish
