// The bfloat16 and int8 compute paths (--dtype) against the float32 references: bounds on the fixture cases'
// outputs, and on the trained models (tests/fixtures/trained) fill-mask top-1 agreement with the float32 reference
// and language-id held-out accuracy. The bounds are about twice what was measured (README, "Compute paths").
// The bfloat16 fallback (no bfloat16 matmul: float32 on bfloat16 weights) and the 7-bit int8 path of CPUs without
// VNNI are tested through the CLI with oneDNN capped to AVX2 (ONEDNN_MAX_CPU_ISA), so they run on every machine.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "kernels/packed_linear.h"
#include "rembert/model.h"
#include "rembert/pipelines.h"
#include "test_util.h"

namespace rembert {
namespace {

using nlohmann::json;
using testing::fixture_path;
using testing::read_jsonl;
using testing::run_cli;
using testing::RunResult;
using testing::scratch_dir;

const TensorMap& reference() {
  static SafetensorsFile file = read_safetensors(fixture_path("cases.safetensors"));
  return file.tensors;
}
const Tensor& fixture_tensor(const std::string& name) { return reference().at(name); }

// A skip message when `dtype`'s path does not run here, else "".
std::string missing_path(WeightDType dtype) {
  if (dtype != WeightDType::BFloat16) return "";
  if (!kernels::cpu_has_flag("avx512_bf16") && !kernels::cpu_has_flag("amx_bf16")) {
    return "this CPU lacks avx512_bf16";
  }
  const std::vector<float> w(16, 1.0f);
  kernels::PackedLinear probe(w.data(), DType::F32, 4, 4, nullptr, kernels::ComputeType::BFloat16);
  if (probe.compute() != kernels::ComputeType::BFloat16) {
    return "this CPU lacks avx512_bf16 (as far as oneDNN is allowed to see: ONEDNN_MAX_CPU_ISA)";
  }
  return "";
}

double max_abs_diff(const Tensor& actual, const Tensor& expected, const std::vector<int64_t>& row_keep = {}) {
  EXPECT_EQ(actual.shape(), expected.shape());
  std::vector<float> a = actual.to_f32_vector(), e = expected.to_f32_vector();
  const size_t per_row = row_keep.empty() ? a.size() : a.size() / row_keep.size();
  double worst = 0.0;
  for (size_t i = 0; i < a.size() && i < e.size(); ++i) {
    if (!row_keep.empty() && row_keep[i / per_row] == 0) continue;
    worst = std::max(worst, std::abs(static_cast<double>(a[i]) - e[i]));
  }
  return worst;
}

ForwardInputs case_inputs(const std::string& name) {
  ForwardInputs in;
  const TensorMap& ref = reference();
  auto get = [&](const char* field) {
    auto it = ref.find(name + ".in." + field);
    return it == ref.end() ? Tensor() : it->second;
  };
  in.input_ids = get("input_ids");
  in.attention_mask = get("attention_mask");
  in.token_type_ids = get("token_type_ids");
  return in;
}

struct PathCase {
  WeightDType dtype;
  // Largest absolute difference allowed against transformers' float32 outputs.
  double hidden_state;   // base_single / base_batch_padded last_hidden_state (LayerNorm output, values O(1))
  double mlm_logits;     // mlm fill_mask logits
  double seqcls_logits;  // seqcls_single_label logits
  double fill_mask_top1;   // minimum agreement with the float32 top-1 on the 300 held-out sentences
  double langid_points;    // maximum |accuracy - float32 accuracy|, in points, on the held-out strings
};

class ComputePath : public ::testing::TestWithParam<PathCase> {
 protected:
  void SetUp() override {
    const std::string why = missing_path(GetParam().dtype);
    if (!why.empty()) GTEST_SKIP() << why;
  }
  LoadOptions options() const {
    LoadOptions o;
    o.dtype = GetParam().dtype;
    return o;
  }
};

TEST_P(ComputePath, FixtureOutputsStayWithinTheBounds) {
  const PathCase c = GetParam();
  const char* name = weight_dtype_name(c.dtype);
  auto base = Model::load(fixture_path("models/base"), options());
  EXPECT_EQ(base->compute_info().compute, name);
  EXPECT_TRUE(base->compute_info().fallback.empty());
  const double single =
      max_abs_diff(base->forward(case_inputs("base_single")).last_hidden_state,
                   fixture_tensor("base_single.last_hidden_state"));
  ForwardInputs padded = case_inputs("base_batch_padded");
  const double batch = max_abs_diff(base->forward(padded).last_hidden_state,
                                    fixture_tensor("base_batch_padded.last_hidden_state"),
                                    padded.attention_mask.to_i64_vector());
  auto mlm = Model::load(fixture_path("models/mlm"), options());
  const double mlm_err = max_abs_diff(mlm->forward(case_inputs("fill_mask")).logits, fixture_tensor("fill_mask.logits"));
  auto seqcls = Model::load(fixture_path("models/seqcls"), options());
  const double seqcls_err = max_abs_diff(seqcls->forward(case_inputs("seqcls_single_label")).logits,
                                         fixture_tensor("seqcls_single_label.logits"));
  std::cout << name << ": max abs diff hidden " << single << " / padded batch " << batch << ", mlm logits " << mlm_err
            << ", seqcls logits " << seqcls_err << "\n";
  EXPECT_LE(single, c.hidden_state);
  EXPECT_LE(batch, c.hidden_state);
  EXPECT_LE(mlm_err, c.mlm_logits);
  EXPECT_LE(seqcls_err, c.seqcls_logits);
  // Not float32 in disguise: the outputs moved.
  EXPECT_GT(single, 1e-5);
}

TEST_P(ComputePath, FillMaskTop1AgreesWithFloat32) {
  PipelineModel pm = load_pipeline_model(fixture_path("trained/lm"), std::nullopt, options(), TokenizerKind::Fast);
  const std::vector<json> refs = read_jsonl(fixture_path("trained/lm/reference_fill_mask.jsonl"));
  ASSERT_EQ(refs.size(), 300u);
  int agree = 0;
  for (const json& ref : refs) {
    auto result = fill_mask(pm, ref["text"].get<std::string>());
    ASSERT_EQ(result.size(), 1u);
    agree += result[0].at(0).token == ref["predictions"][0]["token"].get<int64_t>();
  }
  const double agreement = agree / 300.0;
  std::cout << weight_dtype_name(GetParam().dtype) << ": fill-mask top-1 agreement " << agree << "/300\n";
  EXPECT_GE(agreement, GetParam().fill_mask_top1);
}

TEST_P(ComputePath, LanguageIdAccuracyStaysNearFloat32) {
  PipelineModel pm = load_pipeline_model(fixture_path("trained/langid"), std::nullopt, options(), TokenizerKind::Slow);
  const std::vector<json> tests = read_jsonl(fixture_path("trained/langid/test.jsonl"));
  const std::vector<json> refs = read_jsonl(fixture_path("trained/langid/reference_predictions.jsonl"));
  ASSERT_EQ(tests.size(), refs.size());
  // Every 4th of the 13,501 held-out strings keeps the suite short (3,376 strings; on all of them: README).
  int64_t right_f32 = 0, right = 0, count = 0;
  for (size_t i = 0; i < tests.size(); i += 4, ++count) {
    const std::string gold = tests[i]["label"];
    right_f32 += refs[i]["label"] == gold;
    right += text_classification(pm, tests[i]["text"].get<std::string>()).at(0).label == gold;
  }
  const double n = static_cast<double>(count);
  const double acc_f32 = 100.0 * static_cast<double>(right_f32) / n, acc = 100.0 * static_cast<double>(right) / n;
  std::cout << weight_dtype_name(GetParam().dtype) << ": language-id accuracy " << acc << "% (float32 reference "
            << acc_f32 << "%)\n";
  EXPECT_LE(std::abs(acc - acc_f32), GetParam().langid_points);
}

INSTANTIATE_TEST_SUITE_P(
    Paths, ComputePath,
    // Measured (AMD EPYC, AVX512-BF16 + VNNI): bfloat16 0.0144 / 0.0214 / 0.0030, 300/300, -0.01 points;
    // int8 0.0410 / 0.0824 / 0.0081, 293/300, -0.03 points (README, "Compute paths").
    ::testing::Values(PathCase{WeightDType::BFloat16, 0.03, 0.05, 0.01, 0.97, 0.5},
                      PathCase{WeightDType::Int8, 0.08, 0.2, 0.02, 0.95, 1.0}),
    [](const ::testing::TestParamInfo<PathCase>& p) { return std::string(weight_dtype_name(p.param.dtype)); });

// The CLI with oneDNN capped to AVX2: what an AVX2-only CPU runs.
RunResult run_cli_avx2(const std::string& args, const std::string* stdin_text = nullptr) {
  setenv("ONEDNN_MAX_CPU_ISA", "AVX2", 1);
  RunResult r = run_cli(args, stdin_text);
  unsetenv("ONEDNN_MAX_CPU_ISA");
  return r;
}

// Top-1 agreement of `rembert fill-mask` with the float32 reference on the 300 held-out sentences.
double cli_fill_mask_agreement(const std::string& dtype, bool avx2) {
  const std::vector<json> refs = read_jsonl(fixture_path("trained/lm/reference_fill_mask.jsonl"));
  std::string input;
  for (const json& ref : refs) input += json{{"text", ref["text"]}}.dump() + "\n";
  const std::string args = "fill-mask --model " + fixture_path("trained/lm") + " --top-k 1 --dtype " + dtype;
  RunResult r = avx2 ? run_cli_avx2(args, &input) : run_cli(args, &input);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  int agree = 0;
  size_t i = 0;
  for (std::string line; std::getline(lines, line) && i < refs.size(); ++i) {
    agree += json::parse(line).at(0).at("token") == refs[i]["predictions"][0]["token"];
  }
  EXPECT_EQ(i, refs.size());
  return agree / 300.0;
}

TEST(ComputePathFallback, BFloat16WithoutABFloat16MatmulComputesFloat32AndSaysSo) {
  RunResult r = run_cli_avx2("info --model " + fixture_path("trained/lm") + " --dtype bfloat16");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_CONTAINS(r.out, "requested: bfloat16");
  EXPECT_CONTAINS(r.out, "compute: float32");
  EXPECT_CONTAINS(r.out, "weights held as: BF16");
  EXPECT_CONTAINS(r.out, "fallback: ");
  EXPECT_CONTAINS(r.err, "bfloat16 compute is not available");
  const double agreement = cli_fill_mask_agreement("bfloat16", true);
  std::cout << "bfloat16 fallback: fill-mask top-1 agreement " << agreement * 300 << "/300\n";
  EXPECT_GE(agreement, 0.97);
}

TEST(ComputePathFallback, Int8WithoutVnniStaysAccurate) {
  RunResult r = run_cli_avx2("info --model " + fixture_path("trained/lm") + " --dtype int8");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_CONTAINS(r.out, "compute: int8");
  EXPECT_EQ(r.out.find("fallback"), std::string::npos) << r.out;
  const double agreement = cli_fill_mask_agreement("int8", true);
  std::cout << "int8 on AVX2: fill-mask top-1 agreement " << agreement * 300 << "/300\n";
  EXPECT_GE(agreement, 0.95);
}

TEST(CliInfo, PrintsCpuFlagsThePathAndOneDnnImplementations) {
  RunResult r = run_cli("info --model " + fixture_path("models/mlm") + " --dtype int8 --rows 16");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_CONTAINS(r.out, "cpu flags: ");
  EXPECT_CONTAINS(r.out, "oneDNN: ");
  EXPECT_CONTAINS(r.out, "requested: int8");
  EXPECT_CONTAINS(r.out, "compute: int8");
  EXPECT_CONTAINS(r.out, "weights held as: I8");
  EXPECT_CONTAINS(r.out, " x 16 rows: ");
  EXPECT_EQ(r.out.find(": ref"), std::string::npos) << r.out;  // never oneDNN's reference kernels
  for (const char* flag : {"avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16"}) {
    EXPECT_EQ(r.out.find(std::string(" ") + flag) != std::string::npos, kernels::cpu_has_flag(flag)) << flag;
  }
  r = run_cli("info --model " + fixture_path("models/mlm") + " --dtype int4");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_CONTAINS(r.err, "unknown dtype \"int4\"");
}

}  // namespace
}  // namespace rembert
