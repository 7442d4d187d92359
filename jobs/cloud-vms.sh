#!/bin/sh
# Running a campaign on a set of cloud VMs (no batch system) with an Open MPI hostfile.
#
# Once per VM (same Debian image everywhere):
#   git clone <this repository> upset && cd upset && make          # same path on every VM
#   (tools/install-deps.sh installs Open MPI, HDF5, libyaml, Check)
# On the first VM: passwordless ssh to the others, and a hostfile, one line per VM:
#   10.0.0.11 slots=16
#   10.0.0.12 slots=16
# The repository directory must exist at the same path on every VM, and so must the
# model and data. Rank 0 writes the results, checkpoint and lock, so the campaign's
# `output` only needs to be on rank 0's VM (the first host); a shared file system
# (an NFS export) makes it visible everywhere.
#
# Usage: jobs/cloud-vms.sh HOSTFILE CAMPAIGN.yaml [NP]
#   NP defaults to the sum of the hostfile's slots. HOSTFILE and CAMPAIGN may be relative
#   to where the script is started; the paths inside the campaign (model, data, output)
#   are read from the repository root, where the script runs upset, as for configs/.
#   The output's directory must exist (unlike the sbatch scripts, this one creates none).
#   --resume is always passed: rerun the same command after an interruption; a finished
#   campaign says "already complete". Ctrl-C saves the checkpoint (the run ends within 10 s).
set -eu
usage="usage: jobs/cloud-vms.sh HOSTFILE CAMPAIGN.yaml [NP]"
HOSTFILE=${1:?$usage}
CAMPAIGN=${2:?$usage}
abs() { case $1 in /*) echo "$1" ;; *) echo "$(pwd)/$1" ;; esac; }
[ -r "$HOSTFILE" ] || { echo "cloud-vms.sh: cannot read hostfile $HOSTFILE" >&2; exit 2; }
[ -r "$CAMPAIGN" ] || { echo "cloud-vms.sh: cannot read campaign $CAMPAIGN" >&2; exit 2; }
HOSTFILE=$(abs "$HOSTFILE")
CAMPAIGN=$(abs "$CAMPAIGN")

# Every host once, each with slots=N: Open MPI refuses a host given twice with slots,
# and a missing slots= would leave the rank count to guesswork.
SLOTS=$(awk '
    { sub(/#.*/, "") }
    NF == 0 { next }
    {
        slots = ""
        for (i = 2; i <= NF; i++) if ($i ~ /^slots=/) slots = substr($i, 7)
        if (slots !~ /^[1-9][0-9]*$/) {
            printf "cloud-vms.sh: %s:%d: host %s needs slots=N (N >= 1)\n", FILENAME, NR, $1 > "/dev/stderr"
            bad = 1
        }
        if ($1 in line) {
            printf "cloud-vms.sh: %s:%d: host %s already given on line %d; give each host once with all its slots\n", FILENAME, NR, $1, line[$1] > "/dev/stderr"
            bad = 1
        }
        line[$1] = NR
        total += slots
        hosts++
    }
    END {
        if (!hosts && !bad) { printf "cloud-vms.sh: %s: no hosts\n", FILENAME > "/dev/stderr"; bad = 1 }
        if (bad) exit 1
        print total
    }' "$HOSTFILE") || exit 2
NP=${3:-$SLOTS}
case $NP in
''|*[!0-9]*|0) echo "cloud-vms.sh: NP '$NP' is not a positive number" >&2; exit 2 ;;
esac
[ "$NP" -le "$SLOTS" ] || { echo "cloud-vms.sh: NP $NP exceeds the $SLOTS slots of $HOSTFILE" >&2; exit 2; }

cd "$(dirname "$0")/.."
# TCP between VMs; the interface list keeps Open MPI off docker/virtual bridges. On Ctrl-C
# mpirun sends the ranks TERM and, by default 1 s later, SIGKILL, while a rank may need a
# chunk's time (about 2 s) and the checkpoint's to stop: 5 s each.
exec mpirun --hostfile "$HOSTFILE" -np "$NP" --mca odls_base_sigkill_timeout 5 \
    --mca btl self,vader,tcp --mca btl_tcp_if_exclude lo,docker0 \
    ./build/upset run "$CAMPAIGN" --resume
