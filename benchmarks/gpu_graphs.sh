#!/usr/bin/env bash
# One GPU call for train.graph and the Adam filter, in this order (what finished comes back):
#   1. the GPU tests of graphed training and of the probe's graph, and the Adam / RMSProp LSTMs at
#      full size (tests/runs/test_runs_train.py -k graph, tests/fast/test_gpu_full_size.py);
#   2. cells.benchmark's adam-lstm and rmsprop-lstm in BASE and in this tree (the Adam filter A/B);
#   3. benchmarks/epoch_parts.py, graph off (evaluation passes of 128 and of the default 512) and on:
#      a trial's epoch split into training, passes and probe;
#   4. benchmarks/graph_step.py for the paper space's families at H = 128 (what graphs save each);
#   5. with SEARCH=1 and time left: benchmarks/search_ab.py, BEFORE against this tree with `graph: auto`
#      (ONLY=search: this step alone, the issue's 240 s search per tree where the call's time allows).
# BASE and BEFORE are folders holding a tree (`git archive COMMIT cells runs search spaces pyproject.toml`);
# Ray, Optuna and plotly come from .devsite (../shared/device/README.md) for step 5.
#   bash benchmarks/gpu_graphs.sh "$OUT" .abase [.before]          # ~4 minutes without the search
#   ONLY=search bash benchmarks/gpu_graphs.sh "$OUT" .abase .before  # ~9 minutes: 2 x 240 s searches
set -u
OUT=${1:?usage: bash benchmarks/gpu_graphs.sh OUT BASE [BEFORE]}
BASE=${2:?a folder holding the tree to compare the Adam filter against}
BEFORE=${3:-}
CAP=${CAP:-560}  # seconds for everything
T0=$(date +%s)
left() { echo $(( $1 - ($(date +%s) - T0) )); }
stamp() { echo "== $1 at $(( $(date +%s) - T0 )) s"; tar -czf "$OUT/0results.tgz" -C "$OUT" --exclude 0results.tgz --exclude ray --exclude trials . 2>/dev/null; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
if [ "${ONLY:-}" != search ]; then
timeout 90 python3 -m pytest -q -p no:cacheprovider tests/runs/test_runs_train.py tests/fast/test_gpu_full_size.py \
  -k "graph or adam-lstm or rmsprop-lstm" > "$OUT/pytest.log" 2>&1; tail -3 "$OUT/pytest.log"
stamp tests
for round in 1 2; do for tree in "$BASE" .; do
  label=$(basename "$(cd "$tree" && pwd)")_$round
  (cd "$tree" && timeout 35 python3 -m cells.benchmark --families adam-lstm rmsprop-lstm --hidden 128 256 \
     --no-reference --iters 10 --warmup 3 --out "$OUT/adam_$label.json" > "$OUT/adam_$label.log" 2>&1)
  echo "$label: $(grep -E '^H=[0-9]+ (adam|rmsprop|cudnn)' "$OUT/adam_$label.log" | tr '\n' '|')"
done; done
stamp adam
for g in off:128 off on; do timeout 60 python3 benchmarks/epoch_parts.py --data .data/mnist --epochs 2 --graph ${g%:*} \
  $([ "${g#*:}" != "$g" ] && echo --eval-batch ${g#*:}) --families plain-lstm plain-orthogonal plain-unitary plain-cornn \
  --out "$OUT/epoch_parts_${g/:/_eval}.json" 2>&1 | grep -v Warn; done
stamp parts
timeout 100 python3 benchmarks/graph_step.py --hidden 128 --iters 10 --rounds 2 --out "$OUT/graph_step128.json" --families \
  plain-orthogonal plain-urnn plain-unitary plain-cornn plain-unicornn plain-lstm momentum-lstm adam-lstm rmsprop-lstm \
  nag_restart-lstm nag_restart-lstm:nag_form=paper plain-gru 2>&1 | grep -v Warn
stamp step128
fi
if { [ "${SEARCH:-0}" = 1 ] || [ "${ONLY:-}" = search ]; } && [ -n "$BEFORE" ]; then
  mkdir -p .devsite/site && tar -xJf .devsite/site.tar.xz -C .devsite/site
  export PYTHONPATH=$PWD/.devsite/site:$PWD RAY_AUTH_MODE=disabled
  printf 'graph: auto\n' > "$OUT/auto.yaml"
  budget=$(( ($(left "$CAP") - 50) / 2 )); [ $budget -gt 240 ] && budget=240
  [ $budget -ge 75 ] && timeout $(left "$CAP") python3 benchmarks/search_ab.py --trees "$BEFORE" . \
    --tree-args "" "--config $OUT/auto.yaml" --data .data/mnist --budget-s $budget --search-args "--sampler random" \
    --out "$OUT/ab" > "$OUT/ab.log" 2>&1
  head -9 "$OUT/ab/ab.md" 2>/dev/null
  stamp search
fi
