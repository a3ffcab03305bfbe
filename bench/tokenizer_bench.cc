// rembert_bench_tokenizer: tokenizes a corpus (one text per line) in batches on all cores (OpenMP) and prints
// tokens per second, for comparison with Hugging Face tokenizers (bench/tokenizer_peer.js, same file and input).
//
//   rembert_bench_tokenizer --model tests/fixtures/tokenizer --corpus corpus.txt [--slow] [--batch 1024]
//                           [--repeat 3]
// It also prints the time of size() (len(tokenizer)), first and later calls.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "rembert/tokenizer.h"

int main(int argc, char** argv) {
  CLI::App app{"Tokenizer throughput on a corpus (one text per line)"};
  std::string model, corpus;
  bool slow = false;
  size_t batch = 1024;
  int repeat = 3;
  app.add_option("--model", model, "Tokenizer folder")->required();
  app.add_option("--corpus", corpus, "Text file, one text per line")->required();
  app.add_flag("--slow", slow, "Benchmark the slow tokenizer (sentencepiece.model)");
  app.add_option("--batch", batch, "Texts per encode_batch call")->capture_default_str();
  app.add_option("--repeat", repeat, "Timed passes over the corpus (best is reported)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    std::ifstream f(corpus);
    if (!f) throw std::runtime_error("cannot open " + corpus);
    std::vector<std::string> lines;
    size_t bytes = 0;
    for (std::string line; std::getline(f, line);) {
      bytes += line.size() + 1;
      lines.push_back(std::move(line));
    }
    const auto t0 = std::chrono::steady_clock::now();
    auto tok = rembert::load_tokenizer(model, slow ? rembert::TokenizerKind::Slow : rembert::TokenizerKind::Fast);
    const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // len(tokenizer) / get_vocab(): what fill-mask's targets and the server's /decode ask per request.
    const int vocab_calls = 20;
    auto v0 = std::chrono::steady_clock::now();
    int64_t vocab_entries = tok->size();
    const double first_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - v0).count();
    v0 = std::chrono::steady_clock::now();
    for (int i = 0; i < vocab_calls; ++i) vocab_entries = std::max(vocab_entries, tok->size());
    const double next_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - v0).count() / vocab_calls;
    std::printf("size() = %lld: first call %.3f ms, then %.6f ms per call (mean of %d)\n",
                static_cast<long long>(vocab_entries), first_ms, next_ms, vocab_calls);
    double best = 1e30;
    size_t tokens = 0;
    for (int r = 0; r < std::max(repeat, 1); ++r) {
      tokens = 0;
      const auto start = std::chrono::steady_clock::now();
      for (size_t i = 0; i < lines.size(); i += batch) {
        const std::vector<std::string> chunk(lines.begin() + static_cast<std::ptrdiff_t>(i),
                                             lines.begin() + static_cast<std::ptrdiff_t>(std::min(lines.size(), i + batch)));
        const rembert::BatchEncoding b = tok->encode_batch(chunk, nullptr);
        for (const auto& e : b.encodings) tokens += e.input_ids.size();
      }
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    std::printf("rembert.cpp %s: %zu texts, %.1f MB, %zu tokens, load %.3f s, best of %d: %.3f s, %.0f tokens/s, "
                "%.2f MB/s\n",
                slow ? "slow (sentencepiece)" : "fast (tokenizer.json)", lines.size(), static_cast<double>(bytes) / 1e6,
                tokens, load_s, repeat, best, static_cast<double>(tokens) / best, static_cast<double>(bytes) / 1e6 / best);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rembert_bench_tokenizer: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
