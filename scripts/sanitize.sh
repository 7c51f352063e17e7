#!/usr/bin/env bash
# The test suite under sanitizers; any report fails.
#
#   scripts/sanitize.sh [asan|tsan|all]        (default all)
#
# asan: build-asan/, everything (engine, CLI, tests) with AddressSanitizer +
#       UndefinedBehaviorSanitizer (+ float-cast-overflow, libstdc++
#       assertions), -fno-sanitize-recover: the first report aborts. Then
#       ctest, all but the tests that run no C++ code (the converter's own
#       tests): the Python tests drive the sanitized rwkv-cli.
# tsan: build-tsan/, ThreadSanitizer; the tests that run the thread pool
#       (test_rwkv7's thread-count test, the kernels' row splits), then
#       rwkv-cli with -t 1, 2 and 3 (generate, logits, perplexity, bench),
#       whose outputs must also be identical for every thread count.
#
# Every sanitizer report is also written to build-*/sanitizer-reports/; the
# script fails if any appears, whatever the tests said.
# Environment: JOBS (build parallelism, default nproc), CXX (compiler).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
MODE=${1:-all}
JOBS=${JOBS:-$(nproc)}
SYMBOLIZER=$(command -v llvm-symbolizer || ls /usr/lib/llvm-*/bin/llvm-symbolizer 2>/dev/null | tail -1 || true)
status=0

SIGNATURES='runtime error:|ERROR: AddressSanitizer|ERROR: LeakSanitizer|WARNING: ThreadSanitizer|SUMMARY: [A-Za-z]*Sanitizer'

reports_ok() {  # DIR LOG NAME: the report files in DIR, and reports that reached the test output LOG
  local n m
  n=$(find "$1" -type f 2>/dev/null | wc -l)
  m=$(grep -E -c "$SIGNATURES" "$2" 2>/dev/null || true)
  if [ "$n" -gt 0 ] || [ "${m:-0}" -gt 0 ]; then
    echo "sanitize.sh: $3: $n sanitizer report file(s), $m report line(s) in the test output:"
    for f in "$1"/*; do [ -f "$f" ] && { echo "---- $f"; head -60 "$f"; }; done
    grep -E "$SIGNATURES" "$2" | head -20
    return 1
  fi
  echo "sanitize.sh: $3: no sanitizer reports"
}

configure() {  # DIR SANITIZER
  cmake -S . -B "$1" -DCMAKE_BUILD_TYPE=Release -DRWKV_SANITIZE="$2" -DRWKV_BUILD_BENCH=OFF \
    >"$1.cmake.log" 2>&1 || { cat "$1.cmake.log"; exit 1; }
}

build() {  # DIR [TARGETS...]
  local dir=$1 t0
  t0=$(date +%s)
  shift
  if [ $# -gt 0 ]; then cmake --build "$dir" -j"$JOBS" --target "$@"; else cmake --build "$dir" -j"$JOBS"; fi
  echo "sanitize.sh: built $(basename "$dir") in $(( $(date +%s) - t0 )) s"
}

if [ "$MODE" = asan ] || [ "$MODE" = all ]; then
  B=$ROOT/build-asan
  configure "$B" address
  build "$B"
  rm -rf "$B/sanitizer-reports"
  mkdir -p "$B/sanitizer-reports"
  t0=$(date +%s)
  # exit codes no test expects, and every report kept as a file
  export ASAN_OPTIONS=detect_leaks=1:exitcode=86:log_path=$B/sanitizer-reports/asan:strict_string_checks=1:detect_stack_use_after_return=1${SYMBOLIZER:+:external_symbolizer_path=$SYMBOLIZER}
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=87:log_path=$B/sanitizer-reports/ubsan${SYMBOLIZER:+:external_symbolizer_path=$SYMBOLIZER}
  ctest --test-dir "$B" --output-on-failure -E '^test_convert$' 2>&1 | tee "$B/ctest.log" || status=1
  unset ASAN_OPTIONS UBSAN_OPTIONS
  echo "sanitize.sh: asan tests in $(( $(date +%s) - t0 )) s"
  reports_ok "$B/sanitizer-reports" "$B/ctest.log" "ASan+UBSan" || status=1
fi

if [ "$MODE" = tsan ] || [ "$MODE" = all ]; then
  B=$ROOT/build-tsan
  configure "$B" thread
  # the thread pool's users: the CLI, the forward-pass and kernel tests
  targets=(rwkv-cli test_rwkv7 test_kernels)
  if cmake --build "$B" --target help | grep " test_matmul$" >/dev/null; then targets+=(test_matmul); fi  # (grep -q + pipefail: SIGPIPE)
  build "$B" "${targets[@]}"
  rm -rf "$B/sanitizer-reports"
  mkdir -p "$B/sanitizer-reports"
  t0=$(date +%s)
  export TSAN_OPTIONS=halt_on_error=1:exitcode=66:second_deadlock_stack=1:log_path=$B/sanitizer-reports/tsan${SYMBOLIZER:+:external_symbolizer_path=$SYMBOLIZER}
  tests="make_test_models|test_rwkv7|test_kernels"
  [[ " ${targets[*]} " == *" test_matmul "* ]] && tests="$tests|test_matmul"
  ctest --test-dir "$B" --output-on-failure -R "^($tests)\$" 2>&1 | tee "$B/ctest.log" || status=1
  # rwkv-cli with several threads: no race, and the same bytes for every count
  M=$B/models/tiny-rwkv-7v0-834K-f32.gguf
  W=$B/tsan-cli
  mkdir -p "$W"
  printf 'In the beginning God created the heaven and the earth.\n%.0s' {1..3} >"$W/text.txt"
  if [ -f "$M" ]; then
    cli_fail=0
    for t in 1 2 3; do
      "$B/rwkv-cli" generate -m "$M" -t $t -n 12 --seed 5 "In the" >"$W/gen$t.txt" 2>"$W/gen$t.err" || cli_fail=1
      "$B/rwkv-cli" logits -m "$M" -t $t --prompt "In the beginning" --all --chunk 5 -o "$W/logits$t.f32" 2>"$W/logits$t.err" || cli_fail=1
      "$B/rwkv-cli" perplexity -m "$M" -t $t -f "$W/text.txt" --chunk 16 -q >"$W/ppl$t.txt" 2>"$W/ppl$t.err" || cli_fail=1
      grep -v "^speed" "$W/ppl$t.txt" >"$W/ppl$t.cmp" || true
    done
    "$B/rwkv-cli" bench -m "$M" -t 2 -p 16 -n 4 -r 1 >/dev/null 2>"$W/bench.err" || cli_fail=1
    for t in 2 3; do
      cmp -s "$W/gen1.txt" "$W/gen$t.txt" || { echo "FAIL tsan: generate -t $t differs from -t 1"; cli_fail=1; }
      cmp -s "$W/logits1.f32" "$W/logits$t.f32" || { echo "FAIL tsan: logits -t $t differ from -t 1"; cli_fail=1; }
      cmp -s "$W/ppl1.cmp" "$W/ppl$t.cmp" || { echo "FAIL tsan: perplexity -t $t differs from -t 1"; cli_fail=1; }
    done
    if [ $cli_fail -eq 0 ]; then
      echo "PASS tsan: rwkv-cli generate/logits/perplexity/bench with -t 1, 2, 3 (identical outputs)"
    else
      echo "FAIL tsan: rwkv-cli runs (stderr in $W)"; tail -5 "$W"/*.err; status=1
    fi
    cat "$W"/*.err >>"$B/ctest.log"
  else
    echo "FAIL tsan: $M missing (the make_test_models fixture did not run)"; status=1
  fi
  unset TSAN_OPTIONS
  echo "sanitize.sh: tsan tests in $(( $(date +%s) - t0 )) s"
  reports_ok "$B/sanitizer-reports" "$B/ctest.log" "TSan" || status=1
fi
exit $status
