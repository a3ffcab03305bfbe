// A deliberate data race, built only in the ThreadSanitizer build: ctest expects it to fail (WILL_FAIL), which
// proves the TSan suite (ctest -L tsan) really runs under a working ThreadSanitizer with the suite's options.
#include <cstdio>
#include <thread>

namespace {
int counter = 0;  // written by two threads with no synchronisation: the race TSan must report
}

int main() {
  std::thread a([] { for (int i = 0; i < 100000; ++i) ++counter; });
  std::thread b([] { for (int i = 0; i < 100000; ++i) ++counter; });
  a.join();
  b.join();
  std::printf("counter %d (no ThreadSanitizer report: this build is not checking races)\n", counter);
  return 0;
}
