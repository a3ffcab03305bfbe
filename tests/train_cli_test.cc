// `rembert train` end to end on the trained LM (tests/fixtures/trained/lm) and small JSON Lines files
// (tests/fixtures/train): every task trains, evaluates with its metrics and writes a Hugging Face folder that our
// model loader and pipelines read; --resume continues bit for bit; bad rows are errors naming file and line.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "rembert/model.h"
#include "rembert/pipelines.h"
#include "rembert/safetensors.h"
#include "test_util.h"

namespace rembert {
namespace {

using nlohmann::json;
using testing::fixture_path;
using testing::run_cli;
using testing::scratch_dir;

std::string train_args(const std::string& task, const std::string& train, const std::string& eval,
                       const std::string& out, int steps) {
  return "train --threads 2 --model " + fixture_path("trained/lm") + " --task " + task + " --train " +
         fixture_path("train/" + train) + (eval.empty() ? "" : " --eval " + fixture_path("train/" + eval)) +
         " --out " + out + " --max-steps " + std::to_string(steps) + " --batch-size 8 --lr 5e-4 --seed 3";
}

json read_json(const std::string& path) { return json::parse(testing::read_file(path)); }

struct TaskCase {
  std::string task, train, architecture;
  std::vector<std::string> metrics;
};

class TrainTask : public ::testing::TestWithParam<TaskCase> {};

TEST_P(TrainTask, TrainsEvaluatesAndWritesAModelFolderThatLoads) {
  const TaskCase& c = GetParam();
  const std::string out = scratch_dir() + "train_" + c.task;
  const testing::RunResult run = run_cli(train_args(c.task, c.train, c.train, out, 3));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_CONTAINS(run.err, "update 3/3");
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "sentencepiece.model",
                        "optimizer.safetensors", "trainer_state.json", "eval_results.json"}) {
    EXPECT_TRUE(std::filesystem::exists(out + "/" + f)) << f;
  }
  const json config = read_json(out + "/config.json");
  EXPECT_EQ(config["architectures"][0], c.architecture);
  const json eval = read_json(out + "/eval_results.json");
  EXPECT_TRUE(eval.contains("eval_loss")) << eval.dump();
  for (const auto& m : c.metrics) EXPECT_TRUE(eval.contains(m)) << m << " in " << eval.dump();
  // The saved weights are the head's state dict: Model::load takes them without a warning of new weights.
  auto model = Model::load(out);
  EXPECT_TRUE(model->newly_initialized().empty());
}

INSTANTIATE_TEST_SUITE_P(
    Tasks, TrainTask,
    ::testing::Values(
        TaskCase{"text-classification", "langid4_train.jsonl", "RemBertForSequenceClassification",
                 {"accuracy", "macro_f1"}},
        TaskCase{"token-classification", "ner.jsonl", "RemBertForTokenClassification",
                 {"precision", "recall", "f1", "accuracy"}},
        TaskCase{"question-answering", "squad.jsonl", "RemBertForQuestionAnswering", {"exact_match", "f1"}},
        TaskCase{"fill-mask", "text.jsonl", "RemBertForMaskedLM", {"perplexity"}},
        TaskCase{"multiple-choice", "mc.jsonl", "RemBertForMultipleChoice", {"accuracy"}},
        TaskCase{"causal-lm", "text.jsonl", "RemBertForCausalLM", {"perplexity"}}),
    [](const auto& test) {
      std::string name = test.param.task;
      for (char& ch : name) ch = ch == '-' ? '_' : ch;
      return name;
    });

// A classifier of four languages from the LM's encoder: it must actually learn (held-out accuracy well above the
// 25% of chance), its labels are the file's names, and the text-classification pipeline reads the folder.
TEST(TrainCli, LearnsALanguageClassifierThatThePipelineLoads) {
  const std::string out = scratch_dir() + "train_langid4";
  const testing::RunResult run =
      run_cli(train_args("text-classification", "langid4_train.jsonl", "langid4_eval.jsonl", out, 30) +
              " --warmup-ratio 0.1 --weight-decay 0.01 --dropout 0.1");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const json eval = read_json(out + "/eval_results.json");
  EXPECT_GT(eval["accuracy"].get<double>(), 0.8) << eval.dump();
  const json config = read_json(out + "/config.json");
  EXPECT_EQ(config["id2label"], (json{{"0", "de"}, {"1", "el"}, {"2", "ja"}, {"3", "ru"}}));
  EXPECT_EQ(config["problem_type"], "single_label_classification");
  EXPECT_DOUBLE_EQ(config["hidden_dropout_prob"].get<double>(), 0.1);
  const testing::RunResult pipe = run_cli("text-classification --model " + out + " \"Καλημέρα σας\"");
  ASSERT_EQ(pipe.exit_code, 0) << pipe.output;
  EXPECT_CONTAINS(pipe.out, "\"label\": \"el\"");
}

// Four updates straight, or two more after --resume from the checkpoint at update 2: the same bytes.
TEST(TrainCli, ResumeContinuesBitForBit) {
  const std::string straight = scratch_dir() + "train_straight", split = scratch_dir() + "train_resumed";
  const std::string args = " --dropout 0.1 --warmup-steps 1 --weight-decay 0.01";
  ASSERT_EQ(run_cli(train_args("fill-mask", "text.jsonl", "", straight, 4) + args).exit_code, 0);
  const std::string saved = scratch_dir() + "train_saved";
  ASSERT_EQ(run_cli(train_args("fill-mask", "text.jsonl", "", saved, 4) + args + " --save-steps 2").exit_code, 0);
  const testing::RunResult resumed = run_cli(train_args("fill-mask", "text.jsonl", "", split + "_c", 4) + args +
                                             " --resume " + saved + "/checkpoint-2");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_CONTAINS(resumed.err, "resumed at update 2");
  // Another run's checkpoint (here: two batches per update) is refused, naming the difference.
  const testing::RunResult refused = run_cli(train_args("fill-mask", "text.jsonl", "", split + "_d", 4) + args +
                                             " --gradient-accumulation-steps 2 --resume " + saved + "/checkpoint-2");
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_CONTAINS(refused.err, "other options");
  const SafetensorsFile a = read_safetensors(straight + "/model.safetensors");
  const SafetensorsFile b = read_safetensors(split + "_c/model.safetensors");
  testing::expect_same_tensors(b.tensors, a.tensors);
  const SafetensorsFile ma = read_safetensors(straight + "/optimizer.safetensors");
  const SafetensorsFile mb = read_safetensors(split + "_c/optimizer.safetensors");
  testing::expect_same_tensors(mb.tensors, ma.tensors);
}

TEST(TrainCli, BadRowsAndOptionsAreErrorsNamingTheirPlace) {
  const std::string bad = scratch_dir() + "bad_train.jsonl";
  testing::write_file(bad, "{\"text\": \"ok\", \"label\": \"a\"}\n{\"text\": 3, \"label\": \"b\"}\n");
  testing::RunResult r = run_cli("train --model " + fixture_path("trained/lm") +
                                 " --task text-classification --train " + bad + " --out " + scratch_dir() + "bad_out");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_CONTAINS(r.err, bad + ":2: field 'text'");
  r = run_cli("train --model " + fixture_path("trained/lm") + " --task translation --train " + bad + " --out x");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_CONTAINS(r.err, "translation");
  r = run_cli(train_args("text-classification", "langid4_train.jsonl", "", scratch_dir() + "bad_out2", 1) +
              " --dropout 1.5");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_CONTAINS(r.err, "--dropout");
}

}  // namespace
}  // namespace rembert
