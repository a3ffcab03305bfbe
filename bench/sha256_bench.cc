// rembert_bench_sha256: the sha256 of a file as the hub checks a downloaded blob (hub/sha256.h), with its speed.
//
//   rembert_bench_sha256 FILE     (e.g. a 1 GB file: head -c 1G /dev/urandom > /tmp/blob)
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <sys/stat.h>

#include "hub/sha256.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: rembert_bench_sha256 FILE\n");
    return 2;
  }
  try {
    struct stat st {};
    if (::stat(argv[1], &st) != 0) throw std::runtime_error(std::string("cannot stat ") + argv[1]);
    const auto t0 = std::chrono::steady_clock::now();
    const std::string digest = rembert::hub::sha256_file_hex(argv[1]);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%s  %s: %.1f MB in %.3f s, %.0f MB/s\n", digest.c_str(), argv[1], static_cast<double>(st.st_size) / 1e6,
                s, static_cast<double>(st.st_size) / 1e6 / s);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rembert_bench_sha256: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
