"""model(**inputs) through the Auto classes against every forward case of tests/fixtures/cases.json (transformers'
outputs), with the cases' tolerances; per-token outputs compared on real (unpadded) positions only, as the C++
conformance tests do."""
import numpy as np
import pytest

import rembert
from conftest import FIXTURES

AUTO = {
    "RemBertModel": rembert.AutoModel,
    "RemBertForMaskedLM": rembert.AutoModelForMaskedLM,
    "RemBertForCausalLM": rembert.AutoModelForCausalLM,
    "RemBertForSequenceClassification": rembert.AutoModelForSequenceClassification,
    "RemBertForMultipleChoice": rembert.AutoModelForMultipleChoice,
    "RemBertForTokenClassification": rembert.AutoModelForTokenClassification,
    "RemBertForQuestionAnswering": rembert.AutoModelForQuestionAnswering,
}
SKIP = {"clm_incremental", "clm_greedy"}  # not a single forward
_models = {}


def model_for(manifest, key):
    if key not in _models:
        info = manifest["models"][key]
        _models[key] = AUTO[info["class"]].from_pretrained(str(FIXTURES / info["dir"]))
    return _models[key]


def close(actual, expected, tol, keep=None):
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape
    if keep is not None:  # rows of the flattened leading (batch, sequence) dims
        actual = actual.reshape(keep.size, -1)[keep]
        expected = expected.reshape(keep.size, -1)[keep]
    bad = np.abs(actual - expected) > tol["atol"] + tol["rtol"] * np.abs(expected)
    assert not bad.any(), f"{bad.sum()} values differ; max abs diff {np.abs(actual - expected).max()}"


def forward_cases():
    import json

    manifest = json.loads((FIXTURES / "cases.json").read_text())
    return [c for c in manifest["cases"] if c["name"] not in SKIP]


PER_TOKEN_LOGITS = ("RemBertForMaskedLM", "RemBertForCausalLM", "RemBertForTokenClassification")


@pytest.mark.parametrize("case", forward_cases(), ids=lambda c: c["name"])
def test_forward_matches_transformers(cases, case):
    manifest, tensors = cases
    model = model_for(manifest, case["model"])
    inputs = {arg: tensors[name] for arg, name in case["inputs"].items()}
    outputs = case["outputs"]
    out = model(**inputs, output_hidden_states="hidden_states" in outputs,
                output_attentions="attentions" in outputs)
    tol = case["tolerance"]
    mask = inputs.get("attention_mask")
    rows = (mask if mask is not None else np.ones_like(inputs["input_ids"])).reshape(-1).astype(bool)
    for name, ref in outputs.items():
        if isinstance(ref, list):  # hidden states: token rows; attention maps [B, heads, S, K]: real query rows
            assert len(out[name]) == len(ref), name
            for i, r in enumerate(ref):
                expected = tensors[r]
                keep = rows
                if name != "hidden_states":
                    b, a, q = expected.shape[:3]
                    keep = np.repeat(rows.reshape(b, 1, q), a, axis=1).reshape(-1)
                close(out[name][i], expected, tol, keep)
            continue
        per_token = name in ("last_hidden_state", "start_logits", "end_logits") or (
            name == "logits" and manifest["models"][case["model"]]["class"] in PER_TOKEN_LOGITS)
        close(out[name], tensors[ref], tol, rows if per_token else None)


def test_output_object_is_transformers_shaped(cases):
    manifest, tensors = cases
    case = next(c for c in manifest["cases"] if c["name"] == "mlm_batch_labels")
    model = model_for(manifest, case["model"])
    inputs = {arg: tensors[name] for arg, name in case["inputs"].items()}
    out = model(**inputs)
    assert type(out).__name__ == "MaskedLMOutput"
    assert list(out.keys()) == ["loss", "logits"]
    assert out.hidden_states is None and out[0] is out.loss and out["logits"] is out.logits
    assert out.loss.shape == () and isinstance(out.logits, np.ndarray) and out.logits.dtype == np.float32
    assert isinstance(model(**inputs, return_dict=False), tuple)
    assert isinstance(model.config, rembert.RemBertConfig) and model.config.vocab_size == tensors[
        case["outputs"]["logits"]].shape[-1]


def test_generate_matches_the_greedy_fixture(cases):
    manifest, _ = cases
    case = next(c for c in manifest["cases"] if c["name"] == "clm_greedy")
    model = model_for(manifest, case["model"])
    ids = model.generate(np.array([case["prompt_ids"]]), max_new_tokens=case["max_new_tokens"],
                         eos_token_id=case["eos_token_id"])
    assert ids.tolist() == [case["full_sequence"]]
