// AdamW and gradient clipping exactly as PyTorch 1.13 computes them (torch.optim.AdamW's single-tensor path,
// torch.nn.utils.clip_grad_norm_): the same float32 operations in the same order, the scalars computed in double
// and rounded to float where they meet a tensor, as PyTorch does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/zeroed_buffer.h"
#include "rembert/tensor.h"

namespace rembert::train {

// One trainable tensor: value and gradient buffers owned by the caller (float32, `size` elements, row-major).
struct ParamSlot {
  std::string name;   // the state-dict key, e.g. "rembert.encoder.layer.0.attention.self.query.weight"
  float* value = nullptr;
  float* grad = nullptr;
  int64_t size = 0;
  bool decay = true;  // false: weight decay 0 for this tensor (the HF Trainer's no-decay group, see trainer_decays)
  Shape shape = {};   // the tensor's shape, for the saved moments; empty: [size]
};

struct AdamWOptions {
  double lr = 1e-3;  // the default peak; step() takes the learning rate of each update
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;
};

class AdamW {
 public:
  // exp_avg / exp_avg_sq zero, step 0. Throws Error on duplicate names, null buffers, a shape that does not hold
  // `size` elements, or options out of range (betas outside [0, 1), negative eps or weight decay).
  AdamW(std::vector<ParamSlot> params, AdamWOptions options);

  // One update of every slot with learning rate `lr` (the schedule's value for this update); an lr of 0 still
  // advances the moments and the step count, as in PyTorch.
  void step(double lr);

  int64_t steps_taken() const { return steps_; }
  const std::vector<ParamSlot>& params() const { return params_; }
  const AdamWOptions& options() const { return options_; }
  using Moment = std::vector<float, ZeroedAllocator<float>>;
  const Moment& exp_avg(size_t slot) const;
  const Moment& exp_avg_sq(size_t slot) const;

  // Resume state: tensors "exp_avg.<name>" and "exp_avg_sq.<name>" (F32, the slot's shape) and the step count in
  // the metadata ("step"). load() requires exactly these tensors with these shapes; on a mismatch it throws Error
  // naming the file and the tensor, and leaves the optimizer unchanged.
  void save(const std::string& path) const;
  void load(const std::string& path);

 private:
  struct Chunk {  // a contiguous piece of one slot: the unit of parallel work
    size_t slot;
    int64_t begin, end;
  };
  std::vector<ParamSlot> params_;
  AdamWOptions options_;
  std::vector<Moment> exp_avg_, exp_avg_sq_;
  std::vector<Chunk> chunks_;
  int64_t steps_ = 0;
};

// The HF Trainer's rule for its no-decay group: no weight decay for biases and LayerNorm parameters (names that
// contain "bias", or a "LayerNorm." / "layer_norm" module).
bool trainer_decays(const std::string& param_name);

// torch.nn.utils.clip_grad_norm_ (L2): total = the norm of the per-tensor norms (each accumulated in double, rounded
// to float as torch stores them); when max_norm > 0 every gradient is multiplied by
// min(1, max_norm / (total + 1e-6)) in float. Returns the total norm before clipping (a float32 value).
double clip_grad_norm(const std::vector<ParamSlot>& params, double max_norm);

}  // namespace rembert::train
