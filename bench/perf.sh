#!/usr/bin/env bash
# Side-by-side benchmark: rembert.cpp float32 / bfloat16 / int8 and the peers of bench/peers (PyTorch float32 and
# bfloat16, ONNX Runtime float32 and dynamic int8), one after the other in one run, same threads, same token ids,
# on the full-size random checkpoint (google/rembert's shape, bare RemBertModel), then one table of medians and
# ratios (peer median / our median: above 1 means rembert.cpp is faster), and the fraction of the GEMM limit each
# of our paths reaches (its linear layers' operations per second / bench/rembert_bench_gemm's oneDNN matmul rate for
# that dtype, measured at the start of the same run). Rows with targets: fill-mask end to end against the encoder
# alone (on a full-size masked-LM checkpoint with a 250,300-piece tokenizer), and decoding per token against the
# weight-read limit (on a full-size causal-LM checkpoint with is_decoder; limit = the bytes of every Linear's weights,
# scales and biases per token / the memory read bandwidth rembert_bench_gemm measures in the same run).
#
# usage: bench/perf.sh [BUILD_DIR=build] [WORK_DIR=/tmp/rembert-perf]
# environment:
#   THREADS (2), REPS (3)
#   CONFIG  (configs/google-rembert.json): the checkpoint's shape
#   CASES   ("encoder:1:128 encoder:8:128 encoder:1:512 mixed:16,32,64,128,256,512,48,80 encoder:8:142"; the last
#           is the mixed batch's 1136 real tokens as 8 equal rows, to compare the two)
#   DTYPES  ("float32 bfloat16 int8"): our paths
#   FILL_MASK ("fill-mask:128"): end-to-end cases on WORK_DIR/model-mlm, "" for none; compared with encoder:1:S
#   DECODE  ("decode:16:32"): decode:P:N cases on WORK_DIR/model-clm, "" for none; each also runs as decode:P:1 (the
#           prompt alone), so that per token = (P:N - P:1) / (N - 1): the steps without the prompt pass
#   CONVERTS ("int8 bfloat16"): rembert convert's folders (made once in WORK_DIR): size on disk, and the first case
#           of CASES with their load time and peak RSS (columns "int8-converted", "bfloat16-converted")
#   PEER_RUNS ("torch:float32 torch:bfloat16 ort:float32 ort:int8"), "" for none
#   PEERS   (bench/peers): the peer kit (set up once with its setup.sh); PYTHON (/usr/bin/python3): the one with torch
# WORK_DIR holds the checkpoint (2.3 GB, made once with rembert init-random, ~20 s), the ONNX exports (made once),
# the masked-LM and causal-LM checkpoints (4 GB each, made once when FILL_MASK / DECODE ask for them) and
# results.jsonl. Nothing else may run on the machine meanwhile: the figures are only comparable within one run.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
WORK=${2:-/tmp/rembert-perf}
THREADS=${THREADS:-2}
REPS=${REPS:-3}
CONFIG=${CONFIG:-$ROOT/configs/google-rembert.json}
CASES=${CASES:-"encoder:1:128 encoder:8:128 encoder:1:512 mixed:16,32,64,128,256,512,48,80 encoder:8:142"}
DTYPES=${DTYPES-"float32 bfloat16 int8"}
FILL_MASK=${FILL_MASK-"fill-mask:128"}
DECODE=${DECODE-"decode:16:32"}
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
# The head cases' checkpoints: google/rembert's shape with the MLM head and a tokenizer covering its vocabulary
# (the fixture's components and pieces, made-up pieces up to vocab_size), and with the causal-LM head as a decoder.
MLM=$WORK/model-mlm CLM=$WORK/model-clm
HEAD_RUNS=()
if [ -n "$FILL_MASK" ]; then
  if [ ! -f "$MLM/tokenizer.json" ]; then
    "$REMBERT" init-random --config "$CONFIG" --head masked-lm --out "$MLM"
    VOCAB=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["vocab_size"])' "$CONFIG")
    "$PY" "$ROOT/scripts/make_full_size_tokenizer.py" "$MLM" --pieces random --size "$VOCAB"
  fi
  HEAD_RUNS+=("$MLM $FILL_MASK")
fi
if [ -n "$DECODE" ]; then
  if [ ! -f "$CLM/model.safetensors" ]; then
    mkdir -p "$CLM"
    "$PY" -c 'import json, sys; c = json.load(open(sys.argv[1])); c["is_decoder"] = True; json.dump(c, open(sys.argv[2], "w"))' \
      "$CONFIG" "$WORK/config-decoder.json"
    "$REMBERT" init-random --config "$WORK/config-decoder.json" --head causal-lm --out "$CLM"
  fi
  cases=""
  for c in $DECODE; do cases+=" $c ${c%:*}:1"; done
  HEAD_RUNS+=("$CLM$cases")
fi

echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
echo "# flags: $(grep -o -w 'avx2\|avx512f\|avx512_bf16\|avx512_vnni\|amx_bf16\|amx_int8\|avx_vnni' /proc/cpuinfo | sort -u | tr '\n' ' ')"
SECONDS=0
"$BUILD/bench/rembert_bench_gemm" --threads "$THREADS" | tee -a "$OUT"
for dtype in $DTYPES; do
  "$REMBERT" info --model "$MODEL" --dtype "$dtype" --threads "$THREADS" | grep -E '^(compute|fallback|linear)' \
    | sed "s/^/# $dtype: /" | sort -u
  "$REMBERT" bench --model "$MODEL" --dtype "$dtype" --threads "$THREADS" --reps "$REPS" "${CASE_ARGS[@]}" \
    | tee -a "$OUT"
  for run in "${HEAD_RUNS[@]}"; do  # "MODEL_DIR CASE...": their case lines only (the load line is the bare model's)
    set -- $run
    model=$1
    shift
    "$REMBERT" bench --model "$model" --dtype "$dtype" --threads "$THREADS" --reps "$REPS" $(printf -- '--case %s ' "$@") \
      | grep '"case"' | tee -a "$OUT"
  done
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
rows, cols, loads, gemm, memory = {}, [], [], {}, None
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("probe") == "gemm":
        gemm[r["dtype"]] = r
        continue
    if r.get("probe") == "memory":
        memory = r["gb_per_s"]
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
head = "| case | tokens | " + " | ".join(cols + [f"{p} / {o.split()[1]}" for o, p in pairs]) + " |"
print(head)
print("|---|---:|" + "---:|" * (len(cols) + len(pairs)))
ms = lambda x: f"{x:.0f}" if x >= 100 else f"{x:.1f}" if x >= 1 else f"{x:.3f}"
for (case, tokens), v in rows.items():
    cells = [ms(v[c]) if c in v else "-" for c in cols]
    cells += [f"{v[p] / v[o]:.2f}x" if o in v and p in v else "-" for o, p in pairs]
    print(f"| {case} | {tokens} | " + " | ".join(cells) + " |")

# The rows with targets, in our columns. fill-mask:S end to end / the bare encoder on S tokens (encoder:1:S).
c = json.load(open(sys.argv[2]))
def our_row(label, tokens, cell):
    cells = [cell(o) if o in ours else "-" for o in cols] + ["-"] * len(pairs)
    print(f"| {label} | {tokens} | " + " | ".join(cells) + " |")
median = lambda case, col: next((v.get(col) for (k, _), v in rows.items() if k == case), None)
for case, tokens in [k for k in rows if k[0].startswith("fill-mask:")]:
    enc = "encoder:1:" + case.split(":")[1]
    ratio = lambda o: f"{median(case, o) / median(enc, o):.2f}x" if median(case, o) and median(enc, o) else "-"
    our_row(f"{case} / {enc} (target <= 1.1x)", tokens, ratio)
# Decoding per token: (decode:P:N - decode:P:1) / (N - 1), over the weight-read limit: every Linear's weights (4, 2
# or 1 bytes), int8 scales and float32 biases read once per token (the LM head runs at the last position only)
# over the memory bandwidth.
H, I, L, E, O, V = (c[k] for k in ("hidden_size", "intermediate_size", "num_hidden_layers", "input_embedding_size",
                                   "output_embedding_size", "vocab_size"))
weights = L * (4 * H * H + 2 * H * I) + E * H + H * O + O * V
outputs = L * (5 * H + I) + H + O + V
weight_bytes = {"float32": 4 * weights + 4 * outputs, "bfloat16": 2 * weights + 4 * outputs,
                "int8": weights + 8 * outputs}
for case, tokens in [k for k in rows if k[0].startswith("decode:") and not k[0].endswith(":1")]:
    P, N = case.split(":")[1:]
    def per_token(o):
        full, prompt, d = median(case, o), median(f"decode:{P}:1", o), o.split()[1]
        if not full or not prompt or d not in weight_bytes or not memory:
            return "-"
        step, limit = (full - prompt) / (int(N) - 1), weight_bytes[d] / (memory * 1e9) * 1e3
        return f"{ms(step)} ms, {step / limit:.2f}x of {ms(limit)}"
    our_row(f"{case} per token, of the weight-read limit (target <= 1.3x)", tokens, per_token)
print()
print("\n".join(loads))
if memory:
    print(f"memory read bandwidth: {memory} GB/s (rembert_bench_gemm); weights read per decoded token: " +
          ", ".join(f"{d} {b / 1e9:.2f} GB" for d, b in weight_bytes.items()))

# Fraction of the GEMM limit: the linear layers' multiply-adds of the encoder (per token: 4 H^2 attention
# projections + 2 H I feed-forward per layer, and the E -> H input projection) per second, over the probe's rate.
per_token = 2 * (L * (4 * H * H + 2 * H * I) + E * H)
print()
for d, g in gemm.items():
    print(f"GEMM limit {d}: " + (f"{g['gflops']} GOP/s ({g['impl']}, M={g['m']} N={g['n']} K={g['k']})" if "gflops" in g
                                 else f"none ({g['error']})"))
print()
print("| case | " + " | ".join(f"{o}: GOP/s, of limit" for o in ours) + " |")
print("|---|" + "---:|" * len(ours))
for (case, tokens), v in rows.items():
    if not case.startswith(("encoder:", "mixed:")):
        continue  # the rate counts the encoder's products only
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
