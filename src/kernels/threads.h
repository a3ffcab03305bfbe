// The threads the kernels compute on: one OpenMP team per calling thread, shared with oneDNN (Debian's oneDNN is
// built on the same OpenMP runtime), sized once for the whole process.
#pragma once

#include <cstdint>

#include <omp.h>

namespace rembert::kernels {

// The team size every computing thread uses from now on; 0 or less: all cores (OpenMP's default).
void set_compute_threads(int threads);
// The team size a computing thread gets: the value set, else OpenMP's default.
int compute_threads();

// Call at the start of every computation, on the thread that computes. OpenMP's team size is a per-thread setting
// that a new thread (a server's worker, a user's std::thread) does not inherit, so it is applied here; and the
// floating-point modes flush-to-zero and denormals-are-zero are set on this thread and its team (denormal operands
// cost ~100x on x86 and change nothing at the precision the model has). Cheap after the first call on a thread.
void prepare_compute_thread();

// Whether this thread flushes denormals (MXCSR FTZ and DAZ); false off x86.
bool flushes_denormals();

// Below this many multiply-adds a product runs on the calling thread: waking the other threads costs more than it
// saves, and on a busy machine a barrier can wait a whole scheduler time slice for a descheduled thread.
constexpr int64_t kParallelMinWork = int64_t{1} << 23;

// Runs `f` with this thread's team limited to one thread when `work` (multiply-adds) is small.
template <class F>
void maybe_serial(int64_t work, F&& f) {
  if (work >= kParallelMinWork || omp_in_parallel()) {
    f();
    return;
  }
  struct Restore {  // also on an exception
    int threads;
    ~Restore() { omp_set_num_threads(threads); }
  } restore{omp_get_max_threads()};
  omp_set_num_threads(1);
  f();
}

}  // namespace rembert::kernels
