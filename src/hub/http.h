// A small libcurl client for the hub: HEAD for file metadata (redirects not followed, as huggingface_hub does), GET of
// small JSON documents, and streaming GETs for downloads. One client reuses its connections across requests.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "rembert/error.h"

namespace rembert::hub {

// A transport failure (DNS, connection refused, TLS, connection dropped, timeout, write error): `what()` has curl's
// message and the URL. `partial` is true when the server answered but the transfer was cut short: such failures
// are worth retrying.
class NetworkError : public Error {
 public:
  NetworkError(const std::string& message, bool partial) : Error(message), partial_(partial) {}
  bool partial() const { return partial_; }

 private:
  bool partial_;
};

struct HttpResponse {
  long status = 0;
  std::string url;                             // the URL that gave this response
  std::map<std::string, std::string> headers;  // of this response, names lowercased
  std::string body;                            // the first bytes of the body (error pages, JSON documents)

  // The header's value, or "" when absent.
  std::string header(const std::string& lowercase_name) const;
};

// What a streaming GET does with the final response (after redirects).
struct StreamHandler {
  // Called once the final response's headers are in, before any body byte. Return false to ignore the body (it is
  // then kept in HttpResponse::body, up to a few KiB, for the error message).
  std::function<bool(const HttpResponse& head)> on_headers;
  // Called with each chunk of the body. Return false to abort the transfer (a NetworkError then names the cause
  // given through `abort_reason`).
  std::function<bool(const char* data, size_t size)> on_data;
  // Called now and then with the bytes of this response received so far and its total (0 when unknown).
  std::function<void(uint64_t received, uint64_t total)> on_progress;
};

class HttpClient {
 public:
  // `timeout_seconds` bounds connecting, and any stretch without progress.
  explicit HttpClient(double timeout_seconds);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  void set_timeout(double timeout_seconds) { timeout_seconds_ = timeout_seconds; }
  HttpClient& operator=(const HttpClient&) = delete;

  // HEAD; a redirect is returned as is (its status, Location and headers), not followed.
  HttpResponse head(const std::string& url, const std::vector<std::string>& headers);
  // GET, redirects followed; up to `max_body` bytes of the body are kept.
  HttpResponse get(const std::string& url, const std::vector<std::string>& headers, size_t max_body);
  // GET, redirects followed, the final response's body streamed to `handler`.
  HttpResponse get_stream(const std::string& url, const std::vector<std::string>& headers,
                          const StreamHandler& handler);

  // Set by a StreamHandler::on_data that returns false: the message the resulting NetworkError carries.
  std::string abort_reason;

 private:
  HttpResponse perform(const std::string& url, const std::vector<std::string>& headers, bool head_only,
                       size_t max_body, const StreamHandler* handler);
  void* curl_ = nullptr;
  double timeout_seconds_;
};

// Resolves `location` (a redirect's Location header, absolute or relative) against `base`.
std::string resolve_url(const std::string& base, const std::string& location);
// The "scheme://host:port" part of a URL ("" when it has none).
std::string url_origin(const std::string& url);
// Percent-encodes `text` for a URL path; `keep_slash` leaves '/' as is.
std::string url_quote(const std::string& text, bool keep_slash);

}  // namespace rembert::hub
