"""Data preparation of Li & Lee, BMVC 2020 (§4 "Data Preprocessing") and the template frame.

- 3D poses (only the *unpaired* real poses of the critic) are aligned to a template by a
  similarity Procrustes on the hips and shoulders (:func:`align_to_template`) and re-centred at
  the pelvis. The template is a frontal torso in the camera convention (x right, y down,
  z forward; the person faces the camera, so their right side is at −x) with the training
  subjects' mean hip width, shoulder width and pelvis-to-shoulder height, **in metres**; the
  aligned poses are therefore in "template units" ≈ metres of an average torso (the authors'
  code also works in metres), which is what the paper's τ = 1 and loss weights assume.
- 2D poses are centred at the pelvis and divided by their standard deviation
  (:func:`normalise_2d`): here the RMS of the visible root-relative coordinates, one scalar per
  pose. Missing joints (confidence 0) are set to 0 and get weight 0 in L_2D.
"""

from __future__ import annotations

import numpy as np
import torch

from weakpose.geometry.procrustes import procrustes

PELVIS = 0
R_HIP, L_HIP, L_SHOULDER, R_SHOULDER = 1, 4, 11, 14
TORSO = (R_HIP, L_HIP, L_SHOULDER, R_SHOULDER)
#: limb joints that may be missing (paper §4.1: wrists, knees, elbows, ankles; DESIGN.md §5)
LIMB_JOINTS = (2, 3, 5, 6, 12, 13, 15, 16)
#: 2D-loss weight 0.1 for the neck and head, as in the authors' code (their pelvis weight 0 is
#: moot: after root-centring the pelvis reprojects exactly)
HEAD_JOINTS = (9, 10)


def torso_template(positions_mm: np.ndarray) -> np.ndarray:
    """Template torso [4, 3] (r_hip, l_hip, l_shoulder, r_shoulder) in metres from 3D poses [F, 17, 3] mm."""
    p = np.asarray(positions_mm, np.float64)
    hip_half = np.linalg.norm(p[:, L_HIP] - p[:, R_HIP], axis=-1).mean() / 2
    sh_half = np.linalg.norm(p[:, L_SHOULDER] - p[:, R_SHOULDER], axis=-1).mean() / 2
    mid_hip = (p[:, L_HIP] + p[:, R_HIP]) / 2
    mid_sh = (p[:, L_SHOULDER] + p[:, R_SHOULDER]) / 2
    height = np.linalg.norm(mid_sh - mid_hip, axis=-1).mean()
    t = np.array([[-hip_half, 0, 0], [hip_half, 0, 0], [sh_half, -height, 0], [-sh_half, -height, 0]])
    return (t / 1000.0).astype(np.float32)


def align_to_template(poses: torch.Tensor, template: torch.Tensor, transform_grad: bool = True) -> torch.Tensor:
    """Similarity-align poses [N, 17, 3] (any frame, any scale) to the torso template [4, 3] by
    Procrustes on hips and shoulders (no reflection), then re-centre at the pelvis. With
    ``transform_grad=False`` the fitted similarity is a constant for autograd (gradients reach
    the poses only, as for the Procrustes fit of Iqbal et al. Eq. 10)."""
    src = poses[:, list(TORSO)]
    with torch.set_grad_enabled(transform_grad and torch.is_grad_enabled()):
        R, s, t = procrustes(src, template.expand_as(src).to(poses.dtype), scale=True, reflection=False)
    out = s[:, None, None] * poses @ R.transpose(-1, -2)
    return out - out[:, PELVIS : PELVIS + 1]


def normalise_2d(keypoints: torch.Tensor, confidence: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Root-centre 2D poses [N, J, 2] and divide by their scalar standard deviation.

    Returns (x [N, J, 2], visible [N, J] float). Missing joints (confidence 0) are zeroed and
    excluded from the standard deviation. The pelvis must be visible.
    """
    visible = (confidence > 0).to(keypoints.dtype)
    if bool((visible[:, PELVIS] == 0).any()):
        bad = int(torch.nonzero(visible[:, PELVIS] == 0)[0, 0])
        raise ValueError(f"sample {bad}: the pelvis is missing; it is needed to centre the 2D pose")
    x = (keypoints - keypoints[:, PELVIS : PELVIS + 1]) * visible[..., None]
    n = (visible.sum(-1) * 2).clamp_min(1)
    std = torch.sqrt((x * x).sum((-1, -2)) / n).clamp_min(1e-6)
    return x / std[:, None, None], visible


def joint_weights(visible: torch.Tensor, head_weight: float = 0.1) -> torch.Tensor:
    """Per-joint L_2D weights [N, J]: 1, ``head_weight`` for neck and head, 0 where missing."""
    w = torch.ones_like(visible)
    w[:, list(HEAD_JOINTS)] = head_weight
    return w * visible


def mask_random_limb_joints(
    x: torch.Tensor, visible: torch.Tensor, count: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hide ``count`` random limb joints per sample (paper §4.1, Table 3): coordinates 0, visibility 0."""
    if count <= 0:
        return x, visible
    n = x.shape[0]
    scores = torch.rand(n, len(LIMB_JOINTS), generator=generator).to(x.device)
    pick = torch.tensor(LIMB_JOINTS, device=x.device)[scores.argsort(dim=1)[:, :count]]
    keep = torch.ones_like(visible)
    keep.scatter_(1, pick, 0.0)
    return x * keep[..., None], visible * keep
