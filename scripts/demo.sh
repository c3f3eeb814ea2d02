#!/usr/bin/env bash
# The README's first command: install dependencies, build, start the bundled Hub simulator,
# mount its sample repo and show it. Leaves the mount up; `scripts/demo.sh stop` tears it down.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
MNT="${HFFS_DEMO_MOUNT:-/tmp/hffs-demo}"
STATE=/tmp/hffs-demo-sim
if [ "${1:-}" = "stop" ]; then
  build/cli/hffs umount "$MNT" 2>/dev/null || true
  tests/hubsim/run stop --state-dir "$STATE"
  exit 0
fi
bash scripts/install-deps.sh
bash scripts/build.sh
build/cli/hffs umount "$MNT" 2>/dev/null || true
tests/hubsim/run stop --state-dir "$STATE" >/dev/null 2>&1 || true
eval "$(tests/hubsim/run start --state-dir "$STATE" | sed 's/^/export /')"
mkdir -p "$MNT"
echo "+ hffs mount $HFFS_SAMPLE_REPO $MNT   (HF_ENDPOINT=$HF_ENDPOINT)"
HF_HOME=/tmp/hffs-demo-home build/cli/hffs mount "$HFFS_SAMPLE_REPO" "$MNT"
echo "+ ls -la $MNT"; ls -la "$MNT"
echo "+ head -c 300 $MNT/config.json"; head -c 300 "$MNT/config.json"; echo
echo "+ sha256sum $MNT/*.safetensors"; sha256sum "$MNT"/*.safetensors
echo "+ getfattr -d $MNT/config.json"; getfattr -d "$MNT/config.json" 2>/dev/null || true
echo "+ hffs status $MNT"; build/cli/hffs status "$MNT"
echo
echo "Mounted $HFFS_SAMPLE_REPO at $MNT. Tear down with: scripts/demo.sh stop"
