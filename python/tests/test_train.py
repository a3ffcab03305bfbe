"""rembert.train: a few updates of text-classification on the langid rows; the folder it writes loads back."""
import json

import pytest

import rembert
from conftest import FIXTURES, TRAINED_LM


def test_train_writes_a_model_that_loads(tmp_path):
    out = tmp_path / "out"
    data = FIXTURES / "train" / "langid4_train.jsonl"
    result = rembert.train(str(TRAINED_LM), "text-classification", data, out, eval_file=FIXTURES / "train" /
                           "langid4_eval.jsonl", max_steps=2, per_device_train_batch_size=8, learning_rate=5e-4,
                           seed=3, threads=1)
    assert result["global_step"] == 2 and "eval_loss" in result["eval"]
    assert json.loads((out / "config.json").read_text())["architectures"] == ["RemBertForSequenceClassification"]
    classify = rembert.pipeline("text-classification", model=str(out))
    assert isinstance(classify("Εσωτερικό σφάλμα NIS")[0]["label"], str)


def test_train_rejects_unknown_options(tmp_path):
    with pytest.raises(ValueError, match="unknown option 'learning_rat'"):
        rembert.train(str(TRAINED_LM), "text-classification", FIXTURES / "train" / "langid4_train.jsonl", tmp_path,
                      learning_rat=1.0)


LANGID_TRAIN = FIXTURES / "train" / "langid4_train.jsonl"
LANGID_EVAL = FIXTURES / "train" / "langid4_eval.jsonl"


def _arguments(out, **extra):
    return rembert.TrainingArguments(out, max_steps=2, per_device_train_batch_size=8, learning_rate=5e-4, seed=3,
                                     threads=1, save_strategy="no", **extra)


def test_trainer_runs_what_train_runs(tmp_path):
    # The same options through rembert.train and through Trainer: the same updates, loss and evaluation.
    direct = rembert.train(str(TRAINED_LM), "text-classification", LANGID_TRAIN, tmp_path / "direct",
                           eval_file=LANGID_EVAL, max_steps=2, per_device_train_batch_size=8, learning_rate=5e-4,
                           seed=3, threads=1)
    model = rembert.AutoModelForSequenceClassification.from_pretrained(str(TRAINED_LM))
    trainer = rembert.Trainer(model=model, args=_arguments(tmp_path / "trainer"), train_dataset=LANGID_TRAIN,
                              eval_dataset=LANGID_EVAL)
    assert trainer.task == "text-classification"
    output = trainer.train()
    assert isinstance(output, rembert.TrainOutput)
    assert output.global_step == direct["global_step"] == 2
    assert output.training_loss == direct["train_loss"]
    assert output.metrics["eval_loss"] == direct["eval"]["eval_loss"]
    assert output.metrics["eval_accuracy"] == direct["eval"]["accuracy"]
    assert trainer.state["global_step"] == 2
    # trainer.model is now the fine-tuned model, and evaluate() scores it again from its saved folder.
    assert isinstance(trainer.model, rembert.RemBertForSequenceClassification)
    assert set(trainer.model.config.id2label.values()) == {json.loads(line)["label"] for line in
                                                            LANGID_TRAIN.read_text().splitlines()}
    again = trainer.evaluate()
    assert again["eval_loss"] == pytest.approx(direct["eval"]["eval_loss"], rel=1e-6)
    assert again["eval_accuracy"] == direct["eval"]["accuracy"]
    trainer.save_model(tmp_path / "saved")
    assert sorted(p.name for p in (tmp_path / "saved").iterdir()) == sorted(
        p.name for p in (tmp_path / "trainer").iterdir()
        if p.name not in ("optimizer.safetensors", "trainer_state.json", "eval_results.json"))
    assert (tmp_path / "saved" / "model.safetensors").read_bytes() == (
        tmp_path / "trainer" / "model.safetensors").read_bytes()


def test_trainer_takes_rows_as_well_as_files(tmp_path):
    rows = [json.loads(line) for line in LANGID_TRAIN.read_text().splitlines()]
    from_file = rembert.Trainer(model=str(TRAINED_LM), task="text-classification", args=_arguments(tmp_path / "a"),
                                train_dataset=LANGID_TRAIN).train()
    from_rows = rembert.Trainer(model=str(TRAINED_LM), task="text-classification", args=_arguments(tmp_path / "b"),
                                train_dataset=rows).train()
    assert from_rows.training_loss == from_file.training_loss
    assert (tmp_path / "a" / "model.safetensors").read_bytes() == (tmp_path / "b" / "model.safetensors").read_bytes()


def test_trainer_errors_say_what_is_wrong(tmp_path):
    base = rembert.AutoModel.from_pretrained(str(TRAINED_LM))
    with pytest.raises(ValueError, match="RemBertModel has no task head"):
        rembert.Trainer(model=base, args=_arguments(tmp_path))
    with pytest.raises(ValueError, match="task= is required"):
        rembert.Trainer(model=str(TRAINED_LM), args=_arguments(tmp_path))
    with pytest.raises(ValueError, match="compute_metrics is not supported"):
        rembert.Trainer(model=str(TRAINED_LM), task="fill-mask", compute_metrics=lambda p: {})
    with pytest.raises(TypeError):
        rembert.TrainingArguments(tmp_path, learning_rat=1.0)
    with pytest.raises(ValueError, match="needs a train_dataset"):
        rembert.Trainer(model=str(TRAINED_LM), task="fill-mask", args=_arguments(tmp_path)).train()
    # The LM's config has transformers' default labels (LABEL_0, LABEL_1); the eval file's names are not among them.
    untrained = rembert.Trainer(model=str(TRAINED_LM), task="text-classification", args=_arguments(tmp_path),
                                eval_dataset=LANGID_EVAL)
    with pytest.raises(ValueError, match="langid4_eval.jsonl.*unknown label"):
        untrained.evaluate()


def test_trainer_evaluate_matches_the_reference_predictions(tmp_path):
    # Evaluation alone, on the trained language-id model: its accuracy on 2,000 held-out rows is the share of rows
    # where transformers' reference prediction is the gold label.
    langid = FIXTURES / "trained" / "langid"
    rows = (langid / "test.jsonl").read_text().splitlines()[:2000]
    reference = (langid / "reference_predictions.jsonl").read_text().splitlines()[:2000]
    (tmp_path / "eval.jsonl").write_text("\n".join(rows) + "\n")
    expected = sum(json.loads(r)["label"] == json.loads(g)["label"] for r, g in zip(reference, rows)) / len(rows)
    model = rembert.AutoModelForSequenceClassification.from_pretrained(str(langid))
    metrics = rembert.Trainer(model=model, args=_arguments(tmp_path, per_device_eval_batch_size=32),
                              eval_dataset=tmp_path / "eval.jsonl").evaluate()
    assert metrics["eval_accuracy"] == pytest.approx(expected, abs=1.5 / len(rows))  # at most one near-tie flips
    assert 0 < metrics["eval_loss"] < 2 and 0 < metrics["eval_macro_f1"] <= 1
