// ggml_quantize.cpp - see ggml_quantize.h.
//
// Each function computes what ggml's quantizer computes (ggml-quants.c, the
// path llama-quantize takes without an importance matrix), in the same float32
// operations in the same order: every search below compares float sums, so
// one different rounding can pick another scale and change a block's bytes.
// This file is compiled with -ffp-contract=off (no fused multiply-adds, as
// ggml's own build on a baseline x86-64 target has none), and the rounding to
// integers is ggml's own trick (nearest_int), not lrintf.
//
// Float-to-integer casts that C leaves undefined outside the target range
// (a NaN or huge weight) are defined here (to_int); for finite weights in
// range they give ggml's bytes.
#include "ggml_quantize.h"

#include <cfloat>
#include <cmath>
#include <cstring>

#include "ggml_blocks.h"

namespace {

// C's float-to-int truncation, defined for every input: NaN -> 0, clamped to
// int32's range (x86's cvttss2si gives INT32_MIN there; no finite weight in
// a block's range gets near it).
inline int to_int(float v) {
    if (!(v == v)) return 0;
    if (v >= 2147483648.0f) return INT32_MAX;
    if (v <= -2147483648.0f) return INT32_MIN;
    return (int)v;
}

inline int clamp_int(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

// The value of largest magnitude in x (the first of equals), sign kept: the
// signed types map it to their most negative level.
inline float largest_magnitude(const float* x, int n) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > amax) amax = fabsf(x[i]), max = x[i];
    return max;
}

// Below this, ggml treats a group's largest magnitude as zero.
constexpr float kGroupMaxEps = 1e-15f;

// ---- 32-element blocks: one scale (and offset) from the block's range -------

// Q4_1 / Q5_1: d = (max - min) / (2^bits - 1), m = min, q = (x - min) / d + 0.5
// truncated. ggml caps Q4_1's q at 15 and not Q5_1's; for finite weights
// neither can exceed its top level, so only the casts differ.
template <int kMax>
inline void range_block(const float* x, uint16_t* d16, uint16_t* m16, uint8_t q[32]) {
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < 32; j++) {
        if (x[j] < min) min = x[j];
        if (x[j] > max) max = x[j];
    }
    const float d = (max - min) / (float)kMax;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    *d16 = f32_to_f16(d);
    *m16 = f32_to_f16(min);
    for (int j = 0; j < 32; j++) {
        const int v = to_int((x[j] - min) * id + 0.5f);
        if (kMax == 15) {
            const int v8 = (int8_t)v;  // ggml: MIN(15, (int8_t)v)
            q[j] = (uint8_t)(v8 < 15 ? v8 : 15);
        } else {
            q[j] = (uint8_t)v;  // ggml: (uint8_t)v
        }
    }
}

// Q5_0 (like Q4_0 in matmul_scalar.cpp): d = (the value of largest magnitude)
// / -16, so that value maps to q = 0 exactly; q = x / d + 16.5 truncated, at most 31.
inline void signed_block_q5(const float* x, uint16_t* d16, uint8_t q[32]) {
    const float d = largest_magnitude(x, 32) / -16.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    *d16 = f32_to_f16(d);
    for (int j = 0; j < 32; j++) {
        const int v = (int8_t)to_int(x[j] * id + 16.5f);
        q[j] = (uint8_t)(v < 31 ? v : 31);
    }
}

// Elements j and j + 16 share byte j (low, high nibble); Q5's fifth bits
// go to bit j of qh.
inline void pack_nibbles32(const uint8_t q[32], uint8_t qs[16]) {
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((q[j] & 15) | ((q[j + 16] & 15) << 4));
}

inline void pack_fifth_bits(const uint8_t q[32], uint8_t qh[4]) {
    uint32_t h = 0;
    for (int j = 0; j < 32; j++) h |= (uint32_t)((q[j] >> 4) & 1) << j;
    memcpy(qh, &h, 4);
}

// ---- the K-quants' searches for a group's scale (and offset) ---------------

// ggml's make_qkx2_quants: the scale and offset (min <= 0) of n values on the
// grid 0..nmax that minimize the weighted error (absolute with use_mad,
// squared otherwise). Starting from the range's own scale, it tries nstep + 1
// grid stretches, each solved by weighted least squares, keeping the best.
// Note `min` moves to each better fit and the next stretch rounds against it.
float fit_scale_min(int n, int nmax, const float* x, const float* w, uint8_t* L, float* neg_min, float rmin,
                    float rdelta, int nstep, bool use_mad) {
    uint8_t Laux[32];
    float min = x[0], max = x[0];
    float sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        for (int i = 0; i < n; i++) L[i] = 0;
        *neg_min = -min;
        return 0.0f;
    }
    auto error = [&](float scale, float offset, const uint8_t* q) {
        float e = 0;
        for (int i = 0; i < n; i++) {
            float diff = scale * (float)q[i] + offset - x[i];
            diff = use_mad ? fabsf(diff) : diff * diff;
            e += w[i] * diff;
        }
        return e;
    };
    float iscale = (float)nmax / (max - min);
    float scale = 1 / iscale;
    for (int i = 0; i < n; i++) L[i] = (uint8_t)clamp_int(nearest_int(iscale * (x[i] - min)), 0, nmax);
    float best_error = error(scale, min, L);
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * (float)is + (float)nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            const int l = clamp_int(nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * (float)l;
            sum_l2 += w[i] * (float)l * (float)l;
            sum_xl += w[i] * (float)l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            const float cur_error = error(this_scale, this_min, Laux);
            if (cur_error < best_error) {
                memcpy(L, Laux, (size_t)n);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *neg_min = -min;
    return scale;
}

// ggml's make_q3_quants (with its rmse refinement): a signed scale for 16
// values on -nmax..nmax-1, weights x^2; then up to five passes moving single
// quants to where the least-squares scale gains. L = q + nmax.
float fit_scale_q3(int n, int nmax, const float* x, int8_t* L) {
    const float max = largest_magnitude(x, n);
    if (fabsf(max) < kGroupMaxEps) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.0f;
    }
    const float iscale = (float)-nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        const int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)l;
        const float w = x[i] * x[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)l * (float)l;
    }
    for (int itry = 0; itry < 5; itry++) {
        int n_changed = 0;
        for (int i = 0; i < n; i++) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * (float)L[i];
            if (slx > 0) {
                float sl2 = suml2 - w * (float)L[i] * (float)L[i];
                const int new_l = clamp_int(nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
                if (new_l != L[i]) {
                    slx += w * x[i] * (float)new_l;
                    sl2 += w * (float)new_l * (float)new_l;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed++;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// ggml's make_qx_quants with weights x^2 (rmse_type 1, no importance): the
// signed scale for n values on -nmax..nmax-1, best of 19 grid stretches by
// weighted least squares. L = q + nmax.
float fit_scale_qx(int n, int nmax, const float* x, int8_t* L) {
    const float max = largest_magnitude(x, n);
    if (fabsf(max) < kGroupMaxEps) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.0f;
    }
    auto sums = [&](float iscale, float* sumlx, float* suml2) {
        *sumlx = *suml2 = 0;
        for (int i = 0; i < n; i++) {
            const int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
            const float w = x[i] * x[i];
            *sumlx += w * x[i] * (float)l;
            *suml2 += w * (float)l * (float)l;
        }
    };
    auto assign = [&](float iscale) {
        for (int i = 0; i < n; i++) L[i] = (int8_t)(nmax + clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1));
    };
    float iscale = (float)-nmax / max;
    float sumlx, suml2;
    sums(iscale, &sumlx, &suml2);
    assign(iscale);
    float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -((float)nmax + 0.1f * (float)is) / max;
        sums(iscale, &sumlx, &suml2);
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            assign(iscale);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

// Q3_K and Q6_K: the 16 sub-block scales of a super-block, fitted by `fit`
// (L = q + nmax), and the one of largest magnitude, sign kept.
float fit_signed_scales(const float* x, int nmax, float (*fit)(int, int, const float*, int8_t*), int8_t L[QK_K],
                        float scale[16]) {
    for (int j = 0; j < 16; j++) scale[j] = fit(16, nmax, x + 16 * j, L + 16 * j);
    return largest_magnitude(scale, 16);
}

// Q3_K and Q6_K: the quants again, against the stored scales d * sc[j]
// (a sub-block whose scale rounds to zero keeps the fit's quants).
void requantize_signed(const float* x, float d, const int8_t sc[16], int nmax, int8_t L[QK_K]) {
    for (int j = 0; j < 16; j++) {
        const float dj = d * (float)sc[j];
        if (dj == 0.0f) continue;
        for (int i = 0; i < 16; i++)
            L[16 * j + i] = (int8_t)(clamp_int(nearest_int(x[16 * j + i] / dj), -nmax, nmax - 1) + nmax);
    }
}

// The 2-bit planes of Q2_K and Q3_K: in each 128-element half, byte l holds
// elements l, l + 32, l + 64, l + 96 in bits 0-1, 2-3, 4-5, 6-7.
template <class T>
inline void pack_2bit_planes(const T* L, uint8_t* qs) {
    for (int h = 0; h < QK_K; h += 128)
        for (int l = 0; l < 32; l++)
            qs[h / 4 + l] = (uint8_t)(L[h + l] | (L[h + l + 32] << 2) | (L[h + l + 64] << 4) | (L[h + l + 96] << 6));
}

// Q4_K / Q5_K: the eight 6-bit scales and offsets into 12 bytes (the inverse
// of kquant_scale_min in ggml_blocks.h).
inline void pack_scale_min_k4(int j, uint8_t ls, uint8_t lm, uint8_t* s) {
    if (j < 4) {
        s[j] = ls;
        s[j + 4] = lm;
    } else {
        s[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
        s[j - 4] |= (uint8_t)((ls >> 4) << 6);
        s[j] |= (uint8_t)((lm >> 4) << 6);
    }
}

// Q4_K and Q5_K (nmax 15 or 31): per sub-block of 32, fit a scale and offset
// (weights: the sub-block's rms plus |x|), store both as 6-bit multiples of
// the super-block's d and dmin, then requantize against the stored values.
template <int kNmax>
void quantize_k4_superblock(const float* x, uint16_t* d16, uint16_t* dmin16, uint8_t scales[12], uint8_t L[QK_K]) {
    float scale[8], neg_min[8], weights[32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        const float* xs = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += xs[l] * xs[l];
        const float av_x = sqrtf(sum_x2 / 32.0f);
        for (int l = 0; l < 32; l++) weights[l] = av_x + fabsf(xs[l]);
        scale[j] = kNmax == 15 ? fit_scale_min(32, 15, xs, weights, L + 32 * j, &neg_min[j], -1.0f, 0.1f, 20, false)
                               : fit_scale_min(32, 31, xs, weights, L + 32 * j, &neg_min[j], -0.5f, 0.1f, 15, false);
        if (scale[j] > max_scale) max_scale = scale[j];
        if (neg_min[j] > max_min) max_min = neg_min[j];
    }
    const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
    for (int j = 0; j < 8; j++) {
        uint8_t ls = (uint8_t)nearest_int(inv_scale * scale[j]);
        uint8_t lm = (uint8_t)nearest_int(inv_min * neg_min[j]);
        pack_scale_min_k4(j, ls < 63 ? ls : 63, lm < 63 ? lm : 63, scales);
    }
    *d16 = f32_to_f16(max_scale / 63.0f);
    *dmin16 = f32_to_f16(max_min / 63.0f);
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        kquant_scale_min(j, scales, &sc, &m);
        const float d = f16_to_f32(*d16) * (float)sc;
        if (d == 0.0f) continue;  // the sub-block keeps the fit's quants
        const float dm = f16_to_f32(*dmin16) * (float)m;
        for (int i = 0; i < 32; i++) L[32 * j + i] = (uint8_t)clamp_int(nearest_int((x[32 * j + i] + dm) / d), 0, kNmax);
    }
}

// Q4_K / Q5_K low nibbles: each 64-element run is 32 bytes, element l in the
// low nibble of byte l, element l + 32 in its high nibble.
inline void pack_k4_nibbles(const uint8_t L[QK_K], uint8_t* qs) {
    for (int r = 0; r < QK_K; r += 64)
        for (int l = 0; l < 32; l++) qs[r / 2 + l] = (uint8_t)((L[r + l] & 15) | ((L[r + l + 32] & 15) << 4));
}

// ---- IQ4_NL / IQ4_XS: the non-linear grid -----------------------------------

// The grid index nearest to x, ties to the upper level, as ggml's
// best_index_int8 decides it: x is compared with each midpoint between two
// levels, exactly (2x against their integer sum). An older ggml compared the
// two distances in float, which can differ within an ulp of a midpoint; on
// the reference files both give llama-quantize's bytes.
// mid2[j]: twice the midpoint between levels j - 1 and j. A bisection finds
// the last one at or below 2x (the grid is sorted).
struct Iq4Midpoints {
    float mid2[16];
    Iq4Midpoints() {
        mid2[0] = 0;
        for (int j = 1; j < 16; j++) mid2[j] = (float)(kIq4nl[j - 1] + kIq4nl[j]);
    }
};
const Iq4Midpoints kIq4Mid;

inline int best_index_iq4(float x) {
    const float x2 = x + x;
    int idx = 0;
    for (int step = 8; step > 0; step >>= 1)
        if (x2 >= kIq4Mid.mid2[idx + step]) idx += step;
    return idx;
}

// ggml's quantize_row_iq4_nl_impl without an importance matrix, ntry = 7 (the
// path of quantize_iq4_nl / quantize_iq4_xs): per 32 values a signed scale,
// the best of 16 (15 grid stretches and the range's own) by weighted least
// squares, weights x^2. IQ4_XS (n = 256) then stores each scale as a 6-bit
// multiple of the super-block's d and requantizes against it; IQ4_NL (n = 32)
// stores its one scale as d and requantizes against that.
void quantize_iq4_superblock(const float* x, int n, uint16_t* d16, uint16_t* scales_h, uint8_t* scales_l,
                             uint8_t* qs) {
    const int kNtry = 7;
    uint8_t L[QK_K];
    float scales[QK_K / 32], weight[32];
    for (int ib = 0; ib < n / 32; ib++) {
        const float* xb = x + 32 * ib;
        uint8_t* Lb = L + 32 * ib;
        for (int j = 0; j < 32; j++) weight[j] = xb[j] * xb[j];
        const float max = largest_magnitude(xb, 32);
        if (fabsf(max) < kGroupMaxEps) {
            scales[ib] = 0;
            memset(Lb, 0, 32);
            continue;
        }
        auto fit = [&](float id, float* sumqx, float* sumq2) {
            *sumqx = *sumq2 = 0;
            for (int j = 0; j < 32; j++) {
                const float q = (float)kIq4nl[best_index_iq4(id * xb[j])];
                *sumqx += weight[j] * q * xb[j];
                *sumq2 += weight[j] * q * q;
            }
        };
        float sumqx, sumq2;
        fit(1 / (-max / (float)kIq4nl[0]), &sumqx, &sumq2);
        float d = sumqx / sumq2;
        float best = d * sumqx;
        for (int itry = -kNtry; itry <= kNtry; itry++) {
            fit((float)(itry + kIq4nl[0]) / max, &sumqx, &sumq2);
            if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                d = sumqx / sumq2;
                best = d * sumqx;
            }
        }
        scales[ib] = d;
    }
    if (n > 32) {
        *scales_h = 0;
        const float d = -largest_magnitude(scales, n / 32) / 32.0f;
        *d16 = f32_to_f16(d);
        const float id = d != 0.0f ? 1 / d : 0.0f;
        for (int ib = 0; ib < n / 32; ib++) {
            int l = clamp_int(nearest_int(id * scales[ib]), -32, 31);
            const float dl = d * (float)l;
            const float idl = dl != 0.0f ? 1 / dl : 0.0f;
            for (int j = 0; j < 32; j++) L[32 * ib + j] = (uint8_t)best_index_iq4(idl * x[32 * ib + j]);
            l += 32;
            if (ib % 2 == 0) scales_l[ib / 2] = (uint8_t)(l & 0xF);
            else scales_l[ib / 2] |= (uint8_t)((l & 0xF) << 4);
            *scales_h |= (uint16_t)((l >> 4) << (2 * (ib % 8)));
        }
    } else {
        *d16 = f32_to_f16(scales[0]);
        const float id = scales[0] != 0.0f ? 1 / scales[0] : 0.0f;
        for (int j = 0; j < 32; j++) L[j] = (uint8_t)best_index_iq4(id * x[j]);
    }
    for (int i = 0; i < n / 32; i++) pack_nibbles32(L + 32 * i, qs + 16 * i);
}

}  // namespace

// ---- the row quantizers ------------------------------------------------------

void quantize_row_q4_1_ref(const float* src, void* dst, int64_t n) {
    block_q4_1* y = (block_q4_1*)dst;
    uint8_t q[32];
    for (int64_t b = 0; b < n / 32; b++) {
        range_block<15>(src + 32 * b, &y[b].d, &y[b].m, q);
        pack_nibbles32(q, y[b].qs);
    }
}

void quantize_row_q5_0_ref(const float* src, void* dst, int64_t n) {
    block_q5_0* y = (block_q5_0*)dst;
    uint8_t q[32];
    for (int64_t b = 0; b < n / 32; b++) {
        signed_block_q5(src + 32 * b, &y[b].d, q);
        pack_nibbles32(q, y[b].qs);
        pack_fifth_bits(q, y[b].qh);
    }
}

void quantize_row_q5_1_ref(const float* src, void* dst, int64_t n) {
    block_q5_1* y = (block_q5_1*)dst;
    uint8_t q[32];
    for (int64_t b = 0; b < n / 32; b++) {
        range_block<31>(src + 32 * b, &y[b].d, &y[b].m, q);
        pack_nibbles32(q, y[b].qs);
        pack_fifth_bits(q, y[b].qh);
    }
}

// Q2_K: per 16 values a scale and offset on 0..3 (weights |x|, absolute
// error), each stored as a 4-bit multiple of the super-block's d / dmin.
void quantize_row_q2_K_ref(const float* src, void* dst, int64_t n) {
    block_q2_K* y = (block_q2_K*)dst;
    const float q4scale = 15.0f;
    uint8_t L[QK_K];
    float scale[16], neg_min[16], weights[16];
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float* x = src + b * QK_K;
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < 16; j++) {
            for (int l = 0; l < 16; l++) weights[l] = fabsf(x[16 * j + l]);
            scale[j] = fit_scale_min(16, 3, x + 16 * j, weights, L + 16 * j, &neg_min[j], -0.5f, 0.1f, 15, true);
            if (scale[j] > max_scale) max_scale = scale[j];
            if (neg_min[j] > max_min) max_min = neg_min[j];
        }
        if (max_scale > 0) {
            const float iscale = q4scale / max_scale;
            for (int j = 0; j < 16; j++) y[b].scales[j] = (uint8_t)nearest_int(iscale * scale[j]);
            y[b].d = f32_to_f16(max_scale / q4scale);
        } else {
            memset(y[b].scales, 0, 16);
            y[b].d = f32_to_f16(0.0f);
        }
        if (max_min > 0) {
            const float iscale = q4scale / max_min;
            for (int j = 0; j < 16; j++) y[b].scales[j] |= (uint8_t)(nearest_int(iscale * neg_min[j]) << 4);
            y[b].dmin = f32_to_f16(max_min / q4scale);
        } else {
            y[b].dmin = f32_to_f16(0.0f);
        }
        for (int j = 0; j < 16; j++) {
            const float d = f16_to_f32(y[b].d) * (float)(y[b].scales[j] & 0xF);
            if (d == 0.0f) continue;
            const float dm = f16_to_f32(y[b].dmin) * (float)(y[b].scales[j] >> 4);
            for (int i = 0; i < 16; i++) L[16 * j + i] = (uint8_t)clamp_int(nearest_int((x[16 * j + i] + dm) / d), 0, 3);
        }
        pack_2bit_planes(L, y[b].qs);
    }
}

// Q3_K: per 16 values a signed scale on -4..3, stored as a 6-bit multiple
// (biased by 32) of the super-block's d; the third bit of each quant goes to
// hmask (bit k of hmask[m] for element 32k + m).
void quantize_row_q3_K_ref(const float* src, void* dst, int64_t n) {
    block_q3_K* y = (block_q3_K*)dst;
    int8_t L[QK_K];
    float scale[16];
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float* x = src + b * QK_K;
        const float max_scale = fit_signed_scales(x, 4, fit_scale_q3, L, scale);
        memset(y[b].scales, 0, 12);
        if (max_scale != 0.0f) {
            const float iscale = -32.0f / max_scale;
            for (int j = 0; j < 16; j++) {
                const int8_t l0 = (int8_t)nearest_int(iscale * scale[j]);  // ggml keeps it in an int8_t first
                const int l = clamp_int(l0, -32, 31) + 32;
                if (j < 8) y[b].scales[j] = (uint8_t)(l & 0xF);
                else y[b].scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
                y[b].scales[j % 4 + 8] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
            }
            y[b].d = f32_to_f16(1 / iscale);
        } else {
            y[b].d = f32_to_f16(0.0f);
        }
        int8_t sc[16];
        q3k_scales(y[b].scales, sc);
        requantize_signed(x, f16_to_f32(y[b].d), sc, 4, L);
        memset(y[b].hmask, 0, QK_K / 8);
        for (int j = 0; j < QK_K; j++)
            if (L[j] > 3) {
                y[b].hmask[j % 32] |= (uint8_t)(1u << (j / 32));
                L[j] = (int8_t)(L[j] - 4);
            }
        pack_2bit_planes(L, y[b].qs);
    }
}

// Q4_K and Q5_K: the same fit (quantize_k4_superblock); Q5_K stores the
// fifth bit of element l of run r as bit 2r (low half) or 2r + 1 of qh[l].
template <class Block, int kNmax>
void quantize_row_k4(const float* src, void* dst, int64_t n) {
    Block* y = (Block*)dst;
    uint8_t L[QK_K];
    for (int64_t b = 0; b < n / QK_K; b++) {
        quantize_k4_superblock<kNmax>(src + b * QK_K, &y[b].d, &y[b].dmin, y[b].scales, L);
        pack_k4_nibbles(L, y[b].qs);
        if constexpr (kNmax == 31) {
            memset(y[b].qh, 0, QK_K / 8);
            for (int r = 0; r < 4; r++)
                for (int l = 0; l < 32; l++) {
                    y[b].qh[l] |= (uint8_t)(((L[64 * r + l] >> 4) & 1) << (2 * r));
                    y[b].qh[l] |= (uint8_t)(((L[64 * r + 32 + l] >> 4) & 1) << (2 * r + 1));
                }
        }
    }
}

void quantize_row_q4_K_ref(const float* src, void* dst, int64_t n) { quantize_row_k4<block_q4_K, 15>(src, dst, n); }
void quantize_row_q5_K_ref(const float* src, void* dst, int64_t n) { quantize_row_k4<block_q5_K, 31>(src, dst, n); }

// Q6_K: per 16 values a signed scale on -32..31, stored as an int8 multiple
// of the super-block's d (the largest scale maps to -128).
void quantize_row_q6_K_ref(const float* src, void* dst, int64_t n) {
    block_q6_K* y = (block_q6_K*)dst;
    int8_t L[QK_K];
    float scale[16];
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float* x = src + b * QK_K;
        const float max_scale = fit_signed_scales(x, 32, fit_scale_qx, L, scale);
        if (fabsf(max_scale) < kGroupMaxEps) {
            memset(&y[b], 0, sizeof(y[b]));
            continue;
        }
        const float iscale = -128.0f / max_scale;
        y[b].d = f32_to_f16(1 / iscale);
        for (int ib = 0; ib < 16; ib++) {
            const int s = nearest_int(iscale * scale[ib]);
            y[b].scales[ib] = (int8_t)(s < 127 ? s : 127);
        }
        requantize_signed(x, f16_to_f32(y[b].d), y[b].scales, 32, L);
        // per 128-element half: ql bytes l and l + 32 hold elements (l, l + 64)
        // and (l + 32, l + 96) as nibbles; qh byte l their top two bits
        for (int h = 0; h < 2; h++) {
            const int8_t* Lh = L + 128 * h;
            uint8_t* ql = y[b].ql + 64 * h;
            uint8_t* qh = y[b].qh + 32 * h;
            for (int l = 0; l < 32; l++) {
                ql[l] = (uint8_t)((Lh[l] & 0xF) | ((Lh[l + 64] & 0xF) << 4));
                ql[l + 32] = (uint8_t)((Lh[l + 32] & 0xF) | ((Lh[l + 96] & 0xF) << 4));
                qh[l] = (uint8_t)((Lh[l] >> 4) | ((Lh[l + 32] >> 4) << 2) | ((Lh[l + 64] >> 4) << 4) |
                                  ((Lh[l + 96] >> 4) << 6));
            }
        }
    }
}

void quantize_row_iq4_nl_ref(const float* src, void* dst, int64_t n) {
    block_iq4_nl* y = (block_iq4_nl*)dst;
    uint16_t unused_h;
    for (int64_t b = 0; b < n / 32; b++) quantize_iq4_superblock(src + 32 * b, 32, &y[b].d, &unused_h, nullptr, y[b].qs);
}

void quantize_row_iq4_xs_ref(const float* src, void* dst, int64_t n) {
    block_iq4_xs* y = (block_iq4_xs*)dst;
    for (int64_t b = 0; b < n / QK_K; b++)
        quantize_iq4_superblock(src + b * QK_K, QK_K, &y[b].d, &y[b].scales_h, y[b].scales_l, y[b].qs);
}
