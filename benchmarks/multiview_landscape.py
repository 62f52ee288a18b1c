"""How well can the weak losses recover depth at all? Free optimisation of per-view relative
depths (no network) against alpha L_MC + beta L_B on exact 2D of training multi-view samples.

    PYTHONPATH=src python benchmarks/multiview_landscape.py

Prints, per setting, the mean absolute error of the recovered scale-normalised relative depths
(pair lengths; the depth-less start z = 0 has about 0.26) and their correlation with the truth.
Settings: h36m rig vs random wild multi-view cameras; beta = 0 vs 100; the paper's plain sums
(our reduction) vs per-term means (which weigh L_B ~3x more against L_MC). The 3D poses are used
here only to score the result, never by the optimisation.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from weakpose.data.mocap import TRAIN_SUBJECTS, load_cmu
from weakpose.data.paths import data_root
from weakpose.data.statistics import mean_bone_lengths
from weakpose.geometry import reconstruct_from_2p5d
from weakpose.methods.multiview.data import MultiViewSampler
from weakpose.methods.multiview.losses import loss_bone, loss_mc

torch.set_num_threads(1)
ITERS, B, C, J = 600, 32, 4, 17


def main() -> None:
    root = data_root()
    X = load_cmu(root, TRAIN_SUBJECTS).positions
    pair = np.linalg.norm(X[:, 0] - X[:, 8], axis=-1)[:, None, None]
    mu = torch.tensor(mean_bone_lengths(X / pair))
    sampler = MultiViewSampler(root, stride=20, keep_3d=True)
    print(f"{'cameras':8s} {'beta':>5s} {'reduction':>9s} {'|z err|':>8s} {'corr':>6s}")
    for wild in (0.0, 1.0):
        b = sampler.sample(np.random.default_rng(0), B, C, wild, 0.0)
        P = torch.from_numpy(b.positions_3d).double().reshape(B * C, J, 3)
        z_gt = (P[..., 2] - P[:, :1, 2]) / (P[:, 0] - P[:, 8]).norm(dim=-1)[:, None]
        uv = torch.from_numpy(b.keypoints_2d).double().reshape(B * C, J, 2)
        K = torch.from_numpy(b.intrinsics).double().reshape(B * C, 3, 3)
        for beta, reduction in ((0.0, "sum"), (100.0, "sum"), (100.0, "mean")):
            # Means divide L_MC by the C(C-1) J pair-joint terms and L_B by the C |E| limb terms.
            w_mc = 10.0 / (1 if reduction == "sum" else C * (C - 1) * J)
            w_b = beta / (1 if reduction == "sum" else C * mu.numel())
            z = torch.zeros(B * C, J, dtype=torch.float64, requires_grad=True)
            opt = torch.optim.Adam([z], lr=0.01)
            for _ in range(ITERS):
                zr = z - z[:, :1]
                p, _ = reconstruct_from_2p5d(uv, zr, K)
                p = p.reshape(B, C, J, 3)
                loss = w_mc * loss_mc(p, torch.ones(B, C, J, dtype=p.dtype))
                if beta:
                    loss = loss + w_b * loss_bone(p, torch.ones(B, C, J, dtype=p.dtype), mu)
                opt.zero_grad()
                loss.backward()
                opt.step()
            zr = (z - z[:, :1]).detach()
            err = (zr - z_gt).abs().mean().item()
            corr = np.corrcoef(zr[:, 1:].ravel(), z_gt[:, 1:].ravel())[0, 1]
            print(f"{'wild' if wild else 'h36m':8s} {beta:5.0f} {reduction:>9s} {err:8.3f} {corr:6.3f}")


if __name__ == "__main__":
    t = time.time()
    main()
    print(f"({time.time() - t:.0f} s)")
