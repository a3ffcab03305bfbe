// rembert init-random: a random-weight checkpoint of any config, to measure speed without a 2.3 GB download.
#include <cstdio>
#include <string>

#include "commands.h"
#include "rembert/error.h"
#include "rembert/model.h"

namespace rembert::cli {

namespace {

struct InitRandomOptions {
  std::string config_path, out_dir, dtype = "float32", head;
  uint64_t seed = 0;
};

void run_init_random(const InitRandomOptions& o) {
  RemBertConfig config = RemBertConfig::from_json_file(o.config_path);
  const HeadType head = o.head.empty() ? head_from_config(config) : head_from_name(o.head);
  DType dtype = DType::F32;
  switch (weight_dtype_from_name(o.dtype)) {
    case WeightDType::Float16: dtype = DType::F16; break;
    case WeightDType::BFloat16: dtype = DType::BF16; break;
    case WeightDType::Auto:
      if (config.torch_dtype == "float16") dtype = DType::F16;
      if (config.torch_dtype == "bfloat16") dtype = DType::BF16;
      break;
    case WeightDType::Float32: break;
    case WeightDType::Int8: throw Error("init-random: --dtype int8 is a compute path, not a stored dtype");
  }
  write_random_checkpoint(config, head, o.out_dir, dtype, o.seed);
  std::printf("wrote %s/config.json and %s/model.safetensors (%s, %s)\n", o.out_dir.c_str(), o.out_dir.c_str(),
              head_class_name(head), dtype_name(dtype));
}

}  // namespace

Command add_init_random_command(CLI::App& app) {
  auto o = std::make_shared<InitRandomOptions>();
  CLI::App* cmd = app.add_subcommand("init-random", "Write a random-weight checkpoint of a config");
  cmd->add_option("--config", o->config_path, "config.json to use (e.g. configs/google-rembert.json)")->required();
  cmd->add_option("--out", o->out_dir, "Folder to write config.json and model.safetensors to")->required();
  cmd->add_option("--dtype", o->dtype, "Stored dtype: float32, float16, bfloat16, auto (config torch_dtype)")
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "Random seed")->capture_default_str();
  cmd->add_option("--head", o->head, "Head whose weights to write (default: config architectures[0])");
  return [o] { run_init_random(*o); };
}

}  // namespace rembert::cli
