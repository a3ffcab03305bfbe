#include "kernels/attention.h"

#include <cmath>
#include <vector>

#include "kernels/gemm.h"
#include "kernels/ops.h"

namespace rembert::kernels {

void attention(const AttentionShape& s, const float* q, const float* k, const float* v, const float* mask,
               const float* head_scale, float* context, float* probs_out) {
  const int64_t width = s.heads * s.head_dim;
  // transformers divides the scores by sqrt(head_dim) after the product; so do we, for the same rounding.
  const float inv_sqrt_d = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
  const int64_t pairs = s.batch * s.heads;
  const int64_t pos_stride = s.kv_pos_stride ? s.kv_pos_stride : s.head_dim;
  const int64_t head_stride = s.kv_head_stride ? s.kv_head_stride : s.kv_len * s.head_dim;
  const int64_t batch_stride =
      s.kv_batch_stride ? s.kv_batch_stride : (s.kv_pos_stride ? s.kv_len * s.kv_pos_stride : s.heads * head_stride);
  // Small problems stay on the calling thread (see kParallelMinWork in gemm.cc).
  const int64_t work = pairs * s.q_len * s.kv_len * s.head_dim;
#pragma omp parallel if (work >= (int64_t{1} << 21))
  {
    std::vector<float> scores(static_cast<size_t>(s.q_len * s.kv_len));
#pragma omp for schedule(static)
    for (int64_t pair = 0; pair < pairs; ++pair) {
      const int64_t b = pair / s.heads;
      const int64_t h = pair % s.heads;
      const float* q_bh = q + b * s.q_len * width + h * s.head_dim;
      const float* k_bh = k + b * batch_stride + h * head_stride;
      const float* v_bh = v + b * batch_stride + h * head_stride;
      float* p = probs_out ? probs_out + (b * s.heads + h) * s.q_len * s.kv_len : scores.data();

      sgemm(true, s.q_len, s.kv_len, s.head_dim, 1.0f, q_bh, width, k_bh, pos_stride, 0.0f, p, s.kv_len);
      const float* mask_b = mask ? mask + b * s.q_len * s.kv_len : nullptr;
      for (int64_t i = 0; i < s.q_len * s.kv_len; ++i) {
        p[i] = p[i] * inv_sqrt_d + (mask_b ? mask_b[i] : 0.0f);
      }
      softmax_rows(p, s.q_len, s.kv_len);
      if (head_scale) {
        const float scale = head_scale[h];
        for (int64_t i = 0; i < s.q_len * s.kv_len; ++i) p[i] *= scale;
      }
      float* ctx_bh = context + b * s.q_len * width + h * s.head_dim;
      sgemm(false, s.q_len, s.head_dim, s.kv_len, 1.0f, p, s.kv_len, v_bh, pos_stride, 0.0f, ctx_bh, width);
    }
  }
}

}  // namespace rembert::kernels
