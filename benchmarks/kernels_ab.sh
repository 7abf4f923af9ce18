#!/usr/bin/env bash
# A/B of the Triton kernels (issue 11 step 4) on one GPU, in one call: this checkout ("after")
# against BASE ("before": a commit of this repository or a folder holding a tree; default
# 4a2022f, where the kernel refactor started) and any CANDIDATE folders (each labelled by its
# folder name), in this order:
#   1. tests/fast/test_gpu_full_size.py on this checkout (auto at B=128, T=784; TESTS=0 skips it);
#   2. benchmarks/kernels_ops.py in every tree: each kernel alone, forward and forward + backward
#      (KERNELS, default all), round 1 then round 2;
#   3. the training-iteration bench (`python -m cells.benchmark`, auto) of FAMILIES in every tree,
#      round 1 then round 2 (the second round shows the run-to-run spread).
# Writes under OUT: gpu_full_size.txt, ops_<label>_<round>.json, bench_<label>_<round>.{json,log}
# and ab.md (both benches side by side, each label's mean over the first label's). Each step has
# its own timeout, so what finished comes back (at worst 470 s with two trees, 185 s more per
# candidate: TESTS=0 saves 100 s). Expected: about 4 minutes on an H200 with two trees and the
# five families below, ~1.3 minutes more per candidate.
#   FAMILIES="momentum-unitary momentum-urnn momentum-cornn momentum-enrnn nag_restart-lstm:nag_form=paper" \
#     bash benchmarks/kernels_ab.sh "$OUT" .before [.candidate ...]
#   SMOKE=1 PY=.venv/bin/python bash benchmarks/kernels_ab.sh /tmp/ab     # CPU, tiny sizes, no tests
set -u
OUT=${1:?usage: [FAMILIES=...] [KERNELS=...] [TESTS=0] bash benchmarks/kernels_ab.sh OUT [BASE [CANDIDATE ...]]}
BASE=${2:-4a2022f}
shift; [ $# -gt 0 ] && shift
PY=${PY:-python3}
case $PY in */*) PY=$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY");; esac  # the steps run in each tree's folder
HERE=$PWD
if [ -d "$BASE" ]; then  # a tree unpacked beforehand (where the copy of the checkout has no .git)
  BEFORE=$(cd "$BASE" && pwd)
else
  BEFORE=$(mktemp -d)
  git archive "$BASE" | tar -x -C "$BEFORE" || { echo "kernels_ab: cannot unpack $BASE (a commit of this repository)"; exit 2; }
fi
LABELS="before after"
declare -A TREE=([before]=$BEFORE [after]=$HERE)
for cand in "$@"; do
  [ -d "$cand/cells/fast" ] || { echo "kernels_ab: candidate $cand is not a folder holding a tree (cells/fast)"; exit 2; }
  label=$(basename "$cand"); label=${label#.}
  [ -n "${TREE[$label]:-}" ] && { echo "kernels_ab: two trees are labelled $label; rename a candidate folder"; exit 2; }
  TREE[$label]=$(cd "$cand" && pwd); LABELS="$LABELS $label"
done
mkdir -p "$OUT"
FAMILIES=${FAMILIES:-"momentum-cornn momentum-unicornn momentum-orthogonal momentum-enrnn momentum-unitary momentum-urnn
          nag_restart-lstm:nag_form=paper adam-lstm momentum-lstm"}
KERNELS=${KERNELS:-"cornn modrelu cmodrelu nag_lstm lstm_gates unicornn cudnn_lstm"}
if [ "${SMOKE:-0}" = 1 ]; then
  SIZES="--hidden 8 --batch 4 --steps 5 --iters 1 --warmup 0 --device cpu"
  OPS="--smoke"
else
  SIZES="--hidden 128 256 --iters 10 --warmup 3"
  OPS="--hidden 128 256 --iters 10 --warmup 2"
  if [ "${TESTS:-1}" != 0 ]; then
    PYTHONPATH=$HERE timeout 100 "$PY" -m pytest tests/fast/test_gpu_full_size.py -q -p no:cacheprovider \
      > "$OUT/gpu_full_size.txt" 2>&1
    tail -3 "$OUT/gpu_full_size.txt"
  fi
fi
ops() {  # label round seconds: every kernel alone, in that tree
  local dir=${TREE[$1]}
  (cd "$dir" && PYTHONPATH=$dir timeout "$3" "$PY" "$HERE/benchmarks/kernels_ops.py" --kernels $KERNELS $OPS \
     --out "$OUT/ops_$1_$2.json" > "$OUT/ops_$1_$2.log" 2>&1)
  echo "ops $1 round $2: exit $?"
}
bench() {  # label round seconds: a training iteration of every family, in that tree
  local dir=${TREE[$1]}
  (cd "$dir" && PYTHONPATH=$dir timeout "$3" "$PY" -m cells.benchmark --families $FAMILIES $SIZES --no-reference \
     --out "$OUT/bench_$1_$2.json" > "$OUT/bench_$1_$2.log" 2>&1)
  echo "bench $1 round $2: exit $?"
}
for label in $LABELS; do ops "$label" 1 75; done   # round 1 compiles each tree's kernels
for label in $LABELS; do ops "$label" 2 25; done
for label in $LABELS; do bench "$label" 1 50; done
for label in $LABELS; do bench "$label" 2 35; done
for kind in ops bench; do  # one table per bench in ab.md
  files=()
  for label in $LABELS; do
    for round in 1 2; do [ -s "$OUT/${kind}_${label}_${round}.json" ] && files+=("$label=$OUT/${kind}_${label}_${round}.json"); done
  done
  [ ${#files[@]} -gt 0 ] && { echo; echo "$kind (ms)"; echo; "$PY" "$HERE/benchmarks/kernels_ops.py" --compare "${files[@]}"; }
done | tee "$OUT/ab.md"
[ -d "$BASE" ] || rm -rf "$BEFORE"
