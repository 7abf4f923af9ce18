#!/usr/bin/env bash
# A/B of the fused-rnn path's host work (issue 13: the momentum / adam / rmsprop / input-NAG
# LSTMs at H = 128 within 1.1x of cuDNN nn.LSTM) on one GPU, in one call: this checkout
# ("after") against BEFORE, a folder holding the tree before the change (unpack it first:
# the copy of the checkout on the GPU machine has no .git), in this order:
#   1. tests/fast/test_gpu_full_size.py for the lstm / rnn / gru families, this checkout
#      (auto against a float64 reference at B=128, T=784; TESTS=0 skips it);
#   2. two rounds, before then after in each: benchmarks/host_ops.py (aten ops per iteration,
#      wall and host ms per iteration beside nn.LSTM's) and `python -m cells.benchmark`
#      (ms per iteration, auto, H = 128, FAMILIES);
#   3. benchmarks/gpu_check.py --parts profile for nn.LSTM, momentum-lstm and adam-lstm (after).
# Writes under OUT: gpu_full_size.txt, host_<label>_<round>/host_ops.json, bench_<label>_<round>.json,
# profile.txt and ab.md (ms per iteration and x cuDNN, before and after, both rounds).
# Expected: about 3 minutes on an H200 (each step has its own timeout; what finished comes back).
#   git archive main | tar -x -C .before      # here, before the call
#   bash benchmarks/fused_rnn_ab.sh "$OUT" .before
#   SMOKE=1 PY=.venv/bin/python bash benchmarks/fused_rnn_ab.sh /tmp/ab .before   # CPU, tiny, no tests
set -u
OUT=${1:?usage: [FAMILIES=...] [TESTS=0] bash benchmarks/fused_rnn_ab.sh OUT BEFORE_FOLDER}
BEFORE=${2:?give the folder holding the tree before the change, e.g. .before (git archive main | tar -x -C .before)}
[ -d "$BEFORE/cells/fast" ] || { echo "fused_rnn_ab: $BEFORE is not a folder holding a tree (cells/fast)"; exit 2; }
PY=${PY:-python3}
HERE=$PWD
declare -A TREE=([before]=$(cd "$BEFORE" && pwd) [after]=$HERE)
mkdir -p "$OUT"
FAMILIES=${FAMILIES:-"plain-lstm momentum-lstm nag_restart-lstm adam-lstm rmsprop-lstm plain-rnn momentum-rnn plain-gru momentum-gru"}
if [ "${SMOKE:-0}" = 1 ]; then
  BENCH="--hidden 8 --batch 4 --steps 5 --iters 1 --warmup 0 --device cpu"
  HOST="--smoke"
else
  BENCH="--hidden 128 --iters 30 --warmup 5"
  HOST="--iters 30"
  if [ "${TESTS:-1}" != 0 ]; then
    PYTHONPATH=$HERE timeout 150 "$PY" -m pytest tests/fast/test_gpu_full_size.py -q -p no:cacheprovider \
      -k "lstm or plain-rnn or momentum-rnn or gru" > "$OUT/gpu_full_size.txt" 2>&1
    tail -3 "$OUT/gpu_full_size.txt"
  fi
fi
for round in 1 2; do
  for label in before after; do
    dir=${TREE[$label]}
    (cd "$dir" && PYTHONPATH=$dir timeout 120 "$PY" "$HERE/benchmarks/host_ops.py" --families $FAMILIES $HOST \
       --out "$OUT/host_${label}_$round" > "$OUT/host_${label}_$round.log" 2>&1)
    echo "host_ops $label round $round: exit $?"
    (cd "$dir" && PYTHONPATH=$dir timeout 120 "$PY" -m cells.benchmark --families $FAMILIES $BENCH --no-reference \
       --out "$OUT/bench_${label}_$round.json" > "$OUT/bench_${label}_$round.log" 2>&1)
    echo "bench $label round $round: exit $?"
  done
done
if [ "${SMOKE:-0}" != 1 ]; then
  PYTHONPATH=$HERE timeout 90 "$PY" benchmarks/gpu_check.py --out "$OUT" --parts profile \
    --profile-families cudnn-lstm momentum-lstm adam-lstm > "$OUT/profile.log" 2>&1
  echo "profile: exit $?"
fi
"$PY" - "$OUT" <<'EOF'
import json, os, sys
out = sys.argv[1]
def load(path):
    try:
        with open(os.path.join(out, path)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
cols = [(label, r) for r in (1, 2) for label in ("before", "after")]
bench = {c: load(f"bench_{c[0]}_{c[1]}.json") for c in cols}
host = {c: load(f"host_{c[0]}_{c[1]}/host_ops.json") for c in cols}
lines = ["ms per training iteration (x cuDNN nn.LSTM of the same run); host: ms to issue one iteration / "
         "aten ops before the RNN op", "",
         "| family | " + " | ".join(f"{l} {r}" for l, r in cols) + " | host before 1 | host after 1 |",
         "|---" * (len(cols) + 3) + "|"]
families = [row["family"] for b in bench.values() if b for row in b["rows"]]
for fam in dict.fromkeys(["cudnn-lstm", *families]):
    cells = []
    for c in cols:
        b = bench[c]
        row = next((r for r in (b or {}).get("rows", []) if r["family"] == fam), None)
        if fam == "cudnn-lstm" and b and b["rows"]:
            cells.append(f"{b['rows'][0]['cudnn_lstm_ms']:.2f}")
        else:
            cells.append(f"{row['auto_ms']:.2f} ({row['auto_vs_cudnn']:.2f}x)" if row else "-")
    for c in (("before", 1), ("after", 1)):
        h = next((r for r in (host[c] or {}).get("rows", []) if r["family"] == fam), None)
        cells.append(f"{h.get('host_ms', float('nan')):.2f} / {h['before_rnn']}" if h else "-")
    lines.append(f"| {fam} | " + " | ".join(cells) + " |")
text = "\n".join(lines)
open(os.path.join(out, "ab.md"), "w").write(text + "\n")
print(text)
EOF
