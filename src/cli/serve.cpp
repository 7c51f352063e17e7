// serve.cpp - rwkv-cli serve: an OpenAI-compatible HTTP server (src/server/,
// docs/server.md).
#include <string>

#include "../common.h"
#include "../server/server.h"
#include "cli.h"
#include "options.h"

int cmd_serve(int argc, char** argv) {
#ifndef RWKV_SERVER
    (void)argc;
    (void)argv;
    rwkv_fail("this rwkv-cli was built without the server (cpp-httplib and nlohmann-json were not found)");
#else
    cxxopts::Options o("rwkv-cli serve",
                       "Serve the OpenAI API (/v1/chat/completions, /v1/completions, /v1/models), /health, /metrics "
                       "and a chat page at /. Listens on 127.0.0.1 only unless --host says otherwise: anyone who "
                       "can reach the port can use the model (see --api-key).");
    add_model_options(o);
    add_load_options(o);
    add_thread_option(o);
    o.add_options()
        ("host", "address to listen on; the default 127.0.0.1 is this machine only (0.0.0.0: every interface)", cxxopts::value<std::string>()->default_value("127.0.0.1"))
        ("port", "TCP port (0: any free port, printed on stderr)", cxxopts::value<int>()->default_value("8080"))
        ("slots", "requests decoded together; more wait in a queue", cxxopts::value<int>()->default_value("4"))
        ("max-queue", "requests waiting for a slot beyond which the server answers 503 with Retry-After", cxxopts::value<int>()->default_value("64"))
        ("api-key", "require 'Authorization: Bearer KEY' on /v1/ and /metrics (also $RWKV_API_KEY)", cxxopts::value<std::string>()->default_value(""))
        ("state-cache-mb", "RAM for cached states (conversation prefixes)", cxxopts::value<int64_t>()->default_value("256"))
        ("state-dir", "keep cached states in DIR as state files too: evicted ones spill there, all are written at shutdown, and they are found again at start-up", cxxopts::value<std::string>()->default_value(""))
        ("max-tokens", "the default and the largest max_tokens of a request", cxxopts::value<int64_t>()->default_value("4096"))
        ("max-body-kb", "largest request body (larger: 413)", cxxopts::value<int64_t>()->default_value("1024"))
        ("timeout", "seconds a read or write of a connection may wait (slow or half-sent requests are dropped)", cxxopts::value<int>()->default_value("10"))
        ("shutdown-grace", "seconds in-flight replies get to finish after SIGINT/SIGTERM before they are cancelled", cxxopts::value<double>()->default_value("5"));
    cxxopts::ParseResult r;
    if (!parse_or_help(o, argc, argv, &r)) return 0;

    ServerOptions so;
    so.host = r["host"].as<std::string>();
    so.port = r["port"].as<int>();
    if (so.port < 0 || so.port > 65535) rwkv_fail("--port must be in 0..65535 (got %d)", so.port);
    so.api_key = r["api-key"].as<std::string>();
    if (so.api_key.empty() && getenv("RWKV_API_KEY")) so.api_key = getenv("RWKV_API_KEY");
    so.engine.slots = r["slots"].as<int>();
    if (so.engine.slots < 1 || so.engine.slots > 256) rwkv_fail("--slots must be in 1..256 (got %d)", so.engine.slots);
    so.engine.max_queue = r["max-queue"].as<int>();
    if (so.engine.max_queue < 0 || so.engine.max_queue > 4096)
        rwkv_fail("--max-queue must be in 0..4096 (got %d)", so.engine.max_queue);
    const int64_t cache_mb = r["state-cache-mb"].as<int64_t>();
    if (cache_mb < 0 || cache_mb > (1 << 20)) rwkv_fail("--state-cache-mb must be in 0..1048576");
    so.engine.cache_mb = (size_t)cache_mb;
    so.engine.state_dir = r["state-dir"].as<std::string>();
    so.engine.n_threads = threads_option(r);
    so.max_tokens = r["max-tokens"].as<int64_t>();
    if (so.max_tokens < 1 || so.max_tokens > (1 << 24)) rwkv_fail("--max-tokens must be in 1..16777216");
    const int64_t body_kb = r["max-body-kb"].as<int64_t>();
    if (body_kb < 1 || body_kb > (1 << 20)) rwkv_fail("--max-body-kb must be in 1..1048576");
    so.max_body_bytes = (size_t)body_kb << 10;
    so.read_timeout_s = r["timeout"].as<int>();
    if (so.read_timeout_s < 1 || so.read_timeout_s > 3600) rwkv_fail("--timeout must be in 1..3600 seconds");
    so.shutdown_grace_s = r["shutdown-grace"].as<double>();
    if (!(so.shutdown_grace_s >= 0 && so.shutdown_grace_s <= 3600)) rwkv_fail("--shutdown-grace must be in 0..3600 seconds");

    LoadedModel lm;
    std::string path = r["model"].as<std::string>();
    if (path.empty()) path = cli_default_model();
    cli_load_model(&lm, path, isa_option(r), load_mode_option(r), act_option(r));
    std::string name = path.substr(path.rfind('/') + 1);
    if (name.size() > 5 && name.compare(name.size() - 5, 5, ".gguf") == 0) name.resize(name.size() - 5);
    so.model_name = name;
    return server_run(&lm.model, &lm.tok, so);
#endif
}
