// The building blocks every module uses in train mode: Linear, LayerNorm with its statistics, dropout.
#include <algorithm>

#include "kernels/backward.h"
#include "kernels/gemm.h"
#include "kernels/ops.h"
#include "train/modules.h"

namespace rembert::train {

void DropoutStream::apply(float* x, int64_t n, float p, std::vector<uint8_t>& keep) {
  if (!on || p <= 0.0f) {
    keep.clear();
    return;
  }
  keep.resize(static_cast<size_t>(n));
  kernels::dropout_forward(x, n, p, seed, offset, keep.data());
  offset += static_cast<uint64_t>(n);
}

void dropout_backward(const std::vector<uint8_t>& keep, float p, const float* dy, float* dx, int64_t n) {
  if (keep.empty()) {
    if (dx != dy) std::copy(dy, dy + n, dx);
    return;
  }
  kernels::dropout_backward(dy, keep.data(), p, dx, n);
}

void add_residual(float* y, const float* x, int64_t n) {
  constexpr int64_t kBlock = 16384;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
#pragma omp parallel for if (n > 65536) schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t i0 = b * kBlock;
    kernels::add_inplace(y + i0, x + i0, std::min(kBlock, n - i0));
  }
}

namespace {

thread_local bool bf16_products = false;

// c = alpha · op(a) · op(b) + beta · c in the precision of this thread's step.
void product(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
             int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (bf16_products) {
    kernels::gemm_bf16(transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  } else {
    kernels::sgemm_ab(transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
}

}  // namespace

BFloat16Products::BFloat16Products(bool on) : previous_(bf16_products) { bf16_products = on; }
BFloat16Products::~BFloat16Products() { bf16_products = previous_; }

void linear_forward(const model::Linear& l, const float* x, int64_t rows, float* y) {
  const int64_t out = l.weight.dim(0), in = l.weight.dim(1);
  product(false, true, rows, out, in, 1.0f, x, in, l.weight.data<float>(), in, 0.0f, y, out);
  const float* b = l.bias.data<float>();
#pragma omp parallel for if (rows * out > 65536) schedule(static)
  for (int64_t r = 0; r < rows; ++r) kernels::add_inplace(y + r * out, b, out);
}

void linear_backward(const model::Linear& l, model::Linear& grad, const float* x, const float* dy, int64_t rows,
                     float* dx, bool accumulate_dx) {
  const int64_t out = l.weight.dim(0), in = l.weight.dim(1);
  // dW[out, in] += dyᵀ[out, rows] · x[rows, in]
  product(true, false, out, in, rows, 1.0f, dy, out, x, in, 1.0f, grad.weight.mutable_data<float>(), in);
  kernels::add_column_sums(dy, rows, out, grad.bias.mutable_data<float>());
  // dx[rows, in] = dy[rows, out] · W[out, in]
  if (dx) product(false, false, rows, in, out, 1.0f, dy, out, l.weight.data<float>(), in, accumulate_dx ? 1.0f : 0.0f, dx, in);
}

float* layer_norm_input(LayerNormSaved& saved, int64_t rows, int64_t width) {
  saved.input.resize(static_cast<size_t>(rows * width));
  return saved.input.data();
}

void layer_norm_forward(const model::LayerNorm& ln, const float* x, int64_t rows, int64_t width, double eps,
                        LayerNormSaved& saved, float* y) {
  if (x != saved.input.data() || saved.input.size() != static_cast<size_t>(rows * width)) {
    saved.input.assign(x, x + rows * width);
  }
  saved.mean.resize(static_cast<size_t>(rows));
  saved.rstd.resize(static_cast<size_t>(rows));
  kernels::layer_norm(saved.input.data(), rows, width, ln.weight.data<float>(), ln.bias.data<float>(),
                              static_cast<float>(eps), y, saved.mean.data(), saved.rstd.data());
}

void layer_norm_backward(const model::LayerNorm& ln, model::LayerNorm& grad, const LayerNormSaved& saved,
                         const float* dy, int64_t rows, int64_t width, float* dx) {
  kernels::layer_norm_backward(dy, saved.input.data(), saved.mean.data(), saved.rstd.data(), ln.weight.data<float>(),
                               rows, width, dx, grad.weight.mutable_data<float>(), grad.bias.mutable_data<float>());
}

}  // namespace rembert::train
