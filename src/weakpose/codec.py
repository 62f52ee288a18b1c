"""The 2D input codec shared by the keypoint-input networks: how 2D keypoints, confidences and
intrinsics become network features. One place, so training and prediction cannot disagree.

Encoding (per sample):
1. pixels -> normalised image coordinates ``K⁻¹[u, v, 1]`` when intrinsics are known; without
   intrinsics the pixels are used as they are (weak perspective: the scale normalisation below
   removes the unknown focal length) and the root ray is taken as (0, 0);
2. centre at the pelvis (or, when the pelvis is missing, at the confidence-weighted mean);
3. divide by the RMS distance of the observed joints from the centre (scale invariance);
4. missing joints (confidence 0) are set to 0.
Features: ``[2J normalised coordinates, J confidences, 2 root-ray coordinates]``.
"""

from __future__ import annotations

import torch

from weakpose.camera import normalized_coordinates

ROOT = 0


def feature_size(num_joints: int = 17) -> int:
    return 3 * num_joints + 2


def encode_2d(
    keypoints: torch.Tensor, confidence: torch.Tensor, intrinsics: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``[N, J, 2]`` px, ``[N, J]``, ``[N, 3, 3]`` -> (features ``[N, 3J + 2]``, scale ``[N]``).

    ``scale`` is the RMS radius in the coordinates of step 1 (normalised image units or px).
    """
    observed = (confidence > 0).to(keypoints.dtype)
    if intrinsics is not None:
        xy = normalized_coordinates(keypoints, intrinsics.to(keypoints.dtype))
    else:
        xy = keypoints
    w = observed / observed.sum(-1, keepdim=True).clamp_min(1.0)
    mean = (w[..., None] * xy).sum(-2)
    root_seen = observed[..., ROOT : ROOT + 1]
    center = root_seen * xy[..., ROOT, :] + (1 - root_seen) * mean
    rel = (xy - center[..., None, :]) * observed[..., None]
    scale = ((rel * rel).sum(-1) * w).sum(-1).sqrt().clamp_min(1e-6)
    rel = rel / scale[..., None, None]
    ray = center if intrinsics is not None else torch.zeros_like(center)
    feats = torch.cat([rel.flatten(-2), confidence, ray], -1)
    return feats, scale
