// test_quantize.cpp - the block quantizers (kernels/ggml_quantize.cpp) against
// the dequantizers (kernels/ggml_blocks.h): each type's round-trip error on
// Gaussian rows with outliers, bounded near what it measures; values already
// on a type's grid come back exactly; every block is quantized on its own
// (a NaN, an inf or a zero block changes no other block's bytes); tiny and
// zero blocks give finite values.
//
// That the bytes are ggml's own is tests/test_quantize_llamacpp.py's check
// (every type, against files llama-quantize wrote).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "../kernels/ggml_blocks.h"
#include "../kernels/ggml_quantize.h"
#include "../src/gguf.h"

namespace {

struct TypeCase {
    uint32_t type;
    void (*quantize)(const float*, void*, int64_t);
    void (*dequantize)(const void*, float*, int64_t);
    int64_t block;
    double rms_bound;  // relative RMS error, Gaussian rows with 1% outliers
};

// The bounds are 1.1x the measured relative RMS error (printed by
// the test) of each type on these rows.
const TypeCase kCases[] = {
    {GGML_TYPE_Q4_1, quantize_row_q4_1_ref, dequant_row<block_q4_1>, 32, 0.106},
    {GGML_TYPE_Q5_0, quantize_row_q5_0_ref, dequant_row<block_q5_0>, 32, 0.078},
    {GGML_TYPE_Q5_1, quantize_row_q5_1_ref, dequant_row<block_q5_1>, 32, 0.051},
    {GGML_TYPE_IQ4_NL, quantize_row_iq4_nl_ref, dequant_row<block_iq4_nl>, 32, 0.117},
    {GGML_TYPE_Q2_K, quantize_row_q2_K_ref, dequant_row<block_q2_K>, 256, 0.361},
    {GGML_TYPE_Q3_K, quantize_row_q3_K_ref, dequant_row<block_q3_K>, 256, 0.207},
    {GGML_TYPE_Q4_K, quantize_row_q4_K_ref, dequant_row<block_q4_K>, 256, 0.100},
    {GGML_TYPE_Q5_K, quantize_row_q5_K_ref, dequant_row<block_q5_K>, 256, 0.050},
    {GGML_TYPE_Q6_K, quantize_row_q6_K_ref, dequant_row<block_q6_K>, 256, 0.029},
    {GGML_TYPE_IQ4_XS, quantize_row_iq4_xs_ref, dequant_row<block_iq4_xs>, 256, 0.119},
};

std::vector<float> gaussian_rows(int64_t n, uint32_t seed) {
    std::mt19937 g(seed);
    std::normal_distribution<float> d(0.0f, 0.02f);
    std::vector<float> x((size_t)n);
    for (float& v : x) v = d(g);
    for (int64_t i = 0; i < n; i += 101) x[(size_t)i] *= 8.0f;  // outliers, as trained weights have
    return x;
}

std::vector<float> round_trip(const TypeCase& c, const std::vector<float>& x) {
    const int64_t n = (int64_t)x.size();
    std::vector<uint8_t> q((size_t)ggml_row_size(c.type, n));
    std::vector<float> y((size_t)n);
    c.quantize(x.data(), q.data(), n);
    c.dequantize(q.data(), y.data(), n);
    return y;
}

std::vector<uint8_t> bytes_of(const TypeCase& c, const std::vector<float>& x) {
    std::vector<uint8_t> q((size_t)ggml_row_size(c.type, (int64_t)x.size()));
    c.quantize(x.data(), q.data(), (int64_t)x.size());
    return q;
}

TEST(Quantize, RoundTripError) {
    const std::vector<float> x = gaussian_rows(256 * 64, 7);
    for (const TypeCase& c : kCases) {
        const std::vector<float> y = round_trip(c, x);
        double err = 0, norm = 0;
        for (size_t i = 0; i < x.size(); i++) {
            err += (double)(y[i] - x[i]) * (y[i] - x[i]);
            norm += (double)x[i] * x[i];
        }
        const double rel = std::sqrt(err / norm);
        printf("  %-6s relative RMS error %.4f (bound %.3f)\n", ggml_type_name(c.type), rel, c.rms_bound);
        EXPECT_LE(rel, c.rms_bound) << ggml_type_name(c.type);
        EXPECT_GE(rel, c.rms_bound / 2) << ggml_type_name(c.type) << ": the bound is loose; measure again";
    }
}

// Values a type can hold exactly come back exactly: its search finds the
// scale that makes the error zero.
TEST(Quantize, ValuesOnTheGridAreExact) {
    std::mt19937 g(3);
    for (const TypeCase& c : kCases) {
        const int64_t n = 256 * 4;
        std::vector<float> x((size_t)n);
        for (int64_t b = 0; b < n / 32; b++)
            for (int j = 0; j < 32; j++) {
                // an exact scale (a power of two), every level of the type used in each block
                const float d = std::ldexp(1.0f, -(int)(b % 5) - 6);
                const int q = (int)(g() % 16);
                float v;
                switch (c.type) {
                    case GGML_TYPE_IQ4_NL:
                    case GGML_TYPE_IQ4_XS: v = d * (float)kIq4nl[j < 16 ? j : q]; break;
                    case GGML_TYPE_Q4_1: v = d * (float)(j < 16 ? j : q); break;
                    case GGML_TYPE_Q5_1: v = d * (float)(j < 32 ? j : q); break;
                    case GGML_TYPE_Q5_0: v = d * (float)(j - 16); break;
                    default: v = 0; break;
                }
                x[(size_t)(b * 32 + j)] = v;
            }
        switch (c.type) {
            case GGML_TYPE_IQ4_NL:
            case GGML_TYPE_IQ4_XS:
            case GGML_TYPE_Q4_1:
            case GGML_TYPE_Q5_1:
            case GGML_TYPE_Q5_0: break;
            default: continue;  // the K-quants' sub-block scales are searched, not exact
        }
        const std::vector<float> y = round_trip(c, x);
        for (size_t i = 0; i < x.size(); i++) ASSERT_EQ(y[i], x[i]) << ggml_type_name(c.type) << " element " << i;
    }
}

// A block's bytes depend on that block alone: NaN, inf, zeros and huge
// values in block 0 leave block 1's bytes as they are without them; tiny
// and zero blocks dequantize to finite values.
TEST(Quantize, BlocksAreIndependentAndFinite) {
    for (const TypeCase& c : kCases) {
        const int64_t bs = c.block;
        const std::vector<float> base = gaussian_rows(2 * bs, 9);
        const std::vector<uint8_t> ref = bytes_of(c, base);
        const size_t block_bytes = ref.size() / 2;
        const float specials[] = {NAN, INFINITY, -INFINITY, 0.0f, 1e30f, 1e-30f};
        for (float s : specials) {
            std::vector<float> x = base;
            x[3] = s;
            const std::vector<uint8_t> q = bytes_of(c, x);
            EXPECT_TRUE(std::equal(q.begin() + block_bytes, q.end(), ref.begin() + block_bytes))
                << ggml_type_name(c.type) << ": block 1 changed with " << s << " in block 0";
        }
        for (float v : {0.0f, 1e-30f, -3e-20f}) {
            std::vector<float> x((size_t)bs, v);
            x[1] = 0.0f;
            for (float y : round_trip(c, x)) {
                ASSERT_TRUE(std::isfinite(y)) << ggml_type_name(c.type) << " block of " << v;
                ASSERT_LE(std::fabs(y), 1e-19f) << ggml_type_name(c.type) << " block of " << v;
            }
        }
    }
}

}  // namespace
