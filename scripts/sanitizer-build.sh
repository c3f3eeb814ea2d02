#!/usr/bin/env bash
# Configures and builds a clang sanitizer tree (used by scripts/test.sh and scripts/fuzz.sh).
#   scripts/sanitizer-build.sh asan|tsan BUILD_DIR [TARGET...]      (default: every target)
# asan: ASan+UBSan (halting on the first report) with libFuzzer coverage, so one tree serves the
#       unit tests, the integration subset (its hffs binary) and the fuzz targets.
# tsan: ThreadSanitizer (unit tests).
set -euo pipefail
cd "$(dirname "$0")/.."
kind="$1"; dir="$2"; shift 2
case "$kind" in
  asan) opts=(-DHFFS_SANITIZE=ON -DHFFS_FUZZ=ON) ;;
  tsan) opts=(-DHFFS_TSAN=ON) ;;
  *) echo "sanitizer-build.sh: kind must be asan or tsan, not '$kind'" >&2; exit 2 ;;
esac
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ "${launcher[@]}" "${opts[@]}" >/dev/null
if [ $# -gt 0 ]; then
  cmake --build "$dir" -j"$(nproc)" --target "$@"
else
  cmake --build "$dir" -j"$(nproc)"
fi
