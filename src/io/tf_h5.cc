// tf_model.h5: the HDF5 file Keras' save_weights writes for transformers' TF models, read through libhdf5's C API.
//
// Layout: the root attribute `layer_names` lists the model's top-level layers ("rembert", "mlm___cls",
// "classifier", ...); each has a group whose attribute `weight_names` lists its variables by full name
// ("tf_rem_bert_for_masked_lm/rembert/embeddings/word_embeddings/weight:0"), each stored as the dataset
// <layer>/<weight name>. A string attribute over HDF5's 64 KiB header limit is split by Keras into `name0`,
// `name1`, ... . Every weight is read into memory (Dense kernels transposed) under its PyTorch name.
#include "io/tf_h5.h"

#include <hdf5.h>

#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "rembert/error.h"
#include "rembert/safetensors.h"

namespace rembert {

namespace tf {

PtName pt_weight_name(const std::string& tf_name) {
  std::string name = tf_name;
  for (size_t p; (p = name.find(":0")) != std::string::npos;) name.erase(p, 2);
  // re.sub(r"/[^/]*___([^/]*)/", r"/\1/"): a level between two slashes keeps what follows its last "___"; the
  // matches do not overlap, so the level after a replaced one is left as it is.
  std::vector<std::string> levels;
  for (size_t start = 0;;) {
    const size_t slash = name.find('/', start);
    levels.push_back(name.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  for (size_t i = 1; i + 1 < levels.size(); ++i) {
    const size_t p = levels[i].rfind("___");
    if (p == std::string::npos) continue;
    levels[i] = levels[i].substr(p + 3);
    ++i;
  }
  // "_._" separates levels (Keras lists of layers: layer_._3 -> layer/3); empty levels go.
  std::vector<std::string> parts;
  for (const std::string& level : levels) {
    std::string rest = level;
    for (size_t p; (p = rest.find("_._")) != std::string::npos;) {
      if (p > 0) parts.push_back(rest.substr(0, p));
      rest = rest.substr(p + 3);
    }
    if (!rest.empty()) parts.push_back(rest);
  }
  if (parts.size() > 1) parts.erase(parts.begin());  // the model's own name
  PtName out;
  if (parts.empty()) return out;
  std::string& last = parts.back();
  out.transpose = last == "kernel";
  if (last == "kernel" || last == "embeddings" || last == "gamma") last = "weight";
  if (last == "beta") last = "bias";
  for (size_t i = 0; i < parts.size(); ++i) out.name += (i ? "." : "") + parts[i];
  return out;
}

}  // namespace tf

namespace {

// Debian's libhdf5 is not built thread-safe: one reader at a time in this process.
std::mutex& hdf5_mutex() {
  static std::mutex m;
  return m;
}

// An HDF5 identifier closed with its own close function.
class Handle {
 public:
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() {
    if (id_ >= 0) close_(id_);
  }
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

herr_t keep_deepest(unsigned, const H5E_error2_t* err, void* data) {
  if (err && err->desc && *err->desc) *static_cast<std::string*>(data) = err->desc;
  return 0;
}

// The innermost message of libhdf5's error stack (e.g. "truncated file: eof = ..."), then the stack is cleared.
std::string hdf5_reason() {
  std::string reason;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, keep_deepest, &reason);
  H5Eclear2(H5E_DEFAULT);
  return reason.empty() ? "" : " (libhdf5: " + reason + ")";
}

struct Reader {
  std::string path;

  Error fail(const std::string& message) const { return Error("'" + path + "': " + message); }

  // The strings of a 1-D string attribute (fixed or variable length), or nullopt when `obj` has no such attribute.
  std::optional<std::vector<std::string>> string_attribute(hid_t obj, const std::string& name,
                                                          const std::string& where) const {
    const htri_t exists = H5Aexists(obj, name.c_str());
    if (exists < 0) throw fail("cannot look up attribute '" + name + "' of " + where + hdf5_reason());
    if (exists == 0) return std::nullopt;
    auto bad = [&](const std::string& why) { return fail("attribute '" + name + "' of " + where + " " + why); };
    Handle attr(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose);
    if (!attr.ok()) throw bad("cannot be opened" + hdf5_reason());
    Handle type(H5Aget_type(attr.get()), H5Tclose);
    Handle space(H5Aget_space(attr.get()), H5Sclose);
    if (!type.ok() || !space.ok()) throw bad("cannot be read" + hdf5_reason());
    if (H5Tget_class(type.get()) != H5T_STRING) throw bad("is not a list of strings");
    const int rank = H5Sget_simple_extent_ndims(space.get());
    const hssize_t count = H5Sget_simple_extent_npoints(space.get());
    if (rank > 1 || count < 0) throw bad("is not a list of strings");
    std::vector<std::string> out;
    if (count == 0) return out;
    const auto n = static_cast<size_t>(count);
    if (H5Tis_variable_str(type.get()) > 0) {
      Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
      H5Tset_size(mem.get(), H5T_VARIABLE);
      std::vector<char*> strings(n, nullptr);
      if (H5Aread(attr.get(), mem.get(), strings.data()) < 0) throw bad("cannot be read" + hdf5_reason());
      for (char* s : strings) {
        out.emplace_back(s ? s : "");
        if (s) H5free_memory(s);
      }
      return out;
    }
    const size_t width = H5Tget_size(type.get());
    if (width == 0 || width > (size_t{1} << 20)) throw bad("has strings of an invalid size");
    Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mem.get(), width);
    H5Tset_strpad(mem.get(), H5T_STR_NULLPAD);
    std::vector<char> buffer(n * width);
    if (H5Aread(attr.get(), mem.get(), buffer.data()) < 0) throw bad("cannot be read" + hdf5_reason());
    for (size_t i = 0; i < n; ++i) {
      const char* s = buffer.data() + i * width;
      out.emplace_back(s, strnlen(s, width));
    }
    return out;
  }

  // Keras' load_attributes_from_hdf5_group: `name`, else the chunks name0, name1, ...
  std::vector<std::string> keras_list(hid_t obj, const std::string& name, const std::string& where) const {
    if (auto whole = string_attribute(obj, name, where)) return *whole;
    std::vector<std::string> out;
    bool any = false;
    for (int chunk = 0;; ++chunk) {
      auto part = string_attribute(obj, name + std::to_string(chunk), where);
      if (!part) break;
      any = true;
      out.insert(out.end(), part->begin(), part->end());
    }
    if (!any) {
      throw fail(where + " has no attribute '" + name + "': not a weights file written by Keras' save_weights in "
                 "the h5 format (the layout transformers' TF models save as tf_model.h5)");
    }
    return out;
  }

  // One weight as a tensor in its stored float dtype (F32, F16, BF16 or F64), a kernel transposed to [out, in].
  Tensor read_weight(hid_t group, const std::string& layer, const std::string& weight, const tf::PtName& pt) const {
    const std::string what = "weight '" + weight + "' (layer '" + layer + "', PyTorch name '" + pt.name + "')";
    Handle dset(H5Dopen2(group, weight.c_str(), H5P_DEFAULT), H5Dclose);
    if (!dset.ok()) throw fail(what + " is listed in weight_names but cannot be opened" + hdf5_reason());
    Handle type(H5Dget_type(dset.get()), H5Tclose);
    Handle space(H5Dget_space(dset.get()), H5Sclose);
    if (!type.ok() || !space.ok()) throw fail(what + ": cannot read its type or shape" + hdf5_reason());

    const std::optional<DType> dtype = float_dtype(type.get());
    if (!dtype) throw fail(what + " has " + type_description(type.get()) + ", expected float32, float16 or bfloat16");
    const int rank = H5Sget_simple_extent_ndims(space.get());
    if (rank < 0 || rank > 8) throw fail(what + ": its dataspace is not a simple array" + hdf5_reason());
    std::vector<hsize_t> dims(static_cast<size_t>(rank));
    if (rank > 0 && H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr) < 0) {
      throw fail(what + ": cannot read its shape" + hdf5_reason());
    }
    Shape shape(dims.begin(), dims.end());
    if (pt.transpose && rank != 2) {
      throw fail(what + " is a kernel of shape " + shape_to_string(shape) +
                 ": only the 2-D kernels of Dense layers are supported");
    }
    Tensor t(*dtype, shape);
    Handle mem(memory_type(*dtype), H5Tclose);
    if (!mem.ok() || H5Dread(dset.get(), mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, t.raw_mutable_data()) < 0) {
      throw fail(what + ": cannot read its data" + hdf5_reason());
    }
    if (!pt.transpose) return t;
    // [in, out] -> [out, in]
    const auto in = static_cast<size_t>(shape[0]), out = static_cast<size_t>(shape[1]);
    const size_t es = dtype_size(*dtype);
    Tensor transposed(*dtype, {shape[1], shape[0]});
    const auto* src = static_cast<const unsigned char*>(t.raw_data());
    auto* dst = static_cast<unsigned char*>(transposed.raw_mutable_data());
    for (size_t i = 0; i < in; ++i) {
      for (size_t o = 0; o < out; ++o) std::memcpy(dst + (o * in + i) * es, src + (i * out + o) * es, es);
    }
    return transposed;
  }

  // The IEEE-like float layouts we hold: by size and field widths (bfloat16: 8 exponent and 7 mantissa bits).
  static std::optional<DType> float_dtype(hid_t type) {
    if (H5Tget_class(type) != H5T_FLOAT) return std::nullopt;
    size_t spos = 0, epos = 0, esize = 0, mpos = 0, msize = 0;
    if (H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize) < 0) return std::nullopt;
    const size_t size = H5Tget_size(type);
    if (size == 4 && esize == 8 && msize == 23) return DType::F32;
    if (size == 2 && esize == 5 && msize == 10) return DType::F16;
    if (size == 2 && esize == 8 && msize == 7) return DType::BF16;
    if (size == 8 && esize == 11 && msize == 52) return DType::F64;
    return std::nullopt;
  }

  // Little-endian memory types; libhdf5 converts byte order (and exponent bias) from the file's.
  static hid_t memory_type(DType dtype) {
    if (dtype == DType::F32) return H5Tcopy(H5T_NATIVE_FLOAT);
    if (dtype == DType::F64) return H5Tcopy(H5T_NATIVE_DOUBLE);
    const hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    const bool f16 = dtype == DType::F16;
    if (t < 0 || H5Tset_fields(t, 15, f16 ? 10 : 7, f16 ? 5 : 8, 0, f16 ? 10 : 7) < 0 || H5Tset_size(t, 2) < 0 ||
        H5Tset_ebias(t, f16 ? 15 : 127) < 0) {
      if (t >= 0) H5Tclose(t);
      return -1;
    }
    return t;
  }

  static std::string type_description(hid_t type) {
    const size_t bits = H5Tget_size(type) * 8;
    switch (H5Tget_class(type)) {
      case H5T_INTEGER:
        return std::string("dtype ") + (H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") + std::to_string(bits);
      case H5T_FLOAT: return "an unsupported " + std::to_string(bits) + "-bit float type";
      case H5T_STRING: return "a string type";
      case H5T_OPAQUE: return "an opaque " + std::to_string(bits) + "-bit type";
      case H5T_COMPOUND: return "a compound type";
      default: return "a type that is not a number";
    }
  }
};

}  // namespace

TensorMap read_tf_h5(const std::string& path) {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // errors come back as our exceptions, not printed by libhdf5
  const Reader r{path};
  const htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
  if (is_hdf5 < 0) throw r.fail("cannot be opened" + hdf5_reason());
  if (is_hdf5 == 0) {
    H5Eclear2(H5E_DEFAULT);
    throw r.fail("is not an HDF5 file (no HDF5 signature): a tf_model.h5 is written by Keras' save_weights");
  }
  Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.ok()) throw r.fail("cannot be opened as HDF5" + hdf5_reason());

  TensorMap tensors;
  std::map<std::string, std::string> origin;  // PyTorch name -> the Keras weight it came from
  for (const std::string& layer : r.keras_list(file.get(), "layer_names", "the file's root")) {
    const std::string where = "layer '" + layer + "'";
    if (layer.empty() || layer.find('/') != std::string::npos) throw r.fail("invalid layer name '" + layer + "'");
    const htri_t exists = H5Lexists(file.get(), layer.c_str(), H5P_DEFAULT);
    if (exists <= 0) throw r.fail(where + " is listed in layer_names but has no group" + hdf5_reason());
    Handle group(H5Gopen2(file.get(), layer.c_str(), H5P_DEFAULT), H5Gclose);
    if (!group.ok()) throw r.fail(where + " cannot be opened as a group" + hdf5_reason());
    for (const std::string& weight : r.keras_list(group.get(), "weight_names", where)) {
      const tf::PtName pt = tf::pt_weight_name(weight);
      if (pt.name.empty()) throw r.fail(where + " lists an invalid weight name '" + weight + "'");
      auto [it, inserted] = origin.emplace(pt.name, weight);
      if (!inserted) {
        throw r.fail("weights '" + it->second + "' and '" + weight + "' both map to the PyTorch name '" + pt.name +
                     "'");
      }
      tensors.emplace(pt.name, r.read_weight(group.get(), layer, weight, pt));
    }
  }
  if (tensors.empty()) throw r.fail("holds no weights (its layers list no weight_names)");
  return tensors;
}

}  // namespace rembert
