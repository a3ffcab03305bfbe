// The training losses of the RemBERT heads (SPEC §2.10), over float32 logits.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rembert/tensor.h"

namespace rembert::model {

// Mean cross-entropy of logits [rows, classes] against integer targets; targets equal to `ignore_index` drop out.
// NaN when every target is ignored (as PyTorch's mean over nothing). `what` names the labels in errors.
float cross_entropy(const float* logits, int64_t rows, int64_t classes, const std::vector<int64_t>& targets,
                    int64_t ignore_index, const std::string& what);

// Mean squared error between equally long vectors.
float mse(const std::vector<float>& predictions, const std::vector<float>& targets);

// Mean binary cross-entropy with logits.
float bce_with_logits(const std::vector<float>& logits, const std::vector<float>& targets);

// The gradients of the losses above with respect to their inputs, times `scale`, written to d_* (same layout as
// the inputs; ignored rows get 0).
void cross_entropy_backward(const float* logits, int64_t rows, int64_t classes, const std::vector<int64_t>& targets,
                            int64_t ignore_index, float scale, float* d_logits);
void mse_backward(const std::vector<float>& predictions, const std::vector<float>& targets, float scale,
                  float* d_predictions);
void bce_with_logits_backward(const std::vector<float>& logits, const std::vector<float>& targets, float scale,
                              float* d_logits);

}  // namespace rembert::model
