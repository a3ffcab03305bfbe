// Load generator for rembert-server (a benchmark, not a test): N concurrent clients, each on its own keep-alive
// connection, send requests back to back for a fixed time (or a fixed count) and check every answer's status.
// Prints one Markdown table row: clients, requests, errors, throughput, p50 and p99 latency.
//
//   rembert_server_load --port 8080 --clients 64 --seconds 10 [--route /embed] [--requests-per-client N]
// (/fill-mask gets a [MASK] in each text, /question-answering a question about it.)
#include <httplib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  std::string host = "127.0.0.1", route = "/embed", label;
  int port = 8080, clients = 1, requests_per_client = 0;
  double seconds = 10;
  CLI::App app{"Load generator for rembert-server"};
  app.add_option("--host", host)->capture_default_str();
  app.add_option("--port", port)->required();
  app.add_option("--clients", clients, "Concurrent clients")->capture_default_str();
  app.add_option("--seconds", seconds, "Duration of the run (ignored with --requests-per-client)")->capture_default_str();
  app.add_option("--requests-per-client", requests_per_client, "Fixed number of requests per client instead");
  app.add_option("--route", route, "/embed, /predict, /fill-mask, /token-classification, /question-answering or /generate")
      ->capture_default_str();
  app.add_option("--label", label, "First column of the printed row");
  int max_new_tokens = 16;
  app.add_option("--max-new-tokens", max_new_tokens, "/generate: tokens per request")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  // Texts of mixed lengths (about 8 to 50 tokens with the fixture tokenizer), so that batches hold sequences of different lengths.
  const std::vector<std::string> words = {"the", "model", "reads", "a", "sentence", "about", "Paris", "and",
                                          "returns", "one", "vector", "for", "search", "quickly", "today"};
  std::vector<std::string> bodies;
  for (int k = 0; k < 64; ++k) {
    std::string text = "request " + std::to_string(k);
    for (int w = 0; w < 2 + (k * 7) % 12; ++w) text += " " + words[static_cast<size_t>(k + w) % words.size()];
    if (route == "/fill-mask") {
      bodies.push_back(nlohmann::json{{"inputs", text + " [MASK] " + words[static_cast<size_t>(k) % words.size()]}}.dump());
    } else if (route == "/question-answering") {
      bodies.push_back(nlohmann::json{{"question", "what does the " + words[static_cast<size_t>(k) % words.size()] + " do?"},
                                      {"context", text}}.dump());
    } else if (route == "/generate") {
      bodies.push_back(nlohmann::json{{"inputs", text}, {"parameters", {{"max_new_tokens", max_new_tokens}}}}.dump());
    } else {
      bodies.push_back(nlohmann::json{{"inputs", text}}.dump());
    }
  }

  std::mutex mutex;
  std::vector<double> latencies;
  std::atomic<int64_t> errors{0};
  const auto start = std::chrono::steady_clock::now();
  const auto until = start + std::chrono::duration<double>(seconds);
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      httplib::Client client(host, port);
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);
      client.set_read_timeout(600, 0);
      std::vector<double> mine;
      for (int k = 0;; ++k) {
        if (requests_per_client > 0 ? k >= requests_per_client : std::chrono::steady_clock::now() >= until) break;
        const std::string& body = bodies[static_cast<size_t>(c * 31 + k) % bodies.size()];
        const auto t0 = std::chrono::steady_clock::now();
        auto res = client.Post(route.c_str(), body, "application/json");
        mine.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        if (!res || res->status != 200) {
          if (errors++ < 3) {
            std::fprintf(stderr, "error: %s\n", res ? (std::to_string(res->status) + " " + res->body).c_str()
                                                     : httplib::to_string(res.error()).c_str());
          }
        }
      }
      std::lock_guard<std::mutex> lock(mutex);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    });
  }
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::sort(latencies.begin(), latencies.end());
  auto percentile = [&](double p) {
    if (latencies.empty()) return 0.0;
    const auto i = static_cast<size_t>(p * static_cast<double>(latencies.size() - 1) + 0.5);
    return latencies[std::min(i, latencies.size() - 1)] * 1000.0;
  };
  std::printf("| %s | %d | %zu | %lld | %.1f | %.1f | %.1f |\n", label.c_str(), clients, latencies.size(),
              static_cast<long long>(errors.load()), static_cast<double>(latencies.size()) / elapsed, percentile(0.5),
              percentile(0.99));
  return errors.load() == 0 ? 0 : 1;
}
