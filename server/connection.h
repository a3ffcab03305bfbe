// httplib's server with every connection bounded in time and memory. httplib 0.11 (Debian 12) times each read, not
// the request, so a client that sends its head a byte at a time holds a thread for ever; it buffers a header line
// without bound before it checks its length; and an idle keep-alive connection holds a thread for the whole
// keep-alive timeout. BoundedServer runs each connection's loop itself: it waits for a request (giving the thread
// up when another connection needs it), reads the whole request head under a deadline and size limits, and hands
// it to httplib's parser and router (Server::process_request) over a stream whose reads and writes are bounded.
#pragma once

#include <httplib.h>

#include <atomic>
#include <cstddef>
#include <functional>
#include <string>

namespace rembert::server {

class GrowingThreadPool;

struct ConnectionLimits {
  double read_timeout = 10;       // s: a request, head and body, must arrive within this of its first byte
  double write_timeout = 30;      // s: the longest one write waits for the client to take the bytes
  double keep_alive_timeout = 5;  // s: how long a connection waits for its next request
  size_t keep_alive_max_requests = 1000;  // requests one connection may carry, then it closes
  size_t max_threads = 64;        // connection threads (a connection waits for one beyond that)
};

// The request head: the request line at most CPPHTTPLIB_REQUEST_URI_MAX_LENGTH bytes (else 414), each header line
// at most CPPHTTPLIB_HEADER_MAX_LENGTH (httplib's own limits: it answers 400 above them once it has buffered the
// whole line), at most kMaxHeaderLines lines and kMaxHeadBytes in all (else 431).
constexpr size_t kMaxHeaderLines = 100;
constexpr size_t kMaxHeadBytes = 32 * 1024;

class BoundedServer : public httplib::Server {
 public:
  // The JSON body of a request refused before httplib saw it (408, 414, 431), given its status and message.
  using RefusalBody = std::function<std::string(int status, const std::string& message)>;

  explicit BoundedServer(const ConnectionLimits& limits, RefusalBody refusal_body);

  // From now on every connection closes after its current request (the drain).
  void close_connections_after_request() { closing_ = true; }

 private:
  bool process_and_close_socket(socket_t sock) override;

  const ConnectionLimits limits_;
  const RefusalBody refusal_body_;
  std::atomic<GrowingThreadPool*> pool_{nullptr};
  std::atomic<bool> closing_{false};
};

// True when the client of the request this thread is handling has gone away (closed or reset its connection): a
// generation then stops at its next token.
bool client_disconnected();
// True when this thread's current request did not arrive within --read-timeout (its body was too slow): the error
// handler answers 408 instead of httplib's 400.
bool request_timed_out();

}  // namespace rembert::server
