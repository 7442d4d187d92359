#!/bin/sh
# Running a campaign on a set of cloud VMs (no batch system) with an Open MPI hostfile.
#
# Once per VM (same Debian image everywhere):
#   git clone <this repository> upset && cd upset && make          # same path on every VM
#   (tools/install-deps.sh installs Open MPI, HDF5, libyaml, Check)
# On the first VM: passwordless ssh to the others, and a hostfile, e.g.
#   10.0.0.11 slots=16
#   10.0.0.12 slots=16
# The repository directory must exist at the same path on every VM. Every rank opens
# the results file collectively (parallel HDF5 through MPI-IO), so the campaign's
# `output` must be on a file system all VMs see (an NFS export is enough).
#
# Usage: jobs/cloud-vms.sh HOSTFILE CAMPAIGN.yaml [NP]
set -eu
HOSTFILE=${1:?usage: jobs/cloud-vms.sh HOSTFILE CAMPAIGN.yaml [NP]}
CAMPAIGN=${2:?usage: jobs/cloud-vms.sh HOSTFILE CAMPAIGN.yaml [NP]}
NP=${3:-$(awk '{for (i=1;i<=NF;i++) if ($i ~ /^slots=/) {sub("slots=","",$i); s+=$i}} END {print s}' "$HOSTFILE")}
cd "$(dirname "$0")/.."
# TCP between VMs; the interface list keeps Open MPI off docker/virtual bridges.
exec mpirun --hostfile "$HOSTFILE" -np "$NP" \
    --mca btl self,vader,tcp --mca btl_tcp_if_exclude lo,docker0 \
    ./build/upset run "$CAMPAIGN" --resume
