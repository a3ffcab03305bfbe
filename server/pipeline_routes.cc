// The pipeline routes, in the HF Inference API form: /fill-mask, /token-classification, /question-answering. Each
// input runs the library's pipeline on an HTTP thread, its forwards batched with those of concurrent requests
// (PipelineModel::forward_fn -> Batcher::forward).
#include <algorithm>
#include <future>

#include "app.h"

namespace rembert::server {

template <class Input, class F>
void App::respond_each(const std::vector<Input>& inputs, bool single, httplib::Response& res, F&& result_json) {
  std::vector<std::future<std::string>> pending;
  for (size_t i = 1; i < inputs.size(); ++i) {
    pending.push_back(std::async(std::launch::async, [&result_json, &inputs, i] { return result_json(inputs[i]); }));
  }
  std::vector<std::string> results = {result_json(inputs.at(0))};  // the first on this thread
  for (auto& p : pending) results.push_back(p.get());
  if (single) {
    res.set_content(results.at(0), "application/json");
    return;
  }
  std::string list = "[";
  for (size_t i = 0; i < results.size(); ++i) list += (i ? ", " : "") + results[i];
  res.set_content(list + "]", "application/json");
}

void App::handle_fill_mask(const httplib::Request& req, httplib::Response& res) {
  require_head("/fill-mask");
  const json body = parse_body(req.body);
  bool single = false;
  const std::vector<std::string> texts = texts_of(body, single);
  check_batch_size(texts.size());
  const json& p = parameters_of(body);
  FillMaskOptions options;
  if (const auto k = get_int(p, "top_k")) {
    if (*k < 1) invalid("`top_k` must be at least 1");
    options.top_k = *k;
  }
  if (const auto t = get_string_list(p, "targets")) {
    if (t->empty()) invalid("`targets` cannot be empty");
    options.targets = *t;
  }
  for (const std::string& text : texts) encode(text, nullptr, false, Side::Right);  // length and tokenizer checks
  respond_each(texts, single, res, [&](const std::string& text) { return to_json(fill_mask(batched_, text, options)); });
}

void App::handle_token_classification(const httplib::Request& req, httplib::Response& res) {
  require_head("/token-classification");
  const json body = parse_body(req.body);
  bool single = false;
  const std::vector<std::string> texts = texts_of(body, single);
  check_batch_size(texts.size());
  const json& p = parameters_of(body);
  TokenClassificationOptions options;
  if (const auto a = get_string(p, "aggregation_strategy")) options.aggregation_strategy = aggregation_strategy_from_name(*a);
  if (const auto l = get_string_list(p, "ignore_labels")) options.ignore_labels = *l;
  if (const auto s = get_int(p, "stride")) {
    if (*s < 0) invalid("`stride` must not be negative");
    options.stride = *s;
  }
  if (options.stride == 0) {
    for (const std::string& text : texts) encode(text, nullptr, false, Side::Right);
  }
  respond_each(texts, single, res,
               [&](const std::string& text) { return to_json(token_classification(batched_, text, options)); });
}

void App::handle_question_answering(const httplib::Request& req, httplib::Response& res) {
  require_head("/question-answering");
  const json body = parse_body(req.body);
  struct Item {
    std::string question, context;
  };
  auto item_of = [](const json& v) {
    if (!v.is_object()) invalid("`inputs` must be {\"question\": ..., \"context\": ...}, got " + type_name(v));
    const auto q = get_string(v, "question");
    const auto c = get_string(v, "context");
    if (!q || !c) invalid("`inputs` needs both \"question\" and \"context\"");
    if (q->empty() || c->empty()) invalid("`question` and `context` cannot be empty");
    return Item{*q, *c};
  };
  std::vector<Item> items;
  bool single = true;
  auto it = body.find("inputs");
  if (it != body.end() && it->is_array()) {
    single = false;
    for (const json& v : *it) items.push_back(item_of(v));
  } else if (it != body.end() && !it->is_null()) {
    items.push_back(item_of(*it));
  } else {
    items.push_back(item_of(body));  // {"question": ..., "context": ...} at the top level
  }
  check_batch_size(items.size());
  const json& p = parameters_of(body);
  QuestionAnsweringOptions options;
  if (const auto v = get_int(p, "top_k")) options.top_k = *v;
  if (const auto v = get_int(p, "max_answer_len")) options.max_answer_len = *v;
  options.max_seq_len = get_int(p, "max_seq_len");
  options.doc_stride = get_int(p, "doc_stride");
  options.handle_impossible_answer = get_bool(p, "handle_impossible_answer", false);
  options.align_to_words = get_bool(p, "align_to_words", true);
  if (options.top_k < 1) invalid("`top_k` must be at least 1");
  if (options.max_answer_len < 1) invalid("`max_answer_len` must be at least 1");
  if (options.max_seq_len && (*options.max_seq_len < 1 || *options.max_seq_len > max_input_length_)) {
    invalid("`max_seq_len` must be between 1 and " + std::to_string(max_input_length_));
  }
  if (!options.max_seq_len) options.max_seq_len = std::min<int64_t>(384, max_input_length_);
  if (options.doc_stride && *options.doc_stride < 0) invalid("`doc_stride` must not be negative");
  respond_each(items, single, res, [&](const Item& item) {
    return to_json(question_answering(batched_, item.question, item.context, options), options.top_k == 1);
  });
}

}  // namespace rembert::server
