#!/usr/bin/env bash
# Installs every build, test and benchmark dependency of hffs from Debian 12 packages.
# Idempotent; safe to re-run. Must run as root (or with sudo available).
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
PKGS=(
  build-essential cmake pkg-config git ca-certificates
  libfuse3-dev fuse3
  libcurl4-openssl-dev libssl-dev
  nlohmann-json3-dev robin-map-dev
  libgtest-dev libgmock-dev
  libcli11-dev libspdlog-dev libfmt-dev libsystemd-dev
  nginx nginx-light libnginx-mod-http-set-misc openssl curl
  python3 python3-numpy python3-torch

  psmisc procps attr iproute2 util-linux
  clang libclang-rt-14-dev
  lintian man-db
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if ! command -v npm >/dev/null; then $SUDO apt-get install -y -qq nodejs npm; fi
# nginx is started by the simulator harness with its own config only.
$SUDO systemctl disable --now nginx >/dev/null 2>&1 || true
