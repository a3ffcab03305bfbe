#include "core/zeroed_buffer.h"

#include <cstdlib>
#include <cstring>

#include <sys/mman.h>

namespace rembert {

namespace {
constexpr size_t kMapped = size_t{1} << 20;  // from here up: mmap (page aligned, zero, populated)
}

void* allocate_zeroed(size_t bytes) {
  if (bytes >= kMapped) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    return p;
  }
  const size_t rounded = (bytes + 64) / 64 * 64;  // a multiple of the alignment, never 0
  void* p = std::aligned_alloc(64, rounded);
  if (!p) throw std::bad_alloc();
  std::memset(p, 0, rounded);
  return p;
}

void free_zeroed(void* p, size_t bytes) {
  if (!p) return;
  if (bytes >= kMapped) {
    ::munmap(p, bytes);
  } else {
    std::free(p);
  }
}

std::shared_ptr<void> zeroed_buffer(size_t bytes) {
  return std::shared_ptr<void>(allocate_zeroed(bytes), [bytes](void* p) { free_zeroed(p, bytes); });
}

}  // namespace rembert
