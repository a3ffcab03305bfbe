// Small helpers the forward pass and the heads share: buffers, the Linear/LayerNorm calls, input checks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/scratch.h"
#include "kernels/ops.h"
#include "model/params.h"
#include "rembert/error.h"
#include "rembert/tensor.h"

namespace rembert::model {

inline Tensor new_f32(Shape shape) { return Tensor(DType::F32, std::move(shape)); }
// An intermediate result every element of which is written before it is read: from the per-thread pool, not zeroed.
inline Tensor scratch_f32(Shape shape) { return scratch_tensor(DType::F32, std::move(shape)); }

// y[rows, out] = x[rows, in] · weightᵀ + bias
inline void apply_linear(const Linear& l, const float* x, int64_t rows, float* y) { l.packed->forward(x, rows, y); }

// y = act(x · weightᵀ + bias); the activation is fused into the product where the packed Linear holds it.
inline void apply_linear_act(const Linear& l, kernels::Activation act, const float* x, int64_t rows, float* y) {
  l.packed->forward(x, rows, y);
  if (!l.packed->fused_gelu()) kernels::apply_activation(act, y, rows * l.out_features());
}

inline void apply_layer_norm(const LayerNorm& ln, float* x, int64_t rows, int64_t width, double eps) {
  kernels::layer_norm(x, rows, width, ln.weight.data<float>(), ln.bias.data<float>(), static_cast<float>(eps), x);
}

// x = LayerNorm(x + residual)
inline void apply_residual_layer_norm(const LayerNorm& ln, float* x, const float* residual, int64_t rows, int64_t width,
                               double eps) {
  kernels::add_layer_norm(x, residual, rows, width, ln.weight.data<float>(), ln.bias.data<float>(),
                          static_cast<float>(eps));
}

inline void expect_shape(const Tensor& t, const Shape& shape, const char* name) {
  if (t.shape() != shape) {
    throw Error(std::string(name) + ": expected shape " + shape_to_string(shape) + ", got " +
                shape_to_string(t.shape()));
  }
}

// An integer input checked against [0, limit).
inline std::vector<int64_t> index_values(const Tensor& t, const char* name, int64_t limit, const char* limit_name) {
  if (is_floating(t.dtype())) throw Error(std::string(name) + ": expected an integer tensor, got " +
                                          dtype_name(t.dtype()));
  std::vector<int64_t> values = t.to_i64_vector();
  for (int64_t v : values) {
    if (v < 0 || v >= limit) {
      throw Error(std::string(name) + ": value " + std::to_string(v) + " is out of range [0, " +
                  std::to_string(limit) + ") (" + limit_name + ")");
    }
  }
  return values;
}

// Mask values as floats, whatever the input dtype (int, bool or float masks are all accepted, as in PyTorch).
inline std::vector<float> mask_values(const Tensor& t) {
  if (is_floating(t.dtype())) return t.to_f32_vector();
  std::vector<int64_t> ints = t.to_i64_vector();
  return std::vector<float>(ints.begin(), ints.end());
}

// Multiple choice flattens [B, C, ...] inputs to [B*C, ...] (SPEC §2.9).
inline Tensor flatten_choices(const Tensor& t) {
  if (!t.defined()) return t;
  if (t.ndim() < 2) throw Error("multiple choice inputs need a choices dimension, got " + shape_to_string(t.shape()));
  Shape s = t.shape();
  Shape flat = {s[0] * s[1]};
  flat.insert(flat.end(), s.begin() + 2, s.end());
  return t.reshape(flat);
}

}  // namespace rembert::model
