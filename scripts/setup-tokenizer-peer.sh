#!/usr/bin/env bash
# Installs the Hugging Face tokenizers peer (npm package `tokenizers` 0.23.2, the Rust library via its Node
# binding) outside the repository, for bench/tokenizer_peer.js and the developer scripts tokenizer_diff.py /
# gen_tokenizer_extra_fixtures.py. Not needed to build or test.
set -euo pipefail
PEER_DIR="${REMBERT_PEER_DIR:-$HOME/.cache/rembert-peers}"
mkdir -p "$PEER_DIR"
cd "$PEER_DIR"
[ -f package.json ] || npm init -y >/dev/null
npm install --no-audit --no-fund tokenizers@0.23.2
echo "export NODE_PATH=$PEER_DIR/node_modules"
