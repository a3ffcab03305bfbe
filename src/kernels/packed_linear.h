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
//    (token), asymmetric u8 (scale = (max - min) / 255, zero point; see Int8Activations for CPUs without VNNI),
//    s32 accumulation; scales, zero-point correction, bias and activation applied in one float32 epilogue.
enum class ComputeType { Float32, BFloat16, Int8 };
const char* compute_type_name(ComputeType type);  // "float32", "bfloat16", "int8"

// How the Int8 path hands its u8 activation codes to oneDNN's product.
//  - U8: as they are, where oneDNN multiplies and adds u8 x s8 exactly (VNNI's vpdpbusd, AMX).
//  - U8AsTwo7BitHalves: oneDNN's x86 kernels without VNNI add pairs of u8 x s8 products in saturating 16-bit sums
//    (vpmaddubsw; 255 * 127 * 2 > 32767), so each code q goes as hi = q >> 1 (0..127) and lo = q & 1, one product of
//    2m rows, joined as 2 hi + lo: the same s32 sums as U8, for twice the product work. (7-bit codes alone, 0..127,
//    would avoid the saturation too, at twice the quantization step: the fixture outputs then miss the bounds.)
enum class Int8Activations { U8, U8AsTwo7BitHalves };
const char* int8_activations_name(Int8Activations a);  // "u8", "u8 as two 7-bit halves"
// The choice for this process: U8 where the ISA oneDNN runs (ONEDNN_MAX_CPU_ISA honoured) has VNNI (avx512_vnni,
// avx_vnni; AMX implies it), else U8AsTwo7BitHalves.
Int8Activations int8_activations();

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
  // The implementation oneDNN chooses for products of `m` rows (2m where int8 codes go as halves), e.g.
  // "brg:avx512_core_bf16".
  std::string implementation(int64_t m = 128) const;
  size_t packed_bytes() const;  // bytes the packed weight (and its int8 scales) take
  Int8Activations int8_activations() const;  // Int8: how the activations reach the product (U8 otherwise)

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
