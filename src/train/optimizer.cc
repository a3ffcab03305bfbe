#include "train/optimizer.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#endif

#include "kernels/per_isa.h"
#include "kernels/threads.h"
#include "rembert/error.h"
#include "rembert/safetensors.h"

namespace rembert::train {

namespace {

// Elements per unit of parallel work: large enough that scheduling is free, small enough to balance 576M elements
// over the cores.
constexpr int64_t kChunkElements = int64_t{1} << 16;

// The float scalars of one update, each rounded from the double PyTorch computes it in.
struct UpdateScalars {
  float decay;               // 1 - lr * weight_decay
  float beta1, one_minus_beta1, beta2, one_minus_beta2;
  float bias_correction2_sqrt;
  float eps;
  float neg_step_size;       // -lr / (1 - beta1^t)
};

// torch.optim.AdamW's single-tensor step on elements [begin, n), one pass over p, g, m, v. The operations are
// PyTorch's kernels in its order: mul_ (decay); mul_ then add_ with alpha, which PyTorch computes as one fused
// multiply-add (vec::fmadd); mul_ then addcmul_ (s * g) * g; sqrt, div, add_ eps; addcdiv_ p + (s * m) / denom.
// Contraction into other multiply-adds is off: PyTorch does not fuse those.
__attribute__((optimize("fp-contract=off"))) void adamw_update_scalar(float* __restrict p, const float* __restrict g,
                                                                       float* __restrict m, float* __restrict v,
                                                                       int64_t begin, int64_t n,
                                                                       const UpdateScalars& s) {
  for (int64_t i = begin; i < n; ++i) {
    const float gi = g[i];
    const float pi = p[i] * s.decay;
    const float mi = __builtin_fmaf(gi, s.one_minus_beta1, m[i] * s.beta1);
    const float vi = v[i] * s.beta2 + s.one_minus_beta2 * gi * gi;
    const float denom = __builtin_sqrtf(vi) / s.bias_correction2_sqrt + s.eps;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi + s.neg_step_size * mi / denom;
  }
}

#if defined(__GNUC__) && defined(__x86_64__)
// The same operations eight elements at a time (every one is correctly rounded, so the results are the scalar
// loop's bit for bit). Written with intrinsics because the compiler will not vectorize sqrt while it must keep errno.
// Returns the number of elements done (a multiple of 8).
__attribute__((target("avx2,fma"), optimize("fp-contract=off"))) int64_t adamw_update_avx2(
    float* __restrict p, const float* __restrict g, float* __restrict m, float* __restrict v, int64_t n,
    const UpdateScalars& s) {
  const __m256 decay = _mm256_set1_ps(s.decay), beta1 = _mm256_set1_ps(s.beta1),
               one_minus_beta1 = _mm256_set1_ps(s.one_minus_beta1), beta2 = _mm256_set1_ps(s.beta2),
               one_minus_beta2 = _mm256_set1_ps(s.one_minus_beta2),
               bias_correction2_sqrt = _mm256_set1_ps(s.bias_correction2_sqrt), eps = _mm256_set1_ps(s.eps),
               neg_step_size = _mm256_set1_ps(s.neg_step_size);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 gi = _mm256_loadu_ps(g + i);
    const __m256 pi = _mm256_mul_ps(_mm256_loadu_ps(p + i), decay);
    const __m256 mi = _mm256_fmadd_ps(gi, one_minus_beta1, _mm256_mul_ps(_mm256_loadu_ps(m + i), beta1));
    const __m256 vi = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(v + i), beta2),
                                    _mm256_mul_ps(_mm256_mul_ps(one_minus_beta2, gi), gi));
    const __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vi), bias_correction2_sqrt), eps);
    _mm256_storeu_ps(m + i, mi);
    _mm256_storeu_ps(v + i, vi);
    _mm256_storeu_ps(p + i, _mm256_add_ps(pi, _mm256_div_ps(_mm256_mul_ps(neg_step_size, mi), denom)));
  }
  return i;
}

bool has_avx2_fma() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}
#endif

void adamw_update(float* p, const float* g, float* m, float* v, int64_t n, const UpdateScalars& s) {
  int64_t done = 0;
#if defined(__GNUC__) && defined(__x86_64__)
  if (has_avx2_fma()) done = adamw_update_avx2(p, g, m, v, n, s);
#endif
  adamw_update_scalar(p, g, m, v, done, n, s);
}

REMBERT_PER_ISA double sum_of_squares(const float* x, int64_t n) {
  double sum = 0.0;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  return sum;
}

REMBERT_PER_ISA void scale(float* x, int64_t n, float factor) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) x[i] *= factor;
}

struct Chunk {
  size_t slot;
  int64_t begin, end;
};

std::vector<Chunk> chunks_of(const std::vector<ParamSlot>& params) {
  std::vector<Chunk> chunks;
  for (size_t s = 0; s < params.size(); ++s) {
    for (int64_t b = 0; b < params[s].size; b += kChunkElements) {
      chunks.push_back({s, b, std::min(params[s].size, b + kChunkElements)});
    }
  }
  return chunks;
}

Shape shape_of(const ParamSlot& slot) { return slot.shape.empty() ? Shape{slot.size} : slot.shape; }

std::string format_double(double x) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.17g", x);
  return buffer;
}

const char* const kFormat = "rembert.adamw";

}  // namespace

AdamW::AdamW(std::vector<ParamSlot> params, AdamWOptions options) : params_(std::move(params)), options_(options) {
  if (!(options_.beta1 >= 0.0 && options_.beta1 < 1.0) || !(options_.beta2 >= 0.0 && options_.beta2 < 1.0)) {
    throw Error("AdamW: betas (" + format_double(options_.beta1) + ", " + format_double(options_.beta2) +
                ") must lie in [0, 1)");
  }
  if (!(options_.eps >= 0.0)) throw Error("AdamW: eps " + format_double(options_.eps) + " is negative");
  if (!(options_.weight_decay >= 0.0)) {
    throw Error("AdamW: weight_decay " + format_double(options_.weight_decay) + " is negative");
  }
  std::set<std::string> names;
  for (const ParamSlot& slot : params_) {
    if (!names.insert(slot.name).second) throw Error("AdamW: parameter " + slot.name + " is given twice");
    if (slot.size < 0) throw Error("AdamW: parameter " + slot.name + " has negative size");
    if (slot.size > 0 && (!slot.value || !slot.grad)) {
      throw Error("AdamW: parameter " + slot.name + " has no value or gradient buffer");
    }
    if (!slot.shape.empty() && shape_numel(slot.shape) != slot.size) {
      throw Error("AdamW: parameter " + slot.name + " has shape " + shape_to_string(slot.shape) + " but size " +
                  std::to_string(slot.size));
    }
    exp_avg_.emplace_back(static_cast<size_t>(slot.size), 0.0f);
    exp_avg_sq_.emplace_back(static_cast<size_t>(slot.size), 0.0f);
  }
  for (const auto& c : chunks_of(params_)) chunks_.push_back({c.slot, c.begin, c.end});
}

const AdamW::Moment& AdamW::exp_avg(size_t slot) const { return exp_avg_.at(slot); }
const AdamW::Moment& AdamW::exp_avg_sq(size_t slot) const { return exp_avg_sq_.at(slot); }

void AdamW::step(double lr) {
  kernels::prepare_compute_thread();
  ++steps_;
  // Python's scalars: doubles, rounded to float where they meet a float tensor.
  const double t = static_cast<double>(steps_);
  const double bias_correction1 = 1.0 - std::pow(options_.beta1, t);
  const double bias_correction2 = 1.0 - std::pow(options_.beta2, t);
  const double step_size = lr / bias_correction1;
  UpdateScalars decayed{};
  decayed.decay = static_cast<float>(1.0 - lr * options_.weight_decay);
  decayed.beta1 = static_cast<float>(options_.beta1);
  decayed.one_minus_beta1 = static_cast<float>(1.0 - options_.beta1);
  decayed.beta2 = static_cast<float>(options_.beta2);
  decayed.one_minus_beta2 = static_cast<float>(1.0 - options_.beta2);
  decayed.bias_correction2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  decayed.eps = static_cast<float>(options_.eps);
  decayed.neg_step_size = static_cast<float>(-step_size);
  UpdateScalars undecayed = decayed;
  undecayed.decay = 1.0f;  // weight_decay 0: PyTorch multiplies by 1 - lr * 0 = 1, an identity

  const int64_t n_chunks = static_cast<int64_t>(chunks_.size());
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < n_chunks; ++c) {
    const Chunk& chunk = chunks_[static_cast<size_t>(c)];
    const ParamSlot& slot = params_[chunk.slot];
    adamw_update(slot.value + chunk.begin, slot.grad + chunk.begin, exp_avg_[chunk.slot].data() + chunk.begin,
                 exp_avg_sq_[chunk.slot].data() + chunk.begin, chunk.end - chunk.begin,
                 slot.decay ? decayed : undecayed);
  }
}

void AdamW::save(const std::string& path) const {
  std::vector<TensorSpec> specs;
  std::vector<const Moment*> sources;
  for (size_t s = 0; s < params_.size(); ++s) {
    specs.push_back({"exp_avg." + params_[s].name, DType::F32, shape_of(params_[s])});
    sources.push_back(&exp_avg_[s]);
    specs.push_back({"exp_avg_sq." + params_[s].name, DType::F32, shape_of(params_[s])});
    sources.push_back(&exp_avg_sq_[s]);
  }
  std::map<const TensorSpec*, const Moment*> source_of;
  for (size_t i = 0; i < specs.size(); ++i) source_of[&specs[i]] = sources[i];
  const std::map<std::string, std::string> metadata = {
      {"format", kFormat},
      {"step", std::to_string(steps_)},
      {"beta1", format_double(options_.beta1)},
      {"beta2", format_double(options_.beta2)},
      {"eps", format_double(options_.eps)},
      {"weight_decay", format_double(options_.weight_decay)},
  };
  write_safetensors_streaming(
      path, specs,
      [&](const TensorSpec& spec, void* buffer) {
        const Moment& values = *source_of.at(&spec);
        if (!values.empty()) std::memcpy(buffer, values.data(), values.size() * sizeof(float));
      },
      metadata);
}

void AdamW::load(const std::string& path) {
  const SafetensorsFile file = read_safetensors(path);
  const auto step_entry = file.metadata.find("step");
  if (file.metadata.count("format") == 0 || file.metadata.at("format") != kFormat || step_entry == file.metadata.end()) {
    throw Error(path + ": not an AdamW state file (metadata \"format\": \"" + kFormat + "\" and \"step\" expected)");
  }
  const std::string& step_text = step_entry->second;
  int64_t step = 0;
  bool step_ok = !step_text.empty() && step_text.size() <= 18;
  for (char ch : step_text) {
    if (ch < '0' || ch > '9') {
      step_ok = false;
      break;
    }
    step = step * 10 + (ch - '0');
  }
  if (!step_ok) throw Error(path + ": metadata \"step\" \"" + step_text + "\" is not a step count");

  std::set<std::string> expected;
  std::vector<const Tensor*> moments;  // exp_avg, exp_avg_sq per slot
  for (const ParamSlot& slot : params_) {
    for (const char* prefix : {"exp_avg.", "exp_avg_sq."}) {
      const std::string name = prefix + slot.name;
      expected.insert(name);
      const auto it = file.tensors.find(name);
      if (it == file.tensors.end()) throw Error(path + ": tensor " + name + " is missing");
      const Tensor& t = it->second;
      if (t.dtype() != DType::F32) {
        throw Error(path + ": tensor " + name + " has dtype " + dtype_name(t.dtype()) + ", expected F32");
      }
      if (t.shape() != shape_of(slot)) {
        throw Error(path + ": tensor " + name + " has shape " + shape_to_string(t.shape()) + ", expected " +
                    shape_to_string(shape_of(slot)));
      }
      moments.push_back(&t);
    }
  }
  for (const auto& [name, t] : file.tensors) {
    if (expected.count(name) == 0) throw Error(path + ": tensor " + name + " belongs to no parameter being trained");
  }
  for (size_t s = 0; s < params_.size(); ++s) {
    const size_t bytes = static_cast<size_t>(params_[s].size) * sizeof(float);
    if (bytes == 0) continue;
    std::memcpy(exp_avg_[s].data(), moments[2 * s]->raw_data(), bytes);
    std::memcpy(exp_avg_sq_[s].data(), moments[2 * s + 1]->raw_data(), bytes);
  }
  steps_ = step;
}

bool trainer_decays(const std::string& param_name) {
  return param_name.find("bias") == std::string::npos && param_name.find("LayerNorm.") == std::string::npos &&
         param_name.find("layer_norm") == std::string::npos;
}

double clip_grad_norm(const std::vector<ParamSlot>& params, double max_norm) {
  kernels::prepare_compute_thread();
  const std::vector<Chunk> chunks = chunks_of(params);
  const int64_t n_chunks = static_cast<int64_t>(chunks.size());
  // Fixed chunks summed in a fixed order: the same norm whatever the number of threads.
  std::vector<double> partial(chunks.size());
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < n_chunks; ++c) {
    const Chunk& chunk = chunks[static_cast<size_t>(c)];
    partial[static_cast<size_t>(c)] =
        sum_of_squares(params[chunk.slot].grad + chunk.begin, chunk.end - chunk.begin);
  }
  std::vector<double> slot_sum(params.size(), 0.0);
  for (size_t c = 0; c < chunks.size(); ++c) slot_sum[chunks[c].slot] += partial[c];
  double total_sq = 0.0;
  for (double s : slot_sum) {
    const double norm = static_cast<double>(static_cast<float>(std::sqrt(s)));  // torch: one float per tensor
    total_sq += norm * norm;
  }
  const float total = static_cast<float>(std::sqrt(total_sq));
  if (max_norm > 0.0) {
    // torch: clip_coef = max_norm / (total + 1e-6), a float tensor divided as reciprocal() * max_norm; clamped to 1.
    const float coefficient = std::min(1.0f / (total + static_cast<float>(1e-6)) * static_cast<float>(max_norm), 1.0f);
    if (coefficient != 1.0f) {
#pragma omp parallel for schedule(static)
      for (int64_t c = 0; c < n_chunks; ++c) {
        const Chunk& chunk = chunks[static_cast<size_t>(c)];
        scale(params[chunk.slot].grad + chunk.begin, chunk.end - chunk.begin, coefficient);
      }
    }
  }
  return static_cast<double>(total);
}

}  // namespace rembert::train
