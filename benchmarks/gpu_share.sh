#!/usr/bin/env bash
# Several trials on one GPU: N training processes at once, without and with CUDA MPS
# (kernels of different processes run concurrently only under MPS; otherwise they time-slice).
#   bash benchmarks/gpu_share.sh OUTDIR [N] [families...]
# Prints each process's median ms per training iteration (cells.benchmark, auto, B=128, T=784).
# SPLITS="default 1 2" repeats the MPS runs with each step of the split kernels shared by that
# many programs (cells.benchmark --split): a split kernel is faster alone, but its siblings
# spin at a barrier each step, SM time that packed trials could have used. ONLY_MPS=1 skips the
# runs without MPS; ITERS sets the iterations each process times (default 300).
set -u
out=${1:?OUTDIR}; n=${2:-4}; shift 2 || true
iters=${ITERS:-300}
families=${*:-momentum-orthogonal momentum-cornn momentum-lstm}
export PYTHONPATH=$PWD
bench() {  # $1 label, $2 family, $3 processes, then cells.benchmark's extra arguments
  local label=$1 family=$2 procs=$3; shift 3
  for i in $(seq "$procs"); do
    python3 -m cells.benchmark --families "$family" --hidden 128 --no-reference --iters "$iters" --warmup 20 "$@" \
      --out "$out/${label}_${family}_$i.json" > "$out/${label}_${family}_$i.log" 2>&1 &
  done
  wait
  python3 - "$out" "$label" "$family" "$procs" <<'PY'
import json, sys, glob
out, label, fam, n = sys.argv[1:]
ms = [json.load(open(f))["rows"][0]["auto_ms"] for f in sorted(glob.glob(f"{out}/{label}_{fam}_*.json"))]
print(f"{label:>6} {fam:<22} processes={n}: ms/iteration per process " + " ".join(f"{m:.2f}" for m in ms)
      + f"  -> {len(ms) * 1000 / max(ms):.0f} iterations/s on the GPU in all")
PY
}
[ "${ONLY_MPS:-0}" = 1 ] || for f in $families; do bench alone "$f" 1; bench shared "$f" "$n"; done
if nvidia-cuda-mps-control -d; then
  sleep 2
  for f in $families; do
    for split in ${SPLITS:-default}; do
      if [ "$split" = default ]; then bench mps "$f" "$n"; else bench "mps_split$split" "$f" "$n" --split "$split"; fi
    done
  done
  echo quit | nvidia-cuda-mps-control
else
  echo "MPS could not be started here"
fi
