// text-classification (SPEC §4.2): sequence classification logits -> sigmoid / softmax / none -> labels.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "pipelines/common.h"
#include "rembert/error.h"
#include "rembert/pipelines.h"

namespace rembert {

ClassificationFunction classification_function_from_name(const std::string& name) {
  if (name == "sigmoid") return ClassificationFunction::Sigmoid;
  if (name == "softmax") return ClassificationFunction::Softmax;
  if (name == "none") return ClassificationFunction::None;
  throw Error("unknown function_to_apply \"" + name + "\" (expected sigmoid, softmax or none)");
}

namespace {

// transformers' default, checked in this order.
ClassificationFunction default_function(const RemBertConfig& c) {
  if (c.problem_type == "regression") return ClassificationFunction::None;
  if (c.problem_type == "multi_label_classification" || c.num_labels() == 1) return ClassificationFunction::Sigmoid;
  if (c.problem_type == "single_label_classification" || c.num_labels() > 1) return ClassificationFunction::Softmax;
  auto it = c.extra_json.find("function_to_apply");
  if (it != c.extra_json.end() && it->second.size() > 2) {
    return classification_function_from_name(it->second.substr(1, it->second.size() - 2));
  }
  return ClassificationFunction::None;
}

}  // namespace

std::vector<LabelScore> text_classification(const PipelineModel& pm, const std::string& text,
                                            const std::string* text_pair, const TextClassificationOptions& options) {
  const RemBertConfig& c = pm.model->config();
  if (pm.model->head() != HeadType::SequenceClassification) {
    throw Error(std::string("text-classification needs RemBertForSequenceClassification, the model is ") +
                head_class_name(pm.model->head()));
  }
  EncodeOptions eo;
  eo.max_length = options.max_length;
  if (options.truncation) eo.truncation = Truncation::LongestFirst;
  const Encoding enc = pm.tokenizer->encode(text, text_pair, eo);
  ForwardInputs in = pipelines::inputs_of(enc);
  const Tensor logits = pm.forward(in).logits;
  const int64_t L = logits.dim(1);
  const float* x = logits.data<float>();

  ClassificationFunction fn = options.function_to_apply;
  if (fn == ClassificationFunction::Default) fn = default_function(c);
  std::vector<float> scores(x, x + L);
  if (fn == ClassificationFunction::Sigmoid) {
    for (float& v : scores) v = 1.0f / (1.0f + std::exp(-v));
  } else if (fn == ClassificationFunction::Softmax) {
    scores = pipelines::softmax_f32(x, L);
  }

  auto label_of = [&](int64_t i) {
    auto it = c.id2label.find(i);
    return it != c.id2label.end() ? it->second : "LABEL_" + std::to_string(i);
  };
  std::vector<int64_t> order(static_cast<size_t>(L));
  std::iota(order.begin(), order.end(), 0);
  // numpy argsort of -scores is stable enough: ties keep label order.
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return scores[static_cast<size_t>(a)] > scores[static_cast<size_t>(b)]; });
  size_t keep = order.size();
  if (!options.top_k) {
    keep = 1;  // legacy: the best label only
  } else if (*options.top_k > 0) {
    keep = std::min(keep, static_cast<size_t>(*options.top_k));
  } else if (*options.top_k < 0) {
    throw Error("text-classification: top_k must be positive (or 0 for all labels)");
  }
  std::vector<LabelScore> result;
  for (size_t i = 0; i < keep; ++i) {
    result.push_back(LabelScore{label_of(order[i]), static_cast<double>(scores[static_cast<size_t>(order[i])])});
  }
  return result;
}

std::string to_json(const std::vector<LabelScore>& result) {
  std::string s = "[";
  for (size_t i = 0; i < result.size(); ++i) {
    s += (i ? ", " : "") + std::string("{\"label\": ") + pipelines::json_string(result[i].label) +
         ", \"score\": " + pipelines::json_number(result[i].score) + "}";
  }
  return s + "]";
}

}  // namespace rembert
