#!/usr/bin/env bash
# Opt-in for CUDA hosts: fetch onnxruntime-node's CUDA 12 / TensorRT provider libraries.
# The default install skips this (see .npmrc) because it downloads from outside the npm registry.
set -euo pipefail
cd "$(dirname "$0")/.."
ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install --onnxruntime-node-install=cuda12
node bin/pinpoint.js doctor || true
