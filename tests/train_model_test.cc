// TrainableModel beyond the transformers fixtures of tests/fixtures/training: the analytic gradient of the loss
// against central finite differences of the (float32) loss for every hidden_act, cross-attention, 3-D masks,
// position/token-type ids, head masks, multiple-choice inputs_embeds and dropout; the contracts of loss_scale and
// gradient accumulation; errors; and the train-mode forward against Model::forward on the same weights.
//
// The finite differences are directional derivatives: for a random ±1 direction d over one tensor w,
//   (L(w + h·d) − L(w − h·d)) / 2h,  Richardson-extrapolated from h and h/2 (error O(h⁴)),
// against Σ grad·d. The tolerance (kFdRtol of the larger of the two, plus a rounding floor) is well below what a
// wrong derivative gives: GELU's tanh approximation differentiated as the exact GELU already fails it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "rembert/config.h"
#include "rembert/error.h"
#include "rembert/model.h"
#include "rembert/safetensors.h"
#include "rembert/train.h"
#include "test_util.h"

namespace rembert {
namespace {

using testing::fixture_path;

// ---- fixtures and models

const TensorMap& checkpoint_of(const std::string& model) {
  static std::map<std::string, Checkpoint> cache;
  auto it = cache.find(model);
  if (it == cache.end()) it = cache.emplace(model, load_checkpoint(fixture_path("models/" + model))).first;
  return it->second.tensors;
}

RemBertConfig config_of(const std::string& model) {
  return RemBertConfig::from_json_file(fixture_path("models/" + model + "/config.json"));
}

std::unique_ptr<TrainableModel> trainable(const std::string& model, const RemBertConfig& config,
                                          const TrainableLoadOptions& options = {}) {
  return TrainableModel::from_tensors(config, checkpoint_of(model), options, model);
}

std::unique_ptr<TrainableModel> trainable(const std::string& model, const TrainableLoadOptions& options = {}) {
  return trainable(model, config_of(model), options);
}

TrainableModel::Parameter& parameter(TrainableModel& m, const std::string& name) {
  for (auto& p : m.parameters()) {
    if (p.name == name) return p;
  }
  throw std::runtime_error("no parameter " + name);
}

std::string layer_param(int layer, const std::string& rest) {
  return "rembert.encoder.layer." + std::to_string(layer) + "." + rest;
}

// ---- inputs

constexpr int64_t kBatch = 2, kSeq = 8;

Tensor random_ids(Shape shape, int64_t low, int64_t high, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> pick(low, high - 1);
  std::vector<int64_t> v(static_cast<size_t>(shape_numel(shape)));
  for (auto& x : v) x = pick(rng);
  return Tensor::from_i64(std::move(shape), v);
}

// An owned float tensor N(0, stddev), writable (the finite differences perturb it in place).
Tensor random_f32(Shape shape, double stddev, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, stddev);
  Tensor t(DType::F32, std::move(shape));
  float* p = t.mutable_data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<float>(normal(rng));
  return t;
}

Tensor owned_f32(Shape shape, const std::vector<float>& values) {
  Tensor t(DType::F32, std::move(shape));
  std::memcpy(t.mutable_data<float>(), values.data(), values.size() * sizeof(float));
  return t;
}

// Two rows, the second right-padded (5 real tokens of 8).
Tensor padded_mask() {
  return Tensor::from_i64({kBatch, kSeq}, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0});
}

ForwardInputs seqcls_inputs() {
  ForwardInputs in;
  in.input_ids = random_ids({kBatch, kSeq}, 5, 2000, 11);
  in.attention_mask = padded_mask();
  in.labels = Tensor::from_i64({kBatch}, {2, 0});
  return in;
}

// Masked LM: some positions unlabelled (-100).
ForwardInputs mlm_inputs() {
  ForwardInputs in;
  in.input_ids = random_ids({kBatch, kSeq}, 5, 2000, 12);
  in.attention_mask = padded_mask();
  std::vector<int64_t> labels = random_ids({kBatch, kSeq}, 5, 2000, 13).to_i64_vector();
  for (size_t i = 0; i < labels.size(); i += 3) labels[i] = -100;
  in.labels = Tensor::from_i64({kBatch, kSeq}, labels);
  return in;
}

// ---- losses and finite differences

double loss_of(TrainableModel& m, const ForwardInputs& in, TrainStepOptions options = {}) {
  options.backward = false;
  const TrainStepOutputs out = m.forward_backward(in, options);
  return static_cast<double>(out.loss.to_f32_vector().at(0));
}

std::vector<float> random_signs(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<float> d(n);
  for (auto& x : d) x = (rng() & 1) ? 1.0f : -1.0f;
  return d;
}

// d/dt L(w + t·d) at t = 0 by central differences; `w` is restored. Smooth losses: Richardson-extrapolated from
// steps h and h/2 (error O(h⁴)). Losses with kinks (relu-like activations): plain, since the extrapolation assumes
// smoothness.
double directional_fd(const std::function<double()>& loss, Tensor& w, const std::vector<float>& d, double h,
                      bool richardson = true) {
  float* data = w.mutable_data<float>();
  const std::vector<float> original(data, data + d.size());
  auto at = [&](double t) {
    for (size_t i = 0; i < d.size(); ++i) data[i] = static_cast<float>(original[i] + t * d[i]);
    return loss();
  };
  const double wide = (at(h) - at(-h)) / (2.0 * h);
  const double narrow = richardson ? (at(h / 2) - at(-h / 2)) / h : wide;
  std::memcpy(data, original.data(), original.size() * sizeof(float));
  return (4.0 * narrow - wide) / 3.0;
}

// Where the loss has kinks (relu, relu6, leaky_relu, the clip of gelu_10), a step crosses some of them and the
// finite difference averages the derivative on both sides: a tiny step and a looser tolerance.
enum class Smoothness { Smooth, Kinked };

// Analytic Σ grad·d against finite differences of the float32 loss, along two directions:
//  - the signs of the gradient (d·grad = Σ|grad|, large against the rounding of the loss), and random signs where the
//    gradient is exactly 0 (a gradient wrongly 0 shows there): 1e-3 relative for smooth losses (the measured error is
//    below 2e-4), 2e-2 with kinks;
//  - random signs, independent of the gradient under test (smooth losses only): 5e-3 relative (its Σ grad·d is
//    smaller, and the steps larger).
// Steps shrink with the tensor's size so that |h·d| stays about the same (0.03 along the signs). The floor is the
// loss's rounding: a few float32 ulps of the loss divided by the step. Elements [0, skip) are left out of both
// directions (e.g. a row whose gradient is zero by definition).
void expect_gradient(const std::string& what, const std::function<double()>& loss, Tensor& w, const Tensor& grad,
                     Smoothness smoothness = Smoothness::Smooth, uint64_t seed = 1, size_t skip = 0) {
  ASSERT_TRUE(grad.defined()) << what << ": no gradient";
  ASSERT_EQ(grad.shape(), w.shape()) << what;
  const std::vector<float> g = grad.to_f32_vector();
  const double rounding = 6e-7 * (1.0 + std::abs(loss()));
  const double root_n = std::sqrt(static_cast<double>(g.size()));
  std::vector<float> random = random_signs(g.size(), seed), aligned(g.size());
  for (size_t i = 0; i < g.size(); ++i) aligned[i] = g[i] > 0.0f ? 1.0f : g[i] < 0.0f ? -1.0f : random[i];
  std::fill(random.begin(), random.begin() + skip, 0.0f);
  std::fill(aligned.begin(), aligned.begin() + skip, 0.0f);
  auto expect_close = [&](const char* direction, const std::vector<float>& d, double h, bool richardson,
                          double rtol) {
    double analytic = 0.0;
    for (size_t i = 0; i < g.size(); ++i) analytic += static_cast<double>(g[i]) * d[i];
    const double numeric = directional_fd(loss, w, d, h, richardson);
    const double err = std::abs(analytic - numeric);
    EXPECT_LE(err, rtol * std::max(std::abs(analytic), std::abs(numeric)) + rounding / h)
        << what << " along " << direction << " (step " << h << "): analytic " << analytic
        << " vs finite difference " << numeric << " (relative error " << err / std::max(std::abs(analytic), 1e-30)
        << ")";
  };
  if (smoothness == Smoothness::Smooth) {
    expect_close("the gradient's signs", aligned, std::clamp(0.03 / root_n, 3e-4, 1e-2), true, 1e-3);
    expect_close("random signs", random, std::clamp(0.5 / root_n, 1e-3, 1e-2), true, 5e-3);
  } else {
    expect_close("the gradient's signs", aligned, 1e-3 / root_n, false, 2e-2);
  }
}

// The gradient of parameter `name` from one forward_backward with `options`, against finite differences of the loss
// with the same options (dropout masks included: they depend only on the seed and the shapes).
void check_parameter(TrainableModel& m, const ForwardInputs& in, const std::string& name, const std::string& what,
                     const TrainStepOptions& options = {}, Smoothness smoothness = Smoothness::Smooth) {
  m.zero_grad();
  m.forward_backward(in, options);
  TrainableModel::Parameter& p = parameter(m, name);
  const Tensor grad = p.grad;
  expect_gradient(what + " " + name, [&] { return loss_of(m, in, options); }, p.value, grad, smoothness);
}

// Same for an input tensor of `in` whose gradient forward_backward returns (`grad_of` picks it from the outputs).
void check_input(TrainableModel& m, const ForwardInputs& in, Tensor& input,
                 const std::function<Tensor(const TrainStepOutputs&)>& grad_of, const std::string& what,
                 const TrainStepOptions& options = {}) {
  m.zero_grad();
  const TrainStepOutputs out = m.forward_backward(in, options);
  expect_gradient(what, [&] { return loss_of(m, in, options); }, input, grad_of(out), Smoothness::Smooth, 2);
}

const std::vector<std::string>& encoder_parameters() {
  static const std::vector<std::string> names = {
      "rembert.embeddings.word_embeddings.weight",
      "rembert.embeddings.LayerNorm.weight",
      "rembert.encoder.embedding_hidden_mapping_in.weight",
      layer_param(0, "attention.self.query.weight"),
      layer_param(0, "intermediate.dense.weight"),
      layer_param(1, "intermediate.dense.bias"),
      layer_param(1, "attention.output.dense.weight"),
      layer_param(2, "output.dense.weight"),
      layer_param(2, "output.LayerNorm.bias"),
  };
  return names;
}

// ---- 1. every hidden_act

// The names activation_from_hidden_act accepts (ACT2FN's keys that the config validates).
const std::vector<std::string> kActivations = {
    "gelu",      "gelu_python", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "gelu_accurate", "quick_gelu",
    "gelu_10",   "relu",        "relu6",    "silu",              "swish",     "tanh",          "sigmoid",
    "mish",      "leaky_relu",  "linear",   "laplace",           "relu2"};

class TrainModelActivation : public ::testing::TestWithParam<std::string> {};

// Where the activation's inputs lie: each layer's intermediate.dense (and the LM head's cls.predictions.dense)
// becomes factor·(W·x + b) + shift. At factor 1 the pre-activations stay within about ±3 (σ ≈ 0.8); ×6 reaches the
// clipped and saturated ranges (relu6 above 6, gelu_10 beyond ±10, the tails of tanh/sigmoid); −2 puts most of them
// on the negative side (the left tails). The piecewise-linear activations also get regimes that put every
// pre-activation on one piece, ≥ 3σ from a kink (leaky_relu's slope at −6, relu6's linear piece, the clipped
// ranges), where the loss is smooth and the tight tolerance applies; their mixed regimes cross kinks.
struct Regime {
  float factor, shift;
  Smoothness smoothness = Smoothness::Smooth;
  // Whether the LM head's dense is moved too: not for −2, where a row could be almost all zeros after relu2, and
  // LayerNorm's 1/sqrt(var + eps) of such a row makes the loss ill-conditioned.
  bool lm_head = true;
  std::string name() const {
    std::ostringstream out;
    out << "x" << factor << (shift >= 0 ? "+" : "") << shift;
    return out.str();
  }
};

std::vector<Regime> regimes_of(const std::string& act) {
  const Smoothness kinked = Smoothness::Kinked;
  if (act == "relu" || act == "leaky_relu") return {{1, 0, kinked}, {6, 0, kinked}, {1, 6}, {1, -6}};
  if (act == "relu6") return {{1, 0, kinked}, {6, 0, kinked}, {0.25f, 3}, {1, 12}, {1, -6}};
  const Regime left = {1, -2, Smoothness::Smooth, false};
  if (act == "gelu_10") return {{1, 0}, {6, 0, kinked}, left, {1, 14}};
  // laplace's derivative is a narrow bump at 0.707 (σ 0.28): shifted to −2 it is e^-46, under the resolution of the
  // float32 forward (0.5·(1 + erf) is flat there), so finite differences cannot see it.
  if (act == "laplace") return {{1, 0}, {6, 0}};
  return {{1, 0}, {6, 0}, left};
}

void move_pre_activations(TrainableModel& m, const Regime& regime) {
  std::vector<std::string> denses;
  for (int layer = 0; layer < m.config().num_hidden_layers; ++layer) denses.push_back(layer_param(layer, "intermediate.dense"));
  if (m.head() == HeadType::MaskedLM && regime.lm_head) denses.push_back("cls.predictions.dense");
  for (const std::string& dense : denses) {
    const float shift = regime.shift;
    float* w = parameter(m, dense + ".weight").value.mutable_data<float>();
    Tensor& bias = parameter(m, dense + ".bias").value;
    float* b = bias.mutable_data<float>();
    for (int64_t i = 0; i < parameter(m, dense + ".weight").value.numel(); ++i) w[i] *= regime.factor;
    for (int64_t i = 0; i < bias.numel(); ++i) b[i] = b[i] * regime.factor + shift;
  }
}

TEST_P(TrainModelActivation, FeedForwardGradientsMatchFiniteDifferences) {
  RemBertConfig config = config_of("seqcls");
  config.hidden_act = GetParam();
  const ForwardInputs in = seqcls_inputs();
  for (const Regime& regime : regimes_of(GetParam())) {
    auto m = trainable("seqcls", config);
    move_pre_activations(*m, regime);
    // The intermediate.dense gradients carry act' directly; the attention's only through the layers above.
    // (With kinks only the large tensors: a bias's Σ|grad| is too small for the tiny step.)
    const Smoothness smoothness = regime.smoothness;
    std::vector<std::string> names = {layer_param(0, "intermediate.dense.weight"),
                                      layer_param(2, "intermediate.dense.weight"),
                                      layer_param(0, "attention.self.value.weight")};
    if (smoothness == Smoothness::Smooth) names.push_back(layer_param(1, "intermediate.dense.bias"));
    for (const std::string& name : names) check_parameter(*m, in, name, GetParam() + " " + regime.name(), {}, smoothness);
  }
}

// The LM head (cls.predictions: decoder(LayerNorm(act(dense(h))))) uses hidden_act too.
TEST_P(TrainModelActivation, MaskedLMHeadGradientsMatchFiniteDifferences) {
  RemBertConfig config = config_of("mlm");
  config.hidden_act = GetParam();
  const ForwardInputs in = mlm_inputs();
  for (const Regime& regime : regimes_of(GetParam())) {
    auto m = trainable("mlm", config);
    move_pre_activations(*m, regime);
    for (const std::string& name : {std::string("cls.predictions.dense.weight"), layer_param(2, "intermediate.dense.weight")}) {
      check_parameter(*m, in, name, GetParam() + " " + regime.name(), {}, regime.smoothness);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllHiddenActs, TrainModelActivation, ::testing::ValuesIn(kActivations));

// ---- 7. the train-mode forward (dropout off) against Model::forward on the same weights

void expect_near_all(const std::string& what, const Tensor& actual, const Tensor& expected, double atol) {
  ASSERT_TRUE(actual.defined()) << what << " missing (train)";
  ASSERT_TRUE(expected.defined()) << what << " missing (Model)";
  ASSERT_EQ(actual.shape(), expected.shape()) << what;
  const std::vector<float> a = actual.to_f32_vector(), e = expected.to_f32_vector();
  int64_t bad = 0;
  double worst = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double err = std::abs(static_cast<double>(a[i]) - e[i]);
    worst = std::max(worst, err);
    bad += !(err <= atol);
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << a.size() << " off by more than " << atol << ", worst "
                    << worst;
}

// Logits (and the QA start/end logits) of forward_backward against Model::from_tensors(config, state_dict()).
void expect_forward_matches_model(TrainableModel& m, const ForwardInputs& in, const std::string& what) {
  LoadOptions load;
  load.head = m.head();
  auto reference = Model::from_tensors(m.config(), m.state_dict(), load, what);
  ForwardInputs eval = in;
  eval.skip_padding = false;  // the full layout, as the train-mode forward computes it
  const ForwardOutputs expected = reference->forward(eval);
  const TrainStepOutputs actual = m.forward_backward(in, {});
  if (m.head() == HeadType::QuestionAnswering) {
    expect_near_all(what + " start_logits", actual.start_logits, expected.start_logits, 1e-4);
    expect_near_all(what + " end_logits", actual.end_logits, expected.end_logits, 1e-4);
  } else {
    expect_near_all(what + " logits", actual.logits, expected.logits, 1e-4);
  }
  if (expected.loss.defined()) expect_near_all(what + " loss", actual.loss, expected.loss, 1e-5);
}

TEST_P(TrainModelActivation, TrainForwardMatchesModelForward) {
  RemBertConfig config = config_of("mlm");
  config.hidden_act = GetParam();
  for (const Regime& regime : regimes_of(GetParam())) {
    auto m = trainable("mlm", config);
    move_pre_activations(*m, regime);
    expect_forward_matches_model(*m, mlm_inputs(), GetParam() + " " + regime.name());
  }
}

TEST(TrainModelForward, LogitsOfEveryHeadMatchModelForward) {
  {
    auto m = trainable("seqcls");
    // The weights the model holds now, not those of the checkpoint: state_dict() shares the parameters' storage.
    float* w = parameter(*m, "classifier.weight").value.mutable_data<float>();
    w[0] += 0.5f;
    expect_forward_matches_model(*m, seqcls_inputs(), "seqcls");
  }
  for (const char* name : {"seqcls_regression", "seqcls_multilabel"}) {
    auto m = trainable(name);
    ForwardInputs in = seqcls_inputs();
    in.labels = std::string(name) == "seqcls_regression" ? Tensor::from_f32({kBatch}, {0.5f, -1.0f})
                                                         : Tensor::from_f32({kBatch, 4}, {1, 0, 0, 1, 0, 1, 1, 0});
    expect_forward_matches_model(*m, in, name);
  }
  {
    auto m = trainable("mlm");
    expect_forward_matches_model(*m, mlm_inputs(), "mlm");
  }
  {
    auto m = trainable("clm");
    ForwardInputs in = mlm_inputs();
    expect_forward_matches_model(*m, in, "clm");
  }
  {
    auto m = trainable("tokcls");
    ForwardInputs in = seqcls_inputs();
    in.labels = random_ids({kBatch, kSeq}, 0, 5, 14);
    expect_forward_matches_model(*m, in, "tokcls");
  }
  {
    auto m = trainable("qa");
    ForwardInputs in = seqcls_inputs();
    in.labels = Tensor();
    in.token_type_ids = random_ids({kBatch, kSeq}, 0, 2, 15);
    in.start_positions = Tensor::from_i64({kBatch}, {1, 3});
    in.end_positions = Tensor::from_i64({kBatch}, {4, 3});
    expect_forward_matches_model(*m, in, "qa");
  }
  {
    auto m = trainable("mc");
    ForwardInputs in;
    in.input_ids = random_ids({kBatch, 3, kSeq}, 5, 2000, 16);
    in.attention_mask = Tensor::from_i64({kBatch, 3, kSeq}, std::vector<int64_t>(kBatch * 3 * kSeq, 1));
    in.labels = Tensor::from_i64({kBatch}, {1, 2});
    expect_forward_matches_model(*m, in, "mc");
  }
}

// ---- 2. cross-attention

constexpr int64_t kEncoderSeq = 6;

std::unique_ptr<TrainableModel> cross_attention_model() {
  TrainableLoadOptions options;
  options.head = HeadType::CausalLM;  // RemBertModel has no loss; the LM head is initialised (init_seed)
  options.init_seed = 5;
  return trainable("decoder_xattn", options);
}

ForwardInputs cross_attention_inputs() {
  ForwardInputs in;
  in.input_ids = random_ids({kBatch, kSeq}, 5, 2000, 21);
  in.labels = in.input_ids;
  in.encoder_hidden_states = random_f32({kBatch, kEncoderSeq, 64}, 1.0, 22);
  in.encoder_attention_mask = Tensor::from_i64({kBatch, kEncoderSeq}, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0});
  return in;
}

TEST(TrainModelCrossAttention, EncoderStatesGradientMatchesFiniteDifferences) {
  auto m = cross_attention_model();
  ForwardInputs in = cross_attention_inputs();
  check_input(*m, in, in.encoder_hidden_states, [](const TrainStepOutputs& o) { return o.grad_encoder_hidden_states; },
              "grad_encoder_hidden_states");
  // Encoder positions the mask hides get no gradient at all: their attention weights are exactly 0.
  m->zero_grad();
  const TrainStepOutputs out = m->forward_backward(in);
  const std::vector<float> g = out.grad_encoder_hidden_states.to_f32_vector();
  double visible = 0.0;
  for (int64_t b = 0; b < kBatch; ++b) {
    for (int64_t s = 0; s < kEncoderSeq; ++s) {
      for (int64_t h = 0; h < 64; ++h) {
        const float v = g[static_cast<size_t>((b * kEncoderSeq + s) * 64 + h)];
        if (b == 1 && s >= 4) {
          ASSERT_EQ(v, 0.0f) << "masked encoder position " << s << " of row 1";
        } else {
          visible += std::abs(v);
        }
      }
    }
  }
  EXPECT_GT(visible, 0.0);
}

TEST(TrainModelCrossAttention, CrossAttentionParametersMatchFiniteDifferences) {
  auto m = cross_attention_model();
  const ForwardInputs in = cross_attention_inputs();
  for (int layer : {0, 2}) {
    for (const char* part : {"crossattention.self.query.weight", "crossattention.self.key.weight",
                             "crossattention.self.value.weight", "crossattention.self.value.bias",
                             "crossattention.output.dense.weight", "crossattention.output.LayerNorm.weight"}) {
      check_parameter(*m, in, layer_param(layer, part), "cross-attention");
    }
  }
  for (const std::string& name : {layer_param(1, "attention.self.key.weight"), layer_param(1, "output.dense.weight"),
                                  std::string("cls.predictions.decoder.weight"),
                                  std::string("rembert.embeddings.word_embeddings.weight")}) {
    check_parameter(*m, in, name, "decoder with cross-attention");
  }
}

// One head_mask multiplies a layer's self- and cross-attention heads alike: its gradient collects both.
TEST(TrainModelCrossAttention, HeadMaskGradientCollectsSelfAndCrossAttention) {
  auto m = cross_attention_model();
  ForwardInputs in = cross_attention_inputs();
  in.head_mask = owned_f32({3, 4}, {0.9f, 0.25f, 1.0f, 0.6f, 0.0f, 1.3f, 0.7f, 0.4f, 0.5f, 1.0f, 0.15f, 0.75f});
  check_input(*m, in, in.head_mask, [](const TrainStepOutputs& o) { return o.grad_head_mask; },
              "grad_head_mask with cross-attention");
  check_input(*m, in, in.encoder_hidden_states, [](const TrainStepOutputs& o) { return o.grad_encoder_hidden_states; },
              "grad_encoder_hidden_states with head_mask");
  expect_forward_matches_model(*m, in, "decoder_xattn with head_mask");
}

// With pruned self-attention heads the cross-attention keeps all 4: a head_mask as wide as the pruned layers is an
// error naming head_mask, as in the inference model (before, the cross-attention read past its end).
TEST(TrainModelCrossAttention, HeadMaskMustFitThePrunedLayersCrossAttention) {
  RemBertConfig config = config_of("decoder_xattn");
  config.pruned_heads = {{0, {1}}, {1, {1}}, {2, {1}}};
  TensorMap weights = checkpoint_of("decoder_xattn");
  for (int layer = 0; layer < 3; ++layer) testing::prune_self_attention_head(weights, layer, 1, 16, 64);
  TrainableLoadOptions options;
  options.head = HeadType::CausalLM;
  options.init_seed = 5;
  auto m = TrainableModel::from_tensors(config, weights, options, "pruned decoder_xattn");
  ForwardInputs in = cross_attention_inputs();
  in.head_mask = owned_f32({3}, {1.0f, 0.5f, 1.0f});
  EXPECT_CONTAINS(testing::error_message([&] { m->forward_backward(in); }),
                  "head_mask: 3 heads given, layer 0's cross-attention has 4");
}

TEST(TrainModelCrossAttention, ThreeDimensionalEncoderMaskAndLogitsMatchModel) {
  auto m = cross_attention_model();
  ForwardInputs in = cross_attention_inputs();
  expect_forward_matches_model(*m, in, "decoder_xattn");
  // [B, S, S_enc]: each query position sees its own subset of the encoder.
  std::vector<int64_t> mask(static_cast<size_t>(kBatch * kSeq * kEncoderSeq));
  for (size_t i = 0; i < mask.size(); ++i) mask[i] = (i * 7 % 5) != 0 || i % kEncoderSeq == 0;
  in.encoder_attention_mask = Tensor::from_i64({kBatch, kSeq, kEncoderSeq}, mask);
  expect_forward_matches_model(*m, in, "decoder_xattn 3-D encoder mask");
  check_input(*m, in, in.encoder_hidden_states, [](const TrainStepOutputs& o) { return o.grad_encoder_hidden_states; },
              "grad_encoder_hidden_states (3-D encoder mask)");
  check_parameter(*m, in, layer_param(1, "crossattention.self.key.weight"), "3-D encoder mask");
}

// ---- 3. masks, ids, head masks, multiple-choice inputs_embeds

// A [B, S, S] mask: each query sees itself and a pseudo-random subset of the other positions.
Tensor random_3d_mask(uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int64_t> m(static_cast<size_t>(kBatch * kSeq * kSeq));
  for (int64_t b = 0; b < kBatch; ++b) {
    for (int64_t q = 0; q < kSeq; ++q) {
      for (int64_t k = 0; k < kSeq; ++k) m[static_cast<size_t>((b * kSeq + q) * kSeq + k)] = q == k || (rng() % 3 != 0);
    }
  }
  return Tensor::from_i64({kBatch, kSeq, kSeq}, m);
}

std::vector<std::vector<float>> all_grads(const TrainableModel& m) {
  std::vector<std::vector<float>> out;
  for (const auto& p : m.parameters()) out.push_back(p.grad.to_f32_vector());
  return out;
}

// Every gradient of `a` within rtol of `b` (scaled by `factor`), and a tiny absolute floor.
void expect_grads_near(const TrainableModel& m, const std::vector<std::vector<float>>& a,
                       const std::vector<std::vector<float>>& b, double factor, double rtol, const std::string& what) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t t = 0; t < a.size(); ++t) {
    int64_t bad = 0;
    for (size_t i = 0; i < a[t].size(); ++i) {
      const double expected = factor * b[t][i];
      bad += !(std::abs(a[t][i] - expected) <= rtol * std::abs(expected) + 1e-12);
    }
    EXPECT_EQ(bad, 0) << what << ": " << m.parameters()[t].name << " has " << bad << " elements off";
  }
}

TEST(TrainModelInputs, ThreeDimensionalAttentionMask) {
  auto m = trainable("seqcls");
  ForwardInputs in = seqcls_inputs();
  // The 2-D padding mask written out as [B, S, S] gives the same loss and gradients.
  m->zero_grad();
  const double loss_2d = loss_of(*m, in);
  m->forward_backward(in);
  const auto grads_2d = all_grads(*m);
  const std::vector<int64_t> pad = in.attention_mask.to_i64_vector();
  std::vector<int64_t> wide;
  for (int64_t b = 0; b < kBatch; ++b) {
    for (int64_t q = 0; q < kSeq; ++q) wide.insert(wide.end(), pad.begin() + b * kSeq, pad.begin() + (b + 1) * kSeq);
  }
  in.attention_mask = Tensor::from_i64({kBatch, kSeq, kSeq}, wide);
  m->zero_grad();
  EXPECT_EQ(loss_of(*m, in), loss_2d);
  m->forward_backward(in);
  expect_grads_near(*m, all_grads(*m), grads_2d, 1.0, 1e-6, "3-D copy of the 2-D mask");

  in.attention_mask = random_3d_mask(31);
  expect_forward_matches_model(*m, in, "3-D attention_mask");
  for (const std::string& name : encoder_parameters()) check_parameter(*m, in, name, "3-D attention_mask");
}

TEST(TrainModelInputs, PositionIdsAndTokenTypeIds) {
  auto m = trainable("seqcls");
  ForwardInputs in = seqcls_inputs();
  in.position_ids = Tensor::from_i64({kBatch, kSeq}, {10, 11, 12, 13, 14, 15, 16, 17, 3, 1, 4, 1, 5, 9, 2, 6});
  in.token_type_ids = Tensor::from_i64({kBatch, kSeq}, {0, 0, 0, 1, 1, 1, 1, 1, 0, 1, 0, 1, 1, 0, 0, 0});
  expect_forward_matches_model(*m, in, "position_ids + token_type_ids");
  for (const char* name : {"rembert.embeddings.position_embeddings.weight",
                           "rembert.embeddings.token_type_embeddings.weight",
                           "rembert.embeddings.word_embeddings.weight", "rembert.embeddings.LayerNorm.bias"}) {
    check_parameter(*m, in, name, "position_ids + token_type_ids");
  }
  // Rows of the position table that no attended position used get exactly no gradient; the others do.
  m->zero_grad();
  m->forward_backward(in);
  const Tensor& g = parameter(*m, "rembert.embeddings.position_embeddings.weight").grad;
  // Row 1's last three positions (9, 2, 6) are padding: nothing attends to them and the loss reads position 0 only.
  const std::vector<int64_t> used = {1, 3, 4, 5, 10, 11, 12, 13, 14, 15, 16, 17};
  for (int64_t row = 0; row < g.dim(0); ++row) {
    double sum = 0.0;
    for (int64_t j = 0; j < g.dim(1); ++j) sum += std::abs(g.data<float>()[row * g.dim(1) + j]);
    const bool is_used = std::find(used.begin(), used.end(), row) != used.end();
    if (is_used) {
      EXPECT_GT(sum, 0.0) << "position row " << row;
    } else {
      EXPECT_EQ(sum, 0.0) << "position row " << row;
    }
  }
  // [S] position ids are shared by the batch: the same as writing them out per row.
  ForwardInputs shared = seqcls_inputs(), per_row = seqcls_inputs();
  shared.position_ids = Tensor::from_i64({kSeq}, {7, 6, 5, 4, 3, 2, 1, 0});
  per_row.position_ids = Tensor::from_i64({kBatch, kSeq}, {7, 6, 5, 4, 3, 2, 1, 0, 7, 6, 5, 4, 3, 2, 1, 0});
  m->zero_grad();
  m->forward_backward(shared);
  const auto grads_shared = all_grads(*m);
  m->zero_grad();
  m->forward_backward(per_row);
  expect_grads_near(*m, all_grads(*m), grads_shared, 1.0, 0.0, "[S] vs [B, S] position_ids");
}

// transformers' padding_idx: the pad token's word-embedding row is used by the forward but gets no gradient, so the
// finite differences agree only along directions that leave that row alone.
TEST(TrainModelInputs, PadTokenRowGetsNoGradient) {
  auto m = trainable("seqcls");
  ForwardInputs in = seqcls_inputs();
  std::vector<int64_t> ids = in.input_ids.to_i64_vector();
  for (size_t i = 13; i < 16; ++i) ids[i] = 0;  // pad_token_id at the padded positions
  ids[3] = 0;                                   // and at one attended position
  in.input_ids = Tensor::from_i64({kBatch, kSeq}, ids);
  m->zero_grad();
  m->forward_backward(in);
  TrainableModel::Parameter& words = parameter(*m, "rembert.embeddings.word_embeddings.weight");
  const int64_t E = words.grad.dim(1);
  for (int64_t j = 0; j < E; ++j) ASSERT_EQ(words.grad.data<float>()[j], 0.0f) << "pad row, column " << j;
  // Off the pad row the gradient is the loss's.
  const Tensor grad = words.grad;
  expect_gradient("word embeddings off the pad row", [&] { return loss_of(*m, in); }, words.value, grad,
                  Smoothness::Smooth, 3, static_cast<size_t>(E));
  // Along the pad row alone the loss does change (position 3 attends to it): the zero is padding_idx, not a dead
  // input. (Random signs: LayerNorm ignores a constant shift of the row.)
  std::vector<float> pad_only = random_signs(static_cast<size_t>(words.value.numel()), 3);
  std::fill(pad_only.begin() + E, pad_only.end(), 0.0f);
  EXPECT_GT(std::abs(directional_fd([&] { return loss_of(*m, in); }, words.value, pad_only, 1e-2)), 1e-3);
}

TEST(TrainModelInputs, HeadMaskOfHeadsIsSummedOverLayers) {
  auto m = trainable("seqcls");
  ForwardInputs in = seqcls_inputs();
  in.head_mask = owned_f32({4}, {1.0f, 0.5f, 0.0f, 0.8f});
  check_input(*m, in, in.head_mask, [](const TrainStepOutputs& o) { return o.grad_head_mask; }, "grad_head_mask [heads]");
  check_parameter(*m, in, layer_param(1, "attention.self.value.weight"), "head_mask [heads]");
  expect_forward_matches_model(*m, in, "head_mask [heads]");
  // The [heads] gradient is the sum over layers of the [layers, heads] one for the same multipliers.
  m->zero_grad();
  const std::vector<float> shared = m->forward_backward(in).grad_head_mask.to_f32_vector();
  ForwardInputs rows = in;
  rows.head_mask = owned_f32({3, 4}, {1.0f, 0.5f, 0.0f, 0.8f, 1.0f, 0.5f, 0.0f, 0.8f, 1.0f, 0.5f, 0.0f, 0.8f});
  m->zero_grad();
  const std::vector<float> per_layer = m->forward_backward(rows).grad_head_mask.to_f32_vector();
  ASSERT_EQ(shared.size(), 4u);
  ASSERT_EQ(per_layer.size(), 12u);
  for (size_t h = 0; h < 4; ++h) {
    const double sum = static_cast<double>(per_layer[h]) + per_layer[4 + h] + per_layer[8 + h];
    EXPECT_NEAR(shared[h], sum, 1e-6 + 1e-5 * std::abs(sum)) << "head " << h;
    EXPECT_NE(shared[h], 0.0f) << "head " << h << ": a masked head still has a gradient";
  }
}

TEST(TrainModelInputs, HeadMaskOfLayersAndHeads) {
  auto m = trainable("seqcls");
  ForwardInputs in = seqcls_inputs();
  in.head_mask = owned_f32({3, 4}, {0.9f, 0.25f, 1.0f, 0.6f, 0.0f, 1.3f, 0.7f, 0.4f, 0.5f, 1.0f, 0.15f, 0.75f});
  check_input(*m, in, in.head_mask, [](const TrainStepOutputs& o) { return o.grad_head_mask; },
              "grad_head_mask [layers, heads]");
  for (const std::string& name : {layer_param(0, "attention.self.query.weight"),
                                  layer_param(1, "attention.self.value.weight"),
                                  layer_param(2, "attention.output.dense.weight")}) {
    check_parameter(*m, in, name, "head_mask [layers, heads]");
  }
  expect_forward_matches_model(*m, in, "head_mask [layers, heads]");
}

TEST(TrainModelInputs, MultipleChoiceInputsEmbeds) {
  auto m = trainable("mc");
  constexpr int64_t kChoices = 3;
  ForwardInputs in;
  in.inputs_embeds = random_f32({kBatch, kChoices, kSeq, 32}, 0.3, 41);
  std::vector<int64_t> mask(static_cast<size_t>(kBatch * kChoices * kSeq), 1);
  for (int64_t s = 5; s < kSeq; ++s) mask[static_cast<size_t>(4 * kSeq + s)] = 0;  // choice 1 of row 1 padded
  in.attention_mask = Tensor::from_i64({kBatch, kChoices, kSeq}, mask);
  in.token_type_ids = random_ids({kBatch, kChoices, kSeq}, 0, 2, 42);
  in.labels = Tensor::from_i64({kBatch}, {1, 2});
  m->zero_grad();
  const TrainStepOutputs out = m->forward_backward(in);
  EXPECT_EQ(out.grad_inputs_embeds.shape(), (Shape{kBatch, kChoices, kSeq, 32}));
  EXPECT_EQ(out.logits.shape(), (Shape{kBatch, kChoices}));
  check_input(*m, in, in.inputs_embeds, [](const TrainStepOutputs& o) { return o.grad_inputs_embeds; },
              "grad_inputs_embeds [B, C, S, E]");
  for (const std::string& name : {std::string("classifier.weight"), std::string("rembert.pooler.dense.weight"),
                                  layer_param(0, "attention.self.key.weight"),
                                  std::string("rembert.embeddings.token_type_embeddings.weight")}) {
    check_parameter(*m, in, name, "multiple choice inputs_embeds");
  }
  expect_forward_matches_model(*m, in, "multiple choice inputs_embeds");
  // Without input_ids no word embedding row is used.
  m->zero_grad();
  m->forward_backward(in);
  for (float v : parameter(*m, "rembert.embeddings.word_embeddings.weight").grad.to_f32_vector()) ASSERT_EQ(v, 0.0f);
}

// ---- 4. dropout

RemBertConfig dropout_config(const std::string& model, double hidden, double attention, double classifier) {
  RemBertConfig c = config_of(model);
  c.hidden_dropout_prob = hidden;
  c.attention_probs_dropout_prob = attention;
  c.classifier_dropout_prob = classifier;
  return c;
}

TrainStepOptions with_dropout(uint64_t seed) {
  TrainStepOptions o;
  o.dropout = true;
  o.dropout_seed = seed;
  return o;
}

TEST(TrainModelDropout, SameSeedSameResultsOtherSeedOthers) {
  auto m = trainable("seqcls", dropout_config("seqcls", 0.1, 0.1, 0.1));
  const ForwardInputs in = seqcls_inputs();
  m->zero_grad();
  const TrainStepOutputs a = m->forward_backward(in, with_dropout(7));
  const auto grads_a = all_grads(*m);
  m->zero_grad();
  const TrainStepOutputs b = m->forward_backward(in, with_dropout(7));
  EXPECT_EQ(a.loss.to_f32_vector(), b.loss.to_f32_vector());
  EXPECT_EQ(a.logits.to_f32_vector(), b.logits.to_f32_vector());
  expect_grads_near(*m, all_grads(*m), grads_a, 1.0, 0.0, "same dropout seed");

  m->zero_grad();
  const TrainStepOutputs other = m->forward_backward(in, with_dropout(8));
  EXPECT_NE(other.loss.to_f32_vector(), a.loss.to_f32_vector());
  EXPECT_NE(all_grads(*m), grads_a);
  const double off = loss_of(*m, in);
  EXPECT_NE(off, static_cast<double>(a.loss.to_f32_vector()[0])) << "dropout on changed nothing";
}

TEST(TrainModelDropout, ZeroProbabilitiesEqualDropoutOff) {
  auto m = trainable("seqcls", dropout_config("seqcls", 0.0, 0.0, 0.0));
  const ForwardInputs in = seqcls_inputs();
  m->zero_grad();
  const TrainStepOutputs off = m->forward_backward(in);
  const auto grads_off = all_grads(*m);
  m->zero_grad();
  const TrainStepOutputs on = m->forward_backward(in, with_dropout(3));
  EXPECT_EQ(on.loss.to_f32_vector(), off.loss.to_f32_vector());
  EXPECT_EQ(on.logits.to_f32_vector(), off.logits.to_f32_vector());
  expect_grads_near(*m, all_grads(*m), grads_off, 1.0, 0.0, "dropout on with every probability 0");
}

// Each dropout site alone, then all together: the masks are fixed by the seed, so the loss is smooth in the weights.
TEST(TrainModelDropout, GradientsMatchFiniteDifferencesWithDropoutOn) {
  struct Site {
    const char* what;
    double hidden, attention, classifier;
  };
  for (const Site& site : {Site{"hidden", 0.2, 0.0, 0.0}, Site{"attention", 0.0, 0.2, 0.0},
                           Site{"classifier", 0.0, 0.0, 0.3}, Site{"all", 0.1, 0.1, 0.1}}) {
    auto m = trainable("seqcls", dropout_config("seqcls", site.hidden, site.attention, site.classifier));
    const ForwardInputs in = seqcls_inputs();
    EXPECT_NE(loss_of(*m, in, with_dropout(5)), loss_of(*m, in)) << site.what << ": dropout changed nothing";
    for (const std::string& name : {layer_param(0, "attention.self.query.weight"),
                                    layer_param(1, "intermediate.dense.weight"), std::string("classifier.weight"),
                                    std::string("rembert.embeddings.word_embeddings.weight"),
                                    std::string("rembert.pooler.dense.weight")}) {
      check_parameter(*m, in, name, std::string("dropout ") + site.what, with_dropout(5));
    }
  }
}

TEST(TrainModelDropout, TokenClassificationAndMaskedLMWithDropout) {
  {
    auto m = trainable("tokcls", dropout_config("tokcls", 0.1, 0.1, 0.2));
    ForwardInputs in = seqcls_inputs();
    in.labels = random_ids({kBatch, kSeq}, 0, 5, 51);
    for (const std::string& name : {std::string("classifier.weight"), layer_param(2, "output.dense.weight"),
                                    layer_param(0, "attention.self.key.weight")}) {
      check_parameter(*m, in, name, "tokcls dropout", with_dropout(9));
    }
  }
  {
    auto m = trainable("mlm", dropout_config("mlm", 0.1, 0.1, 0.1));
    const ForwardInputs in = mlm_inputs();
    for (const std::string& name : {std::string("cls.predictions.dense.weight"),
                                    layer_param(1, "attention.output.dense.weight")}) {
      check_parameter(*m, in, name, "mlm dropout", with_dropout(10));
    }
  }
  {  // cross-attention with dropout: the encoder states' gradient too
    RemBertConfig c = dropout_config("decoder_xattn", 0.1, 0.1, 0.1);
    TrainableLoadOptions options;
    options.head = HeadType::CausalLM;
    auto m = trainable("decoder_xattn", c, options);
    ForwardInputs in = cross_attention_inputs();
    check_input(*m, in, in.encoder_hidden_states, [](const TrainStepOutputs& o) { return o.grad_encoder_hidden_states; },
                "grad_encoder_hidden_states with dropout", with_dropout(11));
    check_parameter(*m, in, layer_param(1, "crossattention.self.value.weight"), "cross-attention dropout",
                    with_dropout(11));
  }
}

// ---- 5. loss_scale and accumulation

TEST(TrainModelAccumulation, CallsWithoutZeroGradAddUp) {
  auto m = trainable("seqcls");
  const ForwardInputs a = seqcls_inputs();
  ForwardInputs b = seqcls_inputs();
  b.input_ids = random_ids({kBatch, kSeq}, 5, 2000, 61);
  b.labels = Tensor::from_i64({kBatch}, {1, 1});
  m->zero_grad();
  m->forward_backward(a);
  const auto grads_a = all_grads(*m);
  m->zero_grad();
  m->forward_backward(b);
  const auto grads_b = all_grads(*m);
  // The same batch twice: twice the gradient.
  m->zero_grad();
  m->forward_backward(a);
  m->forward_backward(a);
  expect_grads_near(*m, all_grads(*m), grads_a, 2.0, 1e-5, "a + a");
  // Two micro-batches: the sum of their gradients.
  m->zero_grad();
  m->forward_backward(a);
  m->forward_backward(b);
  const auto sum = all_grads(*m);
  std::vector<std::vector<float>> expected = grads_a;
  for (size_t t = 0; t < expected.size(); ++t) {
    for (size_t i = 0; i < expected[t].size(); ++i) expected[t][i] += grads_b[t][i];
  }
  expect_grads_near(*m, sum, expected, 1.0, 1e-5, "a + b");
  // A forward alone (backward = false) leaves the gradients as they are; zero_grad clears them.
  loss_of(*m, a);
  expect_grads_near(*m, all_grads(*m), sum, 1.0, 0.0, "after a forward without backward");
  m->zero_grad();
  for (const auto& g : all_grads(*m)) {
    for (float v : g) ASSERT_EQ(v, 0.0f);
  }
}

TEST(TrainModelAccumulation, LossScaleScalesEveryGradientNotTheLoss) {
  auto m = trainable("seqcls");
  ForwardInputs in = seqcls_inputs();
  in.head_mask = owned_f32({4}, {1.0f, 0.5f, 0.0f, 0.8f});
  m->zero_grad();
  const TrainStepOutputs full = m->forward_backward(in);
  const auto grads_full = all_grads(*m);
  TrainStepOptions half;
  half.loss_scale = 0.5f;
  m->zero_grad();
  const TrainStepOutputs halved = m->forward_backward(in, half);
  EXPECT_EQ(halved.loss.to_f32_vector(), full.loss.to_f32_vector());
  expect_grads_near(*m, all_grads(*m), grads_full, 0.5, 1e-6, "loss_scale 0.5");
  const std::vector<float> hm = halved.grad_head_mask.to_f32_vector(), hf = full.grad_head_mask.to_f32_vector();
  for (size_t i = 0; i < hf.size(); ++i) EXPECT_NEAR(hm[i], 0.5 * hf[i], 1e-6 * std::abs(hf[i]) + 1e-12) << i;

  // inputs_embeds: its gradient is scaled too.
  auto mc = trainable("mc");
  ForwardInputs choice;
  choice.inputs_embeds = random_f32({1, 2, kSeq, 32}, 0.3, 62);
  choice.labels = Tensor::from_i64({1}, {1});
  mc->zero_grad();
  const std::vector<float> ef = mc->forward_backward(choice).grad_inputs_embeds.to_f32_vector();
  const std::vector<float> eh = mc->forward_backward(choice, half).grad_inputs_embeds.to_f32_vector();
  for (size_t i = 0; i < ef.size(); ++i) ASSERT_NEAR(eh[i], 0.5 * ef[i], 1e-6 * std::abs(ef[i]) + 1e-12) << i;
}

// ---- 6. errors

void expect_error(TrainableModel& m, const ForwardInputs& in, const std::string& part, const std::string& what,
                  const TrainStepOptions& options = {}) {
  try {
    m.forward_backward(in, options);
    ADD_FAILURE() << what << ": no error";
  } catch (const Error& e) {
    EXPECT_CONTAINS(e.what(), part) << what;
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << ": not a rembert::Error: " << e.what();
  }
}

TEST(TrainModelErrors, MissingLabelsHeadlessModelAndCaches) {
  {
    auto m = trainable("seqcls");
    ForwardInputs in = seqcls_inputs();
    in.labels = Tensor();
    expect_error(*m, in, "labels", "seqcls backward without labels");
    TrainStepOptions forward_only;
    forward_only.backward = false;
    const TrainStepOutputs out = m->forward_backward(in, forward_only);  // a forward needs no labels
    EXPECT_FALSE(out.loss.defined());
    EXPECT_EQ(out.logits.shape(), (Shape{kBatch, 3}));
  }
  {
    auto m = trainable("qa");
    ForwardInputs in = seqcls_inputs();
    in.labels = Tensor();
    in.start_positions = Tensor::from_i64({kBatch}, {1, 2});
    expect_error(*m, in, "end_positions", "qa backward without end_positions");
  }
  {
    auto m = trainable("base");
    ASSERT_EQ(m->head(), HeadType::Model);
    ForwardInputs in = seqcls_inputs();
    in.labels = Tensor();
    expect_error(*m, in, "RemBertModel", "RemBertModel backward");
  }
  {
    auto m = trainable("clm");
    ForwardInputs in = mlm_inputs();
    in.past_key_values.resize(3);
    for (auto& layer : in.past_key_values) {
      layer.key = Tensor(DType::F32, {kBatch, 4, 2, 16});
      layer.value = Tensor(DType::F32, {kBatch, 4, 2, 16});
    }
    expect_error(*m, in, "past_key_values", "past_key_values in training");
  }
}

TEST(TrainModelErrors, WrongLabelAndInputShapesNameTheField) {
  auto seqcls = trainable("seqcls");
  auto tokcls = trainable("tokcls");
  auto mlm = trainable("mlm");
  auto qa = trainable("qa");
  auto mc = trainable("mc");
  auto xattn = cross_attention_model();
  // Gradients before the failing calls: an error leaves them as they were.
  seqcls->zero_grad();
  seqcls->forward_backward(seqcls_inputs());
  const auto before = all_grads(*seqcls);
  const double loss_before = loss_of(*seqcls, seqcls_inputs());

  auto in = [] { return seqcls_inputs(); };
  ForwardInputs x = in();
  x.labels = Tensor::from_i64({3}, {0, 1, 2});
  expect_error(*seqcls, x, "labels", "seqcls: 3 labels for a batch of 2");
  x.labels = Tensor::from_i64({kBatch}, {0, 3});
  expect_error(*seqcls, x, "labels", "seqcls: label 3 of 3 classes");
  x.labels = Tensor::from_i64({kBatch}, {0, -5});
  expect_error(*seqcls, x, "labels", "seqcls: negative label");
  x = in();
  x.attention_mask = Tensor::from_i64({kBatch, kSeq + 1}, std::vector<int64_t>(kBatch * (kSeq + 1), 1));
  expect_error(*seqcls, x, "attention_mask", "attention_mask [B, S+1]");
  x = in();
  x.attention_mask = Tensor::from_i64({kBatch, kSeq, kSeq - 1}, std::vector<int64_t>(kBatch * kSeq * (kSeq - 1), 1));
  expect_error(*seqcls, x, "attention_mask", "attention_mask [B, S, S-1]");
  x = in();
  x.token_type_ids = Tensor::from_i64({kBatch, kSeq}, std::vector<int64_t>(kBatch * kSeq, 2));
  expect_error(*seqcls, x, "token_type_ids", "token_type_ids out of range");
  x = in();
  x.position_ids = Tensor::from_i64({kBatch, kSeq}, std::vector<int64_t>(kBatch * kSeq, 64));
  expect_error(*seqcls, x, "position_ids", "position_ids out of range");
  x = in();
  x.position_ids = Tensor::from_i64({3, kSeq}, std::vector<int64_t>(3 * kSeq, 1));
  expect_error(*seqcls, x, "position_ids", "position_ids [3, S]");
  x = in();
  x.input_ids = Tensor::from_i64({kBatch, kSeq}, std::vector<int64_t>(kBatch * kSeq, 2000));
  expect_error(*seqcls, x, "input_ids", "input_ids out of the vocabulary");
  x = in();
  x.head_mask = owned_f32({5}, {1, 1, 1, 1, 1});
  expect_error(*seqcls, x, "head_mask", "head_mask [5] for 4 heads");
  x.head_mask = owned_f32({2, 4}, {1, 1, 1, 1, 1, 1, 1, 1});
  expect_error(*seqcls, x, "head_mask", "head_mask [2, 4] for 3 layers");
  x = in();
  x.input_ids = Tensor();
  x.inputs_embeds = random_f32({kBatch, kSeq, 31}, 0.1, 71);
  expect_error(*seqcls, x, "inputs_embeds", "inputs_embeds of width 31");
  x = in();
  x.encoder_hidden_states = random_f32({kBatch, 4, 64}, 1.0, 72);
  expect_error(*seqcls, x, "encoder_hidden_states", "encoder_hidden_states without cross-attention");

  x = in();
  x.labels = random_ids({kBatch, kSeq - 1}, 0, 5, 73);
  expect_error(*tokcls, x, "labels", "tokcls labels [B, S-1]");
  x.labels = Tensor::from_i64({kBatch, kSeq}, std::vector<int64_t>(kBatch * kSeq, 5));
  expect_error(*tokcls, x, "labels", "tokcls label 5 of 5 classes");

  x = mlm_inputs();
  x.labels = random_ids({kBatch * kSeq}, 0, 2000, 74);
  expect_error(*mlm, x, "labels", "mlm labels [B*S]");
  x.labels = Tensor::from_i64({kBatch, kSeq}, std::vector<int64_t>(kBatch * kSeq, 2000));
  expect_error(*mlm, x, "labels", "mlm label 2000 of a 2000 vocabulary");

  x = in();
  x.labels = Tensor();
  x.start_positions = Tensor::from_i64({3}, {0, 1, 2});
  x.end_positions = Tensor::from_i64({kBatch}, {1, 2});
  expect_error(*qa, x, "start_positions", "qa start_positions [3]");
  x.start_positions = Tensor::from_i64({kBatch}, {0, 1});
  x.end_positions = Tensor::from_i64({kBatch, 2}, {1, 2, 3, 4});
  expect_error(*qa, x, "end_positions", "qa end_positions [B, 2]");

  ForwardInputs choice;
  choice.input_ids = random_ids({kBatch, 3, kSeq}, 5, 2000, 75);
  choice.labels = Tensor::from_i64({3}, {0, 1, 2});
  expect_error(*mc, choice, "labels", "mc labels [3] for a batch of 2");
  choice.labels = Tensor::from_i64({kBatch}, {0, 3});
  expect_error(*mc, choice, "labels", "mc label 3 of 3 choices");
  choice.labels = Tensor::from_f32({kBatch}, {0.0f, 1.0f});
  expect_error(*mc, choice, "labels", "mc float labels");

  x = cross_attention_inputs();
  x.encoder_hidden_states = random_f32({kBatch, kEncoderSeq, 32}, 1.0, 76);
  expect_error(*xattn, x, "encoder_hidden_states", "encoder_hidden_states of width 32");
  x = cross_attention_inputs();
  x.encoder_attention_mask = Tensor::from_i64({kBatch, kEncoderSeq + 1}, std::vector<int64_t>(kBatch * 7, 1));
  expect_error(*xattn, x, "encoder_attention_mask", "encoder_attention_mask [B, S_enc+1]");

  // After all that, the model computes what it did before, and its gradients were not touched.
  expect_grads_near(*seqcls, all_grads(*seqcls), before, 1.0, 0.0, "gradients after failed calls");
  EXPECT_EQ(loss_of(*seqcls, seqcls_inputs()), loss_before);
  seqcls->zero_grad();
  seqcls->forward_backward(seqcls_inputs());
  expect_grads_near(*seqcls, all_grads(*seqcls), before, 1.0, 0.0, "a backward after failed calls");
}

}  // namespace
}  // namespace rembert
