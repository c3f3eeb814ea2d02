#!/usr/bin/env bash
# The README's second command: install dependencies, build, and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
cd "${HFFS_BUILD_DIR:-build}"
ctest --output-on-failure -j2 --timeout 900 "$@"
