// half.h - IEEE half (F16) and bfloat16 (BF16) to float32, in plain C.
// Weights may be stored in 16 bits; activations never are (see kernels.h).
#pragma once

#include <cstdint>
#include <cstring>

static inline float f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline uint32_t f32_to_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

// bfloat16 is the top half of a float32.
static inline float bf16_to_f32(uint16_t h) { return f32_from_bits((uint32_t)h << 16); }

// Round to nearest even (used by tests and the quantizer, never on activations).
static inline uint16_t f32_to_bf16(float f) {
    uint32_t u = f32_to_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);  // quiet NaN
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

// F16: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits.
static inline float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0x1f) return f32_from_bits(sign | 0x7f800000u | (man << 13));  // inf, nan
    if (exp == 0) {
        if (man == 0) return f32_from_bits(sign);  // signed zero
        // subnormal: man * 2^-24
        float f = (float)man * (1.0f / 16777216.0f);
        return sign ? -f : f;
    }
    return f32_from_bits(sign | ((exp + 112u) << 23) | (man << 13));
}

// Round to nearest even, with overflow to inf and gradual underflow.
static inline uint16_t f32_to_f16(float f) {
    uint32_t u = f32_to_bits(f);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t au = u & 0x7fffffffu;
    if (au > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);             // nan
    if (au >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);            // overflow -> inf
    if (au < 0x38800000u) {                                              // subnormal or zero
        float a = f32_from_bits(au) * 16777216.0f;                       // in units of 2^-24
        uint32_t m = (uint32_t)a;
        float rem = a - (float)m;
        if (rem > 0.5f || (rem == 0.5f && (m & 1u))) m++;
        return (uint16_t)(sign | m);
    }
    uint32_t exp = (au >> 23) - 112u;
    uint32_t man = au & 0x7fffffu;
    uint32_t h = (exp << 10) | (man >> 13);
    uint32_t rest = man & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++;
    return (uint16_t)(sign | h);
}
