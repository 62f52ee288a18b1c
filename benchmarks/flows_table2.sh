#!/bin/bash
# Table 2 of Zanfir et al. (ECCV 2020) on CMU-WS: FS alone vs FS then WS fine-tuning for
# 0 / 20 / 40 / 100 % supervised training clips, evaluated on cmu_test_h36mrig_gt2d.npz.
# Usage: bash benchmarks/flows_table2.sh PRIOR_RUN OUT_DIR [extra key=value ...]
#   e.g. CONTROLS=0 bash benchmarks/flows_table2.sh runs/prior runs/table2_lfs fs_with_ws=false
# Every heavy command goes through /work/cpurun when it exists (shared machine).
set -euo pipefail
PRIOR=${1:?prior run}; OUT=${2:?output folder}; shift 2
RUN=""; [ -x /work/cpurun ] && RUN=/work/cpurun
W="env PYTHONPATH=src python -m weakpose.cli"
GT=${GT:-../shared/data/benchmark/cmu_test_h36mrig_gt2d.npz}
FS_STEPS=${FS_STEPS:-3000}; WS_STEPS=${WS_STEPS:-3000}
mkdir -p "$OUT"
evaluate() {  # run name
  $RUN $W predict --checkpoint "$OUT/$1" --input "$GT" --output "$OUT/$1/pred.npz"
  $RUN $W evaluate --pred "$OUT/$1/pred.npz" --gt "$GT" --json "$OUT/$1/eval.json" > "$OUT/$1/eval.txt"
  head -3 "$OUT/$1/eval.txt"
}
train() {  # run name, key=value ...
  local name=$1; shift
  [ -f "$OUT/$name/model.pt" ] || { /usr/bin/time -f "%e s wall" -o "$OUT/$name.time" \
      $RUN $W train flows-ws --no-progress --out "$OUT/$name" prior="$PRIOR" "$@" "${EXTRA[@]}" > "$OUT/$name.log" 2>&1; }
  echo "== $name ($(cat "$OUT/$name.time" 2>/dev/null))"; evaluate "$name"
}
untrained() {  # run name, key=value ...: model.pt of the initial network (step 0), evaluated as a run
  # `train` refuses steps=0 (issue 15) and lr must be > 0, so the network is built and saved directly
  local name=$1; shift
  [ -f "$OUT/$name/model.pt" ] || $RUN env PYTHONPATH=src python - "$OUT/$name" prior="$PRIOR" "$@" "${EXTRA[@]}" <<'PY'
import sys
from pathlib import Path

import torch

from weakpose.data.paths import data_root
from weakpose.engine.checkpoint import FINAL_MODEL, save_checkpoint
from weakpose.engine.config import resolve_config
from weakpose.methods.registry import get_method
from weakpose.training import model_payload

out, overrides = Path(sys.argv[1]), sys.argv[2:]
cls = get_method("flows-ws")
config = resolve_config(cls.Config, None, overrides)
torch.manual_seed(config.seed)
out.mkdir(parents=True, exist_ok=True)
save_checkpoint(out / FINAL_MODEL, model_payload(cls(config, data_root()), 0))
PY
  echo "== $name (untrained, step 0)"; evaluate "$name"
}
EXTRA=("$@")
for f in ${FRACTIONS:-20 40 100}; do
  frac=$(python -c "print($f/100)")
  train fs_$f supervised_fraction=$frac steps=$FS_STEPS fs_steps=$FS_STEPS
  train ws_$f supervised_fraction=$frac init="$OUT/fs_$f" steps=$WS_STEPS fs_steps=0
done
[ "${CONTROLS:-1}" = 1 ] || exit 0   # CONTROLS=0: only the FS / FS-then-WS pairs
train ws_0 supervised_fraction=0 steps=$((FS_STEPS + WS_STEPS)) fs_steps=0
untrained fs_0 supervised_fraction=0 fs_steps=0               # the untrained network (paper's FS 0 %)
# control: FS continued for the WS phase's steps on the supervised clips only (same step count as ws_20)
train fsfs_20 supervised_fraction=0.2 init="$OUT/fs_20" steps=$WS_STEPS fs_steps=$WS_STEPS
