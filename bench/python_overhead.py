#!/usr/bin/env python3
"""What calling through Python costs: a 1x128 forward of the bare RemBertModel timed through rembert.AutoModel
(numpy in, numpy out) against `rembert bench --case encoder:1:128`'s in-process time on the same model, with the same
token ids and threads. Rounds alternate between the two so that load on a shared machine hits both alike; the
medians are the median over rounds of each round's median, the minima the fastest single call (the least disturbed
by other load).

  PYTHONPATH=build/python /usr/bin/python3 bench/python_overhead.py [--model DIR] [--threads 2] [--reps 200]

Without --model, a random model is written with `rembert init-random --config configs/rembert-small-512.json`
(2 layers, hidden 128: a small forward, where a fixed per-call cost shows the most).
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import rembert

ROOT = pathlib.Path(__file__).resolve().parents[1]


def token_ids(vocab, count, seed=1):
    """The ids `rembert bench` feeds: its 64-bit LCG over the real tokens (cli/cmd_bench.cc, TokenStream)."""
    x, out = seed, []
    for _ in range(count):
        x = (x * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        out.append(5 + (x >> 33) % (vocab - 5))
    return np.array([out], dtype=np.int64)


def cli_round(cli, model, threads, reps):
    done = subprocess.run([cli, "bench", "--model", model, "--threads", str(threads), "--reps", str(reps),
                           "--warmup", "10", "--case", "encoder:1:128"], check=True, capture_output=True, text=True)
    line = next(json.loads(l) for l in done.stdout.splitlines() if '"case"' in l)
    return line["median_ms"], line["min_ms"]


def python_round(model, ids, reps):
    for _ in range(10):
        model(input_ids=ids)
    runs = []
    for _ in range(reps):
        start = time.perf_counter()
        model(input_ids=ids)
        runs.append((time.perf_counter() - start) * 1e3)
    return statistics.median(runs), min(runs)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder (default: a random small model in a temporary folder)")
    parser.add_argument("--cli", default=str(ROOT / "build" / "rembert"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        model_dir = args.model
        if model_dir is None:
            model_dir = str(pathlib.Path(scratch) / "model")
            subprocess.run([args.cli, "init-random", "--config", str(ROOT / "configs" / "rembert-small-512.json"),
                            "--out", model_dir], check=True, capture_output=True)
        rembert.set_num_threads(args.threads)
        model = rembert.AutoModel.from_pretrained(model_dir)
        ids = token_ids(model.config.vocab_size, 128)
        cli, py = [], []
        for _ in range(args.rounds):
            cli.append(cli_round(args.cli, model_dir, args.threads, args.reps))
            py.append(python_round(model, ids, args.reps))
    cli_median = statistics.median(m for m, _ in cli)
    py_median = statistics.median(m for m, _ in py)
    cli_min, py_min = min(m for _, m in cli), min(m for _, m in py)
    print(json.dumps({
        "case": "encoder:1:128", "threads": args.threads, "reps": args.reps, "rounds": args.rounds,
        "load_average": round(os.getloadavg()[0], 2),  # a shared machine shows here
        "cli_median_ms": round(cli_median, 4), "python_median_ms": round(py_median, 4),
        "overhead_median_pct": round(100 * (py_median / cli_median - 1), 2),
        "cli_min_ms": round(cli_min, 4), "python_min_ms": round(py_min, 4),
        "overhead_min_pct": round(100 * (py_min / cli_min - 1), 2),
        "overhead_min_us": round(1e3 * (py_min - cli_min), 1),
    }))


if __name__ == "__main__":
    sys.exit(main())
