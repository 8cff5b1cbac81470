#!/usr/bin/env bash
# Makes the GPU bundle: the Debian packages spt needs to build that the GPU
# machine lacks (it has no package registry), as .deb files in one git-ignored
# folder that travels with the working tree. scripts/gpu_check.sh unpacks them
# with `dpkg -x` into a private prefix and builds against that prefix alone.
# The versions are the ones apt would install here (those the build and CI use).
#
#   bash scripts/gpu_bundle.sh [DIR]     # default: .gpu-bundle
#
# Prints the bundle's size; fails when it exceeds SPT_BUNDLE_MAX_MIB (default
# 40), so that it leaves room in the 64 MiB carried with the working tree.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-.gpu-bundle}
MAX_MIB=${SPT_BUNDLE_MAX_MIB:-40}
mapfile -t PKGS < <(grep -v '^\s*#' scripts/gpu/bundle-packages.txt | grep -v '^\s*$')

rm -rf "$OUT.tmp"
mkdir -p "$OUT.tmp/debs"
download() { (cd "$OUT.tmp/debs" && apt-get download -q=2 "${PKGS[@]}"); }
if ! download 2>/dev/null; then
  # No or stale package lists (a fresh machine): refresh them once, as root.
  if [[ $(id -u) -eq 0 ]]; then apt-get update -qq; else sudo apt-get update -qq; fi
  download
fi

{
  echo "# spt GPU bundle, made $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "source_commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)"
  echo "source_dirty=$(git status --porcelain 2>/dev/null | wc -l) changed files"
  echo "# package version bytes sha256"
  for f in "$OUT.tmp"/debs/*.deb; do
    echo "$(dpkg-deb -f "$f" Package) $(dpkg-deb -f "$f" Version) $(stat -c %s "$f") $(sha256sum "$f" | cut -c1-64)"
  done
} > "$OUT.tmp/MANIFEST"

n=$(ls "$OUT.tmp"/debs/*.deb | wc -l)
if [[ $n -ne ${#PKGS[@]} ]]; then
  echo "[gpu_bundle] expected ${#PKGS[@]} packages, got $n" >&2; exit 1
fi
rm -rf "$OUT"
mv "$OUT.tmp" "$OUT"
bytes=$(du -sb "$OUT" | cut -f1)
mib=$(( (bytes + 1048575) / 1048576 ))
echo "[gpu_bundle] $OUT: $n packages, $bytes bytes (${mib} MiB; limit ${MAX_MIB} MiB of the 64 MiB carried)"
if (( mib > MAX_MIB )); then
  echo "[gpu_bundle] the bundle is larger than ${MAX_MIB} MiB; hint: drop packages the GPU machine has" >&2
  exit 1
fi
