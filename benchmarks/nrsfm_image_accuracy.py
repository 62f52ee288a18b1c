"""Image-student table of docs/nrsfm.md: the Deep NRSfM teacher and image-input students on
rendered person crops.

    PYTHONPATH=src python benchmarks/nrsfm_image_accuracy.py --teacher runs/nrsfm \
        --model student=runs/img_distill --model weaksup=runs/img_weaksup [--n 500] [--seed 123] [--json out.json]

A fixed set of ``--n`` crops of the CMU-WS **test** subjects (2, 9) is rendered (h36m rig, one
random camera each, no augmentation, seed ``--seed``; the crop size is the students'); the
renderer gives each crop's exact 2D labels and the true camera-frame 3D (used here only for
scoring). With ``--train-subjects`` the same is done on the training subjects (Table 1
structure). The teacher lifts the crops' true 2D labels; each image student is scored twice:
with its own 2D (soft-argmax of its heatmaps, "own 2D") and with the true 2D labels and only its
depth ("true 2D + its z", the teacher's situation); the depth-less baseline keeps the true 2D
with zero depth. Metrics (mm): PA-MPJPE and MPJPE of
:mod:`weakpose.metrics` (no reflections) on the bone-length-scaled output (DESIGN.md §5), MPJPE of
the raw output (one global scale), and the depth error of Wang et al. (mean |Δz|, root-relative).
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from weakpose.data.mocap import TEST_SUBJECTS, TRAIN_SUBJECTS
from weakpose.data.paths import data_root
from weakpose.engine.checkpoint import load_checkpoint
from weakpose.methods.nrsfm.distill_image import ImageBatch, render_image_set
from weakpose.methods.nrsfm.teacher import to_millimetres
from weakpose.methods.registry import get_method
from weakpose.metrics import depth_error, evaluate_predictions


def load(path: str):
    ckpt = load_checkpoint(path)
    return get_method(ckpt["method"]).load_predictor(ckpt), ckpt["config"]


def score(out: dict[str, np.ndarray], gt: np.ndarray) -> dict[str, float]:
    r = evaluate_predictions(out["positions_3d"], gt)
    raw = evaluate_predictions(out["positions_3d_raw"], gt)
    return {"pa_mpjpe": r["pa_mpjpe"], "mpjpe": r["mpjpe"], "mpjpe_raw": raw["mpjpe"],
            "depth": float(depth_error(out["positions_3d"], gt).mean())}


def evaluate(teacher: str, models: dict[str, str], batch: ImageBatch) -> dict[str, dict[str, float]]:
    gt = (batch.joints_cam - batch.joints_cam[:, :1]).double().numpy()
    t_pred, _ = load(teacher)
    rows = {"teacher (true 2D)": score(to_millimetres(t_pred.normalised_poses(batch.w, batch.mask),
                                                       t_pred.mean_bone_lengths, t_pred.raw_scale), gt)}
    flat = torch.cat([batch.w, torch.zeros_like(batch.w[..., :1])], dim=-1)     # DESIGN.md §5 depth-less baseline
    rows["depth-less (true 2D, z = 0)"] = score(to_millimetres(flat, t_pred.mean_bone_lengths, t_pred.raw_scale), gt)
    for name, run in models.items():
        pred, _ = load(run)
        rows[f"{name} (own 2D)"] = score(pred.predict_images(batch), gt)
        rows[f"{name} (true 2D + its z)"] = score(pred.predict_images(batch, true_2d=True), gt)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--teacher", required=True)
    ap.add_argument("--model", action="append", default=[], metavar="NAME=RUN")
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--seed", type=int, default=123)
    ap.add_argument("--train-subjects", action="store_true", help="also score crops of the training subjects")
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    models = dict(m.split("=", 1) for m in args.model)
    sizes = {load(run)[1]["crop_size"] for run in models.values()} or {64}
    if len(sizes) != 1:
        raise SystemExit(f"students use different crop sizes {sorted(sizes)}; score them separately")
    crop = sizes.pop()
    center = load(args.teacher)[1]["center"]
    center = int(center) if str(center).lstrip("-").isdigit() else center
    sets = {"test subjects (2, 9)": TEST_SUBJECTS}
    if args.train_subjects:
        sets["training subjects"] = TRAIN_SUBJECTS
    result = {}
    for title, subjects in sets.items():
        batch = render_image_set(data_root(), subjects, args.n, crop, args.seed, center)
        rows = evaluate(args.teacher, models, batch)
        result[title] = rows
        print(f"### {title}: {args.n} rendered {crop}x{crop} crops, seed {args.seed}\n")
        print("| model | PA-MPJPE | MPJPE | MPJPE raw | depth error |\n|---|---|---|---|---|")
        for name, r in rows.items():
            print(f"| {name} | {r['pa_mpjpe']:.1f} | {r['mpjpe']:.1f} | {r['mpjpe_raw']:.1f} | {r['depth']:.1f} |")
        print()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
