"""Reference baselines that need no training.

- :func:`depthless_poses` (DESIGN.md §5): what a method scores if it learns nothing about depth.
  The 2D joints are back-projected onto the plane through the pelvis parallel to the image
  (all joints at one depth), made root-relative and scaled by the training subjects' mean bone
  lengths (Iqbal et al. supplementary Eq. 1). Every weakly supervised method must beat it.
- :func:`exemplar_poses`: what the *unpaired* 3D poses alone give with the 2D input, by lookup
  instead of learning: the bank pose whose projection under its best affine camera fits the 2D
  best (nearest 2D-consistent exemplar). It sees the same data as the methods that learn a prior
  from unpaired 3D (Li & Lee, Zanfir et al.), so it tells how much of their error the data
  itself explains.
"""

from __future__ import annotations

import numpy as np

from weakpose.camera import backproject, rotation_from_2x3
from weakpose.data.contracts import Keypoints2D
from weakpose.geometry.scale import bone_length_scale, observed_bone_weights


def depthless_poses(inputs: Keypoints2D, mean_bone_lengths: np.ndarray) -> np.ndarray:
    """``[N, 17, 3]`` mm, camera frame, root-relative, with zero relative depth.

    Without intrinsics a weak-perspective camera is assumed (pixels used as x, y). Missing
    joints (confidence 0) are put at the pelvis and their bones left out of the scale."""
    kp = inputs.keypoints_2d.astype(np.float64)
    if inputs.intrinsics is not None:
        flat = backproject(kp, np.ones(kp.shape[:-1]), inputs.intrinsics.astype(np.float64))
    else:
        flat = np.concatenate([kp, np.ones(kp.shape[:-1] + (1,))], -1)
    flat = flat - flat[..., :1, :]
    flat[..., 2] = 0.0
    flat[inputs.confidence <= 0] = 0.0
    s = bone_length_scale(flat, mean_bone_lengths, weights=observed_bone_weights(inputs.confidence))
    return (s[..., None, None] * flat).astype(np.float32)


def exemplar_poses(
    inputs: Keypoints2D, bank_mm: np.ndarray, mean_bone_lengths: np.ndarray, chunk: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest 2D-consistent exemplar of every input 2D pose in a bank of 3D poses.

    For bank pose Y (joints centred at their mean) and input x (visible joints, centred and
    scaled to unit norm), the best affine camera leaves the residual |x|² − |Q_Yᵀ x|², with Q_Y
    an orthonormal basis of Y's columns; the bank pose of least residual is chosen (only the
    input's visible joints count). It is returned root-relative in the camera frame (rotated
    by the nearest orthonormal rows of its affine camera, ``camera.rotation_from_2x3``) and
    scaled to ``mean_bone_lengths``. An affine camera cannot tell a pose from its depth mirror
    image, so the rotation's handedness is a guess; PA-MPJPE is the metric to read.

    Args:
        inputs: 2D keypoints [N, 17, 2] (pixels; a weak-perspective view of them is used).
        bank_mm: [F, 17, 3] 3D poses (any frame), e.g. the training subjects' mocap.
        mean_bone_lengths: [B] mm.
    Returns:
        (poses [N, 17, 3] mm, residual [N]: the chosen exemplar's relative 2D residual, 0..1).
    """
    import torch

    kp = torch.as_tensor(inputs.keypoints_2d, dtype=torch.float64)
    vis = torch.as_tensor(inputs.confidence > 0)
    bank = torch.as_tensor(np.asarray(bank_mm), dtype=torch.float64)
    if bank.ndim != 3 or bank.shape[1:] != kp.shape[1:2] + (3,):
        raise ValueError(f"exemplar_poses: bank must be [F, {kp.shape[1]}, 3], got {tuple(bank.shape)}")
    out = torch.zeros(kp.shape[:2] + (3,), dtype=torch.float64)
    res = torch.zeros(len(kp), dtype=torch.float64)
    patterns, which = torch.unique(vis, dim=0, return_inverse=True)
    for p, mask in enumerate(patterns):
        rows = torch.nonzero(which == p)[:, 0]
        if int(mask.sum()) < 4:
            raise ValueError(f"exemplar_poses: samples {rows[:3].tolist()}... have fewer than 4 visible joints")
        Y = bank[:, mask]
        Y = Y - Y.mean(1, keepdim=True)
        Q = torch.linalg.qr(Y).Q                                  # [F, V, 3]
        for i in range(0, len(rows), chunk):
            r = rows[i:i + chunk]
            x = kp[r][:, mask]
            x = x - x.mean(1, keepdim=True)
            x = x / x.norm(dim=(1, 2), keepdim=True).clamp_min(1e-12)
            fit = torch.einsum("fvk,bvc->bfkc", Q, x).pow(2).sum((-1, -2))
            best_fit, best = fit.max(1)
            res[r] = 1.0 - best_fit
            ex = bank[best]                                       # [b, J, 3]
            exc = ex[:, mask] - ex[:, mask].mean(1, keepdim=True)
            Mt = torch.linalg.lstsq(exc, x).solution              # x ≈ exc @ Mt
            R = rotation_from_2x3(Mt.transpose(-1, -2))
            out[r] = (ex - ex[:, :1]) @ R.transpose(-1, -2)
    s = bone_length_scale(out.numpy(), mean_bone_lengths)
    return (s[..., None, None] * out.numpy()).astype(np.float32), res.numpy()
