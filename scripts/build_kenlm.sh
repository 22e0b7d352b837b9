#!/usr/bin/env bash
# Build KenLM's training tools (lmplz, build_binary) into .tools/kenlm/bin. No wheel or Debian
# package ships lmplz; it builds from the kenlm source distribution with CMake and Boost.
# Sourced by env.sh only when lmplz is neither on PATH nor built yet (about 80 s on 2 cores).
set -euo pipefail
PROJECT_ROOT="${PROJECT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
KENLM_VERSION=0.3.0
DEST="$PROJECT_ROOT/.tools/kenlm"
if [ ! -f /usr/include/boost/program_options.hpp ] || [ ! -f /usr/include/boost/thread.hpp ]; then
  echo "[setup] installing Boost headers for KenLM (Debian packages)" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  PACKAGES="libboost-program-options-dev libboost-system-dev libboost-thread-dev libboost-test-dev zlib1g-dev libbz2-dev liblzma-dev cmake g++"
  # A fresh image may have no package lists yet: update once and retry.
  $SUDO apt-get install -y -q $PACKAGES >&2 \
    || { $SUDO apt-get update -q >&2 && $SUDO apt-get install -y -q $PACKAGES >&2; } \
    || { echo "[setup] error: could not install Boost ($PACKAGES); install them, or put lmplz on PATH" >&2; exit 1; }
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
echo "[setup] building KenLM $KENLM_VERSION lmplz/build_binary from source" >&2
"${PYTHON_FOR_DOWNLOAD:-python3}" -m pip download -q --disable-pip-version-check --no-deps \
  --no-binary kenlm "kenlm==$KENLM_VERSION" -d "$WORK" >&2
tar xzf "$WORK/kenlm-$KENLM_VERSION.tar.gz" -C "$WORK"
cmake -S "$WORK/kenlm-$KENLM_VERSION" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release > "$WORK/cmake.log" 2>&1 \
  || { tail -20 "$WORK/cmake.log" >&2; exit 1; }
make -C "$WORK/build" -j"$(nproc)" lmplz build_binary > "$WORK/make.log" 2>&1 \
  || { tail -20 "$WORK/make.log" >&2; exit 1; }
mkdir -p "$DEST/bin"
cp "$WORK/build/bin/lmplz" "$WORK/build/bin/build_binary" "$DEST/bin/"
echo "[setup] KenLM tools in $DEST/bin" >&2
