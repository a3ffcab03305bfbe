// The server's life: loading the model, the routes it registers, signals, serving and shutdown; /health, /info and
// /metrics.
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "app.h"
#include "rembert/error.h"
#include "rembert/hub.h"

#ifndef REMBERT_VERSION
#define REMBERT_VERSION "0.0.0"
#endif

namespace rembert::server {

namespace {

// The listening socket, recorded so that its backlog can be raised after httplib's listen(5).
std::atomic<int> g_listen_fd{-1};

}  // namespace

// The flags that need no model: checked before the port opens, so that a wrong one fails at once.
void App::check_options() const {
  if (o_.pooling != "cls" && o_.pooling != "mean") throw Error("--pooling: expected cls or mean, got '" + o_.pooling + "'");
  if (o_.max_batch_tokens < 1) throw Error("--max-batch-tokens must be at least 1");
  if (o_.max_client_batch_size < 1) throw Error("--max-client-batch-size must be at least 1");
  if (o_.max_concurrent_requests < 1) throw Error("--max-concurrent-requests must be at least 1");
  if (o_.payload_limit < 1) throw Error("--payload-limit must be at least 1");
  if (!(o_.drain_seconds >= 0 && o_.drain_seconds <= 3600)) {
    char given[32];
    std::snprintf(given, sizeof(given), "%g", o_.drain_seconds);
    throw Error(std::string("--drain-seconds must be between 0 and 3600, got ") + given);
  }
  const std::pair<const char*, double> timeouts[] = {
      {"--read-timeout", o_.read_timeout}, {"--write-timeout", o_.write_timeout},
      {"--keep-alive-timeout", o_.keep_alive_timeout}};
  for (const auto& [flag, seconds] : timeouts) {
    if (!(seconds >= 0.001 && seconds <= 3600)) {
      char given[32];
      std::snprintf(given, sizeof(given), "%g", seconds);
      throw Error(std::string(flag) + " must be between 0.001 and 3600 seconds, got " + given);
    }
  }
  if (o_.keep_alive_max_requests < 1) throw Error("--keep-alive-max-requests must be at least 1");
}

void App::load() {
  if (o_.debug_load_delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(o_.debug_load_delay_ms));
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
  pooling_ = o_.pooling == "mean" ? Reduce::Mean : Reduce::Cls;
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
  // Publishes everything above to the connection threads, which read none of it before they see loaded_.
  loaded_.store(true, std::memory_order_release);
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


void App::register_routes() {
  // The connection threads, timeouts and keep-alive are BoundedServer's (connection.cc), from the flags.
  http_.set_payload_max_length(static_cast<size_t>(o_.payload_limit));
  http_.set_tcp_nodelay(true);
  http_.set_socket_options([](int fd) {
    int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));  // not SO_REUSEPORT: one server per port
    g_listen_fd = fd;
  });

  // 503 while the model loads (route() answers that), from the first SIGTERM on, and if the model worker died: a
  // balancer then sends nothing more here, while the requests it still sends during the drain are answered.
  http_.Get("/health", route("/health", false, [this](const httplib::Request&, httplib::Response& res) {
    if (draining_) fail(503, "Unhealthy", "the server is draining: it is shutting down");
    if (!batcher_->healthy()) fail(503, "Unhealthy", "unhealthy");
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
    if (request_timed_out()) {
      char text[128];
      std::snprintf(text, sizeof(text), "request timeout: the body did not arrive within %g s (--read-timeout)",
                    o_.read_timeout);
      e = {408, "Validation", text};
    } else if (res.status == 413) {
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
}

// The port opens first and answers 503 while the model loads, so that a balancer (or Kubernetes) sees a replica
// that is starting rather than one that refuses connections.
int App::serve() {
  check_options();
  register_routes();

  int port = o_.port;
  if (o_.port == 0) {
    port = http_.bind_to_any_port(o_.host);
    if (port <= 0) throw Error("cannot bind " + o_.host + " on any port");
  } else if (!http_.bind_to_port(o_.host, o_.port)) {
    throw Error("cannot bind " + o_.host + ":" + std::to_string(o_.port) + ": " + std::strerror(errno));
  }
  // httplib listens with a backlog of 5; many clients connecting at once need more.
  if (g_listen_fd >= 0) ::listen(g_listen_fd, 1024);

  std::printf("rembert-server: listening on http://%s:%d, loading %s\n", o_.host.c_str(), port, o_.model.c_str());
  std::fflush(stdout);
  std::atomic<bool> listen_ok{true}, listener_done{false}, load_failed{false};
  std::thread listener([&] {
    listen_ok = http_.listen_after_bind();
    listener_done = true;
  });

  // SIGTERM/SIGINT: /health answers 503 at once and every request is still answered for --drain-seconds (the
  // balancer's checks notice meanwhile); then the port closes, httplib finishes the requests in flight and the
  // model queue is run to its end. A second signal exits at once.
  std::thread signals([&] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    timespec tick{0, 50 * 1000 * 1000};
    bool stopping = false, stopped = false;
    Clock::time_point drain_end;
    while (!listener_done) {
      const int sig = sigtimedwait(&set, nullptr, &tick);
      const char* name = sig == SIGTERM ? "SIGTERM" : "SIGINT";
      if (sig == SIGTERM || sig == SIGINT) {
        if (stopping) {
          std::fprintf(stderr, "rembert-server: second signal, exiting now\n");
          std::_Exit(1);
        }
        if (!loaded_) {
          // Every request so far was answered 503 at once: nothing to finish.
          std::fprintf(stderr, "rembert-server: %s while loading the model: exiting\n", name);
          std::_Exit(0);
        }
        stopping = true;
        draining_ = true;
        http_.close_connections_after_request();
        drain_end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(o_.drain_seconds));
        std::fprintf(stderr, "rembert-server: %s: /health answers 503; serving for %g s more (--drain-seconds), "
                     "then finishing the requests in flight\n", name, o_.drain_seconds);
      }
      // httplib's stop() is a no-op until listen has started: retried each tick until it has.
      if (!stopped && (load_failed || (stopping && Clock::now() >= drain_end)) && http_.is_running()) {
        if (stopping) std::fprintf(stderr, "rembert-server: drained: closing the port, finishing the requests in flight\n");
        http_.stop();
        stopped = true;
      }
    }
  });

  try {
    load();
  } catch (...) {
    load_failed = true;
    listener.join();
    signals.join();
    throw;
  }
  std::printf("rembert-server: serving %s (%s) on http://%s:%d\n", o_.model.c_str(), head_class_name(head_),
              o_.host.c_str(), port);
  std::fflush(stdout);
  listener.join();
  signals.join();
  // A stream whose client went away stops at its next token.
  while (generation_threads_.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  batcher_->stop();
  std::fprintf(stderr, "rembert-server: stopped\n");
  return listen_ok || draining_ ? 0 : 1;
}

int run_server(const ServerOptions& options) {
  // Signals are taken by a dedicated thread (sigtimedwait): block them before any thread starts.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  App app(options);
  return app.serve();
}

}  // namespace rembert::server
