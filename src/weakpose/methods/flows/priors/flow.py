"""Normalizing-flow kinematic prior (Zanfir et al., ECCV 2020, §2.1).

The flow ``f`` maps a pose vector ``θ`` (ambient space) to a latent ``z = f(θ)`` with a
standard normal density, and is trained by maximum likelihood (Eq. 1) using the change of
variables (Eq. 2) summed over the steps (Eq. 3)::

    log p(θ) = log N(f(θ); 0, I) + Σ_i log |det ∂h_i/∂h_{i-1}|

Architecture (§2.1, "we introduce a trainable, fully-connected layer before each NVP step"):

* ``kind="realnvp"``: K × [InvertibleLinear → AffineCoupling (Eq. 4)].
* ``kind="prelu"``: the lighter variant, K × [InvertibleLinear → PReLU], an invertible MLP
  with parametric ReLU activations (slopes kept positive so the step stays a bijection).
* ``kind="spline"`` (not the paper's; issue 16): K × [InvertibleLinear → SplineCoupling], a
  coupling step with monotonic rational-quadratic splines (Durkan et al. 2019, via zuko) that
  are the identity outside [-5, 5]: bounded tails, where the affine coupling's exp(s) compounds
  over the steps far from the data.

Choices the paper leaves open (documented in docs/flows.md):

* The invertible fully connected layer is LU-parametrised (Kingma & Dhariwal, Glow §3.2):
  ``W = P L (U + diag(sign(s)·exp(log|s|)))`` with a fixed random permutation ``P``, so its
  log-determinant is ``Σ log|s|`` and inversion uses two triangular solves.
* The coupling's scale is bounded, ``s = scale · tanh(raw)``, and the last layer of every
  coupling network starts at zero, so a fresh flow is the identity after the linear layers.
* A fixed affine standardisation (training mean / std) is the first bijection; its
  log-determinant is part of Eq. 3, so densities are those of the raw pose vector. Its
  statistics are those of what the flow is trained on — the rotations *plus* the dequantisation
  noise (:func:`training_statistics`): on the clean CMU rotations four knee/elbow coordinates
  have zero spread, and a std clamped to 1e-3 made those inputs arrive ~50× too large (f⁻¹ then
  exploded for codes near 3σ).
* The split point is ``d = D // 2`` (Eq. 4); the linear layer before each step mixes all
  coordinates, so no explicit permutation is needed between steps.

Written in plain PyTorch (no flow library): nflows 0.14 (2020) is unmaintained; normflows
1.7.3 and zuko 1.6 have coupling layers and (normflows) an LU linear layer, but neither has
the invertible PReLU-MLP variant, and the whole design is ~200 lines with tests of
invertibility and log-determinants against autograd Jacobians (tests/flows/test_flows_priors.py).
Only the optional spline coupling uses zuko (extra ``splines``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from weakpose.errors import InputError

LOG_2PI = math.log(2.0 * math.pi)


def training_statistics(data: Tensor, noise: float = 0.0, min_std: float = 1e-3) -> tuple[Tensor, Tensor]:
    """(mean, std) per coordinate of ``data + N(0, noise²)``, the samples a prior is trained on
    (dequantisation, :mod:`weakpose.methods.flows.priors.bundle`): ``std = sqrt(var + noise²)``, floored at
    ``min_std`` (only reached by a zero-spread coordinate trained without noise)."""
    std = (data.var(0) + float(noise) ** 2).sqrt().clamp_min(min_std)
    return data.mean(0), std


class Standardize(nn.Module):
    """Fixed affine bijection ``y = (x - mean) / std`` (a buffer, not trained)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def set_statistics(self, data: Tensor, noise: float = 0.0, min_std: float = 1e-3) -> None:
        """Standardise what the flow sees: ``data`` with training noise of σ = ``noise``."""
        mean, std = training_statistics(data, noise, min_std)
        self.mean.copy_(mean)
        self.std.copy_(std)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        y = (x - self.mean) / self.std
        logdet = -torch.log(self.std).sum().expand(x.shape[0])
        return y, logdet

    def inverse(self, y: Tensor) -> Tensor:
        return y * self.std + self.mean


class InvertibleLinear(nn.Module):
    """Trainable invertible fully connected layer, LU-parametrised: ``y = x Wᵀ + b``.

    ``W = P L (U + diag(sign_s · exp(log_s)))`` with L unit lower triangular and U strictly
    upper triangular; ``log|det W| = Σ log_s``. Initialised from the QR of a random matrix
    (an orthogonal start, as in Glow).
    """

    def __init__(self, dim: int, generator: torch.Generator | None = None) -> None:
        super().__init__()
        q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=generator))
        p, l, u = torch.linalg.lu(q)
        s = torch.diagonal(u)
        self.register_buffer("perm", p)
        self.register_buffer("sign_s", torch.sign(s))
        self.register_buffer("lower_mask", torch.tril(torch.ones(dim, dim), -1))
        self.register_buffer("eye", torch.eye(dim))
        self.lower = nn.Parameter(l * self.lower_mask)
        self.upper = nn.Parameter(torch.triu(u, 1))
        self.log_s = nn.Parameter(torch.log(torch.abs(s)))
        self.bias = nn.Parameter(torch.zeros(dim))

    def _factors(self) -> tuple[Tensor, Tensor]:
        lower = self.lower * self.lower_mask + self.eye
        upper = self.upper * self.lower_mask.T + torch.diag(self.sign_s * torch.exp(self.log_s))
        return lower, upper

    def weight(self) -> Tensor:
        lower, upper = self._factors()
        return self.perm @ lower @ upper

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        y = x @ self.weight().T + self.bias
        return y, self.log_s.sum().expand(x.shape[0])

    def inverse(self, y: Tensor) -> Tensor:
        lower, upper = self._factors()
        # x = W⁻¹ (y - b) = U⁻¹ L⁻¹ Pᵀ (y - b), batched as columns.
        rhs = (y - self.bias) @ self.perm  # rows: (Pᵀ (y-b))ᵀ
        tmp = torch.linalg.solve_triangular(lower, rhs.T, upper=False, unitriangular=True)
        x = torch.linalg.solve_triangular(upper, tmp, upper=True)
        return x.T


class PReLU(nn.Module):
    """Parametric ReLU ``max(x, 0) + a·min(x, 0)`` with one slope per channel (``nn.PReLU``'s
    parameters), written with ``torch.where``: its backward is several times faster on CPU than
    ``nn.PReLU``'s kernel, which dominates batched fitting otherwise."""

    def __init__(self, channels: int, init: float = 0.25) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels,), init))

    def forward(self, x: Tensor) -> Tensor:
        return torch.where(x >= 0, x, x * self.weight)


def _mlp(d_in: int, d_out: int, hidden: int, layers: int) -> nn.Sequential:
    mods: list[nn.Module] = []
    d = d_in
    for _ in range(layers):
        mods += [nn.Linear(d, hidden), PReLU(hidden)]
        d = hidden
    last = nn.Linear(d, d_out)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    mods.append(last)
    return nn.Sequential(*mods)


class AffineCoupling(nn.Module):
    """Real-NVP step (Eq. 4): ``y_{1:d} = x_{1:d}``, ``y_{d+1:D} = x_{d+1:D} ⊙ exp(s) + t``
    with ``(s, t) = NN(x_{1:d})``; ``log|det| = Σ s``."""

    def __init__(self, dim: int, hidden: int = 256, layers: int = 2, scale: float = 2.0) -> None:
        super().__init__()
        self.d = dim // 2
        self.scale = scale
        self.net = _mlp(self.d, 2 * (dim - self.d), hidden, layers)

    def _st(self, x1: Tensor) -> tuple[Tensor, Tensor]:
        raw_s, t = self.net(x1).chunk(2, dim=-1)
        return self.scale * torch.tanh(raw_s / self.scale), t

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x1, x2 = x[:, : self.d], x[:, self.d :]
        s, t = self._st(x1)
        return torch.cat([x1, x2 * torch.exp(s) + t], dim=-1), s.sum(-1)

    def inverse(self, y: Tensor) -> Tensor:
        y1, y2 = y[:, : self.d], y[:, self.d :]
        s, t = self._st(y1)
        return torch.cat([y1, (y2 - t) * torch.exp(-s)], dim=-1)


class SplineCoupling(nn.Module):
    """Coupling step with monotonic rational-quadratic splines (neural spline flow, Durkan et
    al. 2019; zuko's ``MaskedAutoregressiveTransform`` with two passes): the first half of the
    coordinates gets unconditional splines, the second half splines whose knots an MLP computes
    from the first half. Each spline maps [-5, 5] onto itself and is the identity outside, so
    the inverse never amplifies a code beyond the linear layers (bounded tails)."""

    def __init__(self, dim: int, hidden: int = 128, layers: int = 2, bins: int = 8) -> None:
        super().__init__()
        try:
            from zuko.flows.autoregressive import MaskedAutoregressiveTransform
            from zuko.transforms import MonotonicRQSTransform
        except ImportError as err:
            raise InputError("config: key 'flow_kind': 'spline' needs zuko; install the extra: "
                             "pip install 'weakpose[splines]'") from err
        from functools import partial

        self.transform = MaskedAutoregressiveTransform(
            dim, 0, passes=2, univariate=partial(MonotonicRQSTransform, slope=1e-3),
            shapes=[(bins,), (bins,), (bins - 1,)], hidden_features=(hidden,) * layers)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.transform().call_and_ladj(x)

    def inverse(self, y: Tensor) -> Tensor:
        return self.transform().inv(y)


class InvertiblePReLU(nn.Module):
    """Element-wise ``y = x`` (x ≥ 0), ``a·x`` (x < 0) with ``a = exp(log_a) > 0`` per
    coordinate, so it is a bijection; ``log|det| = Σ_{x_i<0} log a_i``."""

    def __init__(self, dim: int, init_slope: float = 0.5) -> None:
        super().__init__()
        self.log_a = nn.Parameter(torch.full((dim,), math.log(init_slope)))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        neg = x < 0
        y = torch.where(neg, x * torch.exp(self.log_a), x)
        return y, (neg.to(x.dtype) * self.log_a).sum(-1)

    def inverse(self, y: Tensor) -> Tensor:
        return torch.where(y < 0, y * torch.exp(-self.log_a), y)


FLOW_KINDS = ("realnvp", "prelu", "spline")


@dataclass
class FlowConfig:
    """Architecture of a :class:`NormalizingFlow` (stored in checkpoints)."""

    dim: int
    kind: str = "realnvp"  # "realnvp" | "prelu" | "spline"
    steps: int = 8
    hidden: int = 256
    layers: int = 2
    seed: int = 0


class NormalizingFlow(nn.Module):
    """``z = f(θ)``: standardisation then ``steps`` × [InvertibleLinear → RealNVP | PReLU | spline].

    The last step of the PReLU variant is followed by one more linear layer, so the latent
    is not restricted in sign structure.
    """

    def __init__(self, config: FlowConfig) -> None:
        super().__init__()
        if config.kind not in FLOW_KINDS:
            raise ValueError(f"flow kind must be one of {', '.join(FLOW_KINDS)}, got {config.kind!r}")
        if config.dim < 2:
            raise ValueError("flow dimension must be at least 2")
        self.config = config
        gen = torch.Generator().manual_seed(config.seed)
        self.standardize = Standardize(config.dim)
        mods: list[nn.Module] = []
        for _ in range(config.steps):
            mods.append(InvertibleLinear(config.dim, generator=gen))
            if config.kind == "realnvp":
                mods.append(AffineCoupling(config.dim, config.hidden, config.layers))
            elif config.kind == "spline":
                mods.append(SplineCoupling(config.dim, config.hidden, config.layers))
            else:
                mods.append(InvertiblePReLU(config.dim))
        if config.kind == "prelu":
            mods.append(InvertibleLinear(config.dim, generator=gen))
        self.steps = nn.ModuleList(mods)

    @property
    def dim(self) -> int:
        return self.config.dim

    def forward(self, theta: Tensor) -> tuple[Tensor, Tensor]:
        """``(z, Σ log|det ∂h_i/∂h_{i-1}|)`` for ``theta`` [B, D] (Eq. 3)."""
        if theta.ndim != 2 or theta.shape[1] != self.dim:
            raise ValueError(f"expected [B, {self.dim}] poses, got {tuple(theta.shape)}")
        h, logdet = self.standardize(theta)
        for step in self.steps:
            h, ld = step(h)
            logdet = logdet + ld
        return h, logdet

    def inverse(self, z: Tensor) -> Tensor:
        """``θ = f⁻¹(z)`` for ``z`` [B, D]."""
        h = z
        for step in reversed(self.steps):
            h = step.inverse(h)
        return self.standardize.inverse(h)

    def log_prob(self, theta: Tensor) -> Tensor:
        """``log p(θ)`` [B] (Eq. 2–3) with ``p(z) = N(0, I)``."""
        z, logdet = self(theta)
        return latent_log_prob(z) + logdet

    def nll_latent(self, z: Tensor) -> Tensor:
        """ψ_nf(z) = −log N(z; 0, I) [B] (the latent-space prior of Eq. 6)."""
        return -latent_log_prob(z)

    def sample(self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0) -> Tensor:
        z = torch.randn(n, self.dim, generator=generator) * temperature
        return self.inverse(z)

    def to_checkpoint(self) -> dict:
        return {"config": asdict(self.config), "state_dict": self.state_dict()}

    @classmethod
    def from_checkpoint(cls, payload: dict) -> NormalizingFlow:
        flow = cls(FlowConfig(**payload["config"]))
        flow.load_state_dict(payload["state_dict"])
        return flow


def latent_log_prob(z: Tensor) -> Tensor:
    """``log N(z; 0, I)`` summed over the last axis."""
    return -0.5 * (z.pow(2).sum(-1) + z.shape[-1] * LOG_2PI)
