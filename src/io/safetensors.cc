// safetensors reading (memory-mapped, validated) and writing.
#include "rembert/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/files.h"
#include "rembert/error.h"

namespace rembert {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the reference implementation's limit

std::string errno_text() { return std::strerror(errno); }

// A whole file mapped read-only; unmapped when the last tensor viewing it goes away.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error("cannot open '" + path + "': " + errno_text());
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const std::string reason = errno_text();
      ::close(fd);
      throw Error("cannot stat '" + path + "': " + reason);
    }
    if (S_ISDIR(st.st_mode)) {
      ::close(fd);
      throw Error("cannot read '" + path + "': is a directory");
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd);
      throw Error("cannot read '" + path + "': not a regular file");
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ > 0) {
      void* addr = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (addr == MAP_FAILED) {
        const std::string reason = errno_text();
        ::close(fd);
        throw Error("cannot map '" + path + "': " + reason);
      }
      data_ = static_cast<const uint8_t*>(addr);
      register_file_mapping(data_, size_);
    }
    ::close(fd);  // the mapping stays valid without the descriptor
  }
  ~MappedFile() {
    if (data_) {
      unregister_file_mapping(data_);
      ::munmap(const_cast<uint8_t*>(data_), size_);
    }
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Reads a non-negative JSON integer; false for anything else.
bool json_to_u64(const nlohmann::json& v, uint64_t& out) {
  if (!v.is_number_unsigned()) return false;
  out = v.get<uint64_t>();
  return true;
}

struct Span {
  uint64_t begin;
  uint64_t end;
  std::string name;
};

struct Entry {
  DType dtype;
  Shape shape;
  uint64_t begin;
  uint64_t end;
};

// Parses and checks one tensor entry of the header; `data_size` is the size of the data section.
Entry parse_entry(const nlohmann::json& value, uint64_t data_size, const std::string& where) {
  auto fail = [&](const std::string& message) -> Error { return Error(where + ": " + message); };
  if (!value.is_object()) throw fail("entry is not an object");
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    if (!value.contains(field)) throw fail(std::string("missing \"") + field + "\"");
  }
  Entry e{};
  const nlohmann::json& dtype = value["dtype"];
  if (!dtype.is_string()) throw fail("\"dtype\" is not a string");
  try {
    e.dtype = dtype_from_name(dtype.get<std::string>());
  } catch (const Error& err) {
    throw fail(err.what());
  }

  const nlohmann::json& shape = value["shape"];
  if (!shape.is_array()) throw fail("\"shape\" is not an array");
  for (const nlohmann::json& d : shape) {
    if (!d.is_number_integer()) throw fail("\"shape\" holds a non-integer: " + d.dump());
    if (d.is_number_unsigned() && d.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      throw fail("dimension " + d.dump() + " is too large");
    }
    const int64_t dim = d.get<int64_t>();
    if (dim < 0) throw fail("negative dimension in shape " + shape.dump());
    e.shape.push_back(dim);
  }
  int64_t numel = 0;
  try {
    numel = shape_numel(e.shape);
  } catch (const Error& err) {
    throw fail(err.what());
  }
  const uint64_t elem = dtype_size(e.dtype);
  if (static_cast<uint64_t>(numel) > std::numeric_limits<uint64_t>::max() / elem) {
    throw fail("shape " + shape_to_string(e.shape) + " is too large");
  }
  const uint64_t nbytes = static_cast<uint64_t>(numel) * elem;

  const nlohmann::json& offsets = value["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !json_to_u64(offsets[0], e.begin) ||
      !json_to_u64(offsets[1], e.end) || e.begin > e.end) {
    throw fail("\"data_offsets\" must be two ascending non-negative integers, got " + offsets.dump());
  }
  if (e.end > data_size) {
    throw fail("data_offsets " + offsets.dump() + " run past the end of the data section (" +
               std::to_string(data_size) + " bytes)");
  }
  if (e.end - e.begin != nbytes) {
    throw fail(std::string("dtype ") + dtype_name(e.dtype) + " and shape " + shape_to_string(e.shape) + " need " +
               std::to_string(nbytes) + " bytes but data_offsets " + offsets.dump() + " span " +
               std::to_string(e.end - e.begin));
  }
  return e;
}

// The name/dtype/shape of one tensor to write, in file order.
struct WriteEntry {
  std::string name;
  DType dtype;
  Shape shape;
  size_t nbytes;
  uint64_t offset;  // in the data section
  size_t source;    // index into the caller's list
};

// Sorts the entries by name, assigns contiguous offsets and returns the padded header (length prefix included).
std::string build_header(std::vector<WriteEntry>& entries, const std::map<std::string, std::string>& metadata,
                         const std::string& path) {
  std::sort(entries.begin(), entries.end(), [](const WriteEntry& a, const WriteEntry& b) { return a.name < b.name; });
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    WriteEntry& e = entries[i];
    if (e.name == "__metadata__") throw Error("cannot write '" + path + "': a tensor may not be named __metadata__");
    if (i > 0 && entries[i - 1].name == e.name) {
      throw Error("cannot write '" + path + "': tensor '" + e.name + "' is listed twice");
    }
    e.offset = offset;
    offset += e.nbytes;
    header[e.name] = {{"dtype", dtype_name(e.dtype)},
                      {"shape", e.shape},
                      {"data_offsets", nlohmann::ordered_json::array({e.offset, offset})}};
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& err) {  // e.g. a name that is not UTF-8
    throw Error("cannot write '" + path + "': " + err.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data section 8-byte aligned
  std::string out(8, '\0');
  uint64_t length = text.size();
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((length >> (8 * i)) & 0xffu);
  return out + text;
}

// A file being written; removed again unless finish() succeeds.
class OutputFile {
 public:
  explicit OutputFile(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Error("cannot create '" + path + "': " + errno_text());
    struct stat st {};
    regular_ = ::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode);
  }
  ~OutputFile() {
    if (fd_ >= 0) {
      ::close(fd_);
      if (regular_) ::unlink(path_.c_str());  // never remove a device such as /dev/full
    }
  }
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  void write_at(uint64_t offset, const void* data, size_t n) {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      const size_t chunk = std::min<size_t>(n, size_t{1} << 30);
      const ssize_t written = ::pwrite(fd_, p, chunk, static_cast<off_t>(offset));
      if (written < 0) {
        if (errno == EINTR) continue;
        throw Error("cannot write '" + path_ + "': " + errno_text());
      }
      if (written == 0) throw Error("cannot write '" + path_ + "': no progress");
      p += written;
      n -= static_cast<size_t>(written);
      offset += static_cast<uint64_t>(written);
    }
  }
  void finish() {
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) {
      const std::string reason = errno_text();
      if (regular_) ::unlink(path_.c_str());
      throw Error("cannot write '" + path_ + "': " + reason);
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool regular_ = false;
};

}  // namespace

SafetensorsFile read_safetensors(const std::string& path) {
  auto mapping = std::make_shared<const MappedFile>(path);
  auto fail = [&](const std::string& message) -> Error { return Error("safetensors file '" + path + "': " + message); };
  const size_t file_size = mapping->size();
  if (file_size == 0) throw fail("file is empty");
  if (file_size < 8) throw fail("file is too short (" + std::to_string(file_size) + " bytes) for the header length");

  const uint8_t* bytes = mapping->data();
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = header_size << 8 | bytes[i];
  if (header_size > kMaxHeaderBytes || header_size > file_size - 8) {
    throw fail("oversized header: " + std::to_string(header_size) + " bytes declared, the file has " +
               std::to_string(file_size) + " bytes");
  }
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes + 8, bytes + 8 + header_size);
  } catch (const nlohmann::json::exception& err) {
    throw fail(std::string("header is not valid JSON: ") + err.what());
  }
  if (!header.is_object()) throw fail("header is not a JSON object");

  const uint8_t* data = bytes + 8 + header_size;
  const uint64_t data_size = file_size - 8 - header_size;
  SafetensorsFile result;
  std::vector<Span> spans;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& value = it.value();
    if (name == "__metadata__") {
      if (!value.is_object()) throw fail("__metadata__ is not an object");
      for (const auto& [key, item] : value.items()) {
        if (!item.is_string()) throw fail("__metadata__ value for '" + key + "' is not a string");
        result.metadata[key] = item.get<std::string>();
      }
      continue;
    }
    const Entry e = parse_entry(value, data_size, "safetensors file '" + path + "': tensor '" + name + "'");
    spans.push_back({e.begin, e.end, name});
    const uint8_t* p = data + e.begin;
    Tensor tensor;
    if (reinterpret_cast<uintptr_t>(p) % dtype_size(e.dtype) == 0) {
      tensor = Tensor::view(e.dtype, e.shape, p, mapping, /*writable=*/false);
    } else {
      // Misaligned data (only hand-made files; the writers align) would break typed loads: copy it instead.
      tensor = Tensor(e.dtype, e.shape);
      if (tensor.nbytes() > 0) std::memcpy(tensor.raw_mutable_data(), p, tensor.nbytes());
    }
    result.tensors.emplace(name, std::move(tensor));
  }

  // Two tensors must never share bytes; empty tensors occupy nothing.
  std::sort(spans.begin(), spans.end(),
            [](const Span& a, const Span& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  const Span* previous = nullptr;
  for (const Span& span : spans) {
    if (span.begin == span.end) continue;
    if (previous && span.begin < previous->end) {
      throw fail("tensors '" + previous->name + "' and '" + span.name + "' overlap");
    }
    if (!previous || span.end > previous->end) previous = &span;
  }
  return result;
}

void write_safetensors(const std::string& path, const TensorMap& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<WriteEntry> entries;
  std::vector<const Tensor*> sources;
  for (const auto& [name, tensor] : tensors) {
    if (tensor.nbytes() > 0 && tensor.raw_data() == nullptr) {
      throw Error("cannot write '" + path + "': tensor '" + name + "' has no data");
    }
    entries.push_back({name, tensor.dtype(), tensor.shape(), tensor.nbytes(), 0, sources.size()});
    sources.push_back(&tensor);
  }
  const std::string header = build_header(entries, metadata, path);
  OutputFile out(path);
  out.write_at(0, header.data(), header.size());
  for (const WriteEntry& e : entries) out.write_at(header.size() + e.offset, sources[e.source]->raw_data(), e.nbytes);
  out.finish();
}

void write_safetensors_streaming(const std::string& path, const std::vector<TensorSpec>& specs,
                                 const std::function<void(const TensorSpec&, void* buffer)>& fill,
                                 const std::map<std::string, std::string>& metadata) {
  std::vector<WriteEntry> entries;
  for (size_t i = 0; i < specs.size(); ++i) {
    entries.push_back({specs[i].name, specs[i].dtype, specs[i].shape, specs[i].nbytes(), 0, i});
  }
  const std::string header = build_header(entries, metadata, path);
  // The file is laid out by name but filled in the caller's order, so each tensor is written at its offset.
  std::vector<uint64_t> offset_of(specs.size());
  for (const WriteEntry& e : entries) offset_of[e.source] = header.size() + e.offset;

  OutputFile out(path);
  out.write_at(0, header.data(), header.size());
  std::vector<uint8_t> buffer;
  for (size_t i = 0; i < specs.size(); ++i) {
    const size_t nbytes = specs[i].nbytes();
    buffer.assign(nbytes, 0);
    fill(specs[i], buffer.data());
    out.write_at(offset_of[i], buffer.data(), nbytes);
  }
  out.finish();
}

}  // namespace rembert
