"""model(**inputs) through the Auto classes against every forward case of tests/fixtures/cases.json (transformers'
outputs), with the cases' tolerances; per-token outputs compared on real (unpadded) positions only, as the C++
conformance tests do."""
import numpy as np
import pytest

import rembert
from conftest import FIXTURES, TRAINED_LM

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


def test_generate_takes_a_padded_batch(cases):
    # Row 0 is the fixture's prompt; row 1 a shorter prompt left-padded (mask 0): each row is continued from its
    # real tokens only, so row 0 is the fixture's sequence and row 1 its own result as a batch of one.
    manifest, _ = cases
    case = next(c for c in manifest["cases"] if c["name"] == "clm_greedy")
    model = model_for(manifest, case["model"])
    prompt = case["prompt_ids"]
    short = prompt[:-2]
    batch = np.array([prompt, [0, 0] + short])
    mask = np.array([[1] * len(prompt), [0, 0] + [1] * len(short)])
    kwargs = dict(max_new_tokens=case["max_new_tokens"], eos_token_id=case["eos_token_id"])
    out = model.generate(batch, attention_mask=mask, **kwargs)
    assert out.shape[0] == 2
    assert out[0].tolist()[:len(case["full_sequence"])] == case["full_sequence"]
    alone = model.generate(np.array([short]), **kwargs)[0].tolist()
    assert out[1].tolist()[:2 + len(alone)] == [0, 0] + alone
    with pytest.raises(ValueError, match="attention_mask shape"):
        model.generate(batch, attention_mask=mask[:, 1:])


def test_hub_ids_load_from_the_cache(tmp_path):
    # A Hugging Face cache as huggingface_hub lays it out (refs/main names the commit, snapshots/<commit>/ holds the
    # files), read offline: model, tokenizer and pipeline by hub id are the trained LM's folder.
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "models--test-org--lm"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    for name in ("config.json", "model.safetensors", "tokenizer.json", "sentencepiece.model", "tokenizer_config.json",
                 "special_tokens_map.json"):
        (snapshot / name).symlink_to(TRAINED_LM / name)
    hub = dict(cache_dir=str(tmp_path), local_files_only=True)
    tokenizer = rembert.AutoTokenizer.from_pretrained("test-org/lm", **hub)
    inputs = tokenizer("Plants create [MASK] through photosynthesis.", return_tensors="np")
    by_id = rembert.AutoModelForMaskedLM.from_pretrained("test-org/lm", **hub)(**inputs).logits
    by_folder = rembert.AutoModelForMaskedLM.from_pretrained(str(TRAINED_LM))(**inputs).logits
    np.testing.assert_array_equal(by_id, by_folder)
    fill = rembert.pipeline("fill-mask", model="test-org/lm", **hub)
    assert fill("Plants create [MASK] through photosynthesis.") == rembert.pipeline(
        "fill-mask", model=str(TRAINED_LM))("Plants create [MASK] through photosynthesis.")
    with pytest.raises(OSError, match="v9"):
        rembert.AutoModel.from_pretrained("test-org/lm", revision="v9", **hub)


def test_compute_releases_the_gil():
    # While one thread is inside a forward, another runs Python: the main thread's loop never stalls for anything
    # like the length of a call (with the GIL held it would stall for the whole call).
    import sys
    import threading
    import time

    model = rembert.AutoModelForMaskedLM.from_pretrained(str(TRAINED_LM))
    ids = np.full((48, 128), 5, dtype=np.int64)
    start = time.perf_counter()
    model(input_ids=ids)
    one_call = time.perf_counter() - start
    calls = max(3, int(1.0 / one_call))
    worker = threading.Thread(target=lambda: [model(input_ids=ids) for _ in range(calls)])
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.001)
    try:
        worker.start()
        longest, last = 0.0, time.perf_counter()
        while worker.is_alive():
            now = time.perf_counter()
            longest, last = max(longest, now - last), now
        worker.join()
    finally:
        sys.setswitchinterval(interval)
    assert one_call > 0.02, "the call is too short to tell"
    assert longest < one_call / 2, f"the main thread stalled {longest:.3f} s during calls of {one_call:.3f} s"
