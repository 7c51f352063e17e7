// matmul_avx512.cpp - placeholder while the avx512 matmul kernels are written.
#include "kernels.h"

void matmul_fill_avx512(Kernels*) {}
