// One connection's life: wait for a request, read its head under limits, let httplib parse and answer it, repeat
// while keep-alive allows.
#include "connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "thread_pool.h"

namespace rembert::server {

namespace {

using Clock = std::chrono::steady_clock;

// How often a waiting connection looks whether the server stops or another connection needs its thread.
constexpr int kTickMs = 100;
// A refused request's client may still be sending: its input is read and dropped this long at most after the answer,
// so that the close does not reset the connection before the client has read the answer.
constexpr int kLingerMs = 1000;

int ms_until(Clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(ms, 0, 1 << 30));
}

Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

// poll() for `events` up to `timeout_ms`: >0 ready (revents in *revents), 0 timed out, <0 error.
int wait_fd(int fd, short events, int timeout_ms, short* revents = nullptr) {
  pollfd p{fd, events, 0};
  int r;
  do {
    r = ::poll(&p, 1, timeout_ms);
  } while (r < 0 && errno == EINTR);
  if (revents) *revents = p.revents;
  return r;
}

void ip_and_port(const sockaddr_storage& addr, std::string& ip, int& port) {
  char text[INET6_ADDRSTRLEN] = "";
  if (addr.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(addr);
    inet_ntop(AF_INET, &a.sin_addr, text, sizeof(text));
    port = ntohs(a.sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(addr);
    inet_ntop(AF_INET6, &a.sin6_addr, text, sizeof(text));
    port = ntohs(a.sin6_port);
  }
  ip = text;
}

// A refusal read_head() returns besides a status.
constexpr int kHeadComplete = 0;
constexpr int kClientGone = -1;

// The connection as httplib reads and writes it, buffered across the requests it carries (so that a pipelined
// request's bytes read along with the previous one are kept).
class Connection final : public httplib::Stream {
 public:
  Connection(int fd, const ConnectionLimits& limits) : fd_(fd), limits_(limits) {}

  bool is_readable() const override {
    return pos_ < buf_.size() || wait_fd(fd_, POLLIN, read_wait_ms()) > 0;
  }
  bool is_writable() const override {
    short revents = 0;
    const int timeout = static_cast<int>(limits_.write_timeout * 1000);
    return wait_fd(fd_, POLLOUT, timeout, &revents) > 0 && !(revents & (POLLERR | POLLHUP));
  }

  ssize_t read(char* ptr, size_t size) override {
    if (pos_ == buf_.size()) {
      const ssize_t n = fill();
      if (n <= 0) return n;
    }
    const size_t n = std::min(size, buf_.size() - pos_);
    std::memcpy(ptr, buf_.data() + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }

  // What fits now, once the client makes room within --write-timeout; httplib writes the rest in further calls.
  ssize_t write(const char* ptr, size_t size) override {
    if (failed_write_) return -1;
    short revents = 0;
    if (wait_fd(fd_, POLLOUT, static_cast<int>(limits_.write_timeout * 1000), &revents) <= 0 ||
        (revents & (POLLERR | POLLHUP))) {
      failed_write_ = true;
      return -1;
    }
    ssize_t n;
    do {
      n = ::send(fd_, ptr, size, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    if (n < 0) failed_write_ = true;
    return n;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    if (getpeername(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) ip_and_port(addr, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    if (getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) ip_and_port(addr, ip, port);
  }
  socket_t socket() const override { return fd_; }

  // Waits up to --keep-alive-timeout (from `since`) for the first byte of the next request, and starts its
  // --read-timeout clock: from that byte, or from `since` when the byte was there already. False: the client
  // closed, the wait ended, the server is stopping, or a queued connection needs this thread (`pool` says so).
  bool wait_for_request(Clock::time_point since, const std::atomic<socket_t>& listening, GrowingThreadPool* pool) {
    buf_.erase(0, pos_);
    pos_ = 0;
    Clock::time_point first_byte = since;
    if (buf_.empty() && wait_fd(fd_, POLLIN, 0) == 0) {
      const Clock::time_point end = since + seconds(limits_.keep_alive_timeout);
      for (;;) {
        if (listening == INVALID_SOCKET || (pool && pool->make_room())) return false;
        const int left = ms_until(end);
        if (left == 0) return false;
        const int r = wait_fd(fd_, POLLIN, std::min(left, kTickMs));
        if (r < 0) return false;
        if (r > 0) break;
      }
      first_byte = Clock::now();
    }
    deadline_ = first_byte + seconds(limits_.read_timeout);
    return !buf_.empty() || fill() > 0;
  }

  // Reads until the buffer holds the whole request head. kHeadComplete, kClientGone (closed or failed: nothing to
  // answer), or the status to refuse the request with: 408 (too slow), 414 or 431 (too large).
  int read_head() {
    size_t scanned = pos_, line_start = pos_, lines = 0;
    for (;;) {
      for (; scanned < buf_.size(); ++scanned) {
        if (buf_[scanned] != '\n') continue;
        const size_t length = scanned + 1 - line_start;
        if (scanned + 1 - pos_ > kMaxHeadBytes) return 431;
        if (lines == 0 && length > CPPHTTPLIB_REQUEST_URI_MAX_LENGTH) return 414;
        if (lines > 0 && length == 2 && buf_[line_start] == '\r') return kHeadComplete;
        if (lines > 0 && length > CPPHTTPLIB_HEADER_MAX_LENGTH) return 431;
        if (++lines > kMaxHeaderLines + 1) return 431;
        line_start = scanned + 1;
      }
      // The line still arriving, and the head so far.
      const size_t partial = buf_.size() - line_start;
      if (lines == 0 && partial > CPPHTTPLIB_REQUEST_URI_MAX_LENGTH) return 414;
      if (lines > 0 && partial > CPPHTTPLIB_HEADER_MAX_LENGTH) return 431;
      if (buf_.size() - pos_ > kMaxHeadBytes) return 431;
      if (fill() <= 0) return timed_out_ ? 408 : kClientGone;
    }
  }

  // Answers a refused request and closes: the client may still be sending, so its input is drained a moment first.
  void refuse(int status, const std::string& message, const BoundedServer::RefusalBody& body_of) {
    const char* reason = status == 408 ? "Request Timeout" : status == 414 ? "URI Too Long"
                                                           : "Request Header Fields Too Large";
    const std::string body = body_of ? body_of(status, message) : std::string();
    const std::string response = "HTTP/1.1 " + std::to_string(status) + " " + reason +
                                 "\r\nContent-Type: application/json\r\nContent-Length: " +
                                 std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    for (size_t sent = 0; sent < response.size();) {
      const ssize_t n = write(response.data() + sent, response.size() - sent);
      if (n < 0) return;
      sent += static_cast<size_t>(n);
    }
    ::shutdown(fd_, SHUT_WR);
    const Clock::time_point end = Clock::now() + std::chrono::milliseconds(kLingerMs);
    char sink[16384];
    while (wait_fd(fd_, POLLIN, ms_until(end)) > 0) {
      if (::recv(fd_, sink, sizeof(sink), MSG_DONTWAIT) <= 0) break;
    }
  }

  bool timed_out() const { return timed_out_; }
  bool ended() const { return timed_out_ || eof_ || failed_write_; }

  bool peer_gone() const {
    short revents = 0;
    return wait_fd(fd_, POLLIN | POLLRDHUP, 0, &revents) > 0 && (revents & (POLLRDHUP | POLLHUP | POLLERR));
  }

 private:
  // The wait for the next read: --read-timeout, cut short by the request's deadline.
  int read_wait_ms() const {
    return std::min(static_cast<int>(limits_.read_timeout * 1000), ms_until(deadline_));
  }

  // One recv() into the buffer: the bytes read, 0 at the end of the stream, -1 on an error or past the deadline.
  // Bytes that have arrived are taken even past the deadline: only waiting for more is bounded.
  ssize_t fill() {
    if (pos_ == buf_.size()) {
      buf_.clear();
      pos_ = 0;
    }
    char chunk[16384];
    for (;;) {
      const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), MSG_DONTWAIT);
      if (n > 0) {
        buf_.append(chunk, static_cast<size_t>(n));
        return n;
      }
      if (n == 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) {
        eof_ = true;
        return n == 0 ? 0 : -1;
      }
      if (errno == EINTR) continue;
      const int wait = read_wait_ms();
      const int r = wait == 0 ? 0 : wait_fd(fd_, POLLIN, wait);
      if (r == 0) timed_out_ = true;
      if (r <= 0) return -1;
    }
  }

  const int fd_;
  const ConnectionLimits& limits_;
  std::string buf_;  // bytes read, from pos_ on not yet consumed
  size_t pos_ = 0;
  Clock::time_point deadline_ = Clock::now();
  bool timed_out_ = false, eof_ = false, failed_write_ = false;
};

thread_local Connection* t_connection = nullptr;

std::string refusal_message(int status, const ConnectionLimits& limits) {
  char text[256];
  if (status == 408) {
    std::snprintf(text, sizeof(text), "request timeout: the request did not arrive within %g s (--read-timeout)",
                  limits.read_timeout);
  } else if (status == 414) {
    std::snprintf(text, sizeof(text), "request line longer than %d bytes", CPPHTTPLIB_REQUEST_URI_MAX_LENGTH);
  } else {
    std::snprintf(text, sizeof(text),
                  "request header fields too large: a header line longer than %d bytes, more than %zu header "
                  "lines, or a head longer than %zu bytes",
                  CPPHTTPLIB_HEADER_MAX_LENGTH, kMaxHeaderLines, kMaxHeadBytes);
  }
  return text;
}

}  // namespace

BoundedServer::BoundedServer(const ConnectionLimits& limits, RefusalBody refusal_body)
    : limits_(limits), refusal_body_(std::move(refusal_body)) {
  new_task_queue = [this] {
    auto* pool = new GrowingThreadPool(limits_.max_threads);
    pool_ = pool;  // lives until listen returns, as long as every connection thread
    return pool;
  };
}

bool BoundedServer::process_and_close_socket(socket_t sock) {
  Connection connection(sock, limits_);
  // The first request's clocks start when the connection was accepted (it may have waited for a thread), the next
  // ones' when the previous answer went out.
  Clock::time_point since = GrowingThreadPool::job_queued_at();
  bool ok = false;
  for (size_t left = limits_.keep_alive_max_requests; left > 0; --left, since = Clock::now()) {
    if (!connection.wait_for_request(since, svr_sock_, pool_)) break;
    const int head = connection.read_head();
    if (head == kClientGone) break;
    if (head != kHeadComplete) {
      connection.refuse(head, refusal_message(head, limits_), refusal_body_);
      break;
    }
    bool client_closes = false;
    t_connection = &connection;
    ok = process_request(connection, left == 1 || closing_, client_closes, nullptr);
    t_connection = nullptr;
    if (!ok || client_closes || closing_ || connection.ended()) break;
  }
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  return ok;
}

bool client_disconnected() { return t_connection && t_connection->peer_gone(); }

bool request_timed_out() { return t_connection && t_connection->timed_out(); }

}  // namespace rembert::server
