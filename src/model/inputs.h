// The checks of the token inputs that every forward call makes, inference (Model::forward) and training
// (TrainableModel::forward_backward) alike.
#pragma once

#include <cstdint>

#include "rembert/config.h"
#include "rembert/model.h"

namespace rembert::model {

// Multiple choice: input_ids, attention_mask, token_type_ids, position_ids and inputs_embeds from [B, C, ...] to
// [B*C, ...] (SPEC §2.9).
void flatten_choice_inputs(ForwardInputs& in);

struct BatchShape {
  int64_t batch = 0, seq = 0;
};
// B and S of input_ids [B, S] or inputs_embeds [B, S, input_embedding_size] (a float tensor), after
// flatten_choice_inputs; Error when neither or both are given, a shape is wrong (`given`: the caller's inputs, for
// the message) or the sequence is empty.
BatchShape batch_shape(const ForwardInputs& in, const ForwardInputs& given, const RemBertConfig& c,
                       bool multiple_choice);

}  // namespace rembert::model
