"""Variational auto-encoder pose prior in the style of VPoser (Pavlakos et al., CVPR 2019),
the ψ_VPoser(z) baseline of Zanfir et al. Table 1.

Kept from VPoser: a 2 × 512 leaky-ReLU encoder with dropout giving a diagonal Gaussian
posterior over a 32-d latent, a 2 × 512 decoder, a KL weight of 5e-3 and fitting in the
latent space with ψ(z) = ½‖z‖². Changed because weakpose has no mesh: the reconstruction
term is a Gaussian likelihood of the pose vector (angle-axis or 6D, whichever the prior is
built on) with a learned per-coordinate σ instead of VPoser's per-vertex L1 loss, so that the
held-out log-likelihood can be estimated by importance sampling (:meth:`PoseVAE.log_prob`)
and compared with the flow and the GMM.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from weakpose.methods.flows.priors.flow import training_statistics

LOG_2PI = math.log(2.0 * math.pi)


@dataclass
class VAEConfig:
    dim: int
    latent: int = 32
    hidden: int = 512
    dropout: float = 0.1
    kl_weight: float = 5e-3


class PoseVAE(nn.Module):
    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        self.config = config
        d, h, k = config.dim, config.hidden, config.latent
        self.register_buffer("mean", torch.zeros(d))
        self.register_buffer("std", torch.ones(d))
        self.encoder = nn.Sequential(
            nn.Linear(d, h), nn.LeakyReLU(0.2), nn.Dropout(config.dropout),
            nn.Linear(h, h), nn.LeakyReLU(0.2), nn.Linear(h, 2 * k),
        )
        self.decoder = nn.Sequential(
            nn.Linear(k, h), nn.LeakyReLU(0.2), nn.Dropout(config.dropout),
            nn.Linear(h, h), nn.LeakyReLU(0.2), nn.Linear(h, d),
        )
        self.log_sigma = nn.Parameter(torch.full((d,), math.log(0.3)))  # in standardised units

    @property
    def dim(self) -> int:
        return self.config.dim

    @property
    def latent_dim(self) -> int:
        return self.config.latent

    def set_statistics(self, data: Tensor, noise: float = 0.0, min_std: float = 1e-3) -> None:
        """Input standardisation from ``data`` with training noise of σ = ``noise`` (as the flows)."""
        mean, std = training_statistics(data, noise, min_std)
        self.mean.copy_(mean)
        self.std.copy_(std)

    def encode(self, theta: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior ``q(z|θ)``: (mean, log σ) each [B, latent]."""
        mu, log_s = self.encoder((theta - self.mean) / self.std).chunk(2, dim=-1)
        return mu, log_s.clamp(-8.0, 4.0)

    def decode(self, z: Tensor) -> Tensor:
        """Decoder mean in pose units [B, D]."""
        return self.decoder(z) * self.std + self.mean

    def _log_lik(self, theta: Tensor, z: Tensor) -> Tensor:
        x = (theta - self.mean) / self.std
        mu = self.decoder(z)
        inv = torch.exp(-self.log_sigma)
        ll = -0.5 * (((x - mu) * inv) ** 2 + 2 * self.log_sigma + LOG_2PI).sum(-1)
        return ll - torch.log(self.std).sum()  # density of the raw pose vector

    def loss(self, theta: Tensor, generator: torch.Generator | None = None,
             eps: Tensor | None = None) -> tuple[Tensor, dict[str, float]]:
        """VPoser-style objective: −E_q log p(θ|z) + kl_weight · KL(q(z|θ) ‖ N(0, I)), per sample mean.
        ``eps`` [B, latent]: the reparametrisation noise (drawn from ``generator`` when omitted)."""
        mu, log_s = self.encode(theta)
        if eps is None:
            eps = torch.randn(mu.shape, generator=generator)
        z = mu + torch.exp(log_s) * eps
        rec = -self._log_lik(theta, z).mean()
        kl = 0.5 * (mu.pow(2) + torch.exp(2 * log_s) - 1 - 2 * log_s).sum(-1).mean()
        total = rec + self.config.kl_weight * kl
        return total, {"rec_nll": float(rec.detach()), "kl": float(kl.detach())}

    @torch.no_grad()
    def log_prob(self, theta: Tensor, samples: int = 64, generator: torch.Generator | None = None) -> Tensor:
        """Importance-sampled ``log p(θ)`` [B] (IWAE bound with ``samples`` draws from q)."""
        mu, log_s = self.encode(theta)
        s = torch.exp(log_s)
        out = []
        for _ in range(samples):
            eps = torch.randn(mu.shape, generator=generator)
            z = mu + s * eps
            log_q = -0.5 * (eps.pow(2) + 2 * log_s + LOG_2PI).sum(-1)
            log_pz = -0.5 * (z.pow(2) + LOG_2PI).sum(-1)
            out.append(self._log_lik(theta, z) + log_pz - log_q)
        return torch.logsumexp(torch.stack(out), 0) - math.log(samples)

    def nll_latent(self, z: Tensor) -> Tensor:
        """ψ_VPoser(z) = ½‖z‖² (+ const) [B]."""
        return 0.5 * (z.pow(2).sum(-1) + z.shape[-1] * LOG_2PI)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return self.decode(torch.randn(n, self.latent_dim, generator=generator))

    def to_checkpoint(self) -> dict:
        return {"config": asdict(self.config), "state_dict": self.state_dict()}

    @classmethod
    def from_checkpoint(cls, payload: dict) -> PoseVAE:
        vae = cls(VAEConfig(**payload["config"]))
        vae.load_state_dict(payload["state_dict"])
        return vae
