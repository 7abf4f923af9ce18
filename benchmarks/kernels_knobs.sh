#!/usr/bin/env bash
# The Triton kernels alone (benchmarks/kernels_ops.py) under each launch knob, on one warm GPU, in
# one call: the defaults, 8 warps, tiles of 32, the complex kernel register-resident at H=128, and
# each step split over 1 (off) to 16 programs, with 4 or 8 warps, the complex kernel's split weights
# read each step in blocks of k rows (splitSkK; each kernel's rules in
# cells/fast/_triton.py). Each row also says how far its outputs and gradients are from the
# default launch's on the same inputs; a launch Triton refuses is one line. KERNELS picks the
# kernels, KNOBS the labels (default: all). Writes OUT/knobs_<label>.{json,log} and OUT/knobs.md
# (every label against the defaults).
#   bash benchmarks/kernels_knobs.sh "$OUT"                  # ~4 minutes on an H100
#   KERNELS=cmodrelu KNOBS="split1 split4 split8" bash benchmarks/kernels_knobs.sh "$OUT"
#   SMOKE=1 PY=.venv/bin/python bash benchmarks/kernels_knobs.sh /tmp/knobs   # CPU, interpreter
set -u
OUT=${1:?usage: bash benchmarks/kernels_knobs.sh OUT}
PY=${PY:-python3}
mkdir -p "$OUT"
if [ "${SMOKE:-0}" = 1 ]; then SIZES="--smoke"; else SIZES="--hidden 128 256 --iters 10 --warmup 2"; fi
KERNELS=${KERNELS:-"cornn modrelu cmodrelu nag_lstm"}
KNOBS=${KNOBS:-"w8 tile32 cres128 split1 split2 split4 split8 split16 split4w8 split8w8"}
knob() {  # label seconds args...
  local label=$1 secs=$2; shift 2
  [ "$label" = default ] || [[ " $KNOBS " == *" $label "* ]] || return 0
  PYTHONPATH=$PWD timeout "$secs" "$PY" benchmarks/kernels_ops.py $SIZES "$@" --out "$OUT/knobs_$label.json" \
    > "$OUT/knobs_$label.log" 2>&1
  echo "$label: exit $?"; tail -n 12 "$OUT/knobs_$label.log"
}
knob default 75 --kernels $KERNELS unicornn
knob w8 60 --kernels $KERNELS --num-warps 8
knob tile32 60 --kernels $KERNELS --tile 32
knob cres128 30 --kernels cmodrelu --cmodrelu-resident-max 128
for ways in 1 2 4 8 16; do knob split$ways 45 --kernels $KERNELS --split $ways; done
for ways in 4 8; do knob split${ways}w8 45 --kernels $KERNELS --split $ways --num-warps 8; done
for ways in 4 8 16; do  # the complex kernel's weight slices read each step in blocks of k rows (k = 128 at H = 128: held)
  for k in 32 64 128; do knob split${ways}k$k 45 --kernels cmodrelu --split $ways --stream-k $k; done
done
others=()  # every label but the defaults, which --compare takes first as the base of its ratios
for f in "$OUT"/knobs_*.json; do
  label=$(basename "$f" .json); label=${label#knobs_}
  [ "$label" != default ] && others+=("$label=$f")
done
[ -s "$OUT/knobs_default.json" ] && "$PY" benchmarks/kernels_ops.py --compare "default=$OUT/knobs_default.json" \
  "${others[@]}" | tee "$OUT/knobs.md"
