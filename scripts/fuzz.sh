#!/usr/bin/env bash
# Runs the libFuzzer targets of tests/fuzz for a fixed time each (CI: scripts/test.sh, 30 s each).
#   scripts/fuzz.sh [--seconds N] [--no-build] [TARGET...]     (default: 60 s, every target)
# Targets are the names of tests/fuzz/*_fuzz.cc (tree, url, fstab, ...). Builds the clang
# ASan+UBSan+libFuzzer tree in $HFFS_ASAN_BUILD_DIR (build-asan) unless --no-build. Each target
# starts from its seeds (tests/fuzz/corpus/<name>, read only) plus what earlier runs found
# (<build>/fuzz-corpus/<name>). A crash or a failed property leaves its input in
# <build>/fuzz-artifacts/ (replay: <build>/tests/fuzz/fuzz_<name> FILE) and makes the exit non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=60
BUILD=1
TARGETS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_EACH="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    *) TARGETS+=("$1"); shift ;;
  esac
done
DIR="${HFFS_ASAN_BUILD_DIR:-build-asan}"
if [ ${#TARGETS[@]} -eq 0 ]; then
  for f in tests/fuzz/*_fuzz.cc; do n="$(basename "$f" _fuzz.cc)"; TARGETS+=("$n"); done
fi
for t in "${TARGETS[@]}"; do
  [ -f "tests/fuzz/${t}_fuzz.cc" ] || { echo "fuzz.sh: no target '$t' (tests/fuzz/${t}_fuzz.cc)" >&2; exit 2; }
done
if [ "$BUILD" = 1 ]; then
  bash scripts/sanitizer-build.sh asan "$DIR" "${TARGETS[@]/#/fuzz_}"
fi
export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:print_stacktrace=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
mkdir -p "$DIR/fuzz-artifacts"
failed=()
for t in "${TARGETS[@]}"; do
  work="$DIR/fuzz-corpus/$t"
  mkdir -p "$work"
  seeds=()
  [ -d "tests/fuzz/corpus/$t" ] && seeds=("tests/fuzz/corpus/$t")
  log="$DIR/fuzz-artifacts/$t.log"
  # -timeout: one input taking > 10 s is a hang; -rss_limit_mb: a parser must not need 2 GiB.
  if "$DIR/tests/fuzz/fuzz_$t" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
       -max_len=65536 -print_final_stats=1 -artifact_prefix="$DIR/fuzz-artifacts/$t-" \
       "$work" "${seeds[@]}" >"$log" 2>&1; then
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)"
    echo "fuzz $t: ok, ${runs:-?} inputs in ${SECONDS_EACH}s, coverage ${cov:-?}, corpus $(ls "$work" | wc -l)"
  else
    failed+=("$t")
    echo "fuzz $t: FAILED (log $log)"
    grep -E "ERROR:|runtime error|property failed|Test unit written" "$log" | head -5 | sed 's/^/  /'
  fi
done
echo "fuzz: ${#TARGETS[@]} targets, ${#failed[@]} failed${failed:+ (${failed[*]})}"
[ ${#failed[@]} -eq 0 ]
