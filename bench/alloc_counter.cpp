// Counts allocations: replaces the global operator new (every other form of new and every
// standard container ends up here), so a benchmark can report allocations per point or per
// poll. Relaxed atomics: the count is read only by the thread that made the allocations.
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>

#include "bench_util.hpp"

namespace {
std::atomic<std::uint64_t> g_allocations{0};
}

std::uint64_t pulse::bench::allocations() {
    return g_allocations.load(std::memory_order_relaxed);
}

void* operator new(std::size_t size) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(size == 0 ? 1 : size)) {
        return p;
    }
    throw std::bad_alloc();
}

void* operator new[](std::size_t size) {
    return operator new(size);
}

void operator delete(void* p) noexcept {
    std::free(p);
}

void operator delete[](void* p) noexcept {
    std::free(p);
}

void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}

void operator delete[](void* p, std::size_t) noexcept {
    std::free(p);
}
