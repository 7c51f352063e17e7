// api.h - the OpenAI request and response shapes, apart from any model or
// socket: a request body in, a validated request (or an error naming the
// field) out; replies and errors as the JSON the OpenAI clients read. Kept
// free of the engine so that it can be fuzzed alone (fuzz/fuzz_server.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../generation.h"
#include "chat_template.h"

enum ApiKind { API_CHAT, API_COMPLETION };

struct ApiRequest {
    ApiKind kind = API_CHAT;
    bool stream = false;
    bool include_usage = false;  // stream_options.include_usage: a last chunk with the usage
    std::vector<ChatMessage> messages;  // chat
    ChatThink think = THINK_OFF;        // chat
    std::string prompt;                 // the text to tokenize: the rendered chat, or the completion prompt
    GenParams gen;                      // sampling, max_tokens, stop strings
};

// An error in OpenAI's shape: {"error": {"message", "type", "code"}} (and
// "param", the request field at fault, where there is one).
struct ApiError {
    int status = 400;
    std::string message;
    std::string type = "invalid_request_error";
    std::string code;
    std::string param;
};

// Limits on what one request may ask for.
struct ApiLimits {
    int64_t max_tokens = 4096;    // the default and the upper bound of max_tokens
    int64_t n_vocab = 65536;      // top_k's bound
    uint64_t default_seed = 0;    // for requests without a seed (the server draws one per request)
};

// Parse and check a request body. Unknown fields are ignored, as OpenAI's
// API does. Returns false with *err filled (status 400, naming the field).
bool api_parse_request(const std::string& body, ApiKind kind, const ApiLimits& lim, ApiRequest* out,
                       ApiError* err);

std::string api_error_json(const ApiError& e);

// JSON text that never throws on bytes that are not UTF-8 (they become U+FFFD).
std::string api_dump(const nlohmann::json& j);
