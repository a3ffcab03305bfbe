// AdamW, gradient clipping and learning-rate schedules against values worked out by hand, PyTorch's formula
// re-evaluated here in float (operation by operation) and in double, and the closed forms of transformers'
// schedules.
#include "train/optimizer.h"

#include <gtest/gtest.h>

#include <algorithm>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "rembert/error.h"
#include "rembert/safetensors.h"
#include "kernels/threads.h"
#include "test_util.h"
#include "train/schedule.h"

namespace rembert::train {
namespace {

using testing::error_message;

// Bit-for-bit equality of floats (EXPECT_EQ would also accept -0 == +0).
uint32_t bits(float x) {
  uint32_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

// torch.optim.AdamW (1.13, single tensor) on one element, written out from its Python source: every tensor op in
// float, the Python scalars in double rounded to float where they meet a tensor; add_(g, alpha) is PyTorch's fused
// multiply-add. Contraction is off so that the compiler cannot fuse what PyTorch does not.
struct ElementState {
  float p, m = 0.0f, v = 0.0f;
};
__attribute__((optimize("fp-contract=off"))) void reference_step(ElementState& e, float g, double lr, int64_t t,
                                                                  double weight_decay = 0.01) {
  const double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  e.p = e.p * static_cast<float>(1.0 - lr * weight_decay);
  e.m = std::fma(g, static_cast<float>(1.0 - beta1), e.m * static_cast<float>(beta1));
  e.v = e.v * static_cast<float>(beta2) + static_cast<float>(1.0 - beta2) * g * g;
  const double bias_correction1 = 1.0 - std::pow(beta1, static_cast<double>(t));
  const double bias_correction2 = 1.0 - std::pow(beta2, static_cast<double>(t));
  const double step_size = lr / bias_correction1;
  const float denom = std::sqrt(e.v) / static_cast<float>(std::sqrt(bias_correction2)) + static_cast<float>(eps);
  e.p = e.p + static_cast<float>(-step_size) * e.m / denom;
}

// The same update in double: the float implementation must agree with it to float rounding.
struct ElementStateF64 {
  double p, m = 0.0, v = 0.0;
};
void reference_step_f64(ElementStateF64& e, double g, double lr, int64_t t, double weight_decay = 0.01) {
  e.p *= 1.0 - lr * weight_decay;
  e.m = 0.9 * e.m + 0.1 * g;
  e.v = 0.999 * e.v + 0.001 * g * g;
  const double td = static_cast<double>(t);
  e.p -= lr / (1.0 - std::pow(0.9, td)) * e.m / (std::sqrt(e.v) / std::sqrt(1.0 - std::pow(0.999, td)) + 1e-8);
}

// One tensor's buffers and the slot that points at them.
struct Buffers {
  std::vector<float> value, grad;
  ParamSlot slot(const std::string& name, bool decay = true, Shape shape = {}) {
    return ParamSlot{name, value.data(), grad.data(), static_cast<int64_t>(value.size()), decay, shape};
  }
};

// A deterministic spread of gradient magnitudes (1e-9 .. 1) and signs, with exact zeros.
float test_gradient(size_t i, int step) {
  if (i % 11 == 3) return 0.0f;
  const double magnitude = std::pow(10.0, -static_cast<double>((i * 7 + static_cast<size_t>(step) * 3) % 10));
  const double sign = (i + static_cast<size_t>(step)) % 3 == 0 ? -1.0 : 1.0;
  return static_cast<float>(sign * magnitude * (1.0 + 0.37 * static_cast<double>(i % 5)));
}
float test_value(size_t i) { return static_cast<float>(std::sin(0.7 * static_cast<double>(i) + 0.1)); }

TEST(AdamWTest, FirstStepMovesByLrTimesSignOfGradient) {
  // Step 1: m / (1 - beta1) = g and sqrt(v) / sqrt(1 - beta2) = |g|, so p1 = p0 * (1 - lr * wd) - lr * g / (|g| + eps).
  Buffers b{{0.5f, -0.25f}, {0.1f, -2.0f}};
  AdamW adamw({b.slot("w")}, AdamWOptions{});
  adamw.step(1e-3);
  EXPECT_NEAR(b.value[0], 0.5 * (1 - 1e-5) - 1e-3 * 0.1 / (0.1 + 1e-8), 3e-8);
  EXPECT_NEAR(b.value[1], -0.25 * (1 - 1e-5) + 1e-3 * 2.0 / (2.0 + 1e-8), 3e-8);
  EXPECT_NEAR(adamw.exp_avg(0)[0], 0.01, 0.01 * 3e-7);  // float rounding of 0.1 * 0.1
  EXPECT_NEAR(adamw.exp_avg_sq(0)[1], 0.004, 0.004 * 3e-7);
  EXPECT_EQ(adamw.steps_taken(), 1);
}

TEST(AdamWTest, ThreeStepsOfOneElementMatchTheFormulaBitForBit) {
  const float grads[3] = {0.1f, -0.2f, 0.05f};
  const double lrs[3] = {1e-3, 1e-3, 5e-4};
  Buffers b{{0.5f}, {0.0f}};
  AdamW adamw({b.slot("w")}, AdamWOptions{});
  ElementState expected{0.5f};
  ElementStateF64 expected64{0.5};
  for (int t = 0; t < 3; ++t) {
    b.grad[0] = grads[t];
    adamw.step(lrs[t]);
    reference_step(expected, grads[t], lrs[t], t + 1);
    reference_step_f64(expected64, grads[t], lrs[t], t + 1);
    EXPECT_EQ(bits(b.value[0]), bits(expected.p)) << "step " << t + 1 << ": " << b.value[0] << " vs " << expected.p;
    EXPECT_EQ(bits(adamw.exp_avg(0)[0]), bits(expected.m)) << "step " << t + 1;
    EXPECT_EQ(bits(adamw.exp_avg_sq(0)[0]), bits(expected.v)) << "step " << t + 1;
    EXPECT_NEAR(b.value[0], expected64.p, 1e-7) << "step " << t + 1;
  }
  EXPECT_EQ(adamw.steps_taken(), 3);
}

// Many elements (the vectorized loop and its tail, several parallel chunks) against the per-element formula.
TEST(AdamWTest, EveryElementMatchesTheFormulaBitForBit) {
  const std::vector<size_t> sizes = {1, 7, 8, 37, 200003};
  std::vector<Buffers> buffers;
  for (size_t n : sizes) {
    Buffers b;
    for (size_t i = 0; i < n; ++i) b.value.push_back(test_value(i));
    b.grad.assign(n, 0.0f);
    buffers.push_back(b);
  }
  std::vector<ParamSlot> slots;
  for (size_t s = 0; s < buffers.size(); ++s) slots.push_back(buffers[s].slot("t" + std::to_string(s), s != 2));
  AdamW adamw(slots, AdamWOptions{});
  std::vector<std::vector<ElementState>> expected(buffers.size());
  for (size_t s = 0; s < buffers.size(); ++s) {
    for (float p : buffers[s].value) expected[s].push_back(ElementState{p});
  }
  const double lrs[3] = {0.0, 1e-3, 5e-4};
  for (int t = 0; t < 3; ++t) {
    for (size_t s = 0; s < buffers.size(); ++s) {
      for (size_t i = 0; i < sizes[s]; ++i) buffers[s].grad[i] = test_gradient(i, t);
    }
    adamw.step(lrs[t]);
    for (size_t s = 0; s < buffers.size(); ++s) {
      size_t mismatches = 0;
      for (size_t i = 0; i < sizes[s]; ++i) {
        reference_step(expected[s][i], buffers[s].grad[i], lrs[t], t + 1, s != 2 ? 0.01 : 0.0);
        mismatches += bits(buffers[s].value[i]) != bits(expected[s][i].p) ||
                      bits(adamw.exp_avg(s)[i]) != bits(expected[s][i].m) ||
                      bits(adamw.exp_avg_sq(s)[i]) != bits(expected[s][i].v);
      }
      EXPECT_EQ(mismatches, 0u) << "tensor of " << sizes[s] << " elements, step " << t + 1;
    }
  }
}

TEST(AdamWTest, DecayOnlyElementsArePriorValueTimesDecayFactorsBitForBit) {
  // The fixture rule: elements that never get a gradient equal p0 * prod_t float32(1 - lr_t * wd) exactly.
  Buffers b{{0.123456f, -3.5f, 1e-3f, 7.0f, 0.0f, -0.0f, 2.5e-30f, 0.3f, 0.6f}, std::vector<float>(9, 0.0f)};
  const std::vector<float> p0 = b.value;
  AdamW adamw({b.slot("rembert.embeddings.word_embeddings.weight", true, {3, 3})}, AdamWOptions{});
  const double lrs[3] = {0.0, 1e-3, 5e-4};
  for (double lr : lrs) adamw.step(lr);
  for (size_t i = 0; i < p0.size(); ++i) {
    float expected = p0[i];
    for (double lr : lrs) expected = expected * static_cast<float>(1.0 - lr * 0.01);
    EXPECT_EQ(bits(b.value[i]), bits(expected)) << i;
    EXPECT_EQ(adamw.exp_avg(0)[i], 0.0f);
    EXPECT_EQ(adamw.exp_avg_sq(0)[i], 0.0f);
  }
  EXPECT_NE(b.value[0], p0[0]);  // decayed: 0.123456 * 0.99999 * 0.999995 differs from 0.123456 in float
}

TEST(AdamWTest, NoDecaySlotsAreNotDecayed) {
  Buffers decayed{{0.75f}, {0.0f}}, undecayed{{0.75f}, {0.0f}};
  AdamW adamw({decayed.slot("dense.weight"), undecayed.slot("dense.bias", false)}, AdamWOptions{});
  adamw.step(1e-2);
  EXPECT_EQ(undecayed.value[0], 0.75f);
  EXPECT_EQ(bits(decayed.value[0]), bits(0.75f * static_cast<float>(1.0 - 1e-2 * 0.01)));
}

TEST(AdamWTest, ZeroLearningRateStillAdvancesMomentsAndStep) {
  Buffers b{{0.5f}, {0.2f}};
  AdamW adamw({b.slot("w")}, AdamWOptions{});
  adamw.step(0.0);
  EXPECT_EQ(b.value[0], 0.5f);
  EXPECT_EQ(adamw.steps_taken(), 1);
  EXPECT_NEAR(adamw.exp_avg(0)[0], 0.02, 0.02 * 3e-7);
  EXPECT_NEAR(adamw.exp_avg_sq(0)[0], 0.00004, 0.00004 * 3e-7);
}

TEST(AdamWTest, ResultDoesNotDependOnThreadCount) {
  const size_t n = 300001;
  Buffers one, two;
  for (size_t i = 0; i < n; ++i) one.value.push_back(test_value(i));
  one.grad.assign(n, 0.0f);
  two = one;
  AdamW a({one.slot("w")}, AdamWOptions{}), b({two.slot("w")}, AdamWOptions{});
  const int threads = kernels::compute_threads();
  for (int t = 0; t < 2; ++t) {
    for (size_t i = 0; i < n; ++i) one.grad[i] = two.grad[i] = test_gradient(i, t);
    kernels::set_compute_threads(1);
    a.step(1e-3);
    kernels::set_compute_threads(3);
    b.step(1e-3);
  }
  kernels::set_compute_threads(threads);
  EXPECT_TRUE(one.value == two.value);
  EXPECT_TRUE(a.exp_avg(0) == b.exp_avg(0));
  EXPECT_TRUE(a.exp_avg_sq(0) == b.exp_avg_sq(0));
}

TEST(AdamWTest, RejectsBadSlotsAndOptions) {
  Buffers b{{1.0f, 2.0f}, {0.0f, 0.0f}};
  EXPECT_CONTAINS(error_message([&] { AdamW({b.slot("w"), b.slot("w")}, AdamWOptions{}); }), "w is given twice");
  EXPECT_CONTAINS(error_message([&] { AdamW({b.slot("w", true, {3})}, AdamWOptions{}); }), "w has shape [3]");
  EXPECT_CONTAINS(error_message([&] { AdamW({ParamSlot{"x", nullptr, nullptr, 4}}, AdamWOptions{}); }),
                  "x has no value");
  AdamWOptions bad;
  bad.beta2 = 1.0;
  EXPECT_CONTAINS(error_message([&] { AdamW({b.slot("w")}, bad); }), "betas");
}

class AdamWStateTest : public ::testing::Test {
 protected:
  std::string path(const std::string& name) { return testing::scratch_dir() + "adamw_" + name + ".safetensors"; }
};

TEST_F(AdamWStateTest, SaveLoadRoundTripResumesBitForBit) {
  Buffers w, bias;
  for (size_t i = 0; i < 6; ++i) w.value.push_back(test_value(i));
  w.grad.assign(6, 0.0f);
  bias.value = {0.25f, -0.5f};
  bias.grad = {0.0f, 0.0f};
  AdamW original({w.slot("dense.weight", true, {2, 3}), bias.slot("dense.bias", false)}, AdamWOptions{});
  auto fill_gradients = [](Buffers& x, int step) {
    for (size_t i = 0; i < x.grad.size(); ++i) x.grad[i] = test_gradient(i, step);
  };
  for (int t = 0; t < 2; ++t) {
    fill_gradients(w, t);
    fill_gradients(bias, t);
    original.step(1e-3);
  }
  const std::string file = path("roundtrip");
  original.save(file);

  // The file: the moments under their names and shapes, and the step.
  const SafetensorsFile saved = read_safetensors(file);
  EXPECT_EQ(saved.tensors.size(), 4u);
  EXPECT_EQ(saved.tensors.at("exp_avg.dense.weight").shape(), (Shape{2, 3}));
  EXPECT_EQ(saved.tensors.at("exp_avg_sq.dense.bias").shape(), (Shape{2}));
  const std::vector<float> saved_sq = saved.tensors.at("exp_avg_sq.dense.weight").to_f32_vector();
  EXPECT_TRUE(std::equal(saved_sq.begin(), saved_sq.end(), original.exp_avg_sq(0).begin(), original.exp_avg_sq(0).end()));
  EXPECT_EQ(saved.metadata.at("step"), "2");

  // A fresh optimizer over copies of the parameters resumes where the original stands.
  Buffers w2 = w, bias2 = bias;
  AdamW resumed({w2.slot("dense.weight", true, {2, 3}), bias2.slot("dense.bias", false)}, AdamWOptions{});
  resumed.load(file);
  EXPECT_EQ(resumed.steps_taken(), 2);
  for (size_t s = 0; s < 2; ++s) {
    EXPECT_TRUE(resumed.exp_avg(s) == original.exp_avg(s));
    EXPECT_TRUE(resumed.exp_avg_sq(s) == original.exp_avg_sq(s));
  }
  fill_gradients(w, 2);
  fill_gradients(bias, 2);
  w2.grad = w.grad;
  bias2.grad = bias.grad;
  original.step(5e-4);
  resumed.step(5e-4);
  EXPECT_TRUE(w2.value == w.value);
  EXPECT_TRUE(bias2.value == bias.value);
  EXPECT_TRUE(resumed.exp_avg(0) == original.exp_avg(0));
}

TEST_F(AdamWStateTest, LoadNamesFileAndTensorOnMismatch) {
  Buffers w{{1.0f, 2.0f, 3.0f}, {0.1f, 0.2f, 0.3f}};
  AdamW saver({w.slot("w", true, {3})}, AdamWOptions{});
  saver.step(1e-3);
  const std::string file = path("mismatch");
  saver.save(file);

  Buffers other{{1.0f, 2.0f, 3.0f, 4.0f}, {0.0f, 0.0f, 0.0f, 0.0f}};
  AdamW wrong_shape({other.slot("w", true, {2, 2})}, AdamWOptions{});
  std::string message = error_message([&] { wrong_shape.load(file); });
  EXPECT_CONTAINS(message, file);
  EXPECT_CONTAINS(message, "exp_avg.w has shape [3], expected [2, 2]");
  EXPECT_EQ(wrong_shape.steps_taken(), 0);  // unchanged on failure
  EXPECT_EQ(wrong_shape.exp_avg(0)[0], 0.0f);

  AdamW wrong_name({w.slot("v", true, {3})}, AdamWOptions{});
  message = error_message([&] { wrong_name.load(file); });
  EXPECT_CONTAINS(message, file);
  EXPECT_CONTAINS(message, "exp_avg.v is missing");

  AdamW fewer({}, AdamWOptions{});
  EXPECT_CONTAINS(error_message([&] { fewer.load(file); }), "exp_avg.w belongs to no parameter");

  // A safetensors file that is not an optimizer state (a model's weights).
  const std::string weights = path("weights");
  write_safetensors(weights, {{"w", Tensor::from_f32({3}, {1.0f, 2.0f, 3.0f})}});
  AdamW right({w.slot("w", true, {3})}, AdamWOptions{});
  message = error_message([&] { right.load(weights); });
  EXPECT_CONTAINS(message, weights);
  EXPECT_CONTAINS(message, "not an AdamW state file");

  EXPECT_CONTAINS(error_message([&] { right.load(path("absent")); }), path("absent"));
}

TEST(AdamWTest, TrainerNoDecayRuleOnRemBertNames) {
  EXPECT_FALSE(trainer_decays("rembert.encoder.layer.0.attention.output.LayerNorm.weight"));
  EXPECT_FALSE(trainer_decays("rembert.encoder.layer.0.attention.output.LayerNorm.bias"));
  EXPECT_FALSE(trainer_decays("rembert.embeddings.LayerNorm.bias"));
  EXPECT_FALSE(trainer_decays("rembert.embeddings.LayerNorm.weight"));
  EXPECT_FALSE(trainer_decays("rembert.encoder.layer.31.output.dense.bias"));
  EXPECT_FALSE(trainer_decays("classifier.bias"));
  EXPECT_FALSE(trainer_decays("cls.predictions.transform.LayerNorm.weight"));
  EXPECT_TRUE(trainer_decays("classifier.weight"));
  EXPECT_TRUE(trainer_decays("rembert.encoder.layer.0.attention.self.query.weight"));
  EXPECT_TRUE(trainer_decays("rembert.embeddings.word_embeddings.weight"));
  EXPECT_TRUE(trainer_decays("rembert.encoder.embedding_hidden_mapping_in.weight"));
  EXPECT_TRUE(trainer_decays("qa_outputs.weight"));
}

TEST(ClipGradNormTest, ThreeFourFiveIsScaledToMaxNorm) {
  Buffers a{{0.0f, 0.0f}, {3.0f, 4.0f}};
  const double total = clip_grad_norm({a.slot("a")}, 1.0);
  EXPECT_EQ(total, 5.0);
  // torch: coefficient = reciprocal(5 + 1e-6) * 1.0 in float, then grad * coefficient.
  const float coefficient = 1.0f / (5.0f + static_cast<float>(1e-6));
  EXPECT_EQ(bits(a.grad[0]), bits(3.0f * coefficient));
  EXPECT_EQ(bits(a.grad[1]), bits(4.0f * coefficient));
  EXPECT_NEAR(a.grad[0], 0.6, 1e-6);
  EXPECT_NEAR(a.grad[1], 0.8, 1e-6);
}

TEST(ClipGradNormTest, TotalIsNormOfPerTensorNorms) {
  // Tensor norms 5 and 12: total 13; max_norm 26 gives 26 / 13 = 2, clamped to 1, so nothing changes.
  Buffers a{{0.0f, 0.0f}, {3.0f, -4.0f}}, b{{0.0f, 0.0f, 0.0f}, {0.0f, 12.0f, 0.0f}};
  EXPECT_EQ(clip_grad_norm({a.slot("a"), b.slot("b")}, 26.0), 13.0);
  EXPECT_EQ(a.grad[1], -4.0f);
  EXPECT_EQ(b.grad[1], 12.0f);
  EXPECT_EQ(clip_grad_norm({a.slot("a"), b.slot("b")}, 6.5), 13.0);
  EXPECT_NEAR(a.grad[0], 1.5, 1e-6);
  EXPECT_NEAR(b.grad[1], 6.0, 1e-6);
}

TEST(ClipGradNormTest, ZeroMaxNormOnlyMeasures) {
  Buffers a{{0.0f}, {-7.0f}};
  EXPECT_EQ(clip_grad_norm({a.slot("a")}, 0.0), 7.0);
  EXPECT_EQ(a.grad[0], -7.0f);
}

TEST(ClipGradNormTest, LargeTensorsAcrossChunksAndThreads) {
  // 500000 elements of 0.5 (norm 0.5 * sqrt(500000)) and 70000 of -2 (norm 2 * sqrt(70000)).
  Buffers a{std::vector<float>(500000, 0.0f), std::vector<float>(500000, 0.5f)};
  Buffers b{std::vector<float>(70000, 0.0f), std::vector<float>(70000, -2.0f)};
  const double expected = std::sqrt(0.25 * 500000 + 4.0 * 70000);
  const int threads = kernels::compute_threads();
  kernels::set_compute_threads(1);
  const double serial = clip_grad_norm({a.slot("a"), b.slot("b")}, 0.0);
  kernels::set_compute_threads(3);
  const double parallel = clip_grad_norm({a.slot("a"), b.slot("b")}, 1.0);
  kernels::set_compute_threads(threads);
  EXPECT_EQ(serial, parallel);
  EXPECT_NEAR(serial, expected, expected * 1e-7);
  const float coefficient = 1.0f / (static_cast<float>(serial) + static_cast<float>(1e-6));
  EXPECT_EQ(bits(a.grad[123456]), bits(0.5f * coefficient));
  EXPECT_EQ(bits(b.grad[69999]), bits(-2.0f * coefficient));
}

TEST(ScheduleTest, LinearWarmupOfTheFixtureRuns) {
  // warmup 1, total 3: lr = [0, 1e-3, 5e-4] for updates 0, 1, 2.
  const Schedule s{ScheduleKind::Linear, 1, 3};
  EXPECT_EQ(s.factor(0), 0.0);
  EXPECT_EQ(s.factor(1), 1.0);
  EXPECT_EQ(s.factor(2), 0.5);
  EXPECT_EQ(static_cast<float>(s.lr(1e-3, 1)), 1e-3f);
  EXPECT_EQ(static_cast<float>(s.lr(1e-3, 2)), 5e-4f);
  EXPECT_EQ(s.factor(3), 0.0);
}

TEST(ScheduleTest, LinearClosedForm) {
  const Schedule s{ScheduleKind::Linear, 10, 110};
  EXPECT_EQ(s.factor(5), 0.5);
  EXPECT_EQ(s.factor(10), 1.0);
  EXPECT_EQ(s.factor(60), 0.5);
  EXPECT_DOUBLE_EQ(s.factor(85), 0.25);
  EXPECT_EQ(s.factor(110), 0.0);
  EXPECT_EQ(s.factor(500), 0.0);  // clamped at 0 past the end
  const Schedule no_warmup{ScheduleKind::Linear, 0, 4};
  EXPECT_EQ(no_warmup.factor(0), 1.0);
  EXPECT_EQ(no_warmup.factor(1), 0.75);
  const Schedule all_warmup{ScheduleKind::Linear, 4, 4};  // max(1, total - warmup) guards the division
  EXPECT_EQ(all_warmup.factor(3), 0.75);
  EXPECT_EQ(all_warmup.factor(4), 0.0);
}

TEST(ScheduleTest, CosineClosedForm) {
  const Schedule s{ScheduleKind::Cosine, 10, 110};
  EXPECT_EQ(s.factor(0), 0.0);
  EXPECT_EQ(s.factor(4), 0.4);
  EXPECT_EQ(s.factor(10), 1.0);
  EXPECT_NEAR(s.factor(35), 0.5 + std::sqrt(2.0) / 4.0, 1e-15);  // progress 1/4: (1 + cos(pi/4)) / 2
  EXPECT_NEAR(s.factor(60), 0.5, 1e-15);                          // progress 1/2
  EXPECT_NEAR(s.factor(85), 0.5 - std::sqrt(2.0) / 4.0, 1e-15);   // progress 3/4
  EXPECT_NEAR(s.factor(110), 0.0, 1e-15);
  // transformers does not clamp the progress: past the end the half cosine rises again.
  EXPECT_NEAR(s.factor(160), 0.5, 1e-15);
}

TEST(ScheduleTest, ConstantAndConstantWithWarmup) {
  const Schedule warm{ScheduleKind::ConstantWithWarmup, 4, 100};
  EXPECT_EQ(warm.factor(0), 0.0);
  EXPECT_EQ(warm.factor(1), 0.25);
  EXPECT_EQ(warm.factor(3), 0.75);
  EXPECT_EQ(warm.factor(4), 1.0);
  EXPECT_EQ(warm.factor(1000), 1.0);
  const Schedule constant{ScheduleKind::Constant, 4, 100};  // get_constant_schedule ignores warmup
  EXPECT_EQ(constant.factor(0), 1.0);
  EXPECT_EQ(constant.lr(2e-5, 50), 2e-5);
}

TEST(ScheduleTest, NamesAndErrors) {
  EXPECT_EQ(schedule_from_name("constant"), ScheduleKind::Constant);
  EXPECT_EQ(schedule_from_name("constant_with_warmup"), ScheduleKind::ConstantWithWarmup);
  EXPECT_EQ(schedule_from_name("linear"), ScheduleKind::Linear);
  EXPECT_EQ(schedule_from_name("cosine"), ScheduleKind::Cosine);
  EXPECT_STREQ(schedule_name(ScheduleKind::ConstantWithWarmup), "constant_with_warmup");
  const std::string message = error_message([] { schedule_from_name("polynomial"); });
  EXPECT_CONTAINS(message, "\"polynomial\"");
  EXPECT_CONTAINS(message, "constant, constant_with_warmup, linear, cosine");
  EXPECT_CONTAINS(error_message([] { Schedule{ScheduleKind::Linear, 1, 3}.factor(-1); }), "step -1");
  EXPECT_CONTAINS(error_message([] { Schedule{ScheduleKind::Linear, -2, 3}.factor(0); }), "warmup_steps -2");
}

TEST(ScheduleTest, WarmupStepsFromRatioRoundUpAsTrainingArguments) {
  EXPECT_EQ(warmup_steps_from_ratio(0.1, 3), 1);      // 0.30000000000000004 -> 1
  EXPECT_EQ(warmup_steps_from_ratio(0.1, 100), 10);   // exactly 10.0
  EXPECT_EQ(warmup_steps_from_ratio(0.07, 100), 8);   // 7.000000000000001 in double, as in Python
  EXPECT_EQ(warmup_steps_from_ratio(0.0, 100), 0);
  EXPECT_EQ(warmup_steps_from_ratio(1.0, 100), 100);
  EXPECT_CONTAINS(error_message([] { warmup_steps_from_ratio(1.5, 10); }), "outside [0, 1]");
  EXPECT_CONTAINS(error_message([] { warmup_steps_from_ratio(0.1, -1); }), "negative");
}

}  // namespace
}  // namespace rembert::train
