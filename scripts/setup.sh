#!/usr/bin/env bash
# Idempotent set-up: installs the Debian 12 packages rtrec needs (only those
# missing), then configures and builds. Usage:
#   scripts/setup.sh [--sanitize] [--debug] [--build-dir DIR]
# Environment: RTREC_JOBS (parallel build jobs, default: nproc).
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=build
build_type=Release
sanitize=OFF
while [ $# -gt 0 ]; do
  case "$1" in
    --sanitize) sanitize=ON; build_dir=build-asan; build_type=RelWithDebInfo ;;
    --debug) build_type=Debug ;;
    --build-dir) build_dir="$2"; shift ;;
    *) echo "setup.sh: unknown option '$1' (known: --sanitize --debug --build-dir DIR)" >&2; exit 2 ;;
  esac
  shift
done

packages=(
  build-essential cmake ninja-build pkg-config
  libcaf-dev libboost-dev zlib1g-dev
  libspdlog-dev libfmt-dev libgtest-dev libgmock-dev
  nlohmann-json3-dev libsimdjson-dev libcli11-dev libxxhash-dev libabsl-dev libssl-dev
  libgoogle-perftools-dev prometheus-cpp-dev
  openssl curl
  chromium
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing missing packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}"
fi

# Node.js and npm for the Gorse client test (tests/clients/gorsejs): the
# machine's when it has them, else Debian's.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "setup: installing Node.js and npm (Debian's nodejs, npm)"
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq nodejs npm
fi
# Gorse's JavaScript client at the versions package-lock.json pins.
clients=tests/clients/gorsejs
if [ ! -f "$clients/node_modules/.package-lock.json" ] ||
   [ "$clients/package-lock.json" -nt "$clients/node_modules/.package-lock.json" ]; then
  echo "setup: installing Gorse's JavaScript client (npm ci in $clients)"
  npm ci --prefix "$clients" --no-audit --no-fund --loglevel=error
fi

jobs="${RTREC_JOBS:-$(nproc)}"
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="$build_type" \
  -DRTREC_SANITIZE="$sanitize" >/dev/null
cmake --build "$build_dir" -j "$jobs"
