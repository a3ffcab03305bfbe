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
