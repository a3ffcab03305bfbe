#!/usr/bin/env python3
"""Generates tests/fixtures/tokenizer_extra/ from Hugging Face tokenizers (npm `tokenizers` 0.23.2, the Rust
library): expected fast-tokenizer outputs for awkward inputs (control characters, every Unicode plane, combining
sequences, special tokens in odd places) on the RemBERT fixture tokenizer.json, and for a synthetic tokenizer.json
that uses the components the RemBERT file does not (NFKD, StripAccents, Lowercase, Strip, regex Replace,
WhitespaceSplit, Sequence, byte_fallback, ByteFallback/Fuse/Strip/Replace decoders, single_word/rstrip/normalized
added tokens), and for truncation/stride/overflow/padding combinations. Needs node + the npm package
(scripts/setup-tokenizer-peer.sh).

  python3 scripts/gen_tokenizer_extra_fixtures.py [--only truncation]
"""
import json
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tokenizer_diff import reference, random_text  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "tokenizer_extra")


def plane_samples():
    # One assigned-or-not code point from every plane, plus private use and noncharacters.
    cps = [0x41, 0x1F600, 0x20000, 0x30000, 0x40000, 0x50000, 0x60000, 0x70000, 0x80000, 0x90000, 0xA0000,
           0xB0000, 0xC0000, 0xD0000, 0xE0001, 0xF0000, 0x10FFFD, 0xFFFE, 0xFFFF, 0x10FFFF, 0xE000]
    return ["plane " + "".join(chr(c) for c in cps), " ".join(chr(c) for c in cps)]


def bad_inputs():
    texts = ["", " ", "\t\n\r", "\x00", "a\x00b", "".join(chr(c) for c in range(1, 32)) + "\x7f",
             "\u200b\u200c\u200d\u2060\ufeff", "\u0085\u2028\u2029", "e\u0301\u0302\u0303", "\u0301 leading mark",
             "\U0001F468\u200D\U0001F469\u200D\U0001F467 family", "\U0001F1EB\U0001F1F7\U0001F1E9\U0001F1EA",
             "\r\n\r\n", "[MASK][MASK][MASK]", "  [MASK]  [SEP]  [CLS]  ", "[MASK", "MASK]", "x[MASK]y",
             "\ufffd\ufffd", "Ａ\u0301ﬁ\u2126\u212b", "\u1100\u1161\u11a8\u1100", "क्षत्रिय", "ำ"]
    texts += plane_samples()
    rng = random.Random(11)
    texts += [random_text(rng) for _ in range(60)]
    return [t for t in texts]


def general_tokenizer():
    vocab = [["<unk>", 0.0], ["[CLS]", 0.0], ["[SEP]", 0.0]]
    vocab += [[f"<0x{b:02X}>", -10.0] for b in range(256)]
    pieces = ["hello", "hell", "o", "h", "e", "l", "world", "w", "r", "d", "a", "b", "c", "ab", "abc", "bc", "cafe",
              "caf", "f", "x", "y", "z", "xyz", "_", "__", "the", "t", "n", "i", "s", "is", "this", "  ", " "]
    for i, p in enumerate(pieces):
        vocab.append([p, -1.0 - 0.25 * (i % 7)])
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [
            {"id": 1, "content": "[CLS]", "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True},
            {"id": 2, "content": "[SEP]", "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True},
            {"id": len(vocab), "content": "<word>", "single_word": True, "lstrip": False, "rstrip": True,
             "normalized": False, "special": False},
            {"id": len(vocab) + 1, "content": "MiXeD", "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": True, "special": False},
        ],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "NFKD"}, {"type": "StripAccents"}, {"type": "Lowercase"},
            {"type": "Replace", "pattern": {"Regex": "[0-9]+"}, "content": "#"},
            {"type": "Strip", "strip_left": True, "strip_right": True}]},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"}]},
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                                      {"Sequence": {"id": "A", "type_id": 0}},
                                      {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
                           "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                                    {"Sequence": {"id": "A", "type_id": 0}},
                                    {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                                    {"Sequence": {"id": "B", "type_id": 1}},
                                    {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
                           "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [1], "tokens": ["[CLS]"]},
                                              "[SEP]": {"id": "[SEP]", "ids": [2], "tokens": ["[SEP]"]}}},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "_"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 1}]},
        "model": {"type": "Unigram", "unk_id": 0, "byte_fallback": True, "vocab": vocab},
    }


def truncation_requests():
    """Random truncation / stride / overflow / padding combinations on single texts and pairs, max_length from
    the special-token count up (where the special tokens fill max_length, both texts overflow whole), plus the
    combinations that once differed."""
    rng = random.Random(21)
    words = ["Who", "wrote", "this?", "It", "was", "written", "by", "a", "friend", "of", "mine.", "Größe", "你好",
             "[MASK]", "  ", "short", "Привет"]
    strategies = ["LongestFirst", "OnlyFirst", "OnlySecond"]
    reqs = [
        {"text": "Größe Who It Привет 你好 wrote", "pair": "this? written this? friend of a Привет [MASK]",
         "truncation": {"max_length": 3, "strategy": "OnlySecond", "stride": 1, "direction": "right"}},
        {"text": "", "pair": "你好 [MASK] by by 你好 friend written mine. of",
         "truncation": {"max_length": 3, "strategy": "OnlyFirst", "stride": 1, "direction": "left"}},
    ]
    while len(reqs) < 160:
        pair = rng.random() < 0.6
        req = {"text": " ".join(rng.choice(words) for _ in range(rng.randrange(0, 12))),
               "truncation": {"max_length": rng.choice([3 if pair else 2, 4, 5]) if rng.random() < 0.4 else
                              rng.randrange(3 if pair else 2, 24),
                              "strategy": rng.choice(strategies), "stride": rng.randrange(0, 4),
                              "direction": rng.choice(["right", "left"])}}
        if pair:
            req["pair"] = " ".join(rng.choice(words) for _ in range(rng.randrange(0, 12)))
        pad = rng.choice([None, "longest", "max_length"])
        if pad:
            req["padding"] = {"direction": rng.choice(["right", "left"]), "padId": 0, "padTypeId": 0,
                              "padToken": "[PAD]"}
            if pad == "max_length":
                req["padding"]["maxLength"] = req["truncation"]["max_length"]
        reqs.append(req)
    return reqs


def write_truncation_cases(fixture_json):
    cases = []
    for req in truncation_requests():
        try:  # one process each: a Rust panic aborts node
            r = reference(fixture_json, [req])[0]
        except subprocess.CalledProcessError:
            continue
        case = dict(req)
        if "error" in r:
            case["error"] = r["error"]
        else:
            case["fast"] = [{k: v for k, v in e.items() if k != "overflowing"} for e in [r] + r["overflowing"]]
        cases.append(case)
    with open(os.path.join(OUT, "truncation_cases.json"), "w", encoding="utf-8") as f:
        json.dump({"source": "HF tokenizers 0.23.2 (npm) on tests/fixtures/tokenizer/tokenizer.json; each case "
                   "is one encode with setTruncation/setPadding; fast = the encoding then its overflowing ones",
                   "cases": cases}, f, ensure_ascii=False, indent=0)
    print(f"{len(cases)} truncation cases")


def main():
    fixture_json = os.path.join(ROOT, "tests", "fixtures", "tokenizer", "tokenizer.json")
    write_truncation_cases(fixture_json)
    if "--only" in sys.argv:
        return
    texts = bad_inputs()
    ref = reference(fixture_json, [{"text": t} for t in texts])
    cases = [{"text": t, "fast": {k: v for k, v in r.items() if k != "overflowing"}} for t, r in zip(texts, ref)]
    with open(os.path.join(OUT, "fast_awkward_inputs.json"), "w", encoding="utf-8") as f:
        json.dump({"source": "HF tokenizers 0.23.2 (npm) on tests/fixtures/tokenizer/tokenizer.json",
                   "cases": cases}, f, ensure_ascii=False, indent=0)

    general = general_tokenizer()
    gdir = os.path.join(OUT, "general")
    with open(os.path.join(gdir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(general, f, ensure_ascii=False)
    gtexts = ["Hello World", "  héllo   wörld  ", "Café 123 abc", "xyz\u00e9\u4e2d", "hello <word> world",
              "hello<word>world", "a MiXeD b mixed", "the \u00c5ngstr\u00f6m 42x", "ＡＢＣ ﬁ", "\U0001F600 abc",
              "", "   ", "[CLS] this is [SEP]"]
    greqs = [{"text": t} for t in gtexts] + [{"text": "abc def", "pair": "hello"}]
    gref = reference(os.path.join(gdir, "tokenizer.json"), greqs)
    gcases = []
    for req, r in zip(greqs, gref):
        case = {"text": req["text"], "fast": {k: v for k, v in r.items() if k != "overflowing"}}
        if "pair" in req:
            case["pair"] = req["pair"]
        gcases.append(case)
    ids_to_decode = [c["fast"]["input_ids"] for c in gcases] + [[3 + 0xE4, 3 + 0xB8, 3 + 0xAD, 300], [3 + 0xFF, 5]]
    decodes = []
    for ids in ids_to_decode:
        for skip in (False, True):
            try:  # one process each: some inputs make the Rust Strip decoder panic (empty token)
                text = reference(os.path.join(gdir, "tokenizer.json"), [{"decode": ids, "skip": skip}])[0]["text"]
            except subprocess.CalledProcessError:
                continue
            decodes.append({"ids": ids, "skip_special_tokens": skip, "text": text})
    with open(os.path.join(OUT, "general_cases.json"), "w", encoding="utf-8") as f:
        json.dump({"source": "HF tokenizers 0.23.2 (npm) on tokenizer_extra/general/tokenizer.json",
                   "cases": gcases, "decode": decodes}, f, ensure_ascii=False, indent=0)
    print(f"{len(cases)} awkward-input cases, {len(gcases)} general cases, {len(decodes)} decodes")


if __name__ == "__main__":
    main()
