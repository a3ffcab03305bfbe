// Finding and loading the weights of a Hugging Face model folder (single file or sharded with an index).
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "core/files.h"
#include "rembert/error.h"
#include "rembert/safetensors.h"

namespace rembert {

namespace {

namespace fs = std::filesystem;

using Loader = std::function<TensorMap(const std::string&)>;

constexpr const char* kTfShardIndex = "tf_model.h5.index.json";

TensorMap load_safetensors_tensors(const std::string& path) { return read_safetensors(path).tensors; }

nlohmann::json read_json(const std::string& path) {
  const std::string text = read_file(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& err) {
    throw Error("'" + path + "' is not valid JSON: " + err.what());
  }
}

// A sharded checkpoint: the index maps every tensor name to the shard file (in the same folder) that holds it.
void load_sharded(const fs::path& dir, const std::string& index_path, const Loader& load, Checkpoint& out) {
  const nlohmann::json index = read_json(index_path);
  auto fail = [&](const std::string& message) -> Error { return Error("'" + index_path + "': " + message); };
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
    throw fail("missing \"weight_map\" object");
  }
  const nlohmann::json& weight_map = index["weight_map"];
  if (weight_map.empty()) throw fail("\"weight_map\" is empty");

  std::map<std::string, std::vector<std::string>> tensors_of_shard;  // each shard is read once
  for (auto it = weight_map.begin(); it != weight_map.end(); ++it) {
    if (!it.value().is_string()) throw fail("shard of tensor '" + it.key() + "' is not a string");
    const std::string shard = it.value().get<std::string>();
    // Shards must be plain file names next to the index, never paths that leave the folder.
    if (shard.empty() || shard.find('/') != std::string::npos || shard.find('\\') != std::string::npos ||
        shard.find("..") != std::string::npos) {
      throw fail("tensor '" + it.key() + "' names an invalid shard file '" + shard + "'");
    }
    tensors_of_shard[shard].push_back(it.key());
  }

  out.files.push_back(index_path);
  for (const auto& [shard, names] : tensors_of_shard) {
    const std::string shard_path = (dir / shard).string();
    if (!fs::is_regular_file(shard_path)) throw fail("shard '" + shard_path + "' does not exist");
    TensorMap shard_tensors = load(shard_path);
    out.files.push_back(shard_path);
    for (const std::string& name : names) {
      auto found = shard_tensors.find(name);
      if (found == shard_tensors.end()) {
        throw fail("tensor '" + name + "' is not in its shard '" + shard_path + "'");
      }
      out.tensors.emplace(name, std::move(found->second));
    }
  }
}

}  // namespace

Checkpoint load_checkpoint(const std::string& model_dir) {
  std::error_code ec;
  const fs::path dir(model_dir);
  if (!fs::exists(dir, ec)) throw Error("model directory '" + model_dir + "' does not exist");
  if (!fs::is_directory(dir, ec)) throw Error("'" + model_dir + "' is not a directory");

  const Loader safetensors_loader = load_safetensors_tensors;
  const Loader torch_loader = read_torch_bin;
  const Loader tf_loader = read_tf_h5;
  struct Candidate {
    const char* file;
    bool sharded;
    const Loader* load;
  };
  const Candidate candidates[] = {
      {"model.safetensors", false, &safetensors_loader},
      {"model.safetensors.index.json", true, &safetensors_loader},
      {"pytorch_model.bin", false, &torch_loader},
      {"pytorch_model.bin.index.json", true, &torch_loader},
      {"tf_model.h5", false, &tf_loader},
  };

  Checkpoint checkpoint;
  for (const Candidate& c : candidates) {
    const fs::path path = dir / c.file;
    if (!fs::exists(path, ec)) continue;
    if (c.sharded) {
      load_sharded(dir, path.string(), *c.load, checkpoint);
    } else {
      checkpoint.tensors = (*c.load)(path.string());
      checkpoint.files.push_back(path.string());
    }
    return checkpoint;
  }
  if (fs::exists(dir / kTfShardIndex, ec)) {
    throw Error("'" + (dir / kTfShardIndex).string() + "': sharded TensorFlow checkpoints (tf_model-0000x-of-0000y.h5) "
                "are not supported; load the model in transformers with from_tf=True and save_pretrained it as "
                "safetensors, or save the TF model unsharded (save_pretrained(max_shard_size=\"100GB\"))");
  }
  std::string looked_for;
  for (const Candidate& c : candidates) looked_for += std::string(looked_for.empty() ? "" : ", ") + c.file;
  throw Error("no weights found in " + model_dir + " (looked for " + looked_for + ")");
}

}  // namespace rembert
