// The routes of text-embeddings-inference: /embed, /embed_all, /v1/embeddings (OpenAI), /predict, /rerank,
// /tokenize, /decode.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <numeric>

#include "app.h"
#include "pipelines/common.h"

namespace rembert::server {

namespace {

void l2_normalize(std::vector<float>& v) {
  double sq = 0;
  for (float x : v) sq += static_cast<double>(x) * x;
  const auto inv = static_cast<float>(1.0 / std::max(std::sqrt(sq), 1e-12));
  for (float& x : v) x *= inv;
}

}  // namespace

std::vector<std::vector<float>> App::embed(const json& body, const char* key, bool normalize, int64_t* tokens) {
  auto it = body.find(key);
  const std::vector<EmbedInput> inputs = parse_embed_inputs(it == body.end() ? json() : *it, key);
  const bool truncate = truncate_of(body);
  const Side side = side_of(body);
  Reduce reduce = pooling_;
  if (const auto p = get_string(body, "pooling")) {
    if (*p == "cls") {
      reduce = Reduce::Cls;
    } else if (*p == "mean") {
      reduce = Reduce::Mean;
    } else {
      invalid("`pooling` must be \"cls\" or \"mean\", got \"" + *p + "\"");
    }
  }
  const int64_t H = pm_.model->config().hidden_size;
  const std::optional<int64_t> dimensions = get_int(body, "dimensions");
  if (dimensions && (*dimensions < 1 || *dimensions > H)) {
    invalid("`dimensions` must be between 1 and " + std::to_string(H) + ", got " + std::to_string(*dimensions));
  }
  std::vector<Sequence> sequences;
  for (const EmbedInput& in : inputs) {
    Encoded e = in.is_ids ? encode_ids(in.ids, truncate, side) : encode(in.text, nullptr, truncate, side);
    if (tokens) *tokens += static_cast<int64_t>(e.ids.size());
    sequences.push_back(Sequence{std::move(e.ids), std::move(e.types), reduce, {}, {}});
  }
  std::vector<Sequence> done = run_sequences(std::move(sequences));
  std::vector<std::vector<float>> out;
  for (Sequence& s : done) {
    if (dimensions) s.values.resize(static_cast<size_t>(*dimensions));
    if (normalize) l2_normalize(s.values);
    out.push_back(std::move(s.values));
  }
  return out;
}

void App::handle_embed(const httplib::Request& req, httplib::Response& res) {
  require_head("/embed");
  const json body = parse_body(req.body);
  const bool normalize = get_bool(body, "normalize", true);
  const auto vectors = embed(body, "inputs", normalize, nullptr);
  std::string out = "[";
  for (size_t i = 0; i < vectors.size(); ++i) {
    if (i) out += ',';
    append_floats(out, vectors[i].data(), vectors[i].size());
  }
  out += ']';
  res.set_content(out, "application/json");
}

void App::handle_embed_all(const httplib::Request& req, httplib::Response& res) {
  require_head("/embed_all");
  const json body = parse_body(req.body);
  auto it = body.find("inputs");
  const std::vector<EmbedInput> inputs = parse_embed_inputs(it == body.end() ? json() : *it, "inputs");
  const bool truncate = truncate_of(body);
  const Side side = side_of(body);
  std::vector<Sequence> sequences;
  for (const EmbedInput& in : inputs) {
    Encoded e = in.is_ids ? encode_ids(in.ids, truncate, side) : encode(in.text, nullptr, truncate, side);
    sequences.push_back(Sequence{std::move(e.ids), std::move(e.types), Reduce::AllTokens, {}, {}});
  }
  const std::vector<Sequence> done = run_sequences(std::move(sequences));
  const auto H = static_cast<size_t>(pm_.model->config().hidden_size);
  std::string out = "[";
  for (size_t i = 0; i < done.size(); ++i) {
    if (i) out += ',';
    out += '[';
    const size_t n = done[i].input_ids.size();
    for (size_t t = 0; t < n; ++t) {
      if (t) out += ',';
      append_floats(out, done[i].values.data() + t * H, H);
    }
    out += ']';
  }
  out += ']';
  res.set_content(out, "application/json");
}

void App::handle_openai(const httplib::Request& req, httplib::Response& res) {
  require_head("/v1/embeddings");
  const json body = parse_body(req.body);
  const std::string format = get_string(body, "encoding_format").value_or("float");
  if (format != "float" && format != "base64") {
    invalid("`encoding_format` must be \"float\" or \"base64\", got \"" + format + "\"");
  }
  get_string(body, "model");  // accepted and ignored (one model is served), but must be a string when given
  get_string(body, "user");
  int64_t tokens = 0;
  const auto vectors = embed(body, "input", true, &tokens);
  std::string out = "{\"object\":\"list\",\"data\":[";
  for (size_t i = 0; i < vectors.size(); ++i) {
    if (i) out += ',';
    out += "{\"object\":\"embedding\",\"embedding\":";
    if (format == "base64") {
      // Little-endian float32 bytes, as OpenAI sends them (this server only runs on little-endian machines).
      out += '"' + base64_encode(vectors[i].data(), vectors[i].size() * sizeof(float)) + '"';
    } else {
      append_floats(out, vectors[i].data(), vectors[i].size());
    }
    out += ",\"index\":" + std::to_string(i) + "}";
  }
  out += "],\"model\":" + quote(o_.model) + ",\"usage\":{\"prompt_tokens\":" + std::to_string(tokens) +
         ",\"total_tokens\":" + std::to_string(tokens) + "}}";
  res.set_content(out, "application/json");
}

void App::handle_predict(const httplib::Request& req, httplib::Response& res) {
  require_head("/predict");
  const json body = parse_body(req.body);
  const bool truncate = truncate_of(body);
  const Side side = side_of(body);
  const bool raw_scores = get_bool(body, "raw_scores", false);
  auto it = body.find("inputs");
  if (it == body.end() || it->is_null()) invalid("`inputs` is required");
  const json& inputs = *it;
  // TEI's forms: "text", ["text", "pair"] (one pair), [["text"], ["text", "pair"], ...] (a batch).
  struct Item {
    std::string text, pair;
    bool has_pair = false;
  };
  std::vector<Item> items;
  bool batch = false;
  auto item_of = [&](const json& v) {
    if (!v.is_array() || v.empty() || v.size() > 2 || !v[0].is_string() || (v.size() == 2 && !v[1].is_string())) {
      invalid("`inputs`: a batch must hold lists of one string or of two strings (a pair)");
    }
    return Item{v[0].get<std::string>(), v.size() == 2 ? v[1].get<std::string>() : "", v.size() == 2};
  };
  if (inputs.is_string()) {
    items.push_back(Item{inputs.get<std::string>(), "", false});
  } else if (inputs.is_array() && !inputs.empty() && inputs[0].is_string()) {
    items.push_back(item_of(inputs));
  } else if (inputs.is_array() && !inputs.empty()) {
    batch = true;
    for (const json& v : inputs) items.push_back(item_of(v));
  } else if (inputs.is_array()) {
    invalid("`inputs` cannot be empty");
  } else {
    invalid("`inputs` must be a string, a pair [string, string] or a batch [[string], [string, string], ...], got " +
            type_name(inputs));
  }
  check_batch_size(items.size());
  std::vector<Sequence> sequences;
  for (const Item& item : items) {
    Encoded e = encode(item.text, item.has_pair ? &item.pair : nullptr, truncate, side);
    sequences.push_back(Sequence{std::move(e.ids), std::move(e.types), Reduce::Logits, {}, {}});
  }
  const std::vector<Sequence> done = run_sequences(std::move(sequences));
  const RemBertConfig& c = pm_.model->config();
  std::string out = batch ? "[" : "";
  for (size_t i = 0; i < done.size(); ++i) {
    std::vector<float> scores = done[i].values;
    if (!raw_scores) {
      if (scores.size() == 1) {
        scores[0] = 1.0f / (1.0f + std::exp(-scores[0]));
      } else {
        const float max = *std::max_element(scores.begin(), scores.end());
        float sum = 0;
        for (float& s : scores) sum += (s = std::exp(s - max));
        for (float& s : scores) s /= sum;
      }
    }
    std::vector<size_t> order(scores.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
    if (i) out += ',';
    out += '[';
    for (size_t k = 0; k < order.size(); ++k) {
      if (k) out += ',';
      auto label = c.id2label.find(static_cast<int64_t>(order[k]));
      out += "{\"score\":";
      append_float(out, scores[order[k]]);
      out += ",\"label\":" + quote(label != c.id2label.end() ? label->second : "LABEL_" + std::to_string(order[k])) + "}";
    }
    out += ']';
  }
  if (batch) out += ']';
  res.set_content(out, "application/json");
}

void App::handle_rerank(const httplib::Request& req, httplib::Response& res) {
  require_head("/rerank");
  const json body = parse_body(req.body);
  const auto query = get_string(body, "query");
  if (!query) invalid("`query` is required");
  auto it = body.find("texts");
  if (it == body.end() || it->is_null()) invalid("`texts` is required");
  if (!it->is_array()) invalid("`texts` must be a list of strings, got " + type_name(*it));
  if (it->empty()) invalid("`texts` cannot be empty");
  std::vector<std::string> texts;
  for (const json& t : *it) {
    if (!t.is_string()) invalid("`texts` must hold strings only, got " + type_name(t));
    texts.push_back(t.get<std::string>());
  }
  check_batch_size(texts.size());
  const bool truncate = truncate_of(body);
  const Side side = side_of(body);
  const bool raw_scores = get_bool(body, "raw_scores", false);
  const bool return_text = get_bool(body, "return_text", false);
  std::vector<Sequence> sequences;
  for (const std::string& text : texts) {
    Encoded e = encode(*query, &text, truncate, side);
    sequences.push_back(Sequence{std::move(e.ids), std::move(e.types), Reduce::Logits, {}, {}});
  }
  const std::vector<Sequence> done = run_sequences(std::move(sequences));
  std::vector<float> scores;
  for (const Sequence& s : done) {
    const float logit = s.values.at(0);
    scores.push_back(raw_scores ? logit : 1.0f / (1.0f + std::exp(-logit)));
  }
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  std::string out = "[";
  for (size_t k = 0; k < order.size(); ++k) {
    if (k) out += ',';
    out += "{\"index\":" + std::to_string(order[k]);
    if (return_text) out += ",\"text\":" + quote(texts[order[k]]);
    out += ",\"score\":";
    append_float(out, scores[order[k]]);
    out += '}';
  }
  out += ']';
  res.set_content(out, "application/json");
}

void App::handle_tokenize(const httplib::Request& req, httplib::Response& res) {
  const json body = parse_body(req.body);
  bool single = false;
  const std::vector<std::string> texts = texts_of(body, single);
  check_batch_size(texts.size());
  const bool add_special = get_bool(body, "add_special_tokens", true);
  const std::vector<int64_t>& special_ids = pm_.tokenizer->all_special_ids();
  ojson out = ojson::array();
  for (const std::string& text : texts) {
    // No length limit here: tokenizing is how a client finds out how long its text is.
    EncodeOptions eo;
    eo.add_special_tokens = add_special;
    Encoding enc;
    try {
      enc = pm_.tokenizer->encode(text, nullptr, eo);
    } catch (const std::exception& e) {
      fail(422, "Tokenizer", e.what());
    }
    ojson tokens = ojson::array();
    for (size_t i = 0; i < enc.input_ids.size(); ++i) {
      const int64_t id = enc.input_ids[i];
      const bool special = std::find(special_ids.begin(), special_ids.end(), id) != special_ids.end();
      ojson token = {{"id", id}, {"text", i < enc.tokens.size() ? enc.tokens[i] : ""}, {"special", special},
                    {"start", nullptr}, {"stop", nullptr}};
      if (!special && i < enc.offsets.size()) {
        // TEI: byte offsets into the input, and the text between them.
        const size_t start = pipelines::byte_offset_of_code_point(text, enc.offsets[i].first);
        const size_t stop = pipelines::byte_offset_of_code_point(text, enc.offsets[i].second);
        token["start"] = start;
        token["stop"] = stop;
        token["text"] = text.substr(start, stop >= start ? stop - start : 0);
      }
      tokens.push_back(std::move(token));
    }
    out.push_back(std::move(tokens));
  }
  res.set_content(dump(out), "application/json");
}

void App::handle_decode(const httplib::Request& req, httplib::Response& res) {
  const json body = parse_body(req.body);
  auto it = body.find("ids");
  if (it == body.end() || it->is_null()) invalid("`ids` is required");
  if (!it->is_array()) invalid("`ids` must be a list of token ids or a list of lists, got " + type_name(*it));
  std::vector<std::vector<int64_t>> lists;
  auto ids_of = [&](const json& list) {
    std::vector<int64_t> ids;
    for (const json& v : list) {
      if (!v.is_number_integer() && !v.is_number_unsigned()) invalid("`ids` must hold integers only, got " + type_name(v));
      if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) invalid("token id too large");
      ids.push_back(v.get<int64_t>());
    }
    return ids;
  };
  if (!it->empty() && (*it)[0].is_array()) {
    for (const json& list : *it) {
      if (!list.is_array()) invalid("`ids`: a batch must hold lists of token ids only, got " + type_name(list));
      lists.push_back(ids_of(list));
    }
  } else {
    lists.push_back(ids_of(*it));
  }
  check_batch_size(lists.size());
  DecodeOptions d;
  d.skip_special_tokens = get_bool(body, "skip_special_tokens", true);
  const int64_t vocab = pm_.tokenizer->size();
  json out = json::array();
  for (const auto& ids : lists) {
    for (int64_t id : ids) {
      if (id < 0 || id >= std::max(vocab, pm_.tokenizer->vocab_size())) {
        fail(422, "Tokenizer", "token id " + std::to_string(id) + " is outside the vocabulary");
      }
    }
    try {
      out.push_back(pm_.tokenizer->decode(ids, d));
    } catch (const std::exception& e) {
      fail(422, "Tokenizer", e.what());
    }
  }
  res.set_content(dump(out), "application/json");
}

}  // namespace rembert::server
