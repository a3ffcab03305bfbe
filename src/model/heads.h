// The heads on top of the encoder (SPEC §2.6-2.10): logits and, given labels, the loss.
#pragma once

#include <cstdint>

#include "model/model_impl.h"
#include "rembert/model.h"

namespace rembert::model {

// Fills out's head outputs (and loss) from the encoder's `sequence` [B, S, H] and `pooled` [B, H]. `raw` is the
// call's input as given (multiple choice: [batch, choices, ...]), `in` the flattened one.
void compute_head(const Model::Impl& m, const ForwardInputs& raw, const ForwardInputs& in, int64_t B, int64_t S,
                  const Tensor& sequence, const Tensor& pooled, ForwardOutputs& out);

}  // namespace rembert::model
