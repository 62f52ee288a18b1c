#!/bin/bash
# Sequential Table-1 runs (one heavy process at a time).
set -x
export PYTHONPATH=src OMP_NUM_THREADS=1
B=../shared/data/benchmark
run() { name=$1; shift; date; /usr/bin/time -f "%e s" python -m weakpose.cli train "$@" --out runs/$name --no-progress; date;
  for f in gt2d det2d; do python -m weakpose.cli predict --checkpoint runs/$name --input $B/cmu_test_h36mrig_$f.npz --output runs/$name/pred_$f.npz;
  python -m weakpose.cli evaluate --pred runs/$name/pred_$f.npz --gt $B/cmu_test_h36mrig_$f.npz --json runs/$name/eval_$f.json | tail -3; done; }
run mv_ws multiview
run mv_ws_r multiview supervision=ws_r
run mv_fs multiview supervision=fs
run supervised_4k supervised steps=4000
run mv_2d multiview supervision=2d_only steps=1000
