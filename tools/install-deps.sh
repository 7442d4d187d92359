#!/bin/sh
# Installs the Debian packages upset needs to build, test and plot (--bench: and benchmark;
# --fuzz: and fuzz). Idempotent:
# when every package is already present it only runs dpkg-query and exits.
set -eu
PKGS="openmpi-bin libopenmpi-dev libhdf5-openmpi-dev hdf5-tools libyaml-dev check pkg-config \
make gcc bc time libglpk-dev python3 python3-numpy python3-h5py python3-matplotlib"
# --bench: also the peers `make bench` compares against (a PyTorch per-bit loop; OpenBLAS, oneDNN)
[ "${1:-}" = "--bench" ] && PKGS="$PKGS python3-torch python3-pot libopenblas-dev libdnnl-dev"
# --fuzz: clang with libFuzzer for `make fuzz`
[ "${1:-}" = "--fuzz" ] && PKGS="$PKGS clang libclang-rt-dev"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
