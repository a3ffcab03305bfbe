#include "hub/cache.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "rembert/error.h"

namespace fs = std::filesystem;

namespace rembert::hub {
namespace {

std::string trim(const std::string& text) {
  size_t begin = 0, end = text.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(text[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  return text.substr(begin, end - begin);
}

bool has_bad_components(const std::string& path) {
  if (path.empty() || path.front() == '/' || path.back() == '/') return true;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    const std::string part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return true;
    start = end + 1;
  }
  for (char c : path) {
    if (c == '\\' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
  }
  return false;
}

}  // namespace

std::optional<std::string> env_value(const char* name) {
  const char* value = std::getenv(name);
  if (!value || !*value) return std::nullopt;
  return std::string(value);
}

bool env_true(const char* name) {
  auto value = env_value(name);
  if (!value) return false;
  std::string upper = trim(*value);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return upper == "1" || upper == "ON" || upper == "YES" || upper == "TRUE";
}

std::string expand_user(const std::string& path) {
  if (path.empty() || path[0] != '~' || (path.size() > 1 && path[1] != '/')) return path;
  auto home = env_value("HOME");
  if (!home) return path;
  return *home + path.substr(1);
}

std::string hf_home() {
  if (auto home = env_value("HF_HOME")) return expand_user(*home);
  const std::string xdg = env_value("XDG_CACHE_HOME").value_or("~/.cache");
  return expand_user(xdg + "/huggingface");
}

std::string default_hub_cache() {
  if (auto dir = env_value("HF_HUB_CACHE")) return expand_user(*dir);
  if (auto dir = env_value("HUGGINGFACE_HUB_CACHE")) return expand_user(*dir);
  return hf_home() + "/hub";
}

Token find_token(const std::optional<std::string>& explicit_token) {
  if (explicit_token) return {trim(*explicit_token), "the options"};
  if (auto token = env_value("HF_TOKEN")) return {trim(*token), "HF_TOKEN"};
  if (auto token = env_value("HUGGING_FACE_HUB_TOKEN")) return {trim(*token), "HUGGING_FACE_HUB_TOKEN"};
  const std::string path = env_value("HF_TOKEN_PATH") ? expand_user(*env_value("HF_TOKEN_PATH")) : hf_home() + "/token";
  if (auto text = read_small_file(path)) {
    const std::string token = trim(*text);
    if (!token.empty()) return {token, "the token file " + path};
  }
  return {"", ""};
}

bool is_commit_hash(const std::string& text) {
  if (text.size() != 40) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

void check_revision(const std::string& revision, const std::string& model) {
  if (has_bad_components(revision)) {
    throw Error("invalid revision '" + revision + "' for model '" + model +
                "': expected a branch, a tag or a commit hash (no empty, '.' or '..' parts)");
  }
}

void check_repo_filename(const std::string& filename, const std::string& model) {
  if (has_bad_components(filename)) {
    throw Error("invalid file name '" + filename + "' in model '" + model +
                "': expected a relative path inside the repo (no empty, '.' or '..' parts)");
  }
}

bool is_safe_component(const std::string& text) {
  if (text.empty() || text.size() > 200 || text == "." || text == "..") return false;
  for (char c : text) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  }
  return true;
}

std::string normalize_etag(const std::string& etag) {
  std::string value = trim(etag);
  if (value.rfind("W/", 0) == 0) value = value.substr(2);
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
  return value;
}

void make_dirs(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec && !fs::is_directory(dir)) throw Error("cannot create the folder '" + dir + "': " + ec.message());
}

bool exists_following_links(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

bool is_regular_file_following_links(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

std::optional<std::string> read_small_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string unique_suffix() {
  static std::atomic<unsigned long> counter{0};
  return std::to_string(static_cast<long>(::getpid())) + "-" + std::to_string(counter.fetch_add(1));
}

void write_file_atomic(const std::string& path, const std::string& content) {
  make_dirs(fs::path(path).parent_path().string());
  const std::string tmp = path + ".tmp-" + unique_suffix();
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
    out.close();
    if (!out) {
      std::error_code ignored;
      fs::remove(tmp, ignored);
      throw Error("cannot write '" + tmp + "': " + std::strerror(errno));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw Error("cannot move '" + tmp + "' to '" + path + "': " + std::strerror(saved));
  }
}

void touch_file(const std::string& path) {
  make_dirs(fs::path(path).parent_path().string());
  std::FILE* file = std::fopen(path.c_str(), "ab");
  if (!file) throw Error("cannot create '" + path + "': " + std::strerror(errno));
  std::fclose(file);
}

void link_pointer(const std::string& blob_path, const std::string& pointer_path, const std::string& filename) {
  make_dirs(fs::path(pointer_path).parent_path().string());
  std::string target;
  for (size_t depth = 0; depth < 2 + static_cast<size_t>(std::count(filename.begin(), filename.end(), '/'));
       ++depth) {
    target += "../";
  }
  target += "blobs/" + fs::path(blob_path).filename().string();
  const std::string tmp = pointer_path + ".tmp-" + unique_suffix();
  std::error_code ec;
  fs::create_symlink(target, tmp, ec);
  if (!ec) {
    if (std::rename(tmp.c_str(), pointer_path.c_str()) == 0) return;
    const int saved = errno;
    fs::remove(tmp, ec);
    throw Error("cannot create the link '" + pointer_path + "': " + std::strerror(saved));
  }
  // No symlinks on this filesystem: a copy, as huggingface_hub does.
  std::error_code copy_error;
  fs::copy_file(blob_path, tmp, fs::copy_options::overwrite_existing, copy_error);
  if (copy_error || std::rename(tmp.c_str(), pointer_path.c_str()) != 0) {
    fs::remove(tmp, ec);
    throw Error("cannot place '" + pointer_path + "' (link to, or copy of, '" + blob_path + "'): " +
                (copy_error ? copy_error.message() : std::string(std::strerror(errno))));
  }
}

FileLock::FileLock(const std::string& path, const std::string& waiting_message) {
  make_dirs(fs::path(path).parent_path().string());
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0664);
  if (fd_ < 0) throw Error("cannot open the lock file '" + path + "': " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) return;
  if (errno == EWOULDBLOCK && !waiting_message.empty()) std::fprintf(stderr, "%s\n", waiting_message.c_str());
  while (::flock(fd_, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    const int saved = errno;
    ::close(fd_);
    fd_ = -1;
    throw Error("cannot lock '" + path + "': " + std::strerror(saved));
  }
}

FileLock::~FileLock() {
  if (fd_ >= 0) {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }
}

}  // namespace rembert::hub
