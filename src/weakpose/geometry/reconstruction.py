"""Absolute 3D pose from the 2.5D representation (Iqbal et al. 2020, §3.1, Eq. 2-3).

Sign convention (used everywhere in weakpose): the relative depth of joint j is
``z_rel_j = z_j - z_root`` in scale-normalised units, **positive further from the camera**,
so that Eq. 2 reads ``z_j = z_root + z_rel_j``. (§3.1 of the paper writes the difference the
other way round; Eq. 2 is what we follow.)
"""

from __future__ import annotations

import torch

from weakpose.camera import normalized_coordinates


def reconstruct_from_2p5d(
    uv: torch.Tensor,
    z_rel: torch.Tensor,
    K: torch.Tensor,
    scale_pair: tuple[int, int] = (0, 8),
    C: float = 1.0,
    root: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale-normalised absolute camera-frame 3D pose from 2D pixels and relative depths.

    With normalised rays ``r_j = K⁻¹ [u_j, v_j, 1]`` the joints are ``p_j = (z_root + z_rel_j) r_j``
    (Eq. 2). Requiring the distance between the joints of ``scale_pair`` (k, l) to equal ``C``
    (Eq. 3) gives a quadratic ``a z_root² + b z_root + c = 0`` with ``A = r_k − r_l``,
    ``B = z_rel_k r_k − z_rel_l r_l``, ``a = A·A``, ``b = 2 A·B``, ``c = B·B − C²``; the root depth
    is its larger root ``(−b + √(b² − 4ac)) / 2a``.

    Degenerate cases: the discriminant is clamped at 0 (the pair is then as long as it can be
    for the given 2D pose) and ``a`` at 1e-9 (the two joints project to the same pixel).

    Args:
        uv: ``[B, J, 2]`` pixels. z_rel: ``[B, J]``. K: ``[B, 3, 3]`` or ``[3, 3]``.
    Returns:
        points ``[B, J, 3]`` (scale-normalised: the scale pair has length ``C``), ``z_root`` [B].
    """
    K = torch.broadcast_to(K.to(uv.dtype), (*uv.shape[:-2], 3, 3))
    xy = normalized_coordinates(uv, K)
    rays = torch.cat([xy, torch.ones_like(xy[..., :1])], -1)          # [B, J, 3]
    k, l = scale_pair
    zr = z_rel - z_rel[..., root:root + 1]                             # root's relative depth is 0
    A = rays[..., k, :] - rays[..., l, :]
    Bv = zr[..., k, None] * rays[..., k, :] - zr[..., l, None] * rays[..., l, :]
    a = (A * A).sum(-1).clamp_min(1e-9)
    b = 2 * (A * Bv).sum(-1)
    c = (Bv * Bv).sum(-1) - C * C
    disc = (b * b - 4 * a * c).clamp_min(0.0)
    z_root = (-b + torch.sqrt(disc + 1e-12)) / (2 * a)
    points = (z_root[..., None] + zr)[..., None] * rays
    return points, z_root
