#include "hub/download.h"

#include <sys/ioctl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

#include "hub/sha256.h"
#include "rembert/error.h"

namespace fs = std::filesystem;

namespace rembert::hub {
namespace {

using Clock = std::chrono::steady_clock;

uint64_t file_size_or_zero(const std::string& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  return ec ? 0 : static_cast<uint64_t>(size);
}

void remove_quietly(const std::string& path) {
  std::error_code ignored;
  fs::remove(path, ignored);
}

// The sha256 of the first `length` bytes of `path`, fed into `hash` (reset first).
void hash_prefix(Sha256& hash, const std::string& path, uint64_t length) {
  hash.reset();
  if (length == 0) return;
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) throw Error("cannot read '" + path + "': " + std::strerror(errno));
  std::vector<char> chunk(1 << 20);
  uint64_t left = length;
  while (left > 0) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(left, chunk.size()));
    const size_t got = std::fread(chunk.data(), 1, want, file);
    if (got == 0) break;
    hash.update(chunk.data(), got);
    left -= got;
  }
  std::fclose(file);
  if (left != 0) throw Error("cannot read '" + path + "': shorter than expected");
}

// The first byte of a "Content-Range: bytes START-END/TOTAL" header, or -1.
long long content_range_start(const std::string& header) {
  const size_t bytes = header.find("bytes");
  if (bytes == std::string::npos) return -1;
  size_t pos = bytes + 5;
  while (pos < header.size() && header[pos] == ' ') ++pos;
  if (pos >= header.size() || !std::isdigit(static_cast<unsigned char>(header[pos]))) return -1;
  return std::strtoll(header.c_str() + pos, nullptr, 10);
}

// What stderr shows while a file downloads: a bar redrawn in place (at most ten times a second), or one line at the
// end.
class Progress {
 public:
  Progress(HubProgress mode, std::string name, uint64_t total)
      : mode_(mode), name_(std::move(name)), total_(total), start_(Clock::now()) {}

  void set_base(uint64_t already) {
    base_ = already;
    shown_ = already;
  }
  void update(uint64_t received) {
    shown_ = base_ + received;
    if (mode_ != HubProgress::Bar) return;
    const auto now = Clock::now();
    if (drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
    draw(now);
  }
  void finish() {
    if (mode_ == HubProgress::Bar) {
      draw(Clock::now());
      std::fputc('\n', stderr);
    } else if (mode_ == HubProgress::Lines) {
      std::fprintf(stderr, "rembert: downloaded %s (%s)\n", name_.c_str(), human_size(shown_).c_str());
    }
    std::fflush(stderr);
  }
  // Before a warning line, so that it does not land in the middle of the bar.
  void break_line() {
    if (mode_ == HubProgress::Bar && drawn_) std::fputc('\n', stderr);
    drawn_ = false;
  }

 private:
  void draw(Clock::time_point now) {
    last_draw_ = now;
    drawn_ = true;
    const double seconds = std::chrono::duration<double>(now - start_).count();
    const double rate = seconds > 0 ? static_cast<double>(shown_ - std::min(shown_, base_)) / seconds : 0.0;
    int columns = 80;
    winsize size{};
    if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) columns = size.ws_col;
    char tail[96];
    if (total_ > 0) {
      const double fraction = std::min(1.0, static_cast<double>(shown_) / static_cast<double>(total_));
      std::snprintf(tail, sizeof tail, " %3d%% %s/%s %s/s", static_cast<int>(fraction * 100.0),
                    human_size(shown_).c_str(), human_size(total_).c_str(),
                    human_size(static_cast<uint64_t>(rate)).c_str());
      std::string label = name_;
      const int room = columns - static_cast<int>(std::strlen(tail)) - 4;
      int bar_width = std::min(30, room - static_cast<int>(label.size()) - 1);
      if (bar_width < 10) {
        bar_width = std::max(0, std::min(30, room / 3));
        const int label_room = std::max(8, room - bar_width - 1);
        if (static_cast<int>(label.size()) > label_room) {
          label = "..." + label.substr(label.size() - static_cast<size_t>(label_room - 3));
        }
      }
      const int filled = static_cast<int>(fraction * bar_width);
      std::string bar(static_cast<size_t>(filled), '#');
      bar.append(static_cast<size_t>(std::max(0, bar_width - filled)), '.');
      std::fprintf(stderr, "\r%s [%s]%s\033[K", label.c_str(), bar.c_str(), tail);
    } else {
      std::snprintf(tail, sizeof tail, " %s %s/s", human_size(shown_).c_str(),
                    human_size(static_cast<uint64_t>(rate)).c_str());
      std::fprintf(stderr, "\r%s%s\033[K", name_.c_str(), tail);
    }
    std::fflush(stderr);
  }

  HubProgress mode_;
  std::string name_;
  uint64_t total_;
  uint64_t base_ = 0;
  uint64_t shown_ = 0;
  Clock::time_point start_;
  Clock::time_point last_draw_{};
  bool drawn_ = false;
};

void warn_if_low_on_space(const std::string& dir, uint64_t needed) {
  struct statvfs info {};
  if (::statvfs(dir.c_str(), &info) != 0) return;
  const uint64_t free_bytes = static_cast<uint64_t>(info.f_bavail) * static_cast<uint64_t>(info.f_frsize);
  if (free_bytes < needed) {
    std::fprintf(stderr, "rembert: warning: %s needs %s more but '%s' has only %s free\n", dir.c_str(),
                 human_size(needed).c_str(), dir.c_str(), human_size(free_bytes).c_str());
  }
}

}  // namespace

std::string human_size(uint64_t bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1000.0 && unit < 4) {
    value /= 1000.0;
    ++unit;
  }
  char text[32];
  if (unit == 0) {
    std::snprintf(text, sizeof text, "%llu B", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(text, sizeof text, "%.1f %s", value, units[unit]);
  }
  return text;
}

void download_blob(HttpClient& http, const BlobRequest& request) {
  const std::string incomplete = request.blob_path + ".incomplete";
  const bool verify_sha = !request.expected_sha256.empty();
  Progress progress(request.progress, request.display_name, request.expected_size.value_or(0));
  Sha256 hash;
  uint64_t hashed = 0;       // bytes of `incomplete` that `hash` covers
  bool hash_valid = false;

  if (request.expected_size) {
    const uint64_t have = file_size_or_zero(incomplete);
    if (*request.expected_size > have) {
      warn_if_low_on_space(fs::path(request.blob_path).parent_path().string(), *request.expected_size - have);
    }
  }

  for (int attempt = 0;; ++attempt) {
    uint64_t resume = file_size_or_zero(incomplete);
    if (request.expected_size && resume > *request.expected_size) {
      remove_quietly(incomplete);  // longer than the file: not a prefix of it
      resume = 0;
    }
    if (verify_sha && (!hash_valid || hashed != resume)) {
      hash_prefix(hash, incomplete, resume);
      hashed = resume;
      hash_valid = true;
    }
    progress.set_base(resume);
    if (request.expected_size && resume == *request.expected_size && resume > 0) break;  // complete already

    std::FILE* file = std::fopen(incomplete.c_str(), "ab");
    if (!file) throw Error("cannot write '" + incomplete + "': " + std::strerror(errno));
    std::vector<std::string> headers = request.headers;
    if (resume > 0) headers.push_back("Range: bytes=" + std::to_string(resume) + "-");

    StreamHandler handler;
    handler.on_headers = [&](const HttpResponse& response) {
      if (response.status == 206) {
        if (content_range_start(response.header("content-range")) != static_cast<long long>(resume)) return false;
        return true;
      }
      if (response.status == 200) {
        if (resume > 0) {  // the server ignored the Range: start over
          if (::ftruncate(::fileno(file), 0) != 0) return false;
          resume = 0;
          progress.set_base(0);
          if (verify_sha) hash.reset();
          hashed = 0;
        }
        return true;
      }
      return false;
    };
    handler.on_data = [&](const char* data, size_t size) {
      if (std::fwrite(data, 1, size, file) != size) {
        http.abort_reason = "cannot write '" + incomplete + "': " + std::strerror(errno);
        return false;
      }
      if (verify_sha) hash.update(data, size);
      hashed += size;
      return true;
    };
    handler.on_progress = [&](uint64_t received, uint64_t) { progress.update(received); };

    HttpResponse response;
    bool retry = false;
    std::string failure;
    try {
      response = http.get_stream(request.url, headers, handler);
    } catch (const NetworkError& e) {
      if (!e.partial()) {
        std::fclose(file);
        throw;
      }
      retry = true;
      failure = e.what();
    } catch (...) {
      std::fclose(file);
      throw;
    }
    if (std::fclose(file) != 0) throw Error("cannot write '" + incomplete + "': " + std::strerror(errno));
    hash_valid = hash_valid && hashed == file_size_or_zero(incomplete);

    if (!retry) {
      if (response.status == 200 || response.status == 206) break;
      if (response.status == 416) {  // our offset is past the end: the partial file is not a prefix
        remove_quietly(incomplete);
        hash_valid = false;
        retry = true;
        failure = "HTTP 416 for a resumed download of " + request.url;
      } else if (response.status == 429 || response.status >= 500) {
        retry = true;
        failure = "HTTP " + std::to_string(response.status) + " from " + request.url;
      } else {
        std::string message = "HTTP " + std::to_string(response.status) + " from " + response.url;
        if (response.status == 206) message += " (a Content-Range that does not start at byte " +
                                               std::to_string(resume) + ")";
        if (!response.body.empty()) message += ": " + response.body.substr(0, 300);
        throw Error(message);
      }
    }
    if (attempt >= request.max_retries) {
      throw NetworkError(failure + "; gave up after " + std::to_string(attempt + 1) + " attempt(s), " +
                             std::to_string(file_size_or_zero(incomplete)) + " bytes kept in '" + incomplete +
                             "' for the next try",
                         true);
    }
    if (request.progress != HubProgress::None) {
      progress.break_line();
      std::fprintf(stderr, "rembert: download of %s interrupted (%s); resuming (retry %d of %d)\n",
                   request.display_name.c_str(), failure.c_str(), attempt + 1, request.max_retries);
    }
    if (request.retry_delay_seconds > 0) {
      std::this_thread::sleep_for(std::chrono::duration<double>(request.retry_delay_seconds * (attempt + 1)));
    }
  }

  const uint64_t size = file_size_or_zero(incomplete);
  if (request.expected_size && size != *request.expected_size) {
    remove_quietly(incomplete);
    throw Error("size mismatch for " + request.display_name + " downloaded from " + request.url + ": expected " +
                std::to_string(*request.expected_size) + " bytes, got " + std::to_string(size) +
                "; the partial file was deleted, try again");
  }
  if (verify_sha) {
    if (!hash_valid || hashed != size) hash_prefix(hash, incomplete, size);
    const std::string actual = hash.hex_digest();
    if (actual != request.expected_sha256) {
      remove_quietly(incomplete);
      throw Error("checksum mismatch for " + request.display_name + " downloaded from " + request.url +
                  ": expected sha256 " + request.expected_sha256 + ", got " + actual +
                  "; the corrupt download was deleted, try again");
    }
  }
  if (std::rename(incomplete.c_str(), request.blob_path.c_str()) != 0) {
    throw Error("cannot move '" + incomplete + "' to '" + request.blob_path + "': " + std::strerror(errno));
  }
  progress.finish();
}

}  // namespace rembert::hub
