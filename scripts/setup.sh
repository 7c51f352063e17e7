#!/usr/bin/env bash
# Install the Debian packages rwkv-cli needs, if missing: `run` to build and
# run it, `test` (the default) to build and run every test as well.
# Safe to re-run: it installs nothing when everything is present.
set -euo pipefail

# What building rwkv-cli and running it needs: the compiler and four
# libraries (rwkv-cli serve's HTTP and JSON among them). `scripts/setup.sh run`
# (scripts/demo.sh) installs only these.
RUN_PACKAGES=(
  cmake g++ make pkg-config
  libcxxopts-dev libxsimd-dev        # option parsing, portable SIMD
  libcpp-httplib-dev                 # HTTP (serve)
  nlohmann-json3-dev                 # JSON (bench, batch, serve)
)
# What the tests, benchmarks and hardening runs add (scripts/test.sh, .ci/run).
TEST_PACKAGES=(
  libgtest-dev libbenchmark-dev      # tests, micro-benchmarks
  python3 python3-numpy python3-torch  # converter, NumPy reference, test scripts
  parallel                           # GNU parallel: the scale-out test of rwkv-cli batch (tests/test_batch.py)
  python3-matplotlib                 # plots (scripts/plot_icl.py, the trainer's loss curve)
  clang-19 libclang-rt-19-dev llvm   # libFuzzer + sanitizer runtimes, llvm-symbolizer (scripts/fuzz.sh)
  g++-aarch64-linux-gnu qemu-user googletest  # aarch64 cross build, run under emulation (scripts/aarch64.sh)
  nodejs npm chromium                # the server tests: OpenAI's Node client, the chat page headless (tests/test_server.py)
)
case "${1:-test}" in
  run) PACKAGES=("${RUN_PACKAGES[@]}") ;;
  test) PACKAGES=("${RUN_PACKAGES[@]}" "${TEST_PACKAGES[@]}") ;;
  *) echo "usage: scripts/setup.sh [run|test] [--print]" >&2; exit 2 ;;
esac
if [ "${2:-}" = "--print" ]; then echo "${PACKAGES[*]}"; exit 0; fi

missing=()
for p in "${PACKAGES[@]}"; do
  [ "$p" = npm ] && command -v npm >/dev/null && continue  # NodeSource's nodejs includes npm
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all packages present"
  exit 0
fi
echo "setup: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
