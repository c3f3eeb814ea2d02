# The issue-15 rows of bench/run.sh (sourced by it; uses its helpers and variables): small files,
# random 1 MiB reads with over-fetch, uncapped sequential with CPU per GiB, the huge-repo curve and
# 8 parallel loaders. Every row runs hffs and its peers --repeat times, interleaved, and records
# medians ("key value" lines in $RES, rendered by report15.py).

SMALL_REPO=hffs-test/small-files
RAND_IOS=${RAND_IOS:-100}  # 1 MiB reads per fio job in the random row
LOAD_REPO=hffs-test/loaders

sim_post() {  # PATH [JSON]: POST to a control endpoint of the running simulator
  local body='{}'; [ $# -lt 2 ] || body=$2
  curl -sS -f "${CA_CURL[@]}" -X POST -H 'Content-Type: application/json' -d "$body" "$HF_ENDPOINT/_sim/$1" >/dev/null
}
# sim_stat EXPR: a Python expression over the stats JSON `s`, printed
sim_stat() {
  curl -sS -f "${CA_CURL[@]}" "$HF_ENDPOINT/_sim/stats?log=0" | $PY -c "import json,sys;s=json.load(sys.stdin);print($1)"
}
# the bench's CDN (first-byte delay, per-connection cap on the CDN leg only), no other knob
sim_default() { sim_post config "{\"clear_faults\": true, \"cdn_delay_ms\": $DELAY, \"cdn_rate\": $RATE}"; }
plain_bytes() { awk '{s += $1} END{printf "%d", s}' "$STATE/plain/access.log" 2>/dev/null || echo 0; }
# manifest_files REPO_ID: "path size source" of every file of the repo's default-branch head
manifest_files() {
  $PY - "$HUBSIM_MANIFEST" "$1" <<'PYEOF'
import json, sys
m = json.load(open(sys.argv[1]))
r = [r for r in m["repos"] if r["id"] == sys.argv[2]][0]
for f in r["commits"][r["branches"][r["default_branch"]]]["files"]:
    print(f["path"], f["size"], f["source"])
PYEOF
}
rate_of() { awk -v n="$1" -v s="$2" 'BEGIN{printf "%.1f", n/s}'; }
load_note() { note "load average before the $1 row: $(cut -d' ' -f1-3 /proc/loadavg)"; }
# med KEY VALUES...: record the median and note every run
med() { local k=$1; shift; rec "$k" "$(median_num "$@")"; RUNS+="$k: $* ; "; }

# ------------------------------------------------------------------ small files
small_files_row() {
  load_note "small"
  local v n b s e r out t0 t1 req
  manifest_files "$SMALL_REPO" | awk '$1 != "README.md" {print $1, $2}' >"$W/small.list"
  manifest_files "$SMALL_REPO" | awk '$1 != "README.md" {print $3, $2}' >"$W/small.local"
  n=$(wc -l <"$W/small.list")
  : >"$W/small.curl"
  while read -r p _; do
    printf 'url = "%s/datasets/%s/resolve/main/%s"\noutput = "/dev/null"\n' "$HF_ENDPOINT" "$SMALL_REPO" "$p" >>"$W/small.curl"
  done <"$W/small.list"
  rec small.files "$n"; rec small.bytes "$(awk '{s += $2} END{print s}' "$W/small.list")"
  for v in lo rtt; do
    if [ $v = lo ]; then
      log "small files: $n files, 8 threads, loopback (no delay, no rate cap)"
      sim_post config '{"clear_faults": true, "cdn_delay_ms": 0, "cdn_rate": 0}'
    else
      log "small files: $n files, 8 threads, ${DELAY} ms first-byte delay on every leg (API, resolve, CDN)"
      sim_post config "{\"clear_faults\": true, \"delay_ms\": $DELAY, \"cdn_rate\": $RATE}"
    fi
    local H=() HR=() C=() CR=() R=() L=() errs=""
    for r in $(seq "$REPEAT"); do
      newcache; mount_hffs "datasets/$SMALL_REPO" "$NEWC"
      ls "$MNT" >/dev/null; sim_post reset
      read -r _ b s e <<<"$($PY "$LIB/smallread.py" --threads 8 "$MNT" "$W/small.list")"
      req=$(sim_stat 's["total_requests"]')
      H+=("$(rate_of "$n" "$s")"); HR+=("$(awk -v q="$req" -v n="$n" 'BEGIN{printf "%.2f", q/n}')")
      [ "$e" = 0 ] || errs+="hffs run $r: $e files wrong; "
      note "small $v hffs run $r: requests by kind $(sim_stat 'json.dumps(s["by_kind"], separators=(",", ":"))')"
      umount_hffs
      sim_post reset
      t0=$EPOCHREALTIME
      curl -sS -L -Z --parallel-max 8 "${CA_CURL[@]}" -w '%{http_code} %{size_download}\n' -K "$W/small.curl" >"$W/small.curl.out" 2>"$W/small.curl.err" || true
      t1=$EPOCHREALTIME
      s=$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')
      e=$(awk '$1 != 200' "$W/small.curl.out" | wc -l); [ "$e" = 0 ] || errs+="curl run $r: $e transfers not 200; "
      C+=("$(rate_of "$n" "$s")"); CR+=("$(sim_stat "'%.2f' % (s['total_requests'] / $n)")")
      mount_rclone "$SMALL_REPO"
      read -r _ b s e <<<"$($PY "$LIB/smallread.py" --threads 8 "$MNT" "$W/small.list")"
      R+=("$(rate_of "$n" "$s")"); [ "$e" = 0 ] || errs+="rclone run $r: $e files wrong; "
      umount_fuse "$MNT" "$RPID"
      drop_caches
      read -r _ b s e <<<"$($PY "$LIB/smallread.py" --threads 8 / "$W/small.local")"
      L+=("$(rate_of "$n" "$s")")
      log "  run $r files/s: hffs ${H[-1]} (${HR[-1]} req/file), curl ${C[-1]} (${CR[-1]} req/file), rclone ${R[-1]}, local ${L[-1]}"
    done
    RUNS=""
    med "small_$v.hffs" "${H[@]}"; med "small_$v.curl" "${C[@]}"; med "small_$v.rclone" "${R[@]}"; med "small_$v.local" "${L[@]}"
    med "small_$v.req_hffs" "${HR[@]}"; med "small_$v.req_curl" "${CR[@]}"
    note "small $v, every run: $RUNS"
    [ -z "$errs" ] || note "small $v errors: $errs"
  done
  sim_default
}

# ------------------------------------------------------------------ random 1 MiB reads
# fio_rand FILE DIRECT: one line "MB/s p50_ms p99_ms bytes_read distinct_bytes_read", or nothing when
# fio failed. 4 jobs of $RAND_IOS reads each (stopped at --fio-runtime if slower), so that the reads
# stay cold: 4 x 100 MiB is a fifth of the shard (a time-based run read it all in 10 s and measured
# the block cache). Each job is its own section and writes its own I/O log: the random map is per
# job, so two jobs may read one block; the union of the logged reads is what a reader that fetches
# each byte once would fetch.
fio_rand() {
  local j jobs=()
  rm -f "$W"/fio.iolog.*
  for j in 1 2 3 4; do jobs+=(--name="rand$j" --write_iolog="$W/fio.iolog.$j"); done
  fio --filename="$1" --readonly --rw=randread --bs=1m --ioengine=psync --direct="$2" --runtime="$FIO_RT" \
    --number_ios="$RAND_IOS" --group_reporting --randrepeat=0 --invalidate=0 --output-format=json \
    --output="$W/fio.json" "${jobs[@]}" >/dev/null 2>"$W/fio.err" || {
    log "  fio direct=$2 on $1 failed: $(tail -1 "$W/fio.err")"; return 0; }
  $PY - "$W/fio.json" "$W"/fio.iolog.* <<'PYEOF'
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]["read"]
pc = j["clat_ns"]["percentile"]
spans = []
for log in sys.argv[2:]:
    for line in open(log):
        p = line.split()
        if len(p) >= 4 and p[-3] == "read":
            spans.append((int(p[-2]), int(p[-2]) + int(p[-1])))
distinct, end = 0, -1
for a, b in sorted(spans):
    if b > end:
        distinct += b - max(a, end)
        end = b
print(f"{j['bw_bytes'] / 1e6:.1f} {pc['50.000000'] / 1e6:.2f} {pc['99.000000'] / 1e6:.2f} {j['io_bytes']} {distinct}")
PYEOF
}
random_row() {
  load_note "random"
  local f=$S1 d r out peer
  log "random 1 MiB reads, fio 4 jobs x $RAND_IOS reads (at most ${FIO_RT} s) on $f, cold, CDN ${DELAY} ms first byte, ${RATE} B/s per connection"
  sim_default; warm_origin "$f"
  for d in 0 1; do
    declare -A M=() P5=() P9=() O=() U=()
    for r in $(seq "$REPEAT"); do
      newcache; mount_hffs "$REPO" "$NEWC"
      sim_post reset
      out=$(fio_rand "$MNT/$f" $d); umount_hffs
      if [ -n "$out" ]; then
        read -r a b c io uq <<<"$out"; M[hffs]+="$a "; P5[hffs]+="$b "; P9[hffs]+="$c "
        U[hffs]+="$(awk -v u="$uq" -v i="$io" 'BEGIN{printf "%.3f", u/i}') "
        O[hffs]+="$(sim_stat "'%.3f' % (s['bytes_by_host'].get('cdn', 0) / $uq)") "
      fi
      mount_rclone; : >"$STATE/plain/access.log"
      out=$(fio_rand "$MNT/$f" $d); umount_fuse "$MNT" "$RPID"
      if [ -n "$out" ]; then
        read -r a b c io uq <<<"$out"; M[rclone]+="$a "; P5[rclone]+="$b "; P9[rclone]+="$c "
        U[rclone]+="$(awk -v u="$uq" -v i="$io" 'BEGIN{printf "%.3f", u/i}') "
        O[rclone]+="$(awk -v x="$(plain_bytes)" -v y="$uq" 'BEGIN{printf "%.3f", x/y}') "
      fi
      drop_caches
      out=$(fio_rand "${BLOB[$f]}" $d)
      if [ -n "$out" ]; then read -r a b c io uq <<<"$out"; M[local]+="$a "; P5[local]+="$b "; P9[local]+="$c "; fi
      log "  direct=$d run $r: MB/s hffs ${M[hffs]:-} | rclone ${M[rclone]:-} | local ${M[local]:-}; over-fetch hffs ${O[hffs]:-} rclone ${O[rclone]:-}"
    done
    RUNS=""
    for peer in hffs rclone local; do
      [ -n "${M[$peer]:-}" ] || continue
      # shellcheck disable=SC2086
      { med "rand_d$d.$peer.mbps" ${M[$peer]}; med "rand_d$d.$peer.p50" ${P5[$peer]}; med "rand_d$d.$peer.p99" ${P9[$peer]}; }
      # shellcheck disable=SC2086
      [ -z "${O[$peer]:-}" ] || med "rand_d$d.$peer.overfetch" ${O[$peer]}
      # shellcheck disable=SC2086
      [ -z "${U[$peer]:-}" ] || med "rand_d$d.$peer.distinct" ${U[$peer]}
    done
    note "random direct=$d, every run: $RUNS"
    unset M P5 P9 O U
  done
  rec rand.ios "$RAND_IOS"; rec rand.runtime "$FIO_RT"
}

# ------------------------------------------------------------------ uncapped sequential
uncapped_row() {  # PROTO
  load_note "uncapped $1"
  local p=$1 f=$S1 r out b s wall cpu total
  total=${SIZE[$f]}
  log "uncapped cold sequential, $p: no CDN rate cap, no delay; hffs and one curl stream, $REPEAT runs each"
  sim_post config '{"clear_faults": true, "cdn_delay_ms": 0, "cdn_rate": 0}'
  warm_origin "$f"
  local H=() HC=() C=() CC=() CS=() CSC=()
  for r in $(seq "$REPEAT"); do
    prefault
    newcache; mount_hffs "$REPO" "$NEWC"
    $PY "$LIB/timed.py" "$W/t" -- $PY "$LIB/seqread.py" "$MNT/$f" >"$W/seq.out"
    read -r b s <"$W/seq.out"; read -r wall cpu <"$W/t"
    H+=("$(mbps "$b" "$s")")
    HC+=("$(awk -v c="$(proc_cpu_s "$HPID")" -v r="$cpu" -v b="$b" 'BEGIN{printf "%.2f", (c+r)/(b/2^30)}')")
    umount_hffs
    $PY "$LIB/timed.py" "$W/t" -- curl -sS "${CA_CURL[@]}" -o /dev/null -w '%{size_download}\n' "${CDNURL[$f]}" >"$W/curl.out" || true
    read -r wall cpu <"$W/t"; b=$(tail -1 "$W/curl.out")
    C+=("$(mbps "$b" "$wall")"); CC+=("$(awk -v c="$cpu" -v b="$b" 'BEGIN{printf "%.2f", c/(b/2^30)}')")
    [ "$b" = "$total" ] || note "uncapped $p curl run $r read $b of $total bytes"
    # The verifying peer: what one stream costs when every byte is hashed, as hffs hashes it.
    $PY "$LIB/timed.py" "$W/t" -- bash -c 'curl -sS "$@" | openssl dgst -sha256 >/dev/null' _ "${CA_CURL[@]}" "${CDNURL[$f]}" || true
    read -r wall cpu <"$W/t"
    CS+=("$(mbps "$total" "$wall")"); CSC+=("$(awk -v c="$cpu" -v b="$total" 'BEGIN{printf "%.2f", c/(b/2^30)}')")
    log "  run $r: hffs ${H[-1]} MB/s ${HC[-1]} CPU s/GiB; curl ${C[-1]} MB/s ${CC[-1]} CPU s/GiB; curl|openssl-sha256 ${CS[-1]} MB/s ${CSC[-1]} CPU s/GiB"
  done
  RUNS=""
  med "unc_$p.hffs" "${H[@]}"; med "unc_$p.curl" "${C[@]}"; med "unc_$p.cpu_hffs" "${HC[@]}"; med "unc_$p.cpu_curl" "${CC[@]}"
  med "unc_$p.curlsha" "${CS[@]}"; med "unc_$p.cpu_curlsha" "${CSC[@]}"
  note "uncapped $p, every run: $RUNS"
  sim_default
}

# ------------------------------------------------------------------ huge repos
huge_count() { case "$1" in *[kK]) echo $((${1%[kK]} * 1000)) ;; *M) echo $((${1%M} * 1000000)) ;; *) echo "$1" ;; esac; }
huge_row() {
  load_note "huge"
  local sz n id fx st r t0 t1 t2 entries rss hwm commit req
  for sz in ${HUGE_SIZES//,/ }; do
    n=$(huge_count "$sz"); id=hffs-test/huge-$sz; fx="$W/huge-$sz.json"; st="$W/sim-huge"
    $PY "$LIB/hugefixture.py" "$n" "$id" "$fx"
    log "huge repo datasets/$id ($n files): starting its simulator (API first-byte delay ${DELAY} ms)"
    t0=$EPOCHREALTIME
    "$SIM" start --state-dir "$st" --repos "$fx" --cache-dir "$CONTENT" --delay-ms "$DELAY" --fault-legs api \
      --timeout 1800 >"$W/sim-huge.out" 2>"$W/sim-huge.err" || { tail "$W/sim-huge.err" >&2; exit 1; }
    HUGE_UP=$st
    log "  simulator up in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.0f", b-a}') s"
    local HE
    HE=$(. "$st/env"; echo "$HF_ENDPOINT")
    commit=$($PY -c "import json;m=json.load(open('$st/manifest.json'));r=m['repos'][0];print(r['branches'][r['default_branch']])")
    local L=() F=() RS=() HW=() PE=() RM=() RQ=()
    for r in $(seq "$REPEAT"); do
      newcache; local hc=$NEWC
      curl -sS -f -X POST "$HE/_sim/reset" >/dev/null
      t0=$EPOCHREALTIME
      HF_ENDPOINT=$HE mount_hffs "datasets/$id" "$hc"
      ls "$MNT" >/dev/null; t1=$EPOCHREALTIME
      entries=$(find "$MNT" | wc -l); t2=$EPOCHREALTIME
      read -r rss hwm < <(awk '/^VmRSS/{r=$2} /^VmHWM/{h=$2} END{print r*1024, h*1024}' "/proc/$HPID/status")
      L+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')"); F+=("$(awk -v a="$t1" -v b="$t2" 'BEGIN{printf "%.2f", b-a}')")
      RS+=("$(awk -v x="$rss" 'BEGIN{printf "%.1f", x/2^20}')"); HW+=("$(awk -v x="$hwm" 'BEGIN{printf "%.1f", x/2^20}')")
      PE+=("$(awk -v x="$rss" -v n="$entries" 'BEGIN{printf "%.0f", x/n}')")
      umount_hffs keep
      curl -sS -f -X POST "$HE/_sim/reset" >/dev/null
      t0=$EPOCHREALTIME
      HF_ENDPOINT=$HE mount_hffs "datasets/$id" "$hc" -r "$commit"
      ls "$MNT" >/dev/null; t1=$EPOCHREALTIME
      RM+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')")
      RQ+=("$(curl -sS -f "$HE/_sim/stats?log=0" | $PY -c 'import json,sys;print(json.load(sys.stdin)["total_requests"])')")
      umount_hffs
      log "  run $r: ls after ${L[-1]} s, find ${F[-1]} s ($entries entries), RSS ${RS[-1]} MiB (peak ${HW[-1]}), ${PE[-1]} B/entry; remount ${RM[-1]} s, ${RQ[-1]} requests"
    done
    RUNS=""
    rec "huge_$sz.files" "$n"; rec "huge_$sz.entries" "$entries"
    med "huge_$sz.ls" "${L[@]}"; med "huge_$sz.find" "${F[@]}"; med "huge_$sz.rss" "${RS[@]}"; med "huge_$sz.hwm" "${HW[@]}"
    med "huge_$sz.per_entry" "${PE[@]}"; med "huge_$sz.remount" "${RM[@]}"; med "huge_$sz.remount_req" "${RQ[@]}"
    note "huge $sz, every run: $RUNS"
    "$SIM" stop --state-dir "$st" >/dev/null 2>&1; HUGE_UP=""
  done
}

# ------------------------------------------------------------------ 8 parallel loaders
loaders_row() {
  load_note "loaders"
  local f r out b s fair total=0 files t0 t1 lp
  local -a LF=() LB=()
  while read -r f sz src; do LF+=("$f"); LB+=("$src"); total=$((total + sz)); done < <(manifest_files "$LOAD_REPO" | grep '\.bin ')
  declare -A LU=()
  for f in "${LF[@]}"; do
    LU[$f]=$(curl -sS "${CA_CURL[@]}" -o /dev/null -w '%{redirect_url}' "$HF_ENDPOINT/$LOAD_REPO/resolve/main/$f")
  done
  log "8 loaders, each its own 256 MiB shard ($total bytes), CDN ${DELAY} ms first byte, ${RATE} B/s per connection"
  sim_default
  for src in "${LB[@]}"; do cat "$src" >/dev/null; done
  : >"$W/aria.list"
  for f in "${LF[@]}"; do printf '%s\n  out=%s\n' "${LU[$f]}" "$f" >>"$W/aria.list"; done
  local H=() HF=() A=() AF=() C=() CF=() Lc=() LcF=()
  for r in $(seq "$REPEAT"); do
    prefault
    newcache; mount_hffs "$LOAD_REPO" "$NEWC"
    files=(); for f in "${LF[@]}"; do files+=("$MNT/$f"); done
    read -r b s fair <<<"$($PY "$LIB/loaders.py" "${files[@]}")"
    umount_hffs
    H+=("$(mbps "$b" "$s")"); HF+=("$fair"); [ "$b" = "$total" ] || note "loaders hffs run $r read $b of $total bytes"
    # aria2c: the 8 files at once, one connection each (as the 8 loaders: one stream per file)
    $PY "$LIB/timed.py" "$W/t" -- timeout 300 aria2c -j8 -x1 -s1 --file-allocation=none --allow-overwrite=true \
      --auto-file-renaming=false --console-log-level=warn --summary-interval=0 --download-result=full \
      "${CA_ARIA[@]}" -d "$SHM" -i "$W/aria.list" >"$W/aria.out" 2>&1 || true
    read -r s _ <"$W/t"; b=0
    for f in "${LF[@]}"; do b=$((b + $(stat -c %s "$SHM/$f" 2>/dev/null || echo 0))); rm -f "$SHM/$f"*; done
    A+=("$(mbps "$b" "$s")")
    # per-file average speed from the download result ("gid|stat|avg speed|path"), as slowest/fastest
    AF+=("$(awk -F'|' '$2 ~ /OK/ {v=$3; gsub(/ /, "", v); m=1; if (v ~ /KiB/) m=2^10; if (v ~ /MiB/) m=2^20; if (v ~ /GiB/) m=2^30;
           sub(/[A-Za-z\/]+$/, "", v); x=v*m; if (!n || x<lo) lo=x; if (!n || x>hi) hi=x; n++} END{printf "%.3f", n ? lo/hi : 0}' "$W/aria.out")")
    [ "$b" = "$total" ] || note "loaders aria2c run $r fetched $b of $total bytes"
    # curl x8: 8 processes, one stream each
    local cp=() i=0
    t0=$EPOCHREALTIME
    for f in "${LF[@]}"; do
      curl -sS "${CA_CURL[@]}" -o /dev/null -w '%{size_download} %{time_total}\n' "${LU[$f]}" >"$W/lcurl-$i.out" &
      cp+=($!); i=$((i + 1))
    done
    for lp in "${cp[@]}"; do wait "$lp" || true; done
    t1=$EPOCHREALTIME
    b=$(cat "$W"/lcurl-*.out | awk '{s += $1} END{printf "%d", s}')
    C+=("$(mbps "$b" "$(awk -v a="$t0" -v c="$t1" 'BEGIN{print c-a}')")")
    CF+=("$(cat "$W"/lcurl-*.out | awk '{x=$1/$2; if (!n || x<lo) lo=x; if (!n || x>hi) hi=x; n++} END{printf "%.3f", lo/hi}')")
    rm -f "$W"/lcurl-*.out
    drop_caches
    read -r b s fair <<<"$($PY "$LIB/loaders.py" "${LB[@]}")"
    Lc+=("$(mbps "$b" "$s")"); LcF+=("$fair")
    log "  run $r MB/s (fairness): hffs ${H[-1]} (${HF[-1]}), aria2c ${A[-1]} (${AF[-1]}), curl x8 ${C[-1]} (${CF[-1]}), local ${Lc[-1]} (${LcF[-1]})"
  done
  RUNS=""
  med loaders.hffs "${H[@]}"; med loaders.aria2c "${A[@]}"; med loaders.curl "${C[@]}"; med loaders.local "${Lc[@]}"
  med loaders.fair_hffs "${HF[@]}"; med loaders.fair_aria2c "${AF[@]}"; med loaders.fair_curl "${CF[@]}"; med loaders.fair_local "${LcF[@]}"
  note "loaders, every run: $RUNS"
}
