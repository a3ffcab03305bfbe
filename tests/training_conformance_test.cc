// Every case of tests/fixtures/training (training.json): the loss, the logits and the gradient of every parameter
// (and of inputs_embeds / head_mask) of one train-mode forward + backward, against transformers' values, with the
// tolerances of fixtures/training/README.md, and the structural zeros exactly 0.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <nlohmann/json.hpp>

#include "kernels/gemm.h"
#include "rembert/safetensors.h"
#include "rembert/train.h"
#include "test_util.h"

namespace rembert {
namespace {

using nlohmann::json;
using testing::fixture_path;

bool kernels_have_bf16() { return kernels::bf16_gemm_available(); }  // oneDNN runs a bfloat16 matmul here

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

// Mixed precision (TrainPrecision::BFloat16): the same cases within what bfloat16 inputs cost. Each product's inputs
// carry a relative error up to 2^-9, so the loss stays within 1% and every gradient within 8% of its reference in
// L2 norm (1-3% for the worst tensor of each visible case); the structural zeros stay exactly 0 (zero inputs give zero products in any precision).
class TrainingGradsBf16 : public ::testing::TestWithParam<std::string> {};

TEST_P(TrainingGradsBf16, LossAndEveryGradientWithinBfloat16Error) {
  if (!kernels_have_bf16()) GTEST_SKIP() << "this CPU lacks avx512_bf16";
  json c;
  for (const auto& x : manifest()["grad_cases"]) {
    if (x["name"] == GetParam()) c = x;
  }
  const SafetensorsFile file = read_safetensors(fixture_path("training/" + c["file"].get<std::string>()));
  const TensorMap& expected = file.tensors;
  TrainableLoadOptions options;
  options.precision = TrainPrecision::BFloat16;
  auto model = TrainableModel::load(fixture_path(c["model_dir"].get<std::string>()), options);
  ASSERT_EQ(model->compute_info().compute, "bfloat16") << model->compute_info().fallback;
  model->zero_grad();
  const TrainStepOutputs out = model->forward_backward(inputs_of(expected));
  const double loss = out.loss.to_f32_vector().at(0), expected_loss = expected.at("loss").to_f32_vector().at(0);
  EXPECT_NEAR(loss, expected_loss, 1e-2 * std::abs(expected_loss) + 1e-6);
  std::set<std::string> noise;
  for (const auto& name : c["fp64_check"]["grads"]["analytically_zero"]) noise.insert(name.get<std::string>());
  double worst = 0.0;
  for (const auto& p : model->parameters()) {
    const std::string name = "grad." + p.name;
    if (noise.count(name)) continue;
    const std::vector<float> a = p.grad.to_f32_vector(), e = expected.at(name).to_f32_vector();
    double diff = 0.0, norm = 0.0;
    int64_t nonzero = 0;
    for (size_t i = 0; i < e.size(); ++i) {
      diff += (double{a[i]} - e[i]) * (double{a[i]} - e[i]);
      norm += double{e[i]} * e[i];
      nonzero += e[i] == 0.0f && a[i] != 0.0f;
    }
    EXPECT_EQ(nonzero, 0) << name << ": elements that should be exactly 0";
    EXPECT_LE(std::sqrt(diff), 0.08 * std::sqrt(norm) + 1e-7) << name;
    if (norm > 0) worst = std::max(worst, std::sqrt(diff / norm));
  }
  EXPECT_GT(worst, 1e-5) << "no gradient differs from float32's: the products did not run in bfloat16";
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TrainingGradsBf16, ::testing::ValuesIn(grad_case_names()),
                         [](const ::testing::TestParamInfo<std::string>& param) { return param.param; });

// The path that replaces it where the CPU lacks avx512_bf16: with oneDNN capped at AVX2 (this test's own process,
// as ctest runs it, before oneDNN's first use) a BFloat16 request computes in float32, says why, and gives exactly
// the float32 step.
TEST(TrainingGradsBf16Fallback, WithoutABfloat16MatmulTheStepIsFloat32) {
  if (!testing::cap_onednn_at_avx2()) GTEST_SKIP() << testing::kOnednnRanBeforeTheCap;
  json c = manifest()["grad_cases"][0];
  const SafetensorsFile file = read_safetensors(fixture_path("training/" + c["file"].get<std::string>()));
  TrainableLoadOptions bf16;
  bf16.precision = TrainPrecision::BFloat16;
  auto asked_bf16 = TrainableModel::load(fixture_path(c["model_dir"].get<std::string>()), bf16);
  auto plain = TrainableModel::load(fixture_path(c["model_dir"].get<std::string>()));
  const ComputeInfo info = asked_bf16->compute_info();
  EXPECT_EQ(info.requested, "bfloat16");
  EXPECT_EQ(info.compute, "float32");
  EXPECT_NE(info.fallback.find("bfloat16"), std::string::npos) << info.fallback;
  EXPECT_TRUE(plain->compute_info().fallback.empty());
  for (TrainableModel* m : {asked_bf16.get(), plain.get()}) {
    m->zero_grad();
    m->forward_backward(inputs_of(file.tensors));
  }
  for (size_t i = 0; i < plain->parameters().size(); ++i) {
    EXPECT_EQ(asked_bf16->parameters()[i].grad.to_f32_vector(), plain->parameters()[i].grad.to_f32_vector())
        << plain->parameters()[i].name;
  }
}

std::vector<std::string> optimizer_run_names() {
  std::vector<std::string> names;
  for (const auto& r : manifest()["optimizer_runs"]) names.push_back(r["name"].get<std::string>());
  return names;
}

class TrainingSteps : public ::testing::TestWithParam<std::string> {};

// `rembert optimize` (the CLI contract) against the 3-step AdamW runs: losses, learning rates, gradient norms, every
// parameter and moment after the last step, and the rows that only decay bit-exact.
TEST_P(TrainingSteps, AdamWRunMatchesTorch) {
  json r;
  for (const auto& x : manifest()["optimizer_runs"]) {
    if (x["name"] == GetParam()) r = x;
  }
  const std::string file = fixture_path("training/" + r["file"].get<std::string>());
  const std::string model_dir = fixture_path(r["model_dir"].get<std::string>());
  const json& opt = r["optimizer"];
  std::string args = "optimize --threads 2 --model " + model_dir + " --inputs " + file + " --steps " +
                     std::to_string(r["steps"].get<int>()) + " --lr " + opt["lr"].dump() +
                     " --betas " + opt["betas"][0].dump() + "," +
                     opt["betas"][1].dump() + " --eps " +
                     opt["eps"].dump() + " --weight-decay " +
                     opt["weight_decay"].dump();
  if (r["schedule"].contains("num_warmup_steps")) {
    args += " --schedule linear --warmup-steps " + std::to_string(r["schedule"]["num_warmup_steps"].get<int>());
  }
  if (r.contains("clip_grad_norm") && !r["clip_grad_norm"].is_null()) {
    args += " --max-grad-norm " + r["clip_grad_norm"]["max_norm"].dump();
  }
  const std::string out_path = testing::scratch_dir() + GetParam() + ".safetensors";
  const testing::RunResult run = testing::run_cli(args + " --output " + out_path);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const SafetensorsFile expected_file = read_safetensors(file), actual_file = read_safetensors(out_path);
  const TensorMap &expected = expected_file.tensors, &actual = actual_file.tensors;

  expect_close("loss", actual.at("loss"), expected.at("loss"), 1e-5, 1e-5);
  expect_close("loss_after", actual.at("loss_after"), expected.at("loss_after"), 1e-5, 1e-5);
  EXPECT_EQ(actual.at("lr").to_f32_vector(), expected.at("lr").to_f32_vector());
  expect_close("grad_norm", actual.at("grad_norm"), expected.at("grad_norm"), 0.0, 1e-4);

  std::set<std::string> noise;
  for (const auto& name : r["fp64_check"]["noise_driven_params"]) noise.insert(name.get<std::string>());
  const std::vector<float> lrs = expected.at("lr").to_f32_vector();
  const SafetensorsFile start = read_safetensors(model_dir + "/model.safetensors");
  const float decay = static_cast<float>(opt["weight_decay"].get<double>());
  int64_t elements = 0, within = 0, decay_only = 0;
  for (const auto& [name, e] : expected) {
    if (name.rfind("param.", 0) != 0) continue;
    const std::string key = name.substr(6);
    ASSERT_TRUE(actual.count(name)) << name;
    const Tensor& a = actual.at(name);
    ASSERT_EQ(a.shape(), e.shape()) << name;
    const std::vector<float> av = a.to_f32_vector(), ev = e.to_f32_vector();
    if (noise.count(key)) {  // moved by Adam's normalised rounding noise: a sanity bound only
      expect_close(name, a, e, 6e-3, 0.0, true);
      continue;
    }
    expect_close(name, a, e, 5e-4, 0.0, true);
    for (size_t i = 0; i < ev.size(); ++i) within += std::abs(av[i] - ev[i]) <= 2e-6f;
    elements += static_cast<int64_t>(ev.size());
    // A row that only decayed equals p0 * prod_t float32(1 - lr_t * wd): bit-exact.
    const Tensor& p0 = start.tensors.at(key);
    if (p0.ndim() != 2) continue;
    const std::vector<float> pv = p0.to_f32_vector();
    const int64_t width = p0.dim(1);
    for (int64_t row = 0; row < p0.dim(0); ++row) {
      bool only_decayed = true;
      for (int64_t j = 0; j < width && only_decayed; ++j) {
        float v = pv[static_cast<size_t>(row * width + j)];
        for (float lr : lrs) v *= static_cast<float>(1.0 - static_cast<double>(lr) * decay);
        only_decayed = v == ev[static_cast<size_t>(row * width + j)];
      }
      if (!only_decayed) continue;
      ++decay_only;
      for (int64_t j = 0; j < width; ++j) {
        ASSERT_EQ(av[static_cast<size_t>(row * width + j)], ev[static_cast<size_t>(row * width + j)])
            << name << " row " << row << " only decays";
      }
    }
  }
  EXPECT_GE(static_cast<double>(within), 0.999 * static_cast<double>(elements)) << within << " of " << elements;
  EXPECT_GT(decay_only, 0) << "the runs have decay-only rows (absent ids, the padding row)";
  for (const auto& [name, e] : expected) {
    const bool avg = name.rfind("exp_avg.", 0) == 0, sq = name.rfind("exp_avg_sq.", 0) == 0;
    if (!avg && !sq) continue;
    ASSERT_TRUE(actual.count(name)) << name;
    const std::string key = name.substr(name.find('.') + 1);
    expect_close(name, actual.at(name), e, avg ? 1e-6 : 1e-11, 1e-3, noise.count(key) > 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TrainingSteps, ::testing::ValuesIn(optimizer_run_names()),
                         [](const auto& test) { return test.param; });

INSTANTIATE_TEST_SUITE_P(Fixtures, TrainingGrads, ::testing::ValuesIn(grad_case_names()),
                         [](const auto& test) { return test.param; });

}  // namespace
}  // namespace rembert

namespace rembert {
namespace {

// The CLI contract: `rembert forward --backward` writes grad.<state-dict key> for every parameter, and
// grad.head_mask for a head_mask input, equal to the reference.
TEST(TrainingCli, ForwardBackwardWritesEveryGradient) {
  for (const std::string name : {"seqcls_head_mask", "mlm_batch_labels"}) {
    json c;
    for (const auto& x : manifest()["grad_cases"]) {
      if (x["name"] == name) c = x;
    }
    const std::string file = fixture_path("training/" + c["file"].get<std::string>());
    const std::string out_path = testing::scratch_dir() + name + "_backward.safetensors";
    const testing::RunResult run = testing::run_cli("forward --backward --threads 2 --model " +
                                                    fixture_path(c["model_dir"].get<std::string>()) + " --inputs " +
                                                    file + " --output " + out_path);
    ASSERT_EQ(run.exit_code, 0) << run.output;
    const SafetensorsFile expected = read_safetensors(file), actual = read_safetensors(out_path);
    size_t grads = 0;
    for (const auto& [key, e] : expected.tensors) {
      if (key.rfind("grad.", 0) != 0 || key == "grad.inputs_embeds") continue;  // the ids call has no embeds
      ASSERT_TRUE(actual.tensors.count(key)) << name << ": " << key << " not written";
      expect_close(name + " " + key, actual.tensors.at(key), e, 1e-6, 1e-3, key.find("key.bias") != std::string::npos);
      ++grads;
    }
    EXPECT_GT(grads, 50u);
    expect_close(name + " loss", actual.tensors.at("loss"), expected.tensors.at("loss"), 1e-5, 1e-5);
  }
}

TEST(TrainingCli, BackwardErrorsNameTheProblem) {
  const std::string file = fixture_path("training/grads/seqcls_single_label/grads.safetensors");
  testing::RunResult run = testing::run_cli("forward --backward --dtype int8 --model " + fixture_path("models/seqcls") +
                                            " --inputs " + file + " --output /dev/null");
  EXPECT_NE(run.exit_code, 0);
  EXPECT_CONTAINS(run.err, "--dtype int8");
  // No labels: no loss to differentiate.
  const std::string no_labels = testing::scratch_dir() + "no_labels.safetensors";
  const SafetensorsFile f = read_safetensors(file);
  write_safetensors(no_labels, {{"input_ids", f.tensors.at("in.input_ids")}});
  run = testing::run_cli("forward --backward --model " + fixture_path("models/seqcls") + " --inputs " + no_labels +
                         " --output /dev/null");
  EXPECT_NE(run.exit_code, 0);
  EXPECT_CONTAINS(run.err, "labels");
}

}  // namespace
}  // namespace rembert
