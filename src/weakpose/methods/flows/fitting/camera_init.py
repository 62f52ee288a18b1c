"""Camera-side initialisation of a fit (Zanfir et al. §2.3, §3).

* Fixed intrinsics ``K``; the translation is estimated "by fitting the 3D skeleton to the 2D
  joints" under a weak-perspective approximation: in normalised coordinates
  ``x̂_j = K⁻¹ [u_j, v_j, 1] ≈ (X_j,xy + t_xy) / t_z``, linear least squares in
  ``(1/t_z, t_xy/t_z)`` weighted by the joint confidences.
* Four initial global rotations (§3): upright in front of the camera, turned about the
  vertical by 0°, 90°, 180°, 270°; the fit keeps the lowest final loss (no ground truth).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from weakpose.camera import normalized_coordinates
from weakpose.geometry.rotations import axis_angle_to_matrix


def initial_global_rotations(count: int = 4, dtype: torch.dtype = torch.float32) -> Tensor:
    """[count, 3, 3] body-to-camera rotations. The body frame is y up, x to the subject's left,
    z forward (BVH rest); the camera frame is OpenCV (y down, z forward). ``diag(1, −1, −1)`` puts
    the subject upright and facing the camera; the others turn it about its vertical axis."""
    facing = torch.diag(torch.tensor([1.0, -1.0, -1.0], dtype=dtype))
    out = []
    for k in range(count):
        yaw = axis_angle_to_matrix(torch.tensor([0.0, 2 * math.pi * k / count, 0.0], dtype=dtype))
        out.append(facing @ yaw)
    return torch.stack(out)


def weak_perspective_translation(points: Tensor, keypoints_2d: Tensor, K: Tensor,
                                 confidence: Tensor | None = None, min_depth: float = 500.0) -> Tensor:
    """Translation [B, 3] placing camera-oriented model points ``points`` [B, J, 3] (any origin)
    so that they project onto ``keypoints_2d`` [B, J, 2] under weak perspective."""
    x = normalized_coordinates(keypoints_2d, K)  # [B, J, 2]
    B, J, _ = points.shape
    w = torch.ones(B, J, dtype=points.dtype) if confidence is None else confidence.to(points.dtype)
    centre = points.mean(1, keepdim=True)
    P = (points - centre)[..., :2]
    # weighted least squares for (s, c): x_j = s P_j + c over both coordinates, in closed form (c
    # is the weighted mean of x_j − s P_j; s the regression slope of the centred data). Not
    # torch.linalg.lstsq: MKL's batched solver rounds differently from call to call (it made
    # flows-ws training not bit-reproducible and resumed runs differ from uninterrupted ones)
    wsum = w.sum(1, keepdim=True).clamp_min(1e-12)[..., None]            # [B, 1, 1]
    P_mean = (w[..., None] * P).sum(1, keepdim=True) / wsum
    x_mean = (w[..., None] * x).sum(1, keepdim=True) / wsum
    dP, dx = P - P_mean, x - x_mean
    s = (w[..., None] * dP * dx).sum((1, 2)) / (w[..., None] * dP * dP).sum((1, 2)).clamp_min(1e-12)
    c = (x_mean - s[:, None, None] * P_mean)[:, 0]                        # [B, 2]
    s = s.clamp_min(1e-6)
    tz = (1.0 / s).clamp_min(min_depth)
    t = torch.stack([c[:, 0] * tz, c[:, 1] * tz, tz], -1)
    return t - centre[:, 0]  # the centroid lands at depth t_z on the fitted ray
