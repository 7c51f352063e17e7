// fuzz_state.cpp - the state-file reader (src/state_file.cpp) on any bytes.
//
// A model is loaded once ($RWKV_FUZZ_MODEL: the small model that
// fuzz/make_seeds.py writes beside the seed corpus). Each input is offered as
// a state file for it. Properties: state_load either throws RwkvError and
// leaves the state untouched, or fills it with finite values of the right
// size; a loaded state runs (one token) and saves back to the same bytes
// (its model id, if it was the older file-order one, becomes the current).
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "../kernels/kernels.h"
#include "../src/common.h"
#include "../src/model.h"
#include "../src/rwkv.h"
#include "../src/state_file.h"
#include "fuzz_util.h"

static Model g_model;
static RwkvContext* g_ctx;
static RwkvState* g_state;
static std::string g_out;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    kernels_init("auto");
    const std::string path = fuzz_env("RWKV_FUZZ_MODEL", "");
    if (path.empty()) {
        fprintf(stderr, "fuzz_state: set RWKV_FUZZ_MODEL to a model file (scripts/fuzz.sh does)\n");
        exit(2);
    }
    try {
        model_load(&g_model, path.c_str());
    } catch (const RwkvError& e) {
        fprintf(stderr, "fuzz_state: %s\n", e.what());
        exit(2);
    }
    g_ctx = new RwkvContext;
    rwkv_context_init(g_ctx, &g_model, 1, 1);
    g_state = new RwkvState;
    rwkv_state_init(g_state, &g_model);
    std::string tmpl = fuzz_env("TMPDIR", "/tmp") + "/rwkv-fuzz-state-XXXXXX";
    char* dir = &tmpl[0];
    if (!mkdtemp(dir)) abort();
    g_out = std::string(dir) + "/out.state";
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const char* path = fuzz_memfile(data, size);
    RwkvState& s = *g_state;
    std::fill(s.data.begin(), s.data.end(), 0.5f);
    const size_t n = s.data.size();
    try {
        state_load(path, &g_model, &s);
    } catch (const RwkvError&) {
        FUZZ_CHECK(s.data.size() == n, "state resized by a failed load");
        for (float x : s.data) FUZZ_CHECK(x == 0.5f, "a failed load changed the state");
        return 0;
    }
    FUZZ_CHECK(s.data.size() == n, "state size changed");
    for (float x : s.data) FUZZ_CHECK(std::isfinite(x), "non-finite value accepted");
    // What loads saves back to the same bytes, but for the model id: a state
    // with the older file-order id is saved with the current one.
    state_save(g_out.c_str(), &g_model, &s);
    FILE* f = fopen(g_out.c_str(), "rb");
    FUZZ_CHECK(f, "saved state missing");
    std::vector<uint8_t> back(size + 1);
    const size_t got = fread(back.data(), 1, back.size(), f);
    fclose(f);
    const size_t id_at = 48;  // after magic, version, arch and the four shape fields
    uint64_t id_in, id_out;
    memcpy(&id_in, data + id_at, 8);
    memcpy(&id_out, back.data() + id_at, 8);
    FUZZ_CHECK(id_in == model_identity(&g_model) || id_in == model_identity_file_order(&g_model),
               "loaded a state with another model id");
    FUZZ_CHECK(id_out == model_identity(&g_model), "saved a state without the model id");
    FUZZ_CHECK(got == size && memcmp(back.data(), data, id_at) == 0 &&
                   memcmp(back.data() + id_at + 8, data + id_at + 8, size - id_at - 8) == 0,
               "save(load(x)) != x");
    std::vector<float> logits((size_t)g_model.n_vocab);
    const int32_t tok = 1;
    rwkv_eval(g_ctx, g_state, &tok, 1, logits.data(), nullptr);
    return 0;
}
