"""Selecting and summarising pose hypotheses (Li & Lee, BMVC 2020, §3.4 and §4.2).

- :func:`mean_shift_mode`: the conditional mode of N hypotheses per input by mean-shift with a
  Gaussian kernel on the kernel density estimate of paper Eq. 11, batched and vectorised.
- :func:`farthest_point_sampling`: Eldar et al.'s farthest point strategy (paper §4.2, STD-FPS).
- :func:`hypothesis_std`: the diversity measure of paper Table 4 (STD of the joint coordinates
  over hypotheses, w.r.t. the root).

The zero-code shortcut of §3.4 (G(x, 0)) lives in the predictor, since it needs the network.

Bandwidth (Eq. 11 leaves w open). The default is chosen per input from its own samples: w is
the mean over the samples of the distance to their k-th nearest neighbour, k = ⌈q·N⌉ with
q = ``bandwidth_quantile`` = 0.2 (the adaptive rule of scikit-learn's ``estimate_bandwidth``,
which uses q = 0.3 for a flat kernel). Unlike Scott's or Silverman's rules, which use the global
spread of the samples and therefore merge well separated modes, this keeps w at the scale of a
mode's own spread. A fixed bandwidth (in the units of ``samples``) can be given instead.
"""

from __future__ import annotations

import math

import torch


def _flatten(samples: torch.Tensor) -> torch.Tensor:
    if samples.dim() < 3:
        raise ValueError(f"expected samples [B, N, ...], got {tuple(samples.shape)}")
    return samples.reshape(samples.shape[0], samples.shape[1], -1)


def knn_bandwidth(samples: torch.Tensor, quantile: float = 0.2) -> torch.Tensor:
    """Per-input bandwidth [B]: mean distance of each sample to its k-th nearest neighbour,
    k = max(1, ceil(quantile · N)) (the sample itself excluded)."""
    x = _flatten(samples)
    n = x.shape[1]
    if n < 2:
        raise ValueError("knn_bandwidth needs at least 2 samples per input")
    if not 0.0 < quantile <= 1.0:
        raise ValueError("bandwidth quantile must be in (0, 1]")
    k = min(n - 1, max(1, math.ceil(quantile * n)))
    d2 = torch.cdist(x, x).pow(2)
    kth = torch.kthvalue(d2, k + 1, dim=-1).values  # +1: the zero self-distance is the first
    w = kth.clamp_min(0).sqrt().mean(-1)
    return w.clamp_min(torch.finfo(x.dtype).eps)


def _log_density(points: torch.Tensor, data: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """log of Eq. 11 up to a constant: log Σ_i exp(−|p − h_i|² / (2 w²)). [B,S,D],[B,N,D] -> [B,S]."""
    d2 = torch.cdist(points, data).pow(2)
    return torch.logsumexp(-d2 / (2.0 * w[:, None, None] ** 2), dim=-1)


def mean_shift_mode(
    samples: torch.Tensor,
    bandwidth: float | torch.Tensor | None = None,
    bandwidth_quantile: float = 0.2,
    num_seeds: int = 10,
    max_iter: int = 30,
    tol: float = 1e-3,
) -> torch.Tensor:
    """Conditional mode of each input's hypotheses by Gaussian mean-shift (paper §3.4, Eq. 11).

    For every input b the KDE f̂(h) ∝ Σ_i exp(−|h − h_i|² / (2w²)) of its N samples is climbed
    by the mean-shift iteration h ← Σ_i K_i h_i / Σ_i K_i (Comaniciu & Meer 2002) from the
    ``num_seeds`` samples of highest density; the converged seed of highest density is the mode.
    All inputs and seeds are iterated together (batched matrix products); iteration stops when
    every seed moved less than ``tol · w``.

    Args:
        samples: [B, N, ...] hypotheses (e.g. [B, N, J, 3]).
        bandwidth: None (the per-input k-NN rule of :func:`knn_bandwidth`), a float, or [B].
    Returns:
        modes [B, ...] with the shape of one sample.
    """
    x = _flatten(samples)
    b, n, _ = x.shape
    if bandwidth is None:
        w = knn_bandwidth(x, bandwidth_quantile)
    else:
        w = torch.as_tensor(bandwidth, dtype=x.dtype, device=x.device).expand(b).clone()
        if (w <= 0).any():
            raise ValueError("mean-shift bandwidth must be positive")
    s = min(num_seeds, n)
    dens = _log_density(x, x, w)
    seed_idx = dens.topk(s, dim=1).indices
    p = torch.gather(x, 1, seed_idx[..., None].expand(-1, -1, x.shape[-1]))
    inv = 1.0 / (2.0 * w[:, None, None] ** 2)
    for _ in range(max_iter):
        logits = -torch.cdist(p, x).pow(2) * inv
        weights = torch.softmax(logits, dim=-1)  # [B, S, N]
        new = weights @ x
        shift = (new - p).norm(dim=-1).amax(dim=-1)
        p = new
        if bool((shift < tol * w).all()):
            break
    best = _log_density(p, x, w).argmax(dim=1)
    mode = p[torch.arange(b, device=x.device), best]
    return mode.reshape(samples.shape[:1] + samples.shape[2:])


def farthest_point_sampling(samples: torch.Tensor, k: int, start: int = 0) -> torch.Tensor:
    """Indices [B, k] of k samples chosen by the farthest point strategy (Eldar et al. 1997).

    Starts at sample ``start``, then repeatedly adds the sample farthest (Euclidean) from the
    set chosen so far. Batched over B.
    """
    x = _flatten(samples)
    b, n, _ = x.shape
    if not 1 <= k <= n:
        raise ValueError(f"farthest_point_sampling: k={k} must be in [1, {n}]")
    idx = torch.empty(b, k, dtype=torch.long, device=x.device)
    idx[:, 0] = start
    rows = torch.arange(b, device=x.device)
    min_d = (x - x[rows, start][:, None]).norm(dim=-1)
    for j in range(1, k):
        nxt = min_d.argmax(dim=1)
        idx[:, j] = nxt
        min_d = torch.minimum(min_d, (x - x[rows, nxt][:, None]).norm(dim=-1))
    return idx


def hypothesis_std(hypotheses: torch.Tensor, root: int = 0) -> torch.Tensor:
    """Diversity of paper Table 4: standard deviation over the H hypotheses of every joint
    coordinate relative to the root, averaged over joints and coordinates. [B, H, J, 3] -> [B]."""
    if hypotheses.dim() != 4 or hypotheses.shape[1] < 2:
        raise ValueError("hypothesis_std expects [B, H>=2, J, 3]")
    rel = hypotheses - hypotheses[:, :, root : root + 1]
    keep = [j for j in range(hypotheses.shape[2]) if j != root]
    return rel[:, :, keep].std(dim=1, unbiased=True).mean(dim=(1, 2))
