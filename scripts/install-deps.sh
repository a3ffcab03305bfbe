#!/usr/bin/env bash
# Installs everything rembert.cpp needs to build and test, from Debian 12's packages.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
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
  curl gettext

# Node.js and npm (the machine image may already ship them from elsewhere; don't fight that install).
command -v npm >/dev/null || $SUDO apt-get install -y -qq --no-install-recommends nodejs npm

# The OpenAI client library that the server tests call /v1/embeddings with: npm, into the ignored .cache/ folder.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
npm install --prefix "$ROOT/.cache/npm" --no-audit --no-fund --silent openai@5
