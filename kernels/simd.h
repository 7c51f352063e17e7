// simd.h - the portable vector layer (xsimd) the element-wise kernels are
// written in once and compiled per ISA. A kernel template takes the xsimd
// architecture as parameter `A`; each ISA file (wkv_avx2.cpp, ...) is compiled
// with its own -m flags and instantiates the template for its architecture.
#pragma once

// GCC 12's own AVX-512 headers trip -Wmaybe-uninitialized once xsimd inlines
// them (their _mm512_undefined_* idiom, GCC PR 105593); nothing here is
// uninitialised.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <xsimd/xsimd.hpp>

template <class A>
using vfloat = xsimd::batch<float, A>;

template <class A>
static inline vfloat<A> vload(const float* p) {
    return vfloat<A>::load_unaligned(p);
}

template <class A>
static inline void vstore(float* p, const vfloat<A>& v) {
    v.store_unaligned(p);
}

template <class A>
static inline vfloat<A> vsplat(float x) {
    return vfloat<A>(x);
}

template <class A>
static inline float vsum(const vfloat<A>& v) {
    return xsimd::hadd(v);
}
