"""Fitting / weak-supervision losses of Zanfir et al. (§2.2, §2.3, §3).

All functions are batched over samples and return one value per sample, so one L-BFGS run can
fit many independent frames (the sum of independent objectives).
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass
class GroupedPixels:
    """Mask pixels grouped by part, padded per part: ``pixels[k]`` [B, M_k, 2], ``valid[k]`` [B, M_k]."""

    pixels: list[Tensor]
    valid: list[Tensor]

    def index(self, rows: Tensor) -> GroupedPixels:
        return GroupedPixels([p[rows] for p in self.pixels], [v[rows] for v in self.valid])


def group_pixels(pixels: Tensor, pixel_labels: Tensor, num_parts: int) -> GroupedPixels:
    """Group a padded pixel sample ([B, M, 2], labels [B, M], −1 = padding) by part, once per fit."""
    B, M = pixel_labels.shape
    out_p, out_v = [], []
    for k in range(num_parts):
        sel = pixel_labels == k
        mk = int(sel.sum(1).max()) if B else 0
        # stable order: part-k pixels first in each row, then the rest
        order = torch.argsort((~sel).to(torch.int8), dim=1, stable=True)[:, :mk]
        out_p.append(torch.gather(pixels, 1, order[..., None].expand(-1, -1, 2)))
        out_v.append(torch.arange(mk)[None, :] < sel.sum(1, keepdim=True))
    return GroupedPixels(out_p, out_v)


def body_part_alignment(points_2d: Tensor, point_labels: Tensor, pixels: Tensor | GroupedPixels,
                        pixel_labels: Tensor | None = None, eps: float = 1e-6) -> tuple[Tensor, Tensor]:
    """Semantic body-part alignment L_BA (Eq. 7), both directions, batched and vectorised.

    Args:
        points_2d: [B, N, 2] projections Π(v) of the labelled surface points.
        point_labels: [N] part index of each point.
        pixels: [B, M, 2] pixel coordinates of the part masks (a fixed-size sample per image)
            with ``pixel_labels`` [B, M] (part index, −1 for padding); or the same already grouped
            by :func:`group_pixels` (what the fitter does once per fit).

    Returns:
        ``(forward, backward)`` each [B]: the **mean** over mask pixels of the distance to the
        closest projected point of the same part (Eq. 7's first term), and the mean over points
        of parts present in the mask of the distance to the closest pixel of that part (second
        term). Eq. 7 sums; weakpose averages so the weight does not depend on the image size
        or the number of points. Distances are ``sqrt(d² + eps)`` so the gradient is defined
        at 0. Points of a part with no pixels are left out (their min is over an empty set).
        Distances are only computed within a part (one [B, M_k, N_k] block per part).
    """
    if points_2d.ndim != 3:
        raise ValueError("points_2d must be [B, N, 2]")
    num_parts = int(point_labels.max()) + 1
    if not isinstance(pixels, GroupedPixels):
        if pixels.ndim != 3 or pixel_labels is None:
            raise ValueError("pixels must be [B, M, 2] with pixel_labels [B, M]")
        pixels = group_pixels(pixels, pixel_labels, num_parts)
    B = points_2d.shape[0]
    fwd_sum = points_2d.new_zeros(B)
    fwd_n = points_2d.new_zeros(B)
    bwd_sum = points_2d.new_zeros(B)
    bwd_n = points_2d.new_zeros(B)
    for k in range(min(num_parts, len(pixels.pixels))):
        pix, valid = pixels.pixels[k].to(points_2d.dtype), pixels.valid[k]
        if pix.shape[1] == 0:
            continue
        pts = points_2d[:, point_labels == k]
        if pts.shape[1] == 0:
            continue
        d = torch.sqrt(torch.cdist(pix, pts).pow(2) + eps)  # [B, M_k, N_k]
        fwd_sum = fwd_sum + (d.min(2).values * valid).sum(1)
        fwd_n = fwd_n + valid.sum(1)
        big = torch.finfo(d.dtype).max / 4
        dmin = torch.where(valid[:, :, None], d, torch.full_like(d, big)).min(1).values  # [B, N_k]
        present = valid.any(1)
        bwd_sum = bwd_sum + torch.where(present[:, None], dmin, torch.zeros_like(dmin)).sum(1)
        bwd_n = bwd_n + present * pts.shape[1]
    return fwd_sum / fwd_n.clamp_min(1), bwd_sum / bwd_n.clamp_min(1)


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
