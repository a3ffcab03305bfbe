// rembert convert: a model folder whose Linear weights are stored as the int8 / bfloat16 compute paths pack them,
// so that loading maps them in place instead of quantizing or rounding float32 weights at every load.
#include "model/convert.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <system_error>
#include <vector>

#include "core/files.h"
#include "kernels/packed_linear.h"
#include "model/params.h"
#include "rembert/error.h"
#include "rembert/safetensors.h"

namespace rembert {

namespace fs = std::filesystem;
using ordered_json = nlohmann::ordered_json;

namespace model {

namespace {

constexpr const char* kQuantMethod = "rembert.cpp";
constexpr int kFormatVersion = 1;

// The record of each dtype, exactly as written; a record read back must match it field by field.
nlohmann::json record_for(WeightDType dtype) {
  nlohmann::json r;
  r["quant_method"] = kQuantMethod;
  r["format_version"] = kFormatVersion;
  if (dtype == WeightDType::Int8) {
    r["dtype"] = "int8";
    r["weights"] = "symmetric per output channel";
    r["weight_scale"] = std::string("<linear>.weight") + kScaleSuffix;
    r["activations"] = "dynamic per token";
  } else {
    r["dtype"] = "bfloat16";
    r["weights"] = "bfloat16";
    r["activations"] = "bfloat16";
  }
  return r;
}

// A config.json value kept in extra_json, parsed; null when absent.
nlohmann::json extra_value(const RemBertConfig& config, const std::string& key, const std::string& source) {
  auto it = config.extra_json.find(key);
  if (it == config.extra_json.end()) return nullptr;
  try {
    return nlohmann::json::parse(it->second);
  } catch (const nlohmann::json::exception& e) {
    throw Error(source + ": config.json field \"" + key + "\" is not valid JSON: " + e.what());
  }
}

}  // namespace

std::optional<WeightDType> converted_dtype(const RemBertConfig& config, const std::string& source) {
  const std::string where = source + ": config.json field \"";
  const nlohmann::json record = extra_value(config, kConvertRecordKey, source);
  const nlohmann::json marker = extra_value(config, "quantization_config", source);
  std::optional<WeightDType> dtype;
  if (!record.is_null()) {
    const std::string key = kConvertRecordKey;
    if (!record.is_object()) throw Error(where + key + "\" is not an object");
    const nlohmann::json d = record.value("dtype", nlohmann::json());
    if (d == "int8") {
      dtype = WeightDType::Int8;
    } else if (d == "bfloat16") {
      dtype = WeightDType::BFloat16;
    } else {
      throw Error(where + key + ".dtype\" is " + d.dump() + " (expected \"int8\" or \"bfloat16\")");
    }
    const nlohmann::json expected = record_for(*dtype);
    for (const auto& [field, value] : expected.items()) {
      if (!record.contains(field)) throw Error(where + key + "." + field + "\" is missing");
      if (record[field] != value) {
        throw Error(where + key + "." + field + "\" is " + record[field].dump() + " (expected " + value.dump() +
                    " for " + d.get<std::string>() + ")");
      }
    }
    for (const auto& [field, value] : record.items()) {
      if (!expected.contains(field)) throw Error(where + key + "." + field + "\" is not a field of the record");
    }
  }
  // rembert convert writes {"quant_method": "rembert.cpp"} there for int8, so that transformers refuses the file.
  if (!marker.is_null()) {
    const nlohmann::json method = marker.is_object() ? marker.value("quant_method", nlohmann::json()) : marker;
    if (method != kQuantMethod) {
      throw Error(where + "quantization_config.quant_method\" is " + method.dump() +
                  ": only checkpoints written by rembert convert (\"" + kQuantMethod + "\") can be read");
    }
    if (!dtype) throw Error(where + "quantization_config\" names " + kQuantMethod + " but \"" + kConvertRecordKey +
                            "\" is missing");
  }
  return dtype;
}

}  // namespace model

namespace {

// What goes into the converted file for one output tensor, in the writer's fill order.
struct Item {
  enum Kind { Copy, Int8Weight, Int8Scale, BF16Weight } kind;
  const Tensor* source;
};

// The Linear weights of the config's head, by the name they have in `tensors`, with their [out, in] shape checked.
std::map<std::string, Shape> linear_weights(const RemBertConfig& config, const TensorMap& tensors,
                                            const std::string& source) {
  std::map<std::string, Shape> out;
  model::Params params;
  model::visit_params(config, head_from_config(config), true, params, [&](const model::ParamInfo& info, Tensor&) {
    if (!info.matmul_weight) return;
    std::string name;
    const Tensor* t = model::find_tensor(tensors, info.name, &name);
    if (!t) return;  // missing: the loader initialises or refuses it, as it would the source's
    if (t->shape() != info.shape || !is_floating(t->dtype())) {
      throw Error(source + ": tensor '" + name + "' is " + dtype_name(t->dtype()) + " " +
                  shape_to_string(t->shape()) + " but the config needs a floating-point " +
                  shape_to_string(info.shape));
    }
    out.emplace(name, info.shape);
  });
  return out;
}

void fill(const Item& item, std::vector<float>& scales, void* buffer) {
  const Tensor& t = *item.source;
  switch (item.kind) {
    case Item::Copy:
      if (t.nbytes() > 0) std::memcpy(buffer, t.raw_data(), t.nbytes());
      return;
    case Item::Int8Weight: {
      const int64_t n = t.dim(0), k = t.dim(1);
      scales.assign(static_cast<size_t>(n), 0.0f);
      // F64 is narrowed to float32 first, as the loader binds it; F16 / BF16 go in as they are.
      const Tensor w = t.dtype() == DType::F64 ? t.to_f32() : t;
      kernels::quantize_per_channel(w.raw_data(), w.dtype(), n, k, static_cast<int8_t*>(buffer), scales.data());
      return;
    }
    case Item::Int8Scale:
      std::memcpy(buffer, scales.data(), scales.size() * sizeof(float));
      return;
    case Item::BF16Weight: {
      if (t.dtype() == DType::BF16) {
        std::memcpy(buffer, t.raw_data(), t.nbytes());
        return;
      }
      const Tensor w = t.to_f32();  // F16 and F64 widened first, as the packing does
      const float* src = w.data<float>();
      auto* dst = static_cast<uint16_t*>(buffer);
      const int64_t count = w.numel();
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < count; ++i) dst[i] = f32_to_bf16(src[i]);
      return;
    }
  }
}

// Removes a temporary folder unless released.
struct TempDir {
  fs::path path;
  bool keep = false;
  ~TempDir() {
    if (keep) return;
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string strip_slashes(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

// Refuses an OUT that is a file, the source itself, or a non-empty folder (unless `force`).
void check_out_dir(const fs::path& out, const std::string& model_dir, bool force) {
  std::error_code ec;
  if (!fs::exists(out, ec)) return;
  if (!fs::is_directory(out, ec)) throw Error("convert: --out '" + out.string() + "' exists and is not a folder");
  if (fs::equivalent(out, model_dir, ec)) {
    throw Error("convert: --out '" + out.string() + "' is the source model folder");
  }
  if (!fs::is_empty(out, ec) && !force) {
    throw Error("convert: --out '" + out.string() + "' is not empty; pass --force to replace it");
  }
}

void copy_into(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);  // follows hub-cache symlinks
  if (ec) throw Error("convert: cannot copy '" + from.string() + "' to '" + to.string() + "': " + ec.message());
}

// Writes `path` back and drops it from the page cache. Writing leaves it there in large folios, which Linux maps whole
// (up to 2 MiB) on a fault, so each embedding row a load looks up would cost that much resident memory; read back
// from the disk under the loader's MADV_RANDOM, rows cost pages.
void drop_page_cache(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  if (::fdatasync(fd) == 0) ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

void rename_path(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::rename(from, to, ec);
  if (ec) throw Error("convert: cannot rename '" + from.string() + "' to '" + to.string() + "': " + ec.message());
}

}  // namespace

ConvertResult convert_model(const std::string& model_dir, const std::string& out_dir, const ConvertOptions& options) {
  if (options.dtype != WeightDType::Int8 && options.dtype != WeightDType::BFloat16) {
    throw Error(std::string("convert: --dtype must be int8 or bfloat16, not ") + weight_dtype_name(options.dtype));
  }
  const bool int8 = options.dtype == WeightDType::Int8;
  const fs::path out(strip_slashes(out_dir));
  check_out_dir(out, model_dir, options.force);

  const std::string config_path = model_dir + "/config.json";
  const std::string config_text = read_file(config_path, "config file");
  const RemBertConfig config = RemBertConfig::from_json_string(config_text, config_path);
  if (auto done = model::converted_dtype(config, model_dir)) {
    throw Error("convert: " + model_dir + " is converted already (to " + weight_dtype_name(*done) +
                "); convert the original checkpoint");
  }
  const Checkpoint checkpoint = load_checkpoint(model_dir);
  const std::map<std::string, Shape> linears = linear_weights(config, checkpoint.tensors, model_dir);

  ConvertResult result;
  for (const std::string& file : checkpoint.files) result.source_bytes += fs::file_size(file);
  std::vector<TensorSpec> specs;
  std::vector<Item> items;
  for (const auto& [name, t] : checkpoint.tensors) {
    if (!linears.count(name)) {
      specs.push_back({name, t.dtype(), t.shape()});
      items.push_back({Item::Copy, &t});
      continue;
    }
    ++result.linears;
    specs.push_back({name, int8 ? DType::I8 : DType::BF16, t.shape()});
    items.push_back({int8 ? Item::Int8Weight : Item::BF16Weight, &t});
    if (int8) {
      const std::string scale = name + model::kScaleSuffix;
      if (checkpoint.tensors.count(scale)) {
        throw Error("convert: " + model_dir + " already has a tensor '" + scale + "'");
      }
      specs.push_back({scale, DType::F32, {t.dim(0)}});
      items.push_back({Item::Int8Scale, &t});
    }
  }

  // Everything goes into a sibling folder first, renamed to OUT at the end: OUT never holds half a model.
  TempDir tmp{fs::path(out.string() + ".convert-tmp-" + std::to_string(getpid()))};
  std::error_code ec;
  fs::remove_all(tmp.path, ec);
  if (!fs::create_directories(tmp.path, ec) && ec) {
    throw Error("convert: cannot create '" + tmp.path.string() + "': " + ec.message());
  }

  size_t next = 0;
  std::vector<float> scales;
  const std::string weights = (tmp.path / "model.safetensors").string();
  write_safetensors_streaming(weights, specs, [&](const TensorSpec&, void* buffer) {
    const Item& item = items[next++];
    fill(item, scales, buffer);
    release_resident_pages(*item.source);
  }, {{"format", "pt"}});
  result.weights_bytes = fs::file_size(weights);
  drop_page_cache(weights);

  ordered_json cfg = ordered_json::parse(config_text);
  cfg[model::kConvertRecordKey] = ordered_json::parse(model::record_for(options.dtype).dump());
  if (int8) {
    cfg["quantization_config"] = {{"quant_method", model::kQuantMethod}};
  } else {
    cfg["torch_dtype"] = "bfloat16";
    if (cfg.contains("dtype")) cfg["dtype"] = "bfloat16";
  }
  {
    const fs::path path = tmp.path / "config.json";
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << cfg.dump(2) << "\n";
    f.close();
    if (!f) throw Error("convert: cannot write '" + path.string() + "'");
  }
  result.files = {"config.json", "model.safetensors"};
  for (const char* name : {"sentencepiece.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                           "added_tokens.json", "generation_config.json"}) {
    const fs::path from = fs::path(model_dir) / name;
    if (!fs::exists(from, ec)) continue;
    copy_into(from, tmp.path / name);
    result.files.push_back(name);
  }

  // OUT is checked again: it may have been filled while the weights were written.
  check_out_dir(out, model_dir, options.force);
  if (fs::exists(out, ec)) {
    const fs::path old(out.string() + ".convert-old-" + std::to_string(getpid()));
    rename_path(out, old);
    rename_path(tmp.path, out);
    fs::remove_all(old, ec);
  } else {
    rename_path(tmp.path, out);
  }
  tmp.keep = true;
  return result;
}

}  // namespace rembert
