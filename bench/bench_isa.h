// bench_isa.h - the kernel tables of every ISA path this CPU runs, for the
// micro-benchmarks (each registers one benchmark per kernel and path).
#pragma once

#include <string>
#include <vector>

#include "../kernels/kernels.h"

struct BenchIsa {
    std::string name;
    Kernels k;
};

// Filled once; the addresses stay valid (benchmarks keep pointers to them).
// Leaves `kern` at the best path.
inline const std::vector<BenchIsa>& bench_isas() {
    static std::vector<BenchIsa> isas;
    if (isas.empty()) {
        int n = 0;
        const char* const* names = kernels_isa_available(&n);
        isas.resize((size_t)n);
        for (int i = 0; i < n; i++) {
            kernels_init(names[i]);
            isas[(size_t)i] = {names[i], kern};
        }
        kernels_init(nullptr);
    }
    return isas;
}
