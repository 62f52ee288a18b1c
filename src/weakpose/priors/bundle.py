"""Training and storage of the pose priors of a ``weakpose train prior`` run.

A :class:`PriorBundle` holds the body model (rest skeleton + shape space of the training
subjects) and, for each rotation representation (``aa``, ``6d``), the priors:
``nf`` (Real-NVP flow), ``nf-prelu`` (the lighter PReLU flow), ``gmm`` (8 modes), ``vae``
(VPoser style). All are trained on the local rotations of the CMU training subjects only.

Training-set choice the paper leaves open: the CMU rotations contain exactly constrained
degrees of freedom (e.g. the knee and elbow rotate about fewer than three axes in this
release), so the data lie on a lower-dimensional set and a density over the full vector is
unbounded. As is usual for flows on such data, each training batch is *dequantised* with
Gaussian noise of σ = ``noise`` (default 0.02, radians for angle-axis) — all priors see the
same noise, and held-out log-likelihoods are computed on the clean test rotations.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from weakpose.body.model import BodyModel
from weakpose.body.pose import matrices_to_vector
from weakpose.priors.flow import FlowConfig, NormalizingFlow
from weakpose.priors.gmm import GMMPrior
from weakpose.priors.vae import PoseVAE, VAEConfig

PRIOR_KINDS = ("nf", "nf-prelu", "gmm", "vae")


@dataclass
class PriorTrainConfig:
    representations: tuple[str, ...] = ("aa", "6d")
    kinds: tuple[str, ...] = PRIOR_KINDS
    flow_steps: int = 8
    flow_hidden: int = 256
    flow_layers: int = 2
    prelu_steps: int = 8
    iterations: int = 2000
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-5
    noise: float = 0.02
    gmm_modes: int = 8
    gmm_iterations: int = 100
    vae_latent: int = 32
    vae_kl_weight: float = 5e-3
    num_betas: int = 4
    seed: int = 0


@dataclass
class PriorBundle:
    body: BodyModel
    priors: dict[str, dict[str, torch.nn.Module]] = field(default_factory=dict)  # rep -> kind -> module
    metrics: dict = field(default_factory=dict)

    def get(self, kind: str, rep: str) -> torch.nn.Module:
        try:
            return self.priors[rep][kind]
        except KeyError:
            have = [f"{k}/{r}" for r, d in self.priors.items() for k in d]
            raise KeyError(f"prior {kind}/{rep} not in this run (have {', '.join(have)})") from None

    def save(self, path: str | Path) -> None:
        payload = {
            "body": {"rest_offsets": self.body.offsets().cpu(), "length_basis": self.body.length_basis.cpu()},
            "priors": {},
            "metrics": self.metrics,
        }
        for rep, d in self.priors.items():
            for kind, m in d.items():
                if isinstance(m, GMMPrior):
                    blob = {"type": "gmm", "dim": m.dim, "modes": m.modes, "state_dict": m.state_dict()}
                elif isinstance(m, NormalizingFlow):
                    blob = {"type": "flow", **m.to_checkpoint()}
                else:
                    blob = {"type": "vae", **m.to_checkpoint()}
                payload["priors"][f"{rep}/{kind}"] = blob
        path = Path(path)
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save(payload, tmp)
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> "PriorBundle":
        payload = torch.load(path, map_location="cpu", weights_only=False)
        body = BodyModel(payload["body"]["rest_offsets"].numpy(), payload["body"]["length_basis"].numpy())
        bundle = cls(body=body, metrics=payload.get("metrics", {}))
        for key, blob in payload["priors"].items():
            rep, kind = key.split("/")
            if blob["type"] == "gmm":
                m: torch.nn.Module = GMMPrior(blob["dim"], blob["modes"])
                m.load_state_dict(blob["state_dict"])
            elif blob["type"] == "flow":
                m = NormalizingFlow.from_checkpoint(blob)
            else:
                m = PoseVAE.from_checkpoint(blob)
            m.eval()
            for p in m.parameters():
                p.requires_grad_(False)
            bundle.priors.setdefault(rep, {})[kind] = m
        return bundle


def pose_vectors(local_rot: np.ndarray, rep: str) -> torch.Tensor:
    return matrices_to_vector(torch.from_numpy(np.asarray(local_rot, np.float32)), rep)


def _batches(n: int, batch: int, gen: torch.Generator):
    while True:
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n - batch + 1, batch):
            yield perm[i : i + batch]


def train_flow(data: torch.Tensor, cfg: PriorTrainConfig, kind: str, log: Callable[[str], None] = print) -> NormalizingFlow:
    """Maximum likelihood (Eq. 1) with Adam and a cosine learning-rate decay."""
    steps = cfg.flow_steps if kind == "realnvp" else cfg.prelu_steps
    flow = NormalizingFlow(FlowConfig(dim=data.shape[1], kind=kind, steps=steps, hidden=cfg.flow_hidden,
                                      layers=cfg.flow_layers, seed=cfg.seed))
    flow.standardize.set_statistics(data)
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.Adam(flow.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.iterations)
    it = _batches(len(data), min(cfg.batch_size, len(data)), gen)
    t0 = time.time()
    for step in range(cfg.iterations):
        x = data[next(it)]
        x = x + cfg.noise * torch.randn(x.shape, generator=gen)
        loss = -flow.log_prob(x).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(flow.parameters(), 10.0)
        opt.step()
        sched.step()
        if step % 500 == 0 or step == cfg.iterations - 1:
            log(f"flow[{kind}] step {step} nll/dim {float(loss.detach()) / data.shape[1]:.4f} ({time.time() - t0:.0f}s)")
    flow.eval()
    return flow


def train_vae(data: torch.Tensor, cfg: PriorTrainConfig, log: Callable[[str], None] = print) -> PoseVAE:
    vae = PoseVAE(VAEConfig(dim=data.shape[1], latent=cfg.vae_latent, kl_weight=cfg.vae_kl_weight))
    vae.set_statistics(data)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    opt = torch.optim.Adam(vae.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.iterations)
    it = _batches(len(data), min(cfg.batch_size, len(data)), gen)
    vae.train()
    for step in range(cfg.iterations):
        x = data[next(it)]
        x = x + cfg.noise * torch.randn(x.shape, generator=gen)
        loss, parts = vae.loss(x, generator=gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 500 == 0 or step == cfg.iterations - 1:
            log(f"vae step {step} loss/dim {float(loss.detach()) / data.shape[1]:.4f} kl {parts['kl']:.1f}")
    vae.eval()
    return vae


def fit_gmm(data: torch.Tensor, cfg: PriorTrainConfig, log: Callable[[str], None] = print) -> GMMPrior:
    gen = torch.Generator().manual_seed(cfg.seed + 2)
    noisy = data + cfg.noise * torch.randn(data.shape, generator=gen)
    gmm = GMMPrior(data.shape[1], cfg.gmm_modes)
    hist = gmm.fit(noisy, iterations=cfg.gmm_iterations, reg=1e-4, seed=cfg.seed)
    log(f"gmm EM mean log-lik {hist[0]:.2f} -> {hist[-1]:.2f}")
    return gmm


@torch.no_grad()
def heldout_loglik(prior: torch.nn.Module, data: torch.Tensor, batch: int = 2048) -> float:
    """Mean held-out log-likelihood per dimension (nats)."""
    out = []
    gen = torch.Generator().manual_seed(0)
    for i in range(0, len(data), batch):
        x = data[i : i + batch]
        if isinstance(prior, PoseVAE):
            out.append(prior.log_prob(x, samples=64, generator=gen))
        else:
            out.append(prior.log_prob(x.double() if isinstance(prior, GMMPrior) else x).float())
    return float(torch.cat(out).mean()) / data.shape[1]


def train_priors(body: BodyModel, train_rot: np.ndarray, test_rot: np.ndarray | None, cfg: PriorTrainConfig,
                 log: Callable[[str], None] = print) -> PriorBundle:
    """Train every prior of ``cfg.kinds`` × ``cfg.representations``; held-out LL on ``test_rot``."""
    torch.manual_seed(cfg.seed)
    bundle = PriorBundle(body=body, metrics={"config": asdict(cfg), "heldout_loglik_per_dim": {}, "train_seconds": {}})
    for rep in cfg.representations:
        data = pose_vectors(train_rot, rep)
        test = pose_vectors(test_rot, rep) if test_rot is not None else None
        for kind in cfg.kinds:
            t0 = time.time()
            if kind == "nf":
                m: torch.nn.Module = train_flow(data, cfg, "realnvp", log)
            elif kind == "nf-prelu":
                m = train_flow(data, cfg, "prelu", log)
            elif kind == "gmm":
                m = fit_gmm(data, cfg, log)
            elif kind == "vae":
                m = train_vae(data, cfg, log)
            else:
                raise ValueError(f"unknown prior kind {kind!r}; choose from {PRIOR_KINDS}")
            for p in m.parameters():
                p.requires_grad_(False)
            bundle.priors.setdefault(rep, {})[kind] = m
            bundle.metrics["train_seconds"][f"{rep}/{kind}"] = round(time.time() - t0, 1)
            if test is not None:
                ll = heldout_loglik(m, test)
                bundle.metrics["heldout_loglik_per_dim"][f"{rep}/{kind}"] = ll
                log(f"{rep}/{kind}: held-out log-likelihood {ll:.4f} nats/dim")
    return bundle


def num_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters()) + sum(
        b.numel() for n, b in module.named_buffers() if n.endswith(("means", "precision_chol")))


