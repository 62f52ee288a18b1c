"""Where a multi-view run's det2d error comes from (docs/multiview.md, issue 16 follow-up).

    PYTHONPATH=src python scripts/multiview_det2d_causes.py runs/mv_a runs/mv_b ...

Reads RUN/pred_cmu_test_h36mrig_det2d.npz (`weakpose predict` on the det2d file) and prints, per
run: PA-MPJPE over all samples, over the samples with a joint the detector dropped (confidence
0) and over the rest; the 2D error (px) of the network's 2D (`keypoints_2d_completed`) at the
observed and at the missing joints against the exact projections of the gt2d file; the per-pose
depth spread (sd of the root-relative camera z, mm) against the truth's, the mean |z error| and
the mean per-pose correlation of predicted and true depths.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from weakpose.data.paths import data_root
from weakpose.metrics import pa_mpjpe


def depth_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(-1, keepdims=True)
    b = b - b.mean(-1, keepdims=True)
    return (a * b).sum(-1) / np.sqrt((a * a).sum(-1) * (b * b).sum(-1) + 1e-9)


def main(runs: list[str]) -> None:
    bench = data_root() / "benchmark"
    det = np.load(bench / "cmu_test_h36mrig_det2d.npz")
    exact_2d = np.load(bench / "cmu_test_h36mrig_gt2d.npz")["keypoints_2d"]
    gt = det["positions_3d"] - det["positions_3d"][:, :1]
    seen = det["confidence"] > 0
    has_missing = (~seen).any(-1)
    print(f"{has_missing.mean():.3f} of the samples have a missing joint; input 2D error at observed joints "
          f"{np.linalg.norm(det['keypoints_2d'] - exact_2d, axis=-1)[seen].mean():.2f} px; "
          f"true depth sd {gt[..., 2].std(-1).mean():.1f} mm")
    for run in map(Path, runs):
        p = np.load(run / "pred_cmu_test_h36mrig_det2d.npz")
        pred = p["positions_3d"] - p["positions_3d"][:, :1]
        pa = np.asarray(pa_mpjpe(pred, gt))
        e2d = np.linalg.norm(p["keypoints_2d_completed"] - exact_2d, axis=-1)
        z, zt = pred[..., 2], gt[..., 2]
        print(f"{run}: PA {pa.mean():.1f} (with a missing joint {pa[has_missing].mean():.1f}, without "
              f"{pa[~has_missing].mean():.1f}); network 2D {e2d[seen].mean():.2f} px observed, "
              f"{e2d[~seen].mean():.2f} px missing; depth sd {z.std(-1).mean():.1f} mm, |z err| "
              f"{np.abs(z - zt).mean():.1f} mm, depth corr {depth_correlation(z, zt).mean():.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
