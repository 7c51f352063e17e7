#!/usr/bin/env bash
# Set up, build, and run every test (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DRWKV_BUILD_TESTS=ON -DRWKV_BUILD_BENCH=ON
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure
