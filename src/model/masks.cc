#include "model/masks.h"

#include <limits>

#include "model/forward_util.h"

namespace rembert::model {

namespace {

// transformers' additive mask value for float32 compute: torch.finfo(torch.float32).min.
constexpr float kMaskMin = std::numeric_limits<float>::lowest();

}  // namespace

// SPEC §2.3: (1 - mask) * min, with the causal pattern (past always visible) for decoders.
Tensor self_attention_mask(const Tensor& mask, int64_t B, int64_t S, int64_t P, bool is_decoder) {
  const int64_t K = P + S;
  Tensor out = new_f32({B, S, K});
  float* o = out.mutable_data<float>();
  if (mask.defined() && mask.ndim() == 3) {
    expect_shape(mask, {B, S, K}, "attention_mask");
    std::vector<float> m = mask_values(mask);
    for (size_t i = 0; i < m.size(); ++i) o[i] = (1.0f - m[i]) * kMaskMin;
    return out;
  }
  std::vector<float> m(static_cast<size_t>(B * K), 1.0f);
  if (mask.defined()) {
    if (mask.ndim() != 2) {
      throw Error("attention_mask: expected 2 or 3 dimensions, got shape " + shape_to_string(mask.shape()));
    }
    expect_shape(mask, {B, K}, "attention_mask");
    m = mask_values(mask);
  }
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t q = 0; q < S; ++q) {
      for (int64_t k = 0; k < K; ++k) {
        float keep = m[static_cast<size_t>(b * K + k)];
        if (is_decoder && k > P + q) keep = 0.0f;
        o[(b * S + q) * K + k] = (1.0f - keep) * kMaskMin;
      }
    }
  }
  return out;
}

// transformers' invert_attention_mask: a 2-D mask is shared by every query position.
Tensor cross_attention_mask(const Tensor& mask, int64_t B, int64_t S, int64_t S_enc) {
  Tensor out = new_f32({B, S, S_enc});
  float* o = out.mutable_data<float>();
  if (!mask.defined()) return out;  // all visible: (1 - 1) * min = 0
  std::vector<float> m = mask_values(mask);
  if (mask.ndim() == 3) {
    expect_shape(mask, {B, S, S_enc}, "encoder_attention_mask");
    for (size_t i = 0; i < m.size(); ++i) o[i] = (1.0f - m[i]) * kMaskMin;
    return out;
  }
  expect_shape(mask, {B, S_enc}, "encoder_attention_mask");
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t q = 0; q < S; ++q) {
      for (int64_t k = 0; k < S_enc; ++k) o[(b * S + q) * S_enc + k] = (1.0f - m[b * S_enc + k]) * kMaskMin;
    }
  }
  return out;
}

// head_mask [heads] or [layers, heads] -> one multiplier vector per layer.
std::vector<std::vector<float>> head_scales(const Tensor& head_mask, const model::Params& p, bool cross_attention) {
  std::vector<std::vector<float>> scales;
  if (!head_mask.defined()) return scales;
  const int64_t layers = static_cast<int64_t>(p.encoder.layers.size());
  std::vector<float> m = mask_values(head_mask);
  if (head_mask.ndim() != 1 && head_mask.ndim() != 2) {
    throw Error("head_mask: expected shape [heads] or [layers, heads], got " + shape_to_string(head_mask.shape()));
  }
  if (head_mask.ndim() == 2 && head_mask.dim(0) != layers) {
    throw Error("head_mask: " + std::to_string(head_mask.dim(0)) + " rows for " + std::to_string(layers) +
                " layers");
  }
  const int64_t width = head_mask.dim(-1);
  for (int64_t i = 0; i < layers; ++i) {
    const Layer& layer = p.encoder.layers[static_cast<size_t>(i)];
    if (width != layer.attention.num_heads) {
      throw Error("head_mask: " + std::to_string(width) + " heads given, layer " + std::to_string(i) + " has " +
                  std::to_string(layer.attention.num_heads));
    }
    if (cross_attention && layer.crossattention && width != layer.crossattention->num_heads) {
      throw Error("head_mask: " + std::to_string(width) + " heads given, layer " + std::to_string(i) +
                  "'s cross-attention has " + std::to_string(layer.crossattention->num_heads) +
                  " (each layer's head_mask row applies to its self- and cross-attention; pruned_heads prunes "
                  "self-attention only)");
    }
    const int64_t row = head_mask.ndim() == 2 ? i : 0;
    scales.emplace_back(m.begin() + row * width, m.begin() + (row + 1) * width);
  }
  return scales;
}


}  // namespace rembert::model
