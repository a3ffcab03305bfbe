#!/usr/bin/env bash
# Load benchmark of rembert-server: throughput and p50/p99 latency at 1, 8 and 64 concurrent clients, with dynamic
# batching on (the default --max-batch-tokens) and off (--max-batch-tokens 1: every sequence runs alone).
#
#   bench/server_load.sh BUILD_DIR MODEL_DIR [SECONDS] [REQUESTS_PER_CLIENT]
#
# SECONDS (default 10) bounds each run; REQUESTS_PER_CLIENT, when given, replaces it with a fixed count (for slow
# models). ROUTE (default /embed) picks the route: /predict, /fill-mask, /token-classification, /question-answering
# need a model with that head (/generate a causal LM; NEW_TOKENS tokens a request, default 16). Everything binds 127.0.0.1 on a free port. Prints a Markdown table.
set -euo pipefail
BUILD=${1:?build dir}
MODEL=${2:?model dir}
SECONDS_PER_RUN=${3:-10}
PER_CLIENT=${4:-0}
THREADS=${THREADS:-$(nproc)}
ROUTE=${ROUTE:-/embed}
NEW_TOKENS=${NEW_TOKENS:-16}   # /generate: max_new_tokens of each request
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT

echo "| batching | clients | requests | errors | req/s | p50 ms | p99 ms |"
echo "|---|---|---|---|---|---|---|"
for mode in on off; do
  extra=()
  if [ "$mode" = off ]; then extra=(--max-batch-tokens 1); fi
  "$BUILD/server/rembert-server" --model "$MODEL" --host 127.0.0.1 --port 0 --threads "$THREADS" \
      --max-concurrent-requests 1024 "${extra[@]}" > "$LOG" 2>&1 &
  pid=$!
  port=""
  for _ in $(seq 600); do
    # The "serving" line, printed once the model is loaded (the port opens earlier, answering 503).
    port=$(sed -n 's/.*serving .* on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$LOG" | head -1)
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { cat "$LOG"; kill "$pid"; exit 1; }
  # One warm-up request.
  "$BUILD/server/rembert_server_load" --port "$port" --clients 1 --requests-per-client 2 --route "$ROUTE" --max-new-tokens "$NEW_TOKENS" --label warmup > /dev/null
  for clients in 1 8 64; do
    if [ "$PER_CLIENT" -gt 0 ]; then
      "$BUILD/server/rembert_server_load" --port "$port" --clients "$clients" --requests-per-client "$PER_CLIENT" --route "$ROUTE" --max-new-tokens "$NEW_TOKENS" --label "$mode"
    else
      "$BUILD/server/rembert_server_load" --port "$port" --clients "$clients" --seconds "$SECONDS_PER_RUN" --route "$ROUTE" --max-new-tokens "$NEW_TOKENS" --label "$mode"
    fi
  done
  kill -TERM "$pid"
  wait "$pid"
done
