#!/usr/bin/env bash
# Idempotent set-up for a Debian 12 host: installs missing Debian packages (deps/debian-packages.txt),
# the npm dependencies (building @u4/opencv4nodejs against Debian's OpenCV) and compiles the TypeScript.
# Safe to run again: every step checks first and does nothing when it is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

# --- Debian packages -------------------------------------------------------------------------------
mapfile -t wanted < <(grep -v '^\s*#' deps/debian-packages.txt | awk 'NF { print $1 }')
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { log "missing packages (${missing[*]}) and no sudo: install them as root"; exit 1; }
    sudo=(sudo)
  fi
  log "installing Debian packages: ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Node.js ---------------------------------------------------------------------------------------
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' 2>/dev/null; then
  log "Node.js >= 20.19 is required (found: $(node --version 2>/dev/null || echo none))."
  log "Debian 12 ships Node 18: install Node 20, 22 or 24 LTS from your usual source first."
  exit 1
fi

# --- npm dependencies ------------------------------------------------------------------------------
# @u4/opencv4nodejs links Debian's libopencv-dev instead of downloading and building OpenCV itself.
multiarch=$(gcc -print-multiarch 2>/dev/null || dpkg-architecture -qDEB_HOST_MULTIARCH)
export OPENCV4NODEJS_DISABLE_AUTOBUILD=1
export OPENCV_INCLUDE_DIR=/usr/include/opencv4
export OPENCV_LIB_DIR=/usr/lib/$multiarch
export OPENCV_BIN_DIR=/usr/bin
export JOBS=${JOBS:-$(nproc)}
# onnxruntime-node would fetch GPU provider libraries from outside the npm registry; the CPU build is bundled.
export ONNXRUNTIME_NODE_INSTALL=${ONNXRUNTIME_NODE_INSTALL:-skip}

stamp=node_modules/.pinpoint-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -f node_modules/@u4/opencv4nodejs/build/Release/opencv4nodejs.node ]; then
  log "npm ci (builds the OpenCV binding: a few minutes on 2 cores)"
  npm ci --no-audit --no-fund
  echo "$want" >"$stamp"
fi

# --- build -----------------------------------------------------------------------------------------
newest_src=$(find src \( -name '*.ts' -o -path 'src/console/static/*' \) -newer dist/.built 2>/dev/null | head -n 1 || true)
if [ ! -f dist/.built ] || [ -n "$newest_src" ] || [ tsconfig.json -nt dist/.built ]; then
  log "compiling TypeScript (daemon and console pages)"
  npm run --silent build
  touch dist/.built
fi
log "ready"
