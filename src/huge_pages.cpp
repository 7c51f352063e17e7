#include "huge_pages.h"

#include <cerrno>
#include <cstring>
#include <sys/mman.h>

#include "common.h"

static const size_t HUGE_PAGE = 2u << 20;

void huge_region_alloc(HugeRegion* r, size_t bytes, const char* what) {
    const size_t size = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    const size_t base_size = size + HUGE_PAGE;  // room to align the start
    void* base = mmap(nullptr, base_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED)
        rwkv_fail("%s: cannot allocate %.1f MiB: %s", what, (double)base_size / (1 << 20), strerror(errno));
    r->base = base;
    r->base_size = base_size;
    r->data = (uint8_t*)(((uintptr_t)base + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    r->size = size;
#ifdef MADV_HUGEPAGE
    madvise(r->data, size, MADV_HUGEPAGE);
#endif
    for (size_t at = 0; at < size; at += 4096) r->data[at] = 0;
}

void huge_region_protect(HugeRegion* r) {
    if (r->data) mprotect(r->data, r->size, PROT_READ);
}

void huge_region_unprotect(HugeRegion* r) {
    if (r->data) mprotect(r->data, r->size, PROT_READ | PROT_WRITE);
}

void huge_region_free(HugeRegion* r) {
    if (r->base) munmap(r->base, r->base_size);
    *r = HugeRegion();
}
