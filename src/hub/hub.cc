// Resolving a model id to a local folder, with huggingface_hub's cache layout and request sequence:
//
//   HEAD {endpoint}/{repo}/resolve/{revision}/{file}   (redirects not followed, except relative ones)
//     -> X-Repo-Commit (the commit), X-Linked-Etag or ETag (the blob name), X-Linked-Size or Content-Length,
//        Location (the CDN URL of LFS files)
//   GET  the file (redirects followed)  -> blobs/{etag}.incomplete -> blobs/{etag}
//   snapshots/{commit}/{file} -> ../../blobs/{etag};  refs/{revision} = commit;  .no_exist/{commit}/{file} on 404
//
// Once the first request has told the commit, the other files are asked for at that commit: they all come from one
// snapshot even if the branch moves meanwhile, and files already in that snapshot (or known missing from it) need
// no request at all. A cache hit therefore costs one HEAD; a full commit hash as the revision costs none.
#include "rembert/hub.h"

#include <fnmatch.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "hub/cache.h"
#include "hub/download.h"
#include "hub/http.h"
#include "rembert/error.h"

namespace fs = std::filesystem;

namespace rembert {
namespace {

using hub::HttpResponse;

constexpr const char* kDefaultEndpoint = "https://huggingface.co";
constexpr double kDefaultTimeoutSeconds = 10.0;

const char* const kTokenizerFiles[] = {"tokenizer.json", "sentencepiece.model", "tokenizer_config.json",
                                       "special_tokens_map.json"};
// In load_checkpoint's order: the PyTorch files win; tf_model.h5 is fetched only when a repo has none of them.
const char* const kWeightFiles[] = {"model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                                    "pytorch_model.bin.index.json", "tf_model.h5"};

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

double timeout_from_env(const char* name, double fallback) {
  if (auto value = hub::env_value(name)) {
    char* end = nullptr;
    const double seconds = std::strtod(value->c_str(), &end);
    if (end != value->c_str() && seconds > 0) return seconds;
  }
  return fallback;
}

// One model being resolved: where its cache folder is, how to reach the hub, and what has been learnt so far.
struct Session {
  std::string model;     // the repo id
  std::string revision;  // as asked ("main" by default)
  std::string endpoint;
  std::string cache;     // the hub cache folder
  std::string storage;   // {cache}/models--org--name
  bool offline = false;
  hub::Token token;
  HubProgress progress = HubProgress::None;
  int max_retries = 0;
  double retry_delay_seconds = 0.0;
  double metadata_timeout = kDefaultTimeoutSeconds;
  double download_timeout = kDefaultTimeoutSeconds;

  std::string commit;                          // the snapshot, once known
  std::optional<std::string> network_error;    // set when the hub could not be reached: the cache is used instead
  bool warned_about_network = false;
  std::optional<std::vector<std::string>> file_list;  // for patterns
  std::unique_ptr<hub::HttpClient> http_client;

  hub::HttpClient& http() {
    if (!http_client) http_client = std::make_unique<hub::HttpClient>(metadata_timeout);
    return *http_client;
  }
  std::string where() const { return "on the hub at " + endpoint + " (revision '" + revision + "')"; }
  std::string pointer_path(const std::string& filename) const {
    return storage + "/snapshots/" + commit + "/" + filename;
  }
  std::string no_exist_path(const std::string& filename) const {
    return storage + "/.no_exist/" + commit + "/" + filename;
  }
  // Authorization goes to the endpoint's own host only, never to a CDN.
  std::vector<std::string> request_headers(const std::string& url) const {
    std::vector<std::string> headers;
    if (!token.value.empty() && hub::url_origin(url) == hub::url_origin(endpoint)) {
      headers.push_back("Authorization: Bearer " + token.value);
    }
    return headers;
  }
};

Session open_session(const std::string& repo_id, const HubOptions& options) {
  Session s;
  s.model = repo_id;
  s.revision = options.revision.empty() ? "main" : options.revision;
  hub::check_revision(s.revision, repo_id);
  s.endpoint = !options.endpoint.empty() ? options.endpoint : hub::env_value("HF_ENDPOINT").value_or(kDefaultEndpoint);
  while (!s.endpoint.empty() && s.endpoint.back() == '/') s.endpoint.pop_back();
  if (s.endpoint.rfind("http://", 0) != 0 && s.endpoint.rfind("https://", 0) != 0) {
    throw Error("the hub endpoint '" + s.endpoint + "' (HF_ENDPOINT) is not an http:// or https:// URL");
  }
  s.cache = options.cache_dir.empty() ? hub::default_hub_cache() : hub::expand_user(options.cache_dir);
  while (s.cache.size() > 1 && s.cache.back() == '/') s.cache.pop_back();
  s.storage = s.cache + "/" + hub_repo_folder_name(repo_id);
  s.offline = options.offline ? *options.offline
                              : hub::env_true("HF_HUB_OFFLINE") || hub::env_true("TRANSFORMERS_OFFLINE");
  s.token = hub::find_token(options.token);
  s.progress = options.progress;
  if (s.progress == HubProgress::Auto) {
    if (hub::env_true("HF_HUB_DISABLE_PROGRESS_BARS")) {
      s.progress = HubProgress::None;
    } else {
      s.progress = ::isatty(STDERR_FILENO) ? HubProgress::Bar : HubProgress::Lines;
    }
  }
  s.max_retries = std::max(0, options.max_retries);
  s.retry_delay_seconds = std::max(0.0, options.retry_delay_seconds);
  s.metadata_timeout = options.timeout_seconds > 0 ? options.timeout_seconds
                                                   : timeout_from_env("HF_HUB_ETAG_TIMEOUT", kDefaultTimeoutSeconds);
  s.download_timeout = options.timeout_seconds > 0
                           ? options.timeout_seconds
                           : timeout_from_env("HF_HUB_DOWNLOAD_TIMEOUT", kDefaultTimeoutSeconds);
  if (hub::is_commit_hash(s.revision)) s.commit = s.revision;
  return s;
}

// The commit that the cache has for the session's revision: the revision itself when it is a commit hash, else
// refs/{revision}. "" when the cache does not know it.
std::string cached_commit(const Session& s) {
  if (hub::is_commit_hash(s.revision)) return s.revision;
  auto ref = hub::read_small_file(s.storage + "/refs/" + s.revision);
  if (!ref) return "";
  std::string commit = *ref;
  while (!commit.empty() && std::isspace(static_cast<unsigned char>(commit.back()))) commit.pop_back();
  return hub::is_safe_component(commit) ? commit : "";
}

// refs/{revision} = commit, when the revision is a branch or tag (as huggingface_hub writes it).
void record_commit(Session& s, const std::string& commit, const std::string& source) {
  if (!hub::is_safe_component(commit)) {
    throw Error("the hub at " + s.endpoint + " answered " + source + " with an invalid X-Repo-Commit '" + commit +
                "'");
  }
  if (s.commit.empty()) {
    s.commit = commit;
  } else if (s.commit != commit) {
    throw Error("the hub at " + s.endpoint + " answered " + source + " with commit " + commit +
                " where the snapshot being fetched is " + s.commit);
  }
  if (s.revision != commit) {
    const std::string ref_path = s.storage + "/refs/" + s.revision;
    auto existing = hub::read_small_file(ref_path);
    if (!existing || *existing != commit) hub::write_file_atomic(ref_path, commit);
  }
}

std::string not_found_suffix(const Session& s) {
  std::string text;
  if (s.token.value.empty()) text += "; if it is a private or gated repo, set HF_TOKEN to a token that can read it";
  if (s.model.find('/') == std::string::npos || !fs::exists(s.model)) {
    text += " (there is no local folder '" + s.model + "' either)";
  }
  return text;
}

std::string hub_error_detail(const HttpResponse& r) {
  std::string detail = "HTTP " + std::to_string(r.status) + " for " + r.url;
  const std::string message = r.header("x-error-message");
  if (!message.empty()) detail += ": " + message;
  return detail;
}

// 401/403/404 and other failures of a metadata or listing request, as messages that say what to do.
[[noreturn]] void throw_for_status(const Session& s, const HttpResponse& r, const std::string& what) {
  const std::string code = r.header("x-error-code");
  if (r.status == 401 || r.status == 403) {
    std::string message;
    if (code == "GatedRepo") {
      message = "model '" + s.model + "' " + s.where() + " is gated (" + hub_error_detail(r) +
                "): accept its conditions at " + s.endpoint + "/" + s.model + " and set HF_TOKEN to a token of that "
                "account";
    } else {
      message = "access to model '" + s.model + "' " + s.where() + " was refused (" + hub_error_detail(r) +
                "): the repo is private or gated, or does not exist";
    }
    if (s.token.value.empty()) {
      message += ". No token was sent: set HF_TOKEN (or run `huggingface-cli login`, which writes HF_HOME/token) "
                 "to a token that can read it";
    } else {
      message += ". The token from " + s.token.source + " was sent and is invalid or lacks access to this repo "
                 "(check HF_TOKEN)";
    }
    throw Error(message);
  }
  if (r.status == 404) {
    if (code == "RevisionNotFound") {
      throw Error("model '" + s.model + "' not found " + s.where() + ": no branch, tag or commit '" + s.revision +
                  "' (" + hub_error_detail(r) + ")");
    }
    if (code == "RepoNotFound") {
      throw Error("model '" + s.model + "' not found " + s.where() + ": " + hub_error_detail(r) + not_found_suffix(s));
    }
    if (code == "EntryNotFound") {
      throw Error("model '" + s.model + "' " + s.where() + " has no " + what + " (" + hub_error_detail(r) + ")");
    }
    throw Error("model '" + s.model + "' " + s.where() + " has no " + what + ", or the model or revision does " +
                "not exist (" + hub_error_detail(r) + ")" + not_found_suffix(s));
  }
  std::string message = "the hub at " + s.endpoint + " failed to serve " + what + " of model '" + s.model + "' (" +
                        hub_error_detail(r) + ")";
  if (!r.body.empty() && r.header("x-error-message").empty()) message += ": " + r.body.substr(0, 200);
  throw Error(message);
}

bool is_relative_location(const std::string& location) {
  if (location.rfind("//", 0) == 0) return false;
  const size_t scheme = location.find("://");
  return scheme == std::string::npos || location.find_first_of("/?#") < scheme;
}

// HEAD for a file's metadata. Relative redirects (a renamed repo, the hub's resolve cache) are followed; absolute
// ones (the CDN of LFS files) are not: their headers are the metadata.
HttpResponse head_metadata(Session& s, std::string url) {
  s.http().set_timeout(s.metadata_timeout);
  for (int hop = 0; hop < 10; ++hop) {
    std::vector<std::string> headers = s.request_headers(url);
    headers.push_back("Accept-Encoding: identity");
    HttpResponse r = s.http().head(url, headers);
    const std::string location = r.header("location");
    if (r.status >= 300 && r.status < 400 && !location.empty() && is_relative_location(location)) {
      url = hub::resolve_url(url, location);
      continue;
    }
    return r;
  }
  throw Error("too many redirects from " + url);
}

[[noreturn]] void throw_missing_file(const Session& s, const std::string& filename) {
  if (s.offline) {
    throw Error("'" + filename + "' of model '" + s.model + "' (revision '" + s.revision + "') is not in the cache (" +
                s.storage + "/snapshots/" + s.commit + ") and offline mode is on (HF_HUB_OFFLINE=1 or --offline): "
                "run once with network access to download it, or pass a local folder");
  }
  throw Error("model '" + s.model + "' " + s.where() + " has no file '" + filename + "'");
}

std::optional<std::string> fetch_offline(Session& s, const std::string& filename, bool required) {
  if (s.commit.empty()) {
    s.commit = cached_commit(s);
    if (s.commit.empty()) {
      throw Error("model '" + s.model + "' (revision '" + s.revision + "') is not in the cache at " + s.cache +
                  " and offline mode is on (HF_HUB_OFFLINE=1 or --offline): run once with network access to "
                  "download it, or pass a local folder");
    }
  }
  const std::string pointer = s.pointer_path(filename);
  if (hub::exists_following_links(pointer)) return pointer;
  if (required) throw_missing_file(s, filename);
  return std::nullopt;
}

// The hub could not be reached: like huggingface_hub, use what the cache has for the revision.
std::optional<std::string> fetch_after_network_error(Session& s, const std::string& filename, bool required) {
  if (s.commit.empty()) s.commit = cached_commit(s);
  if (!s.commit.empty()) {
    const std::string pointer = s.pointer_path(filename);
    if (hub::exists_following_links(pointer)) {
      if (!s.warned_about_network && s.progress != HubProgress::None) {
        std::fprintf(stderr, "rembert: warning: cannot reach %s (%s); using the cached snapshot %s of %s\n",
                     s.endpoint.c_str(), s.network_error->c_str(), s.commit.c_str(), s.model.c_str());
        s.warned_about_network = true;
      }
      return pointer;
    }
  }
  if (!required) return std::nullopt;
  throw Error("cannot reach the hub at " + s.endpoint + " to fetch '" + filename + "' of model '" + s.model +
              "' (revision '" + s.revision + "'): " + *s.network_error + ". It is not in the cache (" + s.storage +
              "): check the network, HF_ENDPOINT and proxy settings, or pass a local folder");
}

std::optional<uint64_t> parse_size(const std::string& text) {
  if (text.empty() || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  return static_cast<uint64_t>(std::strtoull(text.c_str(), nullptr, 10));
}

bool is_sha256(const std::string& text) {
  return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// One file of the repo: its path in the snapshot folder, or nullopt when the repo does not have it (an error when
// `required`).
std::optional<std::string> fetch(Session& s, const std::string& filename, bool required) {
  hub::check_repo_filename(filename, s.model);
  if (s.offline) return fetch_offline(s, filename, required);
  if (!s.commit.empty()) {
    // A commit never changes: what its snapshot holds, or is known to lack, needs no request.
    const std::string pointer = s.pointer_path(filename);
    if (hub::exists_following_links(pointer)) return pointer;
    if (hub::exists_following_links(s.no_exist_path(filename))) {
      if (required) throw_missing_file(s, filename);
      return std::nullopt;
    }
  }
  if (s.network_error) return fetch_after_network_error(s, filename, required);

  const std::string url = s.endpoint + "/" + s.model + "/resolve/" +
                          hub::url_quote(s.commit.empty() ? s.revision : s.commit, false) + "/" +
                          hub::url_quote(filename, true);
  HttpResponse r;
  try {
    r = head_metadata(s, url);
  } catch (const hub::NetworkError& e) {
    s.network_error = e.what();
    return fetch_after_network_error(s, filename, required);
  }

  if (r.status == 404) {
    const std::string code = r.header("x-error-code");
    if (code == "RepoNotFound" || code == "RevisionNotFound") throw_for_status(s, r, "'" + filename + "'");
    const std::string commit = r.header("x-repo-commit");
    if (!commit.empty()) {
      record_commit(s, commit, "HEAD " + r.url);
      hub::touch_file(s.no_exist_path(filename));  // as huggingface_hub does, for offline use
    }
    if (required) throw_for_status(s, r, "file '" + filename + "'");
    return std::nullopt;
  }
  if (r.status < 200 || r.status >= 400) throw_for_status(s, r, "'" + filename + "'");

  const std::string commit = r.header("x-repo-commit");
  std::string etag = r.header("x-linked-etag");
  if (etag.empty()) etag = r.header("etag");
  etag = hub::normalize_etag(etag);
  if (commit.empty() || etag.empty()) {
    throw Error("the server at " + s.endpoint + " answered HEAD " + r.url + " (HTTP " + std::to_string(r.status) +
                ") without " + (commit.empty() ? "X-Repo-Commit" : "an ETag") +
                ": it does not behave like a Hugging Face hub; check HF_ENDPOINT and proxy settings");
  }
  if (!hub::is_safe_component(etag)) {
    throw Error("the hub at " + s.endpoint + " answered HEAD " + r.url + " with an unusable ETag '" + etag + "'");
  }
  record_commit(s, commit, "HEAD " + r.url);
  // A redirect's Content-Length is that of the redirect's own body: only X-Linked-Size tells the file's size then.
  std::string size_text = r.header("x-linked-size");
  if (size_text.empty() && r.status < 300) size_text = r.header("content-length");
  const std::optional<uint64_t> size = parse_size(size_text);
  // LFS files: the CDN location. Others: the file at the commit (not the branch, which may move meanwhile).
  const std::string location = r.header("location");
  std::string download_url = r.url;
  if (r.status >= 300 && !location.empty()) {
    download_url = hub::resolve_url(r.url, location);
  } else if (r.url == url) {
    download_url = s.endpoint + "/" + s.model + "/resolve/" + commit + "/" + hub::url_quote(filename, true);
  }

  const std::string pointer = s.pointer_path(filename);
  if (hub::exists_following_links(pointer)) return pointer;
  const std::string blob = s.storage + "/blobs/" + etag;
  hub::make_dirs(s.storage + "/blobs");
  if (!hub::is_regular_file_following_links(blob)) {
    hub::FileLock lock(s.cache + "/.locks/" + hub_repo_folder_name(s.model) + "/" + etag + ".lock",
                       s.progress == HubProgress::None
                           ? ""
                           : "rembert: waiting for another process that is downloading " + s.model + "/" + filename);
    if (!hub::is_regular_file_following_links(blob)) {
      hub::BlobRequest request;
      request.url = download_url;
      request.headers = s.request_headers(download_url);
      request.blob_path = blob;
      request.expected_size = size;
      request.expected_sha256 = is_sha256(etag) ? etag : "";
      request.display_name = s.model + "/" + filename;
      request.progress = s.progress;
      request.max_retries = s.max_retries;
      request.retry_delay_seconds = s.retry_delay_seconds;
      s.http().set_timeout(s.download_timeout);
      try {
        hub::download_blob(s.http(), request);
      } catch (const Error& e) {
        throw Error("downloading '" + filename + "' of model '" + s.model + "' " + s.where() + ": " + e.what());
      }
    }
  }
  hub::link_pointer(blob, pointer, filename);
  return pointer;
}

// The snapshot folder: {storage}/snapshots/{commit}, created if nothing was fetched into it.
std::string snapshot_folder(Session& s) {
  if (s.commit.empty() && (s.offline || s.network_error)) s.commit = cached_commit(s);
  if (s.commit.empty()) {
    if (s.offline) {
      throw Error("model '" + s.model + "' (revision '" + s.revision + "') is not in the cache at " + s.cache +
                  " and offline mode is on (HF_HUB_OFFLINE=1 or --offline)");
    }
    throw Error("cannot tell which commit of model '" + s.model + "' " + s.where() +
                " to use: none of the files asked for exist" +
                (s.network_error ? " in the cache, and the hub cannot be reached: " + *s.network_error : ""));
  }
  const std::string folder = s.storage + "/snapshots/" + s.commit;
  hub::make_dirs(folder);
  return folder;
}

// Every file of the repo at the session's revision: from the hub's API (as snapshot_download does), or offline from
// the cached snapshot.
const std::vector<std::string>& list_repo_files(Session& s) {
  if (s.file_list) return *s.file_list;
  std::vector<std::string> files;
  if (!s.offline && !s.network_error) {
    const std::string url = s.endpoint + "/api/models/" + s.model + "/revision/" +
                            hub::url_quote(s.commit.empty() ? s.revision : s.commit, false);
    try {
      s.http().set_timeout(s.metadata_timeout);
      std::vector<std::string> headers = s.request_headers(url);
      headers.push_back("Accept: application/json");
      HttpResponse r = s.http().get(url, headers, size_t{64} << 20);
      if (r.status != 200) throw_for_status(s, r, "file list");
      nlohmann::json info;
      try {
        info = nlohmann::json::parse(r.body);
      } catch (const nlohmann::json::exception& e) {
        throw Error("the hub at " + s.endpoint + " answered " + url + " with invalid JSON: " + e.what());
      }
      if (!info.is_object() || !info.contains("sha") || !info["sha"].is_string() || !info.contains("siblings") ||
          !info["siblings"].is_array()) {
        throw Error("the hub at " + s.endpoint + " answered " + url + " without 'sha' and 'siblings'");
      }
      record_commit(s, info["sha"].get<std::string>(), "GET " + url);
      for (const auto& sibling : info["siblings"]) {
        if (sibling.is_object() && sibling.contains("rfilename") && sibling["rfilename"].is_string()) {
          files.push_back(sibling["rfilename"].get<std::string>());
        }
      }
      s.file_list = std::move(files);
      return *s.file_list;
    } catch (const hub::NetworkError& e) {
      s.network_error = e.what();
    }
  }
  // Offline, or the hub is unreachable: the files of the cached snapshot.
  if (s.commit.empty()) s.commit = cached_commit(s);
  const std::string folder = s.storage + "/snapshots/" + s.commit;
  std::error_code ec;
  if (s.commit.empty() || !fs::is_directory(folder, ec)) {
    throw Error("model '" + s.model + "' (revision '" + s.revision + "') is not in the cache at " + s.cache +
                (s.offline ? " and offline mode is on (HF_HUB_OFFLINE=1 or --offline)"
                           : " and the hub cannot be reached: " + s.network_error.value_or("")));
  }
  for (auto it = fs::recursive_directory_iterator(folder, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (hub::is_regular_file_following_links(it->path().string())) {
      files.push_back(it->path().lexically_relative(folder).generic_string());
    }
  }
  std::sort(files.begin(), files.end());
  s.file_list = std::move(files);
  return *s.file_list;
}

bool is_pattern(const std::string& entry) { return entry.find_first_of("*?[") != std::string::npos; }

void fetch_entry(Session& s, const std::string& entry, bool required) {
  if (!is_pattern(entry)) {
    fetch(s, entry, required);
    return;
  }
  const std::string pattern = ends_with(entry, "/") ? entry + "*" : entry;
  bool matched = false;
  for (const std::string& name : list_repo_files(s)) {
    if (::fnmatch(pattern.c_str(), name.c_str(), 0) != 0) continue;
    matched = true;
    fetch(s, name, required);
  }
  if (!matched && required) {
    throw Error("no file of model '" + s.model + "' " + (s.offline ? "in the cache " : "") + s.where() +
                " matches '" + entry + "'");
  }
}

// The shard names of a *.index.json (its "weight_map" values), sorted and unique.
std::vector<std::string> shards_of_index(const std::string& path, const Session& s, const std::string& filename) {
  auto text = hub::read_small_file(path);
  if (!text) throw Error("cannot read '" + path + "'");
  std::set<std::string> shards;
  try {
    const nlohmann::json index = nlohmann::json::parse(*text);
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
      throw Error("'" + filename + "' of model '" + s.model + "' (" + path + ") has no \"weight_map\" object");
    }
    for (const auto& item : index["weight_map"].items()) {
      if (!item.value().is_string()) {
        throw Error("'" + filename + "' of model '" + s.model + "' (" + path + "): the weight_map entry '" +
                    item.key() + "' is not a file name");
      }
      shards.insert(item.value().get<std::string>());
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error("'" + filename + "' of model '" + s.model + "' (" + path + ") is not valid JSON: " + e.what());
  }
  if (shards.empty()) throw Error("'" + filename + "' of model '" + s.model + "' (" + path + ") lists no shards");
  return {shards.begin(), shards.end()};
}

void fetch_weights(Session& s) {
  for (const char* candidate : kWeightFiles) {
    auto path = fetch(s, candidate, false);
    if (!path) continue;
    if (ends_with(candidate, ".index.json")) {
      for (const std::string& shard : shards_of_index(*path, s, candidate)) fetch(s, shard, true);
    }
    return;
  }
  std::string message = "model '" + s.model + "' (revision '" + s.revision + "') has no weights: none of " +
                        "model.safetensors, model.safetensors.index.json, pytorch_model.bin, "
                        "pytorch_model.bin.index.json, tf_model.h5 ";
  if (s.offline) {
    message += "is in the cache (" + s.storage + "/snapshots/" + s.commit + ") and offline mode is on "
               "(HF_HUB_OFFLINE=1 or --offline)";
  } else if (s.network_error) {
    message += "is in the cache, and the hub at " + s.endpoint + " cannot be reached: " + *s.network_error;
  } else {
    message += "exists on the hub at " + s.endpoint +
               " (sharded TensorFlow and Flax-only checkpoints are not supported)";
  }
  throw Error(message);
}

// `model` as a hub repo id, or an Error saying why it is neither that nor a local folder.
std::string checked_repo_id(const std::string& model) {
  std::error_code ec;
  if (fs::exists(model, ec) && !fs::is_directory(model, ec)) {
    throw Error("model '" + model + "' is a file: give the folder that holds config.json and the weights, or a hub "
                "repo id");
  }
  if (!is_hub_repo_id(model)) {
    throw Error("model '" + model + "' is not a local folder (no such directory) and not a valid hub repo id "
                "('org/name' made of letters, digits, '-', '_' and '.', no '--' or '..', at most 96 characters)");
  }
  return model;
}

bool is_local_folder(const std::string& model) {
  std::error_code ec;
  return !model.empty() && fs::is_directory(model, ec);
}

}  // namespace

std::string hub_cache_dir(const HubOptions& options) {
  return options.cache_dir.empty() ? hub::default_hub_cache() : hub::expand_user(options.cache_dir);
}

bool is_hub_repo_id(const std::string& id) {
  if (id.empty() || id.size() > 96 || ends_with(id, ".git")) return false;
  if (id.find("--") != std::string::npos || id.find("..") != std::string::npos) return false;
  const size_t slash = id.find('/');
  if (slash != std::string::npos && id.find('/', slash + 1) != std::string::npos) return false;
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  auto valid_part = [&](const std::string& part) {
    if (part.empty() || !word(part.front()) || !word(part.back())) return false;
    return std::all_of(part.begin(), part.end(), [&](char c) { return word(c) || c == '-' || c == '.'; });
  };
  if (slash == std::string::npos) return valid_part(id);
  return valid_part(id.substr(0, slash)) && valid_part(id.substr(slash + 1));
}

std::string hub_repo_folder_name(const std::string& repo_id) {
  std::string name = "models--";
  for (char c : repo_id) {
    if (c == '/') {
      name += "--";
    } else {
      name.push_back(c);
    }
  }
  return name;
}

std::string hub_download(const std::string& repo_id, const std::string& filename, const HubOptions& options) {
  if (!is_hub_repo_id(repo_id)) {
    throw Error("'" + repo_id + "' is not a valid hub repo id ('org/name' made of letters, digits, '-', '_' and '.')");
  }
  Session s = open_session(repo_id, options);
  return *fetch(s, filename, true);
}

std::string resolve_model(const std::string& model, const HubOptions& options,
                          const std::vector<std::string>& required, const std::vector<std::string>& optional) {
  if (is_local_folder(model)) return model;
  Session s = open_session(checked_repo_id(model), options);
  for (const std::string& entry : required) fetch_entry(s, entry, true);
  for (const std::string& entry : optional) fetch_entry(s, entry, false);
  return snapshot_folder(s);
}

std::string resolve_model_for_task(const std::string& model, const HubOptions& options, const ModelParts& parts) {
  if (is_local_folder(model)) return model;
  Session s = open_session(checked_repo_id(model), options);
  if (parts.config) fetch(s, "config.json", true);
  if (parts.tokenizer) {
    for (const char* name : kTokenizerFiles) fetch(s, name, false);
  }
  if (parts.weights) fetch_weights(s);
  return snapshot_folder(s);
}

}  // namespace rembert
