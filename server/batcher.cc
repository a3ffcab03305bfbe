#include "batcher.h"

#include <algorithm>
#include <cstring>
#include <exception>

#include "rembert/error.h"

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

bool Batcher::batchable(const ForwardInputs& in, const RemBertConfig& config) {
  if (!in.input_ids.defined() || in.input_ids.ndim() != 2 || in.input_ids.dim(0) != 1 || in.inputs_embeds.defined() ||
      in.position_ids.defined() || in.head_mask.defined() || in.encoder_hidden_states.defined() ||
      !in.past_key_values.empty() || in.cache || in.labels.defined() || in.start_positions.defined() ||
      in.end_positions.defined() || !in.skip_padding || config.is_decoder ||
      in.output_attentions.value_or(config.output_attentions) ||
      in.output_hidden_states.value_or(config.output_hidden_states)) {
    return false;
  }
  const int64_t S = in.input_ids.dim(1);
  if (in.token_type_ids.defined() && in.token_type_ids.shape() != Shape{1, S}) return false;
  if (in.attention_mask.defined()) {
    if (in.attention_mask.shape() != Shape{1, S}) return false;
    const std::vector<int64_t> m = in.attention_mask.to_i64_vector();
    if (S == 0 || m[0] != 1) return false;
    for (int64_t t = 1; t < S; ++t) {
      if (m[static_cast<size_t>(t)] != 0 && m[static_cast<size_t>(t)] != 1) return false;
      if (m[static_cast<size_t>(t)] == 1 && m[static_cast<size_t>(t - 1)] == 0) return false;  // not right padding
    }
  }
  return true;
}

bool Batcher::decode_step(const ForwardInputs& in) {
  return in.cache && in.cache->batch() == 1 && in.input_ids.defined() && in.input_ids.shape() == Shape{1, 1} &&
         !in.attention_mask.defined() && !in.token_type_ids.defined() && !in.position_ids.defined() &&
         !in.inputs_embeds.defined() && !in.head_mask.defined() && !in.encoder_hidden_states.defined() &&
         in.past_key_values.empty() && in.caches.empty() && !in.labels.defined() &&
         (in.logits_rows.empty() || in.logits_rows == std::vector<int64_t>{0}) && !in.output_attentions.value_or(false) &&
         !in.output_hidden_states.value_or(false);
}

namespace {

// A sequence's own rows out of the batch's [N, S_max, ...] (per-token) or [N, ...] (per-sequence) output, as the
// [1, S, ...] / [1, ...] tensor a forward of that sequence alone returns.
Tensor slice_sequence(const Tensor& batch, int64_t j, int64_t S, bool per_token) {
  if (!batch.defined()) return batch;
  const Tensor t = batch.to_f32();
  Shape shape = t.shape();
  const int64_t inner = t.numel() / (shape[0] * (per_token ? shape[1] : 1));
  const int64_t offset = per_token ? j * shape[1] * inner : j * inner;
  shape[0] = 1;
  if (per_token) shape[1] = S;
  Tensor out(DType::F32, shape);
  std::memcpy(out.mutable_data<float>(), t.data<float>() + offset,
              static_cast<size_t>((per_token ? S : 1) * inner) * sizeof(float));
  return out;
}

Tensor slice_rows(const Tensor& batch, int64_t first, int64_t count) {
  const Tensor t = batch.to_f32();
  const int64_t width = t.dim(1);
  Tensor out(DType::F32, {count, width});
  std::memcpy(out.mutable_data<float>(), t.data<float>() + first * width,
              static_cast<size_t>(count * width) * sizeof(float));
  return out;
}

// The reduction a TEI route asks for, of one sequence's outputs.
void reduce_into(const ForwardOutputs& out, Sequence& s) {
  if (s.reduce == Reduce::Logits) {
    const Tensor logits = out.logits.to_f32();
    s.values.assign(logits.data<float>(), logits.data<float>() + logits.numel());
    return;
  }
  const Tensor hidden = out.last_hidden_state.to_f32();
  const int64_t len = hidden.dim(1), H = hidden.dim(2);
  const float* base = hidden.data<float>();
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

// Forwards with logits_rows (fill-mask) and without share no batch: the model computes the vocabulary projection
// either for the given rows or for all of them.
bool same_kind(const ForwardInputs& a, const ForwardInputs& b) {
  return a.logits_rows.empty() == b.logits_rows.empty() && (a.cache != nullptr) == (b.cache != nullptr);
}

}  // namespace

void Batcher::enqueue(std::vector<Entry> entries) {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopped_) throw Error("the server is shutting down");  // no worker left to answer
    for (Entry& e : entries) {
      e.queued_at = now;
      queue_.push_back(std::move(e));
    }
  }
  cv_.notify_one();
}

void Batcher::submit(const std::shared_ptr<RequestGroup>& group) {
  std::vector<Entry> entries;
  for (size_t i = 0; i < group->sequences().size(); ++i) {
    const Sequence& s = group->sequences()[i];
    const auto S = static_cast<int64_t>(s.input_ids.size());
    Entry e;
    e.in.input_ids = Tensor::from_i64({1, S}, s.input_ids);
    std::vector<int64_t> types = s.token_type_ids;
    types.resize(static_cast<size_t>(S), 0);
    e.in.token_type_ids = Tensor::from_i64({1, S}, types);
    e.in.attention_mask = Tensor::from_i64({1, S}, std::vector<int64_t>(static_cast<size_t>(S), 1));
    e.in.output_attentions = false;
    e.in.output_hidden_states = false;
    e.tokens = S;
    e.finish = [group, i](ForwardOutputs* out, const std::string& error) {
      Sequence& seq = group->sequences()[i];
      if (out) {
        try {
          reduce_into(*out, seq);
        } catch (const std::exception& ex) {
          seq.error = ex.what();
        }
      } else {
        seq.error = error;
      }
      group->done_one();
    };
    entries.push_back(std::move(e));
  }
  enqueue(std::move(entries));
}

ForwardOutputs Batcher::forward(ForwardInputs in) {
  auto promise = std::make_shared<std::promise<ForwardOutputs>>();
  std::future<ForwardOutputs> result = promise->get_future();
  Entry e;
  e.decode = decode_step(in);
  if (e.decode || batchable(in, model_->config())) {
    e.tokens = in.input_ids.dim(1);
    e.in = std::move(in);
    e.finish = [promise](ForwardOutputs* out, const std::string& error) {
      if (out) {
        promise->set_value(std::move(*out));
      } else {
        promise->set_exception(std::make_exception_ptr(Error(error)));
      }
    };
  } else {
    e.solo = [this, promise, in = std::move(in)] {
      try {
        promise->set_value(model_->forward(in));
      } catch (...) {
        promise->set_exception(std::current_exception());
      }
    };
  }
  std::vector<Entry> entries;
  entries.push_back(std::move(e));
  enqueue(std::move(entries));
  return result.get();
}

void Batcher::submit_solo(std::function<void()> job) {
  Entry e;
  e.solo = std::move(job);
  std::vector<Entry> entries;
  entries.push_back(std::move(e));
  enqueue(std::move(entries));
}

void Batcher::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  std::lock_guard<std::mutex> lock(mutex_);
  stopped_ = true;
  running_ = false;
}

size_t Batcher::decode_steps_at_front() const {
  size_t n = 0;
  while (n < queue_.size() && queue_[n].decode) ++n;
  return n;
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
      std::unique_lock<std::mutex> lock(mutex_);
      if (queue_.front().decode && decode_steps_at_front() < last_decode_batch_) {
        // The other running generations are about to queue their next steps: give them a moment to join.
        cv_.wait_for(lock, std::chrono::milliseconds(2),
                     [&] { return stopping_ || decode_steps_at_front() >= last_decode_batch_; });
      }
      if (queue_.front().solo) {
        solo = std::move(queue_.front().solo);
        metrics_.record_queue_wait(seconds_since(queue_.front().queued_at));
        queue_.pop_front();
      } else {
        // Arrival order; stop at the first entry that would overflow the token budget (a lone entry larger than
        // the budget runs by itself), at one of another kind, or at a solo job.
        int64_t tokens = 0;
        while (!queue_.empty() && !queue_.front().solo) {
          const Entry& e = queue_.front();
          if (!batch.empty() && tokens + e.tokens > options_.max_batch_tokens) break;
          if (!batch.empty() && !same_kind(batch.front().in, e.in)) break;
          if (options_.max_batch_requests > 0 && static_cast<int64_t>(batch.size()) >= options_.max_batch_requests) break;
          tokens += e.tokens;
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
        if (batch.front().decode) last_decode_batch_ = batch.size();
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
  const auto N = static_cast<int64_t>(batch.size());
  int64_t S = 0, real_tokens = 0;
  for (Entry& e : batch) {
    S = std::max(S, e.tokens);
    real_tokens += e.tokens;
    metrics_.record_queue_wait(seconds_since(e.queued_at));
  }
  const auto start = std::chrono::steady_clock::now();
  std::string error;
  std::vector<ForwardOutputs> outs(static_cast<size_t>(N));
  try {
    if (N == 1) {
      outs[0] = model_->forward(batch[0].in);  // exactly the forward of the sequence alone
    } else {
      // Right padding to the longest sequence; each sequence keeps its own mask, then zeros.
      std::vector<int64_t> ids(static_cast<size_t>(N * S), options_.pad_token_id), types(static_cast<size_t>(N * S), 0),
          mask(static_cast<size_t>(N * S), 0), rows;
      std::vector<int64_t> first_row(static_cast<size_t>(N), 0);
      for (int64_t j = 0; j < N; ++j) {
        const ForwardInputs& in = batch[static_cast<size_t>(j)].in;
        const int64_t len = batch[static_cast<size_t>(j)].tokens;
        const std::vector<int64_t> id = in.input_ids.to_i64_vector();
        const std::vector<int64_t> type = in.token_type_ids.defined() ? in.token_type_ids.to_i64_vector()
                                                                      : std::vector<int64_t>(static_cast<size_t>(len), 0);
        const std::vector<int64_t> m = in.attention_mask.defined() ? in.attention_mask.to_i64_vector()
                                                                   : std::vector<int64_t>(static_cast<size_t>(len), 1);
        std::copy(id.begin(), id.end(), ids.begin() + j * S);
        std::copy(type.begin(), type.end(), types.begin() + j * S);
        std::copy(m.begin(), m.end(), mask.begin() + j * S);
        first_row[static_cast<size_t>(j)] = static_cast<int64_t>(rows.size());
        for (int64_t r : in.logits_rows) rows.push_back(j * S + r);
      }
      ForwardInputs in;
      in.input_ids = Tensor::from_i64({N, S}, ids);
      if (batch.front().decode) {
        for (Entry& e : batch) in.caches.push_back(e.in.cache);  // each row after its own cache's positions
      } else {
        in.token_type_ids = Tensor::from_i64({N, S}, types);
        in.attention_mask = Tensor::from_i64({N, S}, mask);
      }
      in.logits_rows = rows;
      in.output_attentions = false;
      in.output_hidden_states = false;
      const ForwardOutputs out = model_->forward(in);
      for (int64_t j = 0; j < N; ++j) {
        const int64_t len = batch[static_cast<size_t>(j)].tokens;
        ForwardOutputs& o = outs[static_cast<size_t>(j)];
        if (!rows.empty()) {
          const auto count = static_cast<int64_t>(batch[static_cast<size_t>(j)].in.logits_rows.size());
          o.logits = slice_rows(out.logits, first_row[static_cast<size_t>(j)], count);
        } else if (out.logits.defined()) {
          o.logits = slice_sequence(out.logits, j, len, out.logits.ndim() == 3);
        }
        o.start_logits = slice_sequence(out.start_logits, j, len, true);
        o.end_logits = slice_sequence(out.end_logits, j, len, true);
        o.last_hidden_state = slice_sequence(out.last_hidden_state, j, len, true);
        o.pooler_output = slice_sequence(out.pooler_output, j, len, false);
      }
    }
  } catch (const std::exception& ex) {
    error = ex.what();
  } catch (...) {
    error = "unknown error in the forward pass";
  }
  metrics_.record_batch(batch.size(), real_tokens, N * S,
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  if (!error.empty() && N > 1) {
    // One sequence's failure must not fail the others: run each alone, so only the faulty one gets the error.
    for (Entry& e : batch) {
      std::vector<Entry> alone;
      alone.push_back(std::move(e));
      run_batch(alone);
    }
    return;
  }
  for (int64_t j = 0; j < N; ++j) {
    batch[static_cast<size_t>(j)].finish(error.empty() ? &outs[static_cast<size_t>(j)] : nullptr, error);
  }
}

}  // namespace rembert::server
