"""Figures of docs/flows.md: prior samples, latent interpolation (Zanfir et al. Fig. 1) and
fitted poses over part masks.

    PYTHONPATH=src python scripts/flows_figures.py --prior runs/prior --out docs/figures
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from weakpose.camera import project  # noqa: E402
from weakpose.methods.flows.body.pose import vector_to_matrices  # noqa: E402
from weakpose.methods.flows.prior import load_prior_run  # noqa: E402
from weakpose.skeleton import H36M17  # noqa: E402

LEFT = set(H36M17.left)


def draw(ax, joints: np.ndarray, color_l="tab:red", color_r="tab:blue", color_c="k") -> None:
    """Front view (x right in the image = the subject's left... mirrored like a camera facing them)."""
    for p, c in enumerate(H36M17.parents):
        if c < 0:
            continue
        col = color_l if p in LEFT else color_r if p in set(H36M17.right) else color_c
        ax.plot([-joints[p, 0], -joints[c, 0]], [joints[p, 1], joints[c, 1]], color=col, lw=2)
    ax.set_aspect("equal")
    ax.axis("off")


def poses_from_codes(bundle, z: torch.Tensor, kind="nf", rep="aa") -> np.ndarray:
    flow = bundle.get(kind, rep)
    with torch.no_grad():
        theta = flow.inverse(z)
        out = bundle.body(vector_to_matrices(theta, rep))
    j = out.joints - out.joints[:, :1]
    return j.numpy()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prior", required=True)
    ap.add_argument("--out", default="docs/figures")
    ap.add_argument("--fit", default=None, help="optional `weakpose fit` output to draw over its part masks")
    ap.add_argument("--masks", default=None, help="the masks.npz given to `weakpose fit`")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    bundle, _ = load_prior_run(args.prior)
    gen = torch.Generator().manual_seed(3)
    dim = bundle.get("nf", "aa").dim

    fig, axes = plt.subplots(2, 8, figsize=(12, 3.6))
    z = torch.randn(8, dim, generator=gen) * 0.8
    for ax, j in zip(axes[0], poses_from_codes(bundle, z)):
        draw(ax, j)
    gmm = bundle.get("gmm", "aa")
    with torch.no_grad():
        theta = gmm.sample(8, gen).float()
        jg = bundle.body(vector_to_matrices(theta, "aa")).joints
    for ax, j in zip(axes[1], (jg - jg[:, :1]).numpy()):
        draw(ax, j)
    axes[0, 0].set_title("NF samples (T=0.8)", loc="left", fontsize=9)
    axes[1, 0].set_title("GMM samples", loc="left", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "flows_samples.png", dpi=70)
    plt.close(fig)

    fig, axes = plt.subplots(2, 7, figsize=(11, 3.6))
    for row in range(2):
        z0, z1 = torch.randn(2, dim, generator=gen) * 0.8
        ts = torch.linspace(0, 1, 7)
        zs = torch.stack([(1 - t) * z0 + t * z1 for t in ts])
        for ax, j in zip(axes[row], poses_from_codes(bundle, zs)):
            draw(ax, j)
    fig.suptitle("latent interpolation between two random codes (NF, angle-axis)", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "flows_interpolation.png", dpi=70)
    plt.close(fig)

    if args.fit:
        from weakpose.rendering import colorize_parts

        fit = np.load(args.fit)
        masks = np.load(args.masks)
        parts, scale = masks["parts"], float(masks["mask_scale"])
        pick = np.linspace(0, len(parts) - 1, 6).round().astype(int)
        fig, axes = plt.subplots(1, len(pick), figsize=(2.2 * len(pick), 2.6))
        for i, ax in zip(pick, np.atleast_1d(axes)):
            ax.imshow(colorize_parts(parts[i]), extent=(-0.5 * scale, (parts.shape[2] - 0.5) * scale,
                                                        (parts.shape[1] - 0.5) * scale, -0.5 * scale))
            j = fit["positions_3d"][i] + fit["translation"][i]
            uv = project(j, fit["intrinsics"][i])
            for p, c in enumerate(H36M17.parents):
                if c >= 0:
                    ax.plot(uv[[p, c], 0], uv[[p, c], 1], "w-", lw=1.5)
            gt = fit["keypoints_2d"][i]
            ax.plot(gt[:, 0], gt[:, 1], "k.", ms=3)
            pad = 40
            ax.set_xlim(gt[:, 0].min() - pad, gt[:, 0].max() + pad)
            ax.set_ylim(gt[:, 1].max() + pad, gt[:, 1].min() - pad)
            ax.axis("off")
        fig.tight_layout()
        fig.savefig(out / "flows_fits.png", dpi=70)
        plt.close(fig)


if __name__ == "__main__":
    main()
