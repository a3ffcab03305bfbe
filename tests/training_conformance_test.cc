// Every case of tests/fixtures/training (training.json): the loss, the logits and the gradient of every parameter
// (and of inputs_embeds / head_mask) of one train-mode forward + backward, against transformers' values, with the
// tolerances of fixtures/training/README.md, and the structural zeros exactly 0.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <nlohmann/json.hpp>

#include "rembert/safetensors.h"
#include "rembert/train.h"
#include "test_util.h"

namespace rembert {
namespace {

using nlohmann::json;
using testing::fixture_path;

const json& manifest() {
  static const json m = [] {
    std::ifstream in(fixture_path("training/training.json"));
    return json::parse(in);
  }();
  return m;
}

std::vector<std::string> grad_case_names() {
  std::vector<std::string> names;
  for (const auto& c : manifest()["grad_cases"]) names.push_back(c["name"].get<std::string>());
  return names;
}

// |actual - expected| <= atol + rtol * |expected| everywhere, and exactly 0 wherever the reference is exactly 0
// (the structural zeros: absent ids, the padding row, unused positions, masked positions and heads) unless the
// tensor is analytically zero, where both sides are float32 rounding noise.
void expect_close(const std::string& name, const Tensor& actual, const Tensor& expected, double atol, double rtol,
                  bool noise = false) {
  ASSERT_TRUE(actual.defined()) << name << " missing";
  ASSERT_EQ(actual.shape(), expected.shape()) << name;
  const std::vector<float> a = actual.to_f32_vector(), e = expected.to_f32_vector();
  int64_t bad = 0, nonzero = 0;
  std::string first;
  for (size_t i = 0; i < e.size(); ++i) {
    const bool ok = e[i] == 0.0f && !noise ? a[i] == 0.0f : std::abs(static_cast<double>(a[i]) - e[i]) <= atol + rtol * std::abs(e[i]);
    if (e[i] == 0.0f && a[i] != 0.0f && !noise) ++nonzero;
    if (!ok && bad++ == 0) {
      first = "[" + std::to_string(i) + "] " + std::to_string(a[i]) + " vs " + std::to_string(e[i]);
    }
  }
  EXPECT_EQ(bad, 0) << name << ": " << bad << " of " << e.size() << " elements off (" << nonzero
                    << " should be exactly 0), first " << first;
}

ForwardInputs inputs_of(const TensorMap& t) {
  ForwardInputs in;
  const std::map<std::string, Tensor*> slots = {
      {"in.input_ids", &in.input_ids},           {"in.attention_mask", &in.attention_mask},
      {"in.token_type_ids", &in.token_type_ids}, {"in.position_ids", &in.position_ids},
      {"in.head_mask", &in.head_mask},           {"in.labels", &in.labels},
      {"in.start_positions", &in.start_positions}, {"in.end_positions", &in.end_positions},
  };
  for (const auto& [name, tensor] : t) {
    if (name.rfind("in.", 0) != 0) continue;
    auto slot = slots.find(name);
    if (slot == slots.end()) throw std::runtime_error("unhandled fixture input " + name);
    *slot->second = tensor;
  }
  return in;
}

class TrainingGrads : public ::testing::TestWithParam<std::string> {};

TEST_P(TrainingGrads, LossLogitsAndEveryGradientMatchTransformers) {
  json c;
  for (const auto& x : manifest()["grad_cases"]) {
    if (x["name"] == GetParam()) c = x;
  }
  const SafetensorsFile file = read_safetensors(fixture_path("training/" + c["file"].get<std::string>()));
  const TensorMap& expected = file.tensors;
  auto model = TrainableModel::load(fixture_path(c["model_dir"].get<std::string>()));
  ForwardInputs in = inputs_of(expected);

  model->zero_grad();
  TrainStepOutputs out = model->forward_backward(in);
  expect_close("loss", out.loss, expected.at("loss"), 1e-5, 1e-5);
  for (const char* name : {"logits", "start_logits", "end_logits"}) {
    auto it = expected.find(name);
    if (it == expected.end()) continue;
    const Tensor& actual = std::string(name) == "logits" ? out.logits
                           : std::string(name) == "start_logits" ? out.start_logits : out.end_logits;
    expect_close(name, actual, it->second, 1e-4, 1e-4);
  }
  std::set<std::string> noise;  // analytically zero (e.g. every attention.self.key.bias): |g| <= 3e-8 both sides
  for (const auto& name : c["fp64_check"]["grads"]["analytically_zero"]) noise.insert(name.get<std::string>());
  size_t checked = 0;
  for (const auto& p : model->parameters()) {
    auto it = expected.find("grad." + p.name);
    ASSERT_NE(it, expected.end()) << "the reference has no gradient for " << p.name;
    expect_close("grad." + p.name, p.grad, it->second, 1e-6, 1e-3, noise.count("grad." + p.name) > 0);
    ++checked;
  }
  size_t expected_params = 0;
  for (const auto& [name, t] : expected) {
    expected_params += name.rfind("grad.", 0) == 0 && name != "grad.inputs_embeds" && name != "grad.head_mask";
  }
  EXPECT_EQ(checked, expected_params) << "parameters of the model vs gradients in the reference";
  if (expected.count("grad.head_mask")) expect_close("grad.head_mask", out.grad_head_mask, expected.at("grad.head_mask"), 1e-6, 1e-3);

  // The second call of the reference: inputs_embeds = word_embeddings(input_ids) as a leaf instead of the ids.
  if (expected.count("inputs_embeds")) {
    ForwardInputs embeds = in;
    embeds.input_ids = Tensor();
    embeds.inputs_embeds = expected.at("inputs_embeds");
    model->zero_grad();
    TrainStepOutputs second = model->forward_backward(embeds);
    expect_close("loss (inputs_embeds)", second.loss, expected.at("loss"), 1e-5, 1e-5);
    expect_close("grad.inputs_embeds", second.grad_inputs_embeds, expected.at("grad.inputs_embeds"), 1e-6, 1e-3);
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TrainingGrads, ::testing::ValuesIn(grad_case_names()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace rembert
