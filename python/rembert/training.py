"""Fine-tuning from Python: transformers' Trainer / TrainingArguments / TrainOutput, and rembert.train(), both on
the library's trainer (what `rembert train` runs: the HF Trainer's defaults, data as JSON Lines)."""
import collections
import collections.abc
import dataclasses
import json
import os
import pathlib
import shutil
import tempfile
import typing

from . import _rembert

# The fine-tuning task of each model class's head (rembert train's --task names).
_TASK_OF_HEAD = {
    "sequence-classification": "text-classification", "token-classification": "token-classification",
    "question-answering": "question-answering", "masked-lm": "fill-mask", "multiple-choice": "multiple-choice",
    "causal-lm": "causal-lm",
}

# What Trainer.save_model copies: the Hugging Face model folder, without the optimizer state of a checkpoint.
_MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json", "sentencepiece.model", "tokenizer_config.json",
                "special_tokens_map.json", "added_tokens.json")


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


@dataclasses.dataclass
class TrainingArguments:
    """transformers' TrainingArguments, the fields the library's trainer runs (same names, same defaults), plus
    rembert's own: max_length, max_tokens_per_batch (length-bucketed batches), drop_long_rows, dropout,
    mlm_probability (the MLM collator's), threads. An unknown field is a TypeError, as in transformers."""
    output_dir: str
    num_train_epochs: float = 3.0
    max_steps: int = -1
    per_device_train_batch_size: int = 8
    per_device_eval_batch_size: int = 8
    learning_rate: float = 5e-5
    lr_scheduler_type: str = "linear"
    warmup_ratio: float = 0.0
    warmup_steps: int = 0
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    max_grad_norm: float = 1.0
    gradient_accumulation_steps: int = 1
    seed: int = 42
    logging_steps: int = 500
    save_steps: int = 500
    save_strategy: str = "steps"   # "steps" or "no"
    eval_steps: typing.Optional[int] = None
    # "no": evaluate once, after the last update, when there is an eval_dataset; "steps": also every eval_steps
    # (else logging_steps) updates.
    eval_strategy: str = "no"
    bf16: bool = False
    resume_from_checkpoint: typing.Optional[str] = None
    max_length: int = 0
    max_tokens_per_batch: int = 0
    drop_long_rows: bool = False
    dropout: typing.Optional[float] = None
    mlm_probability: float = 0.15
    threads: int = 0

    def __post_init__(self):
        self.output_dir = str(self.output_dir)
        if self.save_strategy not in ("steps", "no"):
            raise ValueError(f"save_strategy: expected 'steps' or 'no', got {self.save_strategy!r}")
        if self.eval_strategy not in ("no", "steps"):
            raise ValueError(f"eval_strategy: expected 'no' or 'steps', got {self.eval_strategy!r}")

    def to_dict(self):
        return dataclasses.asdict(self)

    def _options(self):
        """The library trainer's options for these arguments."""
        o = dict(num_train_epochs=self.num_train_epochs, max_steps=self.max_steps,
                 batch_size=self.per_device_train_batch_size, learning_rate=self.learning_rate,
                 lr_scheduler_type=self.lr_scheduler_type, warmup_ratio=self.warmup_ratio,
                 weight_decay=self.weight_decay, adam_beta1=self.adam_beta1, adam_beta2=self.adam_beta2,
                 adam_epsilon=self.adam_epsilon, max_grad_norm=self.max_grad_norm,
                 gradient_accumulation_steps=self.gradient_accumulation_steps, seed=self.seed,
                 logging_steps=self.logging_steps, save_steps=self.save_steps if self.save_strategy == "steps" else 0,
                 bf16=self.bf16, max_length=self.max_length, max_tokens_per_batch=self.max_tokens_per_batch,
                 drop_long_rows=self.drop_long_rows, dropout=self.dropout, mlm_probability=self.mlm_probability,
                 threads=self.threads)
        if self.warmup_steps > 0:  # transformers: warmup_steps > 0 overrides warmup_ratio
            o["warmup_steps"] = self.warmup_steps
        if self.eval_strategy == "steps":
            o["eval_steps"] = self.eval_steps or self.logging_steps
        return o


TrainOutput = collections.namedtuple("TrainOutput", ["global_step", "training_loss", "metrics"])


class Trainer:
    """transformers' Trainer on the library's trainer:

        args = TrainingArguments("out", num_train_epochs=2, learning_rate=5e-5)
        trainer = Trainer(model=AutoModelForSequenceClassification.from_pretrained(path), args=args,
                          train_dataset="train.jsonl", eval_dataset="eval.jsonl")
        trainer.train(); trainer.evaluate(); trainer.save_model("final")

    model: a rembert model (its class picks the task: ForSequenceClassification -> text-classification, ...) or a
    folder / hub id with task= given. Datasets: a JSON Lines file, or a list of dicts in that file's format (rows
    with "text" and "label", "tokens" and "tags", ..., as `rembert train` reads them; see the README). The data is
    tokenized by the model's own tokenizer, so tokenizer= and data_collator= are not taken; compute_metrics is
    replaced by the task's own metrics (accuracy and macro-F1, seqeval F1, SQuAD EM/F1, perplexity)."""

    def __init__(self, model=None, args=None, train_dataset=None, eval_dataset=None, task=None, tokenizer=None,
                 data_collator=None, compute_metrics=None, processing_class=None):
        if model is None:
            raise ValueError("Trainer: model is required (a rembert model, or a folder / hub id with task=)")
        for name, value in (("data_collator", data_collator), ("compute_metrics", compute_metrics)):
            if value is not None:
                raise ValueError(f"Trainer: {name} is not supported: the library tokenizes, collates and scores "
                                 "each task itself (see rembert.Trainer's doc)")
        del tokenizer, processing_class  # the model folder's own tokenizer is used (and saved with the model)
        if isinstance(model, (str, os.PathLike)):
            if task is None:
                raise ValueError("Trainer: task= is required when model is a folder or hub id")
            self._source = str(model)
            self._model_class = None
        else:
            head = getattr(model, "_head", None)
            if head not in _TASK_OF_HEAD:
                raise ValueError(f"Trainer: {type(model).__name__} has no task head to fine-tune; load the model "
                                 "with the Auto class of the task (e.g. AutoModelForSequenceClassification)")
            task = task or _TASK_OF_HEAD[head]
            self._source = model._folder or model.name_or_path
            self._model_class = type(model)
        self.model = model
        self.task = task
        self.args = args if args is not None else TrainingArguments("trainer_output")
        self.train_dataset = train_dataset
        self.eval_dataset = eval_dataset
        self.state = {"global_step": 0, "log_history": []}
        self._scratch = None

    def _data_file(self, dataset, name):
        """A JSON Lines path for a dataset given as a path or as rows (written once to a scratch folder)."""
        if isinstance(dataset, (str, os.PathLike)):
            return str(dataset)
        rows = list(dataset)
        if not rows or not all(isinstance(r, collections.abc.Mapping) for r in rows):
            raise ValueError(f"Trainer: {name}: expected a JSON Lines path or a non-empty list of dicts")
        if self._scratch is None:
            self._scratch = tempfile.mkdtemp(prefix="rembert-trainer-")
        path = pathlib.Path(self._scratch) / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        return str(path)

    def train(self, resume_from_checkpoint=None):
        """Fine-tunes, writes args.output_dir (a Hugging Face folder; checkpoint-N every save_steps) and returns
        TrainOutput(global_step, training_loss, metrics). self.model becomes the fine-tuned model."""
        if self.train_dataset is None:
            raise ValueError("Trainer: train() needs a train_dataset")
        options = self.args._options()
        resume = resume_from_checkpoint or self.args.resume_from_checkpoint
        if resume:
            options["resume_from_checkpoint"] = str(resume)
        eval_file = None if self.eval_dataset is None else self._data_file(self.eval_dataset, "eval")
        options.update(model=self._source, task=self.task, output_dir=self.args.output_dir, eval_file=eval_file,
                       train_file=self._data_file(self.train_dataset, "train"))
        result = _rembert.train(options)
        runtime = result["train_runtime"]
        metrics = {"train_runtime": runtime, "train_loss": result["train_loss"],
                   "train_tokens_per_second": result["train_tokens"] / runtime if runtime > 0 else 0.0}
        metrics.update({_eval_name(k): v for k, v in result["eval"].items()})
        state_file = pathlib.Path(self.args.output_dir) / "trainer_state.json"
        if state_file.exists():
            self.state = json.loads(state_file.read_text())
        self._source = self.args.output_dir
        if self._model_class is not None:
            self.model = self._model_class.from_pretrained(self.args.output_dir)
        return TrainOutput(result["global_step"], result["train_loss"], metrics)

    def evaluate(self, eval_dataset=None):
        """eval_loss and the task's metrics (prefixed eval_, as transformers) of the current model on
        eval_dataset (default: the Trainer's)."""
        dataset = eval_dataset if eval_dataset is not None else self.eval_dataset
        if dataset is None:
            raise ValueError("Trainer: evaluate() needs an eval_dataset")
        options = dict(model=self._source, task=self.task, eval_file=self._data_file(dataset, "eval"),
                       batch_size=self.args.per_device_eval_batch_size, max_length=self.args.max_length,
                       drop_long_rows=self.args.drop_long_rows, mlm_probability=self.args.mlm_probability,
                       seed=self.args.seed, threads=self.args.threads)
        return {_eval_name(k): v for k, v in _rembert.evaluate(options).items()}

    def save_model(self, output_dir=None):
        """Writes the current model as a Hugging Face folder (config, weights, tokenizer files) to output_dir
        (default args.output_dir)."""
        target = pathlib.Path(output_dir or self.args.output_dir)
        source = pathlib.Path(self._source)
        if not (source / "model.safetensors").exists():
            raise ValueError(f"Trainer: save_model(): {source} holds no model.safetensors (train first)")
        if target.resolve() == source.resolve():
            return
        target.mkdir(parents=True, exist_ok=True)
        for name in _MODEL_FILES:
            if (source / name).exists():
                shutil.copyfile(source / name, target / name)

    def __del__(self):
        if getattr(self, "_scratch", None):
            shutil.rmtree(self._scratch, ignore_errors=True)


def _eval_name(key):
    return key if key.startswith("eval_") else "eval_" + key
