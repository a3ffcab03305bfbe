#include "metrics.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace rembert::server {

namespace {

std::string format_double(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

std::vector<double> latency_bounds() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

std::vector<double> powers_of_two(double max) {
  std::vector<double> b;
  for (double v = 1; v <= max; v *= 2) b.push_back(v);
  return b;
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += value;
  ++count_;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  const std::string sep = labels.empty() ? "" : ",";
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i];
    const std::string le = i < bounds_.size() ? format_double(bounds_[i]) : "+Inf";
    out += name + "_bucket{" + labels + sep + "le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
  }
  const std::string braces = labels.empty() ? "" : "{" + labels + "}";
  out += name + "_sum" + braces + " " + format_double(sum_) + "\n";
  out += name + "_count" + braces + " " + std::to_string(count_) + "\n";
}

Metrics::Metrics()
    : batch_size_(powers_of_two(1024)),
      batch_tokens_(powers_of_two(1 << 20)),
      batch_duration_(latency_bounds()),
      queue_wait_(latency_bounds()) {}

void Metrics::record_request(const std::string& route, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++requests_[{route, status}];
  auto it = request_duration_.find(route);
  if (it == request_duration_.end()) it = request_duration_.emplace(route, Histogram(latency_bounds())).first;
  it->second.observe(seconds);
}

void Metrics::record_batch(size_t sequences, int64_t tokens, int64_t padded_tokens, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++batches_;
  batch_size_.observe(static_cast<double>(sequences));
  batch_tokens_.observe(static_cast<double>(tokens));
  batch_duration_.observe(seconds);
  batch_real_tokens_ += tokens;
  batch_padded_tokens_ += padded_tokens;
}

void Metrics::record_queue_wait(double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  queue_wait_.observe(seconds);
}

void Metrics::add_input_tokens(int64_t tokens) {
  std::lock_guard<std::mutex> lock(mutex_);
  input_tokens_ += tokens;
}

std::string Metrics::render(size_t queue_size, int64_t in_flight) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  // A metric family's two comment lines, then (for the one-number families) its sample.
  auto family = [&](const char* name, const char* type, const char* help) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  };
  auto number = [&](const char* name, const char* type, const char* help, int64_t value) {
    family(name, type, help);
    out += std::string(name) + " " + std::to_string(value) + "\n";
  };
  family("rembert_requests_total", "counter", "HTTP requests answered, by route and status.");
  for (const auto& [key, count] : requests_) {
    out += "rembert_requests_total{route=\"" + key.first + "\",status=\"" + std::to_string(key.second) + "\"} " +
           std::to_string(count) + "\n";
  }
  family("rembert_request_duration_seconds", "histogram", "End-to-end request latency, by route.");
  for (const auto& [route, h] : request_duration_) h.render(out, "rembert_request_duration_seconds", "route=\"" + route + "\"");
  number("rembert_queue_size", "gauge", "Sequences and jobs waiting for the model.", static_cast<int64_t>(queue_size));
  number("rembert_in_flight_requests", "gauge",
         "Inference requests being handled (the --max-concurrent-requests limit).", in_flight);
  family("rembert_queue_wait_seconds", "histogram", "Time a sequence waited in the queue before its batch ran.");
  queue_wait_.render(out, "rembert_queue_wait_seconds", "");
  number("rembert_batches_total", "counter", "Forward passes run by the batcher.", static_cast<int64_t>(batches_));
  family("rembert_batch_size", "histogram", "Sequences per forward pass.");
  batch_size_.render(out, "rembert_batch_size", "");
  family("rembert_batch_tokens", "histogram", "Real (unpadded) tokens per forward pass.");
  batch_tokens_.render(out, "rembert_batch_tokens", "");
  family("rembert_batch_duration_seconds", "histogram", "Compute time of one forward pass of the batcher.");
  batch_duration_.render(out, "rembert_batch_duration_seconds", "");
  number("rembert_batch_tokens_total", "counter", "Real tokens run through batched forward passes.",
         batch_real_tokens_);
  number("rembert_batch_padded_tokens_total", "counter",
         "Batch size times longest sequence, summed (the padded shape).", batch_padded_tokens_);
  number("rembert_input_tokens_total", "counter", "Tokens of validated inputs, all routes.", input_tokens_);
  return out;
}

}  // namespace rembert::server
