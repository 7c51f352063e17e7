// test_data.h - where the tests find their reference data.
//
// ../shared/data (beside the checkout) holds the official references; the
// build tree's models/ holds models the `make_test_models` fixture converts
// from them. If the shared data is missing the tests skip, loudly; under CI
// (CI=true) a missing reference is a failure, never a skip.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#ifndef RWKV_SHARED_DATA
#define RWKV_SHARED_DATA "../shared/data"
#endif
#ifndef RWKV_TEST_MODELS
#define RWKV_TEST_MODELS "models"
#endif

static inline bool file_exists(const std::string& p) {
    struct stat st;
    return stat(p.c_str(), &st) == 0;
}

static inline std::string shared_data_dir() {
    const char* env = getenv("RWKV_SHARED_DATA");
    return env && *env ? env : RWKV_SHARED_DATA;
}

static inline std::string test_models_dir() {
    const char* env = getenv("RWKV_TEST_MODELS");
    return env && *env ? env : RWKV_TEST_MODELS;
}

static inline bool running_in_ci() {
    const char* ci = getenv("CI");
    return ci && (!strcmp(ci, "true") || !strcmp(ci, "1"));
}

// Use as: REQUIRE_FILE(path); skips (or fails under CI) when absent.
#define REQUIRE_FILE(path)                                                                              \
    do {                                                                                                \
        if (!file_exists(path)) {                                                                       \
            if (running_in_ci()) FAIL() << "reference file missing under CI: " << (path);               \
            fprintf(stderr, "\n*** SKIPPING: reference file %s is missing ***\n\n", std::string(path).c_str()); \
            GTEST_SKIP() << "missing " << (path);                                                       \
        }                                                                                               \
    } while (0)

static inline std::vector<float> read_f32_file(const std::string& path) {
    std::vector<float> v;
    FILE* f = fopen(path.c_str(), "rb");
    if (!f) return v;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    v.resize((size_t)n / 4);
    if (fread(v.data(), 4, v.size(), f) != v.size()) v.clear();
    fclose(f);
    return v;
}

static inline std::vector<int32_t> read_token_file(const std::string& path) {
    std::vector<int32_t> ids;
    FILE* f = fopen(path.c_str(), "r");
    if (!f) return ids;
    int x;
    while (fscanf(f, "%d", &x) == 1) {
        ids.push_back(x);
        int c = fgetc(f);
        if (c != ',' && c != ' ' && c != '\n') break;
    }
    fclose(f);
    return ids;
}

// Per-element comparison of logit rows, in units of each reference row's
// standard deviation. Returns the worst row's max |diff| / std and fills a
// description of where it happened.
static inline double max_rel_diff(const float* got, const float* ref, int64_t rows, int64_t V, std::string* where) {
    double worst = 0.0;
    for (int64_t t = 0; t < rows; t++) {
        const float* r = ref + t * V;
        const float* g = got + t * V;
        double mean = 0.0, var = 0.0;
        for (int64_t i = 0; i < V; i++) mean += r[i];
        mean /= (double)V;
        for (int64_t i = 0; i < V; i++) var += (r[i] - mean) * (r[i] - mean);
        const double sd = std::sqrt(var / (double)V);
        for (int64_t i = 0; i < V; i++) {
            const double d = std::fabs((double)g[i] - (double)r[i]) / sd;
            if (!(d <= worst)) {  // also catches NaN
                worst = std::isnan(d) ? INFINITY : d;
                if (where)
                    *where = "row " + std::to_string(t) + ", logit " + std::to_string(i) + ": got " +
                             std::to_string(g[i]) + ", expected " + std::to_string(r[i]) + " (std " +
                             std::to_string(sd) + ")";
            }
        }
    }
    return worst;
}
