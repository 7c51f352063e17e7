// huge_pages.h - memory in 2 MiB pages, for what is streamed from DRAM.
//
// On this VM a stream from scattered 4 KiB pages (the page cache, or an
// ordinary heap buffer) reads 30-40% slower than from transparent huge pages
// (docs/performance.md). Three things want the fast kind: the --no-mmap copy of a
// model (gguf.cpp), the bench's read probe, and bench_matmul's weights.
#pragma once

#include <cstddef>
#include <cstdint>

struct HugeRegion {
    uint8_t* data = nullptr;  // 2 MiB-aligned, `size` bytes
    size_t size = 0;          // the bytes asked for, rounded up to 2 MiB
    void* base = nullptr;     // the mapping behind it (a little larger, for the alignment)
    size_t base_size = 0;
};

// An anonymous region advised for transparent huge pages (a hint: without
// THP it is 4 KiB pages), every page touched once so that later writes do
// not fault one page at a time (reading 0.9 GB into untouched pages took
// 2.1 s here, touching first then reading 0.2-0.6 s). Zero-filled. Fails
// (rwkv_fail) naming `what` if there is no memory for it.
void huge_region_alloc(HugeRegion* r, size_t bytes, const char* what);

// Make it read-only (the model's weights, once copied), or writable again
// (for the load-time repack of quantized weights, model.cpp).
void huge_region_protect(HugeRegion* r);
void huge_region_unprotect(HugeRegion* r);

void huge_region_free(HugeRegion* r);
