// Random-weight checkpoints of any config: speed can be measured without downloading google/rembert.
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "core/random.h"
#include "model/params.h"
#include "rembert/error.h"
#include "rembert/model.h"

namespace rembert {

void write_random_checkpoint(const RemBertConfig& config_in, HeadType head, const std::string& out_dir, DType dtype,
                             uint64_t seed) {
  if (dtype != DType::F32 && dtype != DType::F16 && dtype != DType::BF16) {
    throw Error(std::string("random checkpoint: unsupported dtype ") + dtype_name(dtype));
  }
  RemBertConfig config = config_in;
  config.validate();
  config.architectures = {head_class_name(head)};
  config.torch_dtype = dtype == DType::F32 ? "float32" : dtype == DType::F16 ? "float16" : "bfloat16";

  if (mkdir(out_dir.c_str(), 0755) != 0 && errno != EEXIST) {
    throw Error("cannot create directory " + out_dir + ": " + std::strerror(errno));
  }
  config.to_json_file(out_dir + "/config.json");

  std::vector<TensorSpec> specs;
  std::vector<model::ParamInit> inits;
  model::Params params;
  model::visit_params(config, head, true, params, [&](const model::ParamInfo& info, Tensor&) {
    specs.push_back(TensorSpec{info.name, dtype, info.shape});
    inits.push_back(info.init);
  });
  size_t index = 0;
  write_safetensors_streaming(
      out_dir + "/model.safetensors", specs,
      [&](const TensorSpec& spec, void* buffer) {
        const model::ParamInit init = inits[index++];
        const int64_t n = shape_numel(spec.shape);
        Tensor values(DType::F32, spec.shape);
        float* v = values.mutable_data<float>();
        if (init == model::ParamInit::Normal) {
          fill_normal(v, n, static_cast<float>(config.initializer_range), seed, index);
        } else if (init == model::ParamInit::Ones) {
          std::fill(v, v + n, 1.0f);
        }
        Tensor stored = values.cast_float(spec.dtype);
        std::memcpy(buffer, stored.raw_data(), spec.nbytes());
      },
      {{"format", "pt"}});
}

}  // namespace rembert
