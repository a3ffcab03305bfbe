// ForwardInputs::caches: one decode step of independent sequences, each with its own cache (what continuous
// batching runs). Every row must get what its sequence gets decoding alone, whichever rows share its step.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "rembert/model.h"
#include "rembert/pipelines.h"
#include "test_util.h"

namespace rembert {
namespace {

int64_t argmax_row(const Tensor& logits, int64_t row) {
  const int64_t V = logits.dim(-1);
  const float* x = logits.data<float>() + row * V;
  return std::max_element(x, x + V) - x;
}

// Greedy continuation of several prompts that start at different steps and stop at different lengths: prompt i
// is prefilled (alone, with its cache) at step start[i]; then all running sequences take one decode step together.
std::vector<std::vector<int64_t>> decode_together(const Model& model, const std::vector<std::vector<int64_t>>& prompts,
                                                  const std::vector<int>& start, int64_t new_tokens) {
  const size_t n = prompts.size();
  std::vector<std::unique_ptr<KVCache>> caches;
  std::vector<std::vector<int64_t>> generated(n);
  std::vector<int64_t> next(n, -1);
  for (int step = 0;; ++step) {
    std::vector<size_t> running;
    for (size_t i = 0; i < n; ++i) {
      if (start[i] == step) {
        const auto P = static_cast<int64_t>(prompts[i].size());
        caches.resize(n);
        caches[i] = std::make_unique<KVCache>(model, 1, P + new_tokens);
        ForwardInputs in;
        in.input_ids = Tensor::from_i64({1, P}, prompts[i]);
        in.cache = caches[i].get();
        const Tensor logits = model.forward(in).logits;  // [1, P, V]
        next[i] = argmax_row(logits, P - 1);
        generated[i].push_back(next[i]);
      } else if (start[i] < step && static_cast<int64_t>(generated[i].size()) < new_tokens) {
        running.push_back(i);
      }
    }
    if (running.empty()) {
      bool pending = false;
      for (size_t i = 0; i < n; ++i) pending = pending || start[i] > step;
      if (!pending) break;
      continue;
    }
    ForwardInputs in;
    std::vector<int64_t> ids;
    for (size_t i : running) {
      ids.push_back(next[i]);
      in.caches.push_back(caches[i].get());
    }
    in.input_ids = Tensor::from_i64({static_cast<int64_t>(running.size()), 1}, ids);
    const Tensor logits = model.forward(in).logits;  // [rows, 1, V]
    for (size_t r = 0; r < running.size(); ++r) {
      const size_t i = running[r];
      next[i] = argmax_row(logits, static_cast<int64_t>(r));
      generated[i].push_back(next[i]);
    }
  }
  return generated;
}

TEST(DecodeBatch, EveryRowDecodesAsItsSequenceAlone) {
  const auto model = Model::load(testing::fixture_path("models/clm"));
  const nlohmann::json c = testing::case_named("clm_greedy");
  const std::vector<int64_t> fixture_prompt = c["prompt_ids"].get<std::vector<int64_t>>();
  const std::vector<std::vector<int64_t>> prompts = {
      fixture_prompt, {2, 731, 5}, {2, 652, 311, 283, 23, 1173, 9, 10, 11, 12, 13}, {2, 17}};
  const int64_t new_tokens = 10;
  // Alone: the library's greedy loop (one sequence, one cache). No eos, so every sequence runs all its steps.
  GenerationOptions o;
  o.max_new_tokens = new_tokens;
  o.eos_token_id = -1;  // never matches: every sequence runs its 10 steps
  std::vector<std::vector<int64_t>> alone;
  for (const auto& p : prompts) {
    alone.push_back(generate(*model, p, o));
    ASSERT_EQ(static_cast<int64_t>(alone.back().size()), new_tokens);
  }
  // The fixture sequence of transformers (it stops at eos, which the loop above doesn't ask for).
  const std::vector<int64_t> fixture_new = c["new_tokens"].get<std::vector<int64_t>>();
  ASSERT_LE(fixture_new.size(), alone[0].size());
  EXPECT_EQ(std::vector<int64_t>(alone[0].begin(), alone[0].begin() + static_cast<long>(fixture_new.size())),
            fixture_new);
  // Together, joining at steps 0, 0, 3 and 7 (so rows leave and join between steps).
  const auto together = decode_together(*model, prompts, {0, 0, 3, 7}, new_tokens);
  for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(together[i], alone[i]) << "sequence " << i;
}

TEST(DecodeBatch, LogitsMatchTheSingleCacheStep) {
  const auto model = Model::load(testing::fixture_path("models/clm"));
  const std::vector<std::vector<int64_t>> prompts = {{2, 731, 5, 652}, {2, 311}, {2, 283, 23, 1173, 9, 10}};
  std::vector<std::unique_ptr<KVCache>> together, apart;
  std::vector<Tensor> expected;
  ForwardInputs step;
  std::vector<int64_t> ids;
  for (const auto& p : prompts) {
    const auto P = static_cast<int64_t>(p.size());
    for (auto* caches : {&together, &apart}) {
      caches->push_back(std::make_unique<KVCache>(*model, 1, P + 1));
      ForwardInputs in;
      in.input_ids = Tensor::from_i64({1, P}, p);
      in.cache = caches->back().get();
      model->forward(in);
    }
    ForwardInputs one;
    one.input_ids = Tensor::from_i64({1, 1}, {p.back() + 1});
    one.cache = apart.back().get();
    expected.push_back(model->forward(one).logits);  // [1, 1, V]
    ids.push_back(p.back() + 1);
    step.caches.push_back(together.back().get());
  }
  step.input_ids = Tensor::from_i64({3, 1}, ids);
  const Tensor logits = model->forward(step).logits;
  ASSERT_EQ(logits.shape(), (Shape{3, 1, model->config().vocab_size}));
  const int64_t V = logits.dim(-1);
  for (int64_t b = 0; b < 3; ++b) {
    const Tensor row = Tensor::from_f32({1, 1, V}, std::vector<float>(logits.data<float>() + b * V,
                                                                    logits.data<float>() + (b + 1) * V));
    EXPECT_TRUE(testing::tensors_close(row, expected[static_cast<size_t>(b)], 1e-5, 1e-5)) << "row " << b;
    EXPECT_EQ(together[static_cast<size_t>(b)]->length(), apart[static_cast<size_t>(b)]->length());
  }
}

TEST(DecodeBatch, RefusesWhatItCannotDo) {
  const auto model = Model::load(testing::fixture_path("models/clm"));
  KVCache a(*model, 1, 4), b(*model, 1, 1), two(*model, 2, 4);
  ForwardInputs in;
  in.input_ids = Tensor::from_i64({2, 1}, {5, 6});
  in.caches = {&a, &a};
  EXPECT_NE(testing::error_message([&] { model->forward(in); }).find("the same cache as caches[0]"), std::string::npos);
  in.caches = {&a, &two};
  EXPECT_NE(testing::error_message([&] { model->forward(in); }).find("caches[1]: expected a batch-1 cache"),
            std::string::npos);
  in.input_ids = Tensor::from_i64({1, 2}, {5, 6});
  in.caches = {&a};
  EXPECT_NE(testing::error_message([&] { model->forward(in); }).find("one token per row"), std::string::npos);
  ForwardInputs full;
  full.input_ids = Tensor::from_i64({1, 1}, {5});
  full.caches = {&b};
  model->forward(full);  // fills b's one position
  EXPECT_NE(testing::error_message([&] { model->forward(full); }).find("fill its capacity 1"), std::string::npos);
  EXPECT_EQ(b.length(), 1);
  const auto encoder = Model::load(testing::fixture_path("models/base"));
  ForwardInputs enc;
  enc.input_ids = Tensor::from_i64({1, 1}, {5});
  enc.caches = {&a};
  EXPECT_NE(testing::error_message([&] { encoder->forward(enc); }).find("only decoder models"), std::string::npos);
}

}  // namespace
}  // namespace rembert
