"""AutoTokenizer (slow and fast) against tests/fixtures/tokenizer/tokenizer_cases.json: transformers'
RemBertTokenizer for slow, Hugging Face tokenizers for fast (its `fast` field)."""
import json

import numpy as np
import pytest

import rembert
from conftest import FIXTURES

CASES = json.loads((FIXTURES / "tokenizer" / "tokenizer_cases.json").read_text())["cases"]
FIELDS = ("input_ids", "token_type_ids", "attention_mask", "special_tokens_mask")


@pytest.fixture(scope="module", params=[False, True], ids=["slow", "fast"])
def tok(request):
    return rembert.AutoTokenizer.from_pretrained(str(FIXTURES / "tokenizer"), use_fast=request.param)


def options(case):
    o = {}
    if "truncation" in case:
        o["truncation"] = case["truncation"]
    if case.get("max_length") is not None:
        o["max_length"] = case["max_length"]
    if "padding" in case:
        o["padding"] = case["padding"]
    return o


def check(encoding, want, fast):
    for field in FIELDS:
        if field in want:
            assert encoding[field] == want[field], field
    if fast and "offsets" in want:
        assert [list(o) for o in encoding["offset_mapping"]] == want["offsets"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture_case(tok, case):
    fast = tok.is_fast
    kwargs = dict(options(case), return_special_tokens_mask=True, return_offsets_mapping=fast)
    if case["kind"] == "pair_truncation_error":
        with pytest.raises(ValueError):
            tok(case["text"], case["text_pair"], **kwargs)
        return
    want = case["fast"] if fast else case
    if case["kind"] == "pair_batch_padding":
        batch = tok(case["text"], case["text_pair"], **kwargs)
        rows = case["fast"] if fast else case["batch"]
        for i, row in enumerate(rows):
            check({k: v[i] for k, v in batch.items()}, row, fast)
        return
    encoding = tok(case["text"], case.get("text_pair"), **kwargs)
    check(encoding, want, fast)
    if "tokens" in want:
        assert encoding.tokens() == want["tokens"]
    if case["kind"] == "single" and not fast:
        assert tok.tokenize(case["text"]) == case["tokenize"]
    ids = want["input_ids"]
    if "decode" in want:
        assert tok.decode(ids) == want["decode"]
    if "decode_skip_special" in want:
        assert tok.decode(ids, skip_special_tokens=True) == want["decode_skip_special"]
    if "decode_skip_special_clean" in want:
        assert tok.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=True) == \
            want["decode_skip_special_clean"]


def test_return_tensors_and_batches(tok):
    case = next(c for c in CASES if c["name"] == "batch_pad_longest")
    rows = case["fast"] if tok.is_fast else case["batch"]
    batch = tok(case["text"], case["text_pair"], padding=True, return_tensors="np")
    assert list(batch) == ["input_ids", "token_type_ids", "attention_mask"]
    assert isinstance(batch.input_ids, np.ndarray) and batch.input_ids.dtype == np.int64
    assert batch.input_ids.tolist() == [r["input_ids"] for r in rows]
    assert tok.batch_decode(batch.input_ids[:1], skip_special_tokens=True) == [
        tok.decode(rows[0]["input_ids"], skip_special_tokens=True)]
    # One text with return_tensors gets the batch axis, as in transformers.
    single = tok("Hello world!", return_tensors="np")
    assert single["input_ids"].shape == (1, 9)
    # Uneven rows cannot become one tensor.
    with pytest.raises(ValueError, match="Unable to create tensor"):
        tok(["Hello world!", "Hi"], return_tensors="np")


def test_return_tensors_pt(tok):
    torch = pytest.importorskip("torch", reason="Debian's python3-torch is needed for return_tensors='pt'")
    encoding = tok("Hello world!", return_tensors="pt")
    assert isinstance(encoding.input_ids, torch.Tensor) and encoding.input_ids.dtype == torch.int64
    assert encoding.input_ids.tolist() == [[2, 424, 723, 10, 592, 59, 419, 811, 3]]
    assert tok.decode(encoding.input_ids[0, 1:4]) == tok.decode([424, 723, 10])
    assert tok.decode(torch.tensor(424)) == tok.decode([424])


def test_special_tokens(tok):
    # The fixture tokenizer's ids (fixtures/README.md): [PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4.
    assert (tok.pad_token_id, tok.unk_token_id, tok.cls_token_id, tok.sep_token_id, tok.mask_token_id) == (0, 1, 2, 3, 4)
    assert tok.mask_token == "[MASK]"
    assert tok.convert_ids_to_tokens(4) == "[MASK]"
    assert tok.convert_ids_to_tokens([2, 3]) == ["[CLS]", "[SEP]"]
    assert tok.convert_tokens_to_ids("[SEP]") == 3
    assert tok.vocab_size == 2000
    assert tok.encode("Hello world!") == [2, 424, 723, 10, 592, 59, 419, 811, 3]
