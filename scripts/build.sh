#!/usr/bin/env bash
# Installs what is missing, then builds both targets from the one CMake project:
#   build/native/  stacklab (CLI), stacklab-gui (desktop app), stacklab-tests
#   build/wasm/    stacklab-cli.js (+ .wasm), stacklab-tests.js (+ .wasm)
#   build/web/     the static site: index.html, stacklab.js, stacklab.wasm
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash scripts/install-deps.sh

# Debian's emscripten 3.1.6 needs its node modules on NODE_PATH; a non-root user cannot write
# the system cache, so give it one in the build tree.
export NODE_PATH=/usr/share/nodejs${NODE_PATH:+:$NODE_PATH}
if [ ! -w /usr/share/emscripten/cache ]; then export EM_CACHE="$root/build/emscripten-cache"; fi

echo "[build] native (g++)" >&2
cmake -S . -B build/native -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/native
echo "[build] wasm (em++)" >&2
emcmake cmake -S . -B build/wasm -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/wasm
echo "[build] done: build/native/stacklab, build/native/stacklab-gui, build/wasm/stacklab-cli.js, build/web/" >&2
