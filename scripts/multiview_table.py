"""Collect the Table 1-like results of the multi-view runs into a markdown table.

    PYTHONPATH=src python scripts/multiview_table.py runs/mv_fs runs/mv_ws_r runs/mv_ws runs/mv_2d runs/supervised

Reads RUN/eval_{gt2d,det2d}.json (written by `weakpose evaluate --json`) and, for the 2D column,
RUN/pred_det2d.npz: the px error of the joints missing in the det2d input (confidence 0) that
the network filled in (`keypoints_2d_completed`), against the exact projections of gt2d.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from weakpose.data.paths import benchmark_file, data_root


def missing_joint_px(run: Path) -> float | None:
    pred = run / "pred_det2d.npz"
    if not pred.exists():
        return None
    z = np.load(pred)
    if "keypoints_2d_completed" not in z:
        return None
    det = np.load(benchmark_file(data_root(), "h36mrig_det2d"))
    gt = np.load(benchmark_file(data_root(), "h36mrig_gt2d"))
    miss = det["confidence"] == 0
    return float(np.linalg.norm(z["keypoints_2d_completed"][miss] - gt["keypoints_2d"][miss], axis=-1).mean())


def main(runs: list[str]) -> None:
    print("| run | gt2d MPJPE | gt2d PA-MPJPE | det2d MPJPE | det2d PA-MPJPE | det2d N-MPJPE | missing-joint 2D px |")
    print("|---|---|---|---|---|---|---|")
    for r in map(Path, runs):
        row = [r.name]
        for f in ("gt2d", "det2d"):
            p = r / f"eval_{f}.json"
            if p.exists():
                e = json.loads(p.read_text())
                row += [f"{e['mpjpe']:.1f}", f"{e['pa_mpjpe']:.1f}"] + ([f"{e['n_mpjpe']:.1f}"] if f == "det2d" else [])
            else:
                row += ["-", "-"] + (["-"] if f == "det2d" else [])
        px = missing_joint_px(r)
        row.append("-" if px is None else f"{px:.1f}")
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
