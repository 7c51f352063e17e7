// server.h - rwkv-cli serve: the OpenAI-compatible HTTP server.
//
// cpp-httplib's handler threads parse requests (api.h), tokenize them and
// hand them to the engine (engine.h) as jobs, then wait for their text:
// all at the end, or as server-sent events with "stream": true. Routes:
//   POST /v1/chat/completions, POST /v1/completions, GET /v1/models,
//   GET /health, GET /metrics (Prometheus text), GET / (a chat page).
// docs/server.md describes them.
#pragma once

#include <cstdint>
#include <string>

#include "../../tokenizer/world.h"
#include "../model.h"
#include "engine.h"

struct ServerOptions {
    std::string host = "127.0.0.1";  // loopback unless told otherwise
    int port = 8080;                 // 0: any free port (printed)
    std::string api_key;             // "" = no key
    std::string model_name;          // what /v1/models lists
    size_t max_body_bytes = 1 << 20;
    int read_timeout_s = 10;  // per read of a request: a client that stops sending is dropped
    int64_t max_tokens = 4096;
    double shutdown_grace_s = 5;  // SIGINT/SIGTERM: in-flight replies get this long, then are cancelled
    EngineOptions engine;
};

// Serve until SIGINT or SIGTERM, then stop (see shutdown_grace_s), write the
// state cache to engine.state_dir and return 0. Fails (rwkv_fail) if it
// cannot listen.
int server_run(const Model* m, const WorldTokenizer* tok, const ServerOptions& opt);
