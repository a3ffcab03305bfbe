#!/usr/bin/env bash
# Installs everything rembert.cpp needs to build and test, from Debian 12's packages (and the one npm package the
# server tests drive the server with). Any failing step stops the script with a message naming it.
set -euo pipefail
trap 'echo "install-deps.sh: FAILED at line $LINENO: $BASH_COMMAND" >&2' ERR
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# ca-certificates: a bare Debian has no CA bundle, and npm (HTTPS) needs one.
$SUDO apt-get install -y -qq --no-install-recommends \
  g++ cmake ninja-build pkg-config \
  libdnnl-dev \
  nlohmann-json3-dev \
  libcli11-dev \
  libzip-dev \
  libsentencepiece-dev \
  libicu-dev \
  libcurl4-openssl-dev \
  libcpp-httplib-dev \
  libgtest-dev libgmock-dev \
  libssl-dev \
  libhdf5-dev \
  curl gettext ca-certificates

# The fuzz targets (tests/fuzz): libFuzzer comes with clang's runtime; gcc has none. clang links LLVM's OpenMP
# runtime (libomp), not gcc's libgomp.
$SUDO apt-get install -y -qq --no-install-recommends clang-14 libclang-rt-14-dev libomp-14-dev llvm-14

# The Python module (python/, built by CMake when pybind11 is found) and its tests: Debian's python3 with numpy and
# pytest; setuptools/wheel/pip/venv for the offline `pip install --no-build-isolation --no-index .`.
# python3-torch is big (libtorch alone is about 130 MB installed, plus its dependencies): it is there for
# return_tensors="pt" and the seed examples (`import torch`), which the tests run.
# python3-distributed (dask.distributed) and python3-pandas: rembert.dask's batch jobs and their tests
# (python/tests/test_dask.py); `import rembert` itself works without them.
$SUDO apt-get install -y -qq --no-install-recommends \
  python3 python3-dev pybind11-dev python3-numpy python3-pytest \
  python3-setuptools python3-wheel python3-pip python3-venv \
  python3-torch \
  python3-distributed python3-pandas \
  python3-h5py

# The deployment tests (tests/deploy): HAProxy in front of server replicas, python3-yaml to read the Kubernetes
# manifests.
$SUDO apt-get install -y -qq --no-install-recommends haproxy python3-yaml

# Node.js and npm (the machine image may already ship them from elsewhere; don't fight that install).
command -v npm >/dev/null || $SUDO apt-get install -y -qq --no-install-recommends nodejs npm

# The OpenAI client library that the server tests call /v1/embeddings with: npm, into the ignored .cache/ folder.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
npm install --prefix "$ROOT/.cache/npm" --no-audit --no-fund --loglevel=error openai@5
test -f "$ROOT/.cache/npm/node_modules/openai/package.json"
echo "install-deps.sh: done"
