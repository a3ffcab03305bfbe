// What a loaded Model holds. Immutable after loading.
#pragma once

#include <string>
#include <vector>

#include "kernels/ops.h"
#include "kernels/packed_linear.h"
#include "model/params.h"
#include "rembert/model.h"

namespace rembert {

struct Model::Impl {
  RemBertConfig config;
  HeadType head = HeadType::Model;
  DType weight_dtype = DType::F32;
  kernels::ComputeType compute = kernels::ComputeType::Float32;  // requested; a Linear may fall back
  std::string fallback;  // why the compute type is not available, or empty
  std::string converted;  // the dtype a checkpoint written by convert_model was converted to, or empty
  kernels::Activation activation = kernels::Activation::Gelu;
  model::Params params;
  std::vector<std::string> warnings;
  std::vector<std::string> newly_initialized;
};

}  // namespace rembert
