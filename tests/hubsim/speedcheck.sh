#!/usr/bin/env bash
# Loopback speed of the CDN leg: streams the 2 GiB shard of hffs-test/big-model from nginx with
# curl -o /dev/null, no caps, and prints bytes/s. Not a pass/fail test: it prints numbers.
# Usage: tests/hubsim/speedcheck.sh [STATE_DIR]   (default /tmp/hffs-hubsim-speed; content is
# generated once, ~30 s, and reused by later runs)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
STATE="${1:-/tmp/hffs-hubsim-speed}"
RUNS="${RUNS:-3}"
"$HERE/run" stop --state-dir "$STATE" >/dev/null 2>&1 || true
trap '"$HERE/run" stop --state-dir "$STATE" >/dev/null 2>&1 || true' EXIT
"$HERE/run" start --repos big --state-dir "$STATE" >/dev/null
# shellcheck disable=SC1091
source "$STATE/env"
FILE=model-00001-of-00004.safetensors
LOC=$(curl -sS -o /dev/null -w '%{redirect_url}' "$HF_ENDPOINT/hffs-test/big-model/resolve/main/$FILE")
SIZE=$(curl -sSI "$LOC" | tr -d '\r' | awk -F': ' 'tolower($1)=="content-length"{print $2}')
echo "file: $FILE ($SIZE bytes) from $HUBSIM_CDN; $(nproc) cpus; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
cat "$(/usr/bin/python3 -c "import json,sys;m=json.load(open('$STATE/manifest.json'));print([f['source'] for r in m['repos'] if r['id']=='hffs-test/big-model' for c in r['commits'].values() for f in c['files'] if f['path']=='$FILE'][0])")" >/dev/null  # warm the page cache
best=0
for i in $(seq "$RUNS"); do
  out=$(curl -sS -o /dev/null -w '%{size_download} %{speed_download} %{time_total}' "$LOC")
  read -r got bps secs <<<"$out"
  [ "$got" = "$SIZE" ] || { echo "short download: $got of $SIZE" >&2; exit 1; }
  printf 'run %d: %.2f GB/s (%.3f s)\n' "$i" "$(echo "$bps/1000000000" | bc -l)" "$secs"
  best=$(echo "if ($bps > $best) $bps else $best" | bc -l)
done
printf 'best: %.2f GB/s (%s bytes/s)\n' "$(echo "$best/1000000000" | bc -l)" "${best%.*}"
# 4 parallel range streams of 512 MiB each over the same file
t0=$(date +%s.%N)
for k in 0 1 2 3; do
  a=$((k * 536870912)); b=$((a + 536870911))
  curl -sS -o /dev/null -r "$a-$b" "$LOC" &
done
wait
t1=$(date +%s.%N)
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg) (other processes on the machine lower the numbers)"
printf 'parallel 4 x 512 MiB ranges: %.2f GB/s\n' "$(echo "2147483648/($t1-$t0)/1000000000" | bc -l)"
