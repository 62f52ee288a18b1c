"""Why the image variant's weak losses cannot learn depth from its own 2D at 64 px: L_MC and L_B
of unlabeled multi-view crops (subjects 6, 7, 8; 64 instants x 4 h36m-rig views, seed 99) for
true / predicted 2D combined with true / zero relative depths. The predicted 2D comes from the
pre-trained 2D model (a ``weakpose train multiview variant=image`` run stopped after its
``pretrain_2d`` phase); true values
are the renderer's labels, used here for scoring only.

    PYTHONPATH=src python benchmarks/multiview_image_landscape.py --pretrained runs/mvimg/pre2d
"""

from __future__ import annotations

import argparse

import torch

from weakpose.data.paths import data_root
from weakpose.engine.config import resolve_config
from weakpose.methods.multiview.image import (
    ImageTwoPointFive,
    ViewPool,
    load_pretrained_2d,
    poses_from_crops,
    run_network,
    transfer_2d_weights,
)
from weakpose.methods.multiview.losses import loss_bone, loss_mc
from weakpose.methods.multiview.method import MultiviewConfig, training_bone_statistics


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pretrained", required=True)
    ap.add_argument("--config", default="configs/multiview_image_cpu.toml")
    ap.add_argument("--instants", type=int, default=64)
    a = ap.parse_args()
    torch.set_num_threads(1)
    root = data_root()
    c = resolve_config(MultiviewConfig, a.config, [])
    S = c.crop_size
    pool = ViewPool.render(root, c.unlabeled_subjects, a.instants, 4, S, 99, augment=True)
    torch.manual_seed(0)
    net = ImageTwoPointFive(c.backbone, c.lam, tuple(c.scale_pair), c.pair_depth_bound)
    transfer_2d_weights(net, load_pretrained_2d(a.pretrained, c.backbone))
    N, C = pool.rgb.shape[:2]
    o = run_network(net, pool.rgb.reshape(N * C, S, S, 3))
    P = pool.joints_cam.reshape(N * C, 17, 3)
    k, l = c.scale_pair
    z_gt = (P[..., 2] - P[:, :1, 2]) / (P[:, k] - P[:, l]).norm(dim=-1)[:, None]
    lab = pool.labels_2d.reshape(N * C, 17, 2)
    mu = torch.as_tensor(training_bone_statistics(root, tuple(c.scale_pair))[1])
    pair_px = (lab[:, k] - lab[:, l]).norm(dim=-1)
    print(f"scale pair {c.scale_pair} 2D length in the {S} px crops: median {pair_px.median():.1f} px; "
          f"2D error of the pre-trained model {(o['uv'] - lab).norm(dim=-1).mean():.2f} px")
    print(f"{'2D':>10} {'depth':>6} {'L_MC':>8} {'L_B':>8}")
    for name2d, uv in (("true", lab), ("predicted", o["uv"])):
        for namez, z in (("true", z_gt), ("zero", torch.zeros_like(z_gt))):
            pts = poses_from_crops(uv, z, pool.crop.reshape(-1, 3, 3), pool.K.reshape(-1, 3, 3), (k, l), True)
            pts = pts.reshape(N, C, 17, 3)
            phi = torch.ones(N, C, 17)
            print(f"{name2d:>10} {namez:>6} {loss_mc(pts, phi).item():8.3f} {loss_bone(pts, phi, mu).item():8.4f}")


if __name__ == "__main__":
    main()
