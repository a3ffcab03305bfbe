// rembert-server: one model, many clients, the HTTP conventions of text-embeddings-inference (TEI), the OpenAI
// embeddings API and text-generation-inference's /generate. See docs/server.md for routes, flags and figures.
#pragma once

#include <cstdint>
#include <string>

namespace rembert::server {

struct ServerOptions {
  std::string model;           // folder or hub id
  std::string revision;        // hub revision
  std::string head;            // empty: config.architectures[0]
  std::string dtype;  // empty: float32, or a converted model's dtype
  std::string pooling = "cls";  // /embed default pooling: cls or mean
  std::string host = "127.0.0.1";
  int port = 8080;              // 0: any free port (the bound port is printed)
  int threads = 0;              // compute threads (0: all cores)
  int64_t max_batch_tokens = 16384;
  int64_t max_batch_requests = 0;  // 0: no limit
  int64_t max_client_batch_size = 32;
  int64_t max_concurrent_requests = 512;
  int64_t max_input_length = 0;  // 0: max_position_embeddings
  bool auto_truncate = false;
  int64_t payload_limit = 2000000;
  std::string api_key;
  double drain_seconds = 2;      // after SIGTERM: /health 503, requests still answered this long
  double read_timeout = 10;      // s: a request (head and body) must arrive within this of its first byte (408)
  double write_timeout = 30;     // s: the longest one write waits for the client to read
  double keep_alive_timeout = 5;  // s: how long an idle connection waits for its next request
  int64_t keep_alive_max_requests = 1000;  // requests per connection, then it closes
  int debug_batch_delay_ms = 0;  // tests only: the worker sleeps this long before each batch
  int debug_load_delay_ms = 0;   // tests only: loading the model starts this much later
};

// Opens the port, loads the model (503 meanwhile), serves until SIGTERM/SIGINT, drains (--drain-seconds, then the
// requests in flight) and returns the exit code (0 after a graceful shutdown). Errors while starting throw
// rembert::Error.
int run_server(const ServerOptions& options);

}  // namespace rembert::server
