#!/usr/bin/env bash
# A/B of the Triton kernels (issue 11 step 4): this checkout ("after") against BASE ("before",
# default 4a2022f, the commit the kernel refactor started from, or a folder holding that tree),
# on one GPU, in one call:
#   1. tests/fast/test_gpu_full_size.py on this checkout (auto at B=128, T=784, every default family);
#   2. the training-iteration bench of the Triton families (+ two cuDNN LSTM controls), before,
#      after, before, after (the second round shows the run-to-run spread).
# Writes under OUT: gpu_full_size.txt, bench_{before,after}_{1,2}.{json,log}. About 6 minutes on an
# H200 (each step has its own timeout, so what finished comes back).
#   bash benchmarks/kernels_ab.sh "$OUT" [BASE]
#   SMOKE=1 PY=.venv/bin/python bash benchmarks/kernels_ab.sh /tmp/ab     # CPU, tiny sizes, no tests
set -u
OUT=${1:?usage: bash benchmarks/kernels_ab.sh OUT [BASE]}
BASE=${2:-4a2022f}
PY=${PY:-python3}
HERE=$PWD
if [ -d "$BASE" ]; then  # a tree unpacked beforehand (where the copy of the checkout has no .git)
  BEFORE=$(cd "$BASE" && pwd)
else
  BEFORE=$(mktemp -d)
  git archive "$BASE" | tar -x -C "$BEFORE" || { echo "kernels_ab: cannot unpack $BASE (a commit of this repository)"; exit 2; }
fi
mkdir -p "$OUT"
FAMILIES="momentum-cornn momentum-unicornn momentum-orthogonal momentum-enrnn momentum-unitary momentum-urnn
          nag_restart-lstm:nag_form=paper adam-lstm momentum-lstm"
if [ "${SMOKE:-0}" = 1 ]; then
  SIZES="--hidden 8 --batch 4 --steps 5 --iters 1 --warmup 0 --device cpu"
else
  SIZES="--hidden 128 256 --iters 10 --warmup 3"
  PYTHONPATH=$HERE timeout 100 "$PY" -m pytest tests/fast/test_gpu_full_size.py -q -p no:cacheprovider \
    > "$OUT/gpu_full_size.txt" 2>&1
  tail -3 "$OUT/gpu_full_size.txt"
fi
bench() {  # side round seconds
  local dir=$HERE; [ "$1" = before ] && dir=$BEFORE
  (cd "$dir" && PYTHONPATH=$dir timeout "$3" "$PY" -m cells.benchmark --families $FAMILIES $SIZES --no-reference \
     --out "$OUT/bench_$1_$2.json" > "$OUT/bench_$1_$2.log" 2>&1)
  echo "bench $1 round $2: exit $?"
  grep -E "^(momentum|nag|adam)" "$OUT/bench_$1_$2.log" | tail -20
}
bench before 1 95
bench after 1 95
bench before 2 60
bench after 2 60
[ -d "$BASE" ] || rm -rf "$BEFORE"
