#!/usr/bin/env bash
# Installs everything StackLab needs on a Debian bookworm machine (as root), idempotently:
# a second run finds everything present and installs nothing.
# Sources: Debian packages and the npm registry only.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

say() { printf '[install] %s\n' "$*" >&2; }
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# Debian packages the project needs. Kept in one list so the check and the install agree.
pkgs=(
  build-essential cmake ninja-build pkg-config dpkg-dev
  emscripten                     # em++ for the WebAssembly targets (Debian ships 3.1.6)
  libxtensor-dev nlohmann-json3-dev libboost-test-dev libsodium-dev
  liborocos-kdl-dev libeigen3-dev          # Orocos KDL: the outside reference for the robot tests
  libonnx-testdata                         # ONNX's own node tests: the conformance oracle for our kernels
  dataset-fashion-mnist                    # Fashion-MNIST (gzip'd IDX) for stacklab eval/train
  libglfw3-dev libgl-dev libgl1-mesa-dri   # desktop app: GLFW + OpenGL3 (Mesa llvmpipe under Xvfb)
  libstb-dev                               # stb_image_write for the desktop app's --screenshot
  fonts-dejavu-core                        # the UI font, embedded in both targets
  chromium xvfb xauth                      # browser and desktop tests
)
# Node.js runs the wasm builds and the browser tests. The machine image ships Node 20 with npm;
# only where no node is present do we fall back to Debian's nodejs + npm.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then pkgs+=(nodejs npm); fi
missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

# Dear ImGui comes as Debian source so both targets compile the same version from source.
# libsodium too, for the WebAssembly build only: em++ cannot link the system's x86 libsodium, so
# core/CMakeLists.txt compiles Debian's libsodium sources with emcc (natively we link libsodium-dev,
# the same upstream version). Orocos KDL likewise: tests/CMakeLists.txt compiles Debian's KDL
# sources with em++ for the wasm tests (natively they link liborocos-kdl-dev, the same upstream version).
src_list=/etc/apt/sources.list.d/stacklab-deb-src.sources
need_src=0
if [ ! -f third_party/imgui/imgui.h ]; then need_src=1; fi
if [ ! -f third_party/libsodium/src/libsodium/include/sodium.h ]; then need_src=1; fi
if [ ! -f third_party/orocos-kdl/orocos_kdl/src/chain.hpp ]; then need_src=1; fi
if [ "$need_src" = 1 ] && [ ! -f "$src_list" ]; then
  say "adding a deb-src entry for bookworm main (for 'apt-get source imgui libsodium orocos-kdl')"
  $SUDO tee "$src_list" >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi

if [ "${#missing[@]}" -gt 0 ] || [ "$need_src" = 1 ]; then
  say "apt-get update"
  $SUDO apt-get update -qq
fi
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing: ${missing[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# fetch_source PACKAGE CHECK_FILE: 'apt-get source PACKAGE' (Debian's patches applied) into
# third_party/PACKAGE, unless CHECK_FILE shows it is already there.
fetch_source() {
  local pkg=$1 check=$2
  [ -f "third_party/$pkg/$check" ] && return 0
  say "fetching $pkg sources (apt-get source $pkg) into third_party/$pkg"
  local tmp dir
  tmp=$(mktemp -d)
  ( cd "$tmp" && apt-get source -qq "$pkg" >&2 )
  dir=$(find "$tmp" -maxdepth 1 -mindepth 1 -type d -name "$pkg-*" | head -n1)
  [ -n "$dir" ] || { say "apt-get source $pkg produced no folder"; exit 1; }
  rm -rf "third_party/$pkg"
  mkdir -p third_party
  mv "$dir" "third_party/$pkg"
  rm -rf "$tmp"
}
if [ "$need_src" = 1 ]; then
  fetch_source imgui imgui.h
  fetch_source libsodium src/libsodium/include/sodium.h
  fetch_source orocos-kdl orocos_kdl/src/chain.hpp
fi

# npm packages (playwright-core drives Debian's Chromium; nothing downloads a browser).
if ! npm ls --depth=0 >/dev/null 2>&1; then
  say "npm ci (playwright-core, pngjs)"
  if [ -f package-lock.json ]; then
    npm ci --ignore-scripts --no-audit --no-fund >&2
  else
    npm install --ignore-scripts --no-audit --no-fund >&2
  fi
fi
say "all dependencies present"
