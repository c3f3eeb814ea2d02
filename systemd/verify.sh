#!/usr/bin/env bash
# Checks the unit with systemd-analyze verify, against a copy whose ExecStart points at the
# freshly built binary (verify insists that executables exist).
set -euo pipefail
HFFS_BIN="${1:?usage: verify.sh path/to/hffs}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed "s#/usr/local/bin/hffs#$(readlink -f "$HFFS_BIN")#g" "$(dirname "$0")/hffs@.service" > "$tmp/hffs@.service"
cp "$tmp/hffs@.service" "$tmp/hffs@test.service"
out=$(SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no "$tmp/hffs@test.service" 2>&1 || true)
# Ignore noise about the host's own units; fail on anything that mentions ours.
ours=$(printf '%s\n' "$out" | grep -i "hffs@" || true)
if [ -n "$ours" ]; then
  printf '%s\n' "$ours"
  echo "FAIL: systemd-analyze verify found problems in hffs@.service"
  exit 1
fi
grep -q '^Type=notify' "$tmp/hffs@.service"
echo "systemd-analyze verify: hffs@.service OK"
