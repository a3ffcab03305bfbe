#!/usr/bin/env bash
# Tokenizer throughput: rembert.cpp's fast tokenizer vs Hugging Face tokenizers (npm, Rust) on the same >= 10 MB
# multilingual corpus and tokenizer.json, both on 2 threads; prints both and the ratio.
#   scripts/bench_tokenizers.sh [BUILD_DIR=build] [MODEL_DIR=tests/fixtures/tokenizer] [THREADS=2]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${1:-$ROOT/build}"
MODEL="${2:-$ROOT/tests/fixtures/tokenizer}"
THREADS="${3:-2}"
CORPUS="${REMBERT_TOK_CORPUS:-/tmp/rembert_tok_corpus.txt}"
export NODE_PATH="${NODE_PATH:-$HOME/.cache/rembert-peers/node_modules}"
[ -s "$CORPUS" ] || python3 "$ROOT/scripts/make_tokenizer_corpus.py" "$CORPUS" --mb 12
ours=$(OMP_NUM_THREADS="$THREADS" "$BUILD/bench/rembert_bench_tokenizer" --model "$MODEL" --corpus "$CORPUS")
echo "$ours"
peer=$(RAYON_NUM_THREADS="$THREADS" node "$ROOT/bench/tokenizer_peer.js" "$MODEL/tokenizer.json" "$CORPUS")
echo "$peer"
a=$(echo "$ours" | sed -E 's/.* ([0-9]+) tokens\/s.*/\1/')
b=$(echo "$peer" | sed -E 's/.* ([0-9]+) tokens\/s.*/\1/')
python3 -c "print(f'ratio rembert.cpp / HF tokenizers: {$a / $b:.2f}x')"
