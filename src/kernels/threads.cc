#include "kernels/threads.h"

#include <atomic>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace rembert::kernels {

namespace {

std::atomic<int> g_threads{0};       // 0: OpenMP's default
std::atomic<int> g_generation{1};    // bumped by every set_compute_threads

constexpr unsigned kFtzDaz = 0x8040;  // MXCSR bits 15 (flush to zero) and 6 (denormals are zero)

void flush_denormals_here() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_setcsr(_mm_getcsr() | kFtzDaz);
#endif
}

// OpenMP's default team size (OMP_NUM_THREADS, else all cores), read before anything changes it.
int default_threads() {
  static const int n = omp_get_max_threads();
  return n;
}

}  // namespace

void set_compute_threads(int threads) {
  default_threads();
  g_threads = threads > 0 ? threads : 0;
  ++g_generation;
  prepare_compute_thread();
}

int compute_threads() {
  const int n = g_threads;
  return n > 0 ? n : default_threads();
}

void prepare_compute_thread() {
  // The generation this thread was last prepared for; a new thread starts at 0.
  thread_local int prepared = 0;
  const int generation = g_generation;
  if (prepared == generation) return;
  if (omp_in_parallel()) return;  // inside a team: its master was prepared
  omp_set_num_threads(compute_threads());
  flush_denormals_here();
  // The team's threads persist between parallel regions (threads added later copy the master's MXCSR).
#pragma omp parallel
  flush_denormals_here();
  prepared = generation;
}

bool flushes_denormals() {
#if defined(__x86_64__) || defined(__i386__)
  return (_mm_getcsr() & kFtzDaz) == kFtzDaz;
#else
  return false;
#endif
}

}  // namespace rembert::kernels
