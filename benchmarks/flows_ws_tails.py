"""Where a `flows-ws` network's test error comes from: per-sample PA-MPJPE median and 99th
percentile, PA-MPJPE with reflections (as the papers) and the share of depth-mirrored
predictions (reflection-aware Procrustes better by more than 10 mm), overall and per camera of
the rig (docs/flows.md, issue 16: two of three WS-only seeds fail on two of the four cameras).
The test files interleave the four cameras, so a stride that is a multiple of 4 keeps one camera.

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/flows_ws_tails.py RUN [RUN ...]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
from pathlib import Path

import numpy as np

from weakpose.cli import main as weakpose
from weakpose.data.paths import benchmark_file, data_root
from weakpose.metrics import pa_mpjpe, pa_mpjpe_with_reflections

MIRROR_MARGIN_MM = 10.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="flows-ws run folders")
    ap.add_argument("--bench", default="h36mrig_gt2d", help="test file (h36mrig_gt2d, h36mrig_det2d)")
    ap.add_argument("--stride", type=int, default=1, help="keep every STRIDE-th sample (default: the whole file)")
    args = ap.parse_args()
    raw = np.load(benchmark_file(data_root(), args.bench))
    n = len(raw["positions_3d"])
    gt = raw["positions_3d"][:: args.stride]
    cams = raw["camera_index"][:: args.stride]
    print(f"{args.bench}, every {args.stride}th sample ({len(gt)}), PA-MPJPE in mm")
    print("| run | PA-MPJPE | median | 99th pct. | PA with reflections | mirrored | "
          + " | ".join(f"camera {c}: PA / mirrored" for c in np.unique(cams)) + " |")
    print("|---|---|---|---|---|---|" + "---|" * len(np.unique(cams)))
    with tempfile.TemporaryDirectory() as tmp:
        subset = Path(tmp) / "subset.npz"
        np.savez(subset, **{k: raw[k][:: args.stride] if raw[k].ndim >= 1 and len(raw[k]) == n else raw[k]
                            for k in raw.files})
        for run in args.runs:
            out = Path(tmp) / "pred.npz"
            with contextlib.redirect_stdout(io.StringIO()):
                code = weakpose(["predict", "--checkpoint", run, "--input", str(subset), "--output", str(out),
                                 "--no-progress"])
            if code:
                raise SystemExit(code)
            pred = np.load(out)["positions_3d"]
            pa = np.asarray(pa_mpjpe(pred, gt))
            refl = np.asarray(pa_mpjpe_with_reflections(pred, gt))
            mirrored = pa - refl > MIRROR_MARGIN_MM
            per_cam = " | ".join(f"{pa[cams == c].mean():.1f} / {100 * mirrored[cams == c].mean():.1f} %"
                                 for c in np.unique(cams))
            print(f"| {run} | {pa.mean():.1f} | {np.median(pa):.1f} | {np.percentile(pa, 99):.1f} | "
                  f"{refl.mean():.1f} | {100 * mirrored.mean():.1f} % | {per_cam} |")


if __name__ == "__main__":
    main()
