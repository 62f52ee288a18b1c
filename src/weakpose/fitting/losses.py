"""Fitting / weak-supervision losses of Zanfir et al. (§2.2, §2.3, §3).

All functions are batched over samples and return one value per sample, so one L-BFGS run can
fit many independent frames (the sum of independent objectives).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def keypoint_alignment(projected: Tensor, target: Tensor, confidence: Tensor | None = None) -> Tensor:
    """L_KA = (1/N_j) Σ_j c_j ‖J_j − Ĵ_j‖² (§2.3; pixels²) [B]. Joints with confidence 0 are
    missing; the mean is over the joints with non-zero confidence."""
    sq = (projected - target).pow(2).sum(-1)
    if confidence is None:
        return sq.mean(-1)
    return (confidence * sq).sum(-1) / (confidence > 0).sum(-1).clamp_min(1)


def body_part_alignment(points_2d: Tensor, point_labels: Tensor, pixels: Tensor, pixel_labels: Tensor,
                        eps: float = 1e-6) -> tuple[Tensor, Tensor]:
    """Semantic body-part alignment L_BA (Eq. 7), both directions, batched and vectorised.

    Args:
        points_2d: [B, N, 2] projections Π(v) of the labelled surface points.
        point_labels: [N] part index of each point.
        pixels: [B, M, 2] pixel coordinates of the part masks (a fixed-size sample per image).
        pixel_labels: [B, M] part index of each pixel, −1 for padding.

    Returns:
        ``(forward, backward)`` each [B]: the **mean** over mask pixels of the distance to the
        closest projected point of the same part (Eq. 7's first term), and the mean over points
        of parts present in the mask of the distance to the closest pixel of that part (second
        term). Eq. 7 sums; weakpose averages so the weight does not depend on the image size
        or the number of points. Distances are ``sqrt(d² + eps)`` so the gradient is defined
        at 0. Points of a part with no pixels are left out (their min is over an empty set).
    """
    if points_2d.ndim != 3 or pixels.ndim != 3:
        raise ValueError("points_2d and pixels must be [B, N, 2] and [B, M, 2]")
    d = torch.sqrt(torch.cdist(pixels, points_2d).pow(2) + eps)  # [B, M, N]
    same = pixel_labels[:, :, None] == point_labels[None, None, :]  # [B, M, N]
    big = torch.finfo(d.dtype).max / 4
    dm = torch.where(same, d, torch.full_like(d, big))
    valid_px = pixel_labels >= 0
    fwd_min = dm.min(dim=2).values  # [B, M]
    has_point = same.any(2)
    use_px = valid_px & has_point
    fwd = (torch.where(use_px, fwd_min, torch.zeros_like(fwd_min))).sum(1) / use_px.sum(1).clamp_min(1)
    bwd_min = dm.min(dim=1).values  # [B, N]
    has_px = same.any(1)
    bwd = torch.where(has_px, bwd_min, torch.zeros_like(bwd_min)).sum(1) / has_px.sum(1).clamp_min(1)
    return fwd, bwd


def mask_to_pixels(mask: np.ndarray, num_parts: int, max_pixels: int, rng: np.random.Generator,
                   label_offset: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Sample at most ``max_pixels`` labelled pixels of a part mask.

    ``mask`` [H, W] integers with part ``k`` stored as ``k + label_offset`` (0 = background).
    Every part present gets a share of the samples proportional to its area, and at least
    ``min(area, 8)`` pixels, so that small parts (forearms) are not lost. Returns
    ``(xy [max_pixels, 2] float32 pixel centres (u, v) = (column, row), labels [max_pixels] int64, −1 = padding)``.
    """
    if mask.ndim != 2:
        raise ValueError(f"part mask must be [H, W], got shape {mask.shape}")
    labels = mask.astype(np.int64) - label_offset
    v, u = np.nonzero((labels >= 0) & (labels < num_parts))
    lab = labels[v, u]
    xy_out = np.zeros((max_pixels, 2), np.float32)
    lab_out = np.full(max_pixels, -1, np.int64)
    if len(lab) == 0:
        return xy_out, lab_out
    if len(lab) > max_pixels:
        parts, counts = np.unique(lab, return_counts=True)
        quota = np.maximum(np.minimum(counts, 8), np.floor(counts / counts.sum() * max_pixels)).astype(int)
        while quota.sum() > max_pixels:
            quota[np.argmax(quota)] -= 1
        keep = np.concatenate([rng.choice(np.flatnonzero(lab == p), q, replace=False) for p, q in zip(parts, quota)])
        v, u, lab = v[keep], u[keep], lab[keep]
    n = len(lab)
    xy_out[:n, 0] = u  # pixel (row v, column u) is centred at (u, v), as in the renderer / OpenCV
    xy_out[:n, 1] = v
    lab_out[:n] = lab
    return xy_out, lab_out


def temporal_smoothness(codes: Tensor) -> Tensor:
    """L_smooth = Σ_{t≥2} ‖z_t − z_{t−1}‖² (Eq. 12) for ``codes`` [W, T, D] -> [W]."""
    return (codes[:, 1:] - codes[:, :-1]).pow(2).sum((-1, -2))
