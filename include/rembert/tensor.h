// Tensor: a dtype, a row-major shape and a pointer to contiguous little-endian data.
//
// A tensor either owns its buffer or views memory owned by something else (a memory-mapped checkpoint file); in both
// cases `storage` keeps that memory alive, so copying a Tensor is cheap and shares the data. Views of read-only
// memory are marked read-only and refuse mutable access.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace rembert {

enum class DType { F32, F16, BF16, F64, I64, I32, I16, I8, U8, Bool };

size_t dtype_size(DType dtype);
// Names as safetensors writes them: "F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL".
const char* dtype_name(DType dtype);
// Inverse of dtype_name; throws Error naming `name` when unknown.
DType dtype_from_name(const std::string& name);
bool is_floating(DType dtype);

using Shape = std::vector<int64_t>;
std::string shape_to_string(const Shape& shape);  // "[2, 3]"
int64_t shape_numel(const Shape& shape);          // throws Error on negative dims or overflow

class Tensor {
 public:
  Tensor() = default;
  // A new zero-filled tensor owning its buffer.
  Tensor(DType dtype, Shape shape);
  // A view of `data`, kept alive by `owner`. `writable` says whether mutable_data() is allowed.
  static Tensor view(DType dtype, Shape shape, const void* data, std::shared_ptr<const void> owner,
                     bool writable = false);
  // Convenience constructors for small tensors (copies).
  static Tensor from_f32(Shape shape, const std::vector<float>& values);
  static Tensor from_i64(Shape shape, const std::vector<int64_t>& values);

  // False for a default-constructed Tensor ("argument not given").
  bool defined() const { return data_ != nullptr; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const;  // negative i counts from the end; throws Error when out of range
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  bool writable() const { return writable_; }

  const void* raw_data() const { return data_; }
  void* raw_mutable_data();  // throws Error for read-only views

  template <class T>
  const T* data() const { return static_cast<const T*>(data_); }
  template <class T>
  T* mutable_data() { return static_cast<T*>(raw_mutable_data()); }

  // Same data, new shape with the same element count (negative entries are not inferred).
  Tensor reshape(Shape shape) const;
  // Float tensors (F32/F16/BF16/F64) as F32: shares the data when already F32, else converts into a new buffer.
  Tensor to_f32() const;
  // Converts F32 to `dtype` (F32, F16 or BF16) rounding to nearest even; shares the data when already that dtype.
  Tensor cast_float(DType dtype) const;
  // Integer tensors (I64/I32/I16/I8/U8/Bool) widened to int64 values; throws Error for floating tensors.
  std::vector<int64_t> to_i64_vector() const;
  // Float tensors as a vector of float values.
  std::vector<float> to_f32_vector() const;

 private:
  DType dtype_ = DType::F32;
  Shape shape_;
  std::shared_ptr<const void> storage_;
  const void* data_ = nullptr;
  bool writable_ = false;
};

// IEEE half and bfloat16 conversions (round to nearest even on narrowing).
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
float bf16_to_f32(uint16_t b);
uint16_t f32_to_bf16(float f);

}  // namespace rembert
