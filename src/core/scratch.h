// Tensors for the intermediate results of a computation, from a per-thread pool of buffers that are handed out
// again once no Tensor holds them: a forward pass allocates, zero-fills and faults in no fresh pages per op after the
// first call of its shape on a thread. Contents are uninitialized: every element must be written before it is read.
#pragma once

#include <cstddef>

#include "rembert/tensor.h"

namespace rembert {

Tensor scratch_tensor(DType dtype, Shape shape);

// Bytes this thread's pool holds, in use or free (for tests and diagnostics).
size_t scratch_pool_bytes();
// Frees the buffers of this thread's pool that no Tensor holds.
void release_scratch_pool();

}  // namespace rembert
