// The dynamic batcher: one worker thread owns the model's compute. HTTP threads tokenize and queue forwards of one
// sequence each; the worker pops queued forwards in arrival order while their tokens fit --max-batch-tokens, pads
// them right to the longest, runs Model::forward once for the batch and hands every forward its own rows back.
//
// Every route's compute goes through this queue: the TEI routes as Sequences (the worker also reduces the rows to
// what the route returns), the pipeline routes as the pipelines' own forwards (PipelineModel::forward_fn). Work
// that can't share a batch (generation, forwards with a cache) runs as a "solo" job in the same arrival order, so
// the model is only ever driven by one thread (all cores go to one forward at a time, no oversubscription).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "metrics.h"
#include "rembert/model.h"

namespace rembert::server {

// What the worker extracts from the forward outputs for one sequence.
enum class Reduce {
  Cls,        // last_hidden_state of the first token: [H]
  Mean,       // mean of last_hidden_state over the sequence's tokens: [H]
  AllTokens,  // last_hidden_state of every token: [S, H]
  Logits,     // sequence-classification logits: [labels]
};

// One sequence of a request. The worker fills `values` (or `error`) and counts the group down.
struct Sequence {
  std::vector<int64_t> input_ids;
  std::vector<int64_t> token_type_ids;
  Reduce reduce = Reduce::Cls;
  std::vector<float> values;
  std::string error;  // non-empty: the forward pass failed
};

// The sequences of one HTTP request; wait() returns when the worker has answered all of them.
class RequestGroup {
 public:
  explicit RequestGroup(std::vector<Sequence> sequences);
  std::vector<Sequence>& sequences() { return sequences_; }
  void wait();
  void done_one();  // called by the worker

 private:
  std::vector<Sequence> sequences_;
  std::mutex mutex_;
  std::condition_variable cv_;
  size_t remaining_;
};

struct BatcherOptions {
  int64_t max_batch_tokens = 16384;
  int64_t max_batch_requests = 0;  // 0: no limit
  int64_t pad_token_id = 0;
  int debug_delay_ms = 0;          // test only: sleep this long before each batch
};

class Batcher {
 public:
  Batcher(std::shared_ptr<const Model> model, BatcherOptions options, Metrics& metrics);
  ~Batcher();
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // Queues every sequence of `group`; the caller then waits on the group.
  void submit(const std::shared_ptr<RequestGroup>& group);
  // Model::forward(in) on the worker, batched with the forwards queued beside it when `in` is one plain sequence
  // (see batchable()), else alone; blocks until done and returns (or throws) what Model::forward does.
  ForwardOutputs forward(ForwardInputs in);
  // Queues a closure to run alone on the worker thread; exceptions it throws are its own business (caught and
  // dropped here, so the worker survives).
  void submit_solo(std::function<void()> job);
  // Runs what is queued, then stops the worker (for shutdown).
  void stop();
  size_t queue_size() const;
  bool healthy() const { return running_.load(); }

  // A forward that can share a batch: one sequence [1, S] of ids (with token types and a right-padding mask at
  // most), no cache, past, labels, embeddings, position ids or head mask, and no per-layer outputs.
  static bool batchable(const ForwardInputs& in, const RemBertConfig& config);
  // A decode step that can share a batch (continuous batching): one token [1, 1] after the positions of its own
  // batch-1 cache, nothing else given. Steps of concurrent generations run as one forward with
  // ForwardInputs::caches; a sequence joins or leaves between steps.
  static bool decode_step(const ForwardInputs& in);

 private:
  // One queued forward of one sequence, or a solo job. `finish` gets the sequence's own outputs (shaped as a
  // batch of one) or the error of the batch.
  struct Entry {
    ForwardInputs in;
    std::function<void(ForwardOutputs*, const std::string& error)> finish;
    std::function<void()> solo;  // set: a solo job
    int64_t tokens = 0;
    bool decode = false;  // a decode step (decode_step())
    std::chrono::steady_clock::time_point queued_at;
  };
  size_t decode_steps_at_front() const;  // with mutex_ held
  void enqueue(std::vector<Entry> entries);
  void run();
  void run_batch(std::vector<Entry>& batch);

  std::shared_ptr<const Model> model_;
  BatcherOptions options_;
  Metrics& metrics_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Entry> queue_;
  bool stopping_ = false;
  bool stopped_ = false;
  // Decode steps of the last decode batch: the worker waits a moment for that many before the next step, since
  // the generations queue their next steps one by one as they take their tokens.
  size_t last_decode_batch_ = 0;
  std::atomic<bool> running_{true};
  std::thread worker_;
};

}  // namespace rembert::server
