// The model hub: a `--model` argument is a local folder or a Hugging Face hub repo id ("google/rembert").
//
// Hub files are fetched into, and read from, the same cache that Python's huggingface_hub uses, so a cache that
// transformers filled is reused and the other way round:
//
//   {cache}/models--{org}--{name}/blobs/{etag}                   file contents, named by their ETag
//                                /snapshots/{commit}/{filename}  relative symlinks to ../../blobs/{etag}
//                                /refs/{revision}                the commit hash a branch or tag resolved to
//                                /.no_exist/{commit}/{filename}  empty markers for files the hub said are missing
//   {cache}/.locks/models--{org}--{name}/{etag}.lock             taken (flock) while a blob downloads
//
// Usage, as the CLI does it:
//
//   rembert::HubOptions options;            // everything from the environment (HF_HOME, HF_TOKEN, ...)
//   options.revision = "main";
//   std::string dir = rembert::resolve_model_for_task("google/rembert", options);
//   auto model = rembert::load_model(dir);  // a plain folder: config.json, tokenizer files, weights
//
// Every failure throws rembert::Error with a message that names the model, the file or URL and the cause (HTTP
// status, curl's message, the path on disk). Functions here are safe to call from several threads and processes at
// once: a blob is downloaded under a file lock and moved into place only once it is complete and verified.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace rembert {

// What is printed on stderr while files download.
enum class HubProgress {
  Auto,   // a progress bar when stderr is a terminal, else one line per downloaded file
  Bar,    // always a progress bar
  Lines,  // one line per downloaded file
  None,   // nothing
};

// Where and how to reach the hub. Every field left empty/unset is taken from the environment exactly as
// huggingface_hub does (see each field), so the defaults match what Python would do on the same machine.
struct HubOptions {
  // Branch, tag or commit hash ("refs/pr/3" works too). Empty: "main". A full 40-hex commit hash names the snapshot
  // folder directly, and files already in it are used without any request.
  std::string revision;
  // Cache only: no network at all. Unset: HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) = 1/ON/YES/TRUE.
  std::optional<bool> offline;
  // The hub cache folder. Empty: HF_HUB_CACHE, else HUGGINGFACE_HUB_CACHE, else HF_HOME/hub, else
  // $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub.
  std::string cache_dir;
  // Empty: HF_ENDPOINT, else https://huggingface.co. URLs are {endpoint}/{repo_id}/resolve/{revision}/{filename}.
  std::string endpoint;
  // Bearer token. Unset: HF_TOKEN, else HUGGING_FACE_HUB_TOKEN, else the file HF_TOKEN_PATH or HF_HOME/token (what
  // `huggingface-cli login` writes). Set to "" to send none.
  std::optional<std::string> token;
  HubProgress progress = HubProgress::Auto;
  // A download cut off mid-transfer (connection dropped, timeout, HTTP 5xx) is retried this many times, each retry
  // resuming from the bytes already on disk with a Range request.
  int max_retries = 5;
  double retry_delay_seconds = 1.0;
  // Connect/read timeout in seconds. 0: HF_HUB_ETAG_TIMEOUT (metadata requests) and HF_HUB_DOWNLOAD_TIMEOUT
  // (downloads), else 10.
  double timeout_seconds = 0;
};

// Which parts of a model resolve_model_for_task fetches.
struct ModelParts {
  bool config = true;     // config.json (required)
  bool tokenizer = true;  // tokenizer.json, sentencepiece.model, tokenizer_config.json, special_tokens_map.json
                          // (each optional: a repo without one is fine, as in transformers)
  bool weights = true;    // model.safetensors, else model.safetensors.index.json + its shards, else
                          // pytorch_model.bin, else pytorch_model.bin.index.json + its shards, else tf_model.h5
                          // (one of them required)
};

// `model` is an existing local folder: returned unchanged, nothing is checked or fetched. Otherwise it must be a hub
// repo id ("org/name", or a bare legacy "name"): the files of `parts` are fetched (or found in the cache) and the
// snapshot folder {cache}/models--org--name/snapshots/{commit} holding them is returned. This is what the CLI's
// `--model`, `--revision` and `--offline` map to.
std::string resolve_model_for_task(const std::string& model, const HubOptions& options, const ModelParts& parts = {});

// The general form: `model` is a local folder (returned unchanged) or a hub repo id. Each entry of `required` and
// `optional` is a filename in the repo ("config.json", "onnx/model.onnx") or a glob pattern ("*.json",
// "model-*.safetensors"; `*` also matches `/`, as in huggingface_hub's allow_patterns). A required file the repo
// lacks, or a required pattern that matches nothing, is an error; a missing optional one is skipped silently.
// Patterns need the repo's file list: one request to {endpoint}/api/models/{repo_id}/revision/{revision} (offline:
// the files of the cached snapshot). Returns the snapshot folder.
std::string resolve_model(const std::string& model, const HubOptions& options,
                          const std::vector<std::string>& required, const std::vector<std::string>& optional = {});

// One file of a hub repo, like huggingface_hub's hf_hub_download: its path in the snapshot folder (a symlink into
// blobs/). Throws when the repo, revision or file does not exist.
std::string hub_download(const std::string& repo_id, const std::string& filename, const HubOptions& options);

// The cache folder `options` resolve to (see HubOptions::cache_dir).
std::string hub_cache_dir(const HubOptions& options);

// Whether `id` is a valid hub repo id, by huggingface_hub's rules: "name" or "namespace/name", each part made of
// letters, digits, '-', '_' and '.', not starting or ending with '-' or '.', no "--" or "..", at most 96 characters,
// not ending in ".git".
bool is_hub_repo_id(const std::string& id);

// "models--org--name": the folder of a repo in the cache.
std::string hub_repo_folder_name(const std::string& repo_id);

}  // namespace rembert
