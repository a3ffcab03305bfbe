#!/usr/bin/env bash
# Installs the Hugging Face tokenizers peer (npm package `tokenizers` 0.23.2, the Rust library via its Node
# binding) outside the repository, for bench/tokenizer_peer.js and the developer scripts tokenizer_diff.py /
# gen_tokenizer_extra_fixtures.py, plus what those scripts and the corpus builder run on (python3; msgunfmt from
# gettext). Not needed to build or test.
set -euo pipefail
trap 'echo "setup-tokenizer-peer.sh: FAILED at line $LINENO: $BASH_COMMAND" >&2' ERR
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
PKGS=()
command -v python3 >/dev/null || PKGS+=(python3)
command -v msgunfmt >/dev/null || PKGS+=(gettext)
command -v npm >/dev/null || PKGS+=(nodejs npm)
if [ ${#PKGS[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${PKGS[@]}"
fi
PEER_DIR="${REMBERT_PEER_DIR:-$HOME/.cache/rembert-peers}"
mkdir -p "$PEER_DIR"
cd "$PEER_DIR"
[ -f package.json ] || npm init -y >/dev/null
npm install --no-audit --no-fund --loglevel=error tokenizers@0.23.2
node -e "require('$PEER_DIR/node_modules/tokenizers')"
echo "export NODE_PATH=$PEER_DIR/node_modules"
