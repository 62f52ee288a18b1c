"""Training a 2D heatmap network on rendered person crops (on the fly) and measuring its
pixel error on rendered crops of other subjects.

The loss is Iqbal et al.'s heatmap loss L_H (MSE against Gaussian targets, Eq. 6/7); 2D
joints are decoded by spatial softmax (lambda = 50) + soft-argmax (Eq. 4). Joints outside
the crop are not supervised; joints hidden behind the body are (annotators label occluded
joints too, and the 2D pose is fully determined).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from weakpose.models.heatmap_net import HeatmapNet, build_heatmap_net, normalize_images
from weakpose.rendering.scenes import RenderedMotion, Scene
from weakpose.vision.crops import color_augment
from weakpose.vision.heatmaps import IQBAL_LAMBDA, decode_heatmaps, gaussian_heatmaps, heatmap_loss


@dataclass
class Train2DConfig:
    backbone: str = "hrnet-tiny"
    crop_size: int = 64
    batch: int = 32
    steps: int = 2000
    lr: float = 1e-3
    lr_drop_at: float = 0.8  # fraction of the steps after which the lr drops 10x (Iqbal supp.: 5e-4 -> 5e-5)
    sigma: float = 1.5  # Gaussian std in heatmap cells
    lam: float = IQBAL_LAMBDA
    wild_fraction: float = 0.5  # share of the batch seen by random "wild" cameras (rest: h36m rig)
    augment: bool = True
    seed: int = 0
    log_every: int = 100


@dataclass
class Train2DResult:
    model: HeatmapNet
    log: list[dict] = field(default_factory=list)
    seconds: float = 0.0


def _inside(j2d: torch.Tensor, size: int) -> torch.Tensor:
    return (j2d >= -0.5).all(-1) & (j2d <= size - 0.5).all(-1)


def batch_from_scene(scene: Scene) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Flatten a scene to (rgb [B, H, W, 3], joints_2d [B, 17, 2], visible [B, 17])."""
    r = scene.render
    H, W = r.rgb.shape[-3:-1]
    return r.rgb.reshape(-1, H, W, 3), r.joints_2d.reshape(-1, 17, 2), r.visible.reshape(-1, 17)


def train_heatmap_model(config: Train2DConfig, data_root, subjects=None, progress=None, images=None) -> Train2DResult:
    """Train ``config.backbone`` on rendered crops of ``subjects`` (default: CMU-WS training),
    or on crops of the photos of ``images`` (a :class:`weakpose.data.image_files.ImageFiles`;
    unlabelled joints are not supervised)."""
    from weakpose.data import mocap

    subjects = tuple(subjects) if subjects is not None else mocap.TRAIN_SUBJECTS
    torch.manual_seed(config.seed)
    c = config
    if images is None:
        rig = RenderedMotion(data_root, subjects, rig="h36m", seed=c.seed)
        wild = RenderedMotion(data_root, subjects, rig="wild", seed=c.seed + 1)
    model = build_heatmap_net(c.backbone, 17)
    opt = torch.optim.Adam(model.parameters(), lr=c.lr)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [int(c.lr_drop_at * c.steps)], 0.1)
    g = torch.Generator().manual_seed(c.seed)
    hm = c.crop_size // model.stride
    n_wild = int(round(c.wild_fraction * c.batch))
    res = Train2DResult(model)
    t0 = time.perf_counter()
    model.train()
    file_rng = np.random.default_rng(c.seed)
    for step in range(1, c.steps + 1):
        if images is not None:
            crops = images.sample(file_rng, c.batch, c.crop_size, augment=c.augment)
            rgb, j2d, weight = crops.rgb, crops.keypoints, crops.weight
        else:
            parts = []
            if c.batch - n_wild:
                parts.append(batch_from_scene(rig.sample(c.batch - n_wild, 1, c.crop_size, augment=c.augment)))
            if n_wild:
                parts.append(batch_from_scene(wild.sample(n_wild, 1, c.crop_size, augment=c.augment)))
            rgb, j2d, _ = (torch.cat(x) for x in zip(*parts))
            weight = _inside(j2d, c.crop_size).float()
        if c.augment:
            rgb = color_augment(rgb, g)
        target = gaussian_heatmaps(j2d, hm, hm, model.stride, c.sigma)
        pred = model(normalize_images(rgb))
        loss = heatmap_loss(pred, target, weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % c.log_every == 0 or step == c.steps:
            with torch.no_grad():
                uv, _ = decode_heatmaps(pred, c.lam, model.stride)
                err = (uv - j2d).norm(dim=-1)
                if images is None:
                    err = err.mean().item()
                else:
                    err = (err * weight).sum().item() / max(weight.sum().item(), 1.0)
            entry = {"step": step, "loss": loss.item(), "train_px": err, "seconds": time.perf_counter() - t0}
            res.log.append(entry)
            if progress:
                progress(entry)
    res.seconds = time.perf_counter() - t0
    model.eval()
    return res


def render_test_set(data_root, n: int, crop_size: int, seed: int = 123, *,
                    subjects: tuple[int, ...]) -> dict[str, tuple]:
    """Fixed rendered crops of ``subjects``: ``n`` seen by the h36m rig cameras (one random view
    each) and ``n`` by wild cameras, no augmentation. ``subjects`` has no default, so no caller
    evaluates on the CMU-WS test subjects (2, 9) by omission (monitors pass training subjects)."""
    subjects = tuple(subjects)
    out = {}
    for k, rig in enumerate(("h36m", "wild")):
        src = RenderedMotion(data_root, subjects, rig=rig, seed=seed + k)
        out[rig] = batch_from_scene(src.sample(n, 1, crop_size, augment=False))
    return out


@torch.no_grad()
def evaluate_2d(
    model: HeatmapNet,
    rgb: torch.Tensor,
    j2d: torch.Tensor,
    visible: torch.Tensor,
    lam: float = IQBAL_LAMBDA,
    batch: int = 128,
) -> dict[str, float]:
    """Pixel errors at the crop resolution: mean over all joints inside the crop, over
    visible joints, over hidden joints, the median, and PCK at 5 % of the crop size."""
    model.eval()
    uv = torch.cat([decode_heatmaps(model(normalize_images(rgb[i : i + batch])), lam, model.stride)[0]
                    for i in range(0, len(rgb), batch)])
    size = rgb.shape[1]
    err = (uv - j2d).norm(dim=-1)
    inside = _inside(j2d, size)
    vis = visible & inside
    hid = ~visible & inside
    e = err[inside].numpy()
    return {
        "mean_px": float(e.mean()),
        "median_px": float(np.median(e)),
        "visible_px": float(err[vis].mean()),
        "hidden_px": float(err[hid].mean()) if hid.any() else float("nan"),
        "pck5": float((e < 0.05 * size).mean() * 100),
        "n_joints": int(inside.sum()),
    }
