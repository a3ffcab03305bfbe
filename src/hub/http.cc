#include "hub/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <mutex>

namespace rembert::hub {
namespace {

constexpr size_t kErrorBodyLimit = 4096;

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string trim(const std::string& text) {
  size_t begin = 0, end = text.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(text[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  return text.substr(begin, end - begin);
}

std::string lowercase(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// Per-request state shared with the curl callbacks.
struct Transfer {
  CURL* curl = nullptr;
  HttpResponse response;        // the response being received (reset at each status line)
  size_t max_body = 0;
  const StreamHandler* handler = nullptr;
  bool started = false;         // the final response's body has begun (handler->on_headers called)
  bool accepted = false;        // on_headers returned true
  bool aborted = false;         // on_data returned false
};

void start_body(Transfer& t) {
  if (t.started) return;
  t.started = true;
  long status = 0;
  curl_easy_getinfo(t.curl, CURLINFO_RESPONSE_CODE, &status);
  if (status != 0) t.response.status = status;
  t.accepted = t.handler && t.handler->on_headers ? t.handler->on_headers(t.response) : false;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  const std::string line(data, bytes);
  if (line.rfind("HTTP/", 0) == 0) {
    // A new response (the first, or the next after a redirect or a 100 Continue).
    t.response.headers.clear();
    const size_t space = line.find(' ');
    t.response.status = space == std::string::npos ? 0 : std::strtol(line.c_str() + space + 1, nullptr, 10);
    return bytes;
  }
  const size_t colon = line.find(':');
  if (colon != std::string::npos) {
    t.response.headers[lowercase(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
  }
  return bytes;
}

size_t on_write(char* data, size_t size, size_t count, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  if (!t.started && t.handler) start_body(t);
  if (t.handler && t.accepted) {
    if (t.handler->on_data && !t.handler->on_data(data, bytes)) {
      t.aborted = true;
      return 0;
    }
    return bytes;
  }
  const size_t limit = t.handler ? kErrorBodyLimit : t.max_body;
  if (t.response.body.size() < limit) t.response.body.append(data, std::min(bytes, limit - t.response.body.size()));
  return bytes;
}

int on_progress(void* user, curl_off_t total, curl_off_t now, curl_off_t, curl_off_t) {
  auto& t = *static_cast<Transfer*>(user);
  if (t.handler && t.accepted && t.handler->on_progress) {
    t.handler->on_progress(static_cast<uint64_t>(std::max<curl_off_t>(now, 0)),
                           static_cast<uint64_t>(std::max<curl_off_t>(total, 0)));
  }
  return 0;
}

bool is_partial_failure(CURLcode code) {
  switch (code) {
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string HttpResponse::header(const std::string& lowercase_name) const {
  auto it = headers.find(lowercase_name);
  return it == headers.end() ? std::string() : it->second;
}

HttpClient::HttpClient(double timeout_seconds) : timeout_seconds_(timeout_seconds) {
  global_init();
  curl_ = curl_easy_init();
  if (!curl_) throw Error("cannot initialise libcurl");
}

HttpClient::~HttpClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

HttpResponse HttpClient::head(const std::string& url, const std::vector<std::string>& headers) {
  return perform(url, headers, true, 0, nullptr);
}

HttpResponse HttpClient::get(const std::string& url, const std::vector<std::string>& headers, size_t max_body) {
  return perform(url, headers, false, max_body, nullptr);
}

HttpResponse HttpClient::get_stream(const std::string& url, const std::vector<std::string>& headers,
                                    const StreamHandler& handler) {
  return perform(url, headers, false, 0, &handler);
}

HttpResponse HttpClient::perform(const std::string& url, const std::vector<std::string>& headers, bool head_only,
                                 size_t max_body, const StreamHandler* handler) {
  CURL* curl = static_cast<CURL*>(curl_);
  curl_easy_reset(curl);  // keeps the connection cache
  abort_reason.clear();
  Transfer t;
  t.curl = curl;
  t.max_body = max_body;
  t.handler = handler;
  t.response.url = url;

  curl_slist* header_list = nullptr;
  for (const std::string& h : headers) header_list = curl_slist_append(header_list, h.c_str());
  char error_buffer[CURL_ERROR_SIZE] = {0};
  const long timeout_ms = static_cast<long>(std::lround(timeout_seconds_ * 1000.0));

  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, header_list);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "rembert.cpp/0.1; hf_hub-compatible; libcurl");
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500  // 7.85.0
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#endif
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  // A stalled transfer (under 1 byte/s for the timeout) is cut off; a slow but moving one is not.
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, std::max(1L, timeout_ms / 1000));
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  if (head_only) {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  } else {
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
    if (!handler) curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 6 * timeout_ms);
  }
  if (handler && handler->on_progress) {
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &t);
  }

  const CURLcode code = curl_easy_perform(curl);
  curl_slist_free_all(header_list);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);

  char* effective = nullptr;
  if (curl_easy_getinfo(curl, CURLINFO_EFFECTIVE_URL, &effective) == CURLE_OK && effective) t.response.url = effective;
  if (t.aborted) {
    throw Error(abort_reason.empty() ? "download from " + url + " aborted" : abort_reason);
  }
  if (code != CURLE_OK) {
    const std::string detail = error_buffer[0] ? std::string(error_buffer) : std::string(curl_easy_strerror(code));
    throw NetworkError(detail + " (" + (head_only ? "HEAD " : "GET ") + url + ")", is_partial_failure(code));
  }
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  if (status != 0) t.response.status = status;
  if (handler && !t.started) start_body(t);  // an empty body: the handler still sees the response
  return t.response;
}

std::string resolve_url(const std::string& base, const std::string& location) {
  global_init();
  CURLU* parsed = curl_url();
  if (!parsed) throw Error("cannot initialise libcurl's URL parser");
  std::string result;
  if (curl_url_set(parsed, CURLUPART_URL, base.c_str(), 0) == CURLUE_OK &&
      curl_url_set(parsed, CURLUPART_URL, location.c_str(), 0) == CURLUE_OK) {
    char* full = nullptr;
    if (curl_url_get(parsed, CURLUPART_URL, &full, 0) == CURLUE_OK && full) {
      result = full;
      curl_free(full);
    }
  }
  curl_url_cleanup(parsed);
  if (result.empty()) throw Error("cannot resolve the redirect '" + location + "' from " + base);
  return result;
}

std::string url_origin(const std::string& url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return "";
  const size_t path_start = url.find_first_of("/?#", scheme_end + 3);
  return lowercase(url.substr(0, path_start));
}

std::string url_quote(const std::string& text, bool keep_slash) {
  static const char* digits = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(digits[c >> 4]);
      out.push_back(digits[c & 0xf]);
    }
  }
  return out;
}

}  // namespace rembert::hub
