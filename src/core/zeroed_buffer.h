// Zero-filled memory for the big buffers: tensors, optimizer moments. From 1 MiB up it comes from mmap with
// MAP_POPULATE, so the kernel maps every zeroed page in one call instead of taking a page fault per 4 KiB on first
// touch. On a virtual machine each fault costs ~15 us: loading full-size RemBERT for training (parameters,
// gradients and AdamW moments, 9 GB) took 3M faults and ~40 s that way.
#pragma once

#include <cstddef>
#include <memory>
#include <new>

namespace rembert {

// `bytes` of zeros (at least 64-byte aligned); throws std::bad_alloc when the memory is not there.
void* allocate_zeroed(size_t bytes);
void free_zeroed(void* p, size_t bytes);  // `bytes` as allocated
// A shared owner of allocate_zeroed(bytes).
std::shared_ptr<void> zeroed_buffer(size_t bytes);

// std::vector's allocator on allocate_zeroed (the vector still writes its elements' initial values).
template <class T>
struct ZeroedAllocator {
  using value_type = T;
  ZeroedAllocator() = default;
  template <class U>
  ZeroedAllocator(const ZeroedAllocator<U>&) {}  // NOLINT: allocators convert implicitly
  T* allocate(size_t n) { return static_cast<T*>(allocate_zeroed(n * sizeof(T))); }
  void deallocate(T* p, size_t n) { free_zeroed(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const ZeroedAllocator<U>&) const { return true; }
  template <class U>
  bool operator!=(const ZeroedAllocator<U>&) const { return false; }
};

}  // namespace rembert
