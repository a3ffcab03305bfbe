// The GEMM limit of this machine, per compute type: oneDNN's matmul primitive on one RemBERT-shaped product
// (default M=128 tokens, N=4608, K=1152: the feed-forward up-projection of google/rembert), weights packed once into
// the primitive's preferred layout, timed alone. bench/perf.sh divides each path's achieved rate by this.
//   rembert_bench_gemm [--m M] [--n N] [--k K] [--reps R] [--threads T]
// Prints one JSON line per dtype: {"probe": "gemm", "dtype", "m", "n", "k", "gflops", "impl"} (GOP/s for int8), or
// {"probe": "gemm", "dtype", "error"} where this CPU / oneDNN has no such primitive (bf16 on AVX2-only machines);
// then {"probe": "memory", "gb_per_s"}: the read bandwidth over a 1 GiB buffer (the limit of weight-bound decoding).
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <oneapi/dnnl/dnnl.hpp>

namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

double seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void probe(const char* name, dt src_t, dt wei_t, dt dst_t, memory::dim m, memory::dim n, memory::dim k, int reps) {
  try {
    dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    dnnl::stream strm(eng);
    const memory::desc src_md({m, k}, src_t, tag::ab), wei_any({k, n}, wei_t, tag::any), dst_md({m, n}, dst_t, tag::ab);
    const memory::desc wei_plain({k, n}, wei_t, tag::ba);  // PyTorch's [out, in] weight seen as [K, N]
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src_md, wei_any, dst_md), eng);
    memory src(src_md, eng), wei_in(wei_plain, eng), wei(pd.weights_desc(), eng), dst(dst_md, eng);
    // Inputs: small values of the right type (bf16 1.0 = 0x3F80; int8 1), so nothing overflows or is denormal.
    auto fill = [](memory& mem, dt t) {
      const size_t bytes = mem.get_desc().get_size();
      auto* p = static_cast<unsigned char*>(mem.get_data_handle());
      if (t == dt::f32) std::fill_n(reinterpret_cast<float*>(p), bytes / 4, 0.01f);
      else if (t == dt::bf16) std::fill_n(reinterpret_cast<unsigned short*>(p), bytes / 2, static_cast<unsigned short>(0x3F80));
      else std::fill_n(p, bytes, static_cast<unsigned char>(1));
    };
    fill(src, src_t);
    fill(wei_in, wei_t);
    dnnl::reorder(wei_in, wei).execute(strm, wei_in, wei);
    dnnl::matmul mm(pd);
    auto run = [&] { mm.execute(strm, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}}); strm.wait(); };
    for (int i = 0; i < 3; ++i) run();
    std::vector<double> times;
    for (int i = 0; i < reps; ++i) {
      const double t0 = seconds();
      run();
      times.push_back(seconds() - t0);
    }
    std::sort(times.begin(), times.end());
    const double ops = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
    std::printf("{\"probe\": \"gemm\", \"dtype\": \"%s\", \"m\": %lld, \"n\": %lld, \"k\": %lld, \"gflops\": %.1f, "
                "\"impl\": \"%s\"}\n",
                name, static_cast<long long>(m), static_cast<long long>(n), static_cast<long long>(k),
                ops / times[times.size() / 2] / 1e9, pd.impl_info_str());
  } catch (const dnnl::error& e) {
    std::printf("{\"probe\": \"gemm\", \"dtype\": \"%s\", \"error\": \"%s\"}\n", name, e.what());
  }
  std::fflush(stdout);
}

// Reads a buffer far larger than the caches on all threads; best of 5.
void probe_memory() {
  const size_t n = size_t{1} << 28;  // 1 GiB of floats
  std::vector<float> buf(n, 1.0f);
  double best = 1e30, sink = 0;
  for (int rep = 0; rep < 5; ++rep) {
    const double t0 = seconds();
    double sum = 0;
#pragma omp parallel for reduction(+ : sum) schedule(static)
    for (size_t i = 0; i < n; i += 16) {
      float s = 0;
      for (size_t j = 0; j < 16; ++j) s += buf[i + j];
      sum += s;
    }
    best = std::min(best, seconds() - t0);
    sink += sum;
  }
  std::printf("{\"probe\": \"memory\", \"gb_per_s\": %.1f, \"checksum\": %.0f}\n",
              static_cast<double>(n * sizeof(float)) / best / 1e9, sink);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"oneDNN matmul probe: the GEMM limit per compute type"};
  memory::dim m = 128, n = 4608, k = 1152;
  int reps = 20, threads = 0;
  app.add_option("--m", m, "Rows (tokens)")->capture_default_str();
  app.add_option("--n", n, "Output features")->capture_default_str();
  app.add_option("--k", k, "Input features")->capture_default_str();
  app.add_option("--reps", reps, "Timed runs (median)")->capture_default_str();
  app.add_option("--threads", threads, "Threads (default: all cores)");
  CLI11_PARSE(app, argc, argv);
  if (threads > 0) omp_set_num_threads(threads);
  probe("float32", dt::f32, dt::f32, dt::f32, m, n, k, reps);
  probe("bfloat16", dt::bf16, dt::bf16, dt::f32, m, n, k, reps);
  probe("int8", dt::u8, dt::s8, dt::s32, m, n, k, reps);
  probe_memory();
  return 0;
}
