// The pipeline commands: fill-mask, text-classification, token-classification, question-answering,
// feature-extraction, text-generation. Parameters are transformers' names in kebab-case; results are JSON on
// stdout, one value per input; messages go to stderr.
#include <cstdio>
#include <sstream>

#include "commands.h"
#include "pipeline_io.h"
#include "rembert/error.h"
#include "rembert/pipelines.h"

namespace rembert::cli {

namespace {

using nlohmann::json;

// A JSON input that must be a text: a string, or {"text": ...}.
std::string text_of(const json& input, const char* what = "a string") {
  if (input.is_string()) return input.get<std::string>();
  if (input.is_object() && input.contains("text") && input["text"].is_string()) return input["text"].get<std::string>();
  throw Error(std::string("expected ") + what + ", got " + input.dump());
}

}  // namespace

Command add_fill_mask_command(CLI::App& app) {
  struct Options {
    ModelOptions model;
    std::vector<std::string> texts, targets;
    int64_t top_k = 5;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("fill-mask", "Predict the [MASK] tokens of texts (RemBertForMaskedLM)");
  add_model_options(cmd, o->model);
  cmd->add_option("texts", o->texts, "Texts with [MASK] (none: JSON Lines on stdin)");
  cmd->add_option("--top-k", o->top_k, "Predictions per mask")->capture_default_str();
  cmd->add_option("--targets", o->targets, "Only rank these tokens");
  return [o] {
    PipelineModel pm = load_for_pipeline(o->model, HeadType::MaskedLM);
    for (const auto& name : pm.model->newly_initialized()) {
      if (name.rfind("cls.predictions.", 0) == 0) {
        print_warnings({"this checkpoint has no masked-LM head (google/rembert ships none): the head was initialised "
                        "randomly, so the predictions below are noise"});
        break;
      }
    }
    FillMaskOptions options{o->top_k, o->targets};
    for_each_input(o->texts, [&](const json& input) {
      std::vector<std::string> warnings;
      auto result = fill_mask(pm, text_of(input), options, &warnings);
      print_warnings(warnings);
      return to_json(result);
    });
  };
}

Command add_text_classification_command(CLI::App& app) {
  struct Options {
    ModelOptions model;
    std::vector<std::string> texts;
    std::string text_pair, function_to_apply, top_k;
    bool truncation = false;
    int64_t max_length = 0;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("text-classification", "Classify texts or text pairs (RemBertForSequenceClassification)");
  add_model_options(cmd, o->model);
  cmd->add_option("texts", o->texts, "Texts (none: JSON Lines on stdin: a string, {\"text\", \"text_pair\"} or [[text, pair]])");
  cmd->add_option("--text-pair", o->text_pair, "Second text of the pair, for every text given");
  cmd->add_option("--top-k", o->top_k, "Labels to return: a number, or 'all'; unset: the best label only (legacy)");
  cmd->add_option("--function-to-apply", o->function_to_apply, "sigmoid, softmax or none (default: from the config)");
  cmd->add_flag("--truncation", o->truncation, "Truncate to --max-length (or the tokenizer's maximum)");
  cmd->add_option("--max-length", o->max_length, "Maximum tokens with --truncation");
  return [o] {
    PipelineModel pm = load_for_pipeline(o->model, HeadType::SequenceClassification);
    TextClassificationOptions options;
    if (!o->top_k.empty()) {
      if (o->top_k == "all" || o->top_k == "None") {
        options.top_k = 0;
      } else {
        try {
          options.top_k = std::stoll(o->top_k);
        } catch (const std::exception&) {
          throw Error("--top-k: expected a number or 'all', got '" + o->top_k + "'");
        }
        if (*options.top_k < 1) throw Error("--top-k must be at least 1 (or 'all')");
      }
    }
    if (!o->function_to_apply.empty()) options.function_to_apply = classification_function_from_name(o->function_to_apply);
    options.truncation = o->truncation;
    if (o->max_length > 0) options.max_length = o->max_length;
    for_each_input(o->texts, [&](const json& input) {
      std::string text, pair;
      bool has_pair = !o->text_pair.empty();
      pair = o->text_pair;
      if (input.is_object() && input.contains("text")) {
        text = text_of(input);
        if (input.contains("text_pair")) {
          if (!input["text_pair"].is_string()) throw Error("text_pair must be a string");
          pair = input["text_pair"].get<std::string>();
          has_pair = true;
        }
      } else if (input.is_array()) {
        // transformers' legacy pair form [[text, pair]]; any other list is ambiguous (a list is a batch there).
        if (input.size() != 1 || !input[0].is_array() || input[0].size() != 2 || !input[0][0].is_string() ||
            !input[0][1].is_string()) {
          throw Error("the only list input accepted is the pair form [[text, text_pair]]; got " + input.dump());
        }
        text = input[0][0].get<std::string>();
        pair = input[0][1].get<std::string>();
        has_pair = true;
      } else {
        text = text_of(input, "a string, {\"text\", \"text_pair\"} or [[text, text_pair]]");
      }
      return to_json(text_classification(pm, text, has_pair ? &pair : nullptr, options));
    });
  };
}

Command add_token_classification_command(CLI::App& app) {
  struct Options {
    ModelOptions model;
    std::vector<std::string> texts;
    std::string aggregation = "none";
    std::string ignore_labels = "O";
    int64_t stride = 0;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("token-classification", "Label every token, e.g. named entities (RemBertForTokenClassification)");
  add_model_options(cmd, o->model);
  cmd->add_option("texts", o->texts, "Texts (none: JSON Lines on stdin)");
  cmd->add_option("--aggregation-strategy", o->aggregation, "none, simple, first, average or max")->capture_default_str();
  cmd->add_option("--ignore-labels", o->ignore_labels, "Comma-separated labels left out of the result ('' keeps all)")
      ->capture_default_str();
  cmd->add_option("--stride", o->stride, "Overlap of windows over long texts (fast tokenizer, aggregation other than none)");
  return [o] {
    PipelineModel pm = load_for_pipeline(o->model, HeadType::TokenClassification);
    TokenClassificationOptions options;
    options.aggregation_strategy = aggregation_strategy_from_name(o->aggregation);
    options.ignore_labels.clear();
    std::stringstream labels(o->ignore_labels);
    for (std::string label; std::getline(labels, label, ',');) {
      if (!label.empty()) options.ignore_labels.push_back(label);
    }
    options.stride = o->stride;
    for_each_input(o->texts, [&](const json& input) {
      std::vector<std::string> warnings;
      auto result = token_classification(pm, text_of(input), options, &warnings);
      print_warnings(warnings);
      return to_json(result);
    });
  };
}

Command add_question_answering_command(CLI::App& app) {
  struct Options {
    ModelOptions model;
    std::string question, context;
    QuestionAnsweringOptions qa;
    int64_t max_seq_len = 0, doc_stride = 0;
    std::string align_to_words = "true";
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("question-answering", "Extract the answer to a question from a context (RemBertForQuestionAnswering)");
  add_model_options(cmd, o->model);
  cmd->add_option("--question", o->question, "The question (with --context; none: JSON Lines {\"question\", \"context\"} on stdin)");
  cmd->add_option("--context", o->context, "The context to search");
  cmd->add_option("--top-k", o->qa.top_k, "Answers to return")->capture_default_str();
  cmd->add_option("--max-answer-len", o->qa.max_answer_len, "Longest answer, in tokens")->capture_default_str();
  cmd->add_option("--max-seq-len", o->max_seq_len, "Tokens per window (default min(model_max_length, 384))");
  cmd->add_option("--doc-stride", o->doc_stride, "Overlap of windows over long contexts (default min(max_seq_len/2, 128))");
  cmd->add_flag("--handle-impossible-answer", o->qa.handle_impossible_answer, "Let the empty answer compete");
  cmd->add_option("--align-to-words", o->align_to_words, "true or false")->capture_default_str();
  return [o] {
    PipelineModel pm = load_for_pipeline(o->model, HeadType::QuestionAnswering);
    QuestionAnsweringOptions options = o->qa;
    if (o->max_seq_len > 0) options.max_seq_len = o->max_seq_len;
    if (o->doc_stride > 0) options.doc_stride = o->doc_stride;
    if (o->align_to_words != "true" && o->align_to_words != "false") throw Error("--align-to-words: true or false");
    options.align_to_words = o->align_to_words == "true";
    auto answer = [&](const std::string& question, const std::string& context) {
      return to_json(question_answering(pm, question, context, options));
    };
    if (!o->question.empty() || !o->context.empty()) {
      std::printf("%s\n", answer(o->question, o->context).c_str());
      return;
    }
    for_each_input({}, [&](const json& input) {
      if (!input.is_object() || !input.contains("question") || !input.contains("context") ||
          !input["question"].is_string() || !input["context"].is_string()) {
        throw Error("expected {\"question\": ..., \"context\": ...}, got " + input.dump());
      }
      return answer(input["question"].get<std::string>(), input["context"].get<std::string>());
    });
  };
}

Command add_feature_extraction_command(CLI::App& app) {
  struct Options {
    ModelOptions model;
    std::vector<std::string> texts;
    std::string pooling = "none";
    bool normalize = false, truncation = false;
    int64_t max_length = 0;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("feature-extraction", "Token vectors (last hidden state) of texts (RemBertModel)");
  add_model_options(cmd, o->model);
  cmd->add_option("texts", o->texts, "Texts (none: JSON Lines on stdin)");
  cmd->add_option("--pooling", o->pooling, "none ([1][tokens][hidden], as transformers), cls or mean")->capture_default_str();
  cmd->add_flag("--normalize", o->normalize, "L2-normalise the vectors");
  cmd->add_flag("--truncation", o->truncation, "Truncate to --max-length");
  cmd->add_option("--max-length", o->max_length, "Maximum tokens with --truncation");
  return [o] {
    PipelineModel pm = load_for_pipeline(o->model, HeadType::Model);
    FeatureExtractionOptions options;
    options.pooling = pooling_from_name(o->pooling);
    options.normalize = o->normalize;
    options.truncation = o->truncation;
    if (o->max_length > 0) options.max_length = o->max_length;
    for_each_input(o->texts, [&](const json& input) {
      return to_json_features(feature_extraction(pm, text_of(input), options));
    });
  };
}

Command add_text_generation_command(CLI::App& app) {
  struct Options {
    ModelOptions model;
    std::vector<std::string> texts;
    std::string input_ids;
    bool json_output = false, no_full_text = false;
    int64_t max_new_tokens = 0, max_length = 0;
    GenerationOptions gen;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("text-generation", "Continue a prompt (RemBertForCausalLM)");
  add_model_options(cmd, o->model);
  cmd->add_option("texts", o->texts, "Prompts (none: JSON Lines on stdin)");
  cmd->add_option("--input-ids", o->input_ids, "Start from these token ids instead of text, e.g. 2,758,375");
  cmd->add_option("--max-new-tokens", o->max_new_tokens, "New tokens at most (default: max_length 20 minus the prompt)");
  cmd->add_option("--max-length", o->max_length, "Prompt plus new tokens at most");
  cmd->add_flag("--do-sample", o->gen.do_sample, "Sample instead of greedy decoding");
  cmd->add_option("--temperature", o->gen.temperature)->capture_default_str();
  cmd->add_option("--top-k", o->gen.top_k)->capture_default_str();
  cmd->add_option("--top-p", o->gen.top_p)->capture_default_str();
  cmd->add_option("--seed", o->gen.seed, "Seed of the sampler")->capture_default_str();
  cmd->add_flag("--no-return-full-text", o->no_full_text, "Print only the new text, not the prompt");
  cmd->add_flag("--json", o->json_output, "Print {\"generated_text\", \"generated_ids\"} at the end instead of streaming");
  return [o] {
    PipelineModel pm = load_for_pipeline(o->model, HeadType::CausalLM);
    if (!pm.model->config().is_decoder) {
      print_warnings({"If you want to use `RemBertForCausalLM` as a standalone, add `is_decoder=True.` (without it "
                      "every step re-encodes the whole sequence with bidirectional attention, as transformers does)"});
    }
    GenerationOptions options = o->gen;
    options.return_full_text = !o->no_full_text;
    if (o->max_new_tokens > 0) options.max_new_tokens = o->max_new_tokens;
    if (o->max_length > 0) options.max_length = o->max_length;

    auto run = [&](const std::string* prompt, const std::vector<int64_t>& ids) {
      if (o->json_output) {
        options.on_text = nullptr;
      } else {
        // Stream: the prompt first (unless --no-return-full-text), then each piece of text as tokens arrive.
        if (options.return_full_text) {
          DecodeOptions d;
          d.skip_special_tokens = true;
          std::fputs(prompt ? prompt->c_str() : pm.tokenizer->decode(ids, d).c_str(), stdout);
          std::fflush(stdout);
        }
        options.on_text = [](const std::string& piece) {
          std::fputs(piece.c_str(), stdout);
          std::fflush(stdout);
        };
      }
      GenerationResult r = prompt ? text_generation(pm, *prompt, options) : text_generation_from_ids(pm, ids, options);
      return o->json_output ? to_json(r) : std::string();  // streamed text: the caller ends the line
    };

    if (!o->input_ids.empty()) {
      std::vector<int64_t> ids;
      std::stringstream ss(o->input_ids);
      std::string item;
      while (std::getline(ss, item, ',')) {
        try {
          size_t used = 0;
          ids.push_back(std::stoll(item, &used));
          if (used != item.size()) throw std::invalid_argument(item);
        } catch (const std::exception&) {
          throw Error("--input-ids: '" + item + "' is not an integer (expected e.g. 2,758,375)");
        }
      }
      std::printf("%s\n", run(nullptr, ids).c_str());
      return;
    }
    for_each_input(o->texts, [&](const json& input) {
      const std::string prompt = text_of(input);
      return run(&prompt, {});
    });
  };
}

}  // namespace rembert::cli
