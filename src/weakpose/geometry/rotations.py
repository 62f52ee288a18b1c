"""Rotation conversions (batched torch): axis-angle, rotation matrix, 6D (Zhou et al. 2019), Euler
(Euler also in numpy float64, for the BVH reader).

The 6D representation is the first two **columns** of the rotation matrix, re-orthonormalised
by Gram-Schmidt on the way back.
"""

from __future__ import annotations

import numpy as np
import torch


def _skew(v: torch.Tensor) -> torch.Tensor:
    zero = torch.zeros_like(v[..., 0])
    x, y, z = v.unbind(-1)
    return torch.stack([
        torch.stack([zero, -z, y], -1),
        torch.stack([z, zero, -x], -1),
        torch.stack([-y, x, zero], -1),
    ], -2)


def axis_angle_to_matrix(aa: torch.Tensor) -> torch.Tensor:
    """``[..., 3]`` axis-angle (radians × unit axis) -> ``[..., 3, 3]`` by Rodrigues' formula.

    Uses the Taylor expansions of sin(θ)/θ and (1 − cos θ)/θ² near θ = 0, so gradients are
    finite at the identity.
    """
    theta2 = (aa * aa).sum(-1, keepdim=True)[..., None]
    small = theta2 < 1e-8
    theta2_safe = torch.where(small, torch.ones_like(theta2), theta2)
    theta = theta2_safe.sqrt()
    a = torch.where(small, 1 - theta2 / 6, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24, (1 - torch.cos(theta)) / theta2_safe)
    K = _skew(aa)
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device).expand(K.shape)
    return eye + a * K + b * (K @ K)


def matrix_to_axis_angle(R: torch.Tensor) -> torch.Tensor:
    """``[..., 3, 3]`` -> ``[..., 3]`` axis-angle with angle in [0, π] (via quaternions)."""
    q = matrix_to_quaternion(R)
    w, xyz = q[..., :1], q[..., 1:]
    norm = xyz.norm(dim=-1, keepdim=True)
    angle = 2 * torch.atan2(norm, w)
    scale = torch.where(norm < 1e-8, 2 / w.clamp_min(1e-8), angle / norm.clamp_min(1e-12))
    return xyz * scale


def matrix_to_quaternion(R: torch.Tensor) -> torch.Tensor:
    """``[..., 3, 3]`` -> unit quaternion ``[..., 4]`` (w, x, y, z) with w ≥ 0."""
    m = R
    t = torch.stack([
        1 + m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2],
        1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
        1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2],
        1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2],
    ], -1)
    # four candidate quaternions, pick the best-conditioned (largest diagonal term)
    cands = torch.stack(
        [
            torch.stack(
                [t[..., 0], m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1
            ),
            torch.stack(
                [m[..., 2, 1] - m[..., 1, 2], t[..., 1], m[..., 1, 0] + m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0]], -1
            ),
            torch.stack(
                [m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] + m[..., 0, 1], t[..., 2], m[..., 2, 1] + m[..., 1, 2]], -1
            ),
            torch.stack(
                [m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 2, 1] + m[..., 1, 2], t[..., 3]], -1
            ),
        ],
        -2,
    )
    best = t.argmax(-1)
    q = torch.gather(cands, -2, best[..., None, None].expand(*best.shape, 1, 4))[..., 0, :]
    q = q / q.norm(dim=-1, keepdim=True)
    return torch.where(q[..., :1] < 0, -q, q)


def rot6d_to_matrix(r6: torch.Tensor) -> torch.Tensor:
    """``[..., 6]`` (two columns, stacked) -> ``[..., 3, 3]`` by Gram-Schmidt."""
    a1, a2 = r6[..., :3], r6[..., 3:]
    b1 = torch.nn.functional.normalize(a1, dim=-1)
    b2 = torch.nn.functional.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], -1)


def matrix_to_rot6d(R: torch.Tensor) -> torch.Tensor:
    """``[..., 3, 3]`` -> ``[..., 6]``: the first two columns."""
    return torch.cat([R[..., :, 0], R[..., :, 1]], -1)


def _axis_rotation(axis: str, angle):
    xp = torch if isinstance(angle, torch.Tensor) else np
    c, s = xp.cos(angle), xp.sin(angle)
    one, zero = xp.ones_like(angle), xp.zeros_like(angle)
    if axis == "X":
        rows = [[one, zero, zero], [zero, c, -s], [zero, s, c]]
    elif axis == "Y":
        rows = [[c, zero, s], [zero, one, zero], [-s, zero, c]]
    elif axis == "Z":
        rows = [[c, -s, zero], [s, c, zero], [zero, zero, one]]
    else:
        raise ValueError(f"unknown axis {axis!r}")
    return xp.stack([xp.stack(r, -1) for r in rows], -2)


def euler_to_matrix(angles, order: str = "ZYX", degrees: bool = True):
    """Intrinsic Euler angles ``[..., len(order)]`` in the listed order -> ``[..., 3, 3]``.

    ``order="ZYX"`` gives ``Rz(a0) @ Ry(a1) @ Rx(a2)``, the BVH convention for channels listed
    as Zrotation Yrotation Xrotation; any number of axes works (a BVH joint may rotate about one
    or two). Torch tensors stay torch; anything else is computed in numpy float64.
    """
    if not isinstance(angles, torch.Tensor):
        angles = np.asarray(angles, dtype=np.float64)
    if degrees:
        angles = torch.deg2rad(angles) if isinstance(angles, torch.Tensor) else np.deg2rad(angles)
    if not order:
        raise ValueError("euler_to_matrix: empty axis order")
    R = _axis_rotation(order[0], angles[..., 0])
    for i in range(1, len(order)):
        R = R @ _axis_rotation(order[i], angles[..., i])
    return R


def matrix_to_euler(R: torch.Tensor, order: str = "ZYX", degrees: bool = True) -> torch.Tensor:
    """Inverse of :func:`euler_to_matrix` for ``order="ZYX"``: ``[..., 3, 3]`` -> ``[..., 3]``
    angles ``(a0, a1, a2)`` with ``R = Rz(a0) @ Ry(a1) @ Rx(a2)`` and ``a1 ∈ [−90°, 90°]``.

    At gimbal lock (``|a1| = 90°``) only ``a0 ∓ a2`` is determined; ``a2 = 0`` is returned.
    """
    if order != "ZYX":
        raise ValueError(f"matrix_to_euler supports order 'ZYX' (the BVH Zrotation Yrotation Xrotation), got {order!r}")
    sy = (-R[..., 2, 0]).clamp(-1.0, 1.0)
    cy = torch.sqrt(R[..., 0, 0] ** 2 + R[..., 1, 0] ** 2)
    lock = cy < 1e-9
    a0 = torch.where(lock, torch.atan2(-R[..., 0, 1], R[..., 1, 1]), torch.atan2(R[..., 1, 0], R[..., 0, 0]))
    a1 = torch.atan2(sy, cy)
    a2 = torch.where(lock, torch.zeros_like(a0), torch.atan2(R[..., 2, 1], R[..., 2, 2]))
    out = torch.stack([a0, a1, a2], -1)
    return torch.rad2deg(out) if degrees else out


def rotation_between(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The smallest rotation ``[..., 3, 3]`` that turns direction ``u`` into direction ``v``
    (``[..., 3]``, any lengths > 0); a half turn about an axis perpendicular to ``u`` when they
    are opposite."""
    u = torch.nn.functional.normalize(u, dim=-1)
    v = torch.nn.functional.normalize(v, dim=-1)
    axis = torch.cross(u, v, dim=-1)
    sin = axis.norm(dim=-1, keepdim=True)
    cos = (u * v).sum(-1, keepdim=True)
    angle = torch.atan2(sin, cos)
    # a perpendicular axis for the (anti)parallel case: u × e, with e the least aligned basis vector
    e = torch.nn.functional.one_hot(u.abs().argmin(-1), 3).to(u.dtype)
    fallback = torch.nn.functional.normalize(torch.cross(u, e, dim=-1), dim=-1)
    unit = torch.where(sin > 1e-9, axis / sin.clamp_min(1e-12), fallback)
    return axis_angle_to_matrix(unit * angle)
