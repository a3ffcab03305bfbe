#!/usr/bin/env python3
"""Builds a tokenizer folder shaped like google/rembert's (tokenizer.json with a 250,300-piece Unigram vocab,
tokenizer_config.json, special_tokens_map.json) for load-time and throughput benchmarks, since the real file cannot
be downloaded here. Components, special tokens and the first pieces come from the fixture tokenizer; the rest are
made up, deterministically:

  --pieces corpus  the most frequent word starts ("▁" + prefix) and word pieces of a text corpus, so that pieces
                   share prefixes the way a trained vocabulary's do (default)
  --pieces random  random strings over several scripts: no shared structure, the worst case for the trie

  python3 scripts/make_full_size_tokenizer.py OUT_DIR [--corpus /tmp/rembert_tok_corpus.txt]
                                                      [--pieces corpus|random] [--size 250300]
"""
import argparse
import collections
import json
import os
import random
import shutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "tokenizer")


def corpus_pieces(path, want, taken):
    counts = collections.Counter()
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            for word in line.split():
                for n in range(1, min(len(word), 10) + 1):
                    counts["\u2581" + word[:n]] += 1
                for start in range(1, len(word)):
                    for n in range(1, min(len(word) - start, 6) + 1):
                        counts[word[start:start + n]] += 1
    out = []
    for piece, _ in counts.most_common():
        if piece not in taken:
            out.append(piece)
            taken.add(piece)
            if len(out) == want:
                break
    if len(out) < want:
        raise SystemExit(f"{path}: only {len(out)} distinct pieces, {want} wanted; use a bigger corpus")
    return out


def random_pieces(want, taken, rng):
    alphabet = "abcdefghijklmnopqrstuvwxyzéèàçñüößабвгдежзийклмнопрстуфхцчшщыэюяअआकखगあいうかきアイウカキ漢字中文"
    out = []
    while len(out) < want:
        piece = ("\u2581" if rng.random() < 0.6 else "") + "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 10)))
        if piece not in taken:
            out.append(piece)
            taken.add(piece)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--corpus", default="/tmp/rembert_tok_corpus.txt")
    ap.add_argument("--pieces", choices=["corpus", "random"], default="corpus")
    ap.add_argument("--size", type=int, default=250300)
    args = ap.parse_args()

    with open(os.path.join(FIXTURE, "tokenizer.json"), encoding="utf-8") as f:
        tok = json.load(f)
    vocab = tok["model"]["vocab"]
    taken = {p for p, _ in vocab}
    rng = random.Random(0)
    want = args.size - len(vocab)
    extra = corpus_pieces(args.corpus, want, taken) if args.pieces == "corpus" else random_pieces(want, taken, rng)
    # Scores below the fixture's, decreasing like a trained model's list.
    low = min(s for _, s in vocab)
    scores = sorted((low - 0.1 - 8 * rng.random() for _ in extra), reverse=True)
    vocab.extend([p, s] for p, s in zip(extra, scores))

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False, indent=2)
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        shutil.copyfile(os.path.join(FIXTURE, name), os.path.join(args.out, name))
    size = os.path.getsize(os.path.join(args.out, "tokenizer.json"))
    print(f"{args.out}/tokenizer.json: {len(vocab)} pieces ({args.pieces}), {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
