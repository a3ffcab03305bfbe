// Evaluation during and after training: the eval file through the inference model, with the metrics users know
// for each task (transformers' example scripts): accuracy and macro-F1, seqeval entity F1, SQuAD EM/F1, perplexity.
#pragma once

#include <map>
#include <string>

#include "rembert/model.h"
#include "train/data.h"

namespace rembert::train {

// eval_loss plus: text-classification accuracy, macro_f1 (single label) / mse (regression);
// token-classification precision, recall, f1, accuracy (seqeval); question-answering exact_match, f1 (SQuAD);
// multiple-choice accuracy; fill-mask and causal-lm perplexity. `seed` fixes fill-mask's masking.
std::map<std::string, double> evaluate(const Model& model, const Dataset& data, int64_t batch_size,
                                       int64_t pad_token_id, int64_t mask_token_id, double mlm_probability,
                                       uint64_t seed);

}  // namespace rembert::train
