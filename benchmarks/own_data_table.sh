#!/usr/bin/env bash
# The table of docs/own-data.md: each method trained with its CMU-WS default data and with the
# "own domain" 2D (CMU-WS training subjects, wild cameras, detector noise, 2D only), both scored
# on the own domain's test file cmu_test_wild_det2d.npz. All runs go in parallel (one thread
# each), two seeds per cell.
#
#   bash benchmarks/own_data_table.sh OUT_DIR [SCALE]
#
# SCALE: "default" (the default, as the docs' table) trains every method's CPU-sized default
# config; a number multiplies the reduced step counts below (0.005 = smoke test).
# Needs `weakpose` importable by $PY (default: python3 -m weakpose.cli) and WEAKPOSE_DATA.
set -euo pipefail
OUT=${1:?usage: own_data_table.sh OUT_DIR [SCALE]}
SCALE=${2:-default}
PY=${PY:-python3 -m weakpose.cli}
SEEDS=${SEEDS:-"0 1 2"}
TEST=${WEAKPOSE_DATA:?set WEAKPOSE_DATA}/benchmark/cmu_test_wild_det2d.npz
steps() { [ "$SCALE" = default ] || echo "steps=$(python3 -c "print(max(2, round($1 * $SCALE)))")"; }
NRSFM=$(steps 4000); DISTILL=$(steps 2000); MULTIVIEW=$(steps 3000); HYPO=$(steps 2000)
mkdir -p "$OUT"
cd "$OUT"

# The own domain: 2D only (--drop-3d), single-view and multi-view versions of the same data.
$PY benchmark --subjects 1 3 5 6 7 8 --rig wild --noise detector --seed 1 --drop-3d --out own_2d.npz
$PY benchmark --subjects 1 3 5 6 7 8 --rig wild --noise detector --seed 1 --multiview --drop-3d --out own_multiview.npz

score() {  # RUN: predict the wild test file and evaluate it
  $PY predict --checkpoint "$1" --input "$TEST" --output "$1/pred_wild.npz" > /dev/null
  $PY evaluate --pred "$1/pred_wild.npz" --gt "$TEST" --json "$1/wild.json" > /dev/null
  rm "$1/pred_wild.npz" "$1"/last.pt
}
train() {  # NAME ARGS...: train into runs/NAME, log to runs/NAME.log, score
  local name=$1; shift
  $PY train "$@" --out "runs/$name" --no-progress > "runs/$name.log" 2>&1 && score "runs/$name"
}
mkdir -p runs
for seed in $SEEDS; do
  common="seed=$seed"
  ( train nrsfm_default_s$seed nrsfm $NRSFM $common &&
    train distill_default_s$seed distill --teacher runs/nrsfm_default_s$seed $DISTILL $common ) &
  ( train nrsfm_own_s$seed nrsfm --train-2d own_2d.npz $NRSFM $common &&
    train distill_own_s$seed distill --teacher runs/nrsfm_own_s$seed --train-2d own_2d.npz $DISTILL $common ) &
  train multiview_default_s$seed multiview $MULTIVIEW $common &
  train multiview_own_s$seed multiview --train-multiview own_multiview.npz $MULTIVIEW $common &
  train hypotheses_default_s$seed hypotheses $HYPO $common &
  train hypotheses_own_s$seed hypotheses --train-2d own_2d.npz $HYPO $common &
done
wait
python3 - <<'EOF'
import glob, json, os
rows = {}
for f in sorted(glob.glob("runs/*/wild.json")):
    name = f.split("/")[1]
    r = json.load(open(f))
    rows[name] = {"mpjpe": round(r["mpjpe"], 1), "pa_mpjpe": round(r["pa_mpjpe"], 1),
                  "data_files": json.load(open(f"runs/{name}/config.json"))["data_files"]}
json.dump(rows, open("table.json", "w"), indent=1)
for k, v in rows.items():
    print(f"{k:28s} MPJPE {v['mpjpe']:6.1f}  PA-MPJPE {v['pa_mpjpe']:6.1f}")
EOF
