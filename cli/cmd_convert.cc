// rembert convert: a model folder with its Linear weights stored as the int8 or bfloat16 compute path packs them,
// so that later loads map them in place (convert_model in the library).
#include <cstdio>
#include <string>

#include "commands.h"
#include "rembert/error.h"
#include "rembert/hub.h"
#include "rembert/model.h"

namespace rembert::cli {

namespace {

struct ConvertCliOptions {
  std::string model, revision, dtype, out;
  bool force = false;
  int threads = 0;
};

void run_convert(const ConvertCliOptions& o) {
  set_num_threads(o.threads);
  ConvertOptions options;
  options.dtype = weight_dtype_from_name(o.dtype);
  options.force = o.force;
  HubOptions hub;
  hub.revision = o.revision;
  const std::string dir = resolve_model_for_task(o.model, hub, ModelParts{true, true, true});
  const ConvertResult r = convert_model(dir, o.out, options);
  std::string files;
  for (const std::string& f : r.files) files += (files.empty() ? "" : ", ") + f;
  std::printf("wrote %s (%s, %zu Linear weights converted): %s; model.safetensors %.1f MB = %.2fx the source's "
              "%.1f MB\n",
              o.out.c_str(), weight_dtype_name(options.dtype), r.linears, files.c_str(),
              static_cast<double>(r.weights_bytes) / 1e6,
              r.source_bytes ? static_cast<double>(r.weights_bytes) / static_cast<double>(r.source_bytes) : 0.0,
              static_cast<double>(r.source_bytes) / 1e6);
}

}  // namespace

Command add_convert_command(CLI::App& app) {
  auto o = std::make_shared<ConvertCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "convert", "Write a model folder with its Linear weights stored as int8 (+ scales) or bfloat16, loaded in place");
  cmd->add_option("--model", o->model, "Model folder, or hub id such as google/rembert")->required();
  cmd->add_option("--revision", o->revision, "Hub branch, tag or commit (default main)");
  cmd->add_option("--dtype", o->dtype, "int8 or bfloat16")->required();
  cmd->add_option("--out", o->out, "Folder to write (must not exist or be empty, unless --force)")->required();
  cmd->add_flag("--force", o->force, "Replace a non-empty --out folder");
  cmd->add_option("--threads", o->threads, "Threads (default: all cores)");
  return [o] { run_convert(*o); };
}

}  // namespace rembert::cli
