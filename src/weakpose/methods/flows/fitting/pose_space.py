"""The variable a fit optimises for the pose and the prior term on it (Zanfir et al. §2.1).

* ``nf`` / ``nf-prelu`` in the **latent** space (Eq. 6): variable ``z``, pose ``θ = f⁻¹(z)``,
  prior ``ψ_nf(z) = −log N(z; 0, I)``.
* ``nf`` / ``nf-prelu`` in the **ambient** space (Eq. 5): variable ``θ``, prior
  ``ψ_nf(f(θ)) = −log N(f(θ); 0, I)``, the paper's notation taken literally: the same energy as
  Eq. 6 evaluated through ``f``, so Eq. 5 and Eq. 6 differ only in the variable optimised.
* ``gmm`` (ambient): ``ψ_gmm(θ)``, the closest-mode energy of Bogo et al.
* ``vae`` (latent): ``θ = dec(z)``, ``ψ(z) = ½‖z‖²`` (VPoser).

Initialisation follows the paper (§3: "initialize parameters with 0, for pose (either in
ambient or latent space)"): ``z = 0``, and in the ambient space the identity rotations
(``θ = 0`` for angle-axis; the 6D vector of the identity, since a zero 6D vector is no
rotation).

Controls for the latent-vs-ambient comparison (docs/flows.md, issue 16): an ambient flow fit can
start at the flow's mode image ``θ = f⁻¹(0)`` (``start="mode"``, the latent fit's starting pose)
instead of the identity rotations, and use the full density ``−log p(θ) = ψ_nf(f(θ)) − log|det
∂f/∂θ|`` (Eq. 2–3; ``energy="density"``) instead of ``ψ_nf(f(θ))`` alone. Neither is the paper's
Eq. 5; they separate the starting point and the missing Jacobian term from the conditioning of
the optimised variable.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from weakpose.methods.flows.body.pose import check_representation
from weakpose.methods.flows.priors.flow import NormalizingFlow
from weakpose.methods.flows.priors.gmm import GMMPrior
from weakpose.methods.flows.priors.vae import PoseVAE

LOG_2PI = math.log(2 * math.pi)


class PoseSpace:
    """``init(B)`` -> variable [B, D_var]; ``pose(var)`` -> θ [B, D]; ``energy(var)`` -> ψ [B]."""

    latent: bool

    def __init__(self, prior: torch.nn.Module, rep: str, latent: bool, start: str = "zero",
                 energy: str = "latent") -> None:
        self.prior, self.rep, self.latent = prior, rep, latent
        self.k = check_representation(rep)
        if start not in ("zero", "mode") or energy not in ("latent", "density"):
            raise ValueError(f"start must be zero|mode and energy latent|density, got {start!r}, {energy!r}")
        if (start != "zero" or energy != "latent") and (latent or not isinstance(prior, NormalizingFlow)):
            raise ValueError("start='mode' and energy='density' are controls of the ambient-space flow fit")
        self.start, self.energy_kind = start, energy
        if isinstance(prior, GMMPrior) and latent:
            raise ValueError("the GMM prior has no latent space; use it in the ambient space")
        if isinstance(prior, PoseVAE) and not latent:
            raise ValueError("the VAE prior is used in its latent space (VPoser)")
        self.dim = prior.dim
        self.var_dim = prior.latent_dim if isinstance(prior, PoseVAE) else prior.dim

    def init(self, batch: int, dtype: torch.dtype = torch.float32) -> Tensor:
        if self.latent:
            return torch.zeros(batch, self.var_dim, dtype=dtype)
        if self.start == "mode":
            with torch.no_grad():
                return self.prior.inverse(torch.zeros(batch, self.dim)).to(dtype)
        if self.rep == "aa":
            return torch.zeros(batch, self.dim, dtype=dtype)
        ident = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0], dtype=dtype)
        return ident.repeat(batch, self.dim // 6)

    def pose(self, var: Tensor) -> Tensor:
        if not self.latent:
            return var
        if isinstance(self.prior, NormalizingFlow):
            return self.prior.inverse(var)
        return self.prior.decode(var)

    def energy(self, var: Tensor) -> Tensor:
        if isinstance(self.prior, GMMPrior):
            return self.prior.energy(var.double()).to(var.dtype)
        if self.latent:
            return 0.5 * (var.pow(2).sum(-1) + var.shape[-1] * LOG_2PI)
        z, logdet = self.prior(var)
        psi = 0.5 * (z.pow(2).sum(-1) + z.shape[-1] * LOG_2PI)
        return psi - logdet if self.energy_kind == "density" else psi

    def latent_code(self, var: Tensor) -> Tensor:
        """The variable the temporal smoothness (Eq. 12) acts on: z (latent) or f(θ) (ambient
        flow), or θ itself for the GMM."""
        if self.latent or isinstance(self.prior, GMMPrior):
            return var
        return self.prior(var)[0]
