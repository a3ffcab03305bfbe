#include "kernels/attention.h"

#include <algorithm>
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
  // Tasks are (batch row, head, block of query rows): a block's scores [kQueryBlock, kv_len] stay in the core's
  // cache from the product through the softmax to the product with v, and long sequences give every thread work.
  constexpr int64_t kQueryBlock = 128;
  const int64_t blocks = (s.q_len + kQueryBlock - 1) / kQueryBlock;
  const int64_t tasks = pairs * blocks;
  // Small problems stay on the calling thread (see kParallelMinWork in threads.h).
  const int64_t work = pairs * s.q_len * s.kv_len * s.head_dim;
#pragma omp parallel if (work >= (int64_t{1} << 21))
  {
    std::vector<float> scores(probs_out ? 0 : static_cast<size_t>(std::min(kQueryBlock, s.q_len) * s.kv_len));
#pragma omp for schedule(static)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t pair = task / blocks, q0 = (task % blocks) * kQueryBlock;
      const int64_t rows = std::min(kQueryBlock, s.q_len - q0);
      const int64_t b = pair / s.heads, h = pair % s.heads;
      const float* q_blk = q + (b * s.q_len + q0) * width + h * s.head_dim;
      const float* k_bh = k + b * batch_stride + h * head_stride;
      const float* v_bh = v + b * batch_stride + h * head_stride;
      float* p = probs_out ? probs_out + ((b * s.heads + h) * s.q_len + q0) * s.kv_len : scores.data();

      sgemm(true, rows, s.kv_len, s.head_dim, 1.0f, q_blk, width, k_bh, pos_stride, 0.0f, p, s.kv_len);
      const float* mask_blk = mask ? mask + (b * s.q_len + q0) * s.kv_len : nullptr;
      scaled_masked_softmax_rows(p, rows, s.kv_len, inv_sqrt_d, mask_blk, head_scale ? head_scale[h] : 1.0f);
      float* ctx_blk = context + (b * s.q_len + q0) * width + h * s.head_dim;
      sgemm(false, rows, s.head_dim, s.kv_len, 1.0f, p, s.kv_len, v_bh, pos_stride, 0.0f, ctx_blk, width);
    }
  }
}

}  // namespace rembert::kernels
