// api.cpp - OpenAI request parsing and checking (api.h).
#include "api.h"

#include <cmath>
#include <cstdlib>

using nlohmann::json;

namespace {

// Thrown by the checks below; api_parse_request turns it into an ApiError.
struct FieldError {
    std::string param, message;
};

[[noreturn]] void bad(const std::string& param, const std::string& message) { throw FieldError{param, message}; }

const char* type_name(const json& v) { return v.type_name(); }

double number(const json& body, const char* key, double def, double lo, double hi) {
    auto it = body.find(key);
    if (it == body.end() || it->is_null()) return def;
    if (!it->is_number()) bad(key, std::string("'") + key + "' must be a number, not " + type_name(*it));
    const double v = it->get<double>();
    if (!(v >= lo && v <= hi))
        bad(key, std::string("'") + key + "' must be in [" + json(lo).dump() + ", " + json(hi).dump() + "], got " +
                     it->dump());
    return v;
}

int64_t integer(const json& body, const char* key, int64_t def, int64_t lo, int64_t hi) {
    auto it = body.find(key);
    if (it == body.end() || it->is_null()) return def;
    if (!it->is_number_integer() && !(it->is_number_float() && std::floor(it->get<double>()) == it->get<double>()))
        bad(key, std::string("'") + key + "' must be an integer, not " + it->dump());
    const double d = it->get<double>();
    if (!(d >= (double)lo && d <= (double)hi))
        bad(key, std::string("'") + key + "' must be in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                     "], got " + it->dump());
    return it->is_number_unsigned() ? (int64_t)it->get<uint64_t>() : it->get<int64_t>();
}

bool boolean(const json& body, const char* key, bool def) {
    auto it = body.find(key);
    if (it == body.end() || it->is_null()) return def;
    if (!it->is_boolean()) bad(key, std::string("'") + key + "' must be true or false, not " + it->dump());
    return it->get<bool>();
}

// A message's content: a string, or a list of {"type": "text", "text": ...} parts.
std::string content_text(const json& c, const std::string& where) {
    if (c.is_string()) return c.get<std::string>();
    if (c.is_null()) return "";
    if (!c.is_array()) bad(where, "'" + where + "' must be a string or a list of text parts");
    std::string out;
    for (size_t i = 0; i < c.size(); i++) {
        const json& p = c[i];
        const std::string pw = where + "[" + std::to_string(i) + "]";
        if (!p.is_object() || p.value("type", json()) != "text" || !p.contains("text") || !p["text"].is_string())
            bad(pw, "'" + pw + "' must be {\"type\": \"text\", \"text\": STRING} (only text is supported)");
        if (!out.empty()) out += "\n";
        out += p["text"].get<std::string>();
    }
    return out;
}

void parse_stop(const json& body, std::vector<std::string>* stops) {
    auto it = body.find("stop");
    if (it == body.end() || it->is_null()) return;
    if (it->is_string()) {
        stops->push_back(it->get<std::string>());
        return;
    }
    if (!it->is_array()) bad("stop", "'stop' must be a string or a list of strings");
    if (it->size() > 16) bad("stop", "'stop' may hold at most 16 strings");
    for (size_t i = 0; i < it->size(); i++) {
        if (!(*it)[i].is_string()) bad("stop", "'stop[" + std::to_string(i) + "]' must be a string");
        stops->push_back((*it)[i].get<std::string>());
    }
    for (const std::string& s : *stops)
        if (s.size() > 1024) bad("stop", "a 'stop' string may be at most 1024 bytes");
}

ChatThink parse_think(const json& body) {
    auto it = body.find("reasoning_effort");
    if (it != body.end() && !it->is_null()) {
        if (!it->is_string()) bad("reasoning_effort", "'reasoning_effort' must be \"low\", \"medium\" or \"high\"");
        const std::string e = it->get<std::string>();
        if (e == "low" || e == "minimal") return THINK_LOW;
        if (e == "medium") return THINK_MEDIUM;
        if (e == "high") return THINK_HIGH;
        bad("reasoning_effort", "'reasoning_effort' must be \"low\", \"medium\" or \"high\", got \"" + e + "\"");
    }
    return boolean(body, "think", false) ? THINK_ON : THINK_OFF;
}

void parse(const std::string& text, ApiKind kind, const ApiLimits& lim, ApiRequest* r) {
    json body;
    try {
        body = json::parse(text);
    } catch (const json::parse_error& e) {
        bad("", std::string("the request body is not valid JSON: ") + e.what());
    }
    if (!body.is_object()) bad("", "the request body must be a JSON object");
    r->kind = kind;

    // Sampling: the defaults are those of `rwkv-cli generate` (completions)
    // and `rwkv-cli chat` (ChatRWKV's chat settings), so that the same options
    // give the same text.
    SamplerParams sp;
    if (kind == API_CHAT) {
        sp.top_p = 0.3f;
        sp.presence_penalty = 0.5f;
        sp.frequency_penalty = 0.5f;
    }
    sp.temp = (float)number(body, "temperature", sp.temp, 0.0, 2.0);
    sp.top_p = (float)number(body, "top_p", sp.top_p, 0.0, 1.0);
    if (sp.top_p <= 0.0f) bad("top_p", "'top_p' must be in (0, 1]");
    sp.top_k = (int32_t)integer(body, "top_k", sp.top_k, 0, lim.n_vocab);
    sp.presence_penalty = (float)number(body, "presence_penalty", sp.presence_penalty, -2.0, 2.0);
    sp.frequency_penalty = (float)number(body, "frequency_penalty", sp.frequency_penalty, -2.0, 2.0);
    sp.penalty_decay = (float)number(body, "penalty_decay", sp.penalty_decay, 0.0, 1.0);
    auto seed = body.find("seed");
    if (seed != body.end() && !seed->is_null()) {
        if (!seed->is_number_integer()) bad("seed", "'seed' must be an integer");
        sp.seed = seed->is_number_unsigned() ? seed->get<uint64_t>() : (uint64_t)seed->get<int64_t>();
    } else {
        sp.seed = lim.default_seed;
    }
    r->gen.sampling = sp;
    const char* max_key = body.contains("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
    r->gen.n_predict = integer(body, max_key, lim.max_tokens, 1, lim.max_tokens);
    if (integer(body, "n", 1, 1, 1) != 1) bad("n", "'n' must be 1");
    parse_stop(body, &r->gen.stop);
    auto bias = body.find("logit_bias");
    if (bias != body.end() && !bias->is_null()) {
        if (!bias->is_object() || bias->size() > 1024)
            bad("logit_bias", "'logit_bias' must be an object of at most 1024 {\"token id\": bias}");
        for (auto it = bias->begin(); it != bias->end(); ++it) {
            char* end = nullptr;
            const long id = strtol(it.key().c_str(), &end, 10);
            if (it.key().empty() || *end || id < 0 || id >= lim.n_vocab)
                bad("logit_bias", "'logit_bias' key \"" + it.key() + "\" is not a token id below " + std::to_string(lim.n_vocab));
            if (!it->is_number() || !(it->get<double>() >= -100 && it->get<double>() <= 100))
                bad("logit_bias", "'logit_bias' values must be numbers in [-100, 100]");
            r->gen.logit_bias.push_back({(int32_t)id, it->get<float>()});
        }
    }
    r->stream = boolean(body, "stream", false);
    auto so = body.find("stream_options");
    if (so != body.end() && !so->is_null()) {
        if (!so->is_object()) bad("stream_options", "'stream_options' must be an object");
        r->include_usage = boolean(*so, "include_usage", false);
    }

    if (kind == API_COMPLETION) {
        auto p = body.find("prompt");
        if (p == body.end()) bad("prompt", "'prompt' is required");
        if (p->is_array() && p->size() == 1 && (*p)[0].is_string()) p = p->begin();
        if (!p->is_string()) bad("prompt", "'prompt' must be a string (or a list of one string)");
        r->prompt = p->get<std::string>();
        return;
    }

    auto m = body.find("messages");
    if (m == body.end()) bad("messages", "'messages' is required");
    if (!m->is_array()) bad("messages", "'messages' must be a list");
    if (m->empty()) bad("messages", "'messages' must not be empty");
    for (size_t i = 0; i < m->size(); i++) {
        const json& msg = (*m)[i];
        const std::string w = "messages[" + std::to_string(i) + "]";
        if (!msg.is_object()) bad(w, "'" + w + "' must be an object");
        auto role = msg.find("role");
        if (role == msg.end() || !role->is_string()) bad(w + ".role", "'" + w + ".role' must be a string");
        std::string rs = role->get<std::string>();
        if (rs == "developer") rs = "system";
        if (rs != "system" && rs != "user" && rs != "assistant")
            bad(w + ".role", "'" + w + ".role' must be system, user or assistant, got \"" + rs + "\"");
        auto c = msg.find("content");
        r->messages.push_back(ChatMessage{rs, content_text(c == msg.end() ? json() : *c, w + ".content")});
    }
    r->think = parse_think(body);
    // The stop at "\n\n" (the turn separator) always holds in a chat.
    r->gen.stop.push_back("\n\n");
    r->prompt = chat_render_prompt(r->messages, r->think);
}

}  // namespace

bool api_parse_request(const std::string& body, ApiKind kind, const ApiLimits& lim, ApiRequest* out,
                       ApiError* err) {
    *out = ApiRequest();
    try {
        parse(body, kind, lim, out);
        return true;
    } catch (const FieldError& e) {
        *err = ApiError();
        err->status = 400;
        err->message = e.message;
        err->param = e.param;
        err->code = e.param.empty() ? "invalid_json" : "invalid_value";
        return false;
    } catch (const json::exception& e) {  // a type mismatch a check above missed
        *err = ApiError();
        err->message = std::string("bad request: ") + e.what();
        err->code = "invalid_value";
        return false;
    }
}

std::string api_dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string api_error_json(const ApiError& e) {
    json err = {{"message", e.message}, {"type", e.type}, {"code", e.code.empty() ? json() : json(e.code)}};
    err["param"] = e.param.empty() ? json() : json(e.param);
    return api_dump(json{{"error", err}});
}
