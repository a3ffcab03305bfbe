// Forward-pass benchmark: load time, median latency and throughput of one (batch x sequence) shape, and peak memory.
//   rembert_bench_forward --model DIR [--batch 1] [--seq 128] [--reps 5] [--threads 2] [--dtype float32]
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "rembert/error.h"
#include "rembert/model.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rembert forward benchmark"};
  std::string model_dir, dtype = "float32";
  int64_t batch = 1, seq = 128;
  int reps = 5, threads = 2, warmup = 1;
  app.add_option("--model", model_dir, "Model folder (e.g. from `rembert init-random`)")->required();
  app.add_option("--batch", batch)->capture_default_str();
  app.add_option("--seq", seq)->capture_default_str();
  app.add_option("--reps", reps)->capture_default_str();
  app.add_option("--warmup", warmup)->capture_default_str();
  app.add_option("--threads", threads)->capture_default_str();
  app.add_option("--dtype", dtype)->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    rembert::set_num_threads(threads);
    auto start = std::chrono::steady_clock::now();
    rembert::LoadOptions options;
    options.dtype = rembert::weight_dtype_from_name(dtype);
    auto model = rembert::Model::load(model_dir, options);
    const double load_s = seconds_since(start);

    // Deterministic token ids in the vocabulary, [CLS] ... [SEP]-like, no padding.
    const int64_t vocab = model->config().vocab_size;
    std::vector<int64_t> ids(static_cast<size_t>(batch * seq));
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int64_t>((i * 7919 + 13) % static_cast<size_t>(vocab));
    rembert::ForwardInputs in;
    in.input_ids = rembert::Tensor::from_i64({batch, seq}, ids);

    for (int i = 0; i < warmup; ++i) model->forward(in);
    std::vector<double> times;
    for (int i = 0; i < reps; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      model->forward(in);
      times.push_back(seconds_since(t0));
    }
    std::sort(times.begin(), times.end());
    const double median = times[times.size() / 2];
    std::printf("model %s  head %s  weights %s  threads %d\n", model_dir.c_str(), rembert::head_class_name(model->head()),
                rembert::dtype_name(model->weight_dtype()), threads);
    std::printf("load_s %.3f\n", load_s);
    std::printf("shape %lldx%lld  reps %d  median_ms %.1f  min_ms %.1f  tokens_per_s %.1f\n",
                static_cast<long long>(batch), static_cast<long long>(seq), reps, median * 1e3, times.front() * 1e3,
                static_cast<double>(batch * seq) / median);
    std::printf("peak_rss_mib %.0f\n", peak_rss_mib());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rembert_bench_forward: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
