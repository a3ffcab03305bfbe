#include "kernels/packed_linear.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <utility>

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>

#include <omp.h>
#include <oneapi/dnnl/dnnl.hpp>

#include "rembert/error.h"
#include "kernels/onednn.h"
#include "kernels/per_isa.h"
#include "kernels/scalar_math.h"
#include "kernels/threads.h"

namespace rembert::kernels {

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;
using dims = dnnl::memory::dims;

// The rows the weights are packed for at load. oneDNN's blocked weight layout does not depend on M (checked for
// every other M: a primitive whose layout differs is created for the packed layout instead).
constexpr int64_t kPackRows = 128;

constexpr size_t kMaxCachedPrimitives = 256;  // per PackedLinear

// A weight as float32 values: the weight itself when it is F32, else widened into `owned`.
struct Float32Weight {
  std::vector<float> owned;
  const float* data = nullptr;
};
Float32Weight as_float32(const void* w, DType dtype, int64_t count) {
  Float32Weight out;
  if (dtype == DType::F32) {
    out.data = static_cast<const float*>(w);
    return out;
  }
  out.owned.resize(static_cast<size_t>(count));
  float* dst = out.owned.data();
  const auto* w16 = static_cast<const uint16_t*>(w);
  const bool bf16 = dtype == DType::BF16;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < count; ++i) dst[i] = bf16 ? bf16_to_f32(w16[i]) : f16_to_f32(w16[i]);
  out.data = dst;
  return out;
}

// A buffer for packed weights. Large ones are 2 MiB-aligned and asked to be transparent huge pages: a tenth of the
// page faults at load (costly in a VM) and fewer TLB misses when the products stream through the weights.
void* allocate_weights(size_t bytes) {
  constexpr size_t kHuge = size_t{2} << 20;
  const size_t align = bytes >= kHuge / 2 ? kHuge : 64;
  const size_t rounded = (std::max<size_t>(bytes, 1) + align - 1) / align * align;
  void* p = std::aligned_alloc(align, rounded);
  if (!p) throw Error("linear: cannot allocate " + std::to_string(bytes) + " bytes for packed weights");
  if (align == kHuge) madvise(p, rounded, MADV_HUGEPAGE);  // a hint; ignored where THP is off
  return p;
}

// Per-thread scratch reused across calls (a forward pass runs its products one after the other on one thread).
struct Scratch {
  std::vector<uint8_t> onednn;
  std::vector<uint16_t> bf16;
  std::vector<uint8_t> u8;
  std::vector<int32_t> s32;
  std::vector<float> row_scale;
  std::vector<int32_t> row_zero;
};
Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// float32 -> bfloat16, rounding to nearest even (NaN stays NaN), inline so the per-call loop vectorizes.
inline uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

// Round to nearest even for |v| < 2^22, without a libm call (baseline x86-64 has no roundps), so loops vectorize.
inline float round_even(float v) {
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23
  return (v + kMagic) - kMagic;
}

// The per-call loops around the products (activation rounding and quantization, the int8 epilogue) are
// REMBERT_PER_ISA (kernels/per_isa.h).

// erf GELU, 0.5 x (1 + erf(x / sqrt 2)), erf as scalar_math.h's erf_rational. For the int8 epilogue; float32 and
// bfloat16 fuse oneDNN's gelu_erf into the product instead.
REMBERT_PER_ISA void gelu_erf(float* x, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    x[i] = 0.5f * v * (1.0f + erf_rational(v * 0.70710678118654752f));
  }
}

REMBERT_PER_ISA void round_to_bf16(const float* x, int64_t n, uint16_t* out) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = to_bf16(x[i]);
}

// One row (token) as u8 with a zero point: x ~ scale * (q - zero), the range [min(x, 0), max(x, 0)] over 256
// levels.
REMBERT_PER_ISA void quantize_row(const float* row, int64_t k, uint8_t* q, float* scale_out, int32_t* zero_out) {
  constexpr float qmax = 255.0f;
  float lo = 0.0f, hi = 0.0f;  // the range includes 0, so 0 is exact
#pragma omp simd reduction(min : lo) reduction(max : hi)
  for (int64_t i = 0; i < k; ++i) {
    lo = row[i] < lo ? row[i] : lo;
    hi = row[i] > hi ? row[i] : hi;
  }
  const float scale = hi > lo ? (hi - lo) / qmax : 1.0f;
  const float inv = 1.0f / scale;
  const float zero = clamp_value(round_even(-lo * inv), 0.0f, qmax);
#pragma omp simd
  for (int64_t i = 0; i < k; ++i) {
    q[i] = static_cast<uint8_t>(static_cast<int32_t>(clamp_value(round_even(row[i] * inv) + zero, 0.0f, qmax)));
  }
  *scale_out = scale;
  *zero_out = static_cast<int32_t>(zero);
}

// u8 codes as two halves whose u8 x s8 pairs fit a saturating 16-bit sum (127 * 127 * 2 < 2^15): q = 2 hi + lo,
// hi = q >> 1 (in place) and lo = q & 1.
REMBERT_PER_ISA void split_codes(uint8_t* q, int64_t count, uint8_t* lo) {
#pragma omp simd
  for (int64_t i = 0; i < count; ++i) {
    lo[i] = static_cast<uint8_t>(q[i] & 1u);
    q[i] = static_cast<uint8_t>(q[i] >> 1);
  }
}

// The halves' sums back into the sums of the codes: hi = 2 hi + lo.
REMBERT_PER_ISA void join_halves(int32_t* hi, const int32_t* lo, int64_t count) {
#pragma omp simd
  for (int64_t i = 0; i < count; ++i) hi[i] = 2 * hi[i] + lo[i];
}

// out = row_scale * col_scale * (acc - row_zero * col_sum) + bias, one row.
REMBERT_PER_ISA void dequantize_row(const int32_t* acc, int64_t n, float row_scale, int32_t row_zero,
                                    const float* col_scale, const int32_t* col_sum, const float* bias, float* out) {
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) {
    out[j] = row_scale * col_scale[j] * static_cast<float>(acc[j] - row_zero * col_sum[j]) + bias[j];
  }
}

template <class T>
T* grown(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

}  // namespace

const char* compute_type_name(ComputeType type) {
  switch (type) {
    case ComputeType::Float32: return "float32";
    case ComputeType::BFloat16: return "bfloat16";
    case ComputeType::Int8: return "int8";
  }
  return "?";
}

const char* int8_activations_name(Int8Activations a) {
  switch (a) {
    case Int8Activations::U8: return "u8";
    case Int8Activations::U8AsTwo7BitHalves: return "u8 as two 7-bit halves";
  }
  return "?";
}

Int8Activations int8_activations() {
  // oneDNN's ISA values are bit sets: the VNNI ones (avx512_core_vnni and up, avx2_vnni) carry a bit their
  // VNNI-less base lacks.
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const unsigned vnni_bits = (dnnl_cpu_isa_avx512_core_vnni & ~unsigned{dnnl_cpu_isa_avx512_core}) |
                             (dnnl_cpu_isa_avx2_vnni & ~unsigned{dnnl_cpu_isa_avx2});
  return (isa & vnni_bits) != 0 ? Int8Activations::U8 : Int8Activations::U8AsTwo7BitHalves;
}

struct PackedLinear::State {
  int64_t n = 0, k = 0;
  bool gelu = false;
  bool gelu_in_primitive = false;
  ComputeType requested = ComputeType::Float32, compute = ComputeType::Float32;
  std::string fallback_reason;
  dt src_dt = dt::f32, wei_dt = dt::f32, dst_dt = dt::f32;
  dnnl::memory::desc packed_md;
  std::unique_ptr<void, void (*)(void*)> packed_buffer{nullptr, std::free};
  dnnl::memory packed;             // a view of packed_buffer
  std::vector<float> bias;         // [n], zeros when none was given
  std::vector<float> col_scale;    // int8: per output channel
  std::vector<int32_t> col_sum;    // int8: sum over k of the quantized weights of each output channel
  // int8: whether the kernel's u8 x s8 sums saturate, so that forward() feeds it each code as two 7-bit halves.
  Int8Activations int8_activations = Int8Activations::U8;

  struct Entry {
    dnnl::matmul prim;
    size_t scratch_bytes = 0;
  };
  mutable std::mutex mu;
  mutable std::map<std::pair<int64_t, int>, std::shared_ptr<const Entry>> cache;  // (M, threads) -> primitive

  dnnl::primitive_attr attr(bool with_gelu) const {
    dnnl::primitive_attr a;
    a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (with_gelu) {
      dnnl::post_ops po;
      po.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_erf, 0.0f, 0.0f);
      a.set_post_ops(po);
    }
    return a;
  }

  bool primitive_bias() const { return compute != ComputeType::Int8; }

  dnnl::matmul::primitive_desc make_pd(int64_t m, const dnnl::memory::desc& wei_md) const {
    dnnl::memory::desc src({m, k}, src_dt, tag::ab), dst({m, n}, dst_dt, tag::ab);
    if (primitive_bias()) {
      dnnl::memory::desc bias_md({1, n}, dt::f32, tag::ab);
      return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, wei_md, bias_md, dst), attr(gelu_in_primitive),
                                          cpu_engine());
    }
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, wei_md, dst), attr(false), cpu_engine());
  }

  std::shared_ptr<const Entry> entry(int64_t m) const {
    const auto key = std::make_pair(m, omp_get_max_threads());
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
    dnnl::matmul::primitive_desc pd = make_pd(m, dnnl::memory::desc({k, n}, wei_dt, tag::any));
    if (pd.weights_desc() != packed_md) pd = make_pd(m, packed_md);
    auto e = std::make_shared<Entry>();
    e->prim = dnnl::matmul(pd);
    e->scratch_bytes = pd.scratchpad_desc().get_size();
    // A server sees many row counts: bound the cache (oneDNN keeps its own cache of the generated kernels).
    if (cache.size() >= kMaxCachedPrimitives) cache.clear();
    cache.emplace(key, e);
    return e;
  }

  // Packs a row-major [n, k] weight ([k, n] column-major to oneDNN) of type `type`.
  // Returns the implementation oneDNN chose.
  std::string pack(const void* data, dt type) {
    dnnl::matmul::primitive_desc pd = make_pd(kPackRows, dnnl::memory::desc({k, n}, type, tag::any));
    packed_md = pd.weights_desc();
    packed_buffer.reset(allocate_weights(packed_md.get_size()));
    packed = dnnl::memory(packed_md, cpu_engine(), packed_buffer.get());
    dnnl::memory src(dnnl::memory::desc({k, n}, type, tag::ba), cpu_engine(), const_cast<void*>(data));
    dnnl::stream stream(cpu_engine());
    dnnl::reorder(src, packed).execute(stream, src, packed);
    stream.wait();
    return pd.impl_info_str();
  }

  // Int8: packs a quantized [n, k] weight whose col_scale is set, with its per-channel sums for the zero-point
  // correction.
  void pack_int8(const int8_t* q) {
    src_dt = dt::u8;
    wei_dt = dt::s8;
    dst_dt = dt::s32;
    col_sum.resize(static_cast<size_t>(n));
#pragma omp parallel for schedule(static)
    for (int64_t j = 0; j < n; ++j) {
      int32_t sum = 0;
      for (int64_t i = 0; i < k; ++i) sum += q[j * k + i];
      col_sum[static_cast<size_t>(j)] = sum;
    }
    pack(q, dt::s8);
    int8_activations = kernels::int8_activations();
  }

  // The members every constructor sets; throws Error for a negative shape.
  void init(int64_t rows, int64_t cols, const float* bias_values, ComputeType type, bool with_gelu) {
    if (rows < 0 || cols < 0) {
      throw Error("linear: invalid shape [" + std::to_string(rows) + ", " + std::to_string(cols) + "]");
    }
    n = rows;
    k = cols;
    gelu = with_gelu;
    requested = compute = type;
    bias.assign(static_cast<size_t>(n), 0.0f);
    if (bias_values) std::copy_n(bias_values, n, bias.begin());
  }
};

void quantize_per_channel(const void* weight, DType weight_dtype, int64_t n, int64_t k, int8_t* q, float* scale) {
  const Float32Weight w32 = as_float32(weight, weight_dtype, n * k);
#pragma omp parallel for schedule(static)
  for (int64_t j = 0; j < n; ++j) {
    const float* row = w32.data + j * k;
    float amax = 0.0f;
    for (int64_t i = 0; i < k; ++i) amax = std::max(amax, std::fabs(row[i]));
    const float s = amax > 0.0f ? amax / 127.0f : 1.0f;
    for (int64_t i = 0; i < k; ++i) {
      q[j * k + i] = static_cast<int8_t>(std::clamp(std::nearbyint(row[i] / s), -127.0f, 127.0f));
    }
    scale[j] = s;
  }
}

PackedLinear::PackedLinear(const void* weight, DType weight_dtype, int64_t n, int64_t k, const float* bias,
                           ComputeType requested, bool gelu)
    : s_(std::make_unique<State>()) {
  State& s = *s_;
  if (weight_dtype != DType::F32 && weight_dtype != DType::F16 && weight_dtype != DType::BF16) {
    throw Error(std::string("linear: unsupported weight dtype ") + dtype_name(weight_dtype) +
                " (expected F32, F16 or BF16)");
  }
  s.init(n, k, bias, requested, gelu);
  if (n == 0 || k == 0) return;  // y = act(bias): nothing to pack

  try {
    if (requested == ComputeType::BFloat16) {
      s.src_dt = s.wei_dt = dt::bf16;
      s.gelu_in_primitive = gelu;
      bool available = true;
      try {
        dnnl::matmul::primitive_desc probe = s.make_pd(kPackRows, dnnl::memory::desc({k, n}, dt::bf16, tag::any));
        const std::string impl = probe.impl_info_str();
        if (is_reference_implementation(impl)) {
          available = false;
          s.fallback_reason = "oneDNN has only its reference bfloat16 matmul (" + impl + ") on this CPU";
        }
      } catch (const dnnl::error&) {
        available = false;
        s.fallback_reason = "oneDNN cannot create a bfloat16 matmul on this CPU (no avx512_bf16 / amx_bf16 "
                            "enabled)";
      }
      if (available) {
        std::vector<uint16_t> w16;
        const void* data = weight;
        if (weight_dtype != DType::BF16) {
          const Float32Weight w32 = as_float32(weight, weight_dtype, n * k);
          w16.resize(static_cast<size_t>(n * k));
          uint16_t* dst = w16.data();
          const float* src = w32.data;
#pragma omp parallel for schedule(static)
          for (int64_t i = 0; i < n * k; ++i) dst[i] = f32_to_bf16(src[i]);
          data = dst;
        }
        s.pack(data, dt::bf16);
        return;
      }
      // Stored bfloat16, computed float32: the weights as bfloat16 rounds them, widened once.
      s.compute = ComputeType::Float32;
      s.src_dt = s.wei_dt = dt::f32;
      Float32Weight w32 = as_float32(weight, weight_dtype, n * k);
      if (weight_dtype != DType::BF16) {
        w32.owned.resize(static_cast<size_t>(n * k));
        float* dst = w32.owned.data();
        const float* src = w32.data;
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n * k; ++i) dst[i] = bf16_to_f32(f32_to_bf16(src[i]));
        w32.data = dst;
      }
      s.pack(w32.data, dt::f32);
      return;
    }
    if (requested == ComputeType::Int8) {
      std::vector<int8_t> q(static_cast<size_t>(n * k));
      s.col_scale.resize(static_cast<size_t>(n));
      quantize_per_channel(weight, weight_dtype, n, k, q.data(), s.col_scale.data());
      s.pack_int8(q.data());
      return;
    }
    s.gelu_in_primitive = gelu;
    if (weight_dtype == DType::F32) {
      s.pack(weight, dt::f32);
    } else {
      s.pack(as_float32(weight, weight_dtype, n * k).data, dt::f32);
    }
  } catch (const dnnl::error& e) {
    throw Error(std::string("linear: oneDNN could not pack a [") + std::to_string(n) + ", " + std::to_string(k) +
                "] weight for " + compute_type_name(requested) + ": " + e.what());
  }
}

PackedLinear::PackedLinear(const int8_t* weight, const float* scale, int64_t n, int64_t k, const float* bias,
                           bool gelu)
    : s_(std::make_unique<State>()) {
  State& s = *s_;
  s.init(n, k, bias, ComputeType::Int8, gelu);
  for (int64_t j = 0; j < n; ++j) {
    if (!(std::isfinite(scale[j]) && scale[j] > 0.0f)) {
      throw Error("linear: the scale of output channel " + std::to_string(j) + " is " + std::to_string(scale[j]) +
                  " (must be finite and positive)");
    }
  }
  int64_t first_bad = n * k;
#pragma omp parallel for reduction(min : first_bad) schedule(static)
  for (int64_t i = 0; i < n * k; ++i) {
    if (weight[i] == -128 && i < first_bad) first_bad = i;
  }
  if (first_bad < n * k) {
    throw Error("linear: weight value -128 at [" + std::to_string(first_bad / k) + ", " +
                std::to_string(first_bad % k) + "] is outside the symmetric int8 range [-127, 127]");
  }
  s.col_scale.assign(scale, scale + n);
  if (n == 0 || k == 0) return;
  try {
    s.pack_int8(weight);
  } catch (const dnnl::error& e) {
    throw Error("linear: oneDNN could not pack a [" + std::to_string(n) + ", " + std::to_string(k) +
                "] int8 weight: " + e.what());
  }
}

PackedLinear::~PackedLinear() = default;

int64_t PackedLinear::out_features() const { return s_->n; }
int64_t PackedLinear::in_features() const { return s_->k; }
bool PackedLinear::fused_gelu() const { return s_->gelu; }
ComputeType PackedLinear::requested() const { return s_->requested; }
ComputeType PackedLinear::compute() const { return s_->compute; }
const std::string& PackedLinear::fallback_reason() const { return s_->fallback_reason; }

Int8Activations PackedLinear::int8_activations() const { return s_->int8_activations; }

size_t PackedLinear::packed_bytes() const {
  size_t bytes = s_->k == 0 || s_->n == 0 ? 0 : s_->packed_md.get_size();
  return bytes + s_->col_scale.size() * sizeof(float) + s_->col_sum.size() * sizeof(int32_t);
}

std::string PackedLinear::implementation(int64_t m) const {
  if (s_->k == 0 || s_->n == 0) return "none (empty)";
  const int64_t rows = std::max<int64_t>(m, 1) * (s_->int8_activations == Int8Activations::U8AsTwo7BitHalves ? 2 : 1);
  return s_->make_pd(rows, s_->packed_md).impl_info_str();
}

constexpr int64_t kFloat32RowBlock = 128;

void PackedLinear::forward(const float* x, int64_t m, float* y) const {
  const State& s = *s_;
  const int64_t n = s.n, k = s.k;
  if (m <= 0 || n == 0) return;
  if (k == 0) {
    for (int64_t i = 0; i < m; ++i) std::copy(s.bias.begin(), s.bias.end(), y + i * n);
    if (s.gelu) gelu_erf(y, m * n);
    return;
  }
  // oneDNN 2.6's float32 brgemm slows down per row on tall products (8x128 tokens: ~25% below 128-row products of
  // the same weights, measured by bench/perf.sh); blocks of kFloat32RowBlock rows keep it at its 128-row rate.
  if (s.compute == ComputeType::Float32 && m > kFloat32RowBlock) {
    for (int64_t r = 0; r < m; r += kFloat32RowBlock) forward(x + r * k, std::min(kFloat32RowBlock, m - r), y + r * n);
    return;
  }
  Scratch& sc = scratch();
  maybe_serial(m * n * k, [&] {
    // The products' rows: twice the tokens where the int8 codes go as two halves.
    const bool halves = s.src_dt == dt::u8 && s.int8_activations == Int8Activations::U8AsTwo7BitHalves;
    const int64_t rows = halves ? 2 * m : m;
    std::shared_ptr<const State::Entry> e;
    try {
      e = s.entry(rows);
    } catch (const dnnl::error& err) {
      throw Error("linear: oneDNN could not create a " + std::string(compute_type_name(s.compute)) + " matmul for " +
                  std::to_string(rows) + " x [" + std::to_string(n) + ", " + std::to_string(k) + "]: " + err.what());
    }
    dnnl::engine& eng = cpu_engine();
    const void* src_ptr = x;
    if (s.src_dt == dt::bf16) {
      uint16_t* b = grown(sc.bf16, static_cast<size_t>(m * k));
      const int64_t total = m * k;
      constexpr int64_t kChunk = int64_t{1} << 16;
#pragma omp parallel for if (total >= 4 * kChunk) schedule(static)
      for (int64_t c = 0; c < total; c += kChunk) round_to_bf16(x + c, std::min(kChunk, total - c), b + c);
      src_ptr = b;
    } else if (s.src_dt == dt::u8) {
      // Halves: rows [0, m) take the codes' high 7 bits, rows [m, 2m) their low bit.
      uint8_t* q = grown(sc.u8, static_cast<size_t>(halves ? 2 * m * k : m * k));
      float* rs = grown(sc.row_scale, static_cast<size_t>(m));
      int32_t* rz = grown(sc.row_zero, static_cast<size_t>(m));
#pragma omp parallel for if (m * k >= (int64_t{1} << 18)) schedule(static)
      for (int64_t r = 0; r < m; ++r) {
        quantize_row(x + r * k, k, q + r * k, rs + r, rz + r);
        if (halves) split_codes(q + r * k, k, q + (m + r) * k);
      }
      src_ptr = q;
    }
    void* dst_ptr = y;
    if (s.dst_dt == dt::s32) dst_ptr = grown(sc.s32, static_cast<size_t>(rows * n));

    dnnl::memory src(dnnl::memory::desc({rows, k}, s.src_dt, tag::ab), eng, const_cast<void*>(src_ptr));
    dnnl::memory dst(dnnl::memory::desc({rows, n}, s.dst_dt, tag::ab), eng, dst_ptr);
    dnnl::memory pad(dnnl::memory::desc({static_cast<int64_t>(e->scratch_bytes)}, dt::u8, tag::a), eng,
                     grown(sc.onednn, std::max<size_t>(e->scratch_bytes, 1)));
    std::unordered_map<int, dnnl::memory> args = {
        {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, s.packed}, {DNNL_ARG_DST, dst}, {DNNL_ARG_SCRATCHPAD, pad}};
    dnnl::memory bias_mem;
    if (s.primitive_bias()) {
      bias_mem = dnnl::memory(dnnl::memory::desc({1, n}, dt::f32, tag::ab), eng, const_cast<float*>(s.bias.data()));
      args.emplace(DNNL_ARG_BIAS, bias_mem);
    }
    dnnl::stream stream(eng);
    e->prim.execute(stream, args);
    stream.wait();

    if (s.dst_dt == dt::s32) {
      // y = row_scale · col_scale · (acc - row_zero · col_sum) + bias, then the activation.
      int32_t* acc = sc.s32.data();
      const float* rs = sc.row_scale.data();
      const int32_t* rz = sc.row_zero.data();
      const float* cs = s.col_scale.data();
      const int32_t* csum = s.col_sum.data();
      const float* b = s.bias.data();
      const bool gelu = s.gelu;
#pragma omp parallel for if (m * n >= (int64_t{1} << 16)) schedule(static)
      for (int64_t r = 0; r < m; ++r) {
        if (halves) join_halves(acc + r * n, acc + (m + r) * n, n);
        dequantize_row(acc + r * n, n, rs[r], rz[r], cs, csum, b, y + r * n);
        if (gelu) gelu_erf(y + r * n, n);
      }
    }
  });
}

std::vector<std::string> cpu_flags() {
  static const std::vector<std::string> flags = [] {
    static const char* kInteresting[] = {"avx2",        "fma",         "avx512f",  "avx512bw", "avx512_vnni",
                                         "avx512_bf16", "avx_vnni",    "amx_tile", "amx_bf16", "amx_int8"};
    std::vector<std::string> found;
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("flags", 0) != 0) continue;
      std::istringstream words(line.substr(line.find(':') + 1));
      std::vector<std::string> have;
      for (std::string w; words >> w;) have.push_back(w);
      for (const char* f : kInteresting) {
        if (std::find(have.begin(), have.end(), f) != have.end()) found.emplace_back(f);
      }
      break;
    }
    return found;
  }();
  return flags;
}

bool cpu_has_flag(const std::string& flag) {
  const std::vector<std::string> flags = cpu_flags();
  return std::find(flags.begin(), flags.end(), flag) != flags.end();
}

std::string onednn_version() {
  const dnnl_version_t* v = dnnl_version();
  return std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
}

}  // namespace rembert::kernels
