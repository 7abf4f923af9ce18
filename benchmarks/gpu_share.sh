#!/usr/bin/env bash
# Several trials on one GPU: N training processes at once, without and with CUDA MPS
# (kernels of different processes run concurrently only under MPS; otherwise they time-slice).
#   bash benchmarks/gpu_share.sh OUTDIR [N] [families...]
# Prints each process's median ms per training iteration (cells.benchmark, auto, B=128, T=784).
set -u
out=${1:?OUTDIR}; n=${2:-4}; shift 2 || true
families=${*:-momentum-orthogonal momentum-cornn momentum-lstm}
export PYTHONPATH=$PWD
bench() {  # $1 label, $2 family, $3 processes
  for i in $(seq "$3"); do
    python3 -m cells.benchmark --families "$2" --hidden 128 --no-reference --iters 300 --warmup 20 \
      --out "$out/$1_$2_$i.json" > "$out/$1_$2_$i.log" 2>&1 &
  done
  wait
  python3 - "$out" "$1" "$2" "$3" <<'PY'
import json, sys, glob
out, label, fam, n = sys.argv[1:]
ms = [json.load(open(f))["rows"][0]["auto_ms"] for f in sorted(glob.glob(f"{out}/{label}_{fam}_*.json"))]
print(f"{label:>6} {fam:<22} processes={n}: ms/iteration per process " + " ".join(f"{m:.2f}" for m in ms)
      + f"  -> {len(ms) * 1000 / max(ms):.0f} iterations/s on the GPU in all")
PY
}
for f in $families; do bench alone "$f" 1; bench shared "$f" "$n"; done
if nvidia-cuda-mps-control -d; then
  sleep 2
  for f in $families; do bench mps "$f" "$n"; done
  echo quit | nvidia-cuda-mps-control
else
  echo "MPS could not be started here"
fi
