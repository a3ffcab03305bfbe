// A Linear layer whose weight is packed once, at load, into the layout oneDNN's matmul prefers for the CPU at hand
// (AVX2, AVX-512, AVX512-BF16, VNNI or AMX: oneDNN decides at run time). Kernels know nothing about RemBERT.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "rembert/tensor.h"

namespace rembert::kernels {

// What the products are computed in. Activations come in and go out as float32 whatever the compute type.
//  - Float32: float32 weights and activations.
//  - BFloat16: bfloat16 weights, activations rounded to bfloat16 per call, float32 accumulation and output.
//  - Int8: weights symmetric per output channel (s8, scale = max|w| / 127); activations quantized per call, per row
//    (token), asymmetric u8 (scale = (max - min) / 255, zero point; 7 bits, / 127, where the kernel lacks VNNI/AMX
//    and would saturate), s32 accumulation; scales, zero-point correction, bias and activation applied in one
//    float32 epilogue.
enum class ComputeType { Float32, BFloat16, Int8 };
const char* compute_type_name(ComputeType type);  // "float32", "bfloat16", "int8"

class PackedLinear {
 public:
  // weight: [n, k] row-major (a PyTorch Linear's [out, in]) in F32, F16 or BF16; bias: [n] float32, or null.
  // gelu: apply erf GELU after the bias (fused into the product where oneDNN can). Where the CPU or oneDNN has no
  // bfloat16 matmul, BFloat16 falls back to float32 arithmetic on the bfloat16-rounded weights (widened once here);
  // compute() and fallback_reason() say so. The inputs are copied: they need not outlive this object.
  PackedLinear(const void* weight, DType weight_dtype, int64_t n, int64_t k, const float* bias, ComputeType requested,
               bool gelu = false);
  // Int8 from a weight that is quantized already (quantize_per_channel's q and scale, e.g. as `rembert convert`
  // stores them): packed as it is, never requantized nor widened, so the products equal those of the constructor
  // above on the float weight. Throws Error when a scale is not finite and positive or a value is -128 (outside the
  // symmetric range).
  PackedLinear(const int8_t* weight, const float* scale, int64_t n, int64_t k, const float* bias, bool gelu = false);
  ~PackedLinear();
  PackedLinear(const PackedLinear&) = delete;
  PackedLinear& operator=(const PackedLinear&) = delete;

  // y[m, n] = act(x[m, k] · weightᵀ + bias). Safe to call from many threads at once.
  void forward(const float* x, int64_t m, float* y) const;

  int64_t out_features() const;
  int64_t in_features() const;
  bool fused_gelu() const;
  ComputeType requested() const;
  ComputeType compute() const;        // differs from requested() when the CPU lacks the requested path
  const std::string& fallback_reason() const;  // empty unless compute() != requested()
  // The implementation oneDNN chooses for products of `m` rows, e.g. "brg:avx512_core_bf16".
  std::string implementation(int64_t m = 128) const;
  size_t packed_bytes() const;  // bytes the packed weight (and its int8 scales) take

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// The Int8 path's weight quantization: for each output channel j of a row-major [n, k] weight (F32, F16 or BF16),
// scale[j] = max|w[j, :]| / 127 (1 for an all-zero channel) and q[j, i] = round-to-even(w[j, i] / scale[j]).
void quantize_per_channel(const void* weight, DType weight_dtype, int64_t n, int64_t k, int8_t* q, float* scale);

// The x86 CPU flags (as /proc/cpuinfo names them) that matter to the compute paths, those this CPU has.
std::vector<std::string> cpu_flags();
bool cpu_has_flag(const std::string& flag);
// oneDNN's version, e.g. "2.6.3".
std::string onednn_version();

}  // namespace rembert::kernels
