// rembert info: the CPU flags, the compute path a model takes with --dtype, and the oneDNN implementation of each
// of its Linear shapes.
#include <cstdio>
#include <string>

#include "commands.h"
#include "rembert/error.h"
#include "rembert/hub.h"
#include "rembert/model.h"

namespace rembert::cli {

namespace {

struct InfoOptions {
  std::string model, revision, dtype, head;
  int threads = 0;
  int64_t rows = 128;
};

void run_info(const InfoOptions& o) {
  set_num_threads(o.threads);
  std::string dir;
  auto model = load_model(o.model, o.revision, o.dtype, o.head, &dir);
  for (const auto& warning : model->warnings()) {
    // Only what bears on the compute path: missing/unexpected weights are forward's business.
    if (warning.find("compute is not available") != std::string::npos) {
      std::fprintf(stderr, "rembert: warning: %s\n", warning.c_str());
    }
  }
  const ComputeInfo info = model->compute_info(o.rows);
  std::string flags;
  for (const std::string& f : cpu_flags()) flags += (flags.empty() ? "" : " ") + f;
  std::printf("cpu flags: %s\n", flags.empty() ? "(none of avx2/avx512/amx)" : flags.c_str());
  std::printf("oneDNN: %s\n", onednn_version().c_str());
  std::printf("threads: %d\n", num_threads());
  std::printf("model: %s (%s)\n", dir.c_str(), head_class_name(model->head()));
  std::printf("requested: %s\n", info.requested.c_str());
  std::printf("compute: %s\n", info.compute.c_str());
  std::printf("weights held as: %s\n", dtype_name(model->weight_dtype()));
  if (!info.converted.empty()) {
    std::printf("converted: %s (rembert convert; stored weights packed as they are)\n", info.converted.c_str());
  }
  if (!info.fallback.empty()) std::printf("fallback: %s\n", info.fallback.c_str());
  std::printf("packed weights: %.1f MB\n", static_cast<double>(info.packed_bytes) / 1e6);
  for (const auto& [shape, impl] : info.kernels) {
    std::printf("linear %s x %lld rows: %s\n", shape.c_str(), static_cast<long long>(o.rows), impl.c_str());
  }
}

}  // namespace

Command add_info_command(CLI::App& app) {
  auto o = std::make_shared<InfoOptions>();
  CLI::App* cmd = app.add_subcommand("info", "CPU flags, compute path and oneDNN kernels of a model for a --dtype");
  cmd->add_option("--model", o->model, "Model folder, or hub id such as google/rembert")->required();
  cmd->add_option("--revision", o->revision, "Hub branch, tag or commit (default main)");
  cmd->add_option("--dtype", o->dtype,
                  "Compute path: float32, bfloat16, int8, auto, float16 (default: float32, or the dtype of a model "
                  "written by rembert convert)");
  cmd->add_option("--head", o->head, "Head to load (default: config architectures[0])");
  cmd->add_option("--rows", o->rows, "Rows (tokens) per product the implementations are reported for")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--threads", o->threads, "Threads (default: all cores)");
  return [o] { run_info(*o); };
}

}  // namespace rembert::cli
