#include "kernels/gemm.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl.hpp>

#include "kernels/onednn.h"
#include "kernels/threads.h"
#include "rembert/error.h"

namespace rembert::kernels {

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

std::string shape_text(int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb, int64_t ldc) {
  return "m " + std::to_string(m) + ", n " + std::to_string(n) + ", k " + std::to_string(k) + ", lda " +
         std::to_string(lda) + ", ldb " + std::to_string(ldb) + ", ldc " + std::to_string(ldc);
}

// A row-major float32 matrix op(x) [rows, cols] stored with row stride ld, transposed or not, as oneDNN strides.
dnnl::memory::desc strided_f32(int64_t rows, int64_t cols, bool transposed, int64_t ld) {
  return dnnl::memory::desc({rows, cols}, dt::f32, transposed ? dnnl::memory::dims{1, ld} : dnnl::memory::dims{ld, 1});
}

// The primitives of one bfloat16 product shape: the two conversions and the matmul.
struct Bf16Product {
  dnnl::reorder to_a, to_b;
  dnnl::matmul matmul;
  dnnl::memory::desc a_md, b_md;  // the bfloat16 layouts the matmul takes
};

std::shared_ptr<const Bf16Product> bf16_product(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                                                int64_t lda, int64_t ldb, float beta, int64_t ldc) {
  using Key = std::tuple<bool, bool, int64_t, int64_t, int64_t, float, int64_t, int64_t, float, int64_t, int>;
  static std::mutex mu;
  static std::map<Key, std::shared_ptr<const Bf16Product>> cache;
  constexpr size_t kMaxCached = 512;  // a training run sees a few dozen shapes
  const Key key{ta, tb, m, n, k, alpha, lda, ldb, beta, ldc, omp_get_max_threads()};
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = cache.find(key); it != cache.end()) return it->second;

  dnnl::engine& eng = cpu_engine();
  dnnl::primitive_attr attr;
  if (alpha != 1.0f) attr.set_output_scales(0, {alpha});
  if (beta != 0.0f) {
    dnnl::post_ops po;
    po.append_sum(beta);
    attr.set_post_ops(po);
  }
  const dnnl::memory::desc a_any({m, k}, dt::bf16, tag::ab), b_any({k, n}, dt::bf16, tag::any);
  const dnnl::memory::desc c_md({m, n}, dt::f32, dnnl::memory::dims{ldc, 1});
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_any, b_any, c_md), attr, eng);
  auto p = std::make_shared<Bf16Product>();
  p->a_md = pd.src_desc();
  p->b_md = pd.weights_desc();
  p->matmul = dnnl::matmul(pd);
  p->to_a = dnnl::reorder(dnnl::reorder::primitive_desc(eng, strided_f32(m, k, ta, lda), eng, p->a_md));
  p->to_b = dnnl::reorder(dnnl::reorder::primitive_desc(eng, strided_f32(k, n, tb, ldb), eng, p->b_md));
  if (cache.size() >= kMaxCached) cache.clear();
  cache.emplace(key, p);
  return p;
}

uint8_t* grown(std::vector<uint8_t>& buffer, size_t bytes) {
  if (buffer.size() < bytes) buffer.resize(bytes);
  return buffer.data();
}

}  // namespace

void sgemm(bool transpose_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  sgemm_ab(false, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void sgemm_ab(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, float alpha,
              const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {  // c = beta · c as BLAS defines it (beta 0: c is not read); oneDNN's sgemm leaves c as it was
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
    }
    return;
  }
  dnnl_status_t status = dnnl_success;
  maybe_serial(m * n * k, [&] {
    status = dnnl_sgemm(transpose_a ? 'T' : 'N', transpose_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c,
                        ldc);
  });
  if (status != dnnl_success) {
    throw Error("sgemm failed (oneDNN status " + std::to_string(static_cast<int>(status)) + ") for " +
                shape_text(m, n, k, lda, ldb, ldc));
  }
}

bool bf16_gemm_available(std::string* why_not) {
  static const std::string reason = [] {
    try {
      const dnnl::memory::desc a({64, 64}, dt::bf16, tag::ab), b({64, 64}, dt::bf16, tag::any),
          c({64, 64}, dt::f32, tag::ab);
      const std::string impl = dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, c), cpu_engine()).impl_info_str();
      if (is_reference_implementation(impl)) {
        return "oneDNN has only its reference bfloat16 matmul (" + impl + ") on this CPU (no avx512_bf16 / amx_bf16)";
      }
      return std::string();
    } catch (const dnnl::error&) {
      return std::string("oneDNN cannot create a bfloat16 matmul on this CPU (no avx512_bf16 / amx_bf16 enabled)");
    }
  }();
  if (why_not) *why_not = reason;
  return reason.empty();
}

void gemm_bf16(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
               int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (!bf16_gemm_available()) {
    std::string why_not;
    bf16_gemm_available(&why_not);
    throw Error("gemm_bf16: " + why_not);
  }
  // Nothing to multiply, so nothing to round: c = beta · c, as sgemm computes it.
  if (k == 0) return sgemm_ab(transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  try {
    maybe_serial(m * n * k, [&] {
      const auto p = bf16_product(transpose_a, transpose_b, m, n, k, alpha, lda, ldb, beta, ldc);
      thread_local std::vector<uint8_t> a16, b16;
      dnnl::engine& eng = cpu_engine();
      dnnl::memory a32(strided_f32(m, k, transpose_a, lda), eng, const_cast<float*>(a));
      dnnl::memory b32(strided_f32(k, n, transpose_b, ldb), eng, const_cast<float*>(b));
      dnnl::memory a_bf16(p->a_md, eng, grown(a16, p->a_md.get_size()));
      dnnl::memory b_bf16(p->b_md, eng, grown(b16, p->b_md.get_size()));
      dnnl::memory c32(dnnl::memory::desc({m, n}, dt::f32, dnnl::memory::dims{ldc, 1}), eng, c);
      dnnl::stream stream(eng);
      p->to_a.execute(stream, a32, a_bf16);
      p->to_b.execute(stream, b32, b_bf16);
      p->matmul.execute(stream, {{DNNL_ARG_SRC, a_bf16}, {DNNL_ARG_WEIGHTS, b_bf16}, {DNNL_ARG_DST, c32}});
      stream.wait();
    });
  } catch (const dnnl::error& e) {
    throw Error(std::string("gemm_bf16: oneDNN failed (") + e.what() + ") for " +
                shape_text(m, n, k, lda, ldb, ldc));
  }
}

}  // namespace rembert::kernels
