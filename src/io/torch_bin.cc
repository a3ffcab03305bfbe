// torch.save archives (pytorch_model.bin): a zip with <folder>/data.pkl and one <folder>/data/<key> entry per
// storage. The pickle is read by the restricted unpickler in io/pickle.h; tensors are copied out of the archive.
#include <sys/stat.h>
#include <zip.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <new>
#include <optional>
#include <utility>

#include "io/pickle.h"
#include "rembert/error.h"
#include "rembert/safetensors.h"

namespace rembert {

namespace {

std::string zip_error_text(int code) {
  zip_error_t error;
  zip_error_init_with_code(&error, code);
  std::string text = zip_error_strerror(&error);
  zip_error_fini(&error);
  return text;
}

// Read-only access to the entries of a zip archive.
class ZipReader {
 public:
  explicit ZipReader(const std::string& path) : path_(path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) throw Error("cannot open '" + path + "': " + std::strerror(errno));
    if (S_ISDIR(st.st_mode)) throw Error("cannot read '" + path + "': is a directory");
    file_size_ = static_cast<uint64_t>(st.st_size);
    int code = 0;
    archive_ = zip_open(path.c_str(), ZIP_RDONLY, &code);
    if (!archive_) {
      throw Error("'" + path + "' is not a readable torch.save zip archive: " + zip_error_text(code));
    }
  }
  ~ZipReader() { zip_discard(archive_); }
  ZipReader(const ZipReader&) = delete;
  ZipReader& operator=(const ZipReader&) = delete;

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    const zip_int64_t n = zip_get_num_entries(archive_, 0);
    for (zip_int64_t i = 0; i < n; ++i) {
      const char* name = zip_get_name(archive_, static_cast<zip_uint64_t>(i), 0);
      out.push_back(name ? name : "");
    }
    return out;
  }

  std::optional<zip_uint64_t> locate(const std::string& name) const {
    const zip_int64_t index = zip_name_locate(archive_, name.c_str(), 0);
    if (index < 0) return std::nullopt;
    return static_cast<zip_uint64_t>(index);
  }

  // The entry's decompressed size, once it is known to be one the archive can hold: the size comes from the
  // central directory, and a few bytes of zip must not make the reader allocate gigabytes (found by fuzz_torch_bin).
  // A stored entry (what torch.save writes) is exactly its compressed size; deflate expands at most 1032:1.
  uint64_t entry_size(zip_uint64_t index, const std::string& name) const {
    zip_stat_t st;
    zip_stat_init(&st);
    constexpr zip_uint64_t kNeeded = ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD;
    if (zip_stat_index(archive_, index, 0, &st) != 0 || (st.valid & kNeeded) != kNeeded) {
      throw Error("'" + path_ + "': cannot stat entry '" + name + "': " + zip_strerror(archive_));
    }
    auto fail = [&](const std::string& message) -> Error {
      return Error("'" + path_ + "': entry '" + name + "' " + message);
    };
    if (st.comp_size > file_size_) {
      throw fail("claims " + std::to_string(st.comp_size) + " compressed bytes in a file of " +
                 std::to_string(file_size_));
    }
    if (st.comp_method == ZIP_CM_STORE) {
      if (st.size != st.comp_size) {
        throw fail("is stored uncompressed but declares " + std::to_string(st.size) + " bytes in " +
                   std::to_string(st.comp_size));
      }
    } else if (st.comp_method == ZIP_CM_DEFLATE) {
      if (st.size > st.comp_size * 1032 + 1024) {
        throw fail("declares " + std::to_string(st.size) + " bytes, more than deflate can expand " +
                   std::to_string(st.comp_size) + " compressed bytes to");
      }
    } else {
      throw fail("uses zip compression method " + std::to_string(st.comp_method) +
                 " (torch.save archives are stored or deflated)");
    }
    return st.size;
  }

  // The whole (decompressed, CRC-checked) entry.
  std::vector<uint8_t> read(zip_uint64_t index, const std::string& name) const {
    const uint64_t size = entry_size(index, name);
    std::vector<uint8_t> buffer;
    try {
      buffer.resize(static_cast<size_t>(size));
    } catch (const std::bad_alloc&) {
      throw Error("'" + path_ + "': entry '" + name + "' is too large (" + std::to_string(size) + " bytes)");
    }
    zip_file_t* file = zip_fopen_index(archive_, index, 0);
    if (!file) throw Error("'" + path_ + "': cannot open entry '" + name + "': " + zip_strerror(archive_));
    std::string problem;
    uint64_t done = 0;
    while (done < size) {
      const zip_int64_t got = zip_fread(file, buffer.data() + done, size - done);
      if (got < 0) {
        problem = zip_file_strerror(file);
        break;
      }
      if (got == 0) {
        problem = "entry ends after " + std::to_string(done) + " of " + std::to_string(size) + " bytes";
        break;
      }
      done += static_cast<uint64_t>(got);
    }
    if (problem.empty()) {
      // Reading to the end makes libzip verify the CRC and shows an entry longer than its stated size.
      uint8_t extra = 0;
      const zip_int64_t got = zip_fread(file, &extra, 1);
      if (got < 0) problem = zip_file_strerror(file);
      if (got > 0) problem = "entry is longer than its stated size";
    }
    zip_fclose(file);
    if (!problem.empty()) throw Error("'" + path_ + "': cannot read entry '" + name + "': " + problem);
    return buffer;
  }

 private:
  std::string path_;
  uint64_t file_size_ = 0;
  zip_t* archive_ = nullptr;
};

struct LoadedStorage {
  DType dtype;
  int64_t numel;
  std::vector<uint8_t> bytes;
};

class TorchBinReader {
 public:
  explicit TorchBinReader(const std::string& path) : path_(path), zip_(path) {}

  TensorMap read() {
    const auto [pickle_index, pickle_name] = find_data_pkl();
    check_byteorder();
    const std::vector<uint8_t> pickle_bytes = zip_.read(pickle_index, pickle_name);
    const pickle::Unpickled unpickled =
        pickle::unpickle(pickle_bytes.data(), pickle_bytes.size(), path_ + ":" + pickle_name);

    const pickle::Value& root = *unpickled.root;
    if (root.kind != pickle::Value::Kind::Dict) {
      throw Error("'" + path_ + "': expected a state_dict (dict of tensors), got a " + pickle::kind_name(root));
    }
    // Storages are dropped after their last tensor is copied out, so peak memory stays near the checkpoint size.
    for (const auto& entry : root.entries) {
      if (entry.second->kind == pickle::Value::Kind::Tensor) ++remaining_uses_[entry.second->storage->storage_key];
    }
    TensorMap tensors;
    for (const auto& [key, value] : root.entries) {
      if (key->kind != pickle::Value::Kind::Str) {
        throw Error("'" + path_ + "': state_dict key is a " + std::string(pickle::kind_name(*key)) + ", not a str");
      }
      if (value->kind == pickle::Value::Kind::Tensor) {
        tensors.insert_or_assign(key->str, materialize(*value, key->str));
      } else if (key->str != "_metadata") {  // module version info some writers store as an entry
        throw Error("'" + path_ + "': entry '" + key->str + "' is a " + pickle::kind_name(*value) + ", not a tensor");
      }
    }
    return tensors;
  }

 private:
  // "<folder>/data.pkl" with a single top folder (its name depends on the file name torch.save was given).
  std::pair<zip_uint64_t, std::string> find_data_pkl() {
    std::vector<std::pair<zip_uint64_t, std::string>> found;
    const std::vector<std::string> names = zip_.names();
    for (size_t i = 0; i < names.size(); ++i) {
      const std::string& name = names[i];
      const size_t slash = name.find('/');
      const bool in_top_folder = slash != std::string::npos && name.compare(slash, std::string::npos, "/data.pkl") == 0;
      if (name == "data.pkl" || in_top_folder) found.emplace_back(i, name);
    }
    if (found.empty()) throw Error("'" + path_ + "': no data.pkl in the zip archive (not a torch.save file?)");
    if (found.size() > 1) throw Error("'" + path_ + "': several data.pkl entries in the zip archive");
    prefix_ = found[0].second.substr(0, found[0].second.size() - std::strlen("data.pkl"));
    return found[0];
  }

  void check_byteorder() {
    const std::string name = prefix_ + "byteorder";
    const auto index = zip_.locate(name);
    if (!index) return;  // older writers omit it and are little-endian
    const std::vector<uint8_t> bytes = zip_.read(*index, name);
    const std::string order(bytes.begin(), bytes.end());
    if (order != "little") throw Error("'" + path_ + "': unsupported byte order '" + order + "'");
  }

  const LoadedStorage& storage(const pickle::Value& s, const std::string& tensor) {
    auto it = storages_.find(s.storage_key);
    if (it != storages_.end()) {
      if (it->second.dtype != s.dtype || it->second.numel != s.storage_numel) {
        throw Error("'" + path_ + "': tensor '" + tensor + "': storage '" + s.storage_key +
                    "' is described with two different types or sizes");
      }
      return it->second;
    }
    const std::string name = prefix_ + "data/" + s.storage_key;
    const auto index = zip_.locate(name);
    if (!index) throw Error("'" + path_ + "': tensor '" + tensor + "': missing storage entry '" + name + "'");
    const uint64_t elem = dtype_size(s.dtype);
    const uint64_t numel = static_cast<uint64_t>(s.storage_numel);
    const uint64_t size = zip_.entry_size(*index, name);
    if (numel > UINT64_MAX / elem || size != numel * elem) {
      throw Error("'" + path_ + "': tensor '" + tensor + "': storage entry '" + name + "' has " +
                  std::to_string(size) + " bytes but " + std::to_string(s.storage_numel) + " " +
                  dtype_name(s.dtype) + " elements were declared");
    }
    LoadedStorage loaded{s.dtype, s.storage_numel, zip_.read(*index, name)};
    return storages_.emplace(s.storage_key, std::move(loaded)).first->second;
  }

  // Copies the tensor out of its storage, gathering strided (non-contiguous) layouts into row-major order.
  Tensor materialize(const pickle::Value& t, const std::string& name) {
    auto fail = [&](const std::string& message) -> Error {
      return Error("'" + path_ + "': tensor '" + name + "': " + message);
    };
    const LoadedStorage& st = storage(*t.storage, name);
    Tensor out = copy_out(t, st, fail);
    if (--remaining_uses_[t.storage->storage_key] == 0) storages_.erase(t.storage->storage_key);
    return out;
  }

  template <class Fail>
  static Tensor copy_out(const pickle::Value& t, const LoadedStorage& st, const Fail& fail) {
    const Shape shape(t.size.begin(), t.size.end());
    const std::string layout = "offset " + std::to_string(t.storage_offset) + ", size " + shape_to_string(shape) +
                               ", stride " + shape_to_string(t.stride);
    if (t.storage_offset < 0) throw fail("negative storage offset");
    for (size_t d = 0; d < shape.size(); ++d) {
      if (shape[d] < 0 || t.stride[d] < 0) throw fail("negative size or stride (" + layout + ")");
    }
    int64_t numel = 0;
    try {
      numel = shape_numel(shape);
    } catch (const Error& err) {
      throw fail(err.what());
    }
    Tensor out(st.dtype, shape);
    if (numel == 0) return out;

    // The highest element the tensor touches must lie inside the storage.
    int64_t last = t.storage_offset;
    for (size_t d = 0; d < shape.size(); ++d) {
      int64_t reach = 0;
      if (__builtin_mul_overflow(shape[d] - 1, t.stride[d], &reach) || __builtin_add_overflow(last, reach, &last)) {
        throw fail("layout overflows (" + layout + ")");
      }
    }
    if (last >= st.numel) {
      throw fail("reaches element " + std::to_string(last) + " of storage '" + t.storage->storage_key + "' which has " +
                 std::to_string(st.numel) + " elements (" + layout + ")");
    }

    const size_t elem = dtype_size(st.dtype);
    const uint8_t* src = st.bytes.data();
    uint8_t* dst = static_cast<uint8_t*>(out.raw_mutable_data());
    bool contiguous = true;
    int64_t expected = 1;
    for (size_t d = shape.size(); d-- > 0;) {
      if (shape[d] != 1 && t.stride[d] != expected) contiguous = false;
      expected *= shape[d];
    }
    if (contiguous) {
      std::memcpy(dst, src + static_cast<size_t>(t.storage_offset) * elem, static_cast<size_t>(numel) * elem);
      return out;
    }
    // Walk the index space in row-major order; `at` is the storage element of the current index.
    std::vector<int64_t> index(shape.size(), 0);
    int64_t at = t.storage_offset;
    for (int64_t k = 0; k < numel; ++k) {
      std::memcpy(dst + static_cast<size_t>(k) * elem, src + static_cast<size_t>(at) * elem, elem);
      for (size_t d = shape.size(); d-- > 0;) {
        if (index[d] + 1 < shape[d]) {
          ++index[d];
          at += t.stride[d];
          break;
        }
        at -= t.stride[d] * (shape[d] - 1);
        index[d] = 0;
      }
    }
    return out;
  }

  std::string path_;
  ZipReader zip_;
  std::string prefix_;
  std::map<std::string, LoadedStorage> storages_;
  std::map<std::string, int> remaining_uses_;
};

}  // namespace

TensorMap read_torch_bin(const std::string& path) { return TorchBinReader(path).read(); }

}  // namespace rembert
