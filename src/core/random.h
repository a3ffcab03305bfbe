// A counter-based normal generator: value i of stream s under seed k is a pure function of (k, s, i), so filling
// in parallel gives the same numbers as filling serially, on every machine.
#pragma once

#include <cmath>
#include <cstdint>

namespace rembert {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Fills out[0..n) with N(0, stddev) samples (Box-Muller on pairs).
inline void fill_normal(float* out, int64_t n, float stddev, uint64_t seed, uint64_t stream) {
  const uint64_t base = splitmix64(seed ^ splitmix64(stream + 0x632be59bd9b4e019ull));
#pragma omp parallel for if (n > 65536) schedule(static)
  for (int64_t pair = 0; pair < (n + 1) / 2; ++pair) {
    const uint64_t r = splitmix64(base + static_cast<uint64_t>(pair));
    // Two 32-bit uniforms in (0, 1].
    const double u1 = (static_cast<double>(r >> 32) + 1.0) / 4294967296.0;
    const double u2 = (static_cast<double>(r & 0xffffffffull) + 1.0) / 4294967296.0;
    const double radius = std::sqrt(-2.0 * std::log(u1)) * stddev;
    const double angle = 6.283185307179586 * u2;
    out[2 * pair] = static_cast<float>(radius * std::cos(angle));
    if (2 * pair + 1 < n) out[2 * pair + 1] = static_cast<float>(radius * std::sin(angle));
  }
}

}  // namespace rembert
