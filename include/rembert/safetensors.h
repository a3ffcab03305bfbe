// Reading and writing the safetensors format, and the other checkpoint files Hugging Face writes.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "rembert/tensor.h"

namespace rembert {

using TensorMap = std::map<std::string, Tensor>;

struct SafetensorsFile {
  TensorMap tensors;                              // read-only views into the memory-mapped file
  std::map<std::string, std::string> metadata;    // "__metadata__"
};

// Memory-maps `path`; the tensors view the mapping in place (no copy). Every header inconsistency (truncated file,
// oversized header, offsets out of range or overlapping, dtype/shape not matching the byte span) throws Error
// naming the file and the tensor.
SafetensorsFile read_safetensors(const std::string& path);

// Writes `tensors` (sorted by name, as the reference writer does) with an optional "__metadata__" block.
void write_safetensors(const std::string& path, const TensorMap& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// Streaming writer for checkpoints larger than memory: the header is written from `specs`, then `fill` is called
// once per tensor, in the order of `specs`, with a buffer of spec.nbytes() to fill.
struct TensorSpec {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  size_t nbytes() const { return static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype); }
};
void write_safetensors_streaming(const std::string& path, const std::vector<TensorSpec>& specs,
                                 const std::function<void(const TensorSpec&, void* buffer)>& fill,
                                 const std::map<std::string, std::string>& metadata = {});

// Reads `torch.save(state_dict)` files (the zip archive with data.pkl and data/N entries) with a restricted
// unpickler: only the opcodes and globals that rebuild tensors and an OrderedDict are accepted; anything else
// (other globals, code execution) throws Error. Returned tensors own their data.
TensorMap read_torch_bin(const std::string& path);

// Reads a TensorFlow checkpoint (tf_model.h5: Keras save_weights' h5 layout, as transformers' TF models write it)
// through libhdf5, under the PyTorch state-dict names transformers' TF-to-PyTorch loading maps the Keras names to
// (Dense kernels transposed to [out, in]). Weights keep their stored dtype (float32, float16, bfloat16, float64);
// the tensors own their data. A file that is not HDF5, is truncated, lacks the Keras attributes or holds a weight
// that cannot be read or is not floating point throws Error naming the file and the weight.
TensorMap read_tf_h5(const std::string& path);

// All weights of a Hugging Face model folder, by precedence: model.safetensors, model.safetensors.index.json
// (sharded), pytorch_model.bin, pytorch_model.bin.index.json, tf_model.h5 (a sharded TensorFlow checkpoint,
// tf_model.h5.index.json, is an error saying it is not supported). `files` lists what was read.
struct Checkpoint {
  TensorMap tensors;
  std::vector<std::string> files;
};
Checkpoint load_checkpoint(const std::string& model_dir);

}  // namespace rembert
