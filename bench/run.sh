#!/usr/bin/env bash
# hffs end-to-end benchmark against its peers (issue 4). One command: installs the peers (Debian),
# builds hffs, starts the Hub simulator with the big fixture behind an emulated CDN (first-byte
# delay + per-connection rate cap), runs every row with hffs and the peers on the same data, and
# prints ONE table (also written to --out). A benchmark prints numbers: it never fails on a target,
# and it is not part of ctest/CI. Needs root (mounts, drop_caches, read_ahead_kb) and /dev/fuse.
#
# Usage: bench/run.sh [--rate BYTES_PER_S] [--delay-ms N] [--cap S] [--fio-runtime S] [--no-tls]
#                     [--no-apt] [--no-build] [--out FILE] [--purge-content] [--no-prefault]
#                     [--rows LIST] [--repeat N] [--huge-sizes LIST] [--hffs BIN]
#   --rate         per-connection CDN rate cap (default 100000000 = 100 MB/s)
#   --delay-ms     first-byte delay of every CDN response (default 20)
#   --cap          seconds after which a slow peer's sequential read is stopped (default 30); its
#                  figure is then bytes read / time, marked with *
#   --fio-runtime  seconds per fio run (default 10)
#   --rows         comma-separated subset of: seq,warm,numpy,par4,ttfb,findstat,fio,https (the
#                  default: issue 4's rows) and issue 15's small,random,uncapped,huge,loaders
#                  ("issue15" = those five; "all" = every row); see bench/README.md
#   --huge-sizes   file counts of the huge row's datasets (default 10k,100k,200k; 1M adds ~8 min)
#   --hffs         the hffs binary to measure (default build-bench/cli/hffs; implies --no-build)
#   --repeat       runs of hffs, curl and aria2c in each cold sequential row, interleaved; the
#                  table shows the median, a note every run (default 3: on a shared VM one run
#                  varies by about +-20%). rclone and httpdirfs run once (they are far off).
#                  (default: all). warm needs seq (it reads seq's block cache).
#   --no-prefault  skip touching 8 GiB of free RAM before each cold row. On this Firecracker VM the
#                  first touch of guest RAM the host took back costs ~2 s of system time per GiB; whichever
#                  process first fills new page-cache pages (hffs's block cache) pays it, so
#                  without the pre-touch the cold rows measure the VM, not the programs.
# The generated fixture content (~3.7 GiB, ~1 min to generate) is kept in
# /var/tmp/hffs-bench/content for the next run unless --purge-content; everything else (mounts,
# simulator, nginx, daemons, cache dirs, downloads) is removed on exit, also on failure.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RATE=100000000 DELAY=20 CAP=30 FIO_RT=10 TLS=1 APT=1 BUILD=1 PURGE=0 PREFAULT=1 REPEAT=3
ROWS=seq,warm,numpy,par4,ttfb,findstat,fio,https
HUGE_SIZES=10k,100k,200k HFFS=""
OUT=/var/tmp/hffs-bench/last-run.md
CMDLINE="bench/run.sh $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) RATE=$2; shift 2 ;;
    --delay-ms) DELAY=$2; shift 2 ;;
    --cap) CAP=$2; shift 2 ;;
    --fio-runtime) FIO_RT=$2; shift 2 ;;
    --no-tls) TLS=0; shift ;;
    --no-apt) APT=0; shift ;;
    --no-build) BUILD=0; shift ;;
    --out) OUT=$2; shift 2 ;;
    --purge-content) PURGE=1; shift ;;
    --no-prefault) PREFAULT=0; shift ;;
    --rows) ROWS=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --huge-sizes) HUGE_SIZES=$2; shift 2 ;;
    --hffs) HFFS=$(realpath "$2"); BUILD=0; shift 2 ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "bench/run.sh needs root (mounts, drop_caches)" >&2; exit 2; }

PY=/usr/bin/python3  # has numpy; a pyenv python may shadow it on PATH
LIB="$ROOT/bench/lib"
SIM="$ROOT/tests/hubsim/run"
BUILD_DIR="$ROOT/build-bench"
HFFS=${HFFS:-$BUILD_DIR/cli/hffs}
BASE=/var/tmp/hffs-bench
CONTENT="$BASE/content"
W=${BENCH_WORK:-$BASE/run.$$}  # BENCH_WORK: another work dir (mounts, sims, caches)
SHM="/dev/shm/hffs-bench.$$"
STATE="$W/sim"
RES="$W/results.txt"
REPO=hffs-test/big-model
S1=model-00001-of-00004.safetensors
SHARDS=(model-00001-of-00004.safetensors model-00002-of-00004.safetensors model-00003-of-00004.safetensors
        model-00004-of-00004.safetensors)
MOUNTS=() PIDS=() SIM_UP=0 HUGE_UP=""
ROWS=$(echo ",$ROWS," | sed -e 's/,issue15,/,small,random,uncapped,huge,loaders,/' \
  -e 's/,all,/,seq,warm,numpy,par4,ttfb,findstat,fio,https,small,random,uncapped,huge,loaders,/')
want() { [[ ",$ROWS," == *",$1,"* ]]; }
want15() { want small || want random || want uncapped || want huge || want loaders; }
want4() { want seq || want warm || want numpy || want par4 || want ttfb || want findstat || want fio || want https; }
# the issue-15 rows need their repos (small files, 8 loader shards): a superset of "big"
FIXTURE=big; if want small || want loaders; then FIXTURE=bench15; fi

log() { echo "[bench $(date +%T)] $*" >&2; }
rec() { echo "$*" >>"$RES"; }      # key value [partial-note]
note() { echo "# $*" >>"$RES"; }

cleanup() {
  set +e
  for m in "${MOUNTS[@]}"; do
    mountpoint -q "$m" 2>/dev/null && { fusermount3 -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; }
  done
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null
  done
  if [ "$SIM_UP" = 1 ]; then
    (cd "$ROOT/tests/hubsim" && $PY -m hubsim.plainindex stop --state-dir "$STATE") >/dev/null 2>&1
    "$SIM" stop --state-dir "$STATE" >/dev/null 2>&1
  fi
  [ -z "$HUGE_UP" ] || "$SIM" stop --state-dir "$HUGE_UP" >/dev/null 2>&1
  rm -rf "$W" "$SHM"
  [ "$PURGE" = 1 ] && rm -rf "$CONTENT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$W" "$SHM" "$BASE" "$(dirname "$OUT")"
: >"$RES"

# ------------------------------------------------------------------ setup
if [ "$APT" = 1 ]; then
  log "installing peers from Debian (apt-get update; apt-get install aria2 rclone httpdirfs fio curl gnuplot-nox)"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq aria2 rclone httpdirfs fio curl gnuplot-nox >/dev/null
fi
if [ "$BUILD" = 1 ]; then
  log "building hffs (RelWithDebInfo, $BUILD_DIR)"
  cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD_DIR" -j"$(nproc)" --target hffs >/dev/null
fi

drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
resident_pct() { fincore -n -b -o RES,SIZE "$1" | awk '{printf "%.0f", $2 ? 100*$1/$2 : 0}'; }
mbps() { awk -v b="$1" -v s="$2" 'BEGIN{printf "%.1f", b/s/1e6}'; }
# rec_read KEY "bytes secs" [total]: MB/s, marked partial when fewer bytes than the total were read
rec_read() {
  local key=$1 b s; read -r b s <<<"$2"
  if [ -n "${3:-}" ] && [ "$b" -lt "$3" ]; then
    rec "$key" "$(mbps "$b" "$s")" "$((b >> 20)) MiB in ${s%.*} s"
  else
    rec "$key" "$(mbps "$b" "$s")"
  fi
  log "  $key: $(mbps "$b" "$s") MB/s ($((b >> 20)) MiB in $s s)"
}
wait_mount() {  # MNT PID (gives up after $WAIT_MOUNT_S seconds, default 60)
  for _ in $(seq $((${WAIT_MOUNT_S:-60} * 10))); do
    mountpoint -q "$1" && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
proc_rss_mib() { awk '/^VmHWM/{printf "%.1f", $2/1024}' "/proc/$1/status"; }
proc_cpu_s() { awk -v t="$(getconf CLK_TCK)" '{printf "%.2f", ($14+$15)/t}' "/proc/$1/stat"; }

CA_HFFS=() CA_CURL=() CA_ARIA=() CA_RCLONE=() CA_HTTPDIRFS=()
start_sim() {  # [--tls]
  log "starting the simulator ($REPO, CDN delay ${DELAY} ms, ${RATE} B/s per connection${1:+, TLS})"
  "$SIM" start --state-dir "$STATE" --repos "$FIXTURE" --cache-dir "$CONTENT" --cdn-rate "$RATE" \
    --cdn-delay-ms "$DELAY" "$@" >"$W/sim.out" 2>"$W/sim.err" || { cat "$W/sim.err" >&2; exit 1; }
  SIM_UP=1
  # shellcheck disable=SC1090
  source "$STATE/env"
  PLAIN=$(cd "$ROOT/tests/hubsim" && $PY -m hubsim.plainindex start --state-dir "$STATE" | sed -n 's/^HUBSIM_PLAIN=//p')
  [ -n "$PLAIN" ] || { echo "plain index did not start" >&2; exit 1; }
  CA_HFFS=() CA_CURL=() CA_ARIA=() CA_RCLONE=() CA_HTTPDIRFS=()
  if [ -n "${HUBSIM_CA_FILE:-}" ]; then
    CA_HFFS=(--ca-file "$HUBSIM_CA_FILE") CA_CURL=(--cacert "$HUBSIM_CA_FILE")
    CA_ARIA=(--ca-certificate="$HUBSIM_CA_FILE") CA_RCLONE=(--ca-cert "$HUBSIM_CA_FILE")
    CA_HTTPDIRFS=(--cacert "$HUBSIM_CA_FILE")
  fi
  for f in "${SHARDS[@]}" config.json; do
    BLOB[$f]=$($PY -c "import json,sys;m=json.load(open('$HUBSIM_MANIFEST'));r=[r for r in m['repos'] if r['id']=='$REPO'][0];h=r['branches'][r['default_branch']];print([x['source'] for x in r['commits'][h]['files'] if x['path']=='$f'][0])")
    SIZE[$f]=$(stat -c %s "${BLOB[$f]}")
    CDNURL[$f]=$(curl -sS "${CA_CURL[@]}" -o /dev/null -w '%{redirect_url}' "$HF_ENDPOINT/$REPO/resolve/main/$f")
  done
}
stop_sim() {
  (cd "$ROOT/tests/hubsim" && $PY -m hubsim.plainindex stop --state-dir "$STATE") >/dev/null 2>&1 || true
  "$SIM" stop --state-dir "$STATE" >/dev/null 2>&1 || true
  SIM_UP=0
}
declare -A BLOB SIZE CDNURL
warm_origin() { for f in "$@"; do cat "${BLOB[$f]}" >/dev/null; done; }  # the CDN serves from RAM

NMNT=0
HPID=""
mount_hffs() {  # REPO CACHE_DIR [args...]; sets MNT, HPID
  local repo=$1 cache=$2; shift 2
  MCACHE=$cache
  NMNT=$((NMNT + 1)); MNT="$W/mnt-hffs-$NMNT"; mkdir -p "$MNT" "$W/hfhome"
  HF_ENDPOINT=$HF_ENDPOINT HF_HOME="$W/hfhome" "$HFFS" mount "$repo" "$MNT" --cache-dir "$cache" --foreground \
    --log-file "$W/hffs-$NMNT.log" --log-level warn "${CA_HFFS[@]}" "$@" &
  HPID=$!; PIDS+=("$HPID"); MOUNTS+=("$MNT")
  wait_mount "$MNT" "$HPID" || { echo "hffs mount failed:" >&2; cat "$W/hffs-$NMNT.log" >&2; exit 1; }
}
umount_hffs() {  # [keep]: keep the block cache dir (else it is deleted: 2 GiB each)
  "$HFFS" umount "$MNT" >/dev/null 2>&1 || fusermount3 -u "$MNT"
  wait "$HPID" 2>/dev/null || true
  [ "${1:-}" = keep ] || rm -rf "$MCACHE"
}
# shellcheck disable=SC2120  # the issue-15 rows pass a repo, issue 4's do not
mount_rclone() {  # [REPO_ID] (default $REPO); sets MNT, RPID
  NMNT=$((NMNT + 1)); MNT="$W/mnt-rclone-$NMNT"; mkdir -p "$MNT"
  rclone mount :http: "$MNT" --http-url "$PLAIN/${1:-$REPO}/" --read-only --vfs-cache-mode off --dir-cache-time 1000h \
    --config /dev/null --log-file "$W/rclone-$NMNT.log" "${CA_RCLONE[@]}" &
  RPID=$!; PIDS+=("$RPID"); MOUNTS+=("$MNT")
  wait_mount "$MNT" "$RPID" || { echo "rclone mount failed" >&2; tail "$W/rclone-$NMNT.log" >&2; exit 1; }
}
mount_httpdirfs() {  # sets MNT, DPID
  NMNT=$((NMNT + 1)); MNT="$W/mnt-httpdirfs-$NMNT"; mkdir -p "$MNT"
  httpdirfs -f "${CA_HTTPDIRFS[@]}" "$PLAIN/$REPO/" "$MNT" >"$W/httpdirfs-$NMNT.log" 2>&1 &
  DPID=$!; PIDS+=("$DPID"); MOUNTS+=("$MNT")
  wait_mount "$MNT" "$DPID" || { echo "httpdirfs mount failed" >&2; tail "$W/httpdirfs-$NMNT.log" >&2; exit 1; }
}
umount_fuse() {  # MNT PID
  fusermount3 -u "$1" 2>/dev/null || umount -l "$1"
  wait "$2" 2>/dev/null || true
}
seqread() { $PY "$LIB/seqread.py" "$@"; }
# (not $(newcache): a subshell would lose the counter and hand every caller the same dir)
newcache() { NCACHE=$((${NCACHE:-0} + 1)); NEWC="$W/cache-$NCACHE"; }

# ------------------------------------------------------------------ rows
# Freed guest pages go back to the host after a few seconds (virtio-balloon free page reporting),
# and the next first touch of each costs ~2 s of system time per GiB. Whoever fills new page-cache
# pages first (hffs's block cache in a cold row) would pay it, so every cold row starts right after
# touching 8 GiB once: the rows then measure the programs, as on a server whose memory is in use.
prefault() {
  [ "$PREFAULT" = 1 ] || return 0
  local gib; gib=$(awk '/MemAvailable/{g=int($2/2^20) - 3; print (g > 8 ? 8 : g)}' /proc/meminfo)
  head -c "${gib}G" /dev/zero >"$SHM/prefault" 2>/dev/null || true
  rm -f "$SHM/prefault"
}
# median_of "b s" ...: the "bytes seconds" pair of median throughput (the lower middle for an even count)
median_of() {
  for x in "$@"; do read -r b t <<<"$x"; awk -v b="$b" -v t="$t" 'BEGIN{printf "%.6f %s %s\n", b/t, b, t}'; done |
    sort -g | awk '{l[NR]=$2" "$3} END{print l[int((NR+1)/2)]}'
}
median_num() { printf '%s\n' "$@" | sort -g | awk '{l[NR]=$1} END{print l[int((NR+1)/2)]}'; }
runs_note() { local out="" x; for x in "$@"; do read -r b t <<<"$x"; out+="$(mbps "$b" "$t") "; done; echo "${out% }"; }
cold_sequential() {  # PROTO
  local p=$1 f=$S1 out r b wall cpu
  local total=${SIZE[$f]}
  local H=() HC=() C=() CC=() A=() AC=() rss=0
  log "cold sequential read of $f ($total bytes), $p: hffs, curl, aria2c $REPEAT times each, interleaved"
  warm_origin "$f"
  for r in $(seq "$REPEAT"); do
    prefault
    # hffs: fresh block cache and mount (kernel page cache of a new mount is empty)
    newcache; HOTCACHE=$NEWC
    mount_hffs "$REPO" "$HOTCACHE"
    out=$(seqread "$MNT/$f"); H+=("$out"); read -r b _ <<<"$out"
    log "  hffs run $r: $(mbps $out) MB/s"
    rss=$(awk -v a="$rss" -v b="$(proc_rss_mib "$HPID")" 'BEGIN{print (b > a ? b : a)}')
    HC+=("$(awk -v c="$(proc_cpu_s "$HPID")" -v b="$b" 'BEGIN{printf "%.2f", c/(b/2^30)}')")
    "$HFFS" status --prometheus "$MNT" >"$W/metrics-seq-$p.txt" 2>/dev/null || true
    # the last HTTP run's cache is kept for the warm row
    if [ "$p" = http ] && [ "$r" = "$REPEAT" ]; then umount_hffs keep; else umount_hffs; fi
    # curl: one stream of the signed CDN URL
    $PY "$LIB/timed.py" "$W/t" -- curl -sS "${CA_CURL[@]}" -o /dev/null --max-time "$CAP" -w '%{size_download}\n' \
      "${CDNURL[$f]}" >"$W/curl.out" || true
    read -r wall cpu <"$W/t"; b=$(tail -1 "$W/curl.out")
    C+=("$b $wall"); CC+=("$(awk -v c="$cpu" -v b="$b" 'BEGIN{printf "%.2f", c/(b/2^30)}')")
    # aria2c -x16 -s16 to /dev/shm, deleted after
    $PY "$LIB/timed.py" "$W/t" -- timeout 300 aria2c -x16 -s16 --file-allocation=none --allow-overwrite=true \
      --auto-file-renaming=false --console-log-level=warn --summary-interval=0 --download-result=hide \
      "${CA_ARIA[@]}" -d "$SHM" -o aria.out "${CDNURL[$f]}" >/dev/null || true
    read -r wall cpu <"$W/t"; b=$(stat -c %s "$SHM/aria.out" 2>/dev/null || echo 0); rm -f "$SHM/aria.out"*
    A+=("$b $wall"); AC+=("$(awk -v c="$cpu" -v b="$b" 'BEGIN{printf "%.2f", c/(b/2^30)}')")
  done
  rec_read "seq_$p.hffs" "$(median_of "${H[@]}")" "$total"
  rec_read "seq_$p.curl" "$(median_of "${C[@]}")" "$total"
  rec_read "seq_$p.aria2c" "$(median_of "${A[@]}")" "$total"
  rec "cpu_$p.hffs" "$(median_num "${HC[@]}")"
  rec "cpu_$p.curl" "$(median_num "${CC[@]}")"
  rec "cpu_$p.aria2c" "$(median_num "${AC[@]}")"
  if [ "$p" = http ]; then rec rss.hffs "$rss"; fi
  note "cold $p, MB/s of each run (median in the table): hffs $(runs_note "${H[@]}"); curl $(runs_note "${C[@]}"); aria2c $(runs_note "${A[@]}"); rclone and httpdirfs once"
  # rclone mount (http backend, no VFS cache)
  mount_rclone
  out=$(seqread --cap "$CAP" "$MNT/$f"); rec_read "seq_$p.rclone" "$out" "$total"; read -r b _ <<<"$out"
  if [ "$p" = http ]; then rec rss.rclone "$(proc_rss_mib "$RPID")"; fi
  rec "cpu_$p.rclone" "$(awk -v c="$(proc_cpu_s "$RPID")" -v b="$b" 'BEGIN{printf "%.2f", c/(b/2^30)}')"
  umount_fuse "$MNT" "$RPID"
  # httpdirfs (no cache)
  mount_httpdirfs
  out=$(seqread --cap "$CAP" "$MNT/$f"); rec_read "seq_$p.httpdirfs" "$out" "$total"; read -r b _ <<<"$out"
  if [ "$p" = http ]; then rec rss.httpdirfs "$(proc_rss_mib "$DPID")"; fi
  rec "cpu_$p.httpdirfs" "$(awk -v c="$(proc_cpu_s "$DPID")" -v b="$b" 'BEGIN{printf "%.2f", c/(b/2^30)}')"
  umount_fuse "$MNT" "$DPID"
}

local_and_warm() {
  local f=$S1
  log "local disk read (page cache dropped) vs hffs warm read from its block cache (page cache dropped)"
  drop_caches
  local r; r=$(resident_pct "${BLOB[$f]}")
  note "drop_caches verified: ${r}% of the shard resident in the page cache after echo 3 > /proc/sys/vm/drop_caches"
  out=$(seqread "${BLOB[$f]}"); rec_read seq_http.local "$out"; rec_read warm.local "$out"
  out=$(seqread "${BLOB[$f]}"); rec_read hot.local "$out"
  drop_caches
  mount_hffs "$REPO" "$HOTCACHE"
  out=$(seqread "$MNT/$f"); rec_read warm.hffs "$out"
  out=$(seqread "$MNT/$f"); rec_read hot.hffs "$out"
  "$HFFS" status --prometheus "$MNT" >"$W/metrics-warm.txt" 2>/dev/null || true
  note "warm + hot through hffs: $(awk '/^hffs_passthrough_opens_total/{p=$2} /^hffs_read_requests_total/{r=$2} END{printf "%d passthrough opens (the kernel read the cache file directly), %d FUSE reads reached the daemon", p, r}' "$W/metrics-warm.txt")"
  umount_hffs
  rm -rf "$HOTCACHE"
}

numpy_row() {
  local f=$S1 b s n
  log "numpy memmap load of every tensor of $f, cold"
  warm_origin "$f"
  prefault
  newcache; mount_hffs "$REPO" "$NEWC"
  # $(...) waits for the loader to exit (and unmap) before the unmount; < <(...) did not
  out=$($PY "$LIB/npload.py" "$MNT/$f"); read -r b s n <<<"$out"; rec_read numpy.hffs "$b $s"
  "$HFFS" status --prometheus "$MNT" >"$W/metrics-numpy.txt" 2>/dev/null || true
  umount_hffs
  drop_caches
  out=$($PY "$LIB/npload.py" "${BLOB[$f]}"); read -r b s n <<<"$out"; rec_read numpy.local "$b $s"
  note "numpy row: $n tensor(s) in $f; np.memmap of the file, each tensor copied out in 64 MiB slices"
}

parallel4() {
  local total=0 f files b wall cpu
  for f in "${SHARDS[@]}"; do total=$((total + SIZE[$f])); done
  log "4 shards in parallel ($total bytes)"
  warm_origin "${SHARDS[@]}"
  prefault
  newcache; mount_hffs "$REPO" "$NEWC"
  files=(); for f in "${SHARDS[@]}"; do files+=("$MNT/$f"); done
  rec_read par4.hffs "$(seqread "${files[@]}")" "$total"
  umount_hffs
  # curl: one stream per shard, four at once
  local t0 t1 cpids=(); t0=$EPOCHREALTIME; b=0
  for f in "${SHARDS[@]}"; do
    curl -sS "${CA_CURL[@]}" -o /dev/null --max-time "$CAP" -w '%{size_download}\n' "${CDNURL[$f]}" >"$W/curl-$f.out" &
    cpids+=($!)
  done
  for j in "${cpids[@]}"; do wait "$j" || true; done
  t1=$EPOCHREALTIME
  for f in "${SHARDS[@]}"; do b=$((b + $(tail -1 "$W/curl-$f.out"))); done
  rec_read par4.curl "$b $(awk -v a="$t0" -v c="$t1" 'BEGIN{print c-a}')" "$total"
  # aria2c: the four shards as four downloads at once, each -x16 -s16
  : >"$W/aria.list"
  for f in "${SHARDS[@]}"; do printf '%s\n  out=%s\n' "${CDNURL[$f]}" "$f" >>"$W/aria.list"; done
  $PY "$LIB/timed.py" "$W/t" -- timeout 300 aria2c -j4 -x16 -s16 --file-allocation=none --allow-overwrite=true \
    --auto-file-renaming=false --console-log-level=warn --summary-interval=0 --download-result=hide \
    "${CA_ARIA[@]}" -d "$SHM" -i "$W/aria.list" >/dev/null || true
  read -r wall cpu <"$W/t"; b=0
  for f in "${SHARDS[@]}"; do b=$((b + $(stat -c %s "$SHM/$f" 2>/dev/null || echo 0))); rm -f "$SHM/$f"*; done
  rec_read par4.aria2c "$b $wall" "$total"
  mount_rclone
  files=(); for f in "${SHARDS[@]}"; do files+=("$MNT/$f"); done
  rec_read par4.rclone "$(seqread --cap "$CAP" "${files[@]}")" "$total"
  umount_fuse "$MNT" "$RPID"
  mount_httpdirfs
  files=(); for f in "${SHARDS[@]}"; do files+=("$MNT/$f"); done
  rec_read par4.httpdirfs "$(seqread --cap "$CAP" "${files[@]}")" "$total"
  umount_fuse "$MNT" "$DPID"
  drop_caches
  files=(); for f in "${SHARDS[@]}"; do files+=("${BLOB[$f]}"); done
  rec_read par4.local "$(seqread "${files[@]}")" "$total"
}

ttfb_row() {
  log "time to first byte of config.json: fresh mount + cold cache (head -c1) vs curl -L of /resolve"
  local i t0 t1 hs=() cs=()
  for i in 1 2 3 4 5; do
    newcache; mount_hffs "$REPO" "$NEWC"
    t0=$EPOCHREALTIME; head -c1 "$MNT/config.json" >/dev/null; t1=$EPOCHREALTIME
    hs+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", (b-a)*1000}')")
    umount_hffs
    t0=$EPOCHREALTIME; curl -sSL "${CA_CURL[@]}" -o /dev/null "$HF_ENDPOINT/$REPO/resolve/main/config.json"; t1=$EPOCHREALTIME
    cs+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", (b-a)*1000}')")
  done
  rec ttfb.hffs "$(printf '%s\n' "${hs[@]}" | sort -n | sed -n 3p)"
  rec ttfb.curl "$(printf '%s\n' "${cs[@]}" | sort -n | sed -n 3p)"
  note "TTFB samples (ms): hffs ${hs[*]}; curl -L ${cs[*]} (wall time of the head/curl process)"
  log "  hffs ${hs[*]} ms; curl ${cs[*]} ms"
}

findstat_row() {
  log "find + stat of datasets/hffs-test/many-files"
  newcache; mount_hffs datasets/hffs-test/many-files "$NEWC"
  curl -sS "${CA_CURL[@]}" -X POST "$HF_ENDPOINT/_sim/reset" >/dev/null
  local t0 t1 n req
  t0=$EPOCHREALTIME
  find "$MNT" -type f -print0 | xargs -0 stat -c '%s %Y' >"$W/stat.out"
  t1=$EPOCHREALTIME
  n=$(wc -l <"$W/stat.out")
  req=$(curl -sS "${CA_CURL[@]}" "$HF_ENDPOINT/_sim/stats?log=0" | $PY -c 'import json,sys;print(json.load(sys.stdin)["total_requests"])')
  rec findstat.hffs "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')"
  rec findstat.files "$n"
  rec findstat.requests "$req"
  log "  $n files in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}') s, $req simulator requests after mount"
  umount_hffs
}

fio_one() {  # KEY FILE BS JOBS
  local key=$1 file=$2 bs=$3 jobs=$4
  fio --name=bench --filename="$file" --readonly --rw=randread --bs="$bs" --ioengine=psync --numjobs="$jobs" \
    --runtime="$FIO_RT" --time_based --group_reporting --norandommap --randrepeat=0 --invalidate=0 \
    --output-format=json --output="$W/fio.json" >/dev/null 2>"$W/fio.err" || { log "  fio $key failed: $(tail -1 "$W/fio.err")"; return 0; }
  $PY - "$W/fio.json" "$key" >>"$RES" <<'PYEOF'
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]["read"]
pc = j["clat_ns"]["percentile"]
k = sys.argv[2]
print(f"{k}.p50 {pc['50.000000'] / 1e6:.3f}")
print(f"{k}.p99 {pc['99.000000'] / 1e6:.3f}")
print(f"{k}.iops {j['iops']:.1f}")
print(f"{k}.mbps {j['bw_bytes'] / 1e6:.1f}")
PYEOF
  log "  $key: $(grep "^$key\." "$RES" | tr '\n' ' ')"
}

fio_rows() {
  local f=$S1 bs k jobs=4
  log "fio random reads on $f (${FIO_RT} s each, $jobs jobs)"
  warm_origin "$f"
  rec fio4k.jobs $jobs; rec fio4k.runtime "$FIO_RT"; rec fio1m.jobs $jobs; rec fio1m.runtime "$FIO_RT"
  for bs in 4k 1m; do
    k=fio$bs
    newcache; mount_hffs "$REPO" "$NEWC"; fio_one "$k.hffs" "$MNT/$f" "$bs" $jobs; umount_hffs
    mount_rclone; fio_one "$k.rclone" "$MNT/$f" "$bs" $jobs; umount_fuse "$MNT" "$RPID"
    mount_httpdirfs; fio_one "$k.httpdirfs" "$MNT/$f" "$bs" $jobs; umount_fuse "$MNT" "$DPID"
    drop_caches; fio_one "$k.local" "${BLOB[$f]}" "$bs" $jobs
    warm_origin "$f"
  done
}

# shellcheck source-path=SCRIPTDIR source=lib/rows15.sh
source "$LIB/rows15.sh"

# ------------------------------------------------------------------ run
T_START=$EPOCHREALTIME
if [ "$PREFAULT" = 1 ]; then
  note "before each cold row, free RAM was pre-touched (8 GiB, ~25 s, not timed; see --no-prefault)"
fi
note "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every row)"
if want warm && ! want seq; then echo "--rows: warm needs seq" >&2; exit 2; fi
start_sim
if want seq; then cold_sequential http; fi
if want warm; then local_and_warm; fi
if want numpy; then numpy_row; fi
if want par4; then parallel4; fi
if want ttfb; then ttfb_row; fi
if want findstat; then findstat_row; fi
if want fio; then fio_rows; fi
if want small; then small_files_row; fi
if want random; then random_row; fi
if want uncapped; then uncapped_row http; fi
if want loaders; then loaders_row; fi
stop_sim
if want huge; then WAIT_MOUNT_S=600 huge_row; fi
if [ "$TLS" = 1 ] && { want https || want uncapped; }; then
  start_sim --tls
  if want https; then cold_sequential https; fi
  if want uncapped; then uncapped_row https; fi
  stop_sim
fi
note "load average at end: $(cut -d' ' -f1-3 /proc/loadavg); run took $(awk -v a="$T_START" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.0f", b-a}') s"

# ------------------------------------------------------------------ report
{
  echo "## hffs benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "Command: \`$CMDLINE\` (CDN: ${DELAY} ms first-byte delay, ${RATE} B/s per connection; slow peers capped at ${CAP} s)"
  echo
  echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(awk '/MemTotal/{printf "%.1f GiB", $2/2^20}' /proc/meminfo) RAM, kernel $(uname -r), $(. /etc/os-release; echo "$PRETTY_NAME")"
  echo
  echo "Versions: hffs $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- fs cli cache hubapi common 2>/dev/null || echo '+local changes') ($("$HFFS" --version 2>/dev/null | head -1)); $(curl --version | head -1 | cut -d' ' -f1-5); $(aria2c --version | head -1); $(rclone version | head -1); $(httpdirfs --version 2>&1 | head -1); $(fio --version); nginx $(nginx -v 2>&1 | cut -d/ -f2); libfuse3 $(dpkg-query -W -f '${Version}' libfuse3-3 2>/dev/null); numpy $($PY -c 'import numpy;print(numpy.__version__)'); $($PY --version)"
  echo
  if want4; then $PY "$LIB/report.py" "$RES"; fi
  if want15; then echo; $PY "$LIB/report15.py" "$RES" $(want4 || echo --notes); fi
} >"$OUT"
cp "$RES" "${OUT%.md}.raw.txt"
if want15; then
  mkdir -p "$(dirname "$OUT")/plots"
  $PY "$ROOT/bench/plots15.py" "$RES" "$(dirname "$OUT")/plots" || log "plots failed (is gnuplot-nox installed?)"
fi
for m in "$W"/metrics-*.txt; do [ -f "$m" ] && cp "$m" "${OUT%.md}.$(basename "$m")"; done
echo
cat "$OUT"
echo
echo "(written to $OUT; raw numbers in ${OUT%.md}.raw.txt)"
