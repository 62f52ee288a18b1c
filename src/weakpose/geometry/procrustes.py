"""Weighted orthogonal Procrustes (Umeyama), batched, in torch.

Used by PA-MPJPE, by Iqbal et al.'s multi-view loss (Eq. 10) and by template alignment.
"""

from __future__ import annotations

import torch


def procrustes(
    source: torch.Tensor,
    target: torch.Tensor,
    weights: torch.Tensor | None = None,
    scale: bool = True,
    reflection: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Similarity (or rigid) transform that best maps ``source`` onto ``target``.

    Minimises ``sum_j w_j |s R source_j + t - target_j|²`` over rotations ``R`` (``det R = +1``
    unless ``reflection``), scale ``s`` (fixed to 1 unless ``scale``) and translation ``t``.

    Args:
        source, target: ``[B, J, D]`` point sets (D = 2 or 3).
        weights: ``[B, J]`` or ``[J]`` non-negative weights (default all 1).
    Returns:
        ``R`` [B, D, D], ``s`` [B], ``t`` [B, D]; the aligned source is ``s * source @ Rᵀ + t``.
    Gradients flow through the SVD; wrap the call in ``torch.no_grad()`` where the paper says
    not to back-propagate through the alignment (Iqbal et al. §3.3).
    """
    if source.shape != target.shape:
        raise ValueError(f"source {tuple(source.shape)} and target {tuple(target.shape)} differ")
    if weights is None:
        w = torch.ones(source.shape[:-1], dtype=source.dtype, device=source.device)
    else:
        w = torch.broadcast_to(weights.to(source.dtype), source.shape[:-1])
    wsum = w.sum(-1, keepdim=True).clamp_min(1e-12)
    wn = (w / wsum)[..., None]                                   # [B, J, 1]
    mu_s = (wn * source).sum(-2, keepdim=True)
    mu_t = (wn * target).sum(-2, keepdim=True)
    xs, xt = source - mu_s, target - mu_t
    cov = (wn * xt).transpose(-1, -2) @ xs                       # [B, D, D] = Σ w yᵢ xᵢᵀ
    U, S, Vh = torch.linalg.svd(cov)
    d = torch.ones_like(S)
    if not reflection:
        d[..., -1] = torch.sign(torch.linalg.det(U @ Vh))
        d[..., -1] = torch.where(d[..., -1] == 0, torch.ones_like(d[..., -1]), d[..., -1])
    R = U @ (d[..., :, None] * Vh)
    if scale:
        var = (wn * xs * xs).sum((-1, -2)).clamp_min(1e-12)
        s = (S * d).sum(-1) / var
    else:
        s = torch.ones(source.shape[:-2], dtype=source.dtype, device=source.device)
    t = mu_t[..., 0, :] - s[..., None] * (R @ mu_s[..., 0, :, None])[..., 0]
    return R, s, t


def procrustes_align(
    source: torch.Tensor,
    target: torch.Tensor,
    weights: torch.Tensor | None = None,
    scale: bool = True,
    reflection: bool = False,
) -> torch.Tensor:
    """``source`` moved by :func:`procrustes` onto ``target``."""
    R, s, t = procrustes(source, target, weights, scale, reflection)
    return s[..., None, None] * source @ R.transpose(-1, -2) + t[..., None, :]
