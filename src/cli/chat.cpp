// chat.cpp - rwkv-cli chat: a conversation in the RWKV world template
//
//   System: ...\n\n            (optional, once)
//   User: ...\n\nAssistant: ...\n\n   (per turn)
//
// The recurrent state is kept between turns, so each turn processes only its
// own new text: the time per turn does not grow with the conversation (stderr
// shows it after each turn). The reply stops at "\n\n", the turn separator.
// Commands: /save FILE, /load FILE, /reset, /quit, /help. From a pipe, each
// input line is one user turn.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "../common.h"
#include "../rwkv.h"
#include "../server/chat_template.h"
#include "../state_file.h"
#include "cli.h"
#include "options.h"

int cmd_chat(int argc, char** argv) {
    cxxopts::Options o("rwkv-cli chat", "Chat with a model; the state is kept between turns.");
    add_model_options(o);
    add_load_options(o);
    add_thread_option(o);
    add_state_options(o);
    SamplerParams chat_defaults;  // ChatRWKV's chat settings
    chat_defaults.top_p = 0.3f;
    chat_defaults.presence_penalty = 0.5f;
    chat_defaults.frequency_penalty = 0.5f;
    add_sampling_options(o, chat_defaults);
    o.add_options()
        ("system", "a system prompt, before the first turn", cxxopts::value<std::string>()->default_value(""))
        ("think", "G1 thinking mode: each reply opens with <think (reasoning, then </think> and the answer)")
        ("n,n-predict", "at most this many tokens per reply", cxxopts::value<int64_t>()->default_value("500"));
    cxxopts::ParseResult r;
    if (!parse_or_help(o, argc, argv, &r)) return 0;
    const SamplerParams sp = sampling_options(r);
    const int64_t n_predict = r["n-predict"].as<int64_t>();
    if (n_predict < 1) rwkv_fail("--n-predict must be >= 1");
    const int n_threads = threads_option(r);

    LoadedModel lm;
    cli_load_model(&lm, r["model"].as<std::string>(), isa_option(r), load_mode_option(r), act_option(r));
    const Model& m = lm.model;
    RwkvContext ctx;
    rwkv_context_init(&ctx, &m, rwkv_default_chunk(&m), n_threads);
    GenParams gp;  // one sequence for the whole conversation: its state and sampler go from turn to turn
    gp.sampling = sp;
    gp.n_predict = n_predict;
    gp.stop = {"\n\n"};
    GenSeq seq;
    gen_init(&seq, &m, &lm.tok, gp);
    const std::string state_in = r["state-in"].as<std::string>(), state_out = r["state-out"].as<std::string>();
    if (!state_in.empty()) state_load(state_in.c_str(), &m, &seq.state);
    GenSeq* const one[1] = {&seq};
    std::vector<int32_t> tokens;

    const bool interactive = isatty(0);
    const ChatThink think = r.count("think") ? THINK_ON : THINK_OFF;
    // the turn's new text: the system prompt (first turn only), the user's message, the assistant's opening
    std::vector<ChatMessage> turn_msgs;
    const std::string system = chat_clean_message(r["system"].as<std::string>());
    if (!system.empty()) turn_msgs.push_back(ChatMessage{"system", system});
    if (interactive)
        fprintf(stderr, "rwkv-cli chat: %s, %lld layers x %lld. Commands: /save FILE, /load FILE, /reset, /quit.\n",
                m.arch_name.c_str(), (long long)m.n_layer, (long long)m.n_embd);

    auto encode = [&](const std::string& text) {
        tokens.clear();
        world_tokenizer_encode(&lm.tok, (const uint8_t*)text.data(), text.size(), &tokens);
    };

    cli_catch_sigint();  // Ctrl-C ends a reply early; at the prompt it ends the chat
    std::string line;
    for (int turn = 1;; turn++) {
        cli_clear_interrupt();
        if (interactive) cli_write(1, "User: ", 6);
        if (!std::getline(std::cin, line)) break;
        if (line.size() > 0 && line[0] == '/') {
            std::string cmd = line.substr(0, line.find(' ')), arg;
            if (line.find(' ') != std::string::npos) arg = chat_clean_message(line.substr(line.find(' ') + 1));
            try {
                if (cmd == "/quit" || cmd == "/exit") break;
                if (cmd == "/reset") {
                    gen_init(&seq, &m, &lm.tok, gp);
                    fprintf(stderr, "[state reset]\n");
                } else if (cmd == "/save" && !arg.empty()) {
                    state_save(arg.c_str(), &m, &seq.state);
                    fprintf(stderr, "[state saved to %s]\n", arg.c_str());
                } else if (cmd == "/load" && !arg.empty()) {
                    state_load(arg.c_str(), &m, &seq.state);
                    fprintf(stderr, "[state loaded from %s]\n", arg.c_str());
                } else {
                    fprintf(stderr, "commands: /save FILE, /load FILE, /reset, /quit\n");
                }
            } catch (const RwkvError& e) {
                fprintf(stderr, "rwkv-cli chat: %s\n", e.what());  // a bad file must not end the conversation
            }
            turn--;
            continue;
        }
        const std::string msg = chat_clean_message(line);
        if (msg.empty()) {
            turn--;
            continue;
        }
        if (!interactive) {
            std::string echo = "User: " + msg + "\n\n";
            cli_write(1, echo.data(), echo.size());
        }
        const double t0 = cli_now();
        turn_msgs.push_back(ChatMessage{"user", msg});
        const std::string opening = chat_render_prompt(turn_msgs, think);
        turn_msgs.clear();
        encode(opening);
        const size_t n_prompt = tokens.size();
        gen_set_prompt(&seq, tokens.data(), (int64_t)tokens.size());
        while (seq.phase == GEN_PREFILL) gen_step(&ctx, one, 1);
        const double t1 = cli_now();
        const std::string shown = opening.substr(opening.rfind("Assistant:"));
        cli_write(1, shown.data(), shown.size());
        cli_generate_stream(&ctx, &seq);
        // Close the turn in the state if the reply did not end with "\n\n".
        if (seq.finish != GEN_STOP) {
            encode("\n\n");
            rwkv_eval(&ctx, &seq.state, tokens.data(), (int64_t)tokens.size(), nullptr, nullptr);
        }
        cli_write(1, "\n\n", 2);
        const double t2 = cli_now();
        fprintf(stderr, "[turn %d: %zu prompt tokens in %.3f s, %lld reply tokens in %.3f s]\n", turn, n_prompt,
                t1 - t0, (long long)seq.generated.size(), t2 - t1);
    }
    if (!state_out.empty()) state_save(state_out.c_str(), &m, &seq.state);
    return 0;
}
