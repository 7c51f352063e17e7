# Cross-compiling for 64-bit ARM Linux with Debian's g++-aarch64-linux-gnu;
# binaries run under qemu-user (scripts/aarch64.sh). Header-only host
# libraries (xsimd, cxxopts, the GoogleTest build) come from the staging
# prefix that scripts/aarch64.sh prepares: RWKV_AARCH64_STAGE.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu $ENV{RWKV_AARCH64_STAGE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# ctest runs the test binaries through the emulator (the sysroot holds the
# dynamic loader and libraries).
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/aarch64-linux-gnu)
# GCC 12 has no _Float16 in C++ on aarch64 (GCC 13 does); tests/test_kernels.cpp
# checks the half conversions against it. __fp16 is the same IEEE binary16
# with the same conversions (round to nearest even).
set(CMAKE_CXX_FLAGS_INIT "-D_Float16=__fp16")
if(DEFINED ENV{RWKV_AARCH64_STAGE})
  string(APPEND CMAKE_CXX_FLAGS_INIT " -isystem $ENV{RWKV_AARCH64_STAGE}/include")
endif()
