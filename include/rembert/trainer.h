// Fine-tuning end to end (`rembert train`): a Hugging Face model folder or hub id, a JSON Lines training file and
// a task in; checkpoints in the Hugging Face layout out, which transformers' from_pretrained, our pipelines and our
// server load. The defaults are the HF Trainer's (TrainingArguments).
//
//   rembert::TrainerOptions o;
//   o.model = "tests/fixtures/trained/lm";  o.task = "text-classification";
//   o.train_file = "train.jsonl";  o.output_dir = "out";
//   rembert::TrainerResult r = rembert::train_model(o);
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "rembert/train.h"

namespace rembert {

struct TrainerOptions {
  std::string model, revision;  // folder or hub id (and its revision)
  // text-classification | token-classification | question-answering | fill-mask | multiple-choice | causal-lm
  std::string task;
  std::string train_file, eval_file, output_dir;

  double epochs = 3.0;         // ignored when max_steps > 0
  int64_t max_steps = -1;
  int64_t batch_size = 8;      // rows per batch; with max_tokens_per_batch, the most rows of a batch
  // > 0: length-bucketed batches (shuffle, sort by length in chunks of 20,000, cut at this many tokens = rows x
  // longest row, or batch_size rows), as the langid recipe; 0: fixed batches of batch_size shuffled rows.
  int64_t max_tokens_per_batch = 0;
  int64_t max_length = 0;      // longest row in tokens (0: 512, 384 for QA; at most max_position_embeddings)
  bool drop_long_rows = false; // drop rows longer than max_length instead of truncating them
  double lr = 5e-5;
  std::string schedule = "linear";   // linear | cosine | constant | constant_with_warmup
  double warmup_ratio = 0.0;
  int64_t warmup_steps = -1;         // >= 0 overrides warmup_ratio
  double weight_decay = 0.0;         // not on biases and LayerNorm weights (the HF Trainer's groups)
  double adam_beta1 = 0.9, adam_beta2 = 0.999, adam_eps = 1e-8;
  double max_grad_norm = 1.0;        // 0: no clipping
  int64_t gradient_accumulation_steps = 1;
  std::optional<double> dropout;     // sets hidden, attention and classifier dropout; unset: the config's
  uint64_t seed = 42;
  double mlm_probability = 0.15;
  int64_t eval_steps = 0;            // evaluate every N updates (and at the end) when an eval file is given
  int64_t save_steps = 0;            // write output_dir/checkpoint-N every N updates
  int64_t logging_steps = 50;
  int threads = 0;
  TrainPrecision precision = TrainPrecision::Float32;  // BFloat16: mixed precision (the HF Trainer's --bf16)
  std::string resume;                // a checkpoint-N folder of an earlier run with the same options
  bool progress_bar = false;         // a one-line bar redrawn in place (for terminals); else log lines
};

struct TrainerResult {
  int64_t steps = 0;             // updates done in total (including those before a resume)
  double train_seconds = 0;      // wall time of the updates of this run
  int64_t train_tokens = 0;      // real (non-padding) tokens of this run's batches
  double last_loss = 0;          // mean training loss over the last logging window
  std::map<std::string, double> eval;  // final evaluation: eval_loss and the task's metrics
};

// `log` receives every progress/log line (default: standard error).
TrainerResult train_model(const TrainerOptions& options,
                          const std::function<void(const std::string&)>& log = nullptr);

// The final evaluation of train_model alone: options.model (a fine-tuned folder or hub id, its labels from its
// config.json) on options.eval_file for options.task. Reads task, model, revision, eval_file, batch_size,
// max_length, drop_long_rows, mlm_probability, seed and threads. Returns eval_loss and the task's metrics.
std::map<std::string, double> evaluate_model(const TrainerOptions& options);

}  // namespace rembert
