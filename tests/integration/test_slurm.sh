#!/bin/sh
# Must-show (SLURM as users launch it): a one-node SLURM cluster on localhost (munged,
# slurmctld and slurmd from Debian's slurm-wlm, a node with this machine's CPUs) runs
# jobs/oracle.sbatch under a time limit; the job checkpoints on SLURM's warning signal
# and stops; resubmitting the same command resumes it to results identical to a plain
# run; a third submission says "already complete". Skips, saying why, where SLURM cannot
# start (not installed, not root, ports taken).
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

# A campaign of about a minute on 2 ranks: long enough that the time-limit warning
# (sent up to a minute early, as SLURM documents) arrives while it runs.
cat >"$T/c.yaml" <<EOC
name: it-slurm
model: models/econt_medium.h5
data: {format: hgcal, files: [data/hgcal/ttbar_0PU.csv], count: 3000}
kind: oracle
checkpoint_interval: 5
output: $T/out/slurm.h5
EOC
# wait_job ID LOG: until the job has left the queue
wait_job() {
    i=0
    while squeue -h -j "$1" 2>/dev/null | grep -q .; do
        i=$((i + 1))
        [ $i -gt 600 ] && { fail "job $1 still queued after 10 min"; scancel "$1"; return 1; }
        sleep 1
    done
}
submit() { # submit NAME SBATCH-OPTIONS...: the job id
    name=$1; shift
    sbatch --parsable --ntasks=2 -o "$T/$name.log" "$@" jobs/oracle.sbatch "$T/c.yaml"
}

jid=$(submit first --time=2 --signal=B:USR1@100) || fail "sbatch"
wait_job "$jid"
if grep -q "stopped by signal 10" "$T/first.log" && [ -s "$T/out/slurm.h5.ckpt" ] &&
    [ ! -e "$T/out/slurm.h5" ]; then
    pass "time-limit warning: the job checkpointed and stopped ($(grep -o 'after [0-9]* of [0-9]* items' "$T/first.log"))"
else
    fail "first job did not stop with a checkpoint"; cat "$T/first.log" >&2
fi
grep -q "resubmit to continue" "$T/first.log" || fail "first job: no resubmit hint"

jid=$(submit second --time=10) || fail "sbatch (resubmission)"
wait_job "$jid"
grep -q "resuming .* items already done" "$T/second.log" && [ -s "$T/out/slurm.h5" ] \
    && pass "resubmission resumed and finished" || { fail "resubmission"; cat "$T/second.log" >&2; }

mpi 2 run "$T/c.yaml" --quiet --output "$T/ref.h5" || fail "reference run"
same_data "$T/ref.h5" "$T/out/slurm.h5" bits && pass "stopped + resubmitted == plain run" \
    || fail "results after the SLURM stop and resubmission differ from a plain run"

jid=$(submit third --time=10) || fail "sbatch (third)"
wait_job "$jid"
grep -q "already complete" "$T/third.log" && pass "a resubmitted finished job: already complete" \
    || { fail "third submission"; cat "$T/third.log" >&2; }
finish
