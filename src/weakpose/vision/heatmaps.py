"""Heatmap targets and decoding: Gaussian targets, spatial softmax with temperature lambda,
soft-argmax (Iqbal et al. 2020, Eq. 4) and confidence read from the heatmap.

Coordinates: heatmaps have ``stride`` input pixels per cell; cell ``(x, y)`` is centred on
input pixel ``(x * stride + (stride - 1) / 2, y * stride + (stride - 1) / 2)`` (pixel centres
at integers, as everywhere in weakpose). The functions convert between heatmap cells and
input (crop) pixels with :func:`cell_to_pixel` / :func:`pixel_to_cell`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: Iqbal et al. supp. §1: "We use lambda = 50".
IQBAL_LAMBDA = 50.0


def cell_to_pixel(xy: torch.Tensor, stride: int) -> torch.Tensor:
    return xy * stride + (stride - 1) / 2.0


def pixel_to_cell(uv: torch.Tensor, stride: int) -> torch.Tensor:
    return (uv - (stride - 1) / 2.0) / stride


def gaussian_heatmaps(
    joints_2d: torch.Tensor, height: int, width: int, stride: int = 4, sigma: float = 2.0, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """Target heatmaps [B, J, height, width] with an unnormalised Gaussian (peak 1 at the
    joint, standard deviation ``sigma`` in heatmap cells) per joint.

    ``joints_2d`` [B, J, 2] in input pixels; sub-cell positions are kept exactly (no
    rounding). Joints with ``valid`` False (or 0) get an all-zero map.
    """
    if joints_2d.ndim != 3 or joints_2d.shape[-1] != 2:
        raise ValueError(f"joints_2d must be [B, J, 2], got {tuple(joints_2d.shape)}")
    if sigma <= 0:
        raise ValueError("sigma must be positive")
    c = pixel_to_cell(joints_2d.to(torch.float32), stride)
    xs = torch.arange(width, dtype=torch.float32)
    ys = torch.arange(height, dtype=torch.float32)
    gx = torch.exp(-((xs - c[..., 0:1]) ** 2) / (2 * sigma**2))  # [B, J, W]
    gy = torch.exp(-((ys - c[..., 1:2]) ** 2) / (2 * sigma**2))  # [B, J, H]
    hm = gy[..., :, None] * gx[..., None, :]
    if valid is not None:
        hm = hm * (valid > 0).to(hm.dtype)[..., None, None]
    return hm


def spatial_softmax(heatmaps: torch.Tensor, lam: float = IQBAL_LAMBDA) -> torch.Tensor:
    """``softmax(H, lambda)``: normalise each [H, W] map to sum 1 with temperature
    ``lambda`` (``exp(lambda H) / sum exp(lambda H)``; Iqbal et al. Eq. 4)."""
    B, J, H, W = heatmaps.shape
    return torch.softmax(lam * heatmaps.reshape(B, J, H * W), dim=-1).reshape(B, J, H, W)


def soft_argmax(normalized: torch.Tensor, stride: int = 4) -> torch.Tensor:
    """Expected position ``sum_U H_bar(U) U`` (Iqbal Eq. 4) of normalised heatmaps
    [B, J, H, W], in input pixels [B, J, 2]. Differentiable."""
    B, J, H, W = normalized.shape
    xs = torch.arange(W, dtype=normalized.dtype, device=normalized.device)
    ys = torch.arange(H, dtype=normalized.dtype, device=normalized.device)
    x = (normalized.sum(-2) * xs).sum(-1)
    y = (normalized.sum(-1) * ys).sum(-1)
    return cell_to_pixel(torch.stack([x, y], -1), stride)


def expected_value(normalized: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
    """``sum_{u,v} H_bar_j * M_j`` per joint [B, J] (Iqbal Eq. 5: relative depth from the
    latent depth maps ``M`` = H^z)."""
    return (normalized * maps).sum(dim=(-1, -2))


def sample_heatmaps(heatmaps: torch.Tensor, uv: torch.Tensor, stride: int = 4) -> torch.Tensor:
    """Bilinear value of each map [B, J, H, W] at its joint's input-pixel position [B, J, 2]."""
    B, J, H, W = heatmaps.shape
    c = pixel_to_cell(uv, stride)
    gx = c[..., 0] / max(W - 1, 1) * 2 - 1
    gy = c[..., 1] / max(H - 1, 1) * 2 - 1
    grid = torch.stack([gx, gy], -1).reshape(B * J, 1, 1, 2)
    v = F.grid_sample(heatmaps.reshape(B * J, 1, H, W), grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return v.reshape(B, J)


def decode_heatmaps(heatmaps: torch.Tensor, lam: float = IQBAL_LAMBDA, stride: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """2D joints [B, J, 2] (soft-argmax of the spatial softmax, input pixels) and confidence
    [B, J]: the raw heatmap value at that location, clipped to [0, 1] (heatmaps are trained
    against peak-1 Gaussians, so a confident, well-localised joint reads close to 1)."""
    uv = soft_argmax(spatial_softmax(heatmaps, lam), stride)
    conf = sample_heatmaps(heatmaps, uv, stride).clamp(0.0, 1.0)
    return uv, conf


def heatmap_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                 normaliser: torch.Tensor | float | None = None) -> torch.Tensor:
    """Mean squared error between heatmaps (Iqbal et al. L_H in Eq. 6 and 7), optionally
    weighted per joint [B, J] (0 for unlabeled joints): the weighted sum divided by
    ``normaliser`` (default: the sum of the weights)."""
    se = ((pred - target) ** 2).mean(dim=(-1, -2))
    if weight is None:
        return se.mean()
    if normaliser is None:
        normaliser = weight.sum()
    return (se * weight).sum() / torch.as_tensor(normaliser, dtype=se.dtype).clamp_min(1e-9)
