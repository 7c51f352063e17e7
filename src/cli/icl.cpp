// icl.cpp - rwkv-cli icl: the WKV state as a memory that learns in context.
//
// No model is loaded: this runs the engine's own WKV kernels on one head of
// N channels (64, as every RWKV-5/6/7 model), fed a stream of random
// key -> value pairs and then queried with each stored key. It shows what
// RWKV-7's update rule buys over RWKV-5/6's (docs/math.md, "In-context
// learning"):
//
//   RWKV-5/6, additive:    S += k v^T             (kern.wkv6, w = 1, u = 0)
//   RWKV-7, delta rule:    S += a (v - S k) k^T   (kern.wkv7, w = 1, kk = k,
//                                                  write key k*a, rate a)
//
// The RWKV-7 step is one step of gradient descent on |S k - v|^2 / 2 with
// learning rate a: it moves the value stored under k towards v (a = 1
// overwrites it), where the additive rule can only pile values on top of each
// other. Keys are random unit vectors, so no two are orthogonal: each write
// disturbs the others. A query with key q reads y = S q (r = q, nothing
// written). The error of a pair is |y - v|^2 / |v|^2: 0 is perfect recall, 1
// is as bad as answering 0. Decay is off (w = 1) to isolate the update rule.
//
// Three experiments, each averaged over --trials random streams:
//   (a) capacity: n pairs written once (or 20 times), then all queried,
//       against n; with the least-squares limit max(0, 1 - N/n): the best any
//       linear map S can do, since it has rank at most N;
//   (b) learning rate: the same against a, for a few n;
//   (c) overwriting: n pairs written, then the same keys with new values;
//       the new values are queried.
// The table goes to stdout; --csv writes the numbers for
// scripts/plot_icl.py, which draws docs/icl.png.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../../kernels/kernels.h"
#include "../common.h"
#include "cli.h"
#include "options.h"

namespace {

enum Rule { ADDITIVE, DELTA };

// One head's memory and the scratch vectors the kernels take (allocated once).
struct Memory {
    int64_t N;
    std::vector<float> S, zero, one, a, ka, y, u;
};

void memory_init(Memory* m, int64_t N) {
    m->N = N;
    m->S.assign((size_t)(N * N), 0.0f);
    m->zero.assign((size_t)N, 0.0f);
    m->one.assign((size_t)N, 1.0f);
    m->a.assign((size_t)N, 0.0f);
    m->ka.assign((size_t)N, 0.0f);
    m->y.assign((size_t)N, 0.0f);
    m->u.assign((size_t)N, 0.0f);
}

void memory_reset(Memory* m) { std::fill(m->S.begin(), m->S.end(), 0.0f); }

// Write v under the unit key k.
void memory_write(Memory* m, Rule rule, float rate, const float* k, const float* v) {
    const int64_t N = m->N;
    if (rule == ADDITIVE) {
        const Wkv6Fn wkv6 = kern.wkv6;
        wkv6(1, N, m->S.data(), m->zero.data(), m->one.data(), k, v, m->u.data(), m->y.data());
    } else {
        // RWKV-7's S' = S diag(w) + (S (-kk)) (kk a)^T + v k^T with w = 1,
        // kk = k, and the write key k a (its k * (1 + (a - 1) k_a), k_a = 1).
        for (int64_t i = 0; i < N; i++) {
            m->a[(size_t)i] = rate;
            m->ka[(size_t)i] = k[i] * rate;
        }
        kern.wkv7(1, N, m->S.data(), m->zero.data(), m->one.data(), m->ka.data(), v, k, m->a.data(), m->y.data());
    }
}

// y = the value stored under q, read through the kernel with nothing written.
const float* memory_read(Memory* m, Rule rule, const float* q) {
    const int64_t N = m->N;
    if (rule == ADDITIVE) {
        const Wkv6Fn wkv6 = kern.wkv6;
        wkv6(1, N, m->S.data(), q, m->one.data(), m->zero.data(), m->zero.data(), m->u.data(), m->y.data());
    } else {
        kern.wkv7(1, N, m->S.data(), q, m->one.data(), m->zero.data(), m->zero.data(), m->zero.data(),
                  m->zero.data(), m->y.data());
    }
    return m->y.data();
}

// n random unit keys and n Gaussian values, N channels each.
void random_pairs(std::mt19937_64* g, int64_t n, int64_t N, std::vector<float>* keys, std::vector<float>* values) {
    std::normal_distribution<float> nd(0.0f, 1.0f);
    keys->resize((size_t)(n * N));
    values->resize((size_t)(n * N));
    for (int64_t i = 0; i < n; i++) {
        float* k = keys->data() + i * N;
        double ss = 0.0;
        for (int64_t j = 0; j < N; j++) {
            k[j] = nd(*g);
            ss += (double)k[j] * k[j];
        }
        const float inv = (float)(1.0 / std::sqrt(ss));
        for (int64_t j = 0; j < N; j++) k[j] *= inv;
        for (int64_t j = 0; j < N; j++) (*values)[(size_t)(i * N + j)] = nd(*g);
    }
}

// Mean over pairs of |S k_i - v_i|^2 / |v_i|^2.
double recall_error(Memory* m, Rule rule, int64_t n, const float* keys, const float* values) {
    const int64_t N = m->N;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const float* y = memory_read(m, rule, keys + i * N);
        const float* v = values + i * N;
        double e = 0.0, vv = 0.0;
        for (int64_t j = 0; j < N; j++) {
            e += ((double)y[j] - v[j]) * ((double)y[j] - v[j]);
            vv += (double)v[j] * v[j];
        }
        sum += e / vv;
    }
    return sum / (double)n;
}

struct Method {
    const char* name;  // column and CSV series name
    Rule rule;
    float rate;
    int passes;  // times the whole stream is written
};

// The mean error of a method over `trials` streams of n pairs (seeded per
// trial, so every method sees the same streams).
double capacity_error(Memory* m, const Method& mt, int64_t n, int trials, uint64_t seed) {
    std::vector<float> keys, values;
    double sum = 0.0;
    for (int t = 0; t < trials; t++) {
        std::mt19937_64 g(seed * 1000003u + (uint64_t)n * 7919u + (uint64_t)t);
        random_pairs(&g, n, m->N, &keys, &values);
        memory_reset(m);
        for (int p = 0; p < mt.passes; p++)
            for (int64_t i = 0; i < n; i++) memory_write(m, mt.rule, mt.rate, &keys[(size_t)(i * m->N)], &values[(size_t)(i * m->N)]);
        sum += recall_error(m, mt.rule, n, keys.data(), values.data());
    }
    return sum / trials;
}

// Write n pairs, then the same keys with fresh values; query the fresh ones.
double overwrite_error(Memory* m, const Method& mt, int64_t n, int trials, uint64_t seed) {
    std::vector<float> keys, values, keys2, fresh;
    double sum = 0.0;
    for (int t = 0; t < trials; t++) {
        std::mt19937_64 g(seed * 1000003u + (uint64_t)n * 7919u + (uint64_t)t + 77u);
        random_pairs(&g, n, m->N, &keys, &values);
        random_pairs(&g, n, m->N, &keys2, &fresh);  // only the values are used
        memory_reset(m);
        for (int64_t i = 0; i < n; i++) memory_write(m, mt.rule, mt.rate, &keys[(size_t)(i * m->N)], &values[(size_t)(i * m->N)]);
        for (int64_t i = 0; i < n; i++) memory_write(m, mt.rule, mt.rate, &keys[(size_t)(i * m->N)], &fresh[(size_t)(i * m->N)]);
        sum += recall_error(m, mt.rule, n, keys.data(), fresh.data());
    }
    return sum / trials;
}

}  // namespace

int cmd_icl(int argc, char** argv) {
    cxxopts::Options o("rwkv-cli icl",
                       "In-context learning in one WKV head: RWKV-7's delta rule against RWKV-5/6's additive update, "
                       "on random key -> value pairs (no model needed).");
    o.add_options()
        ("head-size", "channels of the head (N)", cxxopts::value<int64_t>()->default_value("64"))
        ("trials", "random streams averaged per point", cxxopts::value<int>()->default_value("20"))
        ("seed", "random seed", cxxopts::value<uint64_t>()->default_value("1"))
        ("csv", "also write the numbers as CSV (section,x,series,error) to FILE", cxxopts::value<std::string>()->default_value(""))
        ("isa", "kernel path: auto, scalar, avx2, avx512 (also $RWKV_ISA)", cxxopts::value<std::string>()->default_value(""))
        ("h,help", "show this help");
    cxxopts::ParseResult r;
    if (!parse_or_help(o, argc, argv, &r)) return 0;
    const int64_t N = r["head-size"].as<int64_t>();
    const int trials = r["trials"].as<int>();
    const uint64_t seed = r["seed"].as<uint64_t>();
    if (N < 2 || N > 256) rwkv_fail("--head-size must be in 2..256 (got %lld)", (long long)N);
    if (trials < 1 || trials > 10000) rwkv_fail("--trials must be in 1..10000 (got %d)", trials);
    kernels_init(isa_option(r).c_str());

    FILE* csv = nullptr;
    const std::string csv_path = r["csv"].as<std::string>();
    if (!csv_path.empty()) {
        csv = fopen(csv_path.c_str(), "w");
        if (!csv) rwkv_fail("%s: cannot create: %s", csv_path.c_str(), strerror(errno));
        fprintf(csv, "section,x,series,error\n");
        fprintf(csv, "meta,%lld,head_size,%d\n", (long long)N, trials);
    }

    Memory mem;
    memory_init(&mem, N);
    const Method methods[] = {
        {"v5/v6 add", ADDITIVE, 1.0f, 1}, {"v7 a=0.25", DELTA, 0.25f, 1}, {"v7 a=0.5", DELTA, 0.5f, 1},
        {"v7 a=1", DELTA, 1.0f, 1},       {"v7 a=.2 x20", DELTA, 0.2f, 20},  // last: not in (c)
    };
    const int n_methods = (int)(sizeof methods / sizeof methods[0]);

    printf("In-context learning in one WKV head of N = %lld channels, kernels: %s.\n", (long long)N, kern.isa);
    printf("Error of a stored pair: |S k - v|^2 / |v|^2 (0 = perfect, 1 = as bad as 0), mean over the pairs\n");
    printf("and %d random streams; keys are random unit vectors, values Gaussian, no decay (w = 1).\n\n", trials);

    // (a) capacity
    const int64_t pairs[] = {1, 2, 4, 8, 16, 24, 32, 48, 64, 80, 96, 128, 192, 256};
    printf("(a) n pairs written once (\"x20\": the stream written 20 times), then each key queried\n");
    printf("%6s", "pairs");
    for (const Method& mt : methods) printf(" %11s", mt.name);
    printf(" %11s\n", "LS limit");
    for (int64_t n : pairs) {
        printf("%6lld", (long long)n);
        for (const Method& mt : methods) {
            const double e = capacity_error(&mem, mt, n, trials, seed);
            printf(" %11.4f", e);
            if (csv) fprintf(csv, "capacity,%lld,%s,%.6g\n", (long long)n, mt.name, e);
        }
        // The best linear map: values are independent of the keys, so the
        // least-squares residual is the part of V outside the N-dimensional
        // span of K's columns, a fraction (n - N) / n on average.
        const double ls = n > N ? 1.0 - (double)N / (double)n : 0.0;
        printf(" %11.4f\n", ls);
        if (csv) fprintf(csv, "capacity,%lld,LS limit,%.6g\n", (long long)n, ls);
    }

    // (b) learning rate
    const float rates[] = {0.05f, 0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f, 0.9f, 1.0f};
    const int64_t at[] = {16, 64, 256};
    printf("\n(b) RWKV-7 written once, against the in-context learning rate a (additive for comparison)\n");
    printf("%6s", "a");
    for (int64_t n : at) printf("   v7 n=%-4lld", (long long)n);
    for (int64_t n : at) printf("  add n=%-4lld", (long long)n);
    printf("\n");
    double add_at[3];
    for (int j = 0; j < 3; j++) add_at[j] = capacity_error(&mem, methods[0], at[j], trials, seed);
    for (float a : rates) {
        printf("%6.2f", (double)a);
        for (int64_t n : at) {
            const Method mt = {"v7", DELTA, a, 1};
            const double e = capacity_error(&mem, mt, n, trials, seed);
            printf(" %11.4f", e);
            if (csv) fprintf(csv, "rate,%g,v7 n=%lld,%.6g\n", (double)a, (long long)n, e);
        }
        for (int j = 0; j < 3; j++) {
            printf(" %11.4f", add_at[j]);
            if (csv) fprintf(csv, "rate,%g,v5/v6 add n=%lld,%.6g\n", (double)a, (long long)at[j], add_at[j]);
        }
        printf("\n");
    }

    // (c) overwriting
    printf("\n(c) n pairs written, then the same keys with new values; the new values queried\n");
    printf("%6s", "pairs");
    for (int i = 0; i < n_methods - 1; i++) printf(" %11s", methods[i].name);
    printf("\n");
    for (int64_t n : pairs) {
        printf("%6lld", (long long)n);
        for (int i = 0; i < n_methods - 1; i++) {
            const double e = overwrite_error(&mem, methods[i], n, trials, seed);
            printf(" %11.4f", e);
            if (csv) fprintf(csv, "overwrite,%lld,%s,%.6g\n", (long long)n, methods[i].name, e);
        }
        printf("\n");
    }
    if (csv && fclose(csv) != 0) rwkv_fail("%s: write failed", csv_path.c_str());
    return 0;
}
