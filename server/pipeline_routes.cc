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
  const FillMaskRequest r = parse_fill_mask_request(parse_body(req.body), limits());
  for (const std::string& text : r.texts) encode(text, nullptr, false, Side::Right);  // length and tokenizer checks
  respond_each(r.texts, r.single, res,
               [&](const std::string& text) { return to_json(fill_mask(batched_, text, r.options)); });
}

void App::handle_token_classification(const httplib::Request& req, httplib::Response& res) {
  require_head("/token-classification");
  const TokenClassificationRequest r = parse_token_classification_request(parse_body(req.body), limits());
  if (r.options.stride == 0) {
    for (const std::string& text : r.texts) encode(text, nullptr, false, Side::Right);
  }
  respond_each(r.texts, r.single, res,
               [&](const std::string& text) { return to_json(token_classification(batched_, text, r.options)); });
}

void App::handle_question_answering(const httplib::Request& req, httplib::Response& res) {
  require_head("/question-answering");
  const QuestionAnsweringRequest r = parse_question_answering_request(parse_body(req.body), limits());
  respond_each(r.items, r.single, res, [&](const QuestionAnsweringItem& item) {
    return to_json(question_answering(batched_, item.question, item.context, r.options), r.options.top_k == 1);
  });
}

}  // namespace rembert::server
