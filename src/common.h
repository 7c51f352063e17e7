// common.h - the one error path of rwkv-cli.
//
// Every check that can fail (a file, a tensor, a flag) calls rwkv_fail() with a
// message that names what is at fault. It throws RwkvError; the CLI's main()
// catches it, prints "rwkv-cli: error: <message>" on one line and exits 1.
// Nothing else in the engine throws, so there is a single place where errors
// become exit codes.
#pragma once

#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

struct RwkvError : std::runtime_error {
    explicit RwkvError(const std::string& msg) : std::runtime_error(msg) {}
};

// printf-style; never returns.
[[noreturn]] void rwkv_fail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// printf into a std::string (for building messages).
std::string strprintf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
