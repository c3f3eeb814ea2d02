#!/usr/bin/env bash
# The README's second command and CI's (.ci/run): install dependencies, build, run the whole test
# suite, then the same code under sanitizers:
#   1 build      scripts/build.sh (gcc, RelWithDebInfo) into build/
#   2 test       ctest, every test (extra arguments of this script go to this ctest)
#   3 asan-build clang ASan+UBSan+libFuzzer tree build-asan/ (scripts/sanitizer-build.sh)
#   4 asan-unit  the unit tests under ASan+UBSan+LSan
#   5 asan-integ an integration subset against the sanitized daemon (see ASAN_INTEGRATION)
#   6 fuzz       every fuzz target for HFFS_CI_FUZZ_SECONDS (30) each (scripts/fuzz.sh)
#   7 tsan-build clang TSan tree build-tsan/ (unit tests only)
#   8 tsan-unit  the unit tests under TSan
# Local switches: HFFS_CI_MAIN=0 skips 1-2, HFFS_CI_SANITIZERS=0 skips 3-8; HFFS_CI_ASAN=0, HFFS_CI_FUZZ=0, HFFS_CI_TSAN=0 skip
# one kind. Every stage runs even after a failure; the exit status is non-zero if any failed.
# The last line is "N passed, N failed" (tests of every ctest run plus fuzz targets).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
SAN="${HFFS_CI_SANITIZERS:-1}"
ASAN_DIR="${HFFS_ASAN_BUILD_DIR:-build-asan}"
TSAN_DIR="${HFFS_TSAN_BUILD_DIR:-build-tsan}"
FUZZ_SECONDS="${HFFS_CI_FUZZ_SECONDS:-30}"
# The integration subset under ASan (~4 min): mounting and reading with sha256 checks (test_mount),
# every filesystem operation with concurrent readers and passthrough (test_ops), hostile and
# malformed Hub answers (test_errors), fault storms: 429/5xx, cut bodies, expired signatures, stalls
# (test_faults), revisions and offline views (test_revisions), `hffs cache` (test_cache_cli),
# `hffs prefetch` (test_prefetch), publishing into the HF cache (test_hf_cache), wrong bytes from
# the CDN and verification (test_integrity), hostile Hubs and a combined fault storm
# (test_hostile_hub), endpoints dying, stalling and refusing under a mount (test_failover). Left
# to stage 2: test_local_ops (tmpfs, users, SIGSTOP; no new parsing), test_tls (the same code over https; curl itself is not instrumented) and test_crash (kill -9
# loops: a killed daemon never reports, and the test's timing fails under ASan's slowdown).
ASAN_INTEGRATION="${HFFS_CI_ASAN_INTEGRATION:-^integration\.test_(mount|ops|errors|faults|revisions|cache_cli|prefetch|hf_cache|integrity|hostile_hub|failover)$}"
LOGS="$ROOT/${HFFS_CI_LOG_DIR:-build/ci-logs}"

STAGES=()   # "name wall_s cpu_s status"
PASSED=0
FAILED=0
FAILED_STAGES=()

cpu_seconds() {  # user+sys of every child this shell has waited for (`times` of this shell, not
                 # of a $(...) subshell)
  times >"$LOGS/.times"
  tail -1 "$LOGS/.times" | awk '{ t = 0; for (i = 1; i <= 2; ++i) { split($i, a, "m"); t += a[1] * 60 + a[2] } printf "%.1f", t }'
}

# Adds the counts of a ctest log ("95% tests passed, 2 tests failed out of 40") to the totals.
count_ctest() {
  local line total failed
  line="$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$1" | tail -1 || true)"
  if [ -z "$line" ]; then return 0; fi
  failed="$(sed -E 's/.* ([0-9]+) tests? failed out of.*/\1/' <<<"$line")"
  total="$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")"
  PASSED=$((PASSED + total - failed))
  FAILED=$((FAILED + failed))
}

stage() {  # stage NAME COMMAND...: runs, times, records; never aborts the script
  local name="$1"; shift
  local t0 c0 rc=0
  t0="$(date +%s.%N)"; cpu_seconds >"$LOGS/.cpu0"; c0="$(cat "$LOGS/.cpu0")"
  echo "=== stage $name: $*"
  "$@" || rc=$?
  local wall cpu
  wall="$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')"
  cpu_seconds >"$LOGS/.cpu1"
  cpu="$(awk -v a="$c0" -v b="$(cat "$LOGS/.cpu1")" 'BEGIN { printf "%.0f", b - a }')"
  STAGES+=("$name ${wall}s (cpu ${cpu}s)$([ $rc -eq 0 ] || echo ' FAILED')")
  if [ $rc -ne 0 ]; then FAILED_STAGES+=("$name"); fi
  echo "=== stage $name: exit $rc, ${wall}s wall, ${cpu}s cpu"
  return 0
}

logged() {  # logged LOGNAME COMMAND...: output to the terminal (build progress lines dropped) and
            # to $LOGS/LOGNAME.log; returns COMMAND's status
  local log="$LOGS/$1.log"; shift
  { "$@" 2>&1; echo $? >"$log.rc"; } | tee "$log" | grep -vE '^\[ *[0-9]+%\] (Building|Linking|Built)' || true
  return "$(cat "$log.rc")"
}

run_ctest() {  # run_ctest LOGNAME DIR ARGS...: ctest with its output kept for counting
  local name="$1" dir="$2"; shift 2
  local rc=0
  logged "$name" bash -c 'cd "$1" && shift && exec ctest --output-on-failure -j2 --timeout 900 "$@"' _ "$dir" "$@" || rc=1
  if grep -qE ' [1-9][0-9]* tests? failed out of' "$LOGS/$name.log"; then rc=1; fi
  count_ctest "$LOGS/$name.log"
  return $rc
}

# Sanitizer reports of processes whose stderr nobody reads (the forked daemon) go to files under
# $SAN_LOGS; a stage fails when any appear.
SAN_LOGS="$LOGS/sanitizer-reports"
san_env() {
  local kind="$1"
  rm -rf "$SAN_LOGS/$kind"; mkdir -p "$SAN_LOGS/$kind"
  export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:print_stacktrace=1:detect_leaks=1:log_path=$SAN_LOGS/$kind/asan"
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$SAN_LOGS/$kind/ubsan"
  export LSAN_OPTIONS="suppressions=$ROOT/tests/sanitizers/lsan.supp:print_suppressions=0"
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$ROOT/tests/sanitizers/tsan.supp:log_path=$SAN_LOGS/$kind/tsan"
}
no_reports() {  # fails, printing them, when sanitizer report files exist for this kind
  local kind="$1" files
  files="$(find "$SAN_LOGS/$kind" -type f -size +0 2>/dev/null | head -20)"
  [ -z "$files" ] && return 0
  echo "sanitizer reports ($kind):"
  for f in $files; do echo "--- $f"; head -60 "$f"; done
  return 1
}

asan_unit() {
  san_env asan-unit
  local rc=0
  run_ctest asan-unit "$ASAN_DIR" -L unit || rc=1
  no_reports asan-unit || rc=1
  return $rc
}
asan_integration() {
  san_env asan-integ
  local rc=0
  run_ctest asan-integ "$ASAN_DIR" -R "$ASAN_INTEGRATION" || rc=1
  no_reports asan-integ || rc=1
  return $rc
}
fuzz() {
  # libFuzzer prints reports itself and keeps the input (scripts/fuzz.sh sets ASAN/UBSAN_OPTIONS).
  export LSAN_OPTIONS="suppressions=$ROOT/tests/sanitizers/lsan.supp:print_suppressions=0"
  local rc=0 n f
  logged fuzz bash scripts/fuzz.sh --no-build --seconds "$FUZZ_SECONDS" || rc=1
  n="$(grep -c '^fuzz [a-z_]*: ok' "$LOGS/fuzz.log" || true)"
  f="$(grep -c '^fuzz [a-z_]*: FAILED' "$LOGS/fuzz.log" || true)"
  PASSED=$((PASSED + n)); FAILED=$((FAILED + f))
  return $rc
}
tsan_build() {
  logged tsan-build bash scripts/sanitizer-build.sh tsan "$TSAN_DIR" unit_hubapi unit_cache unit_fs unit_cli
}
tsan_unit() {
  san_env tsan-unit
  local rc=0
  # systemd.verify checks a unit file, not code: nothing for TSan to see.
  run_ctest tsan-unit "$TSAN_DIR" -L unit -E '^systemd\.' || rc=1
  no_reports tsan-unit || rc=1
  return $rc
}
asan_build() {
  logged asan-build bash scripts/sanitizer-build.sh asan "$ASAN_DIR"
}

mkdir -p "$LOGS"
bash scripts/install-deps.sh
if [ "${HFFS_CI_MAIN:-1}" != 0 ]; then
  stage build logged build bash scripts/build.sh
  stage test run_ctest test "${HFFS_BUILD_DIR:-build}" "$@"
fi
if [ "$SAN" != 0 ]; then
  if [ "${HFFS_CI_ASAN:-1}" != 0 ] || [ "${HFFS_CI_FUZZ:-1}" != 0 ]; then
    stage asan-build asan_build
  fi
  if [ "${HFFS_CI_ASAN:-1}" != 0 ]; then
    stage asan-unit asan_unit
    stage asan-integ asan_integration
  fi
  if [ "${HFFS_CI_FUZZ:-1}" != 0 ]; then stage fuzz fuzz; fi
  if [ "${HFFS_CI_TSAN:-1}" != 0 ]; then
    stage tsan-build tsan_build
    stage tsan-unit tsan_unit
  fi
fi
summary="$(printf '%s, ' "${STAGES[@]}")"
echo "stage times (wall, cpu): ${summary%, }"
if [ ${#FAILED_STAGES[@]} -gt 0 ]; then
  echo "failed stages: ${FAILED_STAGES[*]}"
  # A stage that failed without a failed test (a build, a sanitizer report) still fails the run.
  [ "$FAILED" -gt 0 ] || FAILED=${#FAILED_STAGES[@]}
fi
echo "$PASSED passed, $FAILED failed"
[ ${#FAILED_STAGES[@]} -eq 0 ]
