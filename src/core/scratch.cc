#include "core/scratch.h"

#include <algorithm>
#include <memory>
#include <new>
#include <vector>

namespace rembert {

namespace {

struct Buffer {
  explicit Buffer(size_t bytes) : capacity(bytes), data(static_cast<unsigned char*>(::operator new(bytes, kAlign))) {}
  ~Buffer() { ::operator delete(data, kAlign); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  static constexpr std::align_val_t kAlign{64};
  size_t capacity;
  unsigned char* data;
};

// Free buffers kept for later calls: at most this many (a forward pass keeps about ten alive at once) and bytes
// (a full-size 8x512 forward pass needs ~200 MB); beyond that the largest are released.
constexpr size_t kMaxFreeBuffers = 32;
constexpr size_t kMaxFreeBytes = size_t{1} << 30;

struct Pool {
  std::vector<std::shared_ptr<Buffer>> buffers;  // a buffer is free when the pool holds its only reference

  std::shared_ptr<Buffer> take(size_t bytes) {
    std::shared_ptr<Buffer>* best = nullptr;
    for (auto& b : buffers) {
      // Best fit among free buffers that are not much larger than asked, so a small request keeps no large buffer.
      if (b.use_count() == 1 && b->capacity >= bytes && b->capacity <= 2 * bytes + 4096 &&
          (!best || b->capacity < (*best)->capacity)) {
        best = &b;
      }
    }
    if (best) return *best;
    trim(kMaxFreeBuffers - 1, kMaxFreeBytes);
    buffers.push_back(std::make_shared<Buffer>(bytes));
    return buffers.back();
  }

  // Keeps the smallest free buffers within both limits; buffers some Tensor holds stay.
  void trim(size_t max_free, size_t max_free_bytes) {
    std::vector<std::shared_ptr<Buffer>> free, kept;
    for (auto& b : buffers) (b.use_count() == 1 ? free : kept).push_back(std::move(b));
    std::sort(free.begin(), free.end(), [](const auto& a, const auto& b) { return a->capacity < b->capacity; });
    size_t count = 0, bytes = 0;
    for (auto& b : free) {
      if (count + 1 > max_free || bytes + b->capacity > max_free_bytes) break;
      ++count;
      bytes += b->capacity;
      kept.push_back(std::move(b));
    }
    buffers = std::move(kept);
  }
};

Pool& pool() {
  thread_local Pool p;
  return p;
}

}  // namespace

Tensor scratch_tensor(DType dtype, Shape shape) {
  const size_t bytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  // Rounded up as Tensor's own buffers are, so that SIMD kernels may read a little past the end.
  std::shared_ptr<Buffer> buffer = pool().take(bytes + 64);
  const void* data = buffer->data;
  return Tensor::view(dtype, std::move(shape), data, std::shared_ptr<const void>(buffer, data), true);
}

size_t scratch_pool_bytes() {
  size_t total = 0;
  for (const auto& b : pool().buffers) total += b->capacity;
  return total;
}

void release_scratch_pool() { pool().trim(0, 0); }

}  // namespace rembert
