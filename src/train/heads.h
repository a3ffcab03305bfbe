// The six heads of RemBERT in train mode: logits, the loss and its gradient, and the backward into the encoder's
// outputs (the loss rules are model/heads.h's, shared with the forward).
#pragma once

#include <cstdint>
#include <vector>

#include "model/params.h"
#include "rembert/model.h"
#include "train/modules.h"

namespace rembert::train {

struct HeadSaved {
  std::vector<float> lm_pre_activation;  // masked/causal LM: dense output before the activation [rows, O]
  LayerNormSaved lm_norm;
  std::vector<float> lm_normed;          // the decoder's input [rows, O]
  std::vector<float> classifier_input;   // after dropout: pooled [B, H] or sequence [B*S, H]
  std::vector<uint8_t> keep;
  std::vector<float> d_logits;           // loss_scale * d loss / d logits, the logits' layout (QA: [B*S, 2])
  std::vector<int64_t> labelled_rows;    // LM: the rows whose label counts (the others have zero gradient)
};

struct HeadOutputs {
  Tensor loss, logits, start_logits, end_logits;
};

// `in`: the flattened inputs (multiple choice [B*C, ...]); `batch`/`choices` the multiple-choice shape (else B, 1).
// sequence [B*S, H], pooled [B, H] or null. With want_grad, also d_logits (a loss is then required).
HeadOutputs head_forward(const model::Params& p, const RemBertConfig& c, HeadType head, kernels::Activation act,
                         const ForwardInputs& in, int64_t B, int64_t S, int64_t choices, const float* sequence,
                         const float* pooled, DropoutStream& dropout, bool want_grad, float loss_scale,
                         HeadSaved& saved);
// Adds to d_sequence [B*S, H] and writes d_pooled [B, H] (when the head reads the pooled output).
void head_backward(const model::Params& p, model::Params& grads, const RemBertConfig& c, HeadType head,
                   kernels::Activation act, const HeadSaved& saved, int64_t B, int64_t S, const float* sequence,
                   float* d_sequence, float* d_pooled);

// True when the head reads the pooler's output (sequence classification, multiple choice).
bool head_reads_pooled(HeadType head);

}  // namespace rembert::train
