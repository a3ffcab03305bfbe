// The wrapper every route goes through (API key, concurrency limit, error bodies, metrics), the route tables, and
// how requests reach the model worker (batched sequences, solo jobs).
#include <algorithm>
#include <condition_variable>
#include <exception>
#include <mutex>

#include "app.h"
#include "rembert/error.h"

namespace rembert::server {

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

namespace {

ConnectionLimits connection_limits(const ServerOptions& o) {
  ConnectionLimits l;
  l.read_timeout = o.read_timeout;
  l.write_timeout = o.write_timeout;
  l.keep_alive_timeout = o.keep_alive_timeout;
  l.keep_alive_max_requests = static_cast<size_t>(std::max<int64_t>(1, o.keep_alive_max_requests));
  // One thread per connection: the inference requests allowed at once, plus room for probes and quick routes.
  l.max_threads = static_cast<size_t>(std::clamp<int64_t>(o.max_concurrent_requests, 1, 2048)) + 16;
  return l;
}

}  // namespace

App::App(const ServerOptions& o)
    : o_(o), http_(connection_limits(o), [this](int status, const std::string& message) {
        // A request refused before routing (408, 414, 431): TEI's error body, counted under "other".
        metrics_.record_request("other", status, 0.0);
        return dump(ojson{{"error", message}, {"error_type", "Validation"}});
      }) {}

void App::write_error(const httplib::Request& req, httplib::Response& res, const ApiError& e) const {
  res.status = e.status;
  // A client told to come back: one second is about how long the requests in flight take to make room.
  if (e.status == 429) res.set_header("Retry-After", "1");
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
      if (!loaded_.load(std::memory_order_acquire)) fail(503, "Unhealthy", "the model is still loading");
      if (limited) {
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
    // While draining, every answer asks its client to close the connection: a balancer's pooled connections then
    // move to the other replicas instead of bringing more requests here.
    if (draining_) res.set_header("Connection", "close");
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

}  // namespace rembert::server
