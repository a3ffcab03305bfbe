// Model loading and forward behaviour beyond the reference cases: name mapping, missing and unexpected weights,
// weight dtypes, input validation, alternative input forms, head masks and pruning, thread safety.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "rembert/error.h"
#include "rembert/model.h"
#include "rembert/safetensors.h"
#include "test_util.h"

namespace rembert {
namespace {

using nlohmann::json;
using testing::error_message;
using testing::fixture_path;
using testing::tensors_close;

const TensorMap& reference() {
  static SafetensorsFile file = read_safetensors(fixture_path("cases.safetensors"));
  return file.tensors;
}
const Tensor& fixture_tensor(const std::string& name) { return reference().at(name); }

RemBertConfig config_of(const std::string& model) {
  return RemBertConfig::from_json_file(fixture_path("models/" + model + "/config.json"));
}
TensorMap weights_of(const std::string& model) { return load_checkpoint(fixture_path("models/" + model)).tensors; }

ForwardInputs base_single_inputs() {
  ForwardInputs in;
  in.input_ids = fixture_tensor("base_single.in.input_ids");
  in.attention_mask = fixture_tensor("base_single.in.attention_mask");
  in.token_type_ids = fixture_tensor("base_single.in.token_type_ids");
  return in;
}

bool any_warning_contains(const Model& m, const std::string& text) {
  for (const auto& w : m.warnings()) {
    if (w.find(text) != std::string::npos) return true;
  }
  return false;
}

TEST(ModelLoad, BaseCheckpointIntoMaskedLMInitialisesTheHeadWithAWarning) {
  LoadOptions options;
  options.head = HeadType::MaskedLM;
  auto model = Model::load(fixture_path("models/base"), options);
  EXPECT_TRUE(any_warning_contains(*model, "newly initialized"));
  EXPECT_TRUE(any_warning_contains(*model, "'cls.predictions.decoder.weight'"));
  EXPECT_TRUE(any_warning_contains(*model, "'cls.predictions.LayerNorm.bias'"));
  // The base checkpoint's pooler is not part of RemBertForMaskedLM: reported as unused.
  EXPECT_TRUE(any_warning_contains(*model, "were not used when initializing RemBertForMaskedLM: ['pooler.dense.bias'"));
  // Unprefixed base weights land under "rembert.": the encoder output is the reference RemBertModel's.
  ForwardInputs in = base_single_inputs();
  in.output_hidden_states = true;
  ForwardOutputs out = model->forward(in);
  EXPECT_TRUE(tensors_close(out.hidden_states.back(), fixture_tensor("base_single.last_hidden_state"), 1e-4, 1e-4));
  EXPECT_EQ(out.logits.shape(), (Shape{1, 26, 2000}));
}

TEST(ModelLoad, PrefixedHeadCheckpointIntoBareModel) {
  LoadOptions options;
  options.head = HeadType::Model;
  auto model = Model::load(fixture_path("models/mlm"), options);
  EXPECT_TRUE(any_warning_contains(*model, "'pooler.dense.weight'"));  // not in an MLM checkpoint: initialised
  EXPECT_TRUE(any_warning_contains(*model, "were not used when initializing RemBertModel: ['cls.predictions"));
  ForwardInputs in;
  in.input_ids = fixture_tensor("mlm_batch_labels.in.input_ids");
  in.attention_mask = fixture_tensor("mlm_batch_labels.in.attention_mask");
  in.token_type_ids = fixture_tensor("mlm_batch_labels.in.token_type_ids");
  ForwardOutputs out = model->forward(in);
  EXPECT_TRUE(tensors_close(out.last_hidden_state, fixture_tensor("mlm_batch_labels.hidden_states.3"), 1e-4, 1e-4,
                            in.attention_mask.to_i64_vector()));
}

TEST(ModelLoad, PytorchBinGivesTheSameModel) {
  TensorMap tensors = read_torch_bin(fixture_path("models/base/pytorch_model.bin"));
  auto model = Model::from_tensors(config_of("base"), tensors);
  EXPECT_TRUE(model->warnings().empty());
  ForwardOutputs out = model->forward(base_single_inputs());
  EXPECT_TRUE(tensors_close(out.last_hidden_state, fixture_tensor("base_single.last_hidden_state"), 1e-4, 1e-4));
  EXPECT_TRUE(tensors_close(out.pooler_output, fixture_tensor("base_single.pooler_output"), 1e-4, 1e-4));
}

TEST(ModelLoad, MissingEncoderWeightIsAnErrorNamingIt) {
  TensorMap tensors = weights_of("base");
  tensors.erase("encoder.layer.1.output.dense.weight");
  tensors.erase("embeddings.LayerNorm.bias");
  const std::string msg = error_message([&] { Model::from_tensors(config_of("base"), tensors, {}, "my_dir"); });
  EXPECT_NE(msg.find("my_dir"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'encoder.layer.1.output.dense.weight'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'embeddings.LayerNorm.bias'"), std::string::npos) << msg;
}

TEST(ModelLoad, WrongShapeOrDtypeIsAnErrorNamingTheTensor) {
  TensorMap tensors = weights_of("base");
  tensors["encoder.layer.0.attention.self.query.bias"] = Tensor(DType::F32, {63});
  std::string msg = error_message([&] { Model::from_tensors(config_of("base"), tensors); });
  EXPECT_NE(msg.find("'encoder.layer.0.attention.self.query.bias' has shape [63] but the config needs [64]"),
            std::string::npos)
      << msg;

  tensors = weights_of("base");
  tensors["pooler.dense.bias"] = Tensor(DType::I64, {64});
  msg = error_message([&] { Model::from_tensors(config_of("base"), tensors); });
  EXPECT_NE(msg.find("'pooler.dense.bias' has dtype I64"), std::string::npos) << msg;

  // A checkpoint of another size than its config.
  RemBertConfig bigger = config_of("base");
  bigger.intermediate_size = 256;
  msg = error_message([&] { Model::from_tensors(bigger, weights_of("base")); });
  EXPECT_NE(msg.find("'encoder.layer.0.intermediate.dense.weight' has shape [128, 64] but the config needs [256, 64]"),
            std::string::npos)
      << msg;
}

TEST(ModelLoad, UnknownHeadNamesAreErrors) {
  EXPECT_EQ(head_from_name("masked-lm"), HeadType::MaskedLM);
  EXPECT_EQ(head_from_name("RemBertForQuestionAnswering"), HeadType::QuestionAnswering);
  EXPECT_NE(error_message([] { head_from_name("summarization"); }).find("unknown head \"summarization\""),
            std::string::npos);
  RemBertConfig c = config_of("base");
  c.architectures = {"BertModel"};
  EXPECT_NE(error_message([&] { head_from_config(c); }).find("architectures[0]"), std::string::npos);
  EXPECT_NE(error_message([] { weight_dtype_from_name("int4"); }).find("unknown dtype \"int4\""), std::string::npos);
}

TEST(ModelDType, AutoFollowsTheCheckpointAndReproducesTheReference) {
  // Stored bfloat16 / float16 weights are held as stored; the arithmetic stays float32, so the reference (float32
  // compute on the upcast weights) is met at the float32 tolerance.
  LoadOptions options;
  options.dtype = WeightDType::Auto;
  auto bf16 = Model::load(fixture_path("models/base_bf16"), options);
  EXPECT_EQ(bf16->weight_dtype(), DType::BF16);
  ForwardInputs in;
  in.input_ids = fixture_tensor("bf16_batch.in.input_ids");
  in.attention_mask = fixture_tensor("bf16_batch.in.attention_mask");
  in.token_type_ids = fixture_tensor("bf16_batch.in.token_type_ids");
  EXPECT_TRUE(tensors_close(bf16->forward(in).last_hidden_state, fixture_tensor("bf16_batch.last_hidden_state"), 1e-4, 1e-4,
                            in.attention_mask.to_i64_vector()));

  auto fp16 = Model::load(fixture_path("models/seqcls_fp16"), options);
  EXPECT_EQ(fp16->weight_dtype(), DType::F16);
  ForwardInputs in16;
  in16.input_ids = fixture_tensor("seqcls_fp16.in.input_ids");
  in16.attention_mask = fixture_tensor("seqcls_fp16.in.attention_mask");
  in16.token_type_ids = fixture_tensor("seqcls_fp16.in.token_type_ids");
  EXPECT_TRUE(tensors_close(fp16->forward(in16).logits, fixture_tensor("seqcls_fp16.logits"), 1e-4, 1e-4));

  EXPECT_EQ(Model::load(fixture_path("models/base"), options)->weight_dtype(), DType::F32);
}

TEST(ModelDType, ReducedPrecisionOfFloat32WeightsStaysClose) {
  // Rounding float32 weights to bfloat16 (8 significant bits) moves outputs by about 2^-8 relative.
  for (WeightDType d : {WeightDType::BFloat16, WeightDType::Float16}) {
    LoadOptions options;
    options.dtype = d;
    auto model = Model::load(fixture_path("models/base"), options);
    EXPECT_EQ(model->weight_dtype(), d == WeightDType::BFloat16 ? DType::BF16 : DType::F16);
    ForwardOutputs out = model->forward(base_single_inputs());
    const double tol = d == WeightDType::BFloat16 ? 0.1 : 0.02;
    EXPECT_TRUE(tensors_close(out.last_hidden_state, fixture_tensor("base_single.last_hidden_state"), tol, 0.0));
    EXPECT_FALSE(tensors_close(out.last_hidden_state, fixture_tensor("base_single.last_hidden_state"), 1e-7, 0.0))
        << "weights were not rounded";
  }
}

class ModelInputs : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    base_ = Model::load(fixture_path("models/base"));
    clm_ = Model::load(fixture_path("models/clm"));
  }
  static std::shared_ptr<const Model> base_, clm_;
};
std::shared_ptr<const Model> ModelInputs::base_, ModelInputs::clm_;

TEST_F(ModelInputs, InvalidInputsAreErrorsNamingTheInput) {
  auto err = [&](const ForwardInputs& in, const std::shared_ptr<const Model>& m = nullptr) {
    return error_message([&] { (m ? m : base_)->forward(in); });
  };
  ForwardInputs in;
  EXPECT_NE(err(in).find("give input_ids or inputs_embeds"), std::string::npos);
  in.input_ids = Tensor::from_i64({1, 3}, {2, 2000, 3});
  EXPECT_NE(err(in).find("input_ids: value 2000 is out of range [0, 2000)"), std::string::npos) << err(in);
  in.input_ids = Tensor::from_i64({1, 3}, {2, -1, 3});
  EXPECT_NE(err(in).find("input_ids: value -1"), std::string::npos);
  in.input_ids = Tensor::from_i64({3}, {2, 5, 3});
  EXPECT_NE(err(in).find("input_ids: expected shape [batch, sequence]"), std::string::npos) << err(in);
  in.input_ids = Tensor::from_i64({1, 3}, {2, 5, 3});
  in.inputs_embeds = Tensor(DType::F32, {1, 3, 32});
  EXPECT_NE(err(in).find("not both"), std::string::npos);
  in.inputs_embeds = Tensor();
  in.attention_mask = Tensor::from_i64({1, 4}, {1, 1, 1, 1});
  EXPECT_NE(err(in).find("attention_mask: expected shape [1, 3], got [1, 4]"), std::string::npos) << err(in);
  in.attention_mask = Tensor();
  in.token_type_ids = Tensor::from_i64({1, 3}, {0, 2, 0});
  EXPECT_NE(err(in).find("token_type_ids: value 2 is out of range [0, 2) (type_vocab_size)"), std::string::npos);
  in.token_type_ids = Tensor();
  in.position_ids = Tensor::from_i64({1, 3}, {0, 1, 64});
  EXPECT_NE(err(in).find("position_ids: value 64"), std::string::npos);
  in.position_ids = Tensor();
  in.input_ids = Tensor(DType::I64, {1, 65});
  EXPECT_NE(err(in).find("exceeds max_position_embeddings 64"), std::string::npos) << err(in);
  in.input_ids = Tensor::from_i64({1, 3}, {2, 5, 3});
  in.past_key_values.resize(3);
  EXPECT_NE(err(in).find("only decoder models"), std::string::npos);
  in.past_key_values.clear();
  in.head_mask = Tensor::from_f32({3}, {1, 1, 1});
  EXPECT_NE(err(in).find("head_mask: 3 heads given, layer 0 has 4"), std::string::npos) << err(in);
  in.head_mask = Tensor();
  in.input_ids = Tensor(DType::I64, {1, 0});
  EXPECT_NE(err(in).find("the sequence is empty"), std::string::npos);
  // A decoder without cross-attention refuses encoder states.
  ForwardInputs dec;
  dec.input_ids = Tensor::from_i64({1, 2}, {2, 5});
  dec.encoder_hidden_states = Tensor(DType::F32, {1, 4, 64});
  EXPECT_NE(err(dec, clm_).find("no cross-attention"), std::string::npos);
}

TEST_F(ModelInputs, InputsEmbedsEqualTheWordEmbeddingRows) {
  const Tensor table = weights_of("base").at("embeddings.word_embeddings.weight");
  ForwardInputs in = base_single_inputs();
  const std::vector<int64_t> ids = in.input_ids.to_i64_vector();
  Tensor embeds(DType::F32, {1, static_cast<int64_t>(ids.size()), 32});
  for (size_t i = 0; i < ids.size(); ++i) {
    std::copy(table.data<float>() + ids[i] * 32, table.data<float>() + (ids[i] + 1) * 32,
              embeds.mutable_data<float>() + i * 32);
  }
  in.input_ids = Tensor();
  in.inputs_embeds = embeds;
  EXPECT_TRUE(tensors_close(base_->forward(in).last_hidden_state, fixture_tensor("base_single.last_hidden_state"), 1e-4, 1e-4));
}

TEST_F(ModelInputs, Int32IndicesEqualInt64Ones) {
  ForwardInputs in = base_single_inputs();
  auto to_i32 = [](const Tensor& t) {
    Tensor out(DType::I32, t.shape());
    std::vector<int64_t> v = t.to_i64_vector();
    for (size_t i = 0; i < v.size(); ++i) out.mutable_data<int32_t>()[i] = static_cast<int32_t>(v[i]);
    return out;
  };
  in.input_ids = to_i32(in.input_ids);
  in.attention_mask = to_i32(in.attention_mask);
  in.token_type_ids = to_i32(in.token_type_ids);
  EXPECT_TRUE(tensors_close(base_->forward(in).last_hidden_state, fixture_tensor("base_single.last_hidden_state"), 1e-4, 1e-4));
  in.input_ids = Tensor::from_f32({1, 2}, {2.0f, 3.0f});
  in.attention_mask = Tensor();
  in.token_type_ids = Tensor();
  EXPECT_CONTAINS(error_message([&] { base_->forward(in); }), "input_ids: expected an integer tensor, got F32");
}

TEST_F(ModelInputs, ThreeDimensionalMaskEqualsTheBroadcastTwoDimensionalOne) {
  ForwardInputs in;
  in.input_ids = fixture_tensor("base_batch_padded.in.input_ids");
  in.token_type_ids = fixture_tensor("base_batch_padded.in.token_type_ids");
  const Tensor& mask2d = fixture_tensor("base_batch_padded.in.attention_mask");
  const int64_t B = mask2d.dim(0), S = mask2d.dim(1);
  std::vector<int64_t> m = mask2d.to_i64_vector(), m3(static_cast<size_t>(B * S * S));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t q = 0; q < S; ++q)
      for (int64_t k = 0; k < S; ++k) m3[(b * S + q) * S + k] = m[b * S + k];
  in.attention_mask = Tensor::from_i64({B, S, S}, m3);
  EXPECT_TRUE(tensors_close(base_->forward(in).last_hidden_state, fixture_tensor("base_batch_padded.last_hidden_state"), 1e-4,
                            1e-4, m));
  // Float masks are accepted as PyTorch accepts them.
  in.attention_mask = Tensor::from_f32({B, S}, std::vector<float>(m.begin(), m.end()));
  EXPECT_TRUE(tensors_close(base_->forward(in).last_hidden_state, fixture_tensor("base_batch_padded.last_hidden_state"), 1e-4,
                            1e-4, m));
}

TEST_F(ModelInputs, PaddingIsSkippedWithoutChangingRealPositions) {
  // base_batch_padded is right-padded: the padding-free layout must reproduce the reference on every real position,
  // give zeros on padded ones, and agree with the full layout (skip_padding = false) on the pooler.
  ForwardInputs in;
  in.input_ids = fixture_tensor("base_batch_padded.in.input_ids");
  in.attention_mask = fixture_tensor("base_batch_padded.in.attention_mask");
  in.token_type_ids = fixture_tensor("base_batch_padded.in.token_type_ids");
  in.output_hidden_states = true;
  const std::vector<int64_t> mask = in.attention_mask.to_i64_vector();
  ASSERT_EQ(mask.back(), 0) << "the case must have padding for this test to mean anything";
  ForwardOutputs packed = base_->forward(in);
  EXPECT_TRUE(tensors_close(packed.last_hidden_state, fixture_tensor("base_batch_padded.last_hidden_state"), 1e-4,
                            1e-4, mask));
  EXPECT_TRUE(tensors_close(packed.pooler_output, fixture_tensor("base_batch_padded.pooler_output"), 1e-4, 1e-4));
  EXPECT_TRUE(tensors_close(packed.hidden_states[2], fixture_tensor("base_batch_padded.hidden_states.2"), 1e-4, 1e-4,
                            mask));
  const int64_t H = 64;
  for (size_t row = 0; row < mask.size(); ++row) {
    if (mask[row]) continue;
    for (int64_t h = 0; h < H; ++h) ASSERT_EQ(packed.last_hidden_state.data<float>()[row * H + h], 0.0f);
  }
  in.skip_padding = false;
  ForwardOutputs full = base_->forward(in);
  EXPECT_TRUE(tensors_close(full.last_hidden_state, fixture_tensor("base_batch_padded.last_hidden_state"), 1e-4, 1e-4));
  EXPECT_FALSE(tensors_close(packed.last_hidden_state, full.last_hidden_state, 1e-4, 1e-4))
      << "padded positions differ: they were not computed";

  // Left padding is not skipped (position 0 would be a pad): the result is the full layout's.
  ForwardInputs left;
  left.input_ids = Tensor::from_i64({2, 3}, {0, 2, 7, 2, 8, 9});
  left.attention_mask = Tensor::from_i64({2, 3}, {0, 1, 1, 1, 1, 1});
  ForwardOutputs a = base_->forward(left);
  left.skip_padding = false;
  EXPECT_TRUE(tensors_close(a.last_hidden_state, base_->forward(left).last_hidden_state, 0, 0));
}

TEST_F(ModelInputs, HeadMaskScalesAttentionProbabilities) {
  ForwardInputs in = base_single_inputs();
  in.output_attentions = true;
  in.head_mask = Tensor::from_f32({3, 4}, {1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0.5f});
  ForwardOutputs out = base_->forward(in);
  // Layer 0: head 1 is zeroed, the others keep the reference probabilities (layer 0 sees unmasked inputs).
  const Tensor& a0 = out.attentions[0];
  const Tensor& r0 = fixture_tensor("base_single.attentions.0");
  const int64_t S = a0.dim(2), per_head = S * S;
  for (int64_t i = 0; i < per_head; ++i) {
    ASSERT_EQ(a0.data<float>()[per_head + i], 0.0f);
    ASSERT_NEAR(a0.data<float>()[i], r0.data<float>()[i], 1e-5);
    ASSERT_NEAR(a0.data<float>()[2 * per_head + i], r0.data<float>()[2 * per_head + i], 1e-5);
  }
  // A head mask of ones changes nothing.
  in.head_mask = Tensor::from_f32({4}, {1, 1, 1, 1});
  EXPECT_TRUE(tensors_close(base_->forward(in).last_hidden_state, fixture_tensor("base_single.last_hidden_state"), 1e-4, 1e-4));
}

TEST_F(ModelInputs, PrunedHeadsEqualMaskedHeads) {
  // Pruning head 1 of layer 0 removes its query/key/value rows and its output-dense columns; the result must equal
  // the unpruned model with that head masked to zero.
  RemBertConfig config = config_of("base");
  config.pruned_heads = {{0, {1}}};
  TensorMap pruned = weights_of("base");
  testing::prune_self_attention_head(pruned, 0, 1, 16, 64);

  auto model = Model::from_tensors(config, pruned);
  ForwardInputs in = base_single_inputs();
  ForwardOutputs got = model->forward(in);
  in.head_mask = Tensor::from_f32({3, 4}, {1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1});
  ForwardOutputs want = base_->forward(in);
  EXPECT_TRUE(tensors_close(got.last_hidden_state, want.last_hidden_state, 1e-5, 1e-5));
  EXPECT_FALSE(tensors_close(got.last_hidden_state, fixture_tensor("base_single.last_hidden_state"), 1e-4, 1e-4));
}

TEST(ModelDecoder, HeadMaskMustFitTheCrossAttentionOfPrunedLayers) {
  // transformers applies a layer's head_mask row to its self- and its cross-attention alike, and prune_heads prunes
  // self-attention only: with 3 of 4 self-attention heads left in every layer, a 3-wide head_mask fits the
  // self-attention but not the 4 cross-attention heads (torch's broadcast fails there). Before this check, the
  // cross-attention read head_mask's 4th multiplier past the end of its 3.
  RemBertConfig config = config_of("decoder_xattn");
  config.pruned_heads = {{0, {1}}, {1, {1}}, {2, {1}}};
  TensorMap weights = weights_of("decoder_xattn");
  for (int layer = 0; layer < 3; ++layer) testing::prune_self_attention_head(weights, layer, 1, 16, 64);
  auto model = Model::from_tensors(config, weights);
  ForwardInputs in;
  in.input_ids = fixture_tensor("decoder_xattn.in.input_ids");
  in.attention_mask = fixture_tensor("decoder_xattn.in.attention_mask");
  in.encoder_hidden_states = fixture_tensor("decoder_xattn.in.encoder_hidden_states");
  in.encoder_attention_mask = fixture_tensor("decoder_xattn.in.encoder_attention_mask");
  for (const Tensor& mask : {Tensor::from_f32({3}, {1, 0, 1}), Tensor::from_f32({3, 3}, {1, 0, 1, 1, 1, 1, 0, 1, 1})}) {
    in.head_mask = mask;
    const std::string message = error_message([&] { model->forward(in); });
    EXPECT_CONTAINS(message, "head_mask: 3 heads given, layer 0's cross-attention has 4");
  }
  // Without encoder states no cross-attention runs: the mask fits the self-attention and is applied.
  in.encoder_hidden_states = Tensor();
  in.encoder_attention_mask = Tensor();
  in.head_mask = Tensor::from_f32({3}, {1, 1, 1});
  const Tensor ones = model->forward(in).last_hidden_state;
  in.head_mask = Tensor();
  EXPECT_TRUE(tensors_close(model->forward(in).last_hidden_state, ones, 0.0, 0.0));
  in.head_mask = Tensor::from_f32({3}, {1, 0, 1});
  EXPECT_FALSE(tensors_close(model->forward(in).last_hidden_state, ones, 1e-4, 1e-4));
}

TEST_F(ModelInputs, ConcurrentForwardCallsShareOneModel) {
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 3; ++rep) {
        ForwardOutputs out = base_->forward(base_single_inputs());
        ok[t] += tensors_close(out.last_hidden_state, fixture_tensor("base_single.last_hidden_state"), 1e-4, 1e-4) ? 1 : 0;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok, std::vector<int>(4, 3));
}

TEST_F(ModelInputs, InPlaceCacheDecodesABatchAsTheLegacyCacheAndTheFullPass) {
  // Two rows with different tokens and a left-padded first row: 4 prompt tokens, then 3 single-token steps. Each
  // step equals the legacy past_key_values path bit for bit, and the full pass over all 7 tokens at its positions.
  const std::vector<int64_t> tokens = {0, 17, 42, 5, 99, 7, 1500, 8, 300, 12, 64, 1999, 3, 250};  // [2, 7]
  const std::vector<int64_t> mask = {0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  const int64_t B = 2, T = 7, P = 4;
  auto columns = [&](const std::vector<int64_t>& v, int64_t from, int64_t to) {
    std::vector<int64_t> out;
    for (int64_t b = 0; b < B; ++b) out.insert(out.end(), v.begin() + b * T + from, v.begin() + b * T + to);
    return Tensor::from_i64({B, to - from}, out);
  };
  ForwardInputs full;
  full.input_ids = Tensor::from_i64({B, T}, tokens);
  full.attention_mask = Tensor::from_i64({B, T}, mask);
  const Tensor all_logits = clm_->forward(full).logits;  // [B, T, V]
  const int64_t V = all_logits.dim(2);

  KVCache cache(*clm_, B, T);
  std::vector<LayerCache> legacy;
  for (int64_t from = 0; from < T; from = from == 0 ? P : from + 1) {
    const int64_t to = from == 0 ? P : from + 1;
    ForwardInputs in;
    in.input_ids = columns(tokens, from, to);
    in.attention_mask = columns(mask, 0, to);
    in.use_cache = true;
    ForwardInputs old = in;
    old.past_key_values = legacy;
    in.cache = &cache;
    const ForwardOutputs now = clm_->forward(in), before = clm_->forward(old);
    EXPECT_TRUE(tensors_close(now.logits, before.logits, 0.0, 0.0)) << "positions " << from << ".." << to;
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t t = from; t < to; ++t) {
        // A padded query sees no key; its (unused) output depends on how many keys the call has.
        if (mask[static_cast<size_t>(b * T + t)] == 0) continue;
        auto row = [&](const Tensor& logits, int64_t index) {
          const float* p = logits.data<float>() + index * V;
          return Tensor::from_f32({V}, std::vector<float>(p, p + V));
        };
        EXPECT_TRUE(tensors_close(row(now.logits, b * (to - from) + t - from), row(all_logits, b * T + t), 1e-4, 1e-4))
            << "row " << b << " position " << t;
      }
    }
    legacy = before.past_key_values;
  }
  EXPECT_EQ(cache.length(), T);
}

TEST_F(ModelInputs, InPlaceCacheMisuseIsAnErrorNamingTheCache) {
  EXPECT_CONTAINS(error_message([&] { KVCache(*base_, 1, 8); }), "KVCache: only decoder models");
  EXPECT_CONTAINS(error_message([&] { KVCache(*clm_, 1, 0); }), "KVCache: capacity 0 is outside [1, 64]");
  EXPECT_CONTAINS(error_message([&] { KVCache(*clm_, 1, 65); }), "KVCache: capacity 65 is outside [1, 64]");
  EXPECT_CONTAINS(error_message([&] { KVCache(*clm_, 0, 8); }), "KVCache: batch must be at least 1");

  KVCache cache(*clm_, 1, 5);
  ForwardInputs in;
  in.cache = &cache;
  in.input_ids = Tensor::from_i64({1, 4}, {2, 5, 6, 7});
  clm_->forward(in);
  in.input_ids = Tensor::from_i64({1, 1}, {8});
  clm_->forward(in);
  EXPECT_EQ(cache.length(), 5);
  // Past capacity: an Error, and the cache is as it was.
  EXPECT_CONTAINS(error_message([&] { clm_->forward(in); }),
                  "cache: 5 cached positions + sequence length 1 exceed its capacity 5");
  EXPECT_EQ(cache.length(), 5);
  EXPECT_EQ(cache.to_legacy()[0].key.shape(), (Shape{1, 4, 5, 16}));

  KVCache pair(*clm_, 2, 8);
  in.cache = &pair;
  EXPECT_CONTAINS(error_message([&] { clm_->forward(in); }),
                  "cache: made for 3 layers and batch 2, the model has 3 layers and the input batch 1");
  in.past_key_values = cache.to_legacy();
  EXPECT_CONTAINS(error_message([&] { clm_->forward(in); }), "cache: give either cache or past_key_values, not both");
  in.past_key_values.clear();
  KVCache other(*clm_, 1, 8);
  in.cache = &other;
  EXPECT_CONTAINS(error_message([&] { base_->forward(in); }), "cache: only decoder models");
}

TEST(ModelDecoder, CrossAttentionCacheReproducesTheFullPass) {
  // Row 0 of the decoder_xattn case, token by token with the cache (self and cross keys/values), must give the
  // reference last_hidden_state at each position (causal: position t sees tokens <= t only).
  auto model = Model::load(fixture_path("models/decoder_xattn"));
  const Tensor& ids = fixture_tensor("decoder_xattn.in.input_ids");
  const Tensor& mask = fixture_tensor("decoder_xattn.in.attention_mask");
  const Tensor& types = fixture_tensor("decoder_xattn.in.token_type_ids");
  const Tensor& enc = fixture_tensor("decoder_xattn.in.encoder_hidden_states");
  const Tensor& enc_mask = fixture_tensor("decoder_xattn.in.encoder_attention_mask");
  const Tensor& expected = fixture_tensor("decoder_xattn.last_hidden_state");
  const int64_t S = ids.dim(1), S_enc = enc.dim(1), H = 64;
  const std::vector<int64_t> id = ids.to_i64_vector(), m = mask.to_i64_vector(), tt = types.to_i64_vector();
  ASSERT_EQ(m[0], 1);

  Tensor enc0 = Tensor::from_f32({1, S_enc, H}, std::vector<float>(enc.data<float>(), enc.data<float>() + S_enc * H));
  std::vector<int64_t> em = enc_mask.to_i64_vector();
  Tensor enc_mask0 = Tensor::from_i64({1, S_enc}, std::vector<int64_t>(em.begin(), em.begin() + S_enc));
  std::vector<LayerCache> cache;
  KVCache in_place(*model, 1, S);
  int64_t steps = 0;
  for (int64_t t = 0; t < S && m[t] == 1; ++t, ++steps) {
    ForwardInputs in;
    in.input_ids = Tensor::from_i64({1, 1}, {id[t]});
    in.token_type_ids = Tensor::from_i64({1, 1}, {tt[t]});
    in.encoder_hidden_states = enc0;
    in.encoder_attention_mask = enc_mask0;
    in.use_cache = true;
    ForwardInputs with_in_place = in;
    with_in_place.cache = &in_place;
    in.past_key_values = cache;
    ForwardOutputs out = model->forward(in);
    // The in-place cache (cross keys/values kept from the first step) gives the same numbers bit for bit.
    EXPECT_TRUE(tensors_close(model->forward(with_in_place).last_hidden_state, out.last_hidden_state, 0.0, 0.0))
        << "position " << t;
    ASSERT_EQ(out.past_key_values.size(), 3u);
    ASSERT_TRUE(out.past_key_values[0].cross_key.defined());
    EXPECT_EQ(out.past_key_values[0].key.shape(), (Shape{1, 4, t + 1, 16}));
    EXPECT_EQ(out.past_key_values[0].cross_key.shape(), (Shape{1, 4, S_enc, 16}));
    Tensor want = Tensor::from_f32({1, 1, H}, std::vector<float>(expected.data<float>() + t * H,
                                                                 expected.data<float>() + (t + 1) * H));
    EXPECT_TRUE(tensors_close(out.last_hidden_state, want, 1e-4, 1e-4)) << "position " << t;
    cache = out.past_key_values;
  }
  EXPECT_GT(steps, 5);
}

}  // namespace
}  // namespace rembert
