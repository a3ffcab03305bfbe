// RemBertAttention (RemBertSelfAttention + RemBertSelfOutput) in train mode, and its backward. Per batch row b and
// head h, with D the head width:
//   P = softmax(q·kᵀ/√D + mask)   Pd = dropout(P) · head_scale[h]   context = Pd·v
//   out = LayerNorm(dropout(context·Woᵀ + bo) + x)
#include <cmath>
#include <cstring>

#include "kernels/backward.h"
#include "kernels/gemm.h"
#include "kernels/ops.h"
#include "train/modules.h"

namespace rembert::train {

namespace {

// The dropout keep decision of element i of the probabilities, as a multiplier (1 when nothing was dropped).
inline float kept(const std::vector<uint8_t>& keep, int64_t i, float inverse_keep) {
  return keep.empty() ? 1.0f : (keep[static_cast<size_t>(i)] ? inverse_keep : 0.0f);
}

}  // namespace

void attention_forward(const model::Attention& a, const RemBertConfig& c, const AttentionShape& s, const float* x,
                       const float* kv_x, const float* mask, const float* head_scale, AttentionSaved& saved,
                       DropoutStream& dropout, float* out) {
  const int64_t B = s.batch, Q = s.q_len, K = s.kv_len, heads = a.num_heads, D = c.head_dim(), W = heads * D;
  const int64_t H = c.hidden_size;
  saved.x = x;
  saved.kv_x = kv_x;
  saved.mask = mask;
  saved.head_scale = head_scale;
  saved.q.resize(static_cast<size_t>(B * Q * W));
  saved.k.resize(static_cast<size_t>(B * K * W));
  saved.v.resize(static_cast<size_t>(B * K * W));
  linear_forward(a.query, x, B * Q, saved.q.data());
  linear_forward(a.key, kv_x, B * K, saved.k.data());
  linear_forward(a.value, kv_x, B * K, saved.v.data());

  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  saved.probs.resize(static_cast<size_t>(B * heads * Q * K));
  float* probs = saved.probs.data();
#pragma omp parallel for schedule(static)
  for (int64_t bh = 0; bh < B * heads; ++bh) {
    const int64_t b = bh / heads, h = bh % heads;
    float* p = probs + bh * Q * K;
    kernels::sgemm(true, Q, K, D, 1.0f, saved.q.data() + b * Q * W + h * D, W, saved.k.data() + b * K * W + h * D, W,
                   0.0f, p, K);
    kernels::scaled_masked_softmax_rows(p, Q, K, scale, mask ? mask + b * Q * K : nullptr, 1.0f);
  }

  // Dropout and the head multiplier act on a copy: the backward needs the softmax itself.
  std::vector<float> weights(saved.probs);
  dropout.apply(weights.data(), static_cast<int64_t>(weights.size()), static_cast<float>(c.attention_probs_dropout_prob),
                saved.probs_keep);
  saved.context.resize(static_cast<size_t>(B * Q * W));
#pragma omp parallel for schedule(static)
  for (int64_t bh = 0; bh < B * heads; ++bh) {
    const int64_t b = bh / heads, h = bh % heads;
    float* p = weights.data() + bh * Q * K;
    if (head_scale && head_scale[h] != 1.0f) {
      for (int64_t i = 0; i < Q * K; ++i) p[i] *= head_scale[h];
    }
    kernels::sgemm(false, Q, D, K, 1.0f, p, K, saved.v.data() + b * K * W + h * D, W, 0.0f,
                   saved.context.data() + b * Q * W + h * D, W);
  }

  std::vector<float> projected(static_cast<size_t>(B * Q * H));
  linear_forward(a.output, saved.context.data(), B * Q, projected.data());
  dropout.apply(projected.data(), B * Q * H, static_cast<float>(c.hidden_dropout_prob), saved.out_keep);
  for (int64_t i = 0; i < B * Q * H; ++i) projected[static_cast<size_t>(i)] += x[i];
  layer_norm_forward(a.layer_norm, projected.data(), B * Q, H, c.layer_norm_eps, saved.norm, out);
}

void attention_backward(const model::Attention& a, model::Attention& grad, const RemBertConfig& c,
                        const AttentionShape& s, const AttentionSaved& saved, const float* dout, float* dx,
                        float* d_kv_x, float* d_head_scale) {
  const int64_t B = s.batch, Q = s.q_len, K = s.kv_len, heads = a.num_heads, D = c.head_dim(), W = heads * D;
  const int64_t H = c.hidden_size;
  const float p_hidden = static_cast<float>(c.hidden_dropout_prob);
  const float p_attn = static_cast<float>(c.attention_probs_dropout_prob);

  // LayerNorm(y + x): the residual passes the gradient straight to x.
  std::vector<float> dz(static_cast<size_t>(B * Q * H));
  layer_norm_backward(a.layer_norm, grad.layer_norm, saved.norm, dout, B * Q, H, dz.data());
  std::memcpy(dx, dz.data(), dz.size() * sizeof(float));
  dropout_backward(saved.out_keep, p_hidden, dz.data(), dz.data(), B * Q * H);
  std::vector<float> d_context(static_cast<size_t>(B * Q * W));
  linear_backward(a.output, grad.output, saved.context.data(), dz.data(), B * Q, d_context.data(), false);

  std::vector<float> dq(static_cast<size_t>(B * Q * W)), dk(static_cast<size_t>(B * K * W)),
      dv(static_cast<size_t>(B * K * W));
  std::vector<double> d_scale_parts(static_cast<size_t>(B * heads), 0.0);
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  const float inverse_keep = p_attn > 0.0f ? 1.0f / (1.0f - p_attn) : 1.0f;
#pragma omp parallel
  {
    std::vector<float> dp(static_cast<size_t>(Q * K)), weights(static_cast<size_t>(Q * K));
#pragma omp for schedule(static)
    for (int64_t bh = 0; bh < B * heads; ++bh) {
      const int64_t b = bh / heads, h = bh % heads;
      const float* p = saved.probs.data() + bh * Q * K;
      const float head = saved.head_scale ? saved.head_scale[h] : 1.0f;
      const float* q = saved.q.data() + b * Q * W + h * D;
      const float* k = saved.k.data() + b * K * W + h * D;
      const float* v = saved.v.data() + b * K * W + h * D;
      const float* dc = d_context.data() + b * Q * W + h * D;
      // The weights context was made of: Pd · head_scale.
      for (int64_t i = 0; i < Q * K; ++i) weights[static_cast<size_t>(i)] = p[i] * kept(saved.probs_keep, bh * Q * K + i, inverse_keep);
      // d(weights) = dcontext · vᵀ;  dv = weightsᵀ · dcontext
      kernels::sgemm(true, Q, K, D, 1.0f, dc, W, v, W, 0.0f, dp.data(), K);
      if (head != 1.0f) {
        for (int64_t i = 0; i < Q * K; ++i) weights[static_cast<size_t>(i)] *= head;
      }
      kernels::sgemm_ab(true, false, K, D, Q, 1.0f, weights.data(), K, dc, W, 0.0f, dv.data() + b * K * W + h * D, W);
      // d head_scale = Σ d(weights) · Pd;  then back through the multiplier and the dropout to the softmax.
      double ds = 0.0;
      for (int64_t i = 0; i < Q * K; ++i) {
        const float dropped = kept(saved.probs_keep, bh * Q * K + i, inverse_keep);
        ds += static_cast<double>(dp[static_cast<size_t>(i)]) * (p[i] * dropped);
        dp[static_cast<size_t>(i)] *= head * dropped;
      }
      d_scale_parts[static_cast<size_t>(bh)] = ds;
      kernels::softmax_rows_backward(p, dp.data(), dp.data(), Q, K);
      // scores = q·kᵀ · scale:  dq = dscores · k · scale,  dk = dscoresᵀ · q · scale
      kernels::sgemm(false, Q, D, K, scale, dp.data(), K, k, W, 0.0f, dq.data() + b * Q * W + h * D, W);
      kernels::sgemm_ab(true, false, K, D, Q, scale, dp.data(), K, q, W, 0.0f, dk.data() + b * K * W + h * D, W);
    }
  }
  if (d_head_scale) {
    for (int64_t bh = 0; bh < B * heads; ++bh) {
      d_head_scale[bh % heads] += static_cast<float>(d_scale_parts[static_cast<size_t>(bh)]);
    }
  }
  linear_backward(a.query, grad.query, saved.x, dq.data(), B * Q, dx, true);
  linear_backward(a.key, grad.key, saved.kv_x, dk.data(), B * K, d_kv_x, true);
  linear_backward(a.value, grad.value, saved.kv_x, dv.data(), B * K, d_kv_x, true);
}

}  // namespace rembert::train
