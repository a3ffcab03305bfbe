#include "pipeline_io.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "rembert/error.h"
#include "rembert/hub.h"

namespace rembert::cli {

void add_model_options(CLI::App* cmd, ModelOptions& o) {
  cmd->add_option("--model", o.model, "Model folder, or hub id such as google/rembert")->required();
  cmd->add_option("--revision", o.revision, "Hub branch, tag or commit (default main)");
  cmd->add_flag("--offline", o.offline, "Use the Hugging Face cache only (also HF_HUB_OFFLINE=1)");
  cmd->add_option("--dtype", o.dtype,
                  "Compute path: float32, bfloat16, int8, auto, float16 (default: float32, or the dtype of a model "
                  "written by rembert convert)");
  cmd->add_option("--threads", o.threads, "Threads (default: all cores)");
  add_tokenizer_choice(cmd, o.tokenizer);
}

void print_warnings(const std::vector<std::string>& warnings) {
  for (const auto& w : warnings) std::fprintf(stderr, "rembert: warning: %s\n", w.c_str());
}

PipelineModel load_for_pipeline(const ModelOptions& o, HeadType head) {
  const TokenizerKind tokenizer = o.tokenizer.kind();
  set_num_threads(o.threads);
  HubOptions hub;
  hub.revision = o.revision;
  if (o.offline) hub.offline = true;
  const std::string dir = resolve_model_for_task(o.model, hub);
  LoadOptions load;
  if (!o.dtype.empty()) load.dtype = weight_dtype_from_name(o.dtype);
  PipelineModel pm = load_pipeline_model(dir, head, load, tokenizer);
  print_warnings(pm.warnings);
  return pm;
}

void for_each_input(const std::vector<std::string>& texts,
                    const std::function<std::string(const nlohmann::json& input)>& run) {
  if (!texts.empty()) {
    for (const std::string& text : texts) {
      std::string out = run(nlohmann::json(text));
      std::printf("%s\n", out.c_str());
      std::fflush(stdout);
    }
    return;
  }
  const bool progress = isatty(STDERR_FILENO) != 0;
  std::string line;
  int64_t number = 0;
  while (std::getline(std::cin, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json input;
    try {
      input = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw Error("stdin line " + std::to_string(number) + ": not JSON (" + e.what() + ")");
    }
    std::string out;
    try {
      out = run(input);
    } catch (const Error& e) {
      throw Error("stdin line " + std::to_string(number) + ": " + e.what());
    }
    std::printf("%s\n", out.c_str());
    std::fflush(stdout);
    if (progress) std::fprintf(stderr, "\r%lld inputs done", static_cast<long long>(number));
  }
  if (progress && number > 0) std::fprintf(stderr, "\n");
}

}  // namespace rembert::cli
