// test_matmul.cpp - every SIMD matmul path this CPU runs against the scalar
// reference (tests/test_kernels.cpp checks the scalar kernels against the
// math), plus the quantizers and the GGML block layouts.
//
//   float weights (F32, F16, BF16): within float32 reassociation of the scalar sum
//   quantized (Q8_0, Q4_0):         the same bits as scalar (these kernels form the
//                                   exact int32 block dot and sum blocks in the
//                                   scalar order)
//   every path, every type:         the bits of Y[t][o] do not depend on the row
//                                   range, on how it is split, nor on pointer alignment
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <iomanip>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "../kernels/half.h"
#include "../kernels/kernels.h"
#include "../kernels/q16k.h"
#include "../kernels/quant.h"

namespace {

struct Isa {
    std::string name;
    Kernels k;
};

// One table per instruction set this CPU runs (scalar first).
const std::vector<Isa>& isas() {
    static std::vector<Isa> v;
    if (v.empty()) {
        int n = 0;
        const char* const* names = kernels_isa_available(&n);
        for (int i = 0; i < n; i++) {
            kernels_init(names[i]);
            v.push_back({names[i], kern});
        }
        kernels_init(nullptr);
    }
    return v;
}

const Kernels& scalar() {
    static Kernels k;
    static bool done = false;
    if (!done) kernels_fill_scalar(&k), done = true;
    return k;
}

// The block types of ggml_blocks.h: float32 activations, weights dequantized in the kernel.
const uint32_t kBlockTypes[] = {GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_IQ4_NL, GGML_TYPE_Q2_K,
                                GGML_TYPE_Q3_K, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K, GGML_TYPE_IQ4_XS};
const uint32_t kTypes[] = {GGML_TYPE_F32,    GGML_TYPE_F16,  GGML_TYPE_BF16, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0,
                           GGML_TYPE_Q4_1,   GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_IQ4_NL, GGML_TYPE_Q2_K,
                           GGML_TYPE_Q3_K,   GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K, GGML_TYPE_IQ4_XS};

// Types whose products take Q8_0 activations and are exact per block: the same bits on every path.
bool is_quant(uint32_t type) { return type == GGML_TYPE_Q8_0 || type == GGML_TYPE_Q4_0; }
// The K-quants whose default product takes Q16_K activations (q16k.h).
bool is_kq16(uint32_t type) {
    return type == GGML_TYPE_Q4_K || type == GGML_TYPE_Q5_K || type == GGML_TYPE_Q6_K || type == GGML_TYPE_IQ4_XS;
}
bool is_block(uint32_t type) {
    for (uint32_t t : kBlockTypes)
        if (t == type) return true;
    return false;
}
int64_t block_of(uint32_t type) {
    return type == GGML_TYPE_Q2_K || type == GGML_TYPE_Q3_K || type == GGML_TYPE_Q4_K || type == GGML_TYPE_Q5_K ||
                   type == GGML_TYPE_Q6_K || type == GGML_TYPE_IQ4_XS
               ? 256
           : is_quant(type) || is_block(type) ? 32
                                              : 1;
}
// A row length for a type: n rounded up to whole blocks.
int64_t n_for(uint32_t type, int64_t n) { return (n + block_of(type) - 1) / block_of(type) * block_of(type); }

std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.0f) {
    std::mt19937 g(seed);
    std::normal_distribution<float> d(0.0f, scale);
    std::vector<float> v(n);
    for (float& x : v) x = d(g);
    return v;
}

// Where a block type keeps its IEEE-half scales (byte offsets in a block).
std::vector<int> half_fields(uint32_t type) {
    switch (type) {
        case GGML_TYPE_Q4_1: case GGML_TYPE_Q5_1: case GGML_TYPE_Q4_K: case GGML_TYPE_Q5_K: return {0, 2};
        case GGML_TYPE_Q5_0: case GGML_TYPE_IQ4_NL: case GGML_TYPE_IQ4_XS: return {0};
        case GGML_TYPE_Q2_K: return {80, 82};
        case GGML_TYPE_Q3_K: return {108};
        case GGML_TYPE_Q6_K: return {208};
        default: return {};
    }
}

// rows x n weights of a block type as random bits (every quant, scale and
// high-bit pattern occurs), with random finite scales, row 1 all zero and
// row 2 a hundred times larger: what the layouts hold, independently of
// any quantizer.
std::vector<uint8_t> random_blocks(uint32_t type, int64_t rows, int64_t n, uint32_t seed) {
    const uint64_t rb = ggml_row_size(type, n), bb = ggml_row_size(type, block_of(type));
    std::vector<uint8_t> out((size_t)(rb * (uint64_t)rows));
    std::mt19937 g(seed);
    for (uint8_t& b : out) b = (uint8_t)g();
    std::normal_distribution<float> d(0.0f, 0.02f / std::sqrt((float)n));
    for (int64_t r = 0; r < rows; r++)
        for (uint64_t b = 0; b < rb / bb; b++)
            for (int at : half_fields(type)) {
                const uint16_t h = f32_to_f16(d(g) * (r == 2 ? 100.0f : 1.0f));
                memcpy(out.data() + r * rb + b * bb + at, &h, 2);
            }
    if (rows > 1) memset(out.data() + rb, 0, (size_t)rb);
    return out;
}

// rows x n floats converted to `type` with the scalar quantizers.
std::vector<uint8_t> to_type(uint32_t type, const std::vector<float>& f, int64_t rows, int64_t n) {
    const uint64_t rb = kernels_row_bytes(type, n);
    std::vector<uint8_t> out((size_t)(rb * (uint64_t)rows));
    for (int64_t r = 0; r < rows; r++) {
        if (type == GGML_TYPE_F32) {
            if (rb) memcpy(out.data() + r * rb, f.data() + r * n, rb);  // n may be 0 (empty vectors)
        }
        else
            scalar().quantize_row[type](f.data() + r * n, out.data() + r * rb, n);
    }
    return out;
}

// A weight matrix and T activation rows in the format the kernel takes.
struct Problem {
    uint32_t type;
    int64_t n_in, n_out, T;
    std::vector<float> wf, xf;
    std::vector<uint8_t> w, x;  // weights in `type`; activations in act_type[type]
};

Problem make_problem(uint32_t type, int64_t n_in, int64_t n_out, int64_t T, uint32_t seed) {
    Problem p{type, n_in, n_out, T, {}, {}, {}, {}};
    p.wf = randn((size_t)(n_in * n_out), seed, 1.0f / std::sqrt((float)n_in));
    p.xf = randn((size_t)(n_in * T), seed + 1000);
    // a few rows with a much larger scale, and an all-zero row
    for (int64_t i = 0; i < n_in; i++) {
        if (n_out > 2) p.wf[(size_t)(2 * n_in + i)] *= 100.0f;
        if (n_out > 1) p.wf[(size_t)(1 * n_in + i)] = 0.0f;
    }
    p.w = is_block(type) ? random_blocks(type, n_out, n_in, seed) : to_type(type, p.wf, n_out, n_in);
    p.x = to_type(scalar().act_type[type], p.xf, T, n_in);
    return p;
}

// Y = NaN, then the kernel over each consecutive range given by `cuts`.
std::vector<float> run(const Kernels& k, const Problem& p, const std::vector<int64_t>& cuts, const void* w = nullptr,
                       const void* x = nullptr, float* y = nullptr) {
    std::vector<float> Y((size_t)(p.T * p.n_out), NAN);
    float* out = y ? y : Y.data();
    if (y) std::fill(y, y + p.T * p.n_out, NAN);
    int64_t r0 = 0;
    for (size_t i = 0; i <= cuts.size(); i++) {
        const int64_t r1 = i < cuts.size() ? std::min(cuts[i], p.n_out) : p.n_out;
        if (r1 > r0) k.matmul[p.type](w ? w : p.w.data(), p.n_in, p.n_out, r0, r1, x ? x : p.x.data(), p.T, out);
        r0 = std::max(r0, r1);
    }
    if (y) Y.assign(y, y + p.T * p.n_out);
    return Y;
}

// Float weights: a path's output may differ from scalar's by reassociating the
// float32 sum, within kReassocTol x sum_i |w_i x_i|. Measured 1.8e-7 (AVX2 and
// AVX-512, n_in up to 257) and 9.4e-8 (n_in 2100); bound = 3.3x.
const double kReassocTol = 6e-7;

// sum_i |w_i x_i| for output (t, o), from the values the kernel sees: the scale
// of the rounding error of any summation order.
double abs_dot(const Kernels& s, const Problem& p, int64_t t, int64_t o) {
    std::vector<float> w((size_t)p.n_in), x((size_t)p.n_in);
    const uint32_t at = s.act_type[p.type];
    s.row_to_f32[p.type](p.w.data() + (uint64_t)o * ggml_row_size(p.type, p.n_in), w.data(), p.n_in);
    s.row_to_f32[at](p.x.data() + (uint64_t)t * kernels_row_bytes(at, p.n_in), x.data(), p.n_in);
    double a = 0;
    for (int64_t i = 0; i < p.n_in; i++) a += std::fabs((double)w[(size_t)i] * x[(size_t)i]);
    return a;
}

std::string describe(const std::string& isa, const Problem& p) {
    return isa + " " + ggml_type_name(p.type) + " n_in=" + std::to_string(p.n_in) +
           " n_out=" + std::to_string(p.n_out) + " T=" + std::to_string(p.T);
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b, size_t* first) {
    for (size_t i = 0; i < a.size(); i++)
        if (f32_to_bits(a[i]) != f32_to_bits(b[i])) {
            *first = i;
            return false;
        }
    return true;
}

}  // namespace

TEST(MatmulIsa, TablesAreComplete) {
    for (const Isa& isa : isas()) {
        for (uint32_t t : kTypes) {
            EXPECT_NE(isa.k.matmul[t], nullptr) << isa.name << " " << ggml_type_name(t);
            EXPECT_NE(isa.k.row_to_f32[t], nullptr) << isa.name << " " << ggml_type_name(t);
            EXPECT_EQ(isa.k.act_type[t], is_quant(t) ? (uint32_t)GGML_TYPE_Q8_0
                                         : is_kq16(t) ? (uint32_t)KTYPE_Q16_K
                                                      : (uint32_t)GGML_TYPE_F32)
                << isa.name << " " << ggml_type_name(t);
        }
        for (uint32_t t : {GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0})
            EXPECT_NE(isa.k.quantize_row[t], nullptr) << isa.name << " " << ggml_type_name(t);
        for (uint32_t t = GGML_TYPE_COUNT; t < KTYPE_LAYOUTS_END; t++) {  // every path runs every layout
            EXPECT_NE(isa.k.matmul[t], nullptr) << isa.name << " layout " << t;
            EXPECT_EQ(isa.k.act_type[t], (uint32_t)GGML_TYPE_Q8_0) << isa.name << " layout " << t;
        }
    }
}

TEST(MatmulIsa, MatchesScalar) {
    const int64_t float_n_in[] = {0, 1, 7, 16, 33, 257};
    const int64_t quant_n_in[] = {32, 64, 96, 288};
    const int64_t n_outs[] = {1, 3, 17, 64, 100};
    const int64_t Ts[] = {1, 2, 3, 5, 16, 33};
    uint32_t seed = 1;
    std::map<std::string, double> worst_ratio;  // per path: max |diff| / tol over every case
    for (uint32_t type : kTypes) {
        std::vector<int64_t> n_ins(std::begin(float_n_in), std::end(float_n_in));
        if (block_of(type) == 32) n_ins.assign(std::begin(quant_n_in), std::end(quant_n_in));
        if (block_of(type) == 256) n_ins = {256, 512, 768};
        for (int64_t n_in : n_ins) {
            for (int64_t n_out : n_outs) {
                for (int64_t T : Ts) {
                    const Problem p = make_problem(type, n_in, n_out, T, seed++);
                    const std::vector<float> ref = run(scalar(), p, {});
                    for (const Isa& isa : isas()) {
                        // a split inside a tile, as no pool would do, on top of the full range
                        const std::vector<float> Y = run(isa.k, p, {n_out / 3});
                        double max_diff = 0, max_ratio = 0;
                        size_t worst = 0;
                        for (int64_t t = 0; t < T; t++)
                            for (int64_t o = 0; o < n_out; o++) {
                                const size_t i = (size_t)(t * n_out + o);
                                const double diff = std::fabs((double)Y[i] - ref[i]);
                                const double tol = is_quant(type) ? 0.0 : kReassocTol * abs_dot(scalar(), p, t, o) + 1e-30;
                                if (std::isnan(Y[i]) || diff > max_diff) max_diff = std::isnan(Y[i]) ? INFINITY : diff;
                                const double ratio = std::isnan(Y[i]) ? INFINITY
                                                     : tol > 0        ? diff / tol
                                                     : diff > 0       ? INFINITY
                                                                      : 0.0;
                                if (!(ratio <= max_ratio)) max_ratio = ratio, worst = i;
                            }
                        worst_ratio[isa.name] = std::max(worst_ratio[isa.name], max_ratio);
                        EXPECT_LE(max_ratio, 1.0) << std::setprecision(9) << describe(isa.name, p)
                                                  << ": max |diff| " << max_diff
                                                  << ", worst at " << worst << ": " << Y[worst] << " vs scalar "
                                                  << ref[worst];
                    }
                }
            }
        }
    }
    for (const auto& [name, r] : worst_ratio)
        printf("[ measure  ] %s vs scalar, float weights: max |diff| / sum |w x| = %.3g (bound %.2g)\n", name.c_str(),
               r * kReassocTol, kReassocTol);
}

// Long rows (K cut into passes), more activation rows than one chunk and
// more weight rows than one block: the blocked GEMM paths against scalar.
TEST(MatmulIsa, LargeShapesMatchScalar) {
    std::map<std::string, double> worst_ratio;  // per path: max |diff| / tol, float weights
    for (uint32_t type : kTypes) {
        const int64_t n_in = block_of(type) > 1 ? n_for(type, 1088) : 2100, n_out = 131, T = 53;
        const Problem p = make_problem(type, n_in, n_out, T, 99);
        const std::vector<float> ref = run(scalar(), p, {});
        for (const Isa& isa : isas()) {
            const std::vector<float> Y = run(isa.k, p, {64});
            for (int64_t t = 0; t < T; t++)
                for (int64_t o = 0; o < n_out; o++) {
                    const size_t i = (size_t)(t * n_out + o);
                    const double tol = is_quant(type) ? 0.0 : kReassocTol * abs_dot(scalar(), p, t, o);
                    ASSERT_LE(std::fabs((double)Y[i] - ref[i]), tol)
                        << std::setprecision(9) << describe(isa.name, p) << " at t=" << t << " o=" << o << ": "
                        << Y[i] << " vs scalar " << ref[i];
                    if (tol > 0) worst_ratio[isa.name] = std::max(worst_ratio[isa.name], std::fabs((double)Y[i] - ref[i]) / tol);
                }
        }
    }
    for (const auto& [name, r] : worst_ratio)
        printf("[ measure  ] %s vs scalar, long rows: max |diff| / sum |w x| = %.3g (bound %.2g)\n", name.c_str(),
               r * kReassocTol, kReassocTol);
}

// Not required by the contract, but true of every path here: an output does
// not depend on T either (the same lanes, the same order, whether K is done in
// one pass or several), so prompt processing and generation agree bit for bit.
TEST(MatmulIsa, OutputsDoNotDependOnT) {
    for (const Isa& isa : isas()) {
        for (uint32_t type : kTypes) {
            const int64_t n_in = block_of(type) > 1 ? n_for(type, 2200) : 2100, n_out = 70, T = 50;
            const Problem p = make_problem(type, n_in, n_out, T, 123);
            const std::vector<float> all = run(isa.k, p, {});
            const uint64_t xrow = kernels_row_bytes(isa.k.act_type[type], n_in);
            for (int64_t t = 0; t < T; t += 7) {
                std::vector<float> y((size_t)n_out, NAN);
                isa.k.matmul[type](p.w.data(), n_in, n_out, 0, n_out, p.x.data() + (uint64_t)t * xrow, 1, y.data());
                for (int64_t o = 0; o < n_out; o++)
                    ASSERT_EQ(f32_to_bits(y[(size_t)o]), f32_to_bits(all[(size_t)(t * n_out + o)]))
                        << describe(isa.name, p) << " row t=" << t << " alone vs in T=" << T << ", o=" << o;
            }
        }
    }
}

TEST(MatmulIsa, RowSplitDoesNotChangeBits) {
    for (const Isa& isa : isas()) {
        for (uint32_t type : kTypes) {
            for (int64_t T : {1, 3, 5, 16, 33, 50}) {
                const int64_t n_in = block_of(type) == 1 ? (T == 50 ? 2100 : 75) : n_for(type, T == 50 ? 1088 : 160);
                const int64_t n_out = T == 50 ? 131 : 71;
                const Problem p = make_problem(type, n_in, n_out, T, 77);
                const std::vector<float> full = run(isa.k, p, {});
                std::vector<int64_t> each;
                for (int64_t o = 1; o < n_out; o++) each.push_back(o);
                // as a pool splits (multiples of 16), mid-tile, and row by row
                const std::vector<std::vector<int64_t>> splits = {{16}, {32}, {48}, {16, 32, 48, 64}, {5, 21, 22},
                                                                  each};
                for (const auto& cuts : splits) {
                    size_t at = 0;
                    const std::vector<float> Y = run(isa.k, p, cuts);
                    const std::string how = cuts.size() > 6 ? "every row" : "row " + std::to_string(cuts[0]) + "...";
                    EXPECT_TRUE(same_bits(full, Y, &at)) << describe(isa.name, p) << " split at " << how << ": output "
                                                         << at << " = " << Y[at] << " vs " << full[at] << " unsplit";
                }
            }
        }
    }
}

TEST(MatmulIsa, UnalignedPointersDoNotChangeBits) {
    for (const Isa& isa : isas()) {
        for (uint32_t type : kTypes) {
            for (int64_t T : {1, 7}) {
                const int64_t n_in = block_of(type) > 1 ? n_for(type, 96) : 45, n_out = 37;
                const Problem p = make_problem(type, n_in, n_out, T, 5);
                const std::vector<float> ref = run(isa.k, p, {});
                // F32: 4 bytes past a 64-byte boundary; F16/BF16 and the 2-byte blocks: 2 bytes
                const size_t wo = type == GGML_TYPE_F32 ? 4 : 2, xo = is_quant(type) ? 2 : 4;
                std::vector<uint8_t> wbuf(p.w.size() + 128), xbuf(p.x.size() + 128);
                std::vector<float> ybuf((size_t)(T * n_out) + 32);
                uint8_t* w = wbuf.data() + (64 - (uintptr_t)wbuf.data() % 64) + wo;
                uint8_t* x = xbuf.data() + (64 - (uintptr_t)xbuf.data() % 64) + xo;
                float* y = ybuf.data() + (16 - ((uintptr_t)ybuf.data() / 4) % 16) + 1;
                memcpy(w, p.w.data(), p.w.size());
                memcpy(x, p.x.data(), p.x.size());
                size_t at = 0;
                const std::vector<float> Y = run(isa.k, p, {16}, w, x, y);
                EXPECT_TRUE(same_bits(ref, Y, &at)) << describe(isa.name, p) << ": output " << at;
            }
        }
    }
}

// The block types (matmul_dequant.h), and Q8_0 / Q4_0 with float32
// activations: on every path, bit for bit the path's own F32 product of the
// matrix the scalar dequantizer gives - token mode, sequence mode, K cut
// into passes or not.
TEST(MatmulIsa, BlockTypesAreTheF32ProductOfTheirDequantizedWeights) {
    std::vector<uint32_t> types(std::begin(kBlockTypes), std::end(kBlockTypes));
    types.push_back(GGML_TYPE_Q8_0);
    types.push_back(GGML_TYPE_Q4_0);
    for (const Isa& isa : isas()) {
        for (uint32_t type : types) {
            const MatmulFn fn = isa.k.matmul_f32_act[type];
            ASSERT_NE(fn, nullptr) << isa.name << " " << ggml_type_name(type);
            for (int64_t T : {1, 5, 50}) {
                const int64_t n_in = n_for(type, T == 50 ? 2200 : 300), n_out = 37;
                const std::vector<uint8_t> w = is_quant(type) ? make_problem(type, n_in, n_out, 1, 7).w
                                                              : random_blocks(type, n_out, n_in, 7);
                const std::vector<float> x = randn((size_t)(n_in * T), 8);
                std::vector<float> wf((size_t)(n_in * n_out));
                const uint64_t rb = ggml_row_size(type, n_in);
                for (int64_t o = 0; o < n_out; o++)
                    scalar().row_to_f32[type](w.data() + o * rb, wf.data() + o * n_in, n_in);
                std::vector<float> want((size_t)(T * n_out), NAN), got((size_t)(T * n_out), NAN);
                isa.k.matmul[GGML_TYPE_F32](wf.data(), n_in, n_out, 0, n_out, x.data(), T, want.data());
                fn(w.data(), n_in, n_out, 0, 20, x.data(), T, got.data());
                fn(w.data(), n_in, n_out, 20, n_out, x.data(), T, got.data());
                size_t at = 0;
                EXPECT_TRUE(same_bits(want, got, &at))
                    << isa.name << " " << ggml_type_name(type) << " n_in=" << n_in << " T=" << T << ": output " << at
                    << " = " << got[at] << " vs F32 " << want[at];
            }
        }
    }
}

// Q4_K, Q5_K, Q6_K with integer activations (kquant_x86.h): Q8_K (--act
// int8) and Q16_K (the default, --act int16). Every path gives the scalar
// kernel's bits (exact integers, the same float terms in the same order),
// for token and sequence mode, past one chunk of activation rows (kRowsT),
// and however the rows are split.
struct IntAct {
    const char* name;
    uint32_t act;
    std::vector<uint32_t> types;
};
const IntAct kIntActs[] = {{"int8", GGML_TYPE_Q8_K, {GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K}},
                           {"int16", KTYPE_Q16_K, {GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K, GGML_TYPE_IQ4_XS}}};
MatmulFn int_act_fn(const Kernels& k, const IntAct& a, uint32_t type) {
    return a.act == GGML_TYPE_Q8_K ? k.matmul_int8_act[type] : k.matmul_int16_act[type];
}

TEST(MatmulIsa, IntegerActivationKQuantsMatchScalar) {
    for (const IntAct& a : kIntActs)
        for (uint32_t type : a.types) {
            for (int64_t T : {1, 3, 33, 70}) {
                const int64_t n_in = 768, n_out = 37;
                const std::vector<uint8_t> w = random_blocks(type, n_out, n_in, 11);
                const std::vector<float> xf = randn((size_t)(n_in * T), 12);
                const std::vector<uint8_t> x = to_type(a.act, xf, T, n_in);
                std::vector<float> want((size_t)(T * n_out), NAN);
                int_act_fn(scalar(), a, type)(w.data(), n_in, n_out, 0, n_out, x.data(), T, want.data());
                for (const Isa& isa : isas()) {
                    ASSERT_NE(int_act_fn(isa.k, a, type), nullptr) << isa.name;
                    std::vector<float> got((size_t)(T * n_out), NAN);
                    for (int64_t r0 : {0, 5, 21})
                        int_act_fn(isa.k, a, type)(w.data(), n_in, n_out, r0, r0 == 0 ? 5 : r0 == 5 ? 21 : n_out,
                                                   x.data(), T, got.data());
                    size_t at = 0;
                    EXPECT_TRUE(same_bits(want, got, &at))
                        << isa.name << " " << a.name << " " << ggml_type_name(type) << " T=" << T << ": output " << at
                        << " = " << got[at] << " vs " << want[at];
                }
            }
        }
}

// The integer K-quant products are the float products of the dequantized
// weights and activations, up to float32 rounding: pinned here against a
// double sum of the dequantized values.
TEST(Matmul, IntegerActivationKQuantsAreTheirDotProducts) {
    for (const IntAct& a : kIntActs)
        for (uint32_t type : a.types) {
            const int64_t n_in = 512, n_out = 9, T = 2;
            const std::vector<uint8_t> w = random_blocks(type, n_out, n_in, 3);
            const std::vector<float> xf = randn((size_t)(n_in * T), 4);
            const std::vector<uint8_t> x = to_type(a.act, xf, T, n_in);
            std::vector<float> xd((size_t)(n_in * T)), wd((size_t)n_in);
            for (int64_t t = 0; t < T; t++)
                scalar().row_to_f32[a.act](x.data() + t * kernels_row_bytes(a.act, n_in), xd.data() + t * n_in, n_in);
            std::vector<float> got((size_t)(T * n_out));
            int_act_fn(scalar(), a, type)(w.data(), n_in, n_out, 0, n_out, x.data(), T, got.data());
            for (int64_t o = 0; o < n_out; o++) {
                scalar().row_to_f32[type](w.data() + o * ggml_row_size(type, n_in), wd.data(), n_in);
                for (int64_t t = 0; t < T; t++) {
                    double want = 0, mag = 0;
                    for (int64_t i = 0; i < n_in; i++)
                        want += (double)wd[(size_t)i] * xd[(size_t)(t * n_in + i)],
                            mag += std::fabs((double)wd[(size_t)i] * xd[(size_t)(t * n_in + i)]);
                    // measured 1.5e-8 x mag with Q8_K (the block sums in float); bound = 3.3x
                    EXPECT_NEAR(got[(size_t)(t * n_out + o)], want, 5e-8 * mag + 1e-30)
                        << a.name << " " << ggml_type_name(type) << " o=" << o << " t=" << t;
                }
            }
        }
}

// The largest integers a Q16_K product can meet - every weight at its type's
// largest scaled magnitude, every activation at +-16383 with one sign - stay
// exact in the eight int32 lanes on every path (15-bit activations leave
// Q6_K's lane, 32 x 4096 x 16383, just under 2^31).
TEST(MatmulIsa, Q16KExtremesDoNotOverflow) {
    const int64_t n_in = 512, n_out = 3;
    for (uint32_t type : {GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K, GGML_TYPE_IQ4_XS}) {
        const uint64_t rb = ggml_row_size(type, n_in), bb = ggml_row_size(type, 256);
        // all bits set: Q4_K / Q5_K q = 15 / 31 with sc = m = 63; Q6_K's scales are then -1,
        // so Q6_K gets q = 0 (all quant bits clear: q - 32 = -32) and scales -128 instead;
        // IQ4_XS all clear: grid value -127, scale 0 - 32
        const bool clear = type == GGML_TYPE_Q6_K || type == GGML_TYPE_IQ4_XS;
        std::vector<uint8_t> w((size_t)(rb * n_out), clear ? 0x00 : 0xFF);
        for (int64_t b = 0; b < n_in / 256 * n_out; b++) {
            uint8_t* blk = w.data() + b * bb;
            const uint16_t one = f32_to_f16(1.0f);
            for (int at : half_fields(type)) memcpy(blk + at, &one, 2);
            if (type == GGML_TYPE_Q4_K || type == GGML_TYPE_Q5_K) memset(blk + 2, 0, 2);  // dmin = 0: S alone
            if (type == GGML_TYPE_Q6_K) memset(blk + 192, 0x80, 16);                      // scales -128
        }
        for (float sign : {1.0f, -1.0f}) {
            const std::vector<float> xf((size_t)n_in, sign);
            const std::vector<uint8_t> x = to_type(KTYPE_Q16_K, xf, 1, n_in);
            std::vector<float> wd((size_t)n_in), xd((size_t)n_in);
            scalar().row_to_f32[KTYPE_Q16_K](x.data(), xd.data(), n_in);
            scalar().row_to_f32[type](w.data(), wd.data(), n_in);
            double want = 0;
            for (int64_t i = 0; i < n_in; i++) want += (double)wd[(size_t)i] * xd[(size_t)i];
            for (const Isa& isa : isas()) {
                std::vector<float> y((size_t)n_out, NAN);
                isa.k.matmul_int16_act[type](w.data(), n_in, n_out, 0, n_out, x.data(), 1, y.data());
                for (int64_t o = 0; o < n_out; o++)
                    EXPECT_NEAR(y[(size_t)o], want, 1e-6 * std::fabs(want))
                        << isa.name << " " << ggml_type_name(type) << " sign " << sign;
            }
        }
    }
}

// Q16_K rounding: each value within half a step (amax / 16383 / 2) of x,
// the largest magnitude exactly +-16383 steps; an all-zero block stays zero;
// NaN or inf in a block makes its products non-finite, as Q8_0's do.
TEST(Matmul, Q16KQuantization) {
    const int64_t n = 512;
    std::vector<float> x = randn((size_t)n, 21);
    for (int64_t i = 256; i < n; i++) x[(size_t)i] = 0.0f;  // the second block all zero
    x[7] = -5.0f;                                          // the first block's largest magnitude
    const std::vector<uint8_t> q = to_type(KTYPE_Q16_K, x, 1, n);
    const block_q16_K* b = (const block_q16_K*)q.data();
    EXPECT_EQ(b[0].v[7], -kQ16Max);
    EXPECT_EQ(b[0].d, 5.0f / (float)kQ16Max);
    std::vector<float> back((size_t)n);
    scalar().row_to_f32[KTYPE_Q16_K](q.data(), back.data(), n);
    for (int64_t i = 0; i < n; i++) EXPECT_LE(std::fabs(back[(size_t)i] - x[(size_t)i]), 0.5001f * b[0].d) << i;
    for (int j = 0; j < 8; j++) {
        int32_t sum = 0;
        for (int l = 0; l < 32; l++) sum += b[0].v[32 * j + l];
        EXPECT_EQ(b[0].sums[j], sum) << j;
        EXPECT_EQ(b[1].sums[j], 0) << j;
    }
    for (float bad : {NAN, INFINITY}) {
        std::vector<float> xb = x;
        xb[3] = bad;
        const std::vector<uint8_t> qb = to_type(KTYPE_Q16_K, xb, 1, n);
        const std::vector<uint8_t> w = random_blocks(GGML_TYPE_Q6_K, 1, n, 5);
        float y = 0.0f;
        for (const Isa& isa : isas()) {
            isa.k.matmul_int16_act[GGML_TYPE_Q6_K](w.data(), n, 1, 0, 1, qb.data(), 1, &y);
            EXPECT_FALSE(std::isfinite(y)) << isa.name << " " << bad;
        }
    }
}

// --act f32: Q8_0 and Q4_0 take float32 activations, unrepacked; the
// default and --act int16: the K-quants take Q16_K rows; --act int8: Q8_K
// rows; other names are refused.
TEST(MatmulIsa, F32ActivationsOption) {
    int n = 0;
    const char* const* names = kernels_isa_available(&n);
    for (int i = 0; i < n; i++) {
        kernels_init(names[i], "f32");
        for (uint32_t t : {GGML_TYPE_Q8_0, GGML_TYPE_Q4_0}) {
            EXPECT_EQ(kern.act_type[t], (uint32_t)GGML_TYPE_F32) << names[i];
            EXPECT_EQ(kern.matmul[t], kern.matmul_f32_act[t]) << names[i];
            EXPECT_EQ(kern.repack[t], nullptr) << names[i];
        }
        kernels_init(names[i], "auto");
        EXPECT_EQ(kern.act_type[GGML_TYPE_Q8_0], (uint32_t)GGML_TYPE_Q8_0) << names[i];
        for (uint32_t t : {GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K, GGML_TYPE_IQ4_XS}) {
            EXPECT_EQ(kern.act_type[t], (uint32_t)KTYPE_Q16_K) << names[i];
            EXPECT_EQ(kern.matmul[t], kern.matmul_int16_act[t]) << names[i];
        }
        EXPECT_EQ(kern.act_type[GGML_TYPE_Q3_K], (uint32_t)GGML_TYPE_F32) << names[i];
        kernels_init(names[i], "f32");
        EXPECT_EQ(kern.act_type[GGML_TYPE_Q4_K], (uint32_t)GGML_TYPE_F32) << names[i];
        kernels_init(names[i], "int16");
        EXPECT_EQ(kern.act_type[GGML_TYPE_Q6_K], (uint32_t)KTYPE_Q16_K) << names[i];
        EXPECT_EQ(kern.act_type[GGML_TYPE_Q8_0], (uint32_t)GGML_TYPE_Q8_0) << names[i];
        kernels_init(names[i], "auto");
        const RepackFn auto_repack = kern.repack[GGML_TYPE_Q8_0];  // the path's own layout, if it has one
        kernels_init(names[i], "int8");
        for (uint32_t t : {GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K}) {
            EXPECT_EQ(kern.act_type[t], (uint32_t)GGML_TYPE_Q8_K) << names[i];
            EXPECT_EQ(kern.matmul[t], kern.matmul_int8_act[t]) << names[i];
        }
        EXPECT_EQ(kern.act_type[GGML_TYPE_Q4_1], (uint32_t)GGML_TYPE_F32) << names[i] << ": no integer product";
        EXPECT_EQ(kern.repack[GGML_TYPE_Q8_0], auto_repack) << names[i] << ": int8 keeps the int8 layouts";
    }
    EXPECT_THROW(kernels_init(nullptr, "q4"), std::exception);
    kernels_init(nullptr);
}

// A path's own weight layout (kernels.h, repack; a --no-mmap model's
// quantized matrices): rearranged in place, run with the layout's kernel,
// it gives the scalar kernel's bits on the file's layout - for row counts
// with and without a partial last group of 16, token and sequence mode, any
// row split (a pool's, mid-group, row by row), a group-aligned buffer or not.
TEST(MatmulIsa, RepackedLayoutsMatchScalar) {
    int checked = 0;
    for (const Isa& isa : isas()) {
        for (uint32_t type : {GGML_TYPE_Q8_0, GGML_TYPE_Q4_0}) {
            if (!isa.k.repack[type]) continue;
            uint32_t seed = 300;
            for (int64_t n_in : {32, 96, 1088})
                for (int64_t n_out : {16, 37, 64, 131})
                    for (int64_t T : {1, 3, 17}) {
                        const Problem p = make_problem(type, n_in, n_out, T, seed++);
                        const std::vector<float> ref = run(scalar(), p, {});
                        std::vector<uint8_t> buf(p.w.size() + 64);
                        uint8_t* w = buf.data() + (64 - (uintptr_t)buf.data() % 64) % 64 + (T == 3 ? 2 : 0);
                        memcpy(w, p.w.data(), p.w.size());
                        const uint32_t kt = isa.k.repack[type](w, n_in, n_out);
                        ASSERT_TRUE(kt >= GGML_TYPE_COUNT && kt < KTYPE_LAYOUTS_END && isa.k.matmul[kt])
                            << isa.name << " " << ggml_type_name(type) << ": repack returned type " << kt;
                        ASSERT_EQ(isa.k.act_type[kt], isa.k.act_type[type]) << isa.name;
                        if (n_out >= 16) {
                            EXPECT_NE(memcmp(w, p.w.data(), p.w.size()), 0)
                                << describe(isa.name, p) << ": the repack left the bytes as they were";
                        }
                        Problem r = p;
                        r.type = kt;
                        std::vector<int64_t> each;
                        for (int64_t o = 1; o < n_out; o++) each.push_back(o);
                        // the scalar table runs every layout too (a model repacked for one
                        // path, then kernels_init for another)
                        {
                            size_t at = 0;
                            ASSERT_NE(scalar().matmul[kt], nullptr) << "scalar table lacks layout " << kt;
                            const std::vector<float> Y = run(scalar(), r, {n_out / 3}, w);
                            EXPECT_TRUE(same_bits(ref, Y, &at))
                                << describe(isa.name, p) << " repacked, scalar kernel: output " << at;
                        }
                        for (const std::vector<int64_t>& cuts :
                             std::vector<std::vector<int64_t>>{{}, {16}, {5, 21, 22}, {n_out / 3}, each}) {
                            size_t at = 0;
                            const std::vector<float> Y = run(isa.k, r, cuts, w);
                            EXPECT_TRUE(same_bits(ref, Y, &at))
                                << describe(isa.name, p) << " repacked, " << cuts.size() << " cuts: output " << at
                                << " (t=" << at / (size_t)n_out << ", o=" << at % (size_t)n_out << ") = " << Y[at]
                                << " vs scalar " << ref[at];
                            checked++;
                        }
                        // a range that starts and ends inside groups writes its rows and no others
                        const int64_t r0 = std::min<int64_t>(5, n_out), r1 = std::min<int64_t>(21, n_out);
                        std::vector<float> Y((size_t)(T * n_out), NAN);
                        isa.k.matmul[kt](w, n_in, n_out, r0, r1, p.x.data(), T, Y.data());
                        for (int64_t t = 0; t < T; t++)
                            for (int64_t o = 0; o < n_out; o++) {
                                const float y = Y[(size_t)(t * n_out + o)];
                                const bool inside = o >= r0 && o < r1;
                                ASSERT_TRUE(inside ? f32_to_bits(y) == f32_to_bits(ref[(size_t)(t * n_out + o)])
                                                   : std::isnan(y))
                                    << describe(isa.name, p) << " repacked, rows [" << r0 << ", " << r1
                                    << ") alone: output t=" << t << " o=" << o << " = " << y;
                            }
                    }
        }
    }
    if (checked == 0) GTEST_SKIP() << "no path on this CPU has a layout of its own";
}

TEST(Quantize, Q8_0ActivationsAreIdenticalOnEveryPath) {
    const int64_t n = 32 * 64;
    uint32_t seed = 1;
    for (float scale : {1e-9f, 1e-6f, 1e-2f, 1.0f, 37.0f, 3e4f, 1e7f}) {  // d from fp16 zero and subnormal to inf
        std::vector<float> x = randn((size_t)n, seed++, scale);
        // ties: a block whose amax is 127 has d = 1 and id = 1, so k + 0.5 is a tie
        for (int j = 0; j < 32; j++) x[(size_t)j] = j == 0 ? 127.0f : (float)(j - 16) + 0.5f;
        for (int j = 32; j < 64; j++) x[(size_t)j] = j == 32 ? -127.0f : -(float)(j - 48) - 0.5f;
        for (int j = 64; j < 96; j++) x[(size_t)j] = 0.0f;  // d = 0
        for (int j = 96; j < 128; j++) x[(size_t)j] = j == 96 ? -0.0f : 0.0f;
        std::vector<uint8_t> ref((size_t)ggml_row_size(GGML_TYPE_Q8_0, n));
        scalar().quantize_row[GGML_TYPE_Q8_0](x.data(), ref.data(), n);
        for (const Isa& isa : isas()) {
            std::vector<uint8_t> q(ref.size());
            isa.k.quantize_row[GGML_TYPE_Q8_0](x.data(), q.data(), n);
            for (size_t i = 0; i < q.size(); i++)
                ASSERT_EQ(q[i], ref[i]) << isa.name << " scale " << scale << ": byte " << i << " (block " << i / 34
                                        << ")";
        }
    }
}

// Q16_K rows: every path gives the scalar bytes - over scales from
// subnormal to huge, ties (a block with amax 16383 has id = 1, so k + 0.5 is
// a tie: to even), zero, NaN and infinite blocks.
TEST(Quantize, Q16KIsIdenticalOnEveryPath) {
    const int64_t n = 256 * 8;
    uint32_t seed = 7;
    for (float scale : {1e-30f, 1e-6f, 1.0f, 3e4f, 1e30f}) {
        std::vector<float> x = randn((size_t)n, seed++, scale);
        for (int j = 0; j < 256; j++) x[(size_t)j] = j == 0 ? 16383.0f : (float)(j % 64 - 32) + 0.5f;
        for (int j = 256; j < 512; j++) x[(size_t)j] = 0.0f;
        x[512 + 9] = NAN;
        x[768 + 1] = -INFINITY;
        for (int j = 1024; j < 1280; j++) x[(size_t)j] = j == 1030 ? 1e-40f : 0.0f;  // id = inf
        const std::vector<uint8_t> ref = to_type(KTYPE_Q16_K, x, 1, n);
        for (const Isa& isa : isas()) {
            std::vector<uint8_t> q(ref.size());
            isa.k.quantize_row[KTYPE_Q16_K](x.data(), q.data(), n);
            for (size_t i = 0; i < q.size(); i++)
                ASSERT_EQ(q[i], ref[i]) << isa.name << " scale " << scale << ": byte " << i << " (block "
                                        << i / sizeof(block_q16_K) << ")";
        }
    }
}

// Non-finite and extreme inputs, where ggml's cast to int8_t is undefined: the
// rule (quantize_row_q8_0_scalar) is pinned by hand, and every path gives the
// same bytes.
TEST(Quantize, NonFiniteActivationsAreDefinedAndIdentical) {
    const int nb = 6;
    std::vector<float> x(32 * nb, 1.0f);
    x[3] = NAN;              // block 0: NaN
    x[32 + 7] = INFINITY;    // block 1: +inf
    x[64 + 31] = -INFINITY;  // block 2: -inf
    // block 3: amax subnormal, d rounds to the smallest float, id = 1/d = inf
    for (int j = 0; j < 32; j++) x[(size_t)(96 + j)] = j == 5 ? 1e-40f : 0.0f;
    x[128] = -NAN;  // block 4: NaN with the sign bit, and -inf
    x[129] = -INFINITY;
    for (int j = 0; j < 32; j++) x[(size_t)(160 + j)] = (float)(j - 16) * 1e37f;  // block 5: huge, finite
    std::vector<uint8_t> ref((size_t)ggml_row_size(GGML_TYPE_Q8_0, (int64_t)x.size()));
    scalar().quantize_row[GGML_TYPE_Q8_0](x.data(), ref.data(), (int64_t)x.size());
    const block_q8_0* b = (const block_q8_0*)ref.data();
    for (int k : {0, 1, 2, 4}) {  // d = inf, id = 0: every q is 0
        EXPECT_EQ(b[k].d, 0x7c00) << "block " << k << ": d should be +inf";
        for (int j = 0; j < 32; j++) ASSERT_EQ(b[k].qs[j], 0) << "block " << k << " q" << j;
    }
    EXPECT_EQ(b[3].qs[5], 127) << "subnormal block: x * inf clamps to 127";
    EXPECT_EQ(b[3].qs[0], 0) << "subnormal block: 0 * inf is NaN, quantized to 0";
    EXPECT_EQ(b[5].qs[31], 119);  // 15/16 of 127
    EXPECT_EQ((int8_t)b[5].qs[0], -127);
    for (const Isa& isa : isas()) {
        std::vector<uint8_t> q(ref.size());
        isa.k.quantize_row[GGML_TYPE_Q8_0](x.data(), q.data(), (int64_t)x.size());
        for (size_t i = 0; i < q.size(); i++)
            ASSERT_EQ(q[i], ref[i]) << isa.name << ": byte " << i << " (block " << i / 34 << ")";
    }
    // Q4_0 (scalar only: weights are quantized once, by `rwkv-cli quantize`)
    std::vector<uint8_t> q4((size_t)ggml_row_size(GGML_TYPE_Q4_0, (int64_t)x.size()));
    scalar().quantize_row[GGML_TYPE_Q4_0](x.data(), q4.data(), (int64_t)x.size());
    const block_q4_0* c = (const block_q4_0*)q4.data();
    EXPECT_EQ(c[1].d, 0xfc00) << "+inf block: d = inf / -8";
    EXPECT_EQ(c[1].qs[0], 0x88) << "+inf block: finite values * -0 + 8.5 -> 8";
    EXPECT_EQ(c[1].qs[7] & 0x0f, 0) << "+inf block: inf * -0 is NaN -> 0";
    EXPECT_EQ(c[3].qs[5] & 0x0f, 0) << "subnormal block: 1e-40 * -inf + 8.5 clamps to 0";
}

TEST(Quantize, RoundTripErrorBounds) {
    const int64_t n = 32 * 200;
    std::vector<float> x = randn((size_t)n, 11, 2.0f);
    for (int64_t i = 0; i < n; i += 97) x[(size_t)i] *= 50.0f;  // outliers
    std::vector<float> back((size_t)n);
    for (uint32_t type : {GGML_TYPE_Q8_0, GGML_TYPE_Q4_0}) {
        std::vector<uint8_t> q((size_t)ggml_row_size(type, n));
        scalar().quantize_row[type](x.data(), q.data(), n);
        scalar().row_to_f32[type](q.data(), back.data(), n);
        for (int64_t b = 0; b < n / 32; b++) {
            float amax = 0;
            for (int j = 0; j < 32; j++) amax = std::max(amax, std::fabs(x[(size_t)(b * 32 + j)]));
            // Q8_0: half a step (d = amax/127) plus the half rounding of d over 127 steps;
            // Q4_0: the far side of the range is clamped at 7 of 8 steps, so one step (amax/8)
            const double bound = type == GGML_TYPE_Q8_0 ? amax / 127.0 * (0.5 + 127.0 / 2048) : amax / 8.0 * 1.001;
            for (int j = 0; j < 32; j++) {
                const size_t i = (size_t)(b * 32 + j);
                ASSERT_LE(std::fabs(back[i] - x[i]), bound) << ggml_type_name(type) << " element " << i;
            }
        }
    }
    // 16-bit types: exactly the half.h rounding
    std::vector<uint16_t> h((size_t)n);
    scalar().quantize_row[GGML_TYPE_F16](x.data(), h.data(), n);
    for (int64_t i = 0; i < n; i++) ASSERT_EQ(h[(size_t)i], f32_to_f16(x[(size_t)i]));
    scalar().quantize_row[GGML_TYPE_BF16](x.data(), h.data(), n);
    for (int64_t i = 0; i < n; i++) ASSERT_EQ(h[(size_t)i], f32_to_bf16(x[(size_t)i]));
}

// The layouts, pinned by hand: these bytes are what ggml writes.
TEST(Quantize, HandComputedQ8_0Block) {
    // amax = 127, so d = 1 (half 0x3c00) and q = roundf(x), ties away from zero
    float x[32];
    for (int j = 0; j < 32; j++) x[j] = 0.0f;
    x[0] = 127.0f, x[1] = -127.0f, x[2] = 0.5f, x[3] = -0.5f, x[4] = 1.5f, x[5] = -2.5f, x[6] = 3.49f, x[31] = 100.2f;
    uint8_t got[34];
    scalar().quantize_row[GGML_TYPE_Q8_0](x, got, 32);
    uint8_t want[34] = {0x00, 0x3c, 127, (uint8_t)-127, 1, (uint8_t)-1, 2, (uint8_t)-3, 3};
    want[33] = 100;
    for (int i = 0; i < 34; i++) EXPECT_EQ(got[i], want[i]) << "byte " << i;
    EXPECT_EQ(offsetof(block_q8_0, qs), 2u);
    // and back
    float back[32];
    scalar().row_to_f32[GGML_TYPE_Q8_0](want, back, 32);
    EXPECT_EQ(back[0], 127.0f);
    EXPECT_EQ(back[5], -3.0f);
    EXPECT_EQ(back[31], 100.0f);
    // a Q8_0 row times a Q8_0 row: x_j = j - 16 (d_x = 1)
    uint8_t xq[34] = {0x00, 0x3c};
    double want_dot = 0;
    for (int j = 0; j < 32; j++) xq[2 + j] = (uint8_t)(int8_t)(j - 16), want_dot += (double)back[j] * (j - 16);
    for (const Isa& isa : isas()) {
        float y = NAN;
        isa.k.matmul[GGML_TYPE_Q8_0](want, 32, 1, 0, 1, xq, 1, &y);
        EXPECT_EQ(y, (float)want_dot) << isa.name;
    }
}

TEST(Quantize, HandComputedQ4_0Block) {
    // the element of largest magnitude is -8: d = -8 / -8 = 1 (half 0x3c00),
    // q = min(15, (int8_t)(x + 8.5)); element j in the low nibble of qs[j],
    // element j + 16 in the high nibble
    float x[32];
    for (int j = 0; j < 32; j++) x[j] = 0.0f;  // q = 8
    x[0] = -8.0f;                              // q = 0
    x[16] = 7.9f;                              // 16.4 -> 16 -> clamped to 15
    x[1] = 3.5f;                               // 12
    x[17] = 2.4f;                              // 10.9 -> 10
    x[2] = -0.6f;                              // 7.9 -> 7
    x[18] = -3.0f;                             // 5
    uint8_t got[18];
    scalar().quantize_row[GGML_TYPE_Q4_0](x, got, 32);
    uint8_t want[18] = {0x00, 0x3c, 0xf0, 0xac, 0x57};
    for (int i = 5; i < 18; i++) want[i] = 0x88;
    for (int i = 0; i < 18; i++) EXPECT_EQ(got[i], want[i]) << "byte " << i;
    EXPECT_EQ(offsetof(block_q4_0, qs), 2u);
    float back[32];
    scalar().row_to_f32[GGML_TYPE_Q4_0](want, back, 32);
    EXPECT_EQ(back[0], -8.0f);
    EXPECT_EQ(back[16], 7.0f);
    EXPECT_EQ(back[1], 4.0f);
    EXPECT_EQ(back[17], 2.0f);
    EXPECT_EQ(back[5], 0.0f);
    // a Q4_0 row times a Q8_0 row: sum_j w_j x_j with x_j = j - 16 (d_x = 1)
    uint8_t xq[34] = {0x00, 0x3c};
    double want_dot = 0;
    for (int j = 0; j < 32; j++) xq[2 + j] = (uint8_t)(int8_t)(j - 16), want_dot += (double)back[j] * (j - 16);
    for (const Isa& isa : isas()) {
        float y = NAN;
        isa.k.matmul[GGML_TYPE_Q4_0](want, 32, 1, 0, 1, xq, 1, &y);
        EXPECT_EQ(y, (float)want_dot) << isa.name;
    }
}
