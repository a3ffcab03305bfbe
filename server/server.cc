#include "server.h"

#include <httplib.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <memory>
#include <numeric>
#include <set>
#include <thread>

#include "batcher.h"
#include "json_io.h"
#include "metrics.h"
#include "rembert/error.h"
#include "rembert/hub.h"
#include "rembert/model.h"
#include "rembert/pipelines.h"
#include "rembert/tokenizer.h"
#include "thread_pool.h"

#ifndef REMBERT_VERSION
#define REMBERT_VERSION "0.0.0"
#endif

namespace rembert::server {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Routes a model head serves, besides the ones every model serves (/health, /info, /metrics, /tokenize, /decode).
std::vector<std::string> head_routes(HeadType head, int64_t num_labels) {
  switch (head) {
    case HeadType::Model: return {"/embed", "/embed_all", "/v1/embeddings"};
    case HeadType::SequenceClassification:
      return num_labels == 1 ? std::vector<std::string>{"/predict", "/rerank"} : std::vector<std::string>{"/predict"};
    case HeadType::MaskedLM: return {"/fill-mask"};
    case HeadType::TokenClassification: return {"/token-classification"};
    case HeadType::QuestionAnswering: return {"/question-answering"};
    case HeadType::CausalLM: return {"/generate", "/generate_stream"};
    case HeadType::MultipleChoice: return {};
  }
  return {};
}

// The head a route needs, for the message of a 424.
const char* route_head(const std::string& route) {
  if (route == "/embed" || route == "/embed_all" || route == "/v1/embeddings") return "RemBertModel";
  if (route == "/predict" || route == "/rerank") return "RemBertForSequenceClassification";
  if (route == "/fill-mask") return "RemBertForMaskedLM";
  if (route == "/token-classification") return "RemBertForTokenClassification";
  if (route == "/question-answering") return "RemBertForQuestionAnswering";
  return "RemBertForCausalLM";
}

const std::vector<std::string>& known_routes() {
  static const std::vector<std::string> routes = {
      "/health",       "/info",      "/metrics",   "/tokenize",  "/decode",
      "/embed",        "/embed_all", "/v1/embeddings", "/predict", "/rerank",
      "/fill-mask",    "/token-classification", "/question-answering", "/generate", "/generate_stream"};
  return routes;
}

// An input of /embed, /embed_all, /v1/embeddings: a text, or token ids used as they are.
struct EmbedInput {
  bool is_ids = false;
  std::string text;
  std::vector<int64_t> ids;
};

struct Encoded {
  std::vector<int64_t> ids, types;
  std::vector<std::pair<int64_t, int64_t>> offsets;
  std::vector<std::string> tokens;
};

void l2_normalize(std::vector<float>& v) {
  double sq = 0;
  for (float x : v) sq += static_cast<double>(x) * x;
  const auto inv = static_cast<float>(1.0 / std::max(std::sqrt(sq), 1e-12));
  for (float& x : v) x *= inv;
}

// A streaming /generate: the worker pushes server-sent events, the connection thread writes them out.
struct EventChannel {
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<std::string> events;
  bool finished = false;
  std::atomic<bool> cancelled{false};

  void push(std::string event, bool last = false) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      events.push_back(std::move(event));
      if (last) finished = true;
    }
    cv.notify_all();
  }
};

class App {
 public:
  explicit App(const ServerOptions& o) : o_(o) {}

  void load();
  int serve();

 private:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

  // Wraps a route: API key, concurrency limit, error bodies, metrics.
  Handler route(const std::string& name, bool limited, Handler body);
  void write_error(const httplib::Request& req, httplib::Response& res, const ApiError& e) const;
  void require_head(const std::string& route) const;

  // Tokenizes one text (or pair) under the length rules (422 when too long and not truncating).
  Encoded encode(const std::string& text, const std::string* pair, bool truncate, Side side,
                 bool add_special_tokens = true) const;
  Encoded encode_ids(const std::vector<int64_t>& ids, bool truncate, Side side) const;
  std::vector<EmbedInput> parse_embed_inputs(const json& value, const char* key) const;
  bool truncate_of(const json& body) const { return get_bool(body, "truncate", o_.auto_truncate); }
  Side side_of(const json& body) const;
  void check_batch_size(size_t n) const;
  // Runs `sequences` through the batcher and waits; 424 when the forward pass failed.
  std::vector<Sequence> run_sequences(std::vector<Sequence> sequences);
  // Runs `job` alone on the model worker and waits for it; rethrows what it threw.
  // Runs `result_json` on each input in one solo job and answers with the results: the one value when the request
  // sent a single input, else a list.
  template <class Input, class F>
  void respond_each(const std::vector<Input>& inputs, bool single, httplib::Response& res, F&& result_json);

  void handle_info(const httplib::Request&, httplib::Response& res);
  void handle_embed(const httplib::Request& req, httplib::Response& res);
  void handle_embed_all(const httplib::Request& req, httplib::Response& res);
  void handle_openai(const httplib::Request& req, httplib::Response& res);
  void handle_predict(const httplib::Request& req, httplib::Response& res);
  void handle_rerank(const httplib::Request& req, httplib::Response& res);
  void handle_tokenize(const httplib::Request& req, httplib::Response& res);
  void handle_decode(const httplib::Request& req, httplib::Response& res);
  void handle_fill_mask(const httplib::Request& req, httplib::Response& res);
  void handle_token_classification(const httplib::Request& req, httplib::Response& res);
  void handle_question_answering(const httplib::Request& req, httplib::Response& res);
  void handle_generate(const httplib::Request& req, httplib::Response& res, bool force_stream);

  // Pooled, normalised embeddings for /embed and /v1/embeddings; `tokens` gets the tokens counted.
  std::vector<std::vector<float>> embed(const json& body, const char* key, bool normalize, int64_t* tokens);
  ojson compute_json() const;

  const ServerOptions& o_;
  PipelineModel pm_;
  PipelineModel batched_;  // pm_ whose forwards go through the batcher (the pipeline routes)
  std::string model_dir_;
  HeadType head_ = HeadType::Model;
  int64_t max_input_length_ = 0;
  Reduce pooling_ = Reduce::Cls;
  std::set<std::string> served_;
  Metrics metrics_;
  std::unique_ptr<Batcher> batcher_;
  std::atomic<int64_t> in_flight_{0};
  std::atomic<bool> draining_{false};
  std::atomic<int> generation_threads_{0};  // streaming generations still running (shutdown waits for them)
  httplib::Server http_;
};

void App::load() {
  set_num_threads(o_.threads);
  HubOptions hub;
  hub.revision = o_.revision;
  hub.progress = HubProgress::Lines;
  model_dir_ = resolve_model_for_task(o_.model, hub);
  LoadOptions load;
  if (!o_.dtype.empty()) load.dtype = weight_dtype_from_name(o_.dtype);
  std::optional<HeadType> head;
  if (!o_.head.empty()) head = head_from_name(o_.head);
  pm_ = load_pipeline_model(model_dir_, head, load);
  for (const std::string& w : pm_.warnings) std::fprintf(stderr, "rembert-server: warning: %s\n", w.c_str());
  head_ = pm_.model->head();
  const RemBertConfig& c = pm_.model->config();
  max_input_length_ = c.max_position_embeddings;
  if (o_.max_input_length > 0) {
    if (o_.max_input_length > c.max_position_embeddings) {
      throw Error("--max-input-length " + std::to_string(o_.max_input_length) + " exceeds the model's " +
                  "max_position_embeddings (" + std::to_string(c.max_position_embeddings) + ")");
    }
    max_input_length_ = o_.max_input_length;
  }
  if (o_.pooling == "cls") {
    pooling_ = Reduce::Cls;
  } else if (o_.pooling == "mean") {
    pooling_ = Reduce::Mean;
  } else {
    throw Error("--pooling: expected cls or mean, got '" + o_.pooling + "'");
  }
  if (o_.max_batch_tokens < 1) throw Error("--max-batch-tokens must be at least 1");
  if (o_.max_client_batch_size < 1) throw Error("--max-client-batch-size must be at least 1");
  if (o_.max_concurrent_requests < 1) throw Error("--max-concurrent-requests must be at least 1");
  if (o_.payload_limit < 1) throw Error("--payload-limit must be at least 1");
  served_ = {"/health", "/info", "/metrics", "/tokenize", "/decode"};
  for (const std::string& r : head_routes(head_, c.num_labels())) served_.insert(r);
  BatcherOptions bo;
  bo.max_batch_tokens = o_.max_batch_tokens;
  bo.max_batch_requests = o_.max_batch_requests;
  bo.pad_token_id = c.pad_token_id.value_or(0);
  bo.debug_delay_ms = o_.debug_batch_delay_ms;
  batcher_ = std::make_unique<Batcher>(pm_.model, bo, metrics_);
  batched_ = pm_;
  batched_.forward_fn = [this](const ForwardInputs& in) { return batcher_->forward(in); };
}

void App::write_error(const httplib::Request& req, httplib::Response& res, const ApiError& e) const {
  res.status = e.status;
  ojson body;
  if (req.path.rfind("/v1/", 0) == 0) {
    // TEI's OpenAI-compatible error body, plus OpenAI's nested "error" object that the openai clients read.
    body = {{"message", e.message}, {"code", e.status}, {"type", e.type}};
    body["error"] = {{"message", e.message}, {"type", e.type}, {"code", e.status}};
  } else {
    body = {{"error", e.message}, {"error_type", e.type}};
  }
  res.set_content(dump(body), "application/json");
}

void App::require_head(const std::string& route) const {
  if (served_.count(route)) return;
  std::string message = std::string("this model cannot serve ") + route + ": it needs a " + route_head(route) +
                        " model, the server runs " + head_class_name(head_);
  if (route == "/rerank" && head_ == HeadType::SequenceClassification) {
    message = "model is not a re-ranker model: /rerank needs a sequence-classification model with one label, this one "
              "has " + std::to_string(pm_.model->config().num_labels()) + " (use /predict)";
  }
  fail(424, "Backend", message);
}

App::Handler App::route(const std::string& name, bool limited, Handler body) {
  return [this, name, limited, body](const httplib::Request& req, httplib::Response& res) {
    const auto start = Clock::now();
    bool counted = false;
    try {
      if (!o_.api_key.empty() && name != "/health") {
        const std::string auth = req.get_header_value("Authorization");
        if (auth != "Bearer " + o_.api_key) {
          fail(401, "Unauthorized", "a wrong or missing API key: send the header Authorization: Bearer <key>");
        }
      }
      if (limited) {
        if (draining_) fail(503, "Unhealthy", "the server is shutting down");
        if (in_flight_.fetch_add(1) >= o_.max_concurrent_requests) {
          in_flight_.fetch_sub(1);
          fail(429, "Overloaded", "Model is overloaded: more than " + std::to_string(o_.max_concurrent_requests) +
                                      " concurrent requests (--max-concurrent-requests)");
        }
        counted = true;
      }
      body(req, res);
    } catch (const ApiError& e) {
      write_error(req, res, e);
    } catch (const json::exception& e) {
      write_error(req, res, ApiError{422, "Validation", std::string("invalid request: ") + e.what()});
    } catch (const Error& e) {
      write_error(req, res, ApiError{422, "Validation", e.what()});
    } catch (const std::bad_alloc&) {
      write_error(req, res, ApiError{424, "Backend", "out of memory"});
    } catch (const std::exception& e) {
      write_error(req, res, ApiError{424, "Backend", e.what()});
    } catch (...) {
      write_error(req, res, ApiError{500, "Backend", "internal error"});
    }
    if (res.status == -1) res.status = 200;
    if (res.is_chunked_content_provider_) {
      // A stream: the releaser (run when the stream ends) counts it down and records it.
      auto previous = std::move(res.content_provider_resource_releaser_);
      res.content_provider_resource_releaser_ = [this, name, counted, start, previous](bool success) {
        if (previous) previous(success);
        if (counted) in_flight_.fetch_sub(1);
        metrics_.record_request(name, 200, seconds_since(start));
      };
      return;
    }
    if (counted) in_flight_.fetch_sub(1);
    metrics_.record_request(name, res.status, seconds_since(start));
  };
}

Side App::side_of(const json& body) const {
  const auto v = get_string(body, "truncation_direction");
  if (!v) return Side::Right;
  std::string s = *v;
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  if (s == "right") return Side::Right;
  if (s == "left") return Side::Left;
  invalid("`truncation_direction` must be \"Right\" or \"Left\", got \"" + *v + "\"");
}

void App::check_batch_size(size_t n) const {
  if (n == 0) invalid("`inputs` cannot be empty");
  if (static_cast<int64_t>(n) > o_.max_client_batch_size) {
    invalid("batch size " + std::to_string(n) + " > maximum allowed batch size " +
            std::to_string(o_.max_client_batch_size));
  }
}

Encoded App::encode(const std::string& text, const std::string* pair, bool truncate, Side side,
                    bool add_special_tokens) const {
  if (text.empty() && (!pair || pair->empty())) invalid("`inputs` cannot be empty");
  EncodeOptions eo;
  eo.add_special_tokens = add_special_tokens;
  if (truncate) {
    eo.truncation = Truncation::LongestFirst;
    eo.max_length = max_input_length_;
    eo.truncation_side = side;
  }
  Encoding enc;
  try {
    enc = pm_.tokenizer->encode(text, pair, eo);
  } catch (const std::exception& e) {
    fail(422, "Tokenizer", e.what());
  }
  const auto n = static_cast<int64_t>(enc.input_ids.size());
  if (n == 0) invalid("`inputs` cannot be empty");
  if (n > max_input_length_) {
    invalid("`inputs` must have less than " + std::to_string(max_input_length_) + " tokens. Given: " +
            std::to_string(n));
  }
  Encoded out;
  out.ids = std::move(enc.input_ids);
  out.types = std::move(enc.token_type_ids);
  out.offsets = std::move(enc.offsets);
  out.tokens = std::move(enc.tokens);
  return out;
}

Encoded App::encode_ids(const std::vector<int64_t>& ids, bool truncate, Side side) const {
  if (ids.empty()) invalid("`inputs` cannot be empty");
  const int64_t vocab = pm_.model->config().vocab_size;
  for (int64_t id : ids) {
    if (id < 0 || id >= vocab) {
      invalid("token id " + std::to_string(id) + " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
    }
  }
  Encoded out;
  out.ids = ids;
  if (static_cast<int64_t>(ids.size()) > max_input_length_) {
    if (!truncate) {
      invalid("`inputs` must have less than " + std::to_string(max_input_length_) + " tokens. Given: " +
              std::to_string(ids.size()));
    }
    if (side == Side::Right) {
      out.ids.resize(static_cast<size_t>(max_input_length_));
    } else {
      out.ids.erase(out.ids.begin(), out.ids.end() - max_input_length_);
    }
  }
  out.types.assign(out.ids.size(), 0);
  return out;
}

std::vector<EmbedInput> App::parse_embed_inputs(const json& value, const char* key) const {
  auto ids_of = [&](const json& list) {
    std::vector<int64_t> ids;
    for (const json& v : list) {
      if (!v.is_number_integer() && !v.is_number_unsigned()) {
        invalid(std::string("`") + key + "`: a list of token ids must hold integers only, got " + type_name(v));
      }
      if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) invalid("token id too large");
      ids.push_back(v.get<int64_t>());
    }
    return ids;
  };
  std::vector<EmbedInput> inputs;
  if (value.is_string()) {
    inputs.push_back(EmbedInput{false, value.get<std::string>(), {}});
  } else if (value.is_array()) {
    if (value.empty()) invalid(std::string("`") + key + "` cannot be empty");
    if (value[0].is_number()) {
      inputs.push_back(EmbedInput{true, "", ids_of(value)});  // one list of token ids
    } else {
      for (const json& item : value) {
        if (item.is_string()) {
          inputs.push_back(EmbedInput{false, item.get<std::string>(), {}});
        } else if (item.is_array()) {
          inputs.push_back(EmbedInput{true, "", ids_of(item)});
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
  check_batch_size(inputs.size());
  return inputs;
}

std::vector<Sequence> App::run_sequences(std::vector<Sequence> sequences) {
  int64_t tokens = 0;
  for (const Sequence& s : sequences) tokens += static_cast<int64_t>(s.input_ids.size());
  metrics_.add_input_tokens(tokens);
  auto group = std::make_shared<RequestGroup>(std::move(sequences));
  batcher_->submit(group);
  group->wait();
  for (const Sequence& s : group->sequences()) {
    if (!s.error.empty()) fail(424, "Backend", "inference failed: " + s.error);
  }
  return std::move(group->sequences());
}

// The compute path: what `rembert info` prints, for the model as the server loaded it.
ojson App::compute_json() const {
  const ComputeInfo info = pm_.model->compute_info();
  ojson kernels = ojson::object();
  for (const auto& [shape, impl] : info.kernels) kernels[shape] = impl;
  return {{"requested", info.requested},
          {"compute", info.compute},
          {"fallback", info.fallback.empty() ? ojson(nullptr) : ojson(info.fallback)},
          {"threads", num_threads()},
          {"cpu_flags", cpu_flags()},
          {"onednn", onednn_version()},
          {"packed_weight_bytes", info.packed_bytes},
          {"kernels_at_128_rows", kernels}};
}

void App::handle_info(const httplib::Request&, httplib::Response& res) {
  const RemBertConfig& c = pm_.model->config();
  ojson model_type;
  auto labels = [&] {
    ojson id2label = ojson::object(), label2id = ojson::object();
    for (const auto& [id, label] : c.id2label) id2label[std::to_string(id)] = label;
    for (const auto& [label, id] : c.label2id) label2id[label] = id;
    return ojson{{"id2label", id2label}, {"label2id", label2id}};
  };
  switch (head_) {
    case HeadType::Model: model_type = {{"embedding", {{"pooling", o_.pooling}}}}; break;
    case HeadType::SequenceClassification:
      model_type = {{c.num_labels() == 1 ? "reranker" : "classifier", labels()}};
      break;
    case HeadType::TokenClassification: model_type = {{"token_classifier", labels()}}; break;
    default: model_type = {{head_cli_name(head_), ojson::object()}}; break;
  }
  const DType wd = pm_.model->weight_dtype();
  const char* dtype = wd == DType::F16    ? "float16"
                      : wd == DType::BF16 ? "bfloat16"
                      : wd == DType::I8   ? "int8"
                                          : "float32";
  ojson routes = ojson::array();
  for (const std::string& r : known_routes()) {
    if (served_.count(r)) routes.push_back(r);
  }
  ojson info = {
      {"model_id", o_.model},
      {"model_sha", o_.revision.empty() ? ojson(nullptr) : ojson(o_.revision)},
      {"model_dtype", dtype},
      {"model_type", model_type},
      {"architecture", head_class_name(head_)},
      {"routes", routes},
      {"max_concurrent_requests", o_.max_concurrent_requests},
      {"max_input_length", max_input_length_},
      {"max_batch_tokens", o_.max_batch_tokens},
      {"max_batch_requests", o_.max_batch_requests > 0 ? ojson(o_.max_batch_requests) : ojson(nullptr)},
      {"max_client_batch_size", o_.max_client_batch_size},
      {"auto_truncate", o_.auto_truncate},
      {"payload_limit", o_.payload_limit},
      {"tokenization_workers", nullptr},
      {"compute", compute_json()},
      {"version", REMBERT_VERSION},
      {"sha", nullptr},
      {"docker_label", nullptr},
  };
  res.set_content(dump(info), "application/json");
}

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
  auto it = body.find("inputs");
  if (it == body.end() || it->is_null()) invalid("`inputs` is required");
  std::vector<std::string> texts;
  if (it->is_string()) {
    texts.push_back(it->get<std::string>());
  } else if (it->is_array()) {
    for (const json& t : *it) {
      if (!t.is_string()) invalid("`inputs` must hold strings only, got " + type_name(t));
      texts.push_back(t.get<std::string>());
    }
  } else {
    invalid("`inputs` must be a string or a list of strings, got " + type_name(*it));
  }
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
        const size_t start = byte_offset_of_code_point(text, enc.offsets[i].first);
        const size_t stop = byte_offset_of_code_point(text, enc.offsets[i].second);
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

// The HF Inference API form of the pipeline routes: {"inputs": ..., "parameters": {...}}.
const json& parameters_of(const json& body) {
  static const json empty = json::object();
  auto it = body.find("parameters");
  if (it == body.end() || it->is_null()) return empty;
  if (!it->is_object()) invalid("`parameters` must be an object, got " + type_name(*it));
  return *it;
}

// "inputs" as one text (single = true) or a list of texts.
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

template <class Input, class F>
void App::respond_each(const std::vector<Input>& inputs, bool single, httplib::Response& res, F&& result_json) {
  // Each input runs on a thread of its own, so that its forward joins the batcher's queue beside the others (and
  // beside other requests'): the pipelines' forwards of one request share a batch.
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

void App::handle_generate(const httplib::Request& req, httplib::Response& res, bool force_stream) {
  require_head("/generate");
  const json body = parse_body(req.body);
  const auto prompt = get_string(body, "inputs");
  if (!prompt) invalid("`inputs` is required (a string)");
  const bool stream = force_stream || get_bool(body, "stream", false);
  const json& p = parameters_of(body);
  GenerationOptions options;
  options.max_new_tokens = get_int(p, "max_new_tokens");
  options.do_sample = get_bool(p, "do_sample", false);
  if (const auto v = get_number(p, "temperature")) options.temperature = *v;
  if (const auto v = get_int(p, "top_k")) options.top_k = *v;
  if (const auto v = get_number(p, "top_p")) options.top_p = *v;
  if (const auto v = get_int(p, "seed")) options.seed = static_cast<uint64_t>(*v);
  options.return_full_text = get_bool(p, "return_full_text", true);  // the pipeline's default
  if (options.max_new_tokens && *options.max_new_tokens < 1) invalid("`max_new_tokens` must be at least 1");
  if (options.temperature <= 0) invalid("`temperature` must be strictly positive");
  if (options.top_k < 0) invalid("`top_k` must not be negative");
  if (options.top_p <= 0 || options.top_p > 1) invalid("`top_p` must be in (0, 1]");
  const Encoded e = encode(*prompt, nullptr, false, Side::Right, false);
  const auto prompt_len = static_cast<int64_t>(e.ids.size());
  const int64_t max_new =
      std::max<int64_t>(1, options.max_new_tokens.value_or(pm_.model->config().max_length - prompt_len));
  if (prompt_len + max_new > max_input_length_) {
    invalid("`inputs` tokens + `max_new_tokens` must be <= " + std::to_string(max_input_length_) + ". Given: " +
            std::to_string(prompt_len) + " `inputs` tokens and " + std::to_string(max_new) + " `max_new_tokens`");
  }
  options.max_new_tokens = max_new;
  metrics_.add_input_tokens(prompt_len);
  const std::string prompt_text = *prompt;

  if (!stream) {
    std::string result;
    // On this thread; each decode step joins the batcher's running batch (continuous batching).
    result = to_json(text_generation(batched_, prompt_text, options));
    res.set_content(result, "application/json");
    return;
  }

  // Server-sent events, one per token, as text-generation-inference sends them; the last one carries the whole
  // generated_text. The job runs on the model worker and stops early when the client goes away.
  auto channel = std::make_shared<EventChannel>();
  auto tokenizer = pm_.tokenizer;
  const std::vector<int64_t> prompt_ids = e.ids;
  // The generation runs on a thread of its own (its decode steps join the batcher's running batch, one token
  // each per step) and pushes its events to the connection thread.
  ++generation_threads_;
  std::thread([this, channel, tokenizer, prompt_ids, prompt_text, options]() mutable {
    struct Done {
      std::atomic<int>& count;
      ~Done() { --count; }
    } done{generation_threads_};
    try {
      DecodeOptions d;
      d.skip_special_tokens = true;
      d.clean_up_tokenization_spaces = true;
      const std::set<int64_t> special(tokenizer->all_special_ids().begin(), tokenizer->all_special_ids().end());
      const int64_t prompt_chars = code_point_count(tokenizer->decode(prompt_ids, d));
      std::vector<int64_t> so_far = prompt_ids;
      std::string printed;
      int64_t index = 0;
      bool sent_last = false;
      const std::optional<int64_t> eos = pm_.model->config().eos_token_id;
      options.on_token = [&](int64_t token) {
        if (channel->cancelled) throw Error("the client went away");
        so_far.push_back(token);
        // The text this token adds (empty while a character is incomplete), as the pipeline streams it.
        const std::string text = tokenizer->decode(so_far, d);
        const std::string fresh = code_point_slice(text, prompt_chars, code_point_count(text));
        std::string piece;
        if (fresh.size() > printed.size() && fresh.compare(0, printed.size(), printed) == 0) {
          piece = fresh.substr(printed.size());
          printed = fresh;
        }
        ++index;
        // Generation stops at max_new_tokens or at the end-of-sequence token: the last event carries the whole
        // text, as text-generation-inference's does.
        const bool last = index == *options.max_new_tokens || (eos && token == *eos);
        ojson event = {{"index", index},
                       {"token", {{"id", token}, {"text", piece}, {"logprob", nullptr}, {"special", special.count(token) > 0}}},
                       {"generated_text", last ? ojson((options.return_full_text ? prompt_text : "") + fresh) : ojson(nullptr)},
                       {"details", nullptr}};
        channel->push("data:" + dump(event) + "\n\n", last);
        sent_last = sent_last || last;
      };
      text_generation(batched_, prompt_text, options);
      if (!sent_last) channel->push("", true);
    } catch (const std::exception& ex) {
      ojson err = {{"error", ex.what()}, {"error_type", "Backend"}};
      channel->push("data:" + dump(err) + "\n\n", true);
    }
  }).detach();
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [channel](size_t, httplib::DataSink& sink) {
        std::unique_lock<std::mutex> lock(channel->mutex);
        channel->cv.wait(lock, [&] { return !channel->events.empty() || channel->finished; });
        while (!channel->events.empty()) {
          const std::string event = std::move(channel->events.front());
          channel->events.pop_front();
          lock.unlock();
          if (!event.empty() && !sink.write(event.data(), event.size())) {
            channel->cancelled = true;
            return false;
          }
          lock.lock();
        }
        if (channel->finished) sink.done();
        return true;
      },
      [channel](bool) { channel->cancelled = true; });
}

// The listening socket, recorded so that its backlog can be raised after httplib's listen(5).
std::atomic<int> g_listen_fd{-1};

int App::serve() {
  http_.new_task_queue = [this] {
    return new GrowingThreadPool(static_cast<size_t>(std::min<int64_t>(o_.max_concurrent_requests, 2048)) + 16);
  };
  http_.set_payload_max_length(static_cast<size_t>(o_.payload_limit));
  http_.set_keep_alive_max_count(1000);
  http_.set_keep_alive_timeout(5);
  http_.set_read_timeout(5);
  http_.set_write_timeout(30);
  http_.set_tcp_nodelay(true);
  http_.set_socket_options([](int fd) {
    int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));  // not SO_REUSEPORT: one server per port
    g_listen_fd = fd;
  });

  http_.Get("/health", route("/health", false, [this](const httplib::Request&, httplib::Response& res) {
    if (draining_ || !batcher_->healthy()) fail(503, "Unhealthy", "unhealthy");
    res.status = 200;
  }));
  http_.Get("/info", route("/info", false, [this](const auto& q, auto& s) { handle_info(q, s); }));
  http_.Get("/metrics", route("/metrics", false, [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_.render(batcher_->queue_size(), in_flight_.load()), "text/plain; version=0.0.4");
  }));
  http_.Post("/tokenize", route("/tokenize", false, [this](const auto& q, auto& s) { handle_tokenize(q, s); }));
  http_.Post("/decode", route("/decode", false, [this](const auto& q, auto& s) { handle_decode(q, s); }));
  http_.Post("/embed", route("/embed", true, [this](const auto& q, auto& s) { handle_embed(q, s); }));
  http_.Post("/embed_all", route("/embed_all", true, [this](const auto& q, auto& s) { handle_embed_all(q, s); }));
  http_.Post("/v1/embeddings", route("/v1/embeddings", true, [this](const auto& q, auto& s) { handle_openai(q, s); }));
  http_.Post("/predict", route("/predict", true, [this](const auto& q, auto& s) { handle_predict(q, s); }));
  http_.Post("/rerank", route("/rerank", true, [this](const auto& q, auto& s) { handle_rerank(q, s); }));
  http_.Post("/fill-mask", route("/fill-mask", true, [this](const auto& q, auto& s) { handle_fill_mask(q, s); }));
  http_.Post("/token-classification", route("/token-classification", true, [this](const auto& q, auto& s) {
    handle_token_classification(q, s);
  }));
  http_.Post("/question-answering", route("/question-answering", true, [this](const auto& q, auto& s) {
    handle_question_answering(q, s);
  }));
  http_.Post("/generate", route("/generate", true, [this](const auto& q, auto& s) { handle_generate(q, s, false); }));
  http_.Post("/generate_stream",
             route("/generate_stream", true, [this](const auto& q, auto& s) { handle_generate(q, s, true); }));

  // Errors httplib answers itself (413 over the payload limit, 404 unknown route, 400 unreadable request) get a
  // JSON body too; responses our handlers wrote already have one.
  http_.set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    ApiError e{res.status, "Validation", "bad request"};
    if (res.status == 413) {
      e = {413, "Validation", "payload too large: the body exceeds the limit of " + std::to_string(o_.payload_limit) +
                                  " bytes (--payload-limit)"};
    } else if (res.status == 404) {
      e = {404, "NotFound", "no route " + req.method + " " + req.path};
    } else if (res.status == 405) {
      e = {405, "NotFound", "method " + req.method + " not allowed on " + req.path};
    }
    write_error(req, res, e);
    const auto& routes = known_routes();
    const bool known = std::find(routes.begin(), routes.end(), req.path) != routes.end();
    metrics_.record_request(known ? req.path : "other", res.status, 0.0);
    return httplib::Server::HandlerResponse::Handled;
  }));
  http_.set_exception_handler([this](const httplib::Request& req, httplib::Response& res, std::exception_ptr) {
    write_error(req, res, ApiError{500, "Backend", "internal error"});
  });

  int port = o_.port;
  if (o_.port == 0) {
    port = http_.bind_to_any_port(o_.host);
    if (port <= 0) throw Error("cannot bind " + o_.host + " on any port");
  } else if (!http_.bind_to_port(o_.host, o_.port)) {
    throw Error("cannot bind " + o_.host + ":" + std::to_string(o_.port) + ": " + std::strerror(errno));
  }
  // httplib listens with a backlog of 5; many clients connecting at once need more.
  if (g_listen_fd >= 0) ::listen(g_listen_fd, 1024);

  // SIGTERM/SIGINT: stop accepting, let httplib finish the requests in flight, then drain the model queue.
  std::atomic<bool> exiting{false};
  std::thread signals([&] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    timespec tick{0, 50 * 1000 * 1000};
    bool stopping = false;
    while (!exiting) {
      const int sig = sigtimedwait(&set, nullptr, &tick);
      if (sig == SIGTERM || sig == SIGINT) {
        if (stopping) {
          std::fprintf(stderr, "rembert-server: second signal, exiting now\n");
          std::_Exit(1);
        }
        stopping = true;
        std::fprintf(stderr, "rembert-server: %s: finishing the requests in flight\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        draining_ = true;
      }
      if (stopping && http_.is_running()) http_.stop();
    }
  });

  std::printf("rembert-server: serving %s (%s) on http://%s:%d\n", o_.model.c_str(), head_class_name(head_),
              o_.host.c_str(), port);
  std::fflush(stdout);
  const bool ok = draining_ ? true : http_.listen_after_bind();
  exiting = true;
  signals.join();
  // A stream whose client went away stops at its next token.
  while (generation_threads_.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  batcher_->stop();
  std::fprintf(stderr, "rembert-server: stopped\n");
  return ok || draining_ ? 0 : 1;
}

}  // namespace

int run_server(const ServerOptions& options) {
  // Signals are taken by a dedicated thread (sigtimedwait): block them before any thread starts.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  App app(options);
  app.load();
  return app.serve();
}

}  // namespace rembert::server
