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

std::vector<std::vector<float>> App::embed(const EmbedRequest& r, int64_t* tokens) {
  std::vector<Sequence> sequences;
  for (const EmbedInput& in : r.common.inputs) {
    Encoded e = in.is_ids ? encode_ids(in.ids, r.common.truncate, r.common.side)
                          : encode(in.text, nullptr, r.common.truncate, r.common.side);
    if (tokens) *tokens += static_cast<int64_t>(e.ids.size());
    sequences.push_back(Sequence{std::move(e.ids), std::move(e.types), r.pooling, {}, {}});
  }
  std::vector<Sequence> done = run_sequences(std::move(sequences));
  std::vector<std::vector<float>> out;
  for (Sequence& s : done) {
    if (r.dimensions) s.values.resize(static_cast<size_t>(*r.dimensions));
    if (r.normalize) l2_normalize(s.values);
    out.push_back(std::move(s.values));
  }
  return out;
}

void App::handle_embed(const httplib::Request& req, httplib::Response& res) {
  require_head("/embed");
  const auto vectors = embed(parse_embed_request(parse_body(req.body), limits()), nullptr);
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
  const EmbedAllRequest r = parse_embed_all_request(parse_body(req.body), limits());
  std::vector<Sequence> sequences;
  for (const EmbedInput& in : r.inputs) {
    Encoded e = in.is_ids ? encode_ids(in.ids, r.truncate, r.side) : encode(in.text, nullptr, r.truncate, r.side);
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
  const EmbedRequest r = parse_openai_request(parse_body(req.body), limits());
  int64_t tokens = 0;
  const auto vectors = embed(r, &tokens);
  std::string out = "{\"object\":\"list\",\"data\":[";
  for (size_t i = 0; i < vectors.size(); ++i) {
    if (i) out += ',';
    out += "{\"object\":\"embedding\",\"embedding\":";
    if (r.base64) {
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
  const PredictRequest r = parse_predict_request(parse_body(req.body), limits());
  std::vector<Sequence> sequences;
  for (const PredictItem& item : r.items) {
    Encoded e = encode(item.text, item.has_pair ? &item.pair : nullptr, r.truncate, r.side);
    sequences.push_back(Sequence{std::move(e.ids), std::move(e.types), Reduce::Logits, {}, {}});
  }
  const std::vector<Sequence> done = run_sequences(std::move(sequences));
  const RemBertConfig& c = pm_.model->config();
  std::string out = r.batch ? "[" : "";
  for (size_t i = 0; i < done.size(); ++i) {
    std::vector<float> scores = done[i].values;
    if (!r.raw_scores) {
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
  if (r.batch) out += ']';
  res.set_content(out, "application/json");
}

void App::handle_rerank(const httplib::Request& req, httplib::Response& res) {
  require_head("/rerank");
  const RerankRequest r = parse_rerank_request(parse_body(req.body), limits());
  std::vector<Sequence> sequences;
  for (const std::string& text : r.texts) {
    Encoded e = encode(r.query, &text, r.truncate, r.side);
    sequences.push_back(Sequence{std::move(e.ids), std::move(e.types), Reduce::Logits, {}, {}});
  }
  const std::vector<Sequence> done = run_sequences(std::move(sequences));
  std::vector<float> scores;
  for (const Sequence& s : done) {
    const float logit = s.values.at(0);
    scores.push_back(r.raw_scores ? logit : 1.0f / (1.0f + std::exp(-logit)));
  }
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  std::string out = "[";
  for (size_t k = 0; k < order.size(); ++k) {
    if (k) out += ',';
    out += "{\"index\":" + std::to_string(order[k]);
    if (r.return_text) out += ",\"text\":" + quote(r.texts[order[k]]);
    out += ",\"score\":";
    append_float(out, scores[order[k]]);
    out += '}';
  }
  out += ']';
  res.set_content(out, "application/json");
}

void App::handle_tokenize(const httplib::Request& req, httplib::Response& res) {
  const TokenizeRequest r = parse_tokenize_request(parse_body(req.body), limits());
  const std::vector<int64_t>& special_ids = pm_.tokenizer->all_special_ids();
  ojson out = ojson::array();
  for (const std::string& text : r.texts) {
    // No length limit here: tokenizing is how a client finds out how long its text is.
    EncodeOptions eo;
    eo.add_special_tokens = r.add_special_tokens;
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
  const DecodeRequest r = parse_decode_request(parse_body(req.body), limits());
  DecodeOptions d;
  d.skip_special_tokens = r.skip_special_tokens;
  const int64_t vocab = pm_.tokenizer->size();
  json out = json::array();
  for (const auto& ids : r.lists) {
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
