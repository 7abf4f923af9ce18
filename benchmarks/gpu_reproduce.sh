#!/usr/bin/env bash
# `momnas reproduce` at a small budget on one GPU, in about 8 minutes (docs/reproduction.md):
#  A. momentum-psmnist: LSTM, Momentum, Adam, RMSProp and NAG-restart LSTM on psMNIST,
#     MomentumRNN's recipe at n = 128, 4 epochs (of 150), 3 seeds: 15 runs, 8 at once (1/8 GPU each);
#  B. search-momentum-psmnist: `momnas search --space momentum` (10 trials x 1 epoch) against the
#     hand-picked Momentum LSTM trained 10 epochs, 2 seeds.
# Each part runs under its own time limit; a part cut short still gets its report from the runs that
# finished (`--report-only`), whose "seeds done" column says what is missing.
#   bash benchmarks/gpu_reproduce.sh OUTDIR            # on the GPU (MNIST in $MNIST, default .data/mnist)
#   SMOKE=1 bash benchmarks/gpu_reproduce.sh OUTDIR    # the same commands at a tiny budget on the CPU
# Writes OUTDIR/{momentum-psmnist,search-momentum-psmnist}/report.{md,html} (+ runs, curves) and
# OUTDIR/log.txt.
set -u
out=${1:?OUTDIR}
MNIST=${MNIST:-.data/mnist}
mkdir -p "$out"
exec > >(tee "$out/log.txt") 2>&1
export COLUMNS=160
if [ "${SMOKE:-0}" = 1 ]; then
  a=(--tiny --seeds 1 --gpus-per-run 0); b=(--tiny --seeds 1 --gpus-per-run 0)
  limit_a=300; limit_b=300
else
  a=(--hidden 128 --budget 4 --seeds 3 --gpus-per-run 0.125 --cpus-per-run 1)
  b=(--budget 1 --seeds 2 --gpus-per-run 0.25 --cpus-per-run 2)
  limit_a=${LIMIT_A:-190}; limit_b=${LIMIT_B:-230}
  # Runs that share a GPU run their kernels at once under CUDA MPS (search/_mps.py, NOTES.md run 14).
  nvidia-cuda-mps-control -d && started_mps=1 && sleep 2
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
fi
part() {  # $1 preset, $2 time limit (s), then the preset's flags
  local preset=$1 limit=$2; shift 2
  local start=$(date +%s)
  timeout --signal=INT --kill-after=10 "$limit" \
    python3 -m search.cli reproduce "$preset" --data-dir "$MNIST" --out "$out/$preset" "$@" > "$out/$preset.log" 2>&1
  echo "$preset: exit $? after $(( $(date +%s) - start )) s wall (limit $limit s)"
  python3 -m search.cli reproduce "$preset" --report-only --out "$out/$preset" > /dev/null 2>&1
  cat "$out/$preset/report.md" 2>/dev/null || tail -20 "$out/$preset.log"
}
part momentum-psmnist "$limit_a" "${a[@]}"
part search-momentum-psmnist "$limit_b" "${b[@]}"
if [ "${started_mps:-0}" = 1 ]; then echo quit | nvidia-cuda-mps-control; fi
