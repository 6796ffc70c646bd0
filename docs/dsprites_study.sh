#!/usr/bin/env bash
# The dSprites study of the README's "Results" section, CPU protocol: the four objectives of
# the dsprites*.flags files for 20,000 steps (the capacity schedules C 0 -> 25 nats over the
# same 20,000 steps), two runs at a time with one TensorFlow thread each (2 cores), then the
# metrics, the pictures and the table. Every stage resumes: a killed run continues from its
# last checkpoint when the script is run again. About 70 minutes of training on 2 cores.
#
#   bash docs/dsprites_study.sh [train|evaluate|pictures|table|all]   (default all)
#
# PRESET=paper for disentanglement_lib's sample counts (about 20 minutes per model).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
STEPS=${STEPS:-20000}
PRESET=${PRESET:-fast}
OUT=${OUT:-runs/dsprites_study}
MODELS="capacity hinge beta vae"
declare -A FLAGFILE=([capacity]=dsprites.flags [hinge]=dsprites_hinge.flags
                     [beta]=dsprites_beta.flags [vae]=dsprites_vae.flags)

train() {  # train NAME: one run of the CPU protocol
  local schedule=()
  case $1 in capacity|hinge) schedule=(--c_stop_steps="$STEPS") ;; esac
  TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 "$PY" apps/train.py \
    --flagfile="${FLAGFILE[$1]}" --steps="$STEPS" "${schedule[@]}" \
    --run_dir="$OUT/$1" --export_base="$OUT/exports" > "$OUT/$1.log" 2>&1
}

stage=${1:-all}
mkdir -p "$OUT"
if [[ $stage == train || $stage == all ]]; then
  (train capacity; train vae) & (train hinge; train beta) & wait
fi
if [[ $stage == evaluate || $stage == all ]]; then
  for m in $MODELS; do "$PY" apps/evaluate.py --model="$OUT/$m" --preset="$PRESET" --progress=false; done
fi
if [[ $stage == pictures || $stage == all ]]; then
  for m in $MODELS; do
    "$PY" apps/visualize.py --model="$OUT/$m" --output_dir="docs/dsprites/$m" \
      --what=traversals,gif,reconstructions,kl_curves --num_images=8 --gif_images=2
  done
fi
if [[ $stage == table || $stage == all ]]; then
  "$PY" apps/results_table.py $(for m in $MODELS; do echo "$OUT/$m/evaluation/metrics_${PRESET}_seed0.json"; done)
fi
