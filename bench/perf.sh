#!/usr/bin/env bash
# Side-by-side benchmark: rembert.cpp float32 / bfloat16 / int8 and the peers of bench/peers (PyTorch float32 and
# bfloat16, ONNX Runtime float32 and dynamic int8), one after the other in one run, same threads, same token ids,
# on the full-size random checkpoint (google/rembert's shape, bare RemBertModel), then one table of medians and
# ratios (peer median / our median: above 1 means rembert.cpp is faster), and the fraction of the GEMM limit each
# of our paths reaches (its linear layers' operations per second / bench/rembert_bench_gemm's oneDNN matmul rate for
# that dtype, measured at the start of the same run).
#
# usage: bench/perf.sh [BUILD_DIR=build] [WORK_DIR=/tmp/rembert-perf]
# environment:
#   THREADS (2), REPS (3)
#   CONFIG  (configs/google-rembert.json): the checkpoint's shape
#   CASES   ("encoder:1:128 encoder:8:128 encoder:1:512 mixed:16,32,64,128,256,512,48,80 encoder:8:142"; the last
#           is the mixed batch's 1136 real tokens as 8 equal rows, to compare the two)
#   DTYPES  ("float32 bfloat16 int8"): our paths
#   CONVERTS ("int8 bfloat16"): rembert convert's folders (made once in WORK_DIR): size on disk, and the first case
#           of CASES with their load time and peak RSS (columns "int8-converted", "bfloat16-converted")
#   PEER_RUNS ("torch:float32 torch:bfloat16 ort:float32 ort:int8"), "" for none
#   PEERS   (bench/peers): the peer kit (set up once with its setup.sh); PYTHON (/usr/bin/python3): the one with torch
# WORK_DIR holds the checkpoint (2.3 GB, made once with rembert init-random, ~20 s), the ONNX exports (made once)
# and results.jsonl. Nothing else may run on the machine meanwhile: the figures are only comparable within one run.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
WORK=${2:-/tmp/rembert-perf}
THREADS=${THREADS:-2}
REPS=${REPS:-3}
CONFIG=${CONFIG:-$ROOT/configs/google-rembert.json}
CASES=${CASES:-"encoder:1:128 encoder:8:128 encoder:1:512 mixed:16,32,64,128,256,512,48,80 encoder:8:142"}
DTYPES=${DTYPES-"float32 bfloat16 int8"}
CONVERTS=${CONVERTS-"int8 bfloat16"}
PEER_RUNS=${PEER_RUNS-"torch:float32 torch:bfloat16 ort:float32 ort:int8"}
PEERS=${PEERS:-$ROOT/bench/peers}
PY=${PYTHON:-/usr/bin/python3}
REMBERT=$BUILD/rembert
[ -x "$REMBERT" ] || { echo "perf.sh: $REMBERT not found: build first" >&2; exit 2; }
if [ -n "$PEER_RUNS" ] && [ ! -f "$PEERS/peer_torch.py" ]; then
  echo "perf.sh: no peer kit in $PEERS (set PEERS, or PEER_RUNS= for rembert.cpp alone)" >&2
  exit 2
fi

mkdir -p "$WORK"
MODEL=$WORK/model
if [ ! -f "$MODEL/model.safetensors" ]; then
  "$REMBERT" init-random --config "$CONFIG" --out "$MODEL"
fi
OUT=$WORK/results.jsonl
: > "$OUT"
CASE_ARGS=()
for c in $CASES; do CASE_ARGS+=(--case "$c"); done

echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
echo "# flags: $(grep -o -w 'avx2\|avx512f\|avx512_bf16\|avx512_vnni\|amx_bf16\|amx_int8\|avx_vnni' /proc/cpuinfo | sort -u | tr '\n' ' ')"
SECONDS=0
"$BUILD/bench/rembert_bench_gemm" --threads "$THREADS" | tee -a "$OUT"
for dtype in $DTYPES; do
  "$REMBERT" info --model "$MODEL" --dtype "$dtype" --threads "$THREADS" | grep -E '^(compute|fallback|linear)' \
    | sed "s/^/# $dtype: /" | sort -u
  "$REMBERT" bench --model "$MODEL" --dtype "$dtype" --threads "$THREADS" --reps "$REPS" "${CASE_ARGS[@]}" \
    | tee -a "$OUT"
done

for dtype in $CONVERTS; do
  conv=$WORK/model-$dtype
  if [ ! "$conv/model.safetensors" -nt "$MODEL/model.safetensors" ]; then
    "$REMBERT" convert --model "$MODEL" --dtype "$dtype" --out "$conv" --force --threads "$THREADS" >&2
  fi
  src_bytes=$(stat -c %s "$MODEL/model.safetensors") conv_bytes=$(stat -c %s "$conv/model.safetensors")
  echo "# converted $dtype: model.safetensors $((conv_bytes / 1000000)) MB on disk," \
    "$(awk "BEGIN { printf \"%.2f\", $conv_bytes / $src_bytes }")x the float32 file ($((src_bytes / 1000000)) MB)"
  "$REMBERT" bench --model "$conv" --threads "$THREADS" --reps "$REPS" --case "${CASES%% *}" \
    | sed "s/\"dtype\": \"default\"/\"dtype\": \"$dtype-converted\"/" | tee -a "$OUT"
done

ort_graph() {  # the ONNX Runtime graph for a dtype, exported (and quantized) once
  local onnx=$WORK/model-onnx
  if [ ! -f "$onnx/export.json" ]; then "$PY" "$PEERS/export_onnx.py" "$MODEL" "$onnx" --head model >&2; fi
  if [ "$1" = int8 ]; then
    if [ ! "$onnx-int8/export.json" -nt "$onnx/export.json" ]; then
      "$PY" "$PEERS/quantize_onnx.py" "$onnx" "$onnx-int8" >&2
    fi
    onnx=$onnx-int8
  fi
  echo "$onnx/model.onnx"
}
for run in $PEER_RUNS; do
  peer=${run%%:*} dtype=${run#*:}
  case $peer in
    torch) "$PY" "$PEERS/peer_torch.py" "$MODEL" --dtype "$dtype" --threads "$THREADS" --reps "$REPS" "${CASE_ARGS[@]}" ;;
    ort) node "$PEERS/peer_ort.js" "$(ort_graph "$dtype")" --threads "$THREADS" --reps "$REPS" "${CASE_ARGS[@]}" ;;
    *) echo "perf.sh: unknown peer run '$run' (torch:DTYPE, ort:float32, ort:int8)" >&2; exit 2 ;;
  esac | grep '^{' | tee -a "$OUT"
done

echo
echo "median ms, $THREADS threads, $REPS reps (perf.sh wall time ${SECONDS}s); ratio = peer / rembert.cpp"
"$PY" - "$OUT" "$MODEL/config.json" <<'EOF'
import json, sys
rows, cols, loads, gemm = {}, [], [], {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("probe") == "gemm":
        gemm[r["dtype"]] = r
        continue
    if r.get("probe") == "memory":
        continue
    col = ("rembert.cpp" if r["peer"] == "rembert.cpp" else {"pytorch": "torch", "onnxruntime": "ort"}.get(r["peer"], r["peer"])) + " " + r["dtype"]
    if col not in cols:
        cols.append(col)
    if "case" in r:
        rows.setdefault((r["case"], r["tokens"]), {})[col] = r["median_ms"]
    else:
        loads.append(f"{col}: load {r['load_s']} s, peak RSS {r['peak_rss_mb']} MB")
ours = [c for c in cols if c.startswith("rembert.cpp")]
peers = [c for c in cols if not c.startswith("rembert.cpp")]
# The comparisons the issue sets targets for, where both columns ran.
pairs = [(o, p) for o in ours for p in peers
         if (o.endswith("float32") and p in ("ort float32", "torch float32"))
         or (o.endswith("int8") and p in ("ort float32", "ort int8"))
         or (o.endswith("bfloat16") and p in ("torch bfloat16", "ort float32"))]
head = f"| case | tokens | " + " | ".join(cols) + " | " + " | ".join(f"{p} / {o.split()[1]}" for o, p in pairs) + " |"
print(head)
print("|---|---:|" + "---:|" * (len(cols) + len(pairs)))
for (case, tokens), v in rows.items():
    cells = [(f"{v[c]:.0f}" if v[c] >= 100 else f"{v[c]:.1f}") if c in v else "-" for c in cols]
    cells += [f"{v[p] / v[o]:.2f}x" if o in v and p in v else "-" for o, p in pairs]
    print(f"| {case} | {tokens} | " + " | ".join(cells) + " |")
print()
print("\n".join(loads))

# Fraction of the GEMM limit: the linear layers' multiply-adds of the encoder (per token: 4 H^2 attention
# projections + 2 H I feed-forward per layer, and the E -> H input projection) per second, over the probe's rate.
c = json.load(open(sys.argv[2]))
H, I, L, E = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"], c["input_embedding_size"]
per_token = 2 * (L * (4 * H * H + 2 * H * I) + E * H)
print()
for d, g in gemm.items():
    print(f"GEMM limit {d}: " + (f"{g['gflops']} GOP/s ({g['impl']}, M={g['m']} N={g['n']} K={g['k']})" if "gflops" in g
                                 else f"none ({g['error']})"))
print()
print("| case | " + " | ".join(f"{o}: GOP/s, of limit" for o in ours) + " |")
print("|---|" + "---:|" * len(ours))
for (case, tokens), v in rows.items():
    cells = []
    for o in ours:
        g = gemm.get(o.split()[1], {})
        if o not in v or "gflops" not in g:
            cells.append("-")
            continue
        rate = per_token * tokens / (v[o] / 1e3) / 1e9
        cells.append(f"{rate:.0f}, {rate / g['gflops']:.0%}")
    print(f"| {case} | " + " | ".join(cells) + " |")
mixed = "mixed:16,32,64,128,256,512,48,80"
for o in ours:
    m = next((v[o] for (case, _), v in rows.items() if case == mixed and o in v), None)
    e = next((v[o] for (case, _), v in rows.items() if case == "encoder:8:142" and o in v), None)
    if m and e:
        print(f"{o}: 8 mixed lengths (1136 real tokens) {m:.0f} ms / the same tokens as 8x142 {e:.0f} ms = {m / e:.2f}x")
EOF
