// The server's one object, App: the loaded model, the batcher, the metrics and the HTTP server. Its methods live in
// one file per concern:
//   app.cc             the wrapper every route goes through (API key, limits, error bodies, metrics), the route
//                      tables, and how requests reach the model worker
//   schemas.cc         request schemas: body -> typed request, every check that needs no model (schemas.h)
//   requests.cc        tokenizing under the length rules
//   tei_routes.cc      text-embeddings-inference routes: /embed, /embed_all, /v1/embeddings, /predict, /rerank,
//                      /tokenize, /decode
//   pipeline_routes.cc /fill-mask, /token-classification, /question-answering
//   generate.cc        /generate and /generate_stream (server-sent events)
//   lifecycle.cc       loading, signals, serving, /health, /info, /metrics
//   connection.cc      each connection's loop under the read, write and keep-alive limits (BoundedServer)
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "batcher.h"
#include "connection.h"
#include "json_io.h"
#include "metrics.h"
#include "schemas.h"
#include "rembert/model.h"
#include "rembert/pipelines.h"
#include "rembert/tokenizer.h"
#include "server.h"

namespace rembert::server {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Routes a model head serves, besides the ones every model serves (/health, /info, /metrics, /tokenize, /decode).
std::vector<std::string> head_routes(HeadType head, int64_t num_labels);
// The head a route needs, for the message of a 424.
const char* route_head(const std::string& route);
// Every route, in the order /info lists them.
const std::vector<std::string>& known_routes();

struct Encoded {
  std::vector<int64_t> ids, types;
  std::vector<std::pair<int64_t, int64_t>> offsets;
  std::vector<std::string> tokens;
};

class App {
 public:
  explicit App(const ServerOptions& o);

  // Opens the port, loads the model (every route answers 503 meanwhile), serves until SIGTERM/SIGINT, drains and
  // returns the exit code.
  int serve();

 private:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

  void check_options() const;
  void register_routes();
  void load();

  // Wraps a route: API key, concurrency limit, error bodies, metrics.
  Handler route(const std::string& name, bool limited, Handler body);
  void write_error(const httplib::Request& req, httplib::Response& res, const ApiError& e) const;
  void require_head(const std::string& route) const;

  // Tokenizes one text (or pair) under the length rules (422 when too long and not truncating).
  Encoded encode(const std::string& text, const std::string* pair, bool truncate, Side side,
                 bool add_special_tokens = true) const;
  Encoded encode_ids(const std::vector<int64_t>& ids, bool truncate, Side side) const;
  // What the request schemas (schemas.h) need of the options and the loaded model.
  RequestLimits limits() const;
  // Runs `sequences` through the batcher and waits; 424 when the forward pass failed.
  std::vector<Sequence> run_sequences(std::vector<Sequence> sequences);
  // Runs `result_json` on each input (concurrently, so that their forwards share the batcher's batches) and
  // answers with the results: the one value when the request sent a single input, else a list.
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
  std::vector<std::vector<float>> embed(const EmbedRequest& r, int64_t* tokens);
  ojson compute_json() const;

  const ServerOptions& o_;
  PipelineModel pm_;
  PipelineModel batched_;  // pm_ whose forwards go through the batcher (pipeline routes and generation)
  std::string model_dir_;
  HeadType head_ = HeadType::Model;
  int64_t max_input_length_ = 0;
  Reduce pooling_ = Reduce::Cls;
  std::set<std::string> served_;
  Metrics metrics_;
  std::unique_ptr<Batcher> batcher_;
  std::atomic<int64_t> in_flight_{0};
  std::atomic<bool> loaded_{false};    // set once load() has filled everything above
  std::atomic<bool> draining_{false};  // from the first SIGTERM/SIGINT on
  std::atomic<int> generation_threads_{0};  // streaming generations still running (shutdown waits for them)
  BoundedServer http_;
};

}  // namespace rembert::server
