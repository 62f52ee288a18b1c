"""Headline rows of the multi-view method over seeds: mean ± sd of MPJPE, PA-MPJPE and PA-MPJPE
with reflections (as the papers) on the CMU-WS test files.

    PYTHONPATH=src python scripts/multiview_seeds.py runs/mv_s0 runs/mv_s1 runs/mv_s2

Reads RUN/pred_FILE.npz for FILE in cmu_test_h36mrig_det2d, cmu_test_wild_det2d,
cmu_test_h36mrig_gt2d (written by `weakpose predict`, see scripts/multiview_seeds.sh) and scores
them against the benchmark files with :mod:`weakpose.metrics`; the sd is over the runs (ddof 1).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from weakpose.data.paths import data_root
from weakpose.metrics import mpjpe, pa_mpjpe, pa_mpjpe_with_reflections

FILES = ("cmu_test_h36mrig_det2d", "cmu_test_wild_det2d", "cmu_test_h36mrig_gt2d")
METRICS = {"MPJPE": mpjpe, "PA-MPJPE": pa_mpjpe, "PA-refl": pa_mpjpe_with_reflections}


def scores(run: Path, name: str) -> dict[str, float] | None:
    pred = run / f"pred_{name}.npz"
    if not pred.exists():
        return None
    gt = np.load(data_root() / "benchmark" / f"{name}.npz")["positions_3d"]
    p = np.load(pred)["positions_3d"]
    return {k: float(np.mean(fn(p, gt))) for k, fn in METRICS.items()}


def main(runs: list[str]) -> None:
    print("| file | " + " | ".join(METRICS) + " | runs |")
    print("|---|" + "---|" * (len(METRICS) + 1))
    for name in FILES:
        got = [s for s in (scores(Path(r), name) for r in runs) if s is not None]
        if not got:
            continue
        cells = []
        for k in METRICS:
            v = np.array([s[k] for s in got])
            cells.append(f"{v.mean():.1f} ± {v.std(ddof=1):.1f}" if len(v) > 1 else f"{v[0]:.1f}")
        print(f"| {name} | " + " | ".join(cells) + f" | {len(got)} |")


if __name__ == "__main__":
    main(sys.argv[1:])
