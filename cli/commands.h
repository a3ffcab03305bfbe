// Subcommands of the `rembert` tool. Each registers its options on the app and returns the function to run.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>

#include "rembert/model.h"

namespace rembert::cli {

using Command = std::function<void()>;

Command add_forward_command(CLI::App& app);
Command add_init_random_command(CLI::App& app);
Command add_tokenize_command(CLI::App& app);
Command add_decode_command(CLI::App& app);
Command add_fill_mask_command(CLI::App& app);
Command add_text_classification_command(CLI::App& app);
Command add_token_classification_command(CLI::App& app);
Command add_question_answering_command(CLI::App& app);
Command add_feature_extraction_command(CLI::App& app);
Command add_text_generation_command(CLI::App& app);
Command add_bench_command(CLI::App& app);
Command add_info_command(CLI::App& app);
Command add_convert_command(CLI::App& app);
Command add_optimize_command(CLI::App& app);
Command add_train_command(CLI::App& app);

// The model of --model (a folder or hub id, at --revision) for --head (empty: the config's) with --dtype, as the
// forward and info commands load it (config and weights of a hub snapshot); `dir` receives the folder it came from.
std::shared_ptr<const Model> load_model(const std::string& model, const std::string& revision,
                                        const std::string& dtype, const std::string& head, std::string* dir = nullptr);

// The forward arguments of a safetensors file, by transformers' argument names (input_ids, attention_mask, ...,
// past_key_values.<layer>.<key|value>); unknown names are an error. A file with "in.<argument>" tensors (the
// training fixtures) gives those and nothing else.
ForwardInputs read_forward_inputs(const std::string& path, size_t num_layers);

}  // namespace rembert::cli
