#!/usr/bin/env bash
# The 64-bit ARM build (NEON kernels beside the scalar ones): cross-compile
# with Debian's g++-aarch64-linux-gnu (cmake/aarch64-linux-gnu.cmake) into
# build-aarch64/ and run the unit tests under qemu-user (they test every NEON
# kernel against its scalar twin); then rwkv-cli itself under qemu, on the
# NEON path, whose logits must match the host's scalar kernels.
#
#   scripts/aarch64.sh          (JOBS: build parallelism, default nproc)
#
# Header-only host packages (xsimd, cxxopts, nlohmann-json) are staged by symlink,
# GoogleTest is built from Debian's source (/usr/src/googletest) with the cross compiler:
# no arm64 multiarch packages are needed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${JOBS:-$(nproc)}
B=$ROOT/build-aarch64
STAGE=$B/stage
export RWKV_AARCH64_STAGE=$STAGE
export RWKV_EMULATED=1  # tests that time themselves keep only machine-independent bounds (test_gguf)
TOOLCHAIN=$ROOT/cmake/aarch64-linux-gnu.cmake
for tool in aarch64-linux-gnu-g++ qemu-aarch64; do
  command -v $tool >/dev/null || { echo "aarch64.sh: $tool missing (scripts/setup.sh installs it)"; exit 1; }
done
t0=$(date +%s)

# 1. the staging prefix: header-only libraries and their packages, GoogleTest
mkdir -p "$STAGE/include" "$STAGE/lib/cmake/cxxopts" "$STAGE/lib/cmake/nlohmann_json"
ln -sfn /usr/include/xsimd "$STAGE/include/xsimd"
ln -sfn /usr/include/cxxopts.hpp "$STAGE/include/cxxopts.hpp"
ln -sfn /usr/include/nlohmann "$STAGE/include/nlohmann"
# header-only: each package is an interface target, its headers in the staging include directory
stage_package() {  # DIR TARGET
  printf 'if(NOT TARGET %s)\n  add_library(%s INTERFACE IMPORTED)\nendif()\n' "$2" "$2" >"$STAGE/lib/cmake/$1/$1-config.cmake"
}
stage_package cxxopts cxxopts::cxxopts
stage_package nlohmann_json nlohmann_json::nlohmann_json
if [ ! -f "$STAGE/lib/cmake/GTest/GTestConfig.cmake" ]; then
  cmake -S /usr/src/googletest -B "$B/googletest" -DCMAKE_TOOLCHAIN_FILE="$TOOLCHAIN" -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_GMOCK=OFF -DINSTALL_GTEST=ON -DCMAKE_INSTALL_PREFIX="$STAGE" >"$B/googletest.log" 2>&1 ||
    { cat "$B/googletest.log"; exit 1; }
  cmake --build "$B/googletest" -j"$JOBS" >>"$B/googletest.log" 2>&1 && cmake --install "$B/googletest" >>"$B/googletest.log" 2>&1 ||
    { tail -30 "$B/googletest.log"; exit 1; }
fi

# 2. the project
cmake -S . -B "$B" -DCMAKE_TOOLCHAIN_FILE="$TOOLCHAIN" -DCMAKE_BUILD_TYPE=Release -DRWKV_BUILD_BENCH=OFF \
  -DGTest_DIR="$STAGE/lib/cmake/GTest" -Dcxxopts_DIR="$STAGE/lib/cmake/cxxopts" \
  -Dnlohmann_json_DIR="$STAGE/lib/cmake/nlohmann_json" >"$B/cmake.log" 2>&1 ||
  { cat "$B/cmake.log"; exit 1; }
cmake --build "$B" -j"$JOBS"
aarch64-linux-gnu-readelf -h "$B/rwkv-cli" | grep -q "Machine:.*AArch64" || { echo "aarch64.sh: rwkv-cli is not an aarch64 binary"; exit 1; }
echo "aarch64.sh: cross build in $(( $(date +%s) - t0 )) s"

# 3. the C++ tests under qemu (ctest adds the emulator). The models fixture
# is Python on the host: reuse build/models when the host build made them.
t1=$(date +%s)
fixture=()
if [ -f "$ROOT/build/models/v7-L2-D256-s5-f32.gguf" ] && [ ! -e "$B/models" ]; then
  ln -s "$ROOT/build/models" "$B/models"
fi
[ -f "$B/models/v7-L2-D256-s5-f32.gguf" ] && fixture=(--fixture-exclude-setup models)
gtests=$(cd "$B/tests" 2>/dev/null && ls test_* 2>/dev/null | grep -v '\.' | paste -sd'|' || true)
status=0
ctest --test-dir "$B" --output-on-failure -R "^(${gtests})\$" "${fixture[@]}" || status=1
echo "aarch64.sh: tests under qemu in $(( $(date +%s) - t1 )) s"

# 4. rwkv-cli under qemu: its logits against the host's scalar kernels
M=$B/models/tiny-rwkv-7v0-834K-f32.gguf
HOST_CLI=$ROOT/build/rwkv-cli
if [ -f "$M" ] && [ -x "$HOST_CLI" ]; then
  toks=34,105,110,32,116,104,101,32,98,101,103,105,110,110,105,110,103
  qemu-aarch64 -L /usr/aarch64-linux-gnu "$B/rwkv-cli" info -m "$M" | grep -q "kernels: *neon" ||
    { echo "FAIL rwkv-cli under qemu does not pick the NEON kernels"; status=1; }
  qemu-aarch64 -L /usr/aarch64-linux-gnu "$B/rwkv-cli" logits -m "$M" --tokens $toks --all -o "$B/arm.f32"
  "$HOST_CLI" logits -m "$M" --isa scalar --tokens $toks --all -o "$B/host.f32"
  if /usr/bin/python3 - "$B/arm.f32" "$B/host.f32" <<'PY'
import sys
import numpy as np
a = np.fromfile(sys.argv[1], dtype="<f4").reshape(-1, 256)
b = np.fromfile(sys.argv[2], dtype="<f4").reshape(-1, 256)
d = float((np.abs(a - b) / b.std(axis=1, keepdims=True)).max())
# measured 1.1e-6; bound = 3.2x
print(f"aarch64 NEON vs x86-64 scalar logits, 17 positions: max |diff| / std = {d:.2g} (bound 3.5e-6)")
sys.exit(0 if a.shape == b.shape and d <= 3.5e-6 else 1)
PY
  then echo "PASS rwkv-cli logits under qemu match the host"; else echo "FAIL rwkv-cli logits under qemu"; status=1; fi
  out=$(qemu-aarch64 -L /usr/aarch64-linux-gnu "$B/rwkv-cli" generate -m "$M" -n 16 --temp 0 "In the" 2>/dev/null) || status=1
  echo "rwkv-cli generate under qemu: ${out@Q}"
else
  echo "aarch64.sh: skipping the rwkv-cli comparison ($M or $HOST_CLI missing)"
  [ "${CI:-}" = true ] && status=1
fi
echo "aarch64.sh: total $(( $(date +%s) - t0 )) s"
exit $status
