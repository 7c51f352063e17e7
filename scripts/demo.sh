#!/usr/bin/env bash
# Set up, build, and generate text with the default model.
#
# Until a bundled model exists, the default model is rwkv.cpp's tiny
# byte-level RWKV-7 from ../shared, converted to GGUF on first use.
# Usage: scripts/demo.sh ["prompt"]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)" --target rwkv-cli
model=build/models/tiny-rwkv-7v0-834K-f32.gguf
if [ ! -f "$model" ]; then
  mkdir -p build/models
  /usr/bin/python3 scripts/convert.py ../shared/data/rwkvcpp-tiny/tiny-rwkv-7v0-834K-FP32.bin "$model"
fi
build/rwkv-cli generate -m "$model" -n 200 --temp 0.8 --seed 1 "${1:-In the beginning}"
