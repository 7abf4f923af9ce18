#!/usr/bin/env bash
# One GPU call that produces docs/benchmarks.md's "measured" tables through the real command line:
#  1. LSTM against Momentum LSTM on sMNIST and psMNIST (MomentumRNN Table 1's recipe:
#     n=128, RMSprop lr 1e-3, batch 128, clip 1.0), 10 epochs each, the four runs side by
#     side on one GPU; prints test accuracy and grad_ratio_log10 per epoch.
#  2. A real search on the GPU: Ray packs 4 trials per GPU (--gpus-per-trial 0.25).
# Needs the MNIST IDX files in $MNIST (default .data/mnist) and, on the device machines,
# Ray and Optuna on PYTHONPATH (shared/device/README.md). Writes everything under $OUT.
set -euo pipefail
MNIST=${MNIST:-.data/mnist}
OUT=${OUT:-bench-out}
EPOCHS=${EPOCHS:-10}
mkdir -p "$OUT"
common=(--hidden-size 128 --optimizer rmsprop --lr 1e-3 --batch-size 128 --clip 1.0
        --epochs "$EPOCHS" --seed 0 --data-dir "$MNIST" --quiet)
start=$(date +%s)
python3 -m search.cli train --task smnist  --core lstm --dynamics plain                   "${common[@]}" --out "$OUT/smnist-lstm"          > "$OUT/smnist-lstm.log" 2>&1 &
python3 -m search.cli train --task smnist  --core lstm --dynamics momentum --mu 0.6 --s 0.6 "${common[@]}" --out "$OUT/smnist-momentum-lstm" > "$OUT/smnist-momentum-lstm.log" 2>&1 &
python3 -m search.cli train --task psmnist --core lstm --dynamics plain                   "${common[@]}" --out "$OUT/psmnist-lstm"         > "$OUT/psmnist-lstm.log" 2>&1 &
python3 -m search.cli train --task psmnist --core lstm --dynamics momentum --mu 0.6 --s 1.0 "${common[@]}" --out "$OUT/psmnist-momentum-lstm" > "$OUT/psmnist-momentum-lstm.log" 2>&1 &
wait
echo "four MNIST runs: $(( $(date +%s) - start )) s wall"
python3 - "$OUT" <<'EOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
print(f"{'run':24} {'test acc':>9} {'val acc':>8}  grad_ratio_log10 by epoch   s/epoch")
for name in ("smnist-lstm", "smnist-momentum-lstm", "psmnist-lstm", "psmnist-momentum-lstm"):
    m = json.loads((out / name / "metrics.json").read_text())
    c = json.loads((out / name / "curves.json").read_text())
    ratios = " ".join(f"{r:.1f}" for r in c["grad_ratio_log10"]) if "grad_ratio_log10" in c else "?"
    print(f"{name:24} {m['test']['accuracy']:9.4f} {m['validation']['accuracy']:8.4f}  {ratios}   {m['seconds'] / m['epochs']:.1f}")
EOF
start=$(date +%s)
python3 -m search.cli search --task smnist --n-train 12000 --data-dir "$MNIST" --space paper --trials 16 \
  --epochs 2 --hidden 128 --batch-size 128 --gpus-per-trial 0.25 --cpus-per-trial 2 --max-concurrent 8 \
  --seed 0 --out "$OUT/search" --study gpu-smnist 2>&1 | tail -40
echo "GPU search: $(( $(date +%s) - start )) s wall"
