// rembert-server: see docs/server.md. Every flag can also come from an environment variable (REMBERT_*, named
// after text-embeddings-inference's where it has the setting).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "server.h"

int main(int argc, char** argv) {
  rembert::server::ServerOptions o;
  CLI::App app{"rembert-server: an HTTP inference server for RemBERT models (text-embeddings-inference routes, "
               "OpenAI /v1/embeddings, pipelines, /generate)"};
  app.set_version_flag("--version", REMBERT_VERSION);
  app.add_option("--model,--model-id", o.model, "Model folder, or hub id such as google/rembert")
      ->envname("REMBERT_MODEL_ID")
      ->required();
  app.add_option("--revision", o.revision, "Hub branch, tag or commit (default main)")->envname("REMBERT_REVISION");
  app.add_option("--head", o.head,
                 "Head to load: model, masked-lm, causal-lm, sequence-classification, token-classification, "
                 "question-answering (default: the config's architectures[0]); it decides the routes served")
      ->envname("REMBERT_HEAD");
  app.add_option("--dtype", o.dtype,
                 "Compute path: float32, auto (weights as stored), float16 (weights), bfloat16, int8 (default: "
                 "float32, or the dtype of a model written by rembert convert)")
      ->envname("REMBERT_DTYPE");
  app.add_option("--pooling", o.pooling, "Default /embed pooling: cls or mean")
      ->envname("REMBERT_POOLING")
      ->capture_default_str();
  app.add_option("--host,--hostname", o.host, "Address to listen on")->envname("REMBERT_HOSTNAME")->capture_default_str();
  app.add_option("--port,-p", o.port, "Port (0: any free port; the bound port is printed)")
      ->envname("REMBERT_PORT")
      ->capture_default_str();
  app.add_option("--threads", o.threads, "Compute threads (0: all cores)")->envname("REMBERT_THREADS")->capture_default_str();
  app.add_option("--max-batch-tokens", o.max_batch_tokens,
                 "Real tokens per forward pass; queued requests are batched up to it (1: no batching)")
      ->envname("REMBERT_MAX_BATCH_TOKENS")
      ->capture_default_str();
  app.add_option("--max-batch-requests", o.max_batch_requests, "Sequences per forward pass (0: no limit)")
      ->envname("REMBERT_MAX_BATCH_REQUESTS")
      ->capture_default_str();
  app.add_option("--max-client-batch-size", o.max_client_batch_size, "Inputs one request may carry")
      ->envname("REMBERT_MAX_CLIENT_BATCH_SIZE")
      ->capture_default_str();
  app.add_option("--max-concurrent-requests", o.max_concurrent_requests,
                 "Inference requests handled at once; more get 429")
      ->envname("REMBERT_MAX_CONCURRENT_REQUESTS")
      ->capture_default_str();
  app.add_option("--max-input-length", o.max_input_length,
                 "Tokens per input (0: the model's max_position_embeddings)")
      ->envname("REMBERT_MAX_INPUT_LENGTH")
      ->capture_default_str();
  app.add_flag("--auto-truncate", o.auto_truncate, "Truncate long inputs when the request does not say truncate")
      ->envname("REMBERT_AUTO_TRUNCATE");
  app.add_option("--payload-limit", o.payload_limit, "Largest request body in bytes; larger gets 413")
      ->envname("REMBERT_PAYLOAD_LIMIT")
      ->capture_default_str();
  app.add_option("--api-key", o.api_key, "Require Authorization: Bearer KEY on every route but /health")
      ->envname("REMBERT_API_KEY");
  app.add_option("--drain-seconds", o.drain_seconds,
                 "After SIGTERM/SIGINT: /health answers 503 at once, requests are still answered this long (so that "
                 "a load balancer notices), then the port closes and the requests in flight finish")
      ->envname("REMBERT_DRAIN_SECONDS")
      ->capture_default_str();
  app.add_option("--read-timeout", o.read_timeout,
                 "Seconds a request (head and body) may take to arrive from its first byte; a slower client gets 408 "
                 "and its connection closes")
      ->envname("REMBERT_READ_TIMEOUT")
      ->capture_default_str();
  app.add_option("--write-timeout", o.write_timeout,
                 "Seconds one write of an answer may wait for the client to read; then the connection closes")
      ->envname("REMBERT_WRITE_TIMEOUT")
      ->capture_default_str();
  app.add_option("--keep-alive-timeout", o.keep_alive_timeout,
                 "Seconds an idle keep-alive connection waits for its next request (an idle connection also closes "
                 "at once when a new connection needs its thread)")
      ->envname("REMBERT_KEEP_ALIVE_TIMEOUT")
      ->capture_default_str();
  app.add_option("--keep-alive-max-requests", o.keep_alive_max_requests, "Requests one connection may carry")
      ->envname("REMBERT_KEEP_ALIVE_MAX_REQUESTS")
      ->capture_default_str();
  // For the test suite only: makes requests overlap deterministically (batching, 429, shutdown while in flight),
  // and holds the server in its loading state (503) for a while.
  app.add_option("--debug-batch-delay-ms", o.debug_batch_delay_ms)->envname("REMBERT_DEBUG_BATCH_DELAY_MS")->group("");
  app.add_option("--debug-load-delay-ms", o.debug_load_delay_ms)->envname("REMBERT_DEBUG_LOAD_DELAY_MS")->group("");
  CLI11_PARSE(app, argc, argv);
  try {
    return rembert::server::run_server(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rembert-server: error: %s\n", e.what());
    return 1;
  }
}
