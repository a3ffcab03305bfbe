// The optimizer's view of a TrainableModel's parameters.
#pragma once

#include <vector>

#include "rembert/train.h"
#include "train/optimizer.h"

namespace rembert::train {

// One slot per parameter, state-dict order. no_decay_group: biases and LayerNorm weights get no weight decay (the
// HF Trainer's parameter groups); otherwise one group, every tensor decayed (torch.optim.AdamW(model.parameters())).
inline std::vector<ParamSlot> parameter_slots(TrainableModel& model, bool no_decay_group) {
  std::vector<ParamSlot> slots;
  for (TrainableModel::Parameter& p : model.parameters()) {
    ParamSlot s;
    s.name = p.name;
    s.value = p.value.mutable_data<float>();
    s.grad = p.grad.mutable_data<float>();
    s.size = p.value.numel();
    s.decay = !no_decay_group || trainer_decays(p.name);
    s.shape = p.value.shape();
    slots.push_back(std::move(s));
  }
  return slots;
}

}  // namespace rembert::train
