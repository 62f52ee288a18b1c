"""Fig. 2-like figure of Iqbal et al. 2020: the 3D poses predicted from the four views of one
multi-view test sample, rigidly aligned to view 1 with the weighted Procrustes of Eq. 10, before
(the network as initialised by the run's seed) and after weakly supervised training.

    PYTHONPATH=src python scripts/multiview_fig2.py --run runs/mv_ws --frame 1000 \
        --out docs/figures/multiview_fig2.png

Consistent predictions overlap; the title gives the mean distance (mm) between the aligned
views' joints and the MPJPE of view 1 against the ground truth (dashed).
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from weakpose.data.contracts import Keypoints2D, load_benchmark  # noqa: E402
from weakpose.data.paths import benchmark_file, data_root  # noqa: E402
from weakpose.engine.checkpoint import load_checkpoint  # noqa: E402
from weakpose.engine.config import config_from_dict  # noqa: E402
from weakpose.geometry import procrustes_align  # noqa: E402
from weakpose.methods.multiview.method import METHOD  # noqa: E402
from weakpose.visualize import draw_3d_view  # noqa: E402

COLORS = ["k", "tab:orange", "tab:green", "tab:purple"]


def aligned_views(pred: np.ndarray, conf: np.ndarray) -> np.ndarray:
    """Views 2..C rigidly aligned onto view 1 (Eq. 10 weights phi_1 phi_c)."""
    src = torch.from_numpy(pred).double()
    tgt = src[:1].expand_as(src)
    w = torch.from_numpy(conf[:1] * conf).double()
    return procrustes_align(src, tgt, weights=w, scale=False).numpy()


def draw_aligned_column(axes, pred: np.ndarray, conf: np.ndarray, gt: np.ndarray, title: str,
                        all_views_error: bool = False) -> None:
    """Front and side views (``axes`` = two axes) of the C views' poses ``pred`` [C, 17, 3]
    aligned onto view 1, with view 1's truth dashed (``gt`` [C, 17, 3], camera frames); the
    title gives the mean disagreement between views and the MPJPE of view 1 (or of all views)."""
    al = aligned_views(pred, conf)
    spread = np.linalg.norm(al[:, None] - al[None], axis=-1).mean() * 4 / 3  # mean over c != c'
    err = np.linalg.norm((pred - gt) if all_views_error else (pred[0] - gt[0]), axis=-1).mean()
    error_label = "MPJPE" if all_views_error else "view-1 MPJPE"
    gt = gt[0]
    styles = [dict(color=c, lw=1.8, alpha=0.85) for c in COLORS]
    for ax, az in zip(axes, (0.0, 90.0)):
        draw_3d_view(ax, list(al) + [gt], styles + [dict(color="0.5", ls="--", lw=1.2)], azimuth_deg=az)
        ax.set_ylabel("front (view 1)" if az == 0 else "side (90°)", fontsize=9)
    axes[0].set_title(f"{title}\nview disagreement {spread:.0f} mm, {error_label} {err:.0f} mm", fontsize=9)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", required=True)
    ap.add_argument("--frame", type=int, default=1000, help="test frame (its 4 views are rows 4f..4f+3)")
    ap.add_argument("--test", default="h36mrig_gt2d")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    ckpt = load_checkpoint(f"{args.run}/model.pt")
    config = config_from_dict(METHOD.Config, ckpt["config"])
    bench = load_benchmark(benchmark_file(data_root(), args.test))
    rows = np.arange(4 * args.frame, 4 * args.frame + 4)
    inp = bench.inputs
    views = Keypoints2D(inp.keypoints_2d[rows], inp.confidence[rows], inp.intrinsics[rows])
    gt = bench.positions_3d[rows]
    gt = gt - gt[:, :1]

    torch.manual_seed(config.seed)                 # the trainer's initialisation
    init_nets = METHOD.build_modules(config)
    for n in init_nets.values():
        n.eval()
    models = {"before training": METHOD.make_predictor(config, init_nets, ckpt["predictor_state"]),
              "after WS training": METHOD.load_predictor(ckpt)}

    fig, axes = plt.subplots(2, 2, figsize=(7.5, 7.5))
    for col, (title, predictor) in enumerate(models.items()):
        pred = predictor.predict(views)["positions_3d"].astype(np.float64)
        draw_aligned_column(axes[:, col], pred, views.confidence.astype(np.float64), gt, title)
    fig.suptitle(f"{args.test} frame {args.frame}: 4 views aligned by Eq. 10 (colours), truth dashed", fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out, dpi=80)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
