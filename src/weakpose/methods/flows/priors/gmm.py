"""Gaussian-mixture pose prior (Bogo et al., ECCV 2016, "Keep it SMPL"), the baseline
ψ_gmm(θ) of Zanfir et al. Table 1.

Eight full-covariance modes fitted by EM. For fitting, Bogo et al. replace the mixture's
log-sum-exp with the **closest mode** (the mode of highest weighted density), which is what
:meth:`GMMPrior.energy` returns; :meth:`GMMPrior.log_prob` is the exact mixture density used
for held-out log-likelihoods. EM details the papers leave open: k-means++ seeding, a ridge of
``reg`` added to every covariance, a fixed number of iterations, float64 throughout.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

LOG_2PI = math.log(2.0 * math.pi)


class GMMPrior(nn.Module):
    """Mixture of ``K`` Gaussians over ``D``-dimensional pose vectors."""

    def __init__(self, dim: int, modes: int = 8) -> None:
        super().__init__()
        if modes < 1 or dim < 1:
            raise ValueError("modes and dim must be positive")
        self.dim, self.modes = dim, modes
        self.register_buffer("log_weights", torch.full((modes,), -math.log(modes)))
        self.register_buffer("means", torch.zeros(modes, dim))
        eye = torch.eye(dim).expand(modes, dim, dim).clone()
        self.register_buffer("precision_chol", eye)  # L with Σ⁻¹ = L Lᵀ
        self.register_buffer("log_det_cov", torch.zeros(modes))

    # ----------------------------------------------------------------- fitting
    @torch.no_grad()
    def fit(self, data: Tensor, iterations: int = 100, reg: float = 1e-4, seed: int = 0) -> list[float]:
        """EM on ``data`` [N, D]; returns the mean log-likelihood after each iteration."""
        x = data.detach().to(torch.float64)
        n, d = x.shape
        if d != self.dim:
            raise ValueError(f"expected [N, {self.dim}] data, got {tuple(x.shape)}")
        if n < self.modes:
            raise ValueError(f"need at least {self.modes} samples to fit {self.modes} modes")
        gen = torch.Generator().manual_seed(seed)
        means = _kmeans_pp(x, self.modes, gen)
        resp = torch.softmax(-torch.cdist(x, means) ** 2, dim=1)
        history: list[float] = []
        eye = torch.eye(d, dtype=torch.float64)
        for _ in range(iterations):
            # M step
            nk = resp.sum(0) + 1e-10
            weights = nk / n
            means = (resp.T @ x) / nk[:, None]
            covs = []
            for k in range(self.modes):
                xc = x - means[k]
                covs.append((resp[:, k, None] * xc).T @ xc / nk[k] + reg * eye)
            cov = torch.stack(covs)
            self._set(weights, means, cov)
            # E step
            logp = self._component_log_prob(x)  # [N, K]
            total = torch.logsumexp(logp, dim=1)
            resp = torch.exp(logp - total[:, None])
            history.append(float(total.mean()))
        return history

    def _set(self, weights: Tensor, means: Tensor, cov: Tensor) -> None:
        chol = torch.linalg.cholesky(cov)
        inv_chol = torch.linalg.solve_triangular(chol, torch.eye(self.dim, dtype=cov.dtype).expand_as(cov), upper=False)
        # Σ⁻¹ = C⁻ᵀ C⁻¹ = (C⁻ᵀ)(C⁻ᵀ)ᵀ ; store P = C⁻ᵀ so that |Pᵀ(x-μ)|² is the Mahalanobis term.
        self.log_weights.copy_(torch.log(weights).to(self.log_weights.dtype))
        self.means.copy_(means.to(self.means.dtype))
        self.precision_chol.copy_(inv_chol.transpose(-1, -2).to(self.precision_chol.dtype))
        self.log_det_cov.copy_(
            (2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)).to(self.log_det_cov.dtype)
        )

    # ----------------------------------------------------------------- densities
    def _component_log_prob(self, x: Tensor) -> Tensor:
        """``log w_k + log N(x; μ_k, Σ_k)`` [N, K]."""
        dtype = x.dtype
        diff = x[:, None, :] - self.means.to(dtype)[None]  # [N, K, D]
        proj = torch.einsum("nkd,kde->nke", diff, self.precision_chol.to(dtype))
        maha = proj.pow(2).sum(-1)
        return self.log_weights.to(dtype) - 0.5 * (maha + self.log_det_cov.to(dtype) + self.dim * LOG_2PI)

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact mixture log-density [N]."""
        return torch.logsumexp(self._component_log_prob(x), dim=1)

    def energy(self, x: Tensor) -> Tensor:
        """Closest-mode negative log-likelihood (Bogo et al. Eq. 5) [N]:
        ``min_k −(log w_k + log N(x; μ_k, Σ_k))``. Not smooth where the closest mode switches."""
        return -self._component_log_prob(x).max(dim=1).values

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        k = torch.multinomial(torch.exp(self.log_weights), n, replacement=True, generator=generator)
        eps = torch.randn(n, self.dim, generator=generator, dtype=self.means.dtype)
        # x = μ + C ε with Σ = C Cᵀ and P = C⁻ᵀ  ⇒  C = P⁻ᵀ
        p = self.precision_chol[k]
        x = torch.linalg.solve_triangular(p.transpose(-1, -2), eps[..., None], upper=False).squeeze(-1)
        return self.means[k] + x


def _kmeans_pp(x: Tensor, k: int, gen: torch.Generator, rounds: int = 20) -> Tensor:
    n = x.shape[0]
    centers = [x[torch.randint(n, (1,), generator=gen)].squeeze(0)]
    for _ in range(1, k):
        d2 = torch.cdist(x, torch.stack(centers)).min(1).values ** 2
        idx = torch.multinomial(d2 / d2.sum(), 1, generator=gen)
        centers.append(x[idx].squeeze(0))
    c = torch.stack(centers)
    for _ in range(rounds):
        assign = torch.cdist(x, c).argmin(1)
        for j in range(k):
            sel = assign == j
            if sel.any():
                c[j] = x[sel].mean(0)
    return c
