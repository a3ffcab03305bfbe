// feature-extraction (SPEC §4.5): the last hidden state as transformers returns it, [1][L][H]; optional pooling.
#include <cmath>

#include "pipelines/common.h"
#include "rembert/error.h"
#include "rembert/pipelines.h"

namespace rembert {

Pooling pooling_from_name(const std::string& name) {
  if (name == "none") return Pooling::None;
  if (name == "cls") return Pooling::Cls;
  if (name == "mean") return Pooling::Mean;
  throw Error("unknown pooling \"" + name + "\" (expected none, cls or mean)");
}

Tensor feature_extraction(const PipelineModel& pm, const std::string& text, const FeatureExtractionOptions& options) {
  EncodeOptions eo;
  eo.max_length = options.max_length;
  if (options.truncation) eo.truncation = Truncation::LongestFirst;
  const Encoding enc = pm.tokenizer->encode(text, nullptr, eo);
  const auto S = static_cast<int64_t>(enc.input_ids.size());
  ForwardInputs in = pipelines::inputs_of(enc);
  ForwardOutputs out = pm.forward(in);
  // model_outputs[0]: last_hidden_state for RemBertModel, the first output (logits) for the heads, as transformers.
  Tensor features = out.last_hidden_state.defined() ? out.last_hidden_state : out.logits;
  const int64_t H = features.dim(-1);

  auto l2_normalize = [](float* v, int64_t n) {
    double sq = 0;
    for (int64_t i = 0; i < n; ++i) sq += static_cast<double>(v[i]) * v[i];
    const float inv = static_cast<float>(1.0 / std::max(std::sqrt(sq), 1e-12));
    for (int64_t i = 0; i < n; ++i) v[i] *= inv;
  };
  if (options.pooling == Pooling::None) {
    if (options.normalize) {
      Tensor copy = Tensor::from_f32(features.shape(), features.to_f32_vector());
      for (int64_t t = 0; t < S; ++t) l2_normalize(copy.mutable_data<float>() + t * H, H);
      return copy;
    }
    return features;
  }
  Tensor pooled(DType::F32, {H});
  float* p = pooled.mutable_data<float>();
  const float* f = features.data<float>();
  if (options.pooling == Pooling::Cls) {
    std::copy(f, f + H, p);
  } else {  // mean over the real tokens (the attention mask is all ones for one unpadded text)
    for (int64_t t = 0; t < S; ++t)
      for (int64_t h = 0; h < H; ++h) p[h] += f[t * H + h];
    for (int64_t h = 0; h < H; ++h) p[h] /= static_cast<float>(S);
  }
  if (options.normalize) l2_normalize(p, H);
  return pooled;
}

std::string to_json_features(const Tensor& features) {
  // Nested lists of Python floats (float32 values widened to double), like json.dumps(tensor.tolist()).
  const std::vector<float> v = features.to_f32_vector();
  const Shape& shape = features.shape();
  std::string s;
  size_t pos = 0;
  std::function<void(size_t)> emit = [&](size_t d) {
    s += "[";
    for (int64_t i = 0; i < shape[d]; ++i) {
      if (i) s += ", ";
      if (d + 1 == shape.size()) {
        s += pipelines::json_number(static_cast<double>(v[pos++]));
      } else {
        emit(d + 1);
      }
    }
    s += "]";
  };
  emit(0);
  return s;
}

}  // namespace rembert
