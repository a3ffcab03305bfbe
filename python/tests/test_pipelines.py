"""rembert.pipeline against the references: the trained masked LM's fill-mask top-5 (reference_fill_mask.jsonl), the
langid classifier's predictions, the fill_mask case of cases.json; and transformers' result shapes for the rest."""
import json

import numpy as np
import pytest

import rembert
from conftest import FIXTURES, TRAINED_LM, read_jsonl


@pytest.fixture(scope="module", params=[True, False], ids=["fast", "slow"])
def fill_mask(request):
    return rembert.pipeline("fill-mask", model=str(TRAINED_LM), use_fast=request.param)


def test_fill_mask_matches_the_reference_top5(fill_mask):
    refs = read_jsonl(TRAINED_LM / "reference_fill_mask.jsonl")[:60]
    for ref in refs:
        result = fill_mask(ref["text"])
        assert [p["token"] for p in result] == [p["token"] for p in ref["predictions"]], ref["text"]
        for got, want in zip(result, ref["predictions"]):
            assert list(got) == ["score", "token", "token_str", "sequence"]
            assert type(got["score"]) is float and type(got["token"]) is int
            assert got["score"] == pytest.approx(want["score"], abs=1e-5)
            assert (got["token_str"], got["sequence"]) == (want["token_str"], want["sequence"])


def test_fill_mask_nesting(fill_mask):
    texts = [r["text"] for r in read_jsonl(TRAINED_LM / "reference_fill_mask.jsonl")[:2]]
    assert isinstance(fill_mask(texts[0])[0], dict)          # one text, one mask: a list of dicts
    assert isinstance(fill_mask([texts[0]])[0], dict)        # a list of one text: unwrapped, as transformers
    both = fill_mask(texts)
    assert len(both) == 2 and isinstance(both[0], list)
    two_masks = fill_mask("[MASK] filter applied to the endpoints [MASK] the resolved service.")
    assert len(two_masks) == 2 and isinstance(two_masks[0], list)
    assert len(fill_mask(texts[0], top_k=2)) == 2


def test_fill_mask_fixture_case(cases):
    manifest, _ = cases
    case = next(c for c in manifest["cases"] if c["name"] == "fill_mask")
    result = rembert.pipeline("fill-mask", model=str(FIXTURES / "models" / "mlm"))(case["text"])
    for got, want in zip(result, case["top5"]):
        assert got["token"] == want["token"] and got["token_str"] == want["token_str"]
        assert got["sequence"] == want["sequence"]
        assert got["score"] == pytest.approx(want["score"], abs=1e-6)


def test_text_classification_matches_the_reference():
    classify = rembert.pipeline("text-classification", model=str(FIXTURES / "trained" / "langid"))
    lines = (FIXTURES / "trained" / "langid" / "reference_predictions.jsonl").read_text().splitlines()
    refs = [json.loads(line) for line in lines[::500]]  # none of the lines where fast and slow ids differ
    for ref in refs:
        result = classify(ref["text"])
        assert isinstance(result, list) and len(result) == 1  # transformers' legacy shape: [{"label", "score"}]
        assert result[0]["label"] == ref["label"]
        assert result[0]["score"] == pytest.approx(ref["score"], abs=1e-5)
    batch = classify([refs[0]["text"], refs[1]["text"]])
    assert [r["label"] for r in batch] == [refs[0]["label"], refs[1]["label"]]  # a list of dicts
    ranked = classify(refs[0]["text"], top_k=None)
    assert ranked[0]["label"] == refs[0]["label"] and len(ranked) == len(classify.model.config.id2label)


def test_token_classification_shape():
    ner = rembert.pipeline("ner", model=str(FIXTURES / "models" / "tokcls"))
    entities = ner("Hello world, this is a test.", ignore_labels=[])
    assert entities and list(entities[0]) == ["entity", "score", "index", "word", "start", "end"]
    assert type(entities[0]["score"]) is np.float32  # as transformers returns them
    grouped = ner("Hello world, this is a test.", aggregation_strategy="simple", ignore_labels=[])
    assert list(grouped[0]) == ["entity_group", "score", "word", "start", "end"]
    assert len(ner(["a b", "c d"], ignore_labels=[])) == 2


def test_question_answering_shape():
    qa = rembert.pipeline("question-answering", model=str(FIXTURES / "models" / "qa"))
    context = "The old town of Paris is a city on the river Seine."
    answer = qa(question="Where is Paris?", context=context)
    assert list(answer) == ["score", "start", "end", "answer"]
    assert context[answer["start"]:answer["end"]] == answer["answer"]
    assert qa({"question": "Where is Paris?", "context": context}) == answer
    assert len(qa(question="Where is Paris?", context=context, top_k=3)) == 3
    assert len(qa([{"question": "Where?", "context": context}] * 2)) == 2


def test_feature_extraction_shape():
    features = rembert.pipeline("feature-extraction", model=str(FIXTURES / "models" / "base"))
    tok = features.tokenizer
    nested = features("Feature extraction test")
    n = len(tok("Feature extraction test")["input_ids"])
    assert len(nested) == 1 and len(nested[0]) == n and len(nested[0][0]) == 64
    assert type(nested[0][0][0]) is float


def test_text_generation_shape():
    # The tokens themselves are checked against the greedy fixture in test_model.py (model.generate).
    generator = rembert.pipeline("text-generation", model=str(FIXTURES / "models" / "clm"))
    result = generator("Hello world", max_new_tokens=3)
    assert isinstance(result, list) and list(result[0]) == ["generated_text"]
    assert result[0]["generated_text"].startswith("Hello world")
    new_only = generator("Hello world", max_new_tokens=3, return_full_text=False)[0]["generated_text"]
    assert result[0]["generated_text"] == "Hello world" + new_only
    batch = generator(["Hello", "world"], max_new_tokens=2)
    assert len(batch) == 2 and isinstance(batch[0], list)
    assert batch[1] == generator("world", max_new_tokens=2)


def test_text_generation_num_return_sequences():
    generator = rembert.pipeline("text-generation", model=str(FIXTURES / "models" / "clm"))
    sampled = generator("Hello world", max_new_tokens=4, do_sample=True, num_return_sequences=3, seed=7)
    assert len(sampled) == 3 and all(list(s) == ["generated_text"] for s in sampled)
    # Sample i is the single sample of seed 7 + i.
    for i, s in enumerate(sampled):
        assert [s] == generator("Hello world", max_new_tokens=4, do_sample=True, seed=7 + i)
    with pytest.raises(ValueError, match="num_return_sequences"):
        generator("Hello world", max_new_tokens=4, num_return_sequences=2)


def test_pipeline_from_loaded_model_and_tokenizer():
    ref = read_jsonl(TRAINED_LM / "reference_fill_mask.jsonl")[0]
    model = rembert.AutoModelForMaskedLM.from_pretrained(str(TRAINED_LM))
    tokenizer = rembert.AutoTokenizer.from_pretrained(str(TRAINED_LM))
    for fill in (rembert.pipeline("fill-mask", model=model, tokenizer=tokenizer),
                 rembert.pipeline("fill-mask", model=str(TRAINED_LM), tokenizer=str(TRAINED_LM))):
        assert [p["token"] for p in fill(ref["text"])] == [p["token"] for p in ref["predictions"]]
