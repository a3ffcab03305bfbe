#include "rembert/tensor.h"

#include <cstring>
#include <limits>

#include "core/zeroed_buffer.h"
#include "rembert/error.h"

namespace rembert {

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::F64:
    case DType::I64: return 8;
    case DType::F32:
    case DType::I32: return 4;
    case DType::F16:
    case DType::BF16:
    case DType::I16: return 2;
    case DType::I8:
    case DType::U8:
    case DType::Bool: return 1;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::F64: return "F64";
    case DType::I64: return "I64";
    case DType::I32: return "I32";
    case DType::I16: return "I16";
    case DType::I8: return "I8";
    case DType::U8: return "U8";
    case DType::Bool: return "BOOL";
  }
  return "?";
}

DType dtype_from_name(const std::string& name) {
  for (DType d : {DType::F32, DType::F16, DType::BF16, DType::F64, DType::I64, DType::I32, DType::I16, DType::I8,
                  DType::U8, DType::Bool}) {
    if (name == dtype_name(d)) return d;
  }
  throw Error("unsupported tensor dtype \"" + name + "\"");
}

bool is_floating(DType dtype) {
  return dtype == DType::F32 || dtype == DType::F16 || dtype == DType::BF16 || dtype == DType::F64;
}

std::string shape_to_string(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw Error("negative dimension in shape " + shape_to_string(shape));
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) {
      throw Error("shape " + shape_to_string(shape) + " has too many elements");
    }
    n *= d;
  }
  return n;
}

Tensor::Tensor(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)), writable_(true) {
  size_t bytes = static_cast<size_t>(shape_numel(shape_)) * dtype_size(dtype_);
  // 64 bytes more so that SIMD kernels may read a little past the end; zero-filled.
  std::shared_ptr<void> buffer = zeroed_buffer(bytes + 64);
  data_ = buffer.get();
  storage_ = std::move(buffer);
}

Tensor Tensor::view(DType dtype, Shape shape, const void* data, std::shared_ptr<const void> owner, bool writable) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  shape_numel(t.shape_);  // validates
  t.data_ = data;
  t.storage_ = std::move(owner);
  t.writable_ = writable;
  return t;
}

Tensor Tensor::from_f32(Shape shape, const std::vector<float>& values) {
  Tensor t(DType::F32, std::move(shape));
  if (static_cast<size_t>(t.numel()) != values.size()) {
    throw Error("Tensor::from_f32: " + std::to_string(values.size()) + " values for shape " +
                shape_to_string(t.shape()));
  }
  if (!values.empty()) std::memcpy(t.raw_mutable_data(), values.data(), values.size() * sizeof(float));
  return t;
}

Tensor Tensor::from_i64(Shape shape, const std::vector<int64_t>& values) {
  Tensor t(DType::I64, std::move(shape));
  if (static_cast<size_t>(t.numel()) != values.size()) {
    throw Error("Tensor::from_i64: " + std::to_string(values.size()) + " values for shape " +
                shape_to_string(t.shape()));
  }
  if (!values.empty()) std::memcpy(t.raw_mutable_data(), values.data(), values.size() * sizeof(int64_t));
  return t;
}

int64_t Tensor::dim(int i) const {
  int n = ndim();
  int j = i < 0 ? i + n : i;
  if (j < 0 || j >= n) {
    throw Error("dimension " + std::to_string(i) + " out of range for shape " + shape_to_string(shape_));
  }
  return shape_[static_cast<size_t>(j)];
}

void* Tensor::raw_mutable_data() {
  if (!writable_) throw Error("tensor is a read-only view");
  return const_cast<void*>(data_);
}

Tensor Tensor::reshape(Shape shape) const {
  if (shape_numel(shape) != numel()) {
    throw Error("cannot reshape " + shape_to_string(shape_) + " to " + shape_to_string(shape));
  }
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::to_f32() const {
  if (dtype_ == DType::F32) return *this;
  if (!is_floating(dtype_)) throw Error(std::string("expected a floating tensor, got ") + dtype_name(dtype_));
  Tensor out(DType::F32, shape_);
  float* dst = out.mutable_data<float>();
  const int64_t n = numel();
  switch (dtype_) {
    case DType::F16: {
      const uint16_t* src = data<uint16_t>();
      for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(src[i]);
      break;
    }
    case DType::BF16: {
      const uint16_t* src = data<uint16_t>();
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
      break;
    }
    case DType::F64: {
      const double* src = data<double>();
      for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(src[i]);
      break;
    }
    default: break;
  }
  return out;
}

Tensor Tensor::cast_float(DType dtype) const {
  if (dtype == dtype_) return *this;
  if (dtype == DType::F32) return to_f32();
  if (dtype != DType::F16 && dtype != DType::BF16) {
    throw Error(std::string("cast_float: unsupported target dtype ") + dtype_name(dtype));
  }
  Tensor src = to_f32();
  Tensor out(dtype, shape_);
  const float* s = src.data<float>();
  uint16_t* d = out.mutable_data<uint16_t>();
  const int64_t n = numel();
  for (int64_t i = 0; i < n; ++i) d[i] = dtype == DType::F16 ? f32_to_f16(s[i]) : f32_to_bf16(s[i]);
  return out;
}

std::vector<int64_t> Tensor::to_i64_vector() const {
  const int64_t n = numel();
  std::vector<int64_t> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    switch (dtype_) {
      case DType::I64: out[i] = data<int64_t>()[i]; break;
      case DType::I32: out[i] = data<int32_t>()[i]; break;
      case DType::I16: out[i] = data<int16_t>()[i]; break;
      case DType::I8: out[i] = data<int8_t>()[i]; break;
      case DType::U8:
      case DType::Bool: out[i] = data<uint8_t>()[i]; break;
      default: throw Error(std::string("expected an integer tensor, got ") + dtype_name(dtype_));
    }
  }
  return out;
}

std::vector<float> Tensor::to_f32_vector() const {
  Tensor f = to_f32();
  return std::vector<float>(f.data<float>(), f.data<float>() + numel());
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400u) == 0);
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (mant & 0x3ffu) << 13;
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | mant << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t f32_to_f16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) {  // inf or nan
    return static_cast<uint16_t>(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0u));
  }
  if (absx >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to inf
  if (absx < 0x38800000u) {  // subnormal or zero in half
    if (absx < 0x33000000u) return static_cast<uint16_t>(sign);
    uint32_t e = absx >> 23;
    uint32_t m = (absx & 0x7fffffu) | 0x800000u;
    // value = m * 2^(e-150) and the half subnormal unit is 2^-24, so the half mantissa is m >> (126 - e).
    uint32_t shift = 126 - e;
    uint32_t half_m = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1);
    uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (half_m & 1u))) ++half_m;
    return static_cast<uint16_t>(sign | half_m);
  }
  uint32_t h = ((absx - 0x38000000u) >> 13);
  uint32_t rem = absx & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

float bf16_to_f32(uint16_t b) {
  uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t f32_to_bf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // quiet nan
  uint32_t rounding = 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>((x + rounding) >> 16);
}

}  // namespace rembert
