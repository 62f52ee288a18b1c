"""Accuracy tables of the Deep NRSfM teacher and its students (docs/nrsfm.md).

    PYTHONPATH=src python benchmarks/nrsfm_accuracy.py --model teacher=runs/nrsfm \
        --model weaksup=runs/weaksup --model student=runs/distill [--model supervised=runs/sup] \
        [--train-stride 1] [--test] [--json out.json] [--figure docs/figures/nrsfm_fig3.png]

Table 1 structure: every model on the 2D of the **training** subjects (h36m rig, exact 2D),
scored against their 3D (used here for evaluation only). Table 2 structure (``--test``): the
benchmark files ``cmu_test_h36mrig_gt2d.npz`` and ``cmu_test_h36mrig_det2d.npz``. Metrics:
MPJPE / N-MPJPE / PA-MPJPE of :mod:`weakpose.metrics` (reflections not allowed) and the
paper's depth error (mean |Δz| of root-relative joints), on the bone-length-scaled output
(``positions_3d``) and, for up-to-scale models, on the raw output (one global scale,
``positions_3d_raw``). The figure: side views (depth vs height) of the training samples on
which the teacher and the student disagree most (chosen without ground truth), with the
ground truth.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from weakpose.data.contracts import Keypoints2D, load_benchmark
from weakpose.data.mocap import TRAIN_SUBJECTS
from weakpose.data.paths import benchmark_file, data_root
from weakpose.engine.checkpoint import load_checkpoint
from weakpose.methods.nrsfm.teacher import training_keypoints
from weakpose.methods.registry import get_method
from weakpose.metrics import depth_error, evaluate_predictions


def load_predictor(path: str):
    ckpt = load_checkpoint(path)
    return get_method(ckpt["method"]).load_predictor(ckpt)


def score(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    r = evaluate_predictions(pred, gt)
    return {"mpjpe": r["mpjpe"], "n_mpjpe": r["n_mpjpe"], "pa_mpjpe": r["pa_mpjpe"],
            "depth": float(depth_error(pred, gt).mean())}


def table(title: str, rows: dict[str, dict[str, float]]) -> str:
    lines = [
        f"### {title}",
        "",
        "| model | output | PA-MPJPE | MPJPE | N-MPJPE | depth error |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name.split('/')[0]} | {name.split('/')[1]} | {r['pa_mpjpe']:.1f} | {r['mpjpe']:.1f} | "
            f"{r['n_mpjpe']:.1f} | {r['depth']:.1f} |"
        )
    return "\n".join(lines)


def evaluate_models(models: dict[str, object], inputs: Keypoints2D, gt: np.ndarray) -> tuple[dict, dict]:
    rows, preds = {}, {}
    for name, predictor in models.items():
        out = predictor.predict(inputs)
        preds[name] = out["positions_3d"]
        if "positions_3d_raw" in out:  # an up-to-scale model: bone-length scale and raw
            rows[f"{name}/bone-length scale"] = score(out["positions_3d"], gt)
            rows[f"{name}/raw (global scale)"] = score(out["positions_3d_raw"], gt)
        else:  # a metric model (the supervised reference)
            rows[f"{name}/metric output"] = score(out["positions_3d"], gt)
    return rows, preds


def figure(
    path: Path, preds: dict[str, np.ndarray], gt: np.ndarray, teacher: str, student: str, count: int = 6
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from weakpose.skeleton import H36M17

    t = preds[teacher] - preds[teacher][:, :1]
    s = preds[student] - preds[student][:, :1]
    g = gt - gt[:, :1]
    disagreement = np.abs(t[..., 2] - s[..., 2]).mean(-1)  # no ground truth involved
    picks = np.argsort(-disagreement)[: 50 * count : 50]
    colours = {
        1: "blue",
        2: "blue",
        3: "blue",
        14: "dodgerblue",
        15: "dodgerblue",
        16: "dodgerblue",
        4: "red",
        5: "red",
        6: "red",
        11: "magenta",
        12: "magenta",
        13: "magenta",
    }
    fig, axes = plt.subplots(len(picks), 3, figsize=(6.0, 2.0 * len(picks)))
    for row, i in enumerate(picks):
        for col, (label, pose) in enumerate((("ground truth", g[i]), (teacher, t[i]), (student, s[i]))):
            ax = axes[row, col]
            for p, c in H36M17.bones:
                ax.plot([pose[p, 2], pose[c, 2]], [-pose[p, 1], -pose[c, 1]], color=colours.get(c, "black"), lw=1.5)
            ax.set_xlim(-900, 900)
            ax.set_ylim(-1000, 1000)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(label, fontsize=9)
            if col > 0:  # annotation only: the samples were chosen without ground truth
                dz = np.abs(pose[:, 2] - g[i][:, 2]).mean()
                ax.text(0.03, 0.04, f"depth err {dz:.0f} mm", transform=ax.transAxes, fontsize=7)
    fig.suptitle("side views (depth → right, up ↑), training samples", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=60)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", required=True, help="name=RUN_DIR")
    ap.add_argument("--train-stride", type=int, default=1)
    ap.add_argument("--test", action="store_true", help="also score the gt2d and det2d test files")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--figure", type=Path)
    ap.add_argument("--figure-models", default="teacher,student")
    args = ap.parse_args()
    models = {}
    for item in args.model:
        name, path = item.split("=", 1)
        models[name] = load_predictor(path)
    root = data_root()
    results: dict[str, dict] = {}
    train = training_keypoints(root, "h36m", "gt", 0, args.train_stride)
    inputs = Keypoints2D(train["keypoints_2d"], train["confidence"], train["intrinsics"])
    train_models = {k: v for k, v in models.items() if k != "supervised"}
    rows, preds = evaluate_models(train_models, inputs, train["positions_3d"])
    results[f"training subjects {TRAIN_SUBJECTS} (h36m rig, gt 2D, stride {args.train_stride})"] = rows
    if args.figure:
        teacher, student = args.figure_models.split(",")
        figure(args.figure, preds, train["positions_3d"], teacher, student)
    if args.test:
        for name in ("h36mrig_gt2d", "h36mrig_det2d"):
            bench = load_benchmark(benchmark_file(root, name))
            rows, _ = evaluate_models(models, bench.inputs, bench.positions_3d)
            results[f"cmu_test_{name}.npz"] = rows
    for title, rows in results.items():
        print(table(title, rows))
        print()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
