// Subcommands of the `rembert` tool. Each registers its options on the app and returns the function to run.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace rembert::cli {

using Command = std::function<void()>;

Command add_forward_command(CLI::App& app);
Command add_init_random_command(CLI::App& app);

}  // namespace rembert::cli
