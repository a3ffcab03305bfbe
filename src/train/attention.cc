// RemBertAttention (RemBertSelfAttention + RemBertSelfOutput) in train mode, and its backward. Per batch row b and
// head h, with D the head width:
//   P = softmax(q·kᵀ/√D + mask)   Pd = dropout(P) · head_scale[h]   context = Pd·v
//   out = LayerNorm(dropout(context·Woᵀ + bo) + x)
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/backward.h"
#include "kernels/gemm.h"
#include "kernels/ops.h"
#include "train/modules.h"

namespace rembert::train {

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
  const bool drops = dropout.on && c.attention_probs_dropout_prob > 0.0;
  bool scales = false;
  for (int64_t h = 0; head_scale && h < heads; ++h) scales = scales || head_scale[h] != 1.0f;
  const float* weights = probs;
  if (drops || scales) {
    thread_local std::vector<float> weights_buffer;
    float* w = thread_scratch(weights_buffer, B * heads * Q * K);
    std::copy(probs, probs + B * heads * Q * K, w);
    dropout.apply(w, B * heads * Q * K, static_cast<float>(c.attention_probs_dropout_prob), saved.probs_keep);
    if (scales) {
#pragma omp parallel for schedule(static)
      for (int64_t bh = 0; bh < B * heads; ++bh) {
        const float f = head_scale[bh % heads];
        float* p = w + bh * Q * K;
        if (f != 1.0f) {
          for (int64_t i = 0; i < Q * K; ++i) p[i] *= f;
        }
      }
    }
    weights = w;
  } else {
    saved.probs_keep.clear();
  }
  saved.context.resize(static_cast<size_t>(B * Q * W));
#pragma omp parallel for schedule(static)
  for (int64_t bh = 0; bh < B * heads; ++bh) {
    const int64_t b = bh / heads, h = bh % heads;
    kernels::sgemm(false, Q, D, K, 1.0f, weights + bh * Q * K, K, saved.v.data() + b * K * W + h * D, W, 0.0f,
                   saved.context.data() + b * Q * W + h * D, W);
  }

  float* projected = layer_norm_input(saved.norm, B * Q, H);
  linear_forward(a.output, saved.context.data(), B * Q, projected);
  dropout.apply(projected, B * Q * H, static_cast<float>(c.hidden_dropout_prob), saved.out_keep);
  add_residual(projected, x, B * Q * H);
  layer_norm_forward(a.layer_norm, projected, B * Q, H, c.layer_norm_eps, saved.norm, out);
}

void attention_backward(const model::Attention& a, model::Attention& grad, const RemBertConfig& c,
                        const AttentionShape& s, const AttentionSaved& saved, const float* dout, float* dx,
                        float* d_kv_x, float* d_head_scale) {
  const int64_t B = s.batch, Q = s.q_len, K = s.kv_len, heads = a.num_heads, D = c.head_dim(), W = heads * D;
  const int64_t H = c.hidden_size;
  const float p_hidden = static_cast<float>(c.hidden_dropout_prob);
  const float p_attn = static_cast<float>(c.attention_probs_dropout_prob);

  // LayerNorm(y + x): dx = d(LayerNorm input), the residual's gradient and (through the dropout) the dense's.
  layer_norm_backward(a.layer_norm, grad.layer_norm, saved.norm, dout, B * Q, H, dx);
  const float* dz = dx;
  if (!saved.out_keep.empty()) {
    thread_local std::vector<float> dz_buffer;
    float* dropped = thread_scratch(dz_buffer, B * Q * H);
    dropout_backward(saved.out_keep, p_hidden, dx, dropped, B * Q * H);
    dz = dropped;
  }
  thread_local std::vector<float> d_context_buffer, dq_buffer, dk_buffer, dv_buffer;
  float* d_context = thread_scratch(d_context_buffer, B * Q * W);
  linear_backward(a.output, grad.output, saved.context.data(), dz, B * Q, d_context, false);

  float* dq = thread_scratch(dq_buffer, B * Q * W);
  float* dk = thread_scratch(dk_buffer, B * K * W);
  float* dv = thread_scratch(dv_buffer, B * K * W);
  std::vector<double> d_scale_parts(static_cast<size_t>(B * heads), 0.0);
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  const float inverse_keep = p_attn > 0.0f ? 1.0f / (1.0f - p_attn) : 1.0f;
  const bool dropped = !saved.probs_keep.empty();
#pragma omp parallel
  {
    thread_local std::vector<float> dp_buffer, weights_buffer;
    float* dp = thread_scratch(dp_buffer, Q * K);
    float* weights = thread_scratch(weights_buffer, Q * K);
#pragma omp for schedule(static)
    for (int64_t bh = 0; bh < B * heads; ++bh) {
      const int64_t b = bh / heads, h = bh % heads;
      const float* p = saved.probs.data() + bh * Q * K;
      const uint8_t* keep = dropped ? saved.probs_keep.data() + bh * Q * K : nullptr;
      const float head = saved.head_scale ? saved.head_scale[h] : 1.0f;
      const float* q = saved.q.data() + b * Q * W + h * D;
      const float* k = saved.k.data() + b * K * W + h * D;
      const float* v = saved.v.data() + b * K * W + h * D;
      const float* dc = d_context + b * Q * W + h * D;
      // d(weights) = dcontext · vᵀ;  dv = weightsᵀ · dcontext, weights = dropout(P) · head_scale as in the forward.
      kernels::sgemm(true, Q, K, D, 1.0f, dc, W, v, W, 0.0f, dp, K);
      const float* w = p;
      if (keep || head != 1.0f) {
        // The forward's multiplications in its order: P · (keep / (1 - p)), then · head_scale.
        if (keep) {
          for (int64_t i = 0; i < Q * K; ++i) weights[i] = p[i] * (keep[i] ? inverse_keep : 0.0f);
        } else {
          std::copy(p, p + Q * K, weights);
        }
        if (head != 1.0f) {
          for (int64_t i = 0; i < Q * K; ++i) weights[i] *= head;
        }
        w = weights;
      }
      kernels::sgemm_ab(true, false, K, D, Q, 1.0f, w, K, dc, W, 0.0f, dv + b * K * W + h * D, W);
      // d head_scale = Σ d(weights) · Pd;  then back through the multiplier and the dropout to the softmax.
      if (d_head_scale) {
        double ds = 0.0;
        for (int64_t i = 0; i < Q * K; ++i) {
          const float kept_p = keep ? p[i] * (keep[i] ? inverse_keep : 0.0f) : p[i];
          ds += static_cast<double>(dp[i]) * kept_p;
        }
        d_scale_parts[static_cast<size_t>(bh)] = ds;
      }
      if (keep) {
        for (int64_t i = 0; i < Q * K; ++i) dp[i] *= head * (keep[i] ? inverse_keep : 0.0f);
      } else if (head != 1.0f) {
        for (int64_t i = 0; i < Q * K; ++i) dp[i] *= head;
      }
      kernels::softmax_rows_backward(p, dp, dp, Q, K);
      // scores = q·kᵀ · scale:  dq = dscores · k · scale,  dk = dscoresᵀ · q · scale
      kernels::sgemm(false, Q, D, K, scale, dp, K, k, W, 0.0f, dq + b * Q * W + h * D, W);
      kernels::sgemm_ab(true, false, K, D, Q, scale, dp, K, q, W, 0.0f, dk + b * K * W + h * D, W);
    }
  }
  if (d_head_scale) {
    for (int64_t bh = 0; bh < B * heads; ++bh) {
      d_head_scale[bh % heads] += static_cast<float>(d_scale_parts[static_cast<size_t>(bh)]);
    }
  }
  linear_backward(a.query, grad.query, saved.x, dq, B * Q, dx, true);
  linear_backward(a.key, grad.key, saved.kv_x, dk, B * K, d_kv_x, true);
  linear_backward(a.value, grad.value, saved.kv_x, dv, B * K, d_kv_x, true);
}

}  // namespace rembert::train
