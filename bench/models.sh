# bench/models.sh - sourced by bench_models.sh and bench_batch.sh: make (once)
# and cache random-weight RWKV-7 models at the released models' shapes.
#   bench_model SIZE TYPE   prints the path of the model, making it if needed
# Random weights make meaningless text but the same work per token as
# trained ones. Models are cached in build/bench-models (about 4 GB for
# 0.1b, 0.4b and 1.5b).
CLI=build/rwkv-cli
OUT=build/bench-models
TOOLS=../shared/tools
VOCAB=../shared/data/tokenizer/rwkv_vocab_v20230424.txt
mkdir -p "$OUT"
[ -x "$CLI" ] || { echo "build rwkv-cli first (scripts/test.sh or cmake --build build)" >&2; exit 1; }

shape() {
  case "$1" in
    0.1b) echo "12 768" ;;
    0.4b) echo "24 1024" ;;
    1.5b) echo "24 2048" ;;
    2.9b) echo "32 2560" ;;
    *) echo "unknown size $1" >&2; exit 1 ;;
  esac
}

bench_model() {
  local size=$1 type=$2 layers embd
  read -r layers embd <<< "$(shape "$size")"
  local pth="$OUT/v7-$size.pth" f16="$OUT/v7-$size-f16.gguf" model="$OUT/v7-$size-$type.gguf"
  if [ ! -f "$f16" ]; then
    [ -f "$pth" ] || /usr/bin/python3 "$TOOLS/make_v7_pth.py" "$pth" --layers "$layers" --embd "$embd" --seed 1 --dtype fp16 >&2
    /usr/bin/python3 scripts/convert.py "$pth" "$f16" --vocab "$VOCAB" >&2
    rm -f "$pth"
  fi
  [ -f "$model" ] || "$CLI" quantize "$f16" "$model" "$type" >&2
  echo "$model"
}
