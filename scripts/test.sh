#!/usr/bin/env bash
# Runs every test: builds both targets first (installing what is missing), then ctest runs the
# core suite natively and as wasm under node, the CLI comparison, the desktop app under Xvfb and
# the browser app in headless Chromium.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/build.sh
ctest --test-dir build/native --output-on-failure "$@"
