// fuzz_server.cpp - the server's request parser and chat template on any bytes.
//
// Input: byte 0 picks the endpoint (bit 0: chat or completion) and where the
// rest is cut in two (bits 1..7); the first part is a request body, the
// second a generated reply. Properties:
//   - api_parse_request accepts, or refuses with a 400 naming a field, and
//     its error JSON parses; it never throws;
//   - an accepted chat's prompt holds exactly one "\n\n" per message (a
//     message can never end a turn early) and ends "Assistant:" (or
//     "Assistant: <think");
//   - chat_split_reply on every prefix of the reply (still growing) gives a
//     prefix of the final split, part by part, so a stream of differences
//     adds up to the non-streamed reply; both parts are valid UTF-8.
#include <cstring>
#include <string>

#include "../src/server/api.h"
#include "../src/server/chat_template.h"
#include "fuzz_util.h"

static bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

static size_t count(const std::string& s, const std::string& sub) {
    size_t n = 0;
    for (size_t at = s.find(sub); at != std::string::npos; at = s.find(sub, at + 1)) n++;
    return n;
}

static void check_utf8(const std::string& s) {
    try {
        (void)nlohmann::json(s).dump();  // the strict dump throws on invalid UTF-8
    } catch (const nlohmann::json::exception& e) {
        FUZZ_CHECK(false, "not valid UTF-8 after utf8_sanitize: %s", e.what());
    }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    const ApiKind kind = data[0] & 1 ? API_COMPLETION : API_CHAT;
    const std::string rest((const char*)data + 1, size - 1);
    const size_t cut = std::min(rest.size(), (size_t)(data[0] >> 1) * rest.size() / 127);
    const std::string body = rest.substr(0, cut), reply = rest.substr(cut);

    ApiRequest r;
    ApiError err;
    ApiLimits lim;
    lim.n_vocab = 256;
    if (!api_parse_request(body, kind, lim, &r, &err)) {
        FUZZ_CHECK(err.status == 400 && !err.message.empty(), "refusal without a 400 and a message");
        const nlohmann::json e = nlohmann::json::parse(api_error_json(err));
        FUZZ_CHECK(e["error"]["message"].is_string(), "error JSON without a message");
        return 0;
    }
    FUZZ_CHECK(r.gen.n_predict >= 1 && r.gen.n_predict <= lim.max_tokens, "max_tokens out of range");
    FUZZ_CHECK(r.gen.sampling.top_p > 0 && r.gen.sampling.top_p <= 1, "top_p out of range");
    ChatThink think = THINK_OFF;
    if (kind == API_CHAT) {
        think = r.think;
        FUZZ_CHECK(!r.messages.empty(), "a chat without messages was accepted");
        FUZZ_CHECK(count(r.prompt, "\n\n") == r.messages.size(), "a message holds a turn separator");
        const std::string tail = think == THINK_OFF ? "\n\nAssistant:" : "\n\nAssistant: <think";
        FUZZ_CHECK(r.prompt.size() >= tail.size() && r.prompt.compare(r.prompt.size() - tail.size(), tail.size(), tail) == 0,
                   "the prompt does not end with the assistant's opening");
    } else {
        think = (ChatThink)(data[0] % 5);
    }

    const ChatReply whole = chat_split_reply(reply, think, true);
    check_utf8(whole.reasoning);
    check_utf8(whole.content);
    for (size_t n = 0; n <= reply.size(); n += 1 + reply.size() / 64) {
        const ChatReply part = chat_split_reply(reply.substr(0, n), think, false);
        FUZZ_CHECK(starts_with(whole.reasoning, part.reasoning) && starts_with(whole.content, part.content),
                   "a streamed split is not a prefix of the final one (prefix %zu of %zu)", n, reply.size());
    }
    return 0;
}
