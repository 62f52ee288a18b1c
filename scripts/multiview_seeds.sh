#!/bin/bash
# Seeds of the multi-view CPU default (one heavy process at a time), then the headline table:
#   bash scripts/multiview_seeds.sh [key=value ...]       (e.g. steps=8000)
#   RUNS=/tmp/mv bash scripts/multiview_seeds.sh ...      (run folders RUNS/mv_seedN; default runs/)
set -e
export PYTHONPATH=src OMP_NUM_THREADS=1
B=../shared/data/benchmark
RUNS=${RUNS:-runs}
runs=()
for seed in 0 1 2; do
  out=$RUNS/mv_seed$seed
  python -m weakpose.cli train multiview seed=$seed "$@" --out $out --threads 1 --no-progress
  for f in cmu_test_h36mrig_det2d cmu_test_wild_det2d cmu_test_h36mrig_gt2d; do
    python -m weakpose.cli predict --checkpoint $out --input $B/$f.npz --output $out/pred_$f.npz
  done
  runs+=($out)
done
python scripts/multiview_seeds.py "${runs[@]}"
