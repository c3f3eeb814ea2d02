#!/usr/bin/env bash
# Builds the Debian package hffs_VERSION_ARCH.deb (CPack, packaging/CMakeLists.txt) from the tree
# in build/ (or $HFFS_BUILD_DIR), configuring and building it first if needed, into OUT_DIR
# (default: the build dir). Prints the .deb's path last.
#   bash scripts/package.sh [OUT_DIR]      then: apt install ./build/hffs_*.deb
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${HFFS_BUILD_DIR:-build}"
# A fresh tree is configured without the tests: cpack builds every target of the tree first.
[ -f "$BUILD_DIR/CMakeCache.txt" ] || cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHFFS_TESTS=OFF >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
OUT="$(mkdir -p "${1:-$BUILD_DIR}" && cd "${1:-$BUILD_DIR}" && pwd)"
(cd "$BUILD_DIR" && cpack -G DEB -B "$OUT")
rm -rf "$OUT/_CPack_Packages"
ls "$OUT"/hffs_*.deb
