#include "batcher.h"

#include <algorithm>
#include <exception>

namespace rembert::server {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

RequestGroup::RequestGroup(std::vector<Sequence> sequences)
    : sequences_(std::move(sequences)), remaining_(sequences_.size()) {}

void RequestGroup::wait() {
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock, [&] { return remaining_ == 0; });
}

void RequestGroup::done_one() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (remaining_ > 0 && --remaining_ == 0) cv_.notify_all();
}

Batcher::Batcher(std::shared_ptr<const Model> model, BatcherOptions options, Metrics& metrics)
    : model_(std::move(model)), options_(options), metrics_(metrics) {
  worker_ = std::thread([this] { run(); });
}

Batcher::~Batcher() { stop(); }

void Batcher::submit(const std::shared_ptr<RequestGroup>& group) {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (size_t i = 0; i < group->sequences().size(); ++i) {
      Entry e;
      e.group = group;
      e.index = i;
      e.tokens = static_cast<int64_t>(group->sequences()[i].input_ids.size());
      e.queued_at = now;
      queue_.push_back(std::move(e));
    }
  }
  cv_.notify_one();
}

void Batcher::submit_solo(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    Entry e;
    e.solo = std::move(job);
    e.queued_at = std::chrono::steady_clock::now();
    queue_.push_back(std::move(e));
  }
  cv_.notify_one();
}

void Batcher::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  running_ = false;
}

size_t Batcher::queue_size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return queue_.size();
}

void Batcher::run() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued has run
    }
    if (options_.debug_delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(options_.debug_delay_ms));

    std::vector<Entry> batch;
    std::function<void()> solo;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!queue_.front().group) {
        solo = std::move(queue_.front().solo);
        metrics_.record_queue_wait(seconds_since(queue_.front().queued_at));
        queue_.pop_front();
      } else {
        // Arrival order; stop at the first entry that would overflow the token budget (a lone entry larger than
        // the budget runs by itself) or at a solo job.
        int64_t tokens = 0;
        while (!queue_.empty() && queue_.front().group) {
          const Entry& e = queue_.front();
          if (!batch.empty() && tokens + e.tokens > options_.max_batch_tokens) break;
          if (options_.max_batch_requests > 0 && static_cast<int64_t>(batch.size()) >= options_.max_batch_requests) break;
          tokens += e.tokens;
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
    }
    if (solo) {
      try {
        solo();
      } catch (...) {
        // A solo job reports its own errors; nothing may escape into the worker.
      }
      continue;
    }
    run_batch(batch);
  }
}

void Batcher::run_batch(std::vector<Entry>& batch) {
  const auto B = static_cast<int64_t>(batch.size());
  int64_t S = 0, real_tokens = 0;
  for (Entry& e : batch) {
    S = std::max(S, e.tokens);
    real_tokens += e.tokens;
    metrics_.record_queue_wait(seconds_since(e.queued_at));
  }
  const auto start = std::chrono::steady_clock::now();
  try {
    // Right padding to the longest sequence; the attention mask marks the real tokens (ones, then zeros).
    std::vector<int64_t> ids(static_cast<size_t>(B * S), options_.pad_token_id), types(static_cast<size_t>(B * S), 0),
        mask(static_cast<size_t>(B * S), 0);
    for (int64_t b = 0; b < B; ++b) {
      const Sequence& s = batch[static_cast<size_t>(b)].group->sequences()[batch[static_cast<size_t>(b)].index];
      for (size_t t = 0; t < s.input_ids.size(); ++t) {
        const auto at = static_cast<size_t>(b * S) + t;
        ids[at] = s.input_ids[t];
        types[at] = t < s.token_type_ids.size() ? s.token_type_ids[t] : 0;
        mask[at] = 1;
      }
    }
    ForwardInputs in;
    in.input_ids = Tensor::from_i64({B, S}, ids);
    in.token_type_ids = Tensor::from_i64({B, S}, types);
    in.attention_mask = Tensor::from_i64({B, S}, mask);
    in.output_attentions = false;
    in.output_hidden_states = false;
    const ForwardOutputs out = model_->forward(in);

    for (int64_t b = 0; b < B; ++b) {
      Entry& e = batch[static_cast<size_t>(b)];
      Sequence& s = e.group->sequences()[e.index];
      const auto len = static_cast<int64_t>(s.input_ids.size());
      if (s.reduce == Reduce::Logits) {
        const Tensor logits = out.logits.to_f32();
        const int64_t L = logits.dim(1);
        const float* row = logits.data<float>() + b * L;
        s.values.assign(row, row + L);
      } else {
        const Tensor hidden = out.last_hidden_state.to_f32();
        const int64_t H = hidden.dim(2);
        const float* base = hidden.data<float>() + b * S * H;
        if (s.reduce == Reduce::Cls) {
          s.values.assign(base, base + H);
        } else if (s.reduce == Reduce::AllTokens) {
          s.values.assign(base, base + len * H);
        } else {  // Mean over the real tokens only
          std::vector<double> sum(static_cast<size_t>(H), 0.0);
          for (int64_t t = 0; t < len; ++t)
            for (int64_t h = 0; h < H; ++h) sum[static_cast<size_t>(h)] += base[t * H + h];
          s.values.resize(static_cast<size_t>(H));
          for (int64_t h = 0; h < H; ++h)
            s.values[static_cast<size_t>(h)] = static_cast<float>(sum[static_cast<size_t>(h)] / static_cast<double>(len));
        }
      }
    }
  } catch (const std::exception& ex) {
    for (Entry& e : batch) e.group->sequences()[e.index].error = ex.what();
  } catch (...) {
    for (Entry& e : batch) e.group->sequences()[e.index].error = "unknown error in the forward pass";
  }
  metrics_.record_batch(batch.size(), real_tokens, B * S,
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  for (Entry& e : batch) e.group->done_one();
}

}  // namespace rembert::server
