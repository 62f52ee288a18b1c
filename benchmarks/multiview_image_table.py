"""Table 1 (image rows) of Iqbal et al. 2020 at CPU scale: the multi-view method's image variant
trained from one shared 2D pre-training with 2D-only (no L_MC), WS, WS + R (and FS) supervision,
scored on rendered crops of the CMU-WS test subjects (4 h36m-rig views per instant) and on the
unlabeled multi-view training images (2D only, against the renderer's labels that training
never sees).

    # once: the shared 2D pre-training (2D labels of subjects 1, 3, 5, wild cameras)
    weakpose train multiview --config configs/multiview_image_cpu.toml --out runs/mvimg/pre2d \\
        --stop-after 2500   # = pretrain_steps: stops after the pretrain_2d phase
    # each row (trains RUN_DIR=runs/mvimg/ROW unless it holds a model, then scores it)
    PYTHONPATH=src python benchmarks/multiview_image_table.py --pretrained runs/mvimg/pre2d \\
        --runs runs/mvimg --rows 2d_only ws ws_r fs ws_uv1=ws:uv_grad=1

Prints a markdown table; each run's scores go to RUN_DIR/eval_image.json. All rows use
``configs/multiview_image_cpu.toml`` plus ``supervision=ROW`` and the given overrides.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from weakpose.data.mocap import TEST_SUBJECTS
from weakpose.data.paths import data_root
from weakpose.engine.checkpoint import load_checkpoint
from weakpose.engine.config import resolve_config
from weakpose.methods.multiview.image import (
    ImagePredictor,
    ImageTwoPointFive,
    evaluate_views,
    load_pretrained_2d,
    render_test_views,
    transfer_2d_weights,
    unlabeled_pool,
)
from weakpose.methods.multiview.method import MultiviewConfig, MultiviewMethod, training_bone_statistics
from weakpose.training import train

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "multiview_image_cpu.toml"
LABELS = {
    "start": "pre-trained 2D model (start of every row; depth maps untrained)",
    "2d_only": "2D-only: L_H (labels + pseudo labels), no L_MC",
    "ws": "WS: + alpha L_MC (Procrustes R) + beta L_B",
    "ws_r": "WS + R: + alpha L_MC (known R) + beta L_B",
    "fs": "FS: + psi L_z (3D depth of the multi-view images)",
}


def parse_row(spec: str) -> tuple[str, str, list[str]]:
    """``ws`` or ``NAME=SUPERVISION:key=value,key=value`` -> (run dir name, supervision, overrides)."""
    name, _, rest = spec.partition("=") if "=" in spec.split(":")[0] else (spec.split(":")[0], "", spec)
    supervision, _, extra = (rest or name).partition(":")
    return name, supervision, [e for e in extra.split(",") if e]


def score(predictor: ImagePredictor, test, pool) -> dict[str, float]:
    res = evaluate_views(predictor, test)
    pool_res = evaluate_views(predictor, pool)
    res.update({"pool_px": pool_res["px"], "pool_px_visible": pool_res["px_visible"], "pool_pck5": pool_res["pck5"]})
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pretrained", required=True)
    ap.add_argument("--runs", default="runs/mvimg")
    ap.add_argument("--rows", nargs="+", default=["2d_only", "ws", "ws_r"])
    ap.add_argument("--config", default=str(CONFIG))
    ap.add_argument("--test-instants", type=int, default=256)
    ap.add_argument("--pool-instants", type=int, default=256, help="unlabeled instants scored for 2D")
    ap.add_argument("overrides", nargs="*", help="key=value for every row (e.g. steps=1500)")
    a = ap.parse_intermixed_args()
    torch.set_num_threads(1)
    root = data_root()
    runs = Path(a.runs)
    base = resolve_config(MultiviewConfig, a.config, ["variant=image", f"pretrained_2d={a.pretrained}", *a.overrides])
    t0 = time.perf_counter()
    test = render_test_views(root, a.test_instants, base.crop_size, seed=base.test_seed, subjects=TEST_SUBJECTS)
    pool = unlabeled_pool(base, root)
    pool = type(pool)(*(getattr(pool, k)[: a.pool_instants] for k in type(pool).__dataclass_fields__))
    print(
        f"rendered {a.test_instants} x 4 test crops and {len(pool)} x 4 unlabeled crops in "
        f"{time.perf_counter() - t0:.0f} s"
    )
    results = {}
    start_file = runs / "start_eval_image.json"
    if start_file.exists():
        results["start"] = json.loads(start_file.read_text())
    else:
        torch.manual_seed(base.seed)
        net = ImageTwoPointFive(base.backbone, base.lam, tuple(base.scale_pair), base.pair_depth_bound)
        transfer_2d_weights(net, load_pretrained_2d(a.pretrained, base.backbone))
        bones_mm, _ = training_bone_statistics(root, tuple(base.scale_pair))
        results["start"] = score(ImagePredictor(net, bones_mm, base.scale_pair, depthless=True), test, pool)
        runs.mkdir(parents=True, exist_ok=True)
        start_file.write_text(json.dumps(results["start"], indent=2))
    for spec in a.rows:
        row, supervision, extra = parse_row(spec)
        run = runs / row
        if not (run / "model.pt").exists():
            t1 = time.perf_counter()
            train(
                "multiview",
                run,
                a.config,
                ["variant=image", f"supervision={supervision}", f"pretrained_2d={a.pretrained}", *a.overrides, *extra],
                resume=(run / "last.pt").exists(),
                progress=False,
            )
            (run / "train_seconds.txt").write_text(f"{time.perf_counter() - t1:.0f}\n")
        predictor = MultiviewMethod.load_predictor(load_checkpoint(run / "model.pt"))
        res = score(predictor, test, pool)
        res["train_seconds"] = (
            float((run / "train_seconds.txt").read_text()) if (run / "train_seconds.txt").exists() else float("nan")
        )
        (run / "eval_image.json").write_text(json.dumps(res, indent=2))
    for row in ["2d_only", "ws", "ws_r", "fs"] + [parse_row(r)[0] for r in a.rows]:
        f = runs / row / "eval_image.json"
        if f.exists():
            results[row] = json.loads(f.read_text())
    print(
        "\n| row | test MPJPE mm | test PA-MPJPE mm | test 2D px | test 2D px (visible) | test PCK@5% | "
        "unlabeled-views 2D px | train s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row, r in results.items():
        print(
            f"| {LABELS.get(row, row)} | {r['mpjpe']:.1f} | {r['pa_mpjpe']:.1f} | {r['px']:.3f} | "
            f"{r['px_visible']:.3f} | "
            f"{r['pck5']:.1f} | {r['pool_px']:.3f} | {r.get('train_seconds', float('nan')):.0f} |"
        )


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
