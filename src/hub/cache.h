// The huggingface_hub cache on disk: where it is (environment), what its names look like (repo ids, revisions,
// ETags), and the small file operations that keep it consistent between processes (atomic writes, relative
// symlinks, flock).
#pragma once

#include <optional>
#include <string>

namespace rembert::hub {

// The variable's value, or nullopt when it is unset or empty.
std::optional<std::string> env_value(const char* name);
// huggingface_hub's truthiness: 1, ON, YES, TRUE (any case).
bool env_true(const char* name);
// "~" and "~/..." expanded with $HOME.
std::string expand_user(const std::string& path);
// HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface.
std::string hf_home();
// HF_HUB_CACHE, else HUGGINGFACE_HUB_CACHE, else HF_HOME/hub.
std::string default_hub_cache();

struct Token {
  std::string value;   // "" when none
  std::string source;  // "HF_TOKEN", "the token file /path", "the options"
};
// `explicit_token` when set; else HF_TOKEN, HUGGING_FACE_HUB_TOKEN, then the file HF_TOKEN_PATH or HF_HOME/token.
Token find_token(const std::optional<std::string>& explicit_token);

// A full commit hash: 40 lowercase hex digits.
bool is_commit_hash(const std::string& text);
// Throw rembert::Error (naming `model`) when a revision or a filename could escape its folder in the cache.
void check_revision(const std::string& revision, const std::string& model);
void check_repo_filename(const std::string& filename, const std::string& model);
// A server-given name (commit, ETag) used as one path component: letters, digits, '-', '_', '.'; not "." / "..".
bool is_safe_component(const std::string& text);
// The ETag header's value without a weak "W/" prefix and quotes.
std::string normalize_etag(const std::string& etag);

// Filesystem helpers; every failure throws rembert::Error naming the path.
void make_dirs(const std::string& dir);
bool exists_following_links(const std::string& path);
bool is_regular_file_following_links(const std::string& path);
std::optional<std::string> read_small_file(const std::string& path);
void write_file_atomic(const std::string& path, const std::string& content);
void touch_file(const std::string& path);
// snapshots/{commit}/{filename} -> ../../blobs/{etag} (one more "../" per folder in `filename`), replaced
// atomically; where symlinks are not supported, a copy of the blob.
void link_pointer(const std::string& blob_path, const std::string& pointer_path, const std::string& filename);
// A name unique to this process and call, for temporary files next to their destination.
std::string unique_suffix();

// An exclusive flock(2) on `path` (created if needed), held for the object's lifetime; `on_wait` is called once if
// another process holds it.
class FileLock {
 public:
  FileLock(const std::string& path, const std::string& waiting_message);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace rembert::hub
