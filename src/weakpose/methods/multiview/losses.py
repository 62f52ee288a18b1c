"""Losses of Iqbal, Molchanov & Kautz, "Weakly-Supervised 3D Human Pose Learning via Multi-view
Images in the Wild", CVPR 2020 (§3.2-3.3).

All poses here are **scale-normalised** (Eq. 1: divided by the distance of the scale joint pair,
pelvis-thorax by default) and in each view's own camera frame, as returned by
:func:`weakpose.geometry.reconstruct_from_2p5d`. Shapes: ``B`` samples, ``C`` views, ``J`` joints.

Reductions: Eq. 8 and Eq. 11 are plain sums, and we keep them as sums **within a training
sample** (all ordered view pairs and joints for L_MC; all limbs, and all views of a multi-view
sample, for L_B; all views and joints for L_z) and average only **over the samples of a batch**.
The paper's weights (psi = 5, alpha = 10, beta = 100) are calibrated for these sums: with
per-term means instead, L_B would weigh about 3x more relative to L_MC, and on CMU-WS that
locks the limbs into plausible-length but wrong-depth poses before L_MC can correct them
(measured: the free optimisation of relative depths against 10 L_MC + 100 L_B ends further from
the truth than the depth-less start with means, and within 0.1 pair lengths with sums).
"""

from __future__ import annotations

import torch

from weakpose.geometry import procrustes
from weakpose.skeleton import H36M17, Skeleton

__all__ = [
    "ordered_view_pairs",
    "pairwise_alignment",
    "known_rotation_alignment",
    "loss_fs",
    "loss_mc",
    "loss_bone",
]


def ordered_view_pairs(num_views: int, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """All ordered pairs (c, c') with c != c' (Eq. 8's double sum): two index tensors [C(C-1)]."""
    if num_views < 2:
        raise ValueError(f"multi-view consistency needs at least 2 views, got {num_views}")
    c, c2 = torch.meshgrid(torch.arange(num_views), torch.arange(num_views), indexing="ij")
    keep = c != c2
    return c[keep].to(device), c2[keep].to(device)


def _check_views(poses: torch.Tensor, phi: torch.Tensor) -> None:
    if poses.dim() != 4 or poses.shape[-1] != 3:
        raise ValueError(f"poses must be [B, C, J, 3], got {tuple(poses.shape)}")
    if phi.shape != poses.shape[:3]:
        raise ValueError(f"confidences must be [B, C, J] = {tuple(poses.shape[:3])}, got {tuple(phi.shape)}")


@torch.no_grad()
def pairwise_alignment(poses: torch.Tensor, phi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rigid transforms R_c^{c'} (Eq. 10) for all ordered view pairs, **without gradients**.

    Weighted Procrustes (rotation + translation, no scale, no reflection) that maps the pose of
    view c' onto the pose of view c with weights phi_{j,c} phi_{j,c'}. As in the paper (following
    Rhodin et al. [34]) the fit is not back-propagated: SVD gradients are unstable.

    Returns ``R`` [B, P, 3, 3] and ``t`` [B, P, 3] with P = C(C-1) in :func:`ordered_view_pairs` order.
    """
    _check_views(poses, phi)
    B, C, J, _ = poses.shape
    c, c2 = ordered_view_pairs(C, poses.device)
    target = poses[:, c].reshape(-1, J, 3)
    source = poses[:, c2].reshape(-1, J, 3)
    w = (phi[:, c] * phi[:, c2]).reshape(-1, J)
    # Pairs without any weight (all joints missing) fall back to uniform weights: harmless,
    # their loss term is zero anyway.
    empty = w.sum(-1, keepdim=True) <= 0
    w = torch.where(empty, torch.ones_like(w), w)
    R, _, t = procrustes(source.detach(), target.detach(), weights=w, scale=False, reflection=False)
    P = c.numel()
    return R.reshape(B, P, 3, 3), t.reshape(B, P, 3)


@torch.no_grad()
def known_rotation_alignment(
    poses: torch.Tensor, phi: torch.Tensor, rotations: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """R_c^{c'} from known camera extrinsics (the paper's "WS + R").

    ``rotations`` [B, C, 3, 3] are the world-to-camera rotations of the views, so a point in
    camera c' maps to camera c by R_c R_{c'}^T. The camera translation is only known in metric
    units while the poses are scale-normalised, so the translation is the weighted-centroid
    offset after the known rotation (the least-squares translation for that rotation). No
    gradients, like the Procrustes fit.
    """
    _check_views(poses, phi)
    if rotations.shape != (*poses.shape[:2], 3, 3):
        raise ValueError(f"rotations must be [B, C, 3, 3], got {tuple(rotations.shape)}")
    C = poses.shape[1]
    c, c2 = ordered_view_pairs(C, poses.device)
    R = rotations[:, c] @ rotations[:, c2].transpose(-1, -2)  # [B, P, 3, 3]
    w = phi[:, c] * phi[:, c2]  # [B, P, J]
    w = w / w.sum(-1, keepdim=True).clamp_min(1e-12)
    mu_t = (w[..., None] * poses[:, c]).sum(-2)
    mu_s = (w[..., None] * poses[:, c2]).sum(-2)
    t = mu_t - (R @ mu_s[..., None])[..., 0]
    return R, t


def loss_mc(
    poses: torch.Tensor,
    phi: torch.Tensor,
    rotations: torch.Tensor | None = None,
) -> torch.Tensor:
    """Multi-view consistency loss L_MC (Eq. 8).

    sum over ordered pairs c != c' and joints j of phi_{j,c} phi_{j,c'} |p_{j,c} - R_c^{c'} p_{j,c'}|_1
    with R_c^{c'} (3x4: rotation and translation) from the weighted Procrustes fit of Eq. 10, or
    from known extrinsics when ``rotations`` [B, C, 3, 3] is given ("WS + R"). The transform is a
    constant for autograd; gradients reach both views' poses (and through them the relative
    depths and, via the root depth of Eq. 3, the 2D coordinates). Summed over pairs and joints,
    averaged over the B samples.

    poses: [B, C, J, 3] scale-normalised camera-frame poses; phi: [B, C, J] confidences in [0, 1].
    """
    _check_views(poses, phi)
    if rotations is None:
        R, t = pairwise_alignment(poses, phi)
    else:
        R, t = known_rotation_alignment(poses, phi, rotations)
    C = poses.shape[1]
    c, c2 = ordered_view_pairs(C, poses.device)
    aligned = torch.einsum("bpik,bpjk->bpji", R, poses[:, c2]) + t[:, :, None, :]
    d = (poses[:, c] - aligned).abs().sum(-1)  # L1 distance, [B, P, J]
    w = phi[:, c] * phi[:, c2]
    return (w * d).sum((1, 2)).mean()


def loss_bone(
    poses: torch.Tensor,
    phi: torch.Tensor,
    mean_lengths: torch.Tensor,
    skeleton: Skeleton = H36M17,
) -> torch.Tensor:
    """Limb-length loss L_B (Eq. 11).

    sum over limbs (j, j') in E of phi_j phi_j' (|p_j - p_j'| - mu_jj')^2 with ``mean_lengths`` [|E|]
    the scale-normalised mean limb lengths of the training subjects in ``skeleton.bones`` order.
    poses: [B, ..., J, 3], phi: [B, ..., J] (e.g. [B, C, J, 3] for the C views of B multi-view
    samples). Summed over limbs and the inner axes, averaged over the B samples.
    """
    if poses.shape[:-1] != phi.shape:
        raise ValueError(f"confidences {tuple(phi.shape)} do not match poses {tuple(poses.shape)}")
    bones = skeleton.bones
    if mean_lengths.shape != (len(bones),):
        raise ValueError(f"mean_lengths must be [{len(bones)}], got {tuple(mean_lengths.shape)}")
    parent = torch.tensor([b[0] for b in bones], device=poses.device)
    child = torch.tensor([b[1] for b in bones], device=poses.device)
    # Differentiable norm that stays finite at zero length.
    vec = poses[..., child, :] - poses[..., parent, :]
    length = (vec.pow(2).sum(-1) + 1e-12).sqrt()
    w = phi[..., child] * phi[..., parent]
    per = w * (length - mean_lengths.to(poses)) ** 2
    return per.reshape(per.shape[0], -1).sum(-1).mean()


def loss_fs(z_rel: torch.Tensor, z_rel_gt: torch.Tensor) -> torch.Tensor:
    """Depth term L_z of the fully supervised loss L_FS (Eq. 6; the caller applies psi and adds
    the 2D term): squared error of the scale-normalised relative depths [B, ..., J], summed
    within a sample and averaged over the B samples (the paper's "mean squared error" up to the
    constant number of joints, see the module docstring)."""
    if z_rel.shape != z_rel_gt.shape:
        raise ValueError(f"z_rel {tuple(z_rel.shape)} and z_rel_gt {tuple(z_rel_gt.shape)} differ")
    err = (z_rel - z_rel_gt) ** 2
    return err.reshape(err.shape[0], -1).sum(-1).mean()
