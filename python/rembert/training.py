"""rembert.train(): fine-tuning end to end, as `rembert train` runs it (the HF Trainer's defaults and option names)."""
from . import _rembert


def train(model, task, train_file, output_dir, eval_file=None, **options):
    """Fine-tunes `model` (a folder or hub id) for `task` (text-classification, token-classification,
    question-answering, fill-mask, multiple-choice, causal-lm) on a JSON Lines file and writes a Hugging Face model
    folder to output_dir. Options are TrainingArguments' names: num_train_epochs, max_steps,
    per_device_train_batch_size (or batch_size), learning_rate, lr_scheduler_type, warmup_ratio, warmup_steps,
    weight_decay, adam_beta1, adam_beta2, adam_epsilon, max_grad_norm, gradient_accumulation_steps, seed,
    eval_steps, save_steps, logging_steps, bf16, resume_from_checkpoint; and max_length, max_tokens_per_batch,
    drop_long_rows, dropout, mlm_probability, threads, revision. Returns global_step, train_runtime, train_tokens,
    train_loss and the final evaluation ("eval": eval_loss and the task's metrics) when eval_file is given."""
    if "per_device_train_batch_size" in options:
        options["batch_size"] = options.pop("per_device_train_batch_size")
    options.update(model=str(model), task=task, train_file=str(train_file), output_dir=str(output_dir),
                   eval_file=None if eval_file is None else str(eval_file))
    return _rembert.train(options)
