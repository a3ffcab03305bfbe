// libFuzzer's entry point for one target of harness.h; CMake builds this file once per target as fuzz_<name>,
// with REMBERT_FUZZ_TARGET set to the harness function.
#include <cstddef>
#include <cstdint>

#include "harness.h"

#ifndef REMBERT_FUZZ_TARGET
#error "REMBERT_FUZZ_TARGET must name a function of harness.h"
#endif

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rembert::fuzz::REMBERT_FUZZ_TARGET(data, size);
  return 0;
}
