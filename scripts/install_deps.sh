#!/usr/bin/env bash
# Installs everything spt needs to build and test on Debian 12, as root.
# Idempotent: re-running it only refreshes the package lists.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then SUDO=sudo; else
    echo "[install_deps] must run as root (or with sudo available)" >&2; exit 1; fi
else
  SUDO=
fi

PKGS=(
  build-essential cmake pkg-config ninja-build git ca-certificates
  python3 python3-pip python3-venv
  libopenblas-openmp-dev
  libcli11-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  libsentencepiece-dev sentencepiece libpcre2-dev libicu-dev liblzma-dev zlib1g-dev
  catch2
  # Multi-process training (MPI) and the real one-node Slurm cluster of the tests.
  openmpi-bin libopenmpi-dev slurmctld slurmd slurm-client munge
  # The sanitizer and fuzzing build (docs/reliability.md): clang, libFuzzer and
  # the sanitizer runtimes, LLVM's OpenMP.
  clang libclang-rt-dev libomp-dev
)

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${PKGS[@]}"
echo "[install_deps] done: ${#PKGS[@]} packages present"
