"""Fully and weakly supervised training losses of Zanfir et al. §2.3 (Eq. 8–11).

Fully supervised (Eq. 8–10), per sample::

    L_fs = L_V + L_θ + L_β

* ``L_V`` (Eq. 8): mean squared distance between predicted and ground-truth "vertices". The
  body model has no mesh; its vertices are the 17 joints plus the labelled surface points of
  :class:`weakpose.methods.flows.body.parts.PartSurface`, which are functions of the joints, so the ground
  truth vertices are the same functions of the true (mocap) joints. Both sides have the pelvis
  at the origin, in the camera's orientation. Unit: cm² (choice: 1 cm ≈ 2 px at the rig's
  4–6 m with f ≈ 1150 px, so L_V and L_KA (px²) have comparable magnitudes).
* ``L_θ`` (Eq. 9): mean over the posed joints of ‖θ_i − θ̂_i‖² (rad² for angle-axis) plus, as
  one more joint, the root orientation's ½‖R − R̂‖²_F (= 4 sin²(φ/2) ≈ φ² for an error angle φ,
  smooth everywhere, unlike the angle of R̂ᵀR).
* ``L_β`` (Eq. 9): mean over the shape coordinates of (β_i − β̂_i)².

Weakly supervised (Eq. 11), per sample::

    L_ws = L_KA + w_BA · L_BA + w_ψ · ψ_nf(z) + w_β · ‖β‖²

with the fitting module's terms and weights (:mod:`weakpose.methods.flows.fitting`): L_KA in px², L_BA
(Eq. 7, both directions, mean distances in px), ψ_nf(z) = −log N(z; 0, I), and the weights of
its Gaussian keypoint-noise model ``w_ψ = 2σ²/J``, ``w_β = σ²/J`` (``σ`` = ``sigma_kp`` px). The
camera translation is the weak-perspective fit of the decoded skeleton to the 2D keypoints
(§2.3), differentiable through its least-squares solve; the projection is perspective with the
known intrinsics.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from weakpose.camera import project
from weakpose.methods.flows.body.model import BodyModel
from weakpose.methods.flows.fitting.camera_init import weak_perspective_translation
from weakpose.methods.flows.fitting.fit import FitConfig, Fitter
from weakpose.methods.flows.fitting.losses import body_part_alignment, keypoint_alignment
from weakpose.methods.flows.fitting.pose_space import PoseSpace
from weakpose.methods.flows.pose_shape_net import Decoded, PoseShapeOutput

MM_PER_CM = 10.0


@dataclass
class WSWeights:
    """Weights of Eq. 11 (L_KA's weight is 1)."""

    prior: float
    beta: float
    ba: float = 0.0

    @classmethod
    def from_sigma(cls, body: BodyModel, space: PoseSpace, sigma_kp: float, w_ba: float = 0.0) -> WSWeights:
        """The fitter's weights for keypoint noise ``sigma_kp`` px
        (:class:`weakpose.methods.flows.fitting.fit.Fitter`)."""
        f = Fitter(body, space, FitConfig(sigma_kp=sigma_kp, w_ba=w_ba))
        return cls(f.w_prior, f.w_beta, w_ba)


def fully_supervised_loss(body: BodyModel, out: PoseShapeOutput, dec: Decoded, joints_gt: Tensor,
                          theta_gt: Tensor, rot_gt: Tensor, beta_gt: Tensor) -> dict[str, Tensor]:
    """Eq. 8–10 per sample [B]: ``L_V`` (cm²), ``L_theta``, ``L_beta`` and their sum ``L_fs``.

    ``joints_gt`` [B, 17, 3] mm camera frame (any origin), ``theta_gt`` [B, D] in the prior's
    representation, ``rot_gt`` [B, 3, 3] camera-frame root orientation, ``beta_gt`` [B, K]."""
    gt = joints_gt - joints_gt[:, :1]
    V = torch.cat([dec.joints, dec.surface], 1)
    V_gt = torch.cat([gt, body.surface(gt)], 1)
    L_V = (V - V_gt).pow(2).sum(-1).mean(-1) / MM_PER_CM**2
    B, D = theta_gt.shape
    k = D // body.num_pose_joints
    per_joint = (dec.theta - theta_gt).reshape(B, -1, k).pow(2).sum(-1)          # [B, P]
    root = 0.5 * (out.global_rot - rot_gt).pow(2).sum((-1, -2))                   # [B]
    L_theta = (per_joint.sum(-1) + root) / (per_joint.shape[1] + 1)
    L_beta = (out.beta - beta_gt).pow(2).mean(-1) if beta_gt.shape[1] else torch.zeros_like(L_V)
    return {"L_V": L_V, "L_theta": L_theta, "L_beta": L_beta, "L_fs": L_V + L_theta + L_beta}


def camera_translation(dec: Decoded, keypoints_2d: Tensor, K: Tensor, confidence: Tensor | None) -> Tensor:
    """Pelvis position [B, 3] mm from the weak-perspective fit of the decoded joints (§2.3)."""
    return weak_perspective_translation(dec.joints, keypoints_2d, K, confidence)


def weakly_supervised_loss(space: PoseSpace, body: BodyModel, out: PoseShapeOutput, dec: Decoded,
                           keypoints_2d: Tensor, confidence: Tensor, K: Tensor, weights: WSWeights,
                           masks: tuple[Tensor, Tensor] | None = None) -> dict[str, Tensor]:
    """Eq. 11 per sample [B]: ``L_KA`` (px²), ``L_BA`` (px; 0 without masks), ``L_psi``,
    ``L_beta2`` (‖β‖²) and the weighted sum ``L_ws``. ``masks``: (pixels [B, M, 2] full-image px,
    labels [B, M], −1 = padding), see :func:`weakpose.methods.flows.fitting.losses.mask_to_pixels`."""
    t = camera_translation(dec, keypoints_2d, K, confidence)
    proj = project(dec.joints + t[:, None], K)
    L_KA = keypoint_alignment(proj, keypoints_2d, confidence)
    if masks is not None and weights.ba > 0:
        pts, labels = body.alignment_points(dec.joints + t[:, None])
        fwd, bwd = body_part_alignment(project(pts, K), labels, masks[0], masks[1])
        L_BA = fwd + bwd
    else:
        L_BA = torch.zeros_like(L_KA)
    L_psi = space.energy(out.z)
    L_beta2 = out.beta.pow(2).sum(-1)
    L_ws = L_KA + weights.ba * L_BA + weights.prior * L_psi + weights.beta * L_beta2
    return {"L_KA": L_KA, "L_BA": L_BA, "L_psi": L_psi, "L_beta2": L_beta2, "L_ws": L_ws}
