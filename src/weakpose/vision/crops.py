"""Person crops and their exact affine transforms (Iqbal et al. 2020, supplementary §1).

"We use a person bounding-box to crop the person into a 256x256 image such that the person
is centered and covers roughly 75% of the image. The training data is augmented by random
scaling (+-20%) and rotation (+-30 degrees)."

A crop is a 3x3 affine matrix ``T`` (last row [0, 0, 1]) from full-image pixels to crop
pixels, with pixel centres at integer coordinates in both images. 2D points map with
:func:`apply_affine`; a prediction in the crop maps back exactly with ``inv(T)``. For
rendered images the crop is *rendered directly* by composing ``T @ K`` (no resampling);
for photos :func:`warp_images` resamples with the same ``T``.

Choices the paper leaves open: the box is the tight box of the 2D joints plus a head-top
point, padded by 5 % of its larger side on every side (limb thickness); the box's larger
side then covers ``coverage`` (0.75) of the crop side; augmentation draws the scale factor
from U(0.8, 1.2) and the angle from U(-30, 30) degrees.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

Array = Any

COVERAGE = 0.75
BOX_PADDING = 0.05
HEAD, NECK = 10, 9


def _lib(x):
    return np if isinstance(x, np.ndarray) else torch


def person_box(joints_2d: Array, valid: Array | None = None, padding: float = BOX_PADDING) -> Array:
    """Box ``[..., 4]`` (x0, y0, x1, y1) around Human3.6M-17 2D joints ``[..., 17, 2]``.

    Includes a head-top point extrapolated from neck and head (``head + 1.8 (head - neck)``)
    and pads every side by ``padding`` times the box's larger side. ``valid`` [..., 17]
    (bool or confidence > 0) excludes missing joints; a sample needs at least one valid joint.
    """
    lib = _lib(joints_2d)
    j = joints_2d
    top = j[..., HEAD, :] + 1.8 * (j[..., HEAD, :] - j[..., NECK, :])
    pts = lib.concatenate([j, top[..., None, :]], -2) if lib is np else torch.cat([j, top[..., None, :]], -2)
    if valid is None:
        ok = lib.ones(pts.shape[:-1], dtype=bool) if lib is np else torch.ones(pts.shape[:-1], dtype=torch.bool)
    else:
        v = valid > 0
        tv = v[..., HEAD] & v[..., NECK]
        ok = lib.concatenate([v, tv[..., None]], -1) if lib is np else torch.cat([v, tv[..., None]], -1)
    if (ok.sum(-1) == 0).any():
        raise ValueError("person_box: a sample has no valid joint")
    big = 1e12
    okf = ok[..., None]
    lo = lib.where(okf, pts, big).min(-2)
    hi = lib.where(okf, pts, -big).max(-2)
    if lib is torch:
        lo, hi = lo.values, hi.values
    side = (hi - lo).max(-1)
    if lib is torch:
        side = side.values
    pad = padding * side[..., None]
    lo, hi = lo - pad, hi + pad
    return lib.concatenate([lo, hi], -1) if lib is np else torch.cat([lo, hi], -1)


def crop_transform(
    box: Array,
    size: int,
    coverage: float = COVERAGE,
    scale: Array | float = 1.0,
    rotation_deg: Array | float = 0.0,
) -> np.ndarray:
    """Affine [..., 3, 3] mapping full-image pixels to a ``size`` x ``size`` crop.

    The box centre goes to the crop centre ``((size-1)/2, (size-1)/2)``; the box's larger side
    becomes ``coverage * size * scale`` pixels; the crop is rotated by ``rotation_deg``
    (counter-clockwise on screen) about its centre.
    """
    box = np.asarray(box, dtype=np.float64)
    c = 0.5 * (box[..., :2] + box[..., 2:])
    side = np.maximum(box[..., 2] - box[..., 0], box[..., 3] - box[..., 1])
    if (side <= 0).any():
        raise ValueError("crop_transform: empty box")
    s = coverage * size * np.asarray(scale, dtype=np.float64) / side
    th = np.deg2rad(np.asarray(rotation_deg, dtype=np.float64))
    # screen counter-clockwise with y down: [[cos, sin], [-sin, cos]]
    cos, sin = np.cos(th) * s, np.sin(th) * s
    cos, sin = np.broadcast_arrays(cos, sin)
    cos = np.broadcast_to(cos, side.shape)
    sin = np.broadcast_to(sin, side.shape)
    half = (size - 1) / 2.0
    T = np.zeros(side.shape + (3, 3))
    T[..., 0, 0], T[..., 0, 1] = cos, sin
    T[..., 1, 0], T[..., 1, 1] = -sin, cos
    T[..., 0, 2] = half - (cos * c[..., 0] + sin * c[..., 1])
    T[..., 1, 2] = half - (-sin * c[..., 0] + cos * c[..., 1])
    T[..., 2, 2] = 1.0
    return T


def apply_affine(points: Array, T: Array) -> Array:
    """Points [..., J, 2] through affine(s) [..., 3, 3]."""
    return points @ T[..., :2, :2].swapaxes(-1, -2) + T[..., None, :2, 2]


def invert_affine(T: Array) -> Array:
    """Inverse of 3x3 affine(s) (numpy or torch)."""
    return np.linalg.inv(T) if isinstance(T, np.ndarray) else torch.linalg.inv(T)


def sample_augmentation(
    rng: np.random.Generator, n: int, scale_range: float = 0.2, rotation_deg: float = 30.0
) -> tuple[np.ndarray, np.ndarray]:
    """Random scale factors U(1-s, 1+s) and angles U(-r, r) degrees for ``n`` crops."""
    return rng.uniform(1 - scale_range, 1 + scale_range, n), rng.uniform(-rotation_deg, rotation_deg, n)


def warp_images(images: torch.Tensor, T: Array, size: int, fill: float = 0.0) -> torch.Tensor:
    """Resample images [N, H, W, C] (float) into ``size`` x ``size`` crops with affines T [N, 3, 3].

    Bilinear; pixels falling outside the source take ``fill``. Consistent with
    :func:`apply_affine`: a feature at full-image pixel p lands at crop pixel ``T p``.
    """
    if images.ndim != 4:
        raise ValueError(f"images must be [N, H, W, C], got {tuple(images.shape)}")
    N, H, W, C = images.shape
    Tinv = torch.as_tensor(np.linalg.inv(np.asarray(T, dtype=np.float64)), dtype=torch.float32).reshape(N, 3, 3)
    g = torch.arange(size, dtype=torch.float32)
    yy, xx = torch.meshgrid(g, g, indexing="ij")
    pts = torch.stack([xx, yy], -1).reshape(1, -1, 2)
    src = pts @ Tinv[:, :2, :2].transpose(1, 2) + Tinv[:, None, :2, 2]  # full-image pixels
    # normalised coordinates for align_corners=True: -1 at pixel 0, +1 at pixel W-1
    gx = src[..., 0] / max(W - 1, 1) * 2 - 1
    gy = src[..., 1] / max(H - 1, 1) * 2 - 1
    grid = torch.stack([gx, gy], -1).reshape(N, size, size, 2)
    x = images.permute(0, 3, 1, 2).to(torch.float32)
    out = F.grid_sample(x - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=True) + fill
    return out.permute(0, 2, 3, 1)


def color_augment(images: torch.Tensor, generator: torch.Generator, strength: float = 0.2) -> torch.Tensor:
    """Random brightness, contrast and per-channel gain (each +-``strength``) for [N, H, W, 3]
    images in [0, 1]."""
    n = images.shape[0]
    g = generator
    b = 1 + strength * (2 * torch.rand(n, 1, 1, 1, generator=g) - 1)
    c = 1 + strength * (2 * torch.rand(n, 1, 1, 1, generator=g) - 1)
    ch = 1 + 0.5 * strength * (2 * torch.rand(n, 1, 1, 3, generator=g) - 1)
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return (((images - mean) * c + mean) * b * ch).clamp(0, 1)


def rotation_degrees(T: np.ndarray) -> np.ndarray:
    """Screen rotation (degrees, counter-clockwise) of crop affines, for reporting."""
    return np.degrees(np.arctan2(T[..., 0, 1], T[..., 0, 0]))


__all__ = [
    "COVERAGE", "person_box", "crop_transform", "apply_affine", "invert_affine",
    "sample_augmentation", "warp_images", "color_augment", "rotation_degrees",
]
