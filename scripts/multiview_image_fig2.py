"""Fig. 2-like figure for the image variant of the multi-view method (Iqbal et al. 2020): one
rendered multi-view test instant (subjects 2/9, 4 h36m-rig views), the 3D poses predicted from
each view, rigidly aligned to view 1 with the weighted Procrustes of Eq. 10, before WS training
(the pre-trained 2D model with untrained depth maps: the start of every row) and after it.
Top: the four crops with the 2D pose after WS training.

    PYTHONPATH=src python scripts/multiview_image_fig2.py --pretrained runs/mvimg/pre2d \\
        --run runs/mvimg/ws --instant 3 --out docs/figures/multiview_image_fig2.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from multiview_fig2 import COLORS, draw_aligned_column  # noqa: E402

from weakpose.data.paths import data_root  # noqa: E402
from weakpose.engine.checkpoint import load_checkpoint  # noqa: E402
from weakpose.engine.config import config_from_dict  # noqa: E402
from weakpose.methods.multiview.image import (  # noqa: E402
    ImagePredictor,
    ImageTwoPointFive,
    load_pretrained_2d,
    render_test_views,
    transfer_2d_weights,
)
from weakpose.methods.multiview.method import MultiviewConfig, MultiviewMethod, training_bone_statistics  # noqa: E402
from weakpose.visualize import draw_2d  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pretrained", required=True)
    ap.add_argument("--run", required=True)
    ap.add_argument("--instant", type=int, default=0, help="index into the table's fixed test set")
    ap.add_argument("--test-instants", type=int, default=256)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    ckpt = load_checkpoint(f"{args.run}/model.pt")
    config = config_from_dict(MultiviewConfig, ckpt["config"])
    root = data_root()
    test = render_test_views(root, args.test_instants, config.crop_size, seed=config.test_seed)
    i = args.instant
    rgb, crop, K = test.rgb[i], test.crop[i], test.K[i]
    gt = test.joints_cam[i].numpy().astype(np.float64)
    gt = gt - gt[:, :1]

    torch.manual_seed(config.seed)
    start = ImageTwoPointFive(config.backbone, config.lam, tuple(config.scale_pair), config.pair_depth_bound)
    transfer_2d_weights(start, load_pretrained_2d(args.pretrained, config.backbone))
    bones_mm, _ = training_bone_statistics(root, tuple(config.scale_pair))
    models = {"before WS (pre-trained 2D)": ImagePredictor(start, bones_mm, config.scale_pair),
              "after WS training": MultiviewMethod.load_predictor(ckpt)}

    fig = plt.figure(figsize=(7.5, 9.4))
    grid = fig.add_gridspec(3, 4, height_ratios=[0.5, 1, 1])
    outs = {k: p.predict_crops(rgb, crop, K) for k, p in models.items()}
    after = outs["after WS training"]
    for v in range(4):
        ax = fig.add_subplot(grid[0, v])
        draw_2d(ax, after["keypoints_2d"][v], image=rgb[v].numpy(), linewidth=1.2)
        ax.set_title(f"view {v + 1}", fontsize=8, color=COLORS[v])
        ax.axis("off")
    for col, (title, out) in enumerate(outs.items()):
        axes = [fig.add_subplot(grid[1 + row, 2 * col:2 * col + 2]) for row in range(2)]
        draw_aligned_column(axes, out["positions_3d"].astype(np.float64), out["confidence"].astype(np.float64),
                            gt, title, all_views_error=True)
    fig.suptitle(f"rendered test instant {i}: 4 views aligned by Eq. 10 (colours), truth dashed", fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out, dpi=72)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
