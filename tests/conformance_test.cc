// Every case of tests/fixtures/cases.json, run through the library API and compared with the outputs that
// transformers produced (fixtures/README.md).
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <memory>
#include <nlohmann/json.hpp>

#include "rembert/model.h"
#include "rembert/safetensors.h"
#include "test_util.h"

namespace rembert {
namespace {

using nlohmann::json;
using testing::fixture_path;
using testing::tensors_close;

struct Fixtures {
  json cases;
  SafetensorsFile tensors;
  std::map<std::string, std::shared_ptr<const Model>> models;

  static Fixtures& get() {
    static Fixtures f = [] {
      Fixtures x;
      std::ifstream in(fixture_path("cases.json"));
      x.cases = json::parse(in);
      x.tensors = read_safetensors(fixture_path("cases.safetensors"));
      return x;
    }();
    return f;
  }

  const json& find_case(const std::string& name) const {
    for (const auto& c : cases["cases"]) {
      if (c["name"] == name) return c;
    }
    throw std::runtime_error("no case " + name);
  }

  const Tensor& tensor(const std::string& name) const { return tensors.tensors.at(name); }

  std::shared_ptr<const Model> model(const std::string& key) {
    auto it = models.find(key);
    if (it != models.end()) return it->second;
    const std::string dir = fixture_path(cases["models"][key]["dir"].get<std::string>());
    return models[key] = Model::load(dir);
  }
};

ForwardInputs inputs_of(const json& c) {
  const Fixtures& f = Fixtures::get();
  ForwardInputs in;
  std::map<std::string, Tensor*> slots = {
      {"input_ids", &in.input_ids},
      {"attention_mask", &in.attention_mask},
      {"token_type_ids", &in.token_type_ids},
      {"position_ids", &in.position_ids},
      {"labels", &in.labels},
      {"start_positions", &in.start_positions},
      {"end_positions", &in.end_positions},
      {"encoder_hidden_states", &in.encoder_hidden_states},
      {"encoder_attention_mask", &in.encoder_attention_mask},
  };
  for (const auto& [arg, tensor_name] : c["inputs"].items()) {
    auto slot = slots.find(arg);
    if (slot == slots.end()) throw std::runtime_error("unhandled input " + arg);
    *slot->second = f.tensor(tensor_name.get<std::string>());
  }
  const json& outputs = c["outputs"];
  in.output_hidden_states = outputs.contains("hidden_states");
  in.output_attentions = outputs.contains("attentions");
  return in;
}

// 1 for real tokens, 0 for padding, one entry per [batch*sequence] row (multiple choice flattened).
std::vector<int64_t> token_rows(const ForwardInputs& in) {
  if (in.attention_mask.defined()) return in.attention_mask.to_i64_vector();
  return std::vector<int64_t>(static_cast<size_t>(in.input_ids.numel()), 1);
}

const Tensor& output_named(const ForwardOutputs& out, const std::string& name) {
  if (name == "loss") return out.loss;
  if (name == "logits") return out.logits;
  if (name == "start_logits") return out.start_logits;
  if (name == "end_logits") return out.end_logits;
  if (name == "last_hidden_state") return out.last_hidden_state;
  if (name == "pooler_output") return out.pooler_output;
  throw std::runtime_error("unhandled output " + name);
}

// Runs a standard case (inputs -> named outputs) and compares every output; `model_dir` (under tests/fixtures)
// replaces the case's model by another checkpoint of the same weights.
void run_standard_case(const std::string& case_name, const std::string& model_dir = "") {
  Fixtures& f = Fixtures::get();
  const json& c = f.find_case(case_name);
  const double atol = c["tolerance"]["atol"], rtol = c["tolerance"]["rtol"];
  auto model = model_dir.empty() ? f.model(c["model"]) : Model::load(fixture_path(model_dir));
  ForwardInputs in = inputs_of(c);
  ForwardOutputs out = model->forward(in);
  const std::vector<int64_t> rows = token_rows(in);

  for (const auto& [name, ref] : c["outputs"].items()) {
    SCOPED_TRACE(case_name + " output " + name);
    if (ref.is_array()) {
      const std::vector<Tensor>& list = name == "hidden_states"  ? out.hidden_states
                                        : name == "attentions"   ? out.attentions
                                                                 : out.cross_attentions;
      ASSERT_EQ(list.size(), ref.size());
      for (size_t i = 0; i < ref.size(); ++i) {
        const Tensor& expected = f.tensor(ref[i].get<std::string>());
        // hidden states [B, S, H] rows are tokens; attentions [B, heads, S, K]: compare query rows of real tokens.
        std::vector<int64_t> keep;
        if (name == "hidden_states") {
          keep = rows;
        } else {
          const int64_t B = expected.dim(0), A = expected.dim(1), S = expected.dim(2);
          keep.resize(static_cast<size_t>(B * A * S));
          for (int64_t b = 0; b < B; ++b)
            for (int64_t a = 0; a < A; ++a)
              for (int64_t s = 0; s < S; ++s) keep[(b * A + a) * S + s] = rows[b * S + s];
        }
        EXPECT_TRUE(tensors_close(list[i], expected, atol, rtol, keep)) << name << "." << i;
      }
      continue;
    }
    const Tensor& expected = f.tensor(ref.get<std::string>());
    const Tensor& actual = output_named(out, name);
    ASSERT_TRUE(actual.defined()) << name << " was not produced";
    // Per-token outputs skip padded positions; per-sequence outputs and losses compare whole.
    const HeadType head = model->head();
    const bool per_token = name == "last_hidden_state" || name == "start_logits" || name == "end_logits" ||
                           (name == "logits" && (head == HeadType::MaskedLM || head == HeadType::CausalLM ||
                                                 head == HeadType::TokenClassification));
    EXPECT_TRUE(tensors_close(actual, expected, atol, rtol, per_token ? rows : std::vector<int64_t>{}));
  }
}

class StandardCase : public ::testing::TestWithParam<std::string> {};

TEST_P(StandardCase, MatchesTransformers) { run_standard_case(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Conformance, StandardCase,
                         ::testing::Values("base_single", "base_batch_padded", "base_no_mask_no_tt",
                                           "base_explicit_position_ids", "dropout_cfg_eval", "bf16_batch",
                                           "mlm_batch_labels", "mlm_sharded_single", "clm_batch_labels",
                                           "seqcls_single_label", "seqcls_regression", "seqcls_multilabel",
                                           "seqcls_fp16", "mc_labels", "tokcls_labels", "qa_positions",
                                           "qa_no_labels", "decoder_xattn"));

// The same cases through TensorFlow checkpoints of the same weights (tests/fixtures/tf, written by
// scripts/make_tf_h5_fixture.py): tf_model.h5 is the folder's only weights file.
class TfCheckpointCase : public ::testing::TestWithParam<std::pair<const char*, const char*>> {};

TEST_P(TfCheckpointCase, MatchesTransformers) { run_standard_case(GetParam().first, GetParam().second); }

INSTANTIATE_TEST_SUITE_P(Conformance, TfCheckpointCase,
                         ::testing::Values(std::make_pair("base_single", "tf/base"),
                                           std::make_pair("base_batch_padded", "tf/base"),
                                           std::make_pair("bf16_batch", "tf/base_bf16"),
                                           std::make_pair("mlm_batch_labels", "tf/mlm"),
                                           std::make_pair("seqcls_single_label", "tf/seqcls"),
                                           std::make_pair("seqcls_fp16", "tf/seqcls_fp16")));

TEST(Conformance, EveryCaseIsCovered) {
  // A new case in cases.json must be added to a test here; this fails until it is.
  const std::set<std::string> covered = {
      "base_single", "base_batch_padded", "base_no_mask_no_tt", "base_explicit_position_ids", "dropout_cfg_eval",
      "bf16_batch", "mlm_batch_labels", "mlm_sharded_single", "clm_batch_labels", "seqcls_single_label",
      "seqcls_regression", "seqcls_multilabel", "seqcls_fp16", "mc_labels", "tokcls_labels", "qa_positions",
      "qa_no_labels", "decoder_xattn", "fill_mask", "clm_incremental", "clm_greedy"};
  for (const auto& c : Fixtures::get().cases["cases"]) {
    EXPECT_TRUE(covered.count(c["name"].get<std::string>())) << c["name"];
  }
}

TEST(Conformance, FillMaskTop5) {
  Fixtures& f = Fixtures::get();
  const json& c = f.find_case("fill_mask");
  auto model = f.model(c["model"]);
  ForwardInputs in = inputs_of(c);
  ForwardOutputs out = model->forward(in);
  const Tensor& expected = f.tensor(c["outputs"]["logits"].get<std::string>());
  EXPECT_TRUE(tensors_close(out.logits, expected, c["tolerance"]["atol"], c["tolerance"]["rtol"]));

  // Softmax over the vocabulary at the mask position, top 5 by probability.
  const int64_t pos = c["mask_position"], V = out.logits.dim(2);
  const float* row = out.logits.data<float>() + pos * V;
  const float max = *std::max_element(row, row + V);
  double sum = 0;
  for (int64_t v = 0; v < V; ++v) sum += std::exp(static_cast<double>(row[v]) - max);
  std::vector<int64_t> order(static_cast<size_t>(V));
  for (int64_t v = 0; v < V; ++v) order[v] = v;
  std::partial_sort(order.begin(), order.begin() + 5, order.end(), [&](int64_t a, int64_t b) { return row[a] > row[b]; });
  for (size_t i = 0; i < 5; ++i) {
    const json& ref = c["top5"][i];
    EXPECT_EQ(order[i], ref["token"].get<int64_t>()) << "rank " << i;
    const double score = std::exp(static_cast<double>(row[order[i]]) - max) / sum;
    EXPECT_NEAR(score, ref["score"].get<double>(), 1e-6) << "rank " << i;
  }
}

TEST(Conformance, CausalLMIncrementalCache) {
  Fixtures& f = Fixtures::get();
  const json& c = f.find_case("clm_incremental");
  const double atol = c["tolerance"]["atol"], rtol = c["tolerance"]["rtol"];
  auto model = f.model(c["model"]);
  const Tensor& ids = f.tensor(c["inputs"]["input_ids"].get<std::string>());
  const std::vector<int64_t> all = ids.to_i64_vector();
  const int64_t prompt_len = c["prompt_len"], steps = c["steps"];
  const json& outs = c["outputs"];

  ForwardInputs prompt;
  prompt.input_ids = Tensor::from_i64({1, prompt_len}, std::vector<int64_t>(all.begin(), all.begin() + prompt_len));
  prompt.use_cache = true;
  ForwardOutputs out = model->forward(prompt);
  EXPECT_TRUE(tensors_close(out.logits, f.tensor(outs["prompt_logits"]), atol, rtol));
  std::vector<LayerCache> cache = out.past_key_values;
  ASSERT_EQ(cache.size(), 3u);

  for (int64_t i = 0; i < steps; ++i) {
    ForwardInputs step;
    step.input_ids = Tensor::from_i64({1, 1}, {all[static_cast<size_t>(prompt_len + i)]});
    step.past_key_values = cache;
    step.use_cache = true;
    ForwardOutputs o = model->forward(step);
    EXPECT_TRUE(tensors_close(o.logits, f.tensor(outs["step_logits"][i]), atol, rtol)) << "step " << i;
    cache = o.past_key_values;
  }
  for (size_t layer = 0; layer < cache.size(); ++layer) {
    EXPECT_TRUE(tensors_close(cache[layer].key, f.tensor(outs["past_key_values_final"][layer][0]), atol, rtol));
    EXPECT_TRUE(tensors_close(cache[layer].value, f.tensor(outs["past_key_values_final"][layer][1]), atol, rtol));
  }

  ForwardInputs full;
  full.input_ids = ids;
  EXPECT_TRUE(tensors_close(model->forward(full).logits, f.tensor(outs["full_logits"]), atol, rtol));
}

TEST(Conformance, CausalLMInPlaceCacheEqualsTheLegacyCacheAndTheReference) {
  // The clm_incremental case again through KVCache: every step's logits and the final cache equal the legacy
  // past_key_values path bit for bit (same products, only the layout of the past differs) and the reference.
  Fixtures& f = Fixtures::get();
  const json& c = f.find_case("clm_incremental");
  const double atol = c["tolerance"]["atol"], rtol = c["tolerance"]["rtol"];
  auto model = f.model(c["model"]);
  const std::vector<int64_t> all = f.tensor(c["inputs"]["input_ids"].get<std::string>()).to_i64_vector();
  const int64_t prompt_len = c["prompt_len"], steps = c["steps"];
  const json& outs = c["outputs"];

  KVCache cache(*model, 1, prompt_len + steps);
  std::vector<LayerCache> legacy;
  for (int64_t i = -1; i < steps; ++i) {  // -1: the prompt
    const std::vector<int64_t> feed = i < 0 ? std::vector<int64_t>(all.begin(), all.begin() + prompt_len)
                                            : std::vector<int64_t>{all[static_cast<size_t>(prompt_len + i)]};
    ForwardInputs in;
    in.input_ids = Tensor::from_i64({1, static_cast<int64_t>(feed.size())}, feed);
    in.use_cache = true;
    ForwardInputs old = in;
    old.past_key_values = legacy;
    in.cache = &cache;
    const ForwardOutputs now = model->forward(in), before = model->forward(old);
    EXPECT_TRUE(now.past_key_values.empty()) << "the in-place cache returns no copies";
    EXPECT_TRUE(tensors_close(now.logits, before.logits, 0.0, 0.0)) << "step " << i;
    EXPECT_TRUE(tensors_close(now.logits, f.tensor(i < 0 ? outs["prompt_logits"] : outs["step_logits"][i]), atol, rtol))
        << "step " << i;
    EXPECT_EQ(cache.length(), prompt_len + i + 1);
    legacy = before.past_key_values;
  }
  const std::vector<LayerCache> filled = cache.to_legacy();
  ASSERT_EQ(filled.size(), legacy.size());
  for (size_t layer = 0; layer < filled.size(); ++layer) {
    EXPECT_TRUE(tensors_close(filled[layer].key, legacy[layer].key, 0.0, 0.0)) << "layer " << layer;
    EXPECT_TRUE(tensors_close(filled[layer].value, legacy[layer].value, 0.0, 0.0)) << "layer " << layer;
    EXPECT_TRUE(tensors_close(filled[layer].key, f.tensor(outs["past_key_values_final"][layer][0]), atol, rtol));
    EXPECT_TRUE(tensors_close(filled[layer].value, f.tensor(outs["past_key_values_final"][layer][1]), atol, rtol));
  }
}

TEST(Conformance, CausalLMGreedyDecoding) {
  Fixtures& f = Fixtures::get();
  const json& c = f.find_case("clm_greedy");
  auto model = f.model(c["model"]);
  std::vector<int64_t> sequence = c["prompt_ids"].get<std::vector<int64_t>>();
  const int64_t eos = c["eos_token_id"], max_new = c["max_new_tokens"];
  std::vector<LayerCache> cache;
  std::vector<int64_t> next_input = sequence;
  std::vector<int64_t> generated;
  for (int64_t step = 0; step < max_new; ++step) {
    ForwardInputs in;
    in.input_ids = Tensor::from_i64({1, static_cast<int64_t>(next_input.size())}, next_input);
    in.past_key_values = cache;
    in.use_cache = true;
    ForwardOutputs out = model->forward(in);
    const int64_t V = out.logits.dim(2), last = out.logits.dim(1) - 1;
    const float* row = out.logits.data<float>() + last * V;
    const int64_t token = std::max_element(row, row + V) - row;
    generated.push_back(token);
    cache = out.past_key_values;
    next_input = {token};
    if (token == eos) break;
  }
  EXPECT_EQ(generated, c["new_tokens"].get<std::vector<int64_t>>());
}

}  // namespace
}  // namespace rembert
