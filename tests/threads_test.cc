// The process-wide thread count and the floating-point modes reach every computing thread, also threads started
// after set_num_threads (a server's worker, a user's std::thread), which OpenMP does not give the setting to.
#include <omp.h>

#include <thread>
#include <vector>

#include "kernels/threads.h"
#include "rembert/model.h"
#include "test_util.h"

namespace rembert {
namespace {

using testing::fixture_path;

// Restores OpenMP's default when a test ends (the setting is process-wide).
struct ThreadsGuard {
  ~ThreadsGuard() { set_num_threads(0); }
};

// A denormal operand under DAZ reads as zero; without it 1e-39 * 1 stays 1e-39.
bool denormal_reads_as_zero() {
  volatile float tiny = 1e-39f, one = 1.0f;
  return tiny * one == 0.0f;
}

TEST(Threads, NewThreadGetsTheTeamSizeSet) {
  ThreadsGuard guard;
  set_num_threads(3);
  EXPECT_EQ(num_threads(), 3);
  int before = 0, after = 0;
  std::thread t([&] {
    before = omp_get_max_threads();  // OpenMP's default for a new thread (OMP_NUM_THREADS=1 under ctest)
    kernels::prepare_compute_thread();
    after = omp_get_max_threads();
  });
  t.join();
  EXPECT_EQ(after, 3) << "OpenMP gave the new thread " << before;
  set_num_threads(0);
  EXPECT_EQ(num_threads(), omp_get_max_threads());
}

TEST(Threads, EveryTeamThreadFlushesDenormals) {
  ThreadsGuard guard;
  set_num_threads(2);
  std::vector<int> flushes(2, -1), zero(2, -1);
  std::thread t([&] {
    kernels::prepare_compute_thread();
#pragma omp parallel num_threads(2)
    {
      const int i = omp_get_thread_num();
      flushes[static_cast<size_t>(i)] = kernels::flushes_denormals();
      zero[static_cast<size_t>(i)] = denormal_reads_as_zero();
    }
  });
  t.join();
  for (int i = 0; i < 2; ++i) {
#if defined(__x86_64__)
    EXPECT_EQ(flushes[static_cast<size_t>(i)], 1) << "team thread " << i;
    EXPECT_EQ(zero[static_cast<size_t>(i)], 1) << "team thread " << i;
#endif
  }
}

TEST(Threads, ForwardOnANewThreadUsesTheSetting) {
  ThreadsGuard guard;
  auto model = Model::load(fixture_path("models/base"));
  set_num_threads(2);
  int team = 0;
  bool flushed = false;
  std::thread t([&] {
    ForwardInputs in;
    in.input_ids = Tensor::from_i64({1, 4}, {5, 6, 7, 8});
    model->forward(in);
    team = omp_get_max_threads();
    flushed = kernels::flushes_denormals();
  });
  t.join();
  EXPECT_EQ(team, 2);
#if defined(__x86_64__)
  EXPECT_TRUE(flushed);
#endif
}

}  // namespace
}  // namespace rembert
