#!/usr/bin/env bash
# The target-budget measurements on one GPU (docs/benchmarks.md, "Early stopping" and docs/reproduction.md,
# "The science benchmark"). Each PART runs under its own time limit and leaves PART.tgz in OUTDIR:
#  science-psmnist  `momnas reproduce science-psmnist --budget 24`: the hand-picked Momentum LSTM (3 seeds, each
#                   alone) sets the budget, 8 of its runs' GPU time for search + confirmation; UnICORNN 3 seeds.
#  science-adding   the same on adding T = 500 (target 30 epochs), against coRNN.
#  default240       the 240 s psMNIST search with every default (issue 21's target), GPU use sampled each second.
#  noes             the same search without early stopping or priors (180 s): full curves, for replaying rules.
#   bash benchmarks/gpu_science.sh OUTDIR PART...           # on the GPU (MNIST in $MNIST, default .data/mnist)
#   SMOKE=1 bash benchmarks/gpu_science.sh OUTDIR PART...   # the same commands at a tiny size on the CPU
set -u
out=${1:?OUTDIR}; shift
MNIST=${MNIST:-.data/mnist}
work=${WORK:-/tmp/science}
mkdir -p "$out" "$work"
export COLUMNS=160 PYTHONUNBUFFERED=1
if [ "${SMOKE:-0}" = 1 ]; then
  repro=(--tiny --seeds 2 --gpus-per-run 0); psize=(--n-train 256 --n-val 64 --n-test 64 --hidden 8 --epochs 3)
  t240=40; t180=30; limit=300
else
  repro=(--seeds 3 --gpus-per-run 0.125); psize=(--n-train 16384 --hidden 128 --epochs 6)
  t240=240; t180=${T_NOES:-180}; limit=${LIMIT:-540}
  nvidia-cuda-mps-control -d && started_mps=1 && sleep 2
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi
python3 -c "import torch, ray, optuna; print('torch', torch.__version__, 'ray', ray.__version__, 'optuna', optuna.__version__)"

pack() {  # $1 part: its small files (reports, claims, studies, logs) into OUTDIR/PART.tgz
  (cd "$work" && find "$1" \( -name '*.md' -o -name 'claim.json' -o -name 'optuna.db' -o -name '*.log' -o -name '*.txt' \
     -o -name 'plan.json' -o -name 'metrics.json' -o -name 'host.json' \) -print0 | tar -czf "$out/$1.tgz" --null -T -)
  ls -la "$out/$1.tgz"
}

science() {  # $1 preset, $2 target epochs
  local start=$(date +%s) budget=(--budget "$2"); [ "${SMOKE:-0}" = 1 ] && budget=()
  timeout --signal=INT --kill-after=20 "$limit" python3 -m search.cli reproduce "$1" "${budget[@]}" "${repro[@]}" \
    --data-dir "$MNIST" --out "$work/$1" > "$work/$1/run.log" 2>&1
  echo "$1: exit $? after $(( $(date +%s) - start )) s wall (limit $limit s)"
  python3 -m search.cli reproduce "$1" --report-only --out "$work/$1" > /dev/null 2>&1
  sed -n '/## What ran/,/^## [^W]/p;/## The search and its confirmation/,$p' "$work/$1/report.md" 2>/dev/null || tail -30 "$work/$1/run.log"
  pack "$1"
}

search() {  # $1 part, $2 time budget (s), then flags
  local part=$1 budget=$2; shift 2
  local start=$(date +%s)
  mkdir -p "$work/$part"
  if [ "${SMOKE:-0}" != 1 ]; then
    nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits -l 1 > "$work/$part/gpu_util.txt" & sampler=$!
  fi
  timeout --signal=INT --kill-after=20 $(( budget + 150 )) python3 -m search.cli search --task psmnist --data-dir "$MNIST" \
    "${psize[@]}" --space paper --seed 0 --time-budget-s "$budget" --out "$work/$part" --study "$part" "$@" \
    > "$work/$part/search.log" 2>&1
  echo "$part: exit $? after $(( $(date +%s) - start )) s wall"
  [ -n "${sampler:-}" ] && kill "$sampler" 2>/dev/null && unset sampler
  grep -E "^(early stopping|warm start|gpus|trials [0-9])" "$work/$part/search.log"
  python3 -m search.cli status --out "$work/$part" --study "$part" > "$work/$part/status.txt" 2>&1
  cat "$work/$part/status.txt"
  python3 benchmarks/target_rules.py "$work/$part/optuna.db" --study "$part" ${REPLAY:+--replay} | tee "$work/$part/families.txt"
  if [ -s "$work/$part/gpu_util.txt" ]; then
    awk '{n++; if ($1 >= 50) busy++} END {printf "GPU busy (>= 50%%) in %d of %d one-second samples: %.0f%%\n", busy, n, 100*busy/n}' \
      "$work/$part/gpu_util.txt"
  fi
  pack "$part"
}

for part in "$@"; do
  case "$part" in
    science-psmnist) mkdir -p "$work/$part"; science science-psmnist 24 ;;
    science-adding) mkdir -p "$work/$part"; science science-adding 30 ;;
    default240) search default240 "$t240" ;;
    noes) REPLAY=1 search noes "$t180" --early-stop none --warm-start none ;;
    *) echo "unknown part $part" ;;
  esac
done
if [ "${started_mps:-0}" = 1 ]; then echo quit | nvidia-cuda-mps-control; fi
