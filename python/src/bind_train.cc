// rembert.train() / Trainer: fine-tuning end to end and evaluation alone (rembert/trainer.h, what `rembert train`
// runs), with the GIL released.
#include <pybind11/stl.h>

#include <set>

#include "bindings.h"
#include "errors.h"
#include "rembert/error.h"
#include "rembert/trainer.h"

namespace py = pybind11;

namespace rembert::python {

namespace {

TrainerOptions trainer_options(const py::dict& kw) {
  TrainerOptions o;
  std::set<std::string> used;
  auto take = [&](const char* key, auto& field) {
    if (!kw.contains(key) || kw[key].is_none()) return;
    used.insert(key);
    field = kw[key].cast<std::decay_t<decltype(field)>>();
  };
  take("model", o.model);
  take("revision", o.revision);
  take("task", o.task);
  take("train_file", o.train_file);
  take("eval_file", o.eval_file);
  take("output_dir", o.output_dir);
  take("num_train_epochs", o.epochs);
  take("max_steps", o.max_steps);
  take("batch_size", o.batch_size);
  take("max_tokens_per_batch", o.max_tokens_per_batch);
  take("max_length", o.max_length);
  take("drop_long_rows", o.drop_long_rows);
  take("learning_rate", o.lr);
  take("lr_scheduler_type", o.schedule);
  take("warmup_ratio", o.warmup_ratio);
  take("warmup_steps", o.warmup_steps);
  take("weight_decay", o.weight_decay);
  take("adam_beta1", o.adam_beta1);
  take("adam_beta2", o.adam_beta2);
  take("adam_epsilon", o.adam_eps);
  take("max_grad_norm", o.max_grad_norm);
  take("gradient_accumulation_steps", o.gradient_accumulation_steps);
  take("dropout", o.dropout);
  take("seed", o.seed);
  take("mlm_probability", o.mlm_probability);
  take("eval_steps", o.eval_steps);
  take("save_steps", o.save_steps);
  take("logging_steps", o.logging_steps);
  take("threads", o.threads);
  take("resume_from_checkpoint", o.resume);
  bool bf16 = false;
  take("bf16", bf16);
  if (bf16) o.precision = TrainPrecision::BFloat16;
  for (auto item : kw) {
    const std::string key = item.first.cast<std::string>();
    if (!used.count(key) && !item.second.is_none()) throw Error("train(): unknown option '" + key + "'");
  }
  return o;
}

}  // namespace

void bind_train(py::module_& m) {
  m.def(
      "train",
      [](const py::dict& kw) {
        const TrainerOptions o = trainer_options(kw);
        TrainerResult r;
        {
          py::gil_scoped_release unlocked;
          r = train_model(o);
        }
        py::dict d;
        d["global_step"] = r.steps;
        d["train_runtime"] = r.train_seconds;
        d["train_tokens"] = r.train_tokens;
        d["train_loss"] = r.last_loss;
        d["eval"] = r.eval;
        return d;
      },
      py::arg("options"));
  m.def(
      "evaluate",
      [](const py::dict& kw) {
        const TrainerOptions o = trainer_options(kw);
        py::gil_scoped_release unlocked;
        return evaluate_model(o);
      },
      py::arg("options"));
}

}  // namespace rembert::python
