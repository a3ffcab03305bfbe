// Subcommands of the `rembert` tool. Each registers its options on the app and returns the function to run.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

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

}  // namespace rembert::cli
