#!/usr/bin/env bash
# Build the libFuzzer targets (fuzz/) and run each for SECONDS (default 60).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     TARGET: gguf state tokenizer cli server
#
# Build: build-fuzz/ with clang, ASan + UBSan + coverage (CMake -DRWKV_FUZZ=ON).
# Seeds: fuzz/make_seeds.py writes build-fuzz/seeds/ afresh each run (tiny
# models made on the spot, the official tokenizer cases from ../shared);
# build-fuzz/corpus/TARGET/ keeps what the fuzzer found between local runs.
# libFuzzer first runs every seed (the regression-* seeds recreate earlier
# findings), then mutates. A crash, leak, sanitizer report, failed property or
# timeout fails the script; the input is saved in build-fuzz/artifacts/ and
# the end of the log is printed. Logs: build-fuzz/logs/.
#
# Environment: JOBS (build parallelism, default nproc), RWKV_FUZZ_CXX (the
# compiler, default the newest clang++ found), RWKV_FUZZ_ISA (force one kernel
# path in fuzz_gguf and fuzz_cli, e.g. scalar).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SECONDS_EACH=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(gguf state tokenizer cli server)
JOBS=${JOBS:-$(nproc)}
B=$ROOT/build-fuzz
SHARED=$ROOT/../shared/data

find_cxx() {
  [ -n "${RWKV_FUZZ_CXX:-}" ] && { echo "$RWKV_FUZZ_CXX"; return; }
  # clang 14 rejects __builtin_cpu_supports("f16c") (kernels/kernels.cpp): newest first
  for c in clang++-19 clang++-18 clang++-17 clang++-16 clang++; do
    command -v "$c" >/dev/null && { echo "$c"; return; }
  done
  echo "fuzz.sh: no clang++ found (scripts/setup.sh installs clang-19)" >&2
  exit 1
}
CXX=$(find_cxx)
SYMBOLIZER=$(command -v llvm-symbolizer || ls /usr/lib/llvm-*/bin/llvm-symbolizer 2>/dev/null | tail -1 || true)

t0=$(date +%s)
cmake -S . -B "$B" -DCMAKE_CXX_COMPILER="$CXX" -DCMAKE_BUILD_TYPE=Release -DRWKV_FUZZ=ON \
  -DRWKV_BUILD_TESTS=OFF -DRWKV_BUILD_BENCH=OFF >"$B.cmake.log" 2>&1 || { cat "$B.cmake.log"; exit 1; }
cmake --build "$B" -j"$JOBS" --target $(printf 'fuzz_%s ' "${TARGETS[@]}")
echo "fuzz.sh: built with $CXX in $(( $(date +%s) - t0 )) s"

rm -rf "$B/seeds"
/usr/bin/python3 fuzz/make_seeds.py --out "$B/seeds" --shared "$SHARED"
rm -rf "$B/tmp"
mkdir -p "$B/artifacts" "$B/logs" "$B/tmp"
export TMPDIR=$B/tmp  # the targets' scratch directories

export RWKV_FUZZ_MODEL=$B/seeds/models/state.gguf
export RWKV_FUZZ_CLI_MODEL=$B/seeds/models/cli.gguf
export RWKV_FUZZ_VOCAB=$SHARED/llamacpp-gguf/v7-L2-D64-s9-llamacpp-f16.gguf
if [ ! -f "$RWKV_FUZZ_VOCAB" ]; then
  # without ../shared: the tokenizer target runs on the small world vocabulary
  RWKV_FUZZ_VOCAB=$RWKV_FUZZ_CLI_MODEL
  [ "${CI:-}" = true ] && { echo "fuzz.sh: $SHARED missing under CI" >&2; exit 1; }
fi
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1${SYMBOLIZER:+:external_symbolizer_path=$SYMBOLIZER}
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1${SYMBOLIZER:+:external_symbolizer_path=$SYMBOLIZER}

failed=()
for t in "${TARGETS[@]}"; do
  exe=$B/fuzz_$t
  log=$B/logs/$t.log
  opts=(-timeout=30 -rss_limit_mb=3072 -artifact_prefix="$B/artifacts/$t-" -print_final_stats=1)
  case $t in
    gguf) opts+=(-max_len=65536) ;;
    state) opts+=(-max_len=2048) ;;
    tokenizer) opts+=(-max_len=4096) ;;
    cli) opts+=(-max_len=512 -dict="$ROOT/fuzz/cli.dict") ;;
    server) opts+=(-max_len=4096 -dict="$ROOT/fuzz/server.dict") ;;
  esac
  # the seeds (regression-* among them) run first: any failure there is a finding again
  mkdir -p "$B/corpus/$t"
  ts=$(date +%s)
  if "$exe" "${opts[@]}" -max_total_time="$SECONDS_EACH" "$B/corpus/$t" "$B/seeds/$t" >"$log" 2>&1; then
    stats=$(grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "$log" | sed 's/stat:://' | tr -s ' \n' ' ')
    cov=$(grep -E "^#[0-9]+.*(DONE|cov:)" "$log" | tail -1 | grep -o "cov: [0-9]*" || true)
    echo "PASS fuzz_$t: $(( $(date +%s) - ts )) s, $stats$cov, corpus $(ls "$B/corpus/$t" | wc -l) files"
  else
    echo "FAIL fuzz_$t (log: $log; input saved in $B/artifacts/):"
    grep -v -E "^rwkv-cli|^INFO:|^#[0-9]" "$log" | tail -60
    failed+=("$t")
  fi
done
n_fail=${#failed[@]}
echo "fuzz: $(( ${#TARGETS[@]} - n_fail )) passed, $n_fail failed"
[ "$n_fail" -eq 0 ]
