#!/usr/bin/env bash
# Many sequences at once: `rwkv-cli bench -b` at the released models' shapes
# (random weights, bench/models.sh), one JSON line per batch size into
# build/bench-models/batch-SIZE-TYPE.jsonl, then the table (markdown) and the
# plot of aggregate generation t/s against the batch size
# (scripts/plot_batch.py -> build/bench-models/batch.png).
#
# usage: bench/bench_batch.sh [SIZES] [TYPES] [-- bench flags]
#   SIZES  comma list of 0.1b,0.4b,1.5b,2.9b   (default 0.1b,0.4b,1.5b)
#   TYPES  comma list of what `rwkv-cli quantize` writes   (default f16,q8_0)
#   bench flags default to: -b 1,2,4,8,16,32 -p 128 -n 64 -r 2 -t 2
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${1:-0.1b,0.4b,1.5b}
TYPES=${2:-f16,q8_0}
shift $(( $# > 2 ? 2 : $# )) || true
[ "${1:-}" = "--" ] && shift
[ $# -gt 0 ] || set -- -b 1,2,4,8,16,32 -p 128 -n 64 -r 2 -t 2
source bench/models.sh

files=()
for size in ${SIZES//,/ }; do
  for type in ${TYPES//,/ }; do
    model=$(bench_model "$size" "$type")
    out="$OUT/batch-$size-$type.jsonl"
    "$CLI" bench -m "$model" -o jsonl "$@" > "$out"
    files+=("$size $type=$out")
  done
done
/usr/bin/python3 scripts/plot_batch.py --out "$OUT/batch.png" "${files[@]}"
