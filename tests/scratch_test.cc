// The per-thread pool of intermediate buffers: a buffer is handed out again only once no Tensor holds it.
#include <thread>

#include "core/scratch.h"
#include "test_util.h"

namespace rembert {
namespace {

TEST(Scratch, ReusedOnceReleasedNeverWhileHeld) {
  release_scratch_pool();
  const void* first = nullptr;
  {
    Tensor a = scratch_tensor(DType::F32, {1000, 100});
    first = a.data<float>();
    Tensor b = scratch_tensor(DType::F32, {1000, 100});  // `a` is held: a second buffer
    EXPECT_NE(b.data<float>(), first);
    EXPECT_GE(scratch_pool_bytes(), 2u * 400000u);
  }
  Tensor c = scratch_tensor(DType::F32, {1000, 100});
  Tensor d = scratch_tensor(DType::F32, {100, 1000});  // same size
  EXPECT_TRUE(c.data<float>() == first || d.data<float>() == first);
  EXPECT_EQ(scratch_pool_bytes(), 2u * (400000u + 64u));  // no third buffer
}

TEST(Scratch, ACopyOfTheTensorKeepsItsBuffer) {
  release_scratch_pool();
  Tensor kept;
  const void* p = nullptr;
  {
    Tensor a = scratch_tensor(DType::F32, {256});
    a.mutable_data<float>()[0] = 42.0f;
    p = a.data<float>();
    kept = a.reshape({16, 16});
  }
  Tensor b = scratch_tensor(DType::F32, {256});
  EXPECT_NE(b.data<float>(), p);
  b.mutable_data<float>()[0] = 7.0f;
  EXPECT_EQ(kept.data<float>()[0], 42.0f);
}

TEST(Scratch, SmallRequestsDoNotTakeLargeBuffers) {
  release_scratch_pool();
  const void* big = nullptr;
  { big = scratch_tensor(DType::F32, {1 << 20}).data<float>(); }
  Tensor small = scratch_tensor(DType::F32, {16});
  EXPECT_NE(small.data<float>(), big);
  release_scratch_pool();  // frees the big one, keeps the held small one
  EXPECT_EQ(scratch_pool_bytes(), 16u * 4u + 64u);
}

TEST(Scratch, EachThreadHasItsOwnPool) {
  release_scratch_pool();
  Tensor mine = scratch_tensor(DType::F32, {64});
  size_t other_before = 1;
  std::thread t([&] {
    other_before = scratch_pool_bytes();
    Tensor theirs = scratch_tensor(DType::F32, {64});
    EXPECT_NE(theirs.data<float>(), mine.data<float>());
  });
  t.join();
  EXPECT_EQ(other_before, 0u);
  EXPECT_EQ(scratch_pool_bytes(), 64u * 4u + 64u);
}

}  // namespace
}  // namespace rembert
