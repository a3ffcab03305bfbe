// rembert: the command-line tool. Every failure prints one line naming what was wrong and exits 1; no crash.
#include <cstdio>
#include <exception>
#include <map>
#include <string>

#include "commands.h"
#include "rembert/error.h"

int main(int argc, char** argv) {
  CLI::App app{"rembert: Google's RemBERT models, as Hugging Face transformers runs them, in C++"};
  app.require_subcommand(1);
  std::map<CLI::App*, rembert::cli::Command> commands;
  auto add = [&](rembert::cli::Command (*make)(CLI::App&)) {
    const size_t before = app.get_subcommands({}).size();
    rembert::cli::Command run = make(app);
    commands[app.get_subcommands({})[before]] = run;
  };
  add(rembert::cli::add_forward_command);
  add(rembert::cli::add_init_random_command);
  add(rembert::cli::add_tokenize_command);
  add(rembert::cli::add_decode_command);
  add(rembert::cli::add_fill_mask_command);
  add(rembert::cli::add_text_classification_command);
  add(rembert::cli::add_token_classification_command);
  add(rembert::cli::add_question_answering_command);
  add(rembert::cli::add_feature_extraction_command);
  add(rembert::cli::add_text_generation_command);
  add(rembert::cli::add_bench_command);
  add(rembert::cli::add_info_command);
  add(rembert::cli::add_convert_command);
  add(rembert::cli::add_optimize_command);
  add(rembert::cli::add_train_command);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    for (auto& [sub, run] : commands) {
      if (sub->parsed()) run();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rembert: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
