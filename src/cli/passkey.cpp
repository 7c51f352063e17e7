// passkey.cpp - rwkv-cli passkey: how far back can the model recall a fact?
//
// The needle-in-a-haystack test long-context work uses: a pass key (random
// digits) is hidden at some depth of filler text of some length, then asked
// for. The answer is read greedily. The table gives the retrieval accuracy
// per (length, depth); --csv writes it for scripts/plot_passkey.py, which
// draws the heat map. An RNN has no context window, so what limits it is what
// its fixed-size state can keep while the filler flows through it.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "../common.h"
#include "../rwkv.h"
#include "cli.h"
#include "options.h"

static const char* INTRO =
    "There is an important info hidden inside a lot of irrelevant text. Find it and memorize it. "
    "I will quiz you about the important information there.\n";
static const char* FILLER = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.\n";
static const char* QUESTION = "What is the pass key? The pass key is";

static std::vector<int64_t> parse_list(const std::string& s, const char* flag, int64_t lo, int64_t hi) {
    std::vector<int64_t> v;
    size_t i = 0;
    while (i <= s.size()) {
        size_t j = s.find(',', i);
        if (j == std::string::npos) j = s.size();
        char* end = nullptr;
        std::string part = s.substr(i, j - i);
        long long x = strtoll(part.c_str(), &end, 10);
        if (part.empty() || *end || x < lo || x > hi)
            rwkv_fail("%s: expected comma-separated integers in %lld..%lld, got '%s'", flag, (long long)lo, (long long)hi,
                      s.c_str());
        v.push_back(x);
        i = j + 1;
    }
    return v;
}

int cmd_passkey(int argc, char** argv) {
    cxxopts::Options o("rwkv-cli passkey", "Needle in a haystack: retrieval accuracy of a hidden pass key by length and depth.");
    add_model_options(o);
    add_load_options(o);
    add_thread_option(o);
    o.add_options()
        ("lengths", "haystack lengths in tokens", cxxopts::value<std::string>()->default_value("256,512,1024,2048,4096,8192"))
        ("depths", "needle depths in percent", cxxopts::value<std::string>()->default_value("0,25,50,75,100"))
        ("trials", "pass keys per cell", cxxopts::value<int>()->default_value("3"))
        ("digits", "digits per pass key", cxxopts::value<int>()->default_value("5"))
        ("seed", "seed for the pass keys", cxxopts::value<uint64_t>()->default_value("1"))
        ("csv", "also write the accuracy as CSV (tokens,depth,accuracy,trials) to FILE", cxxopts::value<std::string>()->default_value(""));
    cxxopts::ParseResult r;
    if (!parse_or_help(o, argc, argv, &r)) return 0;
    const std::vector<int64_t> lengths = parse_list(r["lengths"].as<std::string>(), "--lengths", 1, 10000000);
    const std::vector<int64_t> depths = parse_list(r["depths"].as<std::string>(), "--depths", 0, 100);
    const int trials = r["trials"].as<int>(), digits = r["digits"].as<int>();
    if (trials < 1 || trials > 1000) rwkv_fail("--trials must be in 1..1000");
    if (digits < 1 || digits > 18) rwkv_fail("--digits must be in 1..18");
    const int n_threads = threads_option(r);
    const std::string csv_path = r["csv"].as<std::string>();
    FILE* csv = nullptr;  // opened before the run, so that a bad path fails at once
    if (!csv_path.empty() && !(csv = fopen(csv_path.c_str(), "w")))
        rwkv_fail("%s: cannot create: %s", csv_path.c_str(), strerror(errno));

    LoadedModel lm;
    cli_load_model(&lm, r["model"].as<std::string>(), isa_option(r), load_mode_option(r), act_option(r));
    const Model& m = lm.model;
    RwkvContext ctx;
    rwkv_context_init(&ctx, &m, rwkv_default_chunk(&m), n_threads);
    RwkvState state;
    rwkv_state_init(&state, &m);
    auto encode = [&](const std::string& s) {
        std::vector<int32_t> ids;
        world_tokenizer_encode(&lm.tok, (const uint8_t*)s.data(), s.size(), &ids);
        return ids;
    };
    const std::vector<int32_t> intro = encode(INTRO), filler = encode(FILLER), question = encode(QUESTION);
    std::vector<float> logits((size_t)m.n_vocab);
    auto feed = [&](const std::vector<int32_t>& ids) {
        if (!ids.empty()) rwkv_eval(&ctx, &state, ids.data(), (int64_t)ids.size(), logits.data(), nullptr);
    };
    auto feed_filler = [&](int64_t n) {
        std::vector<int32_t> ids;
        for (int64_t i = 0; i < n; i++) ids.insert(ids.end(), filler.begin(), filler.end());
        feed(ids);
    };

    uint64_t rng = r["seed"].as<uint64_t>() * 0x9e3779b97f4a7c15ull + 1;
    std::vector<std::vector<double>> acc(lengths.size(), std::vector<double>(depths.size(), 0.0));
    const bool progress = isatty(2);
    const int64_t cells = (int64_t)(lengths.size() * depths.size());
    int64_t done = 0;
    const double t0 = cli_now();
    for (size_t li = 0; li < lengths.size(); li++) {
        for (size_t di = 0; di < depths.size(); di++) {
            // fillers before and after the needle, to reach about lengths[li] tokens
            const std::string probe = strprintf("The pass key is %0*d. Remember it. %0*d is the pass key.\n", digits, 0, digits, 0);
            const int64_t fixed = (int64_t)(intro.size() + question.size() + encode(probe).size());
            const int64_t n_fill = std::max<int64_t>(0, (lengths[li] - fixed) / (int64_t)filler.size());
            const int64_t before = (n_fill * depths[di] + 50) / 100, after = n_fill - before;
            rwkv_state_reset(&state);
            feed(intro);
            feed_filler(before);
            const LineFloats saved = state.data;  // the haystack before the needle is shared
            int ok = 0;
            for (int trial = 0; trial < trials && !cli_interrupted(); trial++) {
                std::string key;
                for (int d = 0; d < digits; d++) {
                    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
                    key += (char)('0' + (d == 0 ? 1 + (rng >> 33) % 9 : (rng >> 33) % 10));
                }
                state.data = saved;
                feed(encode("The pass key is " + key + ". Remember it. " + key + " is the pass key.\n"));
                feed_filler(after);
                feed(question);
                // greedy answer, a few tokens past the key's length
                std::string answer;
                for (int i = 0; i < digits + 3; i++) {
                    int32_t t = (int32_t)(std::max_element(logits.begin(), logits.end()) - logits.begin());
                    if (t == 0) break;
                    answer += world_tokenizer_token_bytes(&lm.tok, t);
                    rwkv_eval(&ctx, &state, &t, 1, logits.data(), nullptr);
                }
                size_t a = answer.find_first_of("0123456789");
                std::string got = a == std::string::npos ? "" : answer.substr(a, answer.find_first_not_of("0123456789", a) - a);
                ok += got == key;
            }
            acc[li][di] = (double)ok / trials;
            done++;
            if (progress)
                fprintf(stderr, "\r[%-30s] %lld/%lld cells, %.0f s", std::string((size_t)(30 * done / cells), '#').c_str(),
                        (long long)done, (long long)cells, cli_now() - t0);
        }
    }
    if (progress) fprintf(stderr, "\n");

    std::string out = "passkey retrieval accuracy (rows: haystack tokens, columns: needle depth)\n\n| tokens |";
    for (int64_t d : depths) out += strprintf(" %lld%% |", (long long)d);
    out += "\n| ---: |";
    for (size_t i = 0; i < depths.size(); i++) out += " ---: |";
    out += "\n";
    double total = 0;
    for (size_t li = 0; li < lengths.size(); li++) {
        out += strprintf("| %lld |", (long long)lengths[li]);
        for (size_t di = 0; di < depths.size(); di++) {
            out += strprintf(" %.0f%% |", 100 * acc[li][di]);
            total += acc[li][di];
        }
        out += "\n";
    }
    out += strprintf("\noverall: %.1f%% over %lld cells x %d trials\n", 100 * total / (double)cells, (long long)cells, trials);
    cli_write(1, out.data(), out.size());

    if (csv) {
        fprintf(csv, "tokens,depth,accuracy,trials\n");
        for (size_t li = 0; li < lengths.size(); li++)
            for (size_t di = 0; di < depths.size(); di++)
                fprintf(csv, "%lld,%lld,%.6g,%d\n", (long long)lengths[li], (long long)depths[di], acc[li][di], trials);
        if (fclose(csv) != 0) rwkv_fail("%s: write failed", csv_path.c_str());
    }
    return 0;
}
