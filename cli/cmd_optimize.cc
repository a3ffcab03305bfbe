// rembert optimize: N AdamW steps on one batch (one parameter group), writing what the training fixtures hold:
// the loss before each update and after the last, the learning rates, the gradient norms, and every parameter and
// AdamW moment at the end. The conformance contract of the optimizer.
#include <cstdio>
#include <cstring>
#include <string>

#include "commands.h"
#include "rembert/error.h"
#include "rembert/hub.h"
#include "rembert/train.h"
#include "train/optimizer.h"
#include "train/parameter_slots.h"
#include "train/schedule.h"

namespace rembert::cli {

namespace {

struct OptimizeOptions {
  std::string model, revision, head, inputs, output, betas = "0.9,0.999", schedule = "constant";
  int64_t steps = 1, warmup_steps = 0;
  double lr = 1e-3, eps = 1e-8, weight_decay = 0.01, max_grad_norm = 0.0;
  int threads = 0;
  bool bf16 = false;
};

std::pair<double, double> parse_betas(const std::string& text) {
  const size_t comma = text.find(',');
  try {
    if (comma == std::string::npos) throw std::invalid_argument("");
    size_t used1 = 0, used2 = 0;
    const std::string a = text.substr(0, comma), b = text.substr(comma + 1);
    const double b1 = std::stod(a, &used1), b2 = std::stod(b, &used2);
    if (used1 != a.size() || used2 != b.size() || !(b1 >= 0 && b1 < 1) || !(b2 >= 0 && b2 < 1)) {
      throw std::invalid_argument("");
    }
    return {b1, b2};
  } catch (const std::exception&) {
    throw Error("--betas: expected B1,B2 with each in [0, 1), got \"" + text + "\"");
  }
}

Tensor vector_tensor(const std::vector<float>& v) { return Tensor::from_f32({static_cast<int64_t>(v.size())}, v); }

Tensor shaped_copy(const train::AdamW::Moment& v, const Shape& shape) {
  Tensor t(DType::F32, shape);
  std::memcpy(t.mutable_data<float>(), v.data(), v.size() * sizeof(float));
  return t;
}

void run_optimize(const OptimizeOptions& o) {
  set_num_threads(o.threads);
  if (o.steps < 1) throw Error("--steps: must be at least 1");
  if (!(o.lr >= 0)) throw Error("--lr: must be >= 0");
  const auto [beta1, beta2] = parse_betas(o.betas);
  train::Schedule schedule;
  schedule.kind = train::schedule_from_name(o.schedule);
  schedule.warmup_steps = o.warmup_steps;
  schedule.total_steps = o.steps;
  if (o.warmup_steps < 0 || o.warmup_steps > o.steps) throw Error("--warmup-steps: must be in [0, --steps]");

  TrainableLoadOptions load;
  if (!o.head.empty()) load.head = head_from_name(o.head);
  if (o.bf16) load.precision = TrainPrecision::BFloat16;
  HubOptions hub;
  hub.revision = o.revision;
  auto model = TrainableModel::load(resolve_model_for_task(o.model, hub, ModelParts{true, false, true}), load);
  for (const auto& warning : model->warnings()) std::fprintf(stderr, "rembert: warning: %s\n", warning.c_str());
  if (const ComputeInfo info = model->compute_info(); !info.fallback.empty()) {
    std::fprintf(stderr, "rembert: warning: bfloat16 products requested, float32 used: %s\n", info.fallback.c_str());
  }
  const ForwardInputs in = read_forward_inputs(o.inputs, static_cast<size_t>(model->config().num_hidden_layers));

  std::vector<train::ParamSlot> slots = train::parameter_slots(*model, false);
  train::AdamWOptions adam;
  adam.lr = o.lr;
  adam.beta1 = beta1;
  adam.beta2 = beta2;
  adam.eps = o.eps;
  adam.weight_decay = o.weight_decay;
  train::AdamW optimizer(slots, adam);

  std::vector<float> losses, lrs, norms;
  for (int64_t step = 0; step < o.steps; ++step) {
    model->zero_grad();
    const TrainStepOutputs out = model->forward_backward(in);
    losses.push_back(out.loss.to_f32_vector()[0]);
    // The norm of the raw gradients is reported whether or not it is clipped.
    norms.push_back(static_cast<float>(train::clip_grad_norm(slots, o.max_grad_norm)));
    const double lr = schedule.lr(o.lr, step);
    lrs.push_back(static_cast<float>(lr));
    optimizer.step(lr);
  }
  TrainStepOptions loss_only;
  loss_only.backward = false;
  const float loss_after = model->forward_backward(in, loss_only).loss.to_f32_vector()[0];

  TensorMap t;
  t["loss"] = vector_tensor(losses);
  t["loss_after"] = Tensor::from_f32({}, {loss_after});
  t["lr"] = vector_tensor(lrs);
  t["grad_norm"] = vector_tensor(norms);
  for (size_t i = 0; i < slots.size(); ++i) {
    const TrainableModel::Parameter& p = model->parameters()[i];
    t["param." + p.name] = p.value;
    t["exp_avg." + p.name] = shaped_copy(optimizer.exp_avg(i), p.value.shape());
    t["exp_avg_sq." + p.name] = shaped_copy(optimizer.exp_avg_sq(i), p.value.shape());
  }
  write_safetensors(o.output, t, {{"format", "pt"}});
}

}  // namespace

Command add_optimize_command(CLI::App& app) {
  auto o = std::make_shared<OptimizeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "optimize", "Run N AdamW steps on one batch and write losses, learning rates, gradient norms, parameters and "
                  "moments (safetensors)");
  cmd->add_option("--model", o->model, "Model folder, or hub id")->required();
  cmd->add_option("--revision", o->revision, "Hub branch, tag or commit (default main)");
  cmd->add_option("--head", o->head, "Head (default: config architectures[0])");
  cmd->add_option("--inputs", o->inputs, "safetensors file of the batch (forward argument names, labels included)")
      ->required();
  cmd->add_option("--steps", o->steps, "Number of updates")->required();
  cmd->add_option("--lr", o->lr, "Peak learning rate")->required();
  cmd->add_option("--betas", o->betas, "AdamW betas B1,B2 (default 0.9,0.999)");
  cmd->add_option("--eps", o->eps, "AdamW eps (default 1e-8)");
  cmd->add_option("--weight-decay", o->weight_decay, "Decoupled weight decay, every tensor (default 0.01)");
  cmd->add_option("--schedule", o->schedule, "constant, constant_with_warmup, linear or cosine (default constant)");
  cmd->add_option("--warmup-steps", o->warmup_steps, "Warmup updates of the schedule (default 0)");
  cmd->add_option("--max-grad-norm", o->max_grad_norm, "Clip the total gradient norm to this (default: no clipping)");
  cmd->add_option("--output", o->output, "safetensors file to write")->required();
  cmd->add_option("--threads", o->threads, "Threads (default: all cores)");
  cmd->add_flag("--bf16", o->bf16, "Mixed precision: Linear products with bfloat16 inputs, float32 sums (as train --bf16)");
  return [o] { run_optimize(*o); };
}

}  // namespace rembert::cli
