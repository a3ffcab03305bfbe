#!/usr/bin/env python3
"""Developer tool: compares `rembert tokenize --fast` with Hugging Face tokenizers (npm `tokenizers`) on many texts,
random and hand-picked (control characters, every Unicode plane, combining sequences, special tokens in odd
places). Needs node and the npm package (scripts/setup-tokenizer-peer.sh). Not part of the test suite.

  python3 scripts/tokenizer_diff.py build/rembert tests/fixtures/tokenizer [--n 2000] [--seed 1]
"""
import json
import os
import random
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODE_PATH = os.environ.get("NODE_PATH", "/root/.cache/rembert-peers/node_modules")


def reference(tokenizer_json, requests):
    out = subprocess.run(["node", os.path.join(ROOT, "scripts", "tokenizer_reference.js"), tokenizer_json],
                         input=json.dumps(requests).encode(), capture_output=True,
                         env=dict(os.environ, NODE_PATH=NODE_PATH), check=True)
    return json.loads(out.stdout)


def ours(cli, model, texts, extra=()):
    args = [cli, "tokenize", "--model", model, "--fast", *extra, "--", *texts]
    p = subprocess.run(args, capture_output=True)
    if p.returncode != 0:
        return {"error": p.stderr.decode(errors="replace")}
    r = json.loads(p.stdout)
    return r if len(texts) > 1 else [r]


def random_text(rng):
    pools = [
        lambda: chr(rng.randrange(0x20, 0x7F)),
        lambda: rng.choice(" \t\n\r\u00a0\u3000\u2009\u200b\u2028\x0b\x0c\x1c\x85"),
        lambda: chr(rng.randrange(0, 0x20)),
        lambda: chr(rng.randrange(0x80, 0x800)),
        lambda: chr(rng.randrange(0x800, 0xD800)),
        lambda: chr(rng.randrange(0xE000, 0x10000)),
        lambda: chr(rng.randrange(0x10000, 0x110000)),
        lambda: rng.choice(["[MASK]", "[CLS]", "[SEP]", "[PAD]", "[UNK]", " [MASK] ", "``", "''", "  "]),
        lambda: rng.choice(["e\u0301", "\u1100\u1161\u11a8", "\U0001F468\u200d\U0001F469", "\U0001F1EB\U0001F1F7",
                            "क्ष", "\u0e01\u0e33", "Ａ\u0301", "ﬁ", "ß", "İ", "\r\n", "\ufeff", "\ufffd"]),
        lambda: rng.choice(["hello", "world", "Größe", "Привет", "你好", "こんにちは", "مرحبا", " the ", "don't"]),
    ]
    n = rng.randrange(0, 40)
    s = "".join(rng.choice(pools)() for _ in range(n))
    # surrogates cannot be encoded; drop them
    return "".join(c for c in s if not (0xD800 <= ord(c) <= 0xDFFF) and c != "\0")


def main():
    cli, model = sys.argv[1], sys.argv[2]
    n = int(sys.argv[sys.argv.index("--n") + 1]) if "--n" in sys.argv else 2000
    seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 1
    rng = random.Random(seed)
    texts = [random_text(rng) for _ in range(n)]
    texts = [t for t in texts if t]
    ref = reference(os.path.join(model, "tokenizer.json"), [{"text": t} for t in texts])
    got = []
    for i in range(0, len(texts), 200):
        got += ours(cli, model, texts[i:i + 200])
    bad = 0
    for t, r, g in zip(texts, ref, got):
        r = {k: v for k, v in r.items() if k != "overflowing"}
        if r != g:
            bad += 1
            if bad <= 5:
                print("MISMATCH", json.dumps(t))
                for k in r:
                    if r.get(k) != g.get(k):
                        print("  ", k, "ref", r.get(k))
                        print("  ", k, "got", g.get(k))
    print(f"{len(texts) - bad}/{len(texts)} identical")
    return 1 if bad else 0


if __name__ == "__main__" and "--options" not in sys.argv:
    sys.exit(main())


def options_main(cli, model, seed):
    """Truncation / stride / overflow / padding combinations on single texts, pairs and batches."""
    rng = random.Random(seed)
    words = ["Who", "wrote", "this?", "It", "was", "written", "by", "a", "friend", "of", "mine.", "Größe", "你好",
             "[MASK]", "  ", "short", "Привет"]
    strategies = {"longest_first": "LongestFirst", "only_first": "OnlyFirst", "only_second": "OnlySecond"}
    requests, ours_args = [], []
    for _ in range(300):
        a = " ".join(rng.choice(words) for _ in range(rng.randrange(0, 12)))
        b = " ".join(rng.choice(words) for _ in range(rng.randrange(0, 12)))
        pair = rng.random() < 0.6
        strat = rng.choice(list(strategies))
        max_length = rng.randrange(3 if pair else 2, 24)  # from the special-token count up (below it tokenizers wraps around)
        stride = rng.randrange(0, 4)
        side = rng.choice(["right", "left"])
        pad = rng.choice([None, "longest", "max_length"])
        multiple = rng.choice([None, None, 4])
        pad_side = rng.choice(["right", "left"])
        req = {"text": a, "truncation": {"max_length": max_length, "strategy": strategies[strat], "stride": stride,
                                         "direction": side}}
        if pair:
            req["pair"] = b
        args = ["--max-length", str(max_length), "--truncation", strat, "--stride", str(stride), "--truncation-side",
                side, "--return-overflowing-tokens"]
        if pad:
            req["padding"] = {"direction": pad_side, "padId": 0, "padTypeId": 0, "padToken": "[PAD]"}
            if pad == "max_length":
                req["padding"]["maxLength"] = max_length
            if multiple:
                req["padding"]["padToMultipleOf"] = multiple
            args += ["--padding", pad, "--padding-side", pad_side]
            if multiple:
                args += ["--pad-to-multiple-of", str(multiple)]
        if pair:
            args += ["--pair", b]
        requests.append(req)
        ours_args.append(args + ["--", a])
    ref = []
    for req in requests:  # one process each: a Rust panic aborts node
        try:
            ref += reference(os.path.join(model, "tokenizer.json"), [req])
        except subprocess.CalledProcessError as e:
            ref.append({"error": "panic: " + e.stderr.decode(errors="replace").splitlines()[1]})
    bad = 0
    for req, args, r in zip(requests, ours_args, ref):
        p = subprocess.run([cli, "tokenize", "--model", model, "--fast", *args], capture_output=True)
        if p.returncode != 0 and b"not a multiple of pad_to_multiple_of" in p.stderr:
            continue  # a transformers-level check the raw library does not make
        if "error" in r:
            ok = p.returncode != 0
            got = p.stderr.decode()
            want = r["error"]
        else:
            flat = [r] + r["overflowing"]
            want = [{k: v for k, v in e.items() if k != "overflowing"} for e in flat]
            got = json.loads(p.stdout) if p.returncode == 0 else p.stderr.decode()
            if isinstance(got, list):
                got = [{k: v for k, v in e.items() if k != "overflow_to_sample_mapping"} for e in got]
            ok = got == want
        if not ok:
            bad += 1
            if bad <= 4:
                print("MISMATCH", json.dumps(req, ensure_ascii=False))
                print("  want", json.dumps(want, ensure_ascii=False)[:800])
                print("  got ", json.dumps(got, ensure_ascii=False)[:800])
    print(f"options: {len(requests) - bad}/{len(requests)} identical")
    return 1 if bad else 0


if __name__ == "__main__" and "--options" in sys.argv:
    seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 3
    sys.exit(options_main(sys.argv[1], sys.argv[2], seed))
