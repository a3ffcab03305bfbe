#include "schemas.h"

#include <algorithm>
#include <cctype>
#include <cstdint>

namespace rembert::server {

namespace {

bool truncate_of(const json& body, const RequestLimits& limits) {
  return get_bool(body, "truncate", limits.auto_truncate);
}

Side side_of(const json& body) {
  const auto v = get_string(body, "truncation_direction");
  if (!v) return Side::Right;
  std::string s = *v;
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  if (s == "right") return Side::Right;
  if (s == "left") return Side::Left;
  invalid("`truncation_direction` must be \"Right\" or \"Left\", got \"" + *v + "\"");
}

// A list of token ids; `what` names the field in messages.
std::vector<int64_t> ids_of(const json& list, const std::string& what) {
  std::vector<int64_t> ids;
  for (const json& v : list) {
    if (!v.is_number_integer() && !v.is_number_unsigned()) {
      invalid(what + " must hold integers only, got " + type_name(v));
    }
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) invalid("token id too large");
    ids.push_back(v.get<int64_t>());
  }
  return ids;
}

const json& field_or_null(const json& body, const char* key) {
  static const json null;
  auto it = body.find(key);
  return it == body.end() ? null : *it;
}

EmbedAllRequest parse_embed_common(const json& body, const char* key, const RequestLimits& limits) {
  EmbedAllRequest r;
  r.inputs = parse_embed_inputs(field_or_null(body, key), key, limits);
  r.truncate = truncate_of(body, limits);
  r.side = side_of(body);
  return r;
}

// The part /embed and /v1/embeddings share after their own fields.
void parse_pooling_and_dimensions(const json& body, const RequestLimits& limits, EmbedRequest& r) {
  r.pooling = limits.pooling;
  if (const auto p = get_string(body, "pooling")) {
    if (*p == "cls") {
      r.pooling = Reduce::Cls;
    } else if (*p == "mean") {
      r.pooling = Reduce::Mean;
    } else {
      invalid("`pooling` must be \"cls\" or \"mean\", got \"" + *p + "\"");
    }
  }
  r.dimensions = get_int(body, "dimensions");
  if (r.dimensions && (*r.dimensions < 1 || *r.dimensions > limits.hidden_size)) {
    invalid("`dimensions` must be between 1 and " + std::to_string(limits.hidden_size) + ", got " +
            std::to_string(*r.dimensions));
  }
}

}  // namespace

void check_batch_size(size_t n, const RequestLimits& limits) {
  if (n == 0) invalid("`inputs` cannot be empty");
  if (static_cast<int64_t>(n) > limits.max_client_batch_size) {
    invalid("batch size " + std::to_string(n) + " > maximum allowed batch size " +
            std::to_string(limits.max_client_batch_size));
  }
}

std::vector<EmbedInput> parse_embed_inputs(const json& value, const char* key, const RequestLimits& limits) {
  const std::string ids_field = std::string("`") + key + "`: a list of token ids";
  std::vector<EmbedInput> inputs;
  if (value.is_string()) {
    inputs.push_back(EmbedInput{false, value.get<std::string>(), {}});
  } else if (value.is_array()) {
    if (value.empty()) invalid(std::string("`") + key + "` cannot be empty");
    if (value[0].is_number()) {
      inputs.push_back(EmbedInput{true, "", ids_of(value, ids_field)});  // one list of token ids
    } else {
      for (const json& item : value) {
        if (item.is_string()) {
          inputs.push_back(EmbedInput{false, item.get<std::string>(), {}});
        } else if (item.is_array()) {
          inputs.push_back(EmbedInput{true, "", ids_of(item, ids_field)});
        } else {
          invalid(std::string("`") + key + "` items must be strings or lists of token ids, got " + type_name(item));
        }
      }
    }
  } else if (value.is_null()) {
    invalid(std::string("`") + key + "` is required");
  } else {
    invalid(std::string("`") + key + "` must be a string, a list of strings or token ids, got " + type_name(value));
  }
  check_batch_size(inputs.size(), limits);
  return inputs;
}

EmbedAllRequest parse_embed_all_request(const json& body, const RequestLimits& limits) {
  return parse_embed_common(body, "inputs", limits);
}

EmbedRequest parse_embed_request(const json& body, const RequestLimits& limits) {
  EmbedRequest r;
  r.normalize = get_bool(body, "normalize", true);
  r.common = parse_embed_common(body, "inputs", limits);
  parse_pooling_and_dimensions(body, limits, r);
  return r;
}

EmbedRequest parse_openai_request(const json& body, const RequestLimits& limits) {
  EmbedRequest r;
  const std::string format = get_string(body, "encoding_format").value_or("float");
  if (format != "float" && format != "base64") {
    invalid("`encoding_format` must be \"float\" or \"base64\", got \"" + format + "\"");
  }
  r.base64 = format == "base64";
  get_string(body, "model");  // accepted and ignored (one model is served), but must be a string when given
  get_string(body, "user");
  r.normalize = true;
  r.common = parse_embed_common(body, "input", limits);
  parse_pooling_and_dimensions(body, limits, r);
  return r;
}

PredictRequest parse_predict_request(const json& body, const RequestLimits& limits) {
  PredictRequest r;
  r.truncate = truncate_of(body, limits);
  r.side = side_of(body);
  r.raw_scores = get_bool(body, "raw_scores", false);
  auto it = body.find("inputs");
  if (it == body.end() || it->is_null()) invalid("`inputs` is required");
  const json& inputs = *it;
  auto item_of = [&](const json& v) {
    if (!v.is_array() || v.empty() || v.size() > 2 || !v[0].is_string() || (v.size() == 2 && !v[1].is_string())) {
      invalid("`inputs`: a batch must hold lists of one string or of two strings (a pair)");
    }
    return PredictItem{v[0].get<std::string>(), v.size() == 2 ? v[1].get<std::string>() : "", v.size() == 2};
  };
  if (inputs.is_string()) {
    r.items.push_back(PredictItem{inputs.get<std::string>(), "", false});
  } else if (inputs.is_array() && !inputs.empty() && inputs[0].is_string()) {
    r.items.push_back(item_of(inputs));
  } else if (inputs.is_array() && !inputs.empty()) {
    r.batch = true;
    for (const json& v : inputs) r.items.push_back(item_of(v));
  } else if (inputs.is_array()) {
    invalid("`inputs` cannot be empty");
  } else {
    invalid("`inputs` must be a string, a pair [string, string] or a batch [[string], [string, string], ...], got " +
            type_name(inputs));
  }
  check_batch_size(r.items.size(), limits);
  return r;
}

RerankRequest parse_rerank_request(const json& body, const RequestLimits& limits) {
  RerankRequest r;
  const auto query = get_string(body, "query");
  if (!query) invalid("`query` is required");
  r.query = *query;
  auto it = body.find("texts");
  if (it == body.end() || it->is_null()) invalid("`texts` is required");
  if (!it->is_array()) invalid("`texts` must be a list of strings, got " + type_name(*it));
  if (it->empty()) invalid("`texts` cannot be empty");
  for (const json& t : *it) {
    if (!t.is_string()) invalid("`texts` must hold strings only, got " + type_name(t));
    r.texts.push_back(t.get<std::string>());
  }
  check_batch_size(r.texts.size(), limits);
  r.truncate = truncate_of(body, limits);
  r.side = side_of(body);
  r.raw_scores = get_bool(body, "raw_scores", false);
  r.return_text = get_bool(body, "return_text", false);
  return r;
}

TokenizeRequest parse_tokenize_request(const json& body, const RequestLimits& limits) {
  TokenizeRequest r;
  r.texts = texts_of(body, r.single);
  check_batch_size(r.texts.size(), limits);
  r.add_special_tokens = get_bool(body, "add_special_tokens", true);
  return r;
}

DecodeRequest parse_decode_request(const json& body, const RequestLimits& limits) {
  DecodeRequest r;
  auto it = body.find("ids");
  if (it == body.end() || it->is_null()) invalid("`ids` is required");
  if (!it->is_array()) invalid("`ids` must be a list of token ids or a list of lists, got " + type_name(*it));
  if (!it->empty() && (*it)[0].is_array()) {
    for (const json& list : *it) {
      if (!list.is_array()) invalid("`ids`: a batch must hold lists of token ids only, got " + type_name(list));
      r.lists.push_back(ids_of(list, "`ids`"));
    }
  } else {
    r.lists.push_back(ids_of(*it, "`ids`"));
  }
  check_batch_size(r.lists.size(), limits);
  r.skip_special_tokens = get_bool(body, "skip_special_tokens", true);
  return r;
}

const json& parameters_of(const json& body) {
  static const json empty = json::object();
  auto it = body.find("parameters");
  if (it == body.end() || it->is_null()) return empty;
  if (!it->is_object()) invalid("`parameters` must be an object, got " + type_name(*it));
  return *it;
}

std::vector<std::string> texts_of(const json& body, bool& single) {
  auto it = body.find("inputs");
  if (it == body.end() || it->is_null()) invalid("`inputs` is required");
  std::vector<std::string> texts;
  single = it->is_string();
  if (single) {
    texts.push_back(it->get<std::string>());
  } else if (it->is_array()) {
    for (const json& t : *it) {
      if (!t.is_string()) invalid("`inputs` must hold strings only, got " + type_name(t));
      texts.push_back(t.get<std::string>());
    }
  } else {
    invalid("`inputs` must be a string or a list of strings, got " + type_name(*it));
  }
  return texts;
}

FillMaskRequest parse_fill_mask_request(const json& body, const RequestLimits& limits) {
  FillMaskRequest r;
  r.texts = texts_of(body, r.single);
  check_batch_size(r.texts.size(), limits);
  const json& p = parameters_of(body);
  if (const auto k = get_int(p, "top_k")) {
    if (*k < 1) invalid("`top_k` must be at least 1");
    r.options.top_k = *k;
  }
  if (const auto t = get_string_list(p, "targets")) {
    if (t->empty()) invalid("`targets` cannot be empty");
    r.options.targets = *t;
  }
  return r;
}

TokenClassificationRequest parse_token_classification_request(const json& body, const RequestLimits& limits) {
  TokenClassificationRequest r;
  r.texts = texts_of(body, r.single);
  check_batch_size(r.texts.size(), limits);
  const json& p = parameters_of(body);
  if (const auto a = get_string(p, "aggregation_strategy")) {
    r.options.aggregation_strategy = aggregation_strategy_from_name(*a);
  }
  if (const auto l = get_string_list(p, "ignore_labels")) r.options.ignore_labels = *l;
  if (const auto s = get_int(p, "stride")) {
    if (*s < 0) invalid("`stride` must not be negative");
    r.options.stride = *s;
  }
  return r;
}

QuestionAnsweringRequest parse_question_answering_request(const json& body, const RequestLimits& limits) {
  QuestionAnsweringRequest r;
  auto item_of = [](const json& v) {
    if (!v.is_object()) invalid("`inputs` must be {\"question\": ..., \"context\": ...}, got " + type_name(v));
    const auto q = get_string(v, "question");
    const auto c = get_string(v, "context");
    if (!q || !c) invalid("`inputs` needs both \"question\" and \"context\"");
    if (q->empty() || c->empty()) invalid("`question` and `context` cannot be empty");
    return QuestionAnsweringItem{*q, *c};
  };
  auto it = body.find("inputs");
  if (it != body.end() && it->is_array()) {
    r.single = false;
    for (const json& v : *it) r.items.push_back(item_of(v));
  } else if (it != body.end() && !it->is_null()) {
    r.items.push_back(item_of(*it));
  } else {
    r.items.push_back(item_of(body));  // {"question": ..., "context": ...} at the top level
  }
  check_batch_size(r.items.size(), limits);
  const json& p = parameters_of(body);
  QuestionAnsweringOptions& o = r.options;
  if (const auto v = get_int(p, "top_k")) o.top_k = *v;
  if (const auto v = get_int(p, "max_answer_len")) o.max_answer_len = *v;
  o.max_seq_len = get_int(p, "max_seq_len");
  o.doc_stride = get_int(p, "doc_stride");
  o.handle_impossible_answer = get_bool(p, "handle_impossible_answer", false);
  o.align_to_words = get_bool(p, "align_to_words", true);
  if (o.top_k < 1) invalid("`top_k` must be at least 1");
  if (o.max_answer_len < 1) invalid("`max_answer_len` must be at least 1");
  if (o.max_seq_len && (*o.max_seq_len < 1 || *o.max_seq_len > limits.max_input_length)) {
    invalid("`max_seq_len` must be between 1 and " + std::to_string(limits.max_input_length));
  }
  if (!o.max_seq_len) o.max_seq_len = std::min<int64_t>(384, limits.max_input_length);
  if (o.doc_stride && *o.doc_stride < 0) invalid("`doc_stride` must not be negative");
  return r;
}

GenerateRequest parse_generate_request(const json& body, const RequestLimits& /*limits*/, bool force_stream) {
  GenerateRequest r;
  const auto prompt = get_string(body, "inputs");
  if (!prompt) invalid("`inputs` is required (a string)");
  r.prompt = *prompt;
  r.stream = force_stream || get_bool(body, "stream", false);
  const json& p = parameters_of(body);
  GenerationOptions& o = r.options;
  o.max_new_tokens = get_int(p, "max_new_tokens");
  o.do_sample = get_bool(p, "do_sample", false);
  if (const auto v = get_number(p, "temperature")) o.temperature = *v;
  if (const auto v = get_int(p, "top_k")) o.top_k = *v;
  if (const auto v = get_number(p, "top_p")) o.top_p = *v;
  if (const auto v = get_int(p, "seed")) o.seed = static_cast<uint64_t>(*v);
  o.return_full_text = get_bool(p, "return_full_text", true);  // the pipeline's default
  if (o.max_new_tokens && *o.max_new_tokens < 1) invalid("`max_new_tokens` must be at least 1");
  if (o.temperature <= 0) invalid("`temperature` must be strictly positive");
  if (o.top_k < 0) invalid("`top_k` must not be negative");
  if (o.top_p <= 0 || o.top_p > 1) invalid("`top_p` must be in (0, 1]");
  return r;
}

}  // namespace rembert::server
