#!/usr/bin/env bash
# Make random-weight RWKV-7 models at the shapes of the released 0.1B, 0.4B
# and 1.5B models (../shared/tools/make_v7_pth.py), convert them
# (scripts/convert.py), quantize them (rwkv-cli quantize) and print the bench
# table for every weight type. Random weights make meaningless text but the
# same work per token as trained ones.
#
# usage: bench/bench_models.sh [SIZES] [TYPES] [-- bench flags]
#   SIZES  comma list of 0.1b,0.4b,1.5b,2.9b   (default 0.1b,0.4b)
#   TYPES  comma list of what `rwkv-cli quantize` writes: f32,f16,bf16,q8_0,q4_0
#          (default f16,bf16,q8_0,q4_0)
# Models are cached in build/bench-models (about 4 GB for the first three sizes).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${1:-0.1b,0.4b}
TYPES=${2:-f16,bf16,q8_0,q4_0}
shift $(( $# > 2 ? 2 : $# )) || true
[ "${1:-}" = "--" ] && shift
CLI=build/rwkv-cli
OUT=build/bench-models
TOOLS=../shared/tools
VOCAB=../shared/data/tokenizer/rwkv_vocab_v20230424.txt
mkdir -p "$OUT"
[ -x "$CLI" ] || { echo "build rwkv-cli first (scripts/test.sh or cmake --build build)"; exit 1; }

shape() {
  case "$1" in
    0.1b) echo "12 768" ;;
    0.4b) echo "24 1024" ;;
    1.5b) echo "24 2048" ;;
    2.9b) echo "32 2560" ;;
    *) echo "unknown size $1" >&2; exit 1 ;;
  esac
}

echo "# rwkv-cli bench, $(date -u +%Y-%m-%d), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
first=1
for size in ${SIZES//,/ }; do
  read -r layers embd <<< "$(shape "$size")"
  pth="$OUT/v7-$size.pth"
  f16="$OUT/v7-$size-f16.gguf"
  if [ ! -f "$f16" ]; then
    [ -f "$pth" ] || /usr/bin/python3 "$TOOLS/make_v7_pth.py" "$pth" --layers "$layers" --embd "$embd" --seed 1 --dtype fp16 >&2
    /usr/bin/python3 scripts/convert.py "$pth" "$f16" --vocab "$VOCAB" >&2
    rm -f "$pth"
  fi
  for type in ${TYPES//,/ }; do
    model="$OUT/v7-$size-$type.gguf"
    [ -f "$model" ] || "$CLI" quantize "$f16" "$model" "$type" >&2
    if [ $first = 1 ]; then
      "$CLI" bench -m "$model" "$@"
      first=0
    else
      "$CLI" bench -m "$model" "$@" | tail -n +3
    fi
  done
done
