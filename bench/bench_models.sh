#!/usr/bin/env bash
# Make random-weight RWKV-7 models at the shapes of the released 0.1B, 0.4B
# and 1.5B models (../shared/tools/make_v7_pth.py), convert them
# (scripts/convert.py), quantize them (rwkv-cli quantize) and print the bench
# table for every weight type. Random weights make meaningless text but the
# same work per token as trained ones.
#
# usage: bench/bench_models.sh [SIZES] [TYPES] [-- bench flags]
#   SIZES  comma list of 0.1b,0.4b,1.5b,2.9b   (default 0.1b,0.4b)
#   TYPES  comma list of `rwkv-cli quantize` presets, any case: f32, f16, bf16
#          or any llama.cpp preset (q8_0, q4_0, q4_k_m, iq4_xs, ...; `rwkv-cli
#          quantize --help` lists them)   (default f16,bf16,q8_0,q4_0)
# Models are cached in build/bench-models (about 4 GB for the first three sizes).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${1:-0.1b,0.4b}
TYPES=${2:-f16,bf16,q8_0,q4_0}
shift $(( $# > 2 ? 2 : $# )) || true
[ "${1:-}" = "--" ] && shift
source bench/models.sh

echo "# rwkv-cli bench, $(date -u +%Y-%m-%d), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
first=1
for size in ${SIZES//,/ }; do
  for type in ${TYPES//,/ }; do
    model=$(bench_model "$size" "$type")
    if [ $first = 1 ]; then
      "$CLI" bench -m "$model" "$@"
      first=0
    else
      "$CLI" bench -m "$model" "$@" | tail -n +3
    fi
  done
done
