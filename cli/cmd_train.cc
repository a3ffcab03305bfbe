// rembert train: fine-tune a model on a JSON Lines file (include/rembert/trainer.h).
#include <unistd.h>

#include <cstdio>

#include "commands.h"
#include "rembert/trainer.h"

namespace rembert::cli {

Command add_train_command(CLI::App& app) {
  auto o = std::make_shared<TrainerOptions>();
  auto dropout = std::make_shared<double>(-1.0);
  CLI::App* cmd = app.add_subcommand("train", "Fine-tune a model on a JSON Lines file; writes a Hugging Face folder");
  cmd->add_option("--model", o->model, "Model folder, or hub id such as google/rembert")->required();
  cmd->add_option("--revision", o->revision, "Hub branch, tag or commit (default main)");
  cmd->add_option("--task", o->task,
                  "text-classification, token-classification, question-answering, fill-mask, multiple-choice or "
                  "causal-lm")->required();
  cmd->add_option("--train", o->train_file, "Training data, JSON Lines")->required();
  cmd->add_option("--eval", o->eval_file, "Evaluation data, JSON Lines (metrics at --eval-steps and at the end)");
  cmd->add_option("--out", o->output_dir, "Output folder (config.json, model.safetensors, tokenizer, state)")
      ->required();
  cmd->add_option("--epochs", o->epochs, "Epochs (default 3; ignored with --max-steps)");
  cmd->add_option("--max-steps", o->max_steps, "Updates to run (overrides --epochs)");
  cmd->add_option("--batch-size", o->batch_size, "Rows per batch (default 8; the most rows with --max-tokens-per-batch)");
  cmd->add_option("--max-tokens-per-batch", o->max_tokens_per_batch,
                  "Length-bucketed batches of at most this many tokens (rows x longest row)");
  cmd->add_option("--max-length", o->max_length, "Longest row in tokens (default 512, QA 384)");
  cmd->add_flag("--drop-long-rows", o->drop_long_rows, "Drop rows longer than --max-length instead of truncating");
  cmd->add_option("--lr", o->lr, "Peak learning rate (default 5e-5)");
  cmd->add_option("--schedule", o->schedule, "linear, cosine, constant or constant_with_warmup (default linear)");
  cmd->add_option("--warmup-ratio", o->warmup_ratio, "Warmup as a fraction of the updates (default 0)");
  cmd->add_option("--warmup-steps", o->warmup_steps, "Warmup updates (overrides --warmup-ratio)");
  cmd->add_option("--weight-decay", o->weight_decay, "AdamW weight decay, not on biases and LayerNorm (default 0)");
  cmd->add_option("--adam-beta1", o->adam_beta1, "AdamW beta1 (default 0.9)");
  cmd->add_option("--adam-beta2", o->adam_beta2, "AdamW beta2 (default 0.999)");
  cmd->add_option("--adam-eps", o->adam_eps, "AdamW eps (default 1e-8)");
  cmd->add_option("--max-grad-norm", o->max_grad_norm, "Clip the gradient norm (default 1.0; 0: off)");
  cmd->add_option("--gradient-accumulation-steps", o->gradient_accumulation_steps, "Batches per update (default 1)");
  cmd->add_option("--dropout", *dropout, "Hidden, attention and classifier dropout (default: the config's)");
  cmd->add_option("--seed", o->seed, "Seed of batch order, masking, dropout and new weights (default 42)");
  cmd->add_option("--eval-steps", o->eval_steps, "Evaluate every N updates");
  cmd->add_option("--save-steps", o->save_steps, "Write OUT/checkpoint-N every N updates");
  cmd->add_option("--logging-steps", o->logging_steps, "A log line every N updates (default 50)");
  cmd->add_option("--threads", o->threads, "Threads (default: all cores)");
  auto bf16 = std::make_shared<bool>(false);
  cmd->add_flag("--bf16", *bf16,
                "Mixed precision: Linear products with bfloat16 inputs and float32 sums (AVX512-BF16 / AMX); "
                "weights, gradients and optimizer state stay float32. Float32 where the CPU has no bfloat16 matmul");
  cmd->add_option("--resume", o->resume, "Continue from OUT/checkpoint-N (same options)");
  return [o, dropout, bf16] {
    if (*dropout >= 0) o->dropout = *dropout;
    if (*bf16) o->precision = TrainPrecision::BFloat16;
    o->progress_bar = isatty(STDERR_FILENO) != 0;
    train_model(*o);
  };
}

}  // namespace rembert::cli
