"""Losses of Li & Lee, BMVC 2020 (weakly supervised generative multi-hypothesis lifter).

Equation numbers refer to the paper (``papers/li2020_*``). Choices the paper leaves open are
taken from the authors' public TensorFlow code where it has them and are stated per function.

All functions are differentiable torch functions on batched tensors.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from weakpose.camera import weak_perspective_project
from weakpose.methods.hypotheses.data import L_HIP, L_SHOULDER, R_HIP, R_SHOULDER, align_to_template

DEFAULT_ALPHAS: tuple[float, ...] = (0.1, 1.0, 10.0)


# --------------------------------------------------------------------------- KCS

def kcs_matrix(pose: torch.Tensor, bones: Sequence[tuple[int, int]] | None = None) -> torch.Tensor:
    """Kinematic chain space matrix Ψ = Bᵀ B of Wandt & Rosenhahn (critic input, paper §3.1).

    ``B`` holds one bone vector (child − parent) per column; Ψ[k, l] = <b_k, b_l>, so the
    diagonal holds the squared bone lengths and the off-diagonal terms encode angles.

    Args:
        pose: [..., J, 3].
        bones: (parent, child) pairs; default the Human3.6M-17 bones (16 of them).
    Returns:
        [..., K, K] with K the number of bones.
    """
    if bones is None:
        from weakpose.skeleton import H36M17

        bones = H36M17.bones
    if pose.shape[-1] != 3:
        raise ValueError(f"kcs_matrix: expected [..., J, 3], got {tuple(pose.shape)}")
    parents = torch.tensor([p for p, _ in bones], device=pose.device)
    children = torch.tensor([c for _, c in bones], device=pose.device)
    b = pose[..., children, :] - pose[..., parents, :]
    return b @ b.transpose(-1, -2)


#: Joint-difference vectors (to, from) of H36M17 for :func:`chirality_features`.
_HIPS, _SPINE, _SHOULDERS = (L_HIP, R_HIP), (8, 0), (L_SHOULDER, R_SHOULDER)
_R_THIGH, _R_SHIN, _L_THIGH, _L_SHIN = (2, 1), (3, 2), (5, 4), (6, 5)
_L_UPPER, _L_FORE, _R_UPPER, _R_FORE = (12, 11), (13, 12), (15, 14), (16, 15)
#: Triples (u, v, w) whose signed volume det[u, v, w] a depth mirror flips (not in the paper):
#: the forward component of every limb, neck and head bone in the torso frame (hip or shoulder
#: axis × spine), the twist of the shoulders against the hips, and the bending side of the
#: knees and elbows.
CHIRALITY_TRIPLES: tuple[tuple[tuple[int, int], ...], ...] = (
    *((_HIPS, _SPINE, b) for b in (_R_THIGH, _R_SHIN, _L_THIGH, _L_SHIN)),
    *((_SHOULDERS, _SPINE, b) for b in (_L_UPPER, _L_FORE, _R_UPPER, _R_FORE, (9, 8), (10, 9))),
    (_HIPS, _SPINE, _SHOULDERS),
    (_R_THIGH, _R_SHIN, _HIPS), (_L_THIGH, _L_SHIN, _HIPS),
    (_L_UPPER, _L_FORE, _SHOULDERS), (_R_UPPER, _R_FORE, _SHOULDERS),
)


def chirality_features(
    pose: torch.Tensor, triples: Sequence[tuple[tuple[int, int], ...]] = CHIRALITY_TRIPLES, eps: float = 1e-6
) -> torch.Tensor:
    """Signed volumes of unit joint-difference vectors, det[û, v̂, ŵ] = (û × v̂) · ŵ ∈ [−1, 1], for
    each triple of (to, from) joint pairs: invariant to rotation, translation and scale, negated by
    any reflection. The KCS matrix Ψ = BᵀB is invariant to reflections, so a critic that sees
    only Ψ cannot tell a pose from its depth mirror image; these features can (the optional
    ``critic_chirality`` input, not in the paper; issue 16).

    Args:
        pose: [..., J, 3]. Returns [..., len(triples)].
    """
    if pose.shape[-1] != 3:
        raise ValueError(f"chirality_features: expected [..., J, 3], got {tuple(pose.shape)}")
    idx = torch.tensor(triples, device=pose.device)  # [T, 3, 2]
    vec = pose[..., idx[..., 0], :] - pose[..., idx[..., 1], :]  # [..., T, 3, 3]
    u, v, w = vec.unbind(-2)
    norms = vec.norm(dim=-1).prod(-1)
    return (torch.cross(u, v, dim=-1) * w).sum(-1) / (norms + eps)


# --------------------------------------------------------------------------- MMD (Eq. 8–9)

def rq_dot_kernel(
    a: torch.Tensor,
    b: torch.Tensor,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    dot_weight: float = 1.0,
) -> torch.Tensor:
    """Mixed rational-quadratic + dot kernel k^{rq*} (paper Eq. 9), summed over ``alphas``.

    k(a, b) = Σ_α (1 + |a − b|² / (2α))^{−α} + dot_weight · <a, b>.

    The paper writes k^{rq} + k^{dot} (dot_weight = 1); the authors' code sums the RQ kernel
    over α ∈ {0.1, 1, 10} and uses dot_weight = 10 (a config key in weakpose).

    Args:
        a: [m, d], b: [n, d]. Returns [m, n].
    """
    dot = a @ b.transpose(-1, -2)
    sq = (a * a).sum(-1)[:, None] + (b * b).sum(-1)[None, :] - 2.0 * dot
    sq = sq.clamp_min(0.0)
    k = torch.zeros_like(dot)
    for alpha in alphas:
        k = k + torch.exp(-alpha * torch.log1p(sq / (2.0 * alpha)))
    if dot_weight:
        k = k + dot_weight * dot
    return k


def mmd2_unbiased(k_xx: torch.Tensor, k_yy: torch.Tensor, k_xy: torch.Tensor) -> torch.Tensor:
    """Unbiased estimator of the squared MMD (paper Eq. 8) from the three kernel matrices.

    MMD²_u = Σ_{i≠j} k(y_i, y_j) / (m(m−1)) + Σ_{i≠j} k(ỹ_i, ỹ_j) / (n(n−1)) − 2 Σ_{i,j} k(y_i, ỹ_j) / (mn)

    with ``k_xx`` [m, m] on the real samples, ``k_yy`` [n, n] on the generated ones and
    ``k_xy`` [m, n] between them.
    """
    m, n = k_xx.shape[0], k_yy.shape[0]
    if m < 2 or n < 2:
        raise ValueError("mmd2_unbiased needs at least 2 samples of each distribution")
    if k_xy.shape != (m, n):
        raise ValueError(f"k_xy must be [{m}, {n}], got {tuple(k_xy.shape)}")
    xx = (k_xx.sum() - torch.diagonal(k_xx).sum()) / (m * (m - 1))
    yy = (k_yy.sum() - torch.diagonal(k_yy).sum()) / (n * (n - 1))
    xy = k_xy.sum() / (m * n)
    return xx + yy - 2.0 * xy


def mmd2_loss(
    real_features: torch.Tensor,
    fake_features: torch.Tensor,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    dot_weight: float = 1.0,
) -> torch.Tensor:
    """L_adv = MMD²_u between critic features of real and generated poses (Eq. 8–9)."""
    k_xx = rq_dot_kernel(real_features, real_features, alphas, dot_weight)
    k_yy = rq_dot_kernel(fake_features, fake_features, alphas, dot_weight)
    k_xy = rq_dot_kernel(real_features, fake_features, alphas, dot_weight)
    return mmd2_unbiased(k_xx, k_yy, k_xy)


def witness_gradient_penalty(
    critic_features,
    real_pose: torch.Tensor,
    fake_pose: torch.Tensor,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    dot_weight: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Gradient penalty L_gp on the MMD witness function (paper §3.3; Bińkowski et al. 2018).

    For random interpolates ŷ = u·y_real + (1 − u)·y_fake (u ~ U(0, 1) per sample) the witness
    f(ŷ) = mean_j k(D(ŷ), D(y_real_j)) − mean_j k(D(ŷ), D(y_fake_j)) is evaluated and
    L_gp = mean((|∇_ŷ f(ŷ)|₂ − 1)²). The gradient flows through the KCS branch, since the
    KCS matrix is recomputed from ŷ (as in the authors' code).

    Args:
        critic_features: callable pose [B, J, 3] -> critic features [B, d].
        real_pose, fake_pose: [B, J, 3] (same B).
    """
    if real_pose.shape != fake_pose.shape:
        raise ValueError("witness_gradient_penalty: real and fake batches must have the same shape")
    u = torch.rand(real_pose.shape[0], 1, 1, dtype=real_pose.dtype, generator=generator).to(real_pose.device)
    mix = (u * real_pose + (1.0 - u) * fake_pose.detach()).requires_grad_(True)
    f_mix = critic_features(mix)
    f_real = critic_features(real_pose)
    f_fake = critic_features(fake_pose.detach())
    witness = (rq_dot_kernel(f_mix, f_real, alphas, dot_weight).mean(1)
               - rq_dot_kernel(f_mix, f_fake, alphas, dot_weight).mean(1))
    (grad,) = torch.autograd.grad(witness.sum(), mix, create_graph=True)
    norm = torch.sqrt(grad.reshape(grad.shape[0], -1).pow(2).sum(-1) + 1e-5)
    return ((norm - 1.0) ** 2).mean()


# --------------------------------------------------------------------------- camera and 2D

def camera_loss(M: torch.Tensor) -> torch.Tensor:
    """Weak-perspective camera loss (paper §3.3, after Wandt & Rosenhahn):

    L_cam = mean_b Σ_{ij} |(2 / tr(M Mᵀ)) M Mᵀ − I₂|_{ij},

    zero exactly when M is a scaled orthonormal 2×3 matrix (rows orthogonal, equal norms).
    """
    if M.shape[-2:] != (2, 3):
        raise ValueError(f"camera_loss: expected [..., 2, 3], got {tuple(M.shape)}")
    mm = M @ M.transpose(-1, -2)
    tr = torch.diagonal(mm, dim1=-2, dim2=-1).sum(-1)
    eye = torch.eye(2, dtype=M.dtype, device=M.device)
    dev = (2.0 / tr.clamp_min(1e-8))[..., None, None] * mm - eye
    return dev.abs().sum((-1, -2)).mean()


def camera_elevation_loss(M: torch.Tensor, pose: torch.Tensor, margin: float = 0.1) -> torch.Tensor:
    """Camera-elevation prior (not in the paper; issue 16's depth mirrors):
    mean_b max(0, margin − d_b), with d = −v̂ · û the downward component of the camera's viewing
    direction v = m₁ × m₂ (rows of the weak-perspective M) along the pose's own torso axis
    û (hip centre → shoulder centre).

    A pose and camera (y, M) and their depth mirror (y·F, M·F), F = diag(1, 1, −1), project
    identically (paper Eq. 4), but the mirror views the body from the other side *and* from
    the other height: d changes sign. Cameras that look slightly down on people (d ≈ 0.1, about
    6°, for the Human3.6M rig; elevation −5° to 35° for CMU-WS's wild cameras) make the sign of
    d a cue the critic, which sees poses only, cannot give. ``margin`` = sin(elevation) below
    which the hinge acts.
    """
    if M.shape[-2:] != (2, 3) or pose.shape[-2:] != (17, 3):
        raise ValueError("camera_elevation_loss: expected M [B, 2, 3] and H36M17 poses [B, 17, 3]")
    view = torch.linalg.cross(M[:, 0], M[:, 1], dim=-1)
    view = view / view.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    up = pose[:, [L_SHOULDER, R_SHOULDER]].mean(1) - pose[:, [L_HIP, R_HIP]].mean(1)
    up = up / up.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    down = -(view * up).sum(-1)
    return torch.relu(margin - down).mean()


def reprojection_loss(
    M: torch.Tensor, y: torch.Tensor, x2d: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """L_2D = |M y − x| (paper Eq. 4: the Laplace likelihood's negative log, up to b), with
    π(y) = M y the weak-perspective projection (:func:`weakpose.camera.weak_perspective_project`).

    Per-joint weights [B, J] multiply the absolute error of both coordinates; a missing joint
    has weight 0 (paper §4.1). The sum is divided by 2J (as the authors' code divides by the
    number of coordinates, whatever the weights) and averaged over the batch.
    """
    return reprojection_errors(M, y, x2d, weights).mean()


def reprojection_errors(
    M: torch.Tensor, y: torch.Tensor, x2d: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """Per-sample L_2D [B]: :func:`reprojection_loss` before the batch mean."""
    if weights.shape != x2d.shape[:-1]:
        raise ValueError(f"reprojection_loss: weights {tuple(weights.shape)} must be {tuple(x2d.shape[:-1])}")
    err = (weak_perspective_project(M, y) - x2d).abs() * weights[..., None]
    return err.sum((-1, -2)) / (2 * x2d.shape[-2])


# --------------------------------------------------------------------------- diversity (Eq. 6–7)

def diversity_loss(
    y1: torch.Tensor, y2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor, tau: float = 1.0
) -> torch.Tensor:
    """L_reg = E[min(|G(x,z₁) − G(x,z₂)| / |z₁ − z₂|, τ)] (paper Eq. 6), to be *maximised*.

    |·| is the mean absolute difference over coordinates (the authors' code), so the ratio does
    not depend on J or the latent dimension; τ = 1 as in the code (poses in template units ≈ m).
    The pairs (y1[i], y2[i]) must come from the same 2D input with codes z1[i], z2[i].
    """
    num = (y1 - y2).abs().reshape(y1.shape[0], -1).mean(-1)
    den = (z1 - z2).abs().reshape(z1.shape[0], -1).mean(-1).clamp_min(1e-8)
    return torch.clamp(num / den, max=tau).mean()


def latent_reconstruction_loss(z: torch.Tensor, z_hat: torch.Tensor) -> torch.Tensor:
    """L_rec = E|z − E(G(x, z))| (paper Eq. 7), mean absolute error over the latent dimensions."""
    if z.shape != z_hat.shape:
        raise ValueError(f"latent_reconstruction_loss: shapes {tuple(z.shape)} and {tuple(z_hat.shape)} differ")
    return (z - z_hat).abs().mean()


def mirrored_real(real_pose: torch.Tensor, template: torch.Tensor) -> torch.Tensor:
    """Mirror images of real poses [B, J, 3] re-aligned to the torso template (not in the paper).

    Any two reflections differ by a rotation, so negating the last coordinate and re-aligning by
    a rotation (:func:`align_to_template`) gives *the* mirror image in the template frame, the
    same pose a depth mirror in any camera frame gives. Negatives of the reflection-aware critic
    (``lambda_mirror``)."""
    flipped = real_pose * real_pose.new_tensor([1.0, 1.0, -1.0])
    return align_to_template(flipped, template, transform_grad=False)
