// rembert train: data -> batches -> (forward, backward, clip, AdamW) per update -> evaluation and checkpoints in
// the Hugging Face layout. Everything random (batch order, masking, dropout) is a function of the seed and the
// update number, so a run resumed from a checkpoint continues bit for bit.
#include "rembert/trainer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/random.h"
#include "kernels/threads.h"
#include "rembert/error.h"
#include "rembert/hub.h"
#include "rembert/safetensors.h"
#include "rembert/tokenizer.h"
#include "rembert/train.h"
#include "train/batching.h"
#include "train/data.h"
#include "train/evaluate.h"
#include "train/optimizer.h"
#include "train/parameter_slots.h"
#include "train/schedule.h"

namespace rembert {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using train::Task;

HeadType head_of(Task task) {
  switch (task) {
    case Task::TextClassification: return HeadType::SequenceClassification;
    case Task::TokenClassification: return HeadType::TokenClassification;
    case Task::QuestionAnswering: return HeadType::QuestionAnswering;
    case Task::FillMask: return HeadType::MaskedLM;
    case Task::MultipleChoice: return HeadType::MultipleChoice;
    case Task::CausalLM: return HeadType::CausalLM;
  }
  return HeadType::Model;
}

// The config of the fine-tuned model: the head's class, the training file's labels, the dropout asked for.
RemBertConfig training_config(RemBertConfig c, Task task, const train::Dataset& data, const TrainerOptions& o) {
  c.architectures = {head_class_name(head_of(task))};
  if (task == Task::TextClassification || task == Task::TokenClassification) {
    c.id2label.clear();
    c.label2id.clear();
    for (size_t i = 0; i < data.labels.id2label.size(); ++i) {
      c.id2label[static_cast<int64_t>(i)] = data.labels.id2label[i];
      c.label2id[data.labels.id2label[i]] = static_cast<int64_t>(i);
    }
    if (task == Task::TextClassification) c.problem_type = train::problem_type_name(data.labels.problem);
  }
  if (task == Task::QuestionAnswering) c.set_num_labels(2);
  if (task == Task::CausalLM) c.is_decoder = true;  // RemBertForCausalLM is a decoder (causal mask)
  if (o.dropout) {
    c.hidden_dropout_prob = c.attention_probs_dropout_prob = c.classifier_dropout_prob = *o.dropout;
  }
  c.torch_dtype = "float32";
  return c;
}

const char* const kTokenizerFiles[] = {"tokenizer.json", "sentencepiece.model", "tokenizer_config.json",
                                       "special_tokens_map.json", "added_tokens.json"};

// A Hugging Face model folder (config.json, model.safetensors, the tokenizer files) plus, for resuming, the
// optimizer's moments and the trainer's state.
void save_checkpoint(const std::string& dir, const RemBertConfig& config, const TrainableModel& model,
                     const train::AdamW& optimizer, const json& state, const std::string& tokenizer_dir) {
  fs::create_directories(dir);
  config.to_json_file(dir + "/config.json");
  write_safetensors(dir + "/model.safetensors", model.state_dict(), {{"format", "pt"}});
  for (const char* name : kTokenizerFiles) {
    const fs::path from = fs::path(tokenizer_dir) / name;
    if (fs::exists(from)) fs::copy_file(from, fs::path(dir) / name, fs::copy_options::overwrite_existing);
  }
  optimizer.save(dir + "/optimizer.safetensors");
  std::ofstream(dir + "/trainer_state.json") << state.dump(2) << "\n";
}

std::string format_seconds(double s) {
  char buf[32];
  const int total = static_cast<int>(std::lround(std::max(0.0, s)));
  std::snprintf(buf, sizeof buf, "%d:%02d:%02d", total / 3600, total / 60 % 60, total % 60);
  return buf;
}

// What makes a resumed run the same run: it must match the checkpoint's record.
json run_identity(const TrainerOptions& o, int64_t total_steps) {
  return {{"task", o.task}, {"train_file_rows", nullptr}, {"seed", o.seed}, {"batch_size", o.batch_size},
          {"max_tokens_per_batch", o.max_tokens_per_batch}, {"gradient_accumulation_steps", o.gradient_accumulation_steps},
          {"total_steps", total_steps}, {"lr", o.lr}, {"schedule", o.schedule}};
}

// How rows become features: the length limit (the task's default, at most the model's positions) and QA windows.
train::DataOptions data_options_for(const TrainerOptions& o, Task task, const RemBertConfig& config) {
  train::DataOptions d;
  const int64_t task_default = task == Task::QuestionAnswering ? 384 : 512;
  d.max_length = std::min(o.max_length > 0 ? o.max_length : task_default, config.max_position_embeddings);
  d.drop_long_rows = o.drop_long_rows;
  // run_qa's default stride is a third of its 384-token windows.
  d.doc_stride = std::min<int64_t>(128, d.max_length / 3);
  return d;
}

// The label map a fine-tuned model was trained with, from its config (evaluation without the training file).
train::LabelMap label_map_of(const RemBertConfig& c, Task task) {
  train::LabelMap map;
  if (task == Task::TextClassification) {
    // transformers' inference when the config names none: one label is a regression.
    map.problem = train::problem_type_from_name(
        c.problem_type.value_or(c.num_labels() == 1 ? "regression" : "single_label_classification"));
  }
  map.from_names = true;
  for (const auto& [id, name] : c.id2label) {
    if (id != static_cast<int64_t>(map.id2label.size())) {
      throw Error("config.json: id2label is not 0..n-1 (id " + std::to_string(id) + ")");
    }
    map.id2label.push_back(name);
    map.label2id[name] = id;
  }
  return map;
}

}  // namespace

std::map<std::string, double> evaluate_model(const TrainerOptions& o) {
  if (o.eval_file.empty()) throw Error("evaluate: an eval file is required");
  if (o.batch_size < 1) throw Error("evaluate: --batch-size must be at least 1");
  set_num_threads(o.threads);
  kernels::prepare_compute_thread();
  const Task task = train::task_from_name(o.task);
  HubOptions hub;
  hub.revision = o.revision;
  const std::string dir = resolve_model_for_task(o.model, hub, ModelParts{true, true, true});
  const RemBertConfig config = RemBertConfig::from_json_file(dir + "/config.json");
  std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(dir);
  train::DataOptions data_options = data_options_for(o, task, config);
  data_options.keep_qa_offsets = true;
  train::LabelMap labels;
  if (task == Task::TextClassification || task == Task::TokenClassification) {
    labels = label_map_of(config, task);
    data_options.labels = &labels;
  }
  const train::Dataset data = train::read_dataset(o.eval_file, task, *tokenizer, data_options);
  LoadOptions load;
  load.head = head_of(task);
  load.init_seed = o.seed;
  auto model = Model::load(dir, load);
  const int64_t mask_id = tokenizer->mask_token_id();
  if (task == Task::FillMask && mask_id < 0) throw Error(dir + ": the tokenizer has no mask token");
  return train::evaluate(*model, data, o.batch_size, config.pad_token_id.value_or(0), mask_id, o.mlm_probability,
                         o.seed);
}

TrainerResult train_model(const TrainerOptions& o, const std::function<void(const std::string&)>& log_fn) {
  auto log = [&](const std::string& line) {
    if (log_fn) {
      log_fn(line);
    } else {
      std::fprintf(stderr, "%s\n", line.c_str());
    }
  };
  if (o.output_dir.empty()) throw Error("train: --out is required");
  if (o.batch_size < 1) throw Error("train: --batch-size must be at least 1");
  if (o.gradient_accumulation_steps < 1) throw Error("train: --gradient-accumulation-steps must be at least 1");
  if (!(o.lr >= 0)) throw Error("train: --lr must be >= 0");
  if (o.dropout && !(*o.dropout >= 0 && *o.dropout < 1)) throw Error("train: --dropout must be in [0, 1)");
  set_num_threads(o.threads);
  kernels::prepare_compute_thread();
  const Task task = train::task_from_name(o.task);

  // ---- model folder, tokenizer, data
  HubOptions hub;
  hub.revision = o.revision;
  const std::string source_dir = resolve_model_for_task(o.model, hub, ModelParts{true, true, true});
  const std::string weights_dir = o.resume.empty() ? source_dir : o.resume;
  RemBertConfig config = RemBertConfig::from_json_file(source_dir + "/config.json");
  std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(source_dir);
  train::DataOptions data_options = data_options_for(o, task, config);
  data_options.keep_qa_offsets = false;
  const auto t_data = std::chrono::steady_clock::now();
  const train::Dataset train_data = train::read_dataset(o.train_file, task, *tokenizer, data_options);
  std::optional<train::Dataset> eval_data;
  if (!o.eval_file.empty()) {
    train::DataOptions eval_options = data_options;
    eval_options.keep_qa_offsets = true;
    if (task == Task::TextClassification || task == Task::TokenClassification) eval_options.labels = &train_data.labels;
    eval_data = train::read_dataset(o.eval_file, task, *tokenizer, eval_options);
  }
  config = training_config(config, task, train_data, o);
  const int64_t pad_id = config.pad_token_id.value_or(0);
  const int64_t mask_id = tokenizer->mask_token_id();
  if (task == Task::FillMask && mask_id < 0) throw Error(source_dir + ": the tokenizer has no mask token");

  // ---- model and optimizer
  TrainableLoadOptions load;
  load.head = head_of(task);
  load.init_seed = o.seed;
  load.precision = o.precision;
  std::unique_ptr<TrainableModel> model;
  {
    const Checkpoint checkpoint = load_checkpoint(weights_dir);
    model = TrainableModel::from_tensors(config, checkpoint.tensors, load, weights_dir);
  }
  for (const auto& w : model->warnings()) log("rembert: warning: " + w);
  if (const ComputeInfo info = model->compute_info(); !info.fallback.empty()) {
    log("rembert: warning: " + info.requested + " products requested, " + info.compute + " used: " + info.fallback);
  }
  std::vector<train::ParamSlot> slots = train::parameter_slots(*model, true);
  train::AdamWOptions adam;
  adam.lr = o.lr;
  adam.beta1 = o.adam_beta1;
  adam.beta2 = o.adam_beta2;
  adam.eps = o.adam_eps;
  adam.weight_decay = o.weight_decay;
  train::AdamW optimizer(slots, adam);

  // ---- the whole run's batches, drawn epoch by epoch from one seeded generator (the langid recipe's order)
  const std::vector<int64_t> lengths = train_data.lengths();
  const int64_t n = static_cast<int64_t>(lengths.size());
  train::PyRandom rng(o.seed);
  auto epoch_batches = [&] {
    return o.max_tokens_per_batch > 0
               ? train::make_batches(lengths, rng, o.max_tokens_per_batch, o.batch_size, 20000)
               : train::fixed_batches(n, o.batch_size, &rng);
  };
  std::vector<std::vector<int64_t>> plan = epoch_batches();
  const int64_t accum = o.gradient_accumulation_steps;
  const int64_t per_epoch = std::max<int64_t>(static_cast<int64_t>(plan.size()) / accum, 1);
  const int64_t total_steps =
      o.max_steps > 0 ? o.max_steps : static_cast<int64_t>(std::ceil(o.epochs * static_cast<double>(per_epoch)));
  if (total_steps < 1) throw Error("train: no updates to run (--epochs or --max-steps)");
  while (static_cast<int64_t>(plan.size()) < total_steps * accum) {
    std::vector<std::vector<int64_t>> more = epoch_batches();
    plan.insert(plan.end(), more.begin(), more.end());
  }
  train::Schedule schedule;
  schedule.kind = train::schedule_from_name(o.schedule);
  schedule.total_steps = total_steps;
  schedule.warmup_steps = o.warmup_steps >= 0 ? o.warmup_steps : train::warmup_steps_from_ratio(o.warmup_ratio, total_steps);

  json identity = run_identity(o, total_steps);
  identity["train_file_rows"] = train_data.rows;
  json history = json::array();
  int64_t step = 0;
  if (!o.resume.empty()) {
    std::ifstream in(o.resume + "/trainer_state.json");
    if (!in) throw Error(o.resume + ": no trainer_state.json (not a checkpoint of rembert train)");
    const json state = json::parse(in);
    if (state.value("run", json()) != identity) {
      throw Error(o.resume + "/trainer_state.json: the checkpoint was made by a run with other options " +
                  state.value("run", json()).dump() + "; resume with the same ones " + identity.dump());
    }
    optimizer.load(o.resume + "/optimizer.safetensors");
    step = state.at("global_step").get<int64_t>();
    history = state.value("log_history", json::array());
    if (optimizer.steps_taken() != step) {
      throw Error(o.resume + ": optimizer.safetensors holds " + std::to_string(optimizer.steps_taken()) +
                  " steps, trainer_state.json " + std::to_string(step));
    }
  }
  log("train: " + std::to_string(train_data.features.size()) + " rows of " + o.train_file +
      (train_data.dropped ? " (" + std::to_string(train_data.dropped) + " longer than " +
                                std::to_string(data_options.max_length) + " tokens dropped)" : "") +
      ", " + std::to_string(total_steps) + " updates of " + std::to_string(accum) + " batch(es), " +
      std::to_string(schedule.warmup_steps) + " warmup, " + std::to_string(kernels::compute_threads()) +
      " threads; data read in " +
      std::to_string(std::chrono::duration<double>(std::chrono::steady_clock::now() - t_data).count()).substr(0, 5) +
      " s" + (step ? "; resumed at update " + std::to_string(step) : ""));

  auto state_json = [&](int64_t at) {
    return json{{"global_step", at}, {"run", identity}, {"log_history", history}};
  };
  auto run_eval = [&](int64_t at) {
    std::map<std::string, double> metrics;
    if (!eval_data) return metrics;
    auto inference = Model::from_tensors(config, model->state_dict(), LoadOptions{}, "the model in training");
    metrics = train::evaluate(*inference, *eval_data, o.batch_size, pad_id, mask_id, o.mlm_probability, o.seed);
    std::string line = "eval  update " + std::to_string(at);
    json entry = {{"step", at}};
    for (const auto& [k, v] : metrics) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "  %s %.4f", k.c_str(), v);
      line += buf;
      entry["eval_" + (k.rfind("eval_", 0) == 0 ? k.substr(5) : k)] = v;
    }
    history.push_back(entry);
    log(line);
    return metrics;
  };

  // ---- the updates
  TrainerResult result;
  train::MlmOptions mlm{mask_id, config.vocab_size, o.mlm_probability};
  const auto t0 = std::chrono::steady_clock::now();
  double window_loss = 0;
  int64_t window_n = 0, window_tokens = 0;
  auto window_start = t0;
  const int64_t first_step = step;
  for (; step < total_steps; ++step) {
    model->zero_grad();
    double step_loss = 0;
    for (int64_t micro = 0; micro < accum; ++micro) {
      const uint64_t index = static_cast<uint64_t>(step * accum + micro);
      train::Batch batch = train::collate(train_data, plan[static_cast<size_t>(index)], pad_id);
      if (task == Task::FillMask) {
        train::PyRandom mask_rng(splitmix64(o.seed ^ splitmix64(index + 1)));
        train::mask_tokens(batch, mask_rng, mlm);
      }
      TrainStepOptions so;
      so.dropout = true;
      so.dropout_seed = splitmix64(o.seed + 0x5bd1e995ull * (index + 1));
      so.loss_scale = 1.0f / static_cast<float>(accum);
      const TrainStepOutputs out = model->forward_backward(train::forward_inputs(batch), so);
      step_loss += out.loss.to_f32_vector()[0] / static_cast<double>(accum);
      window_tokens += batch.real_tokens;
      result.train_tokens += batch.real_tokens;
    }
    if (o.max_grad_norm > 0) train::clip_grad_norm(slots, o.max_grad_norm);
    const double lr = schedule.lr(o.lr, step);
    optimizer.step(lr);
    window_loss += step_loss;
    ++window_n;

    const int64_t done = step + 1;
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - t0).count();
    const double eta = elapsed / static_cast<double>(done - first_step) * static_cast<double>(total_steps - done);
    const double window_s = std::chrono::duration<double>(now - window_start).count();
    char line[256];
    auto describe = [&](double loss, double tokens_per_s) {
      std::snprintf(line, sizeof line, "update %lld/%lld  loss %.4f  lr %.3e  %.0f tokens/s  elapsed %s  eta %s",
                    static_cast<long long>(done), static_cast<long long>(total_steps), loss, lr, tokens_per_s,
                    format_seconds(elapsed).c_str(), format_seconds(eta).c_str());
    };
    if (o.progress_bar) {
      const int width = 24, filled = static_cast<int>(width * done / total_steps);
      describe(step_loss, static_cast<double>(window_tokens) / std::max(window_s, 1e-9));
      std::fprintf(stderr, "\r[%s%s] %s\033[K", std::string(static_cast<size_t>(filled), '#').c_str(),
                   std::string(static_cast<size_t>(width - filled), '.').c_str(), line);
      std::fflush(stderr);
    }
    if ((o.logging_steps > 0 && done % o.logging_steps == 0) || done == total_steps) {
      result.last_loss = window_loss / static_cast<double>(window_n);
      describe(result.last_loss, static_cast<double>(window_tokens) / std::max(window_s, 1e-9));
      if (o.progress_bar) std::fprintf(stderr, "\r\033[K");
      log(line);
      history.push_back({{"step", done}, {"loss", result.last_loss}, {"learning_rate", lr}});
      window_loss = 0;
      window_n = 0;
      window_tokens = 0;
      window_start = now;
    }
    if (o.eval_steps > 0 && done % o.eval_steps == 0 && done != total_steps) run_eval(done);
    if (o.save_steps > 0 && done % o.save_steps == 0) {
      const std::string dir = o.output_dir + "/checkpoint-" + std::to_string(done);
      save_checkpoint(dir, config, *model, optimizer, state_json(done), source_dir);
      log("saved " + dir);
    }
  }
  result.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  result.steps = step;
  result.eval = run_eval(step);
  save_checkpoint(o.output_dir, config, *model, optimizer, state_json(step), source_dir);
  if (!result.eval.empty()) {
    json ev(result.eval);
    std::ofstream(o.output_dir + "/eval_results.json") << ev.dump(2) << "\n";
  }
  log("saved " + o.output_dir + " (" + std::to_string(step) + " updates, " +
      std::to_string(result.train_seconds).substr(0, 6) + " s of training)");
  return result;
}

}  // namespace rembert
