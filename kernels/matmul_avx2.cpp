// matmul_avx2.cpp - placeholder while the avx2 matmul kernels are written.
#include "kernels.h"

void matmul_fill_avx2(Kernels*) {}
