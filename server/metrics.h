// Prometheus metrics of the server (text exposition format 0.0.4), rendered by GET /metrics.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace rembert::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double value);
  // `name`_bucket{labels,le=...}, `name`_sum{labels}, `name`_count{labels}; `labels` is "" or `key="v",...`.
  void render(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket (not cumulative); one more for +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

class Metrics {
 public:
  Metrics();
  // One HTTP request answered on `route` with `status`, taking `seconds` end to end.
  void record_request(const std::string& route, int status, double seconds);
  // One forward pass of the batcher: sequences in it, real tokens, padded tokens (B x longest), compute seconds.
  void record_batch(size_t sequences, int64_t tokens, int64_t padded_tokens, double seconds);
  // Time a sequence spent queued before its batch started.
  void record_queue_wait(double seconds);
  // Tokens of validated inputs (what the model will see).
  void add_input_tokens(int64_t tokens);
  std::string render(size_t queue_size, int64_t in_flight) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, Histogram> request_duration_;
  Histogram batch_size_, batch_tokens_, batch_duration_, queue_wait_;
  uint64_t batches_ = 0;
  int64_t input_tokens_ = 0, batch_real_tokens_ = 0, batch_padded_tokens_ = 0;
};

}  // namespace rembert::server
