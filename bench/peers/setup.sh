#!/usr/bin/env bash
# Installs the two peers and checks them.   usage: setup.sh [PEER_DIR]
#   PyTorch:      Debian packages (system python3).
#   ONNX Runtime: onnxruntime-node from npm into PEER_DIR (default $REMBERT_PEER_DIR or ~/.cache/rembert-peers),
#                 outside this folder so a read-only copy of the kit works.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PEER_DIR=${1:-${REMBERT_PEER_DIR:-$HOME/.cache/rembert-peers}}
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo

# libopenblas0-pthread: Debian's python3-torch does its float32 matmuls through the system libblas.so.3; without
# OpenBLAS that is the reference BLAS, about 100x slower. Installing it makes OpenBLAS the libblas alternative.
PKGS=(python3-torch python3-numpy python3-onnx python3-sentencepiece libopenblas0-pthread)
command -v npm >/dev/null || PKGS+=(nodejs npm)
# --no-install-recommends: the recommends of python3-torch and python3-onnx bring a database server and GIS
# libraries, which no peer uses.
$SUDO apt-get install -y --no-install-recommends "${PKGS[@]}" || { $SUDO apt-get update && $SUDO apt-get install -y --no-install-recommends "${PKGS[@]}"; }

# The package ships the CPU runtime; its install script would try to download CUDA libraries: skip that.
mkdir -p "$PEER_DIR"
ONNXRUNTIME_NODE_INSTALL_CUDA=skip npm install --prefix "$PEER_DIR" --no-audit --no-fund onnxruntime-node@1.30.0

echo "== checks"
/usr/bin/python3 - <<'EOF'
import time, torch
torch.set_num_threads(2)
a = torch.randn(1024, 1024)
a @ a
t = time.perf_counter()
for _ in range(5):
    a @ a
gflops = 5 * 2 * 1024 ** 3 / (time.perf_counter() - t) / 1e9
print(f"python3-torch {torch.__version__}: float32 1024^3 matmul {gflops:.0f} GFLOP/s"
      + ("  <-- too slow: reference BLAS? check libopenblas0-pthread" if gflops < 20 else ""))
EOF
REMBERT_PEER_DIR=$PEER_DIR node -e "
const p = require('path'), dir = process.env.REMBERT_PEER_DIR;
const ort = require(p.join(dir, 'node_modules', 'onnxruntime-node'));
console.log('onnxruntime-node ' + ort.env.versions.common + ' in ' + dir);"

cat <<EOF
== ready. Run the scripts with Debian's python3 (the one with torch), e.g.
  /usr/bin/python3 $HERE/check_peer.py
  /usr/bin/python3 $HERE/make_random_model.py $HERE/configs/rembert.json MODEL_DIR --with-mlm-head
  $HERE/run_peers.sh MODEL_DIR --threads 2
EOF
if [ "$PEER_DIR" != "$HOME/.cache/rembert-peers" ]; then
  echo "  (export REMBERT_PEER_DIR=$PEER_DIR so peer_ort.js finds onnxruntime-node)"
fi
