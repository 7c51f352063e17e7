// fuzz_util.h - what the libFuzzer targets share.
//
// The engine's readers take a path (the GGUF reader maps the file), so each
// input is written to one in-memory file (memfd) and opened through its
// /proc/self/fd path: no disk traffic, and exactly the code a user runs.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

// The fuzzer aborts (a finding) when a property does not hold.
#define FUZZ_CHECK(cond, ...)                                             \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "FUZZ_CHECK failed: %s (%s:%d): ", #cond, __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                                 \
            fprintf(stderr, "\n");                                        \
            abort();                                                      \
        }                                                                 \
    } while (0)

// Replace the contents of process-wide memfd number `slot` (0..3) with data;
// return its path.
static inline const char* fuzz_memfile(const uint8_t* data, size_t size, int slot = 0) {
    static int fds[4] = {-1, -1, -1, -1};
    static char paths[4][64];
    int& fd = fds[slot];
    char* path = paths[slot];
    if (fd < 0) {
        fd = memfd_create("rwkv-fuzz", 0);
        if (fd < 0) {
            perror("memfd_create");
            abort();
        }
        snprintf(path, sizeof paths[0], "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size) {
        perror("memfd write");
        abort();
    }
    return path;
}

// $name, else the default (paths of the shared data, set by CMake).
static inline std::string fuzz_env(const char* name, const std::string& fallback) {
    const char* v = getenv(name);
    return v && *v ? std::string(v) : fallback;
}
