"""Input normalisation, reprojection residual and depth-sign rule shared by the Deep NRSfM teacher
(:mod:`weakpose.methods.nrsfm.teacher`) and its distilled students (:mod:`weakpose.methods.nrsfm.distill`).

Normalisation (a choice the paper leaves open; §5.3 normalises by the 2D bounding box):

1. pixels → normalised image coordinates ``((u - cx) / fx, (v - cy) / fy)`` when intrinsics are
   given (removes focal length and principal point; without intrinsics pixels are used as is);
2. translation: subtract the root joint (``center`` = joint index) or the centroid of the
   visible joints (``center = "mean"``); if the root joint is missing the visible centroid is
   used (the reprojection residual below is translation invariant, so this only changes the
   encoder's input);
3. scale: divide by the Frobenius norm of the centred visible joints, so every 2D pose has
   ``‖W‖_F = 1``. With this, Eq. 4's L2 reprojection error equals the *relative* Frobenius
   error of Kong & Lucey's release, and the loss weights of Eq. 4 (λ = 0.01) and Eq. 14 (0.3)
   act on the same units.

Missing joints (confidence 0) are zeroed and carried as a mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from weakpose.errors import InputError
from weakpose.skeleton import H36M17


@dataclass
class NormalisedKeypoints:
    """Normalised 2D poses (float32 torch tensors, N samples, P joints)."""

    w: torch.Tensor       # [N, P, 2] centred, unit Frobenius norm over visible joints, 0 where missing
    mask: torch.Tensor    # [N, P] 1 = visible
    scale: torch.Tensor   # [N] the Frobenius norm that was divided out (normalised-image units)


def normalise_keypoints(
    keypoints_2d: np.ndarray | torch.Tensor,
    confidence: np.ndarray | torch.Tensor | None = None,
    intrinsics: np.ndarray | torch.Tensor | None = None,
    center: str | int = 0,
    source: str = "keypoints",
) -> NormalisedKeypoints:
    """Normalise pixel keypoints [N, P, 2] for Deep NRSfM (see the module docstring)."""
    kp = torch.as_tensor(np.asarray(keypoints_2d, dtype=np.float64))
    if kp.ndim != 3 or kp.shape[-1] != 2:
        raise InputError(f"{source}: key 'keypoints_2d': expected shape [N, J, 2], got {tuple(kp.shape)}")
    n, p, _ = kp.shape
    if confidence is None:
        mask = torch.ones(n, p, dtype=torch.float64)
    else:
        conf = torch.as_tensor(np.asarray(confidence, dtype=np.float64))
        if conf.shape != (n, p):
            raise InputError(f"{source}: key 'confidence': expected shape [{n}, {p}], got {tuple(conf.shape)}")
        mask = (conf > 0).to(torch.float64)
    if intrinsics is not None:
        k = torch.as_tensor(np.asarray(intrinsics, dtype=np.float64))
        if k.shape == (3, 3):
            k = k.expand(n, 3, 3)
        if k.shape != (n, 3, 3):
            raise InputError(f"{source}: key 'intrinsics': expected shape [N, 3, 3] or [3, 3], got {tuple(k.shape)}")
        focal = torch.stack([k[:, 0, 0], k[:, 1, 1]], dim=-1)[:, None, :]
        principal = k[:, :2, 2][:, None, :]
        if (focal <= 0).any():
            raise InputError(f"{source}: key 'intrinsics': focal lengths must be positive")
        kp = (kp - principal) / focal
    if not torch.isfinite(kp[mask > 0]).all():
        raise InputError(f"{source}: key 'keypoints_2d': non-finite coordinates on visible joints")
    counts = mask.sum(-1)
    if (counts < 2).any():
        bad = int(torch.nonzero(counts < 2)[0, 0])
        raise InputError(f"{source}: key 'confidence': sample {bad} has fewer than 2 visible joints")
    mean_vis = (kp * mask[..., None]).sum(1) / counts[:, None]
    if center == "mean":
        origin = mean_vis
    else:
        root = int(center)
        if not 0 <= root < p:
            raise InputError(f"{source}: root joint {root} outside 0..{p - 1}")
        origin = torch.where(mask[:, root, None] > 0, kp[:, root], mean_vis)
    w = (kp - origin[:, None, :]) * mask[..., None]
    scale = w.flatten(1).norm(dim=-1)
    if (scale <= 1e-12).any():
        bad = int(torch.nonzero(scale <= 1e-12)[0, 0])
        raise InputError(f"{source}: key 'keypoints_2d': sample {bad} has all visible joints at one point")
    w = w / scale[:, None, None]
    return NormalisedKeypoints(w=w.float(), mask=mask.float(), scale=scale.float())


def reprojection_residual(pred_2d: torch.Tensor, w: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Masked residual [B, P, 2] of a weak-perspective projection after the best 2D translation.

    ``W = S M + t 1ᵀ`` with the translation ``t`` eliminated in closed form (the mean residual over
    visible joints), so root- and centroid-centred data are treated alike and missing joints
    neither contribute nor shift the fit.
    """
    diff = (pred_2d - w) * mask[..., None]
    t = diff.sum(1, keepdim=True) / mask.sum(1).clamp_min(1.0)[:, None, None]
    return (diff - t) * mask[..., None]


# --- depth sign ---------------------------------------------------------------------------------
# A learned dictionary may be the mirror image of the true shape space: a global depth
# reflection leaves every reprojection unchanged (Eq. 1). The rule below picks the sign with no
# ground truth: a human knee bends forwards and an elbow bends so that the forearm moves forwards,
# where "forwards" is the facing direction given by the body's own left/right and up axes. A
# mirrored body bends its knees backwards. We use it only on the Human3.6M-17 layout.
_PELVIS, _R_HIP, _R_KNEE, _R_ANKLE, _L_HIP, _L_KNEE, _L_ANKLE, _THORAX = 0, 1, 2, 3, 4, 5, 6, 8


def knee_chirality(poses: torch.Tensor) -> torch.Tensor:
    """Per-sample score [N]: > 0 when the knees bend forwards (a correctly handed body).

    ``poses`` [N, 17, 3] in a right-handed frame (Human3.6M-17 order; the OpenCV camera frame is
    right-handed). In a right-handed frame a person's right = forward × up, hence
    forward = up × right with up = thorax - pelvis and right = r_hip - l_hip. The score sums,
    over both legs, the forward component of the knee's offset from the hip–ankle midpoint.
    """
    across = poses[:, _R_HIP] - poses[:, _L_HIP]          # points to the person's right
    up = poses[:, _THORAX] - poses[:, _PELVIS]             # points up the body
    forward = torch.linalg.cross(up, across, dim=-1)
    forward = forward / forward.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    score = torch.zeros(poses.shape[0], dtype=poses.dtype)
    for hip, knee, ankle in ((_R_HIP, _R_KNEE, _R_ANKLE), (_L_HIP, _L_KNEE, _L_ANKLE)):
        bend = poses[:, knee] - 0.5 * (poses[:, hip] + poses[:, ankle])
        score = score + (bend * forward).sum(-1)
    return score


def backward_knee_share(poses: torch.Tensor) -> float:
    """Share of poses [N, 17, 3] whose knees bend backwards (:func:`knee_chirality` < 0): 0 for
    the mocap itself, 1 for its depth mirror. On a teacher's reconstructions of its training 2D
    (after its depth sign) it flags a solution that fits the 2D with the wrong depth without any
    3D (not in the paper; docs/nrsfm.md "Teacher check")."""
    return float((knee_chirality(poses.double()) < 0).double().mean())


def mirror_keypoints(w: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The left-right mirror image of normalised 2D poses (x → −x about the root, left and right
    joints swapped; Human3.6M-17 layout): ``(w̄ [N, 17, 2], mask̄ [N, 17])``. Every mirrored 2D pose
    is the image of the mirrored 3D pose (:func:`mirror_poses`), itself a proper human pose."""
    return H36M17.flip(w), mask[:, H36M17.flip_permutation]


def mirror_poses(poses: torch.Tensor) -> torch.Tensor:
    """The left-right mirror image of camera-frame 3D poses [N, 17, 3] (x → −x, left and right
    joints swapped; depth unchanged). It is its own inverse and maps the reconstruction of a
    mirrored 2D pose back onto the original one."""
    return H36M17.flip(poses)
