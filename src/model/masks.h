// The additive attention masks and head-mask multipliers of a forward call (SPEC §2.3).
#pragma once

#include <cstdint>
#include <vector>

#include "model/params.h"
#include "rembert/tensor.h"

namespace rembert::model {

// [B, S, P+S]: (1 - mask) * float min from a [B, P+S] or [B, S, P+S] mask (all visible when undefined), with the
// causal pattern (past always visible) for decoders.
Tensor self_attention_mask(const Tensor& mask, int64_t B, int64_t S, int64_t P, bool is_decoder);
// [B, S, S_enc] from encoder_attention_mask [B, S_enc] or [B, S, S_enc] (transformers' invert_attention_mask).
Tensor cross_attention_mask(const Tensor& mask, int64_t B, int64_t S, int64_t S_enc);
// head_mask [heads] or [layers, heads] -> one multiplier vector per layer; empty when undefined. transformers applies
// a layer's row to its self-attention and, when `cross_attention` runs, to its cross-attention too: the width must
// fit both (pruning shrinks self-attention only), else Error naming head_mask.
std::vector<std::vector<float>> head_scales(const Tensor& head_mask, const Params& p, bool cross_attention);

}  // namespace rembert::model
