// A restricted unpickler for the data.pkl of torch.save archives.
//
// It understands the plain-data opcodes of pickle protocols 2-5 and exactly the globals a state_dict needs
// (collections.OrderedDict, torch._utils._rebuild_tensor{,_v2}, torch._utils._rebuild_parameter and the typed
// storage classes). Nothing is ever imported or called: tensors come back as descriptions (storage key, offset,
// size, stride) for the caller to materialise. Any other global or opcode throws Error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "rembert/tensor.h"

namespace rembert::pickle {

struct Value;

// The allowed globals, once resolved.
enum class GlobalKind { OrderedDict, RebuildTensorV2, RebuildTensor, RebuildParameter, StorageType };

struct Value {
  enum class Kind { None, Bool, Int, Float, Str, Tuple, List, Dict, Global, Storage, Tensor };
  Kind kind = Kind::None;

  bool boolean = false;                            // Bool
  int64_t integer = 0;                             // Int
  double real = 0.0;                               // Float
  std::string str;                                 // Str; Global: "module name"
  std::vector<Value*> items;                       // Tuple, List
  std::vector<std::pair<Value*, Value*>> entries;  // Dict, in insertion order (later keys win)

  GlobalKind global = GlobalKind::OrderedDict;     // Global
  DType dtype = DType::F32;                        // Global of StorageType, Storage
  std::string storage_key;                         // Storage: the archive entry data/<key>
  int64_t storage_numel = 0;                       // Storage: elements of dtype

  Value* storage = nullptr;                        // Tensor: a Storage value
  int64_t storage_offset = 0;                      // Tensor: in elements
  std::vector<int64_t> size;                       // Tensor
  std::vector<int64_t> stride;                     // Tensor: in elements
};

// All values live in the arena and point at each other with raw pointers, so cyclic or deeply nested input
// (possible through the memo) is freed without recursion.
struct Unpickled {
  std::vector<std::unique_ptr<Value>> arena;
  const Value* root = nullptr;
};

// Unpickles `data`; `source` names the input in error messages (e.g. "model.bin:archive/data.pkl").
Unpickled unpickle(const uint8_t* data, size_t size, const std::string& source);

// A short description of a value's kind for error messages ("str", "tuple", ...).
const char* kind_name(const Value& value);

}  // namespace rembert::pickle
