// The heads on top of the encoder (SPEC §2.6-2.10): logits and, given labels, the loss.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/model_impl.h"
#include "rembert/model.h"

namespace rembert::model {

// Fills out's head outputs (and loss) from the encoder's `sequence` [B, S, H] and `pooled` [B, H]. `raw` is the
// call's input as given (multiple choice: [batch, choices, ...]), `in` the flattened one.
void compute_head(const Model::Impl& m, const ForwardInputs& raw, const ForwardInputs& in, int64_t B, int64_t S,
                  const Tensor& sequence, const Tensor& pooled, ForwardOutputs& out);

// The loss rules the forward and the training backward share (SPEC §2.10).
// config.problem_type, or the one transformers infers from the label count and the labels' dtype.
std::string sequence_classification_problem(const RemBertConfig& c, int64_t num_labels, const Tensor& labels);
// Labels of any integer or float dtype as floats (regression and multi-label targets).
std::vector<float> float_labels(const Tensor& labels);
// The sequence-classification loss of logits [B, num_labels] (its shape checks name `labels`).
Tensor sequence_classification_loss(const RemBertConfig& c, const Tensor& logits, const Tensor& labels);
// Question answering's start/end positions clamped to [0, S]; S is then ignored by the loss.
std::vector<int64_t> clamped_positions(const Tensor& t, int64_t B, int64_t S, const char* name);
// Causal LM: position t is scored against label t+1; the last position of each row against nothing (-100).
std::vector<int64_t> shifted_labels(const std::vector<int64_t>& labels, int64_t B, int64_t S);

}  // namespace rembert::model
