#!/usr/bin/env bash
# Set up, build, and generate text with the bundled model
# (models/rwkv7-kjv-byte.gguf, a small RWKV-7 trained on the King James Bible).
# Usage: scripts/demo.sh ["prompt"]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh run  # the compiler and three header-only libraries, nothing for the tests
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DRWKV_BUILD_TESTS=OFF -DRWKV_BUILD_BENCH=OFF
cmake --build build -j"$(nproc)" --target rwkv-cli
build/rwkv-cli generate -n 300 --temp 0.7 "${1:-And God said}"
