"""``weakpose train prior``: kinematic pose priors of Zanfir et al. 2020 §2.1 on the CMU
training subjects, and fitting with them as the run's predictor.

One run trains, for each rotation representation (angle-axis ``aa`` and ``6d``):

* ``nf``: Real-NVP flow with a trainable LU linear layer before each step (Eq. 1–4),
* ``nf-prelu``: the lighter invertible PReLU-MLP flow,
* ``vae``: the VPoser-style VAE baseline,
* ``gmm``: the 8-mode GMM of Bogo et al. (EM when the method starts),

on the local joint rotations of subjects 1, 3, 5, 6, 7, 8 from the CMU converter
(:mod:`weakpose.data.converters.cmu`), plus the body model (rest skeleton and bone-length
shape space of the same subjects). ``weakpose predict --checkpoint RUN`` fits the body model to
each 2D pose with the prior chosen by ``fit_prior`` / ``fit_rep`` / ``fit_space`` (default: the
flow in its latent space, angle-axis; :mod:`weakpose.methods.flows.fitting`).

Monitoring (never used to select a run): log-likelihood per dimension of every prior on a fixed
subset of the training subjects' rotations (``monitor_samples`` frames; the test subjects are never
read while training). The held-out log-likelihood on test subjects 2 and 9 is an evaluation of a
finished run: ``benchmarks/prior_loglik.py RUN``.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from weakpose.data.converters.cmu import CMURotations, convert_cmu, load_cmu_rotations, save_cmu
from weakpose.data.mocap import TRAIN_SUBJECTS
from weakpose.engine.config import TrainConfig, setting
from weakpose.engine.distributed import DistInfo
from weakpose.engine.optim import optimizer_step
from weakpose.errors import InputError
from weakpose.methods.base import Method, freeze
from weakpose.methods.flows.body import cmu_tree
from weakpose.methods.flows.body.cmu import pose_data, segment_offsets, shape_space
from weakpose.methods.flows.body.model import BodyModel
from weakpose.methods.flows.body.pose import check_representation
from weakpose.methods.flows.priors.bundle import PriorBundle, heldout_loglik, pose_vectors
from weakpose.methods.flows.priors.flow import FlowConfig, NormalizingFlow
from weakpose.methods.flows.priors.gmm import GMMPrior
from weakpose.methods.flows.priors.vae import PoseVAE, VAEConfig

KINDS = ("nf", "nf-prelu", "vae", "gmm")
NF_KINDS = ("realnvp", "spline")  # flow kinds the `nf` prior can use (FlowConfig.kind)


def check_nf_kind(kind: str) -> None:
    """One config error unless ``kind`` (config key ``flow_kind``) is one of :data:`NF_KINDS`."""
    if kind not in NF_KINDS:
        raise InputError(f"config: key 'flow_kind': must be one of {', '.join(NF_KINDS)}, got {kind!r}")


@dataclass
class PriorConfig(TrainConfig):
    steps: int = 2000
    batch_size: int = 256
    lr: float = 1e-3
    eval_every: int = 0
    checkpoint_every: int = 250
    representations: tuple[str, ...] = ("aa", "6d")
    flow_kind: str = "realnvp"       # the `nf` prior's coupling: "realnvp" (Eq. 4, affine) or "spline"
                                     # (bounded rational-quadratic tails, not the paper's; needs zuko)
    flow_steps: int = 6              # Real-NVP steps (each preceded by an LU linear layer)
    flow_hidden: int = setting(128, minimum=1)  # width of the coupling networks (2 hidden PReLU layers)
    flow_layers: int = 2
    prelu_steps: int = 8             # steps of the PReLU-MLP flow
    noise: float = 0.05              # dequantisation noise (see weakpose.methods.flows.priors.bundle)
    weight_decay: float = 1e-4
    gmm_modes: int = 8
    gmm_iterations: int = 100
    vae_latent: int = 32
    vae_kl_weight: float = 5e-3
    vae_dropout: float = 0.1         # VPoser's dropout in the VAE's encoder and decoder
    num_betas: int = 4
    # fitting used by the run's predictor (weakpose predict / weakpose fit)
    fit_prior: str = "nf"
    fit_rep: str = "aa"
    fit_space: str = "latent"
    fit_sigma_kp: float = 5.0
    fit_iterations: int = 150
    fit_chunk: int = 256


def _pose_dim(rep: str) -> int:
    return len(cmu_tree.POSED_SEGMENTS) * check_representation(rep)


def cmu_rotations(data_root: Path) -> CMURotations:
    """Convert the CMU BVH files (7 s) to the converter's rotation output, in memory."""
    root = Path(data_root) / "cmu"
    if not (root / "bvh").is_dir():
        raise InputError(f"{root / 'bvh'}: CMU BVH folder not found (the prior needs joint rotations)")
    arrays = convert_cmu(root / "bvh", root / "index.tsv", rotations=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cmu_rotations.npz"
        save_cmu(path, arrays)
        return load_cmu_rotations(path)


class PriorMethod(Method):
    name = "prior"
    Config = PriorConfig
    #: No data files: the priors learn joint *rotations* (CMU BVH), which 3D joint positions do
    #: not determine, and the run's evaluation is a log-likelihood, not a 3D monitor.
    data_kinds = ()

    @classmethod
    def build_modules(cls, config: PriorConfig) -> dict[str, torch.nn.Module]:
        S = len(cmu_tree.SEGMENT_NAMES)
        nets: dict[str, torch.nn.Module] = {
            "body": BodyModel(np.zeros((S, 3)), np.zeros((config.num_betas, S))),
        }
        for rep in config.representations:
            d = _pose_dim(rep)
            nets[f"nf_{rep}"] = NormalizingFlow(FlowConfig(d, config.flow_kind, config.flow_steps, config.flow_hidden,
                                                           config.flow_layers, config.seed))
            nets[f"nf-prelu_{rep}"] = NormalizingFlow(FlowConfig(d, "prelu", config.prelu_steps, seed=config.seed))
            nets[f"vae_{rep}"] = PoseVAE(VAEConfig(d, config.vae_latent, dropout=config.vae_dropout,
                                                   kl_weight=config.vae_kl_weight))
            nets[f"gmm_{rep}"] = GMMPrior(d, config.gmm_modes)
        return nets

    def __init__(self, config: PriorConfig, data_root: Path, device: str = "cpu", dist: DistInfo = DistInfo(),
                 sources=None) -> None:
        check_nf_kind(config.flow_kind)
        super().__init__(config, data_root, device, dist, sources)
        rot = cmu_rotations(self.data_root)
        train = pose_data(rot, TRAIN_SUBJECTS)
        offsets = segment_offsets(rot)
        rows = [int(np.flatnonzero(rot.subjects == s)[0]) for s in TRAIN_SUBJECTS]
        mean, basis = shape_space(offsets[rows], config.num_betas)
        body: BodyModel = self.nets["body"]
        k = basis.shape[0]
        with torch.no_grad():
            lengths = np.linalg.norm(mean, axis=-1)
            body.rest_dirs.copy_(
                torch.from_numpy(np.where(lengths[:, None] > 0, mean / np.maximum(lengths[:, None], 1e-9), 0))
            )
            body.mean_lengths.copy_(torch.from_numpy(lengths))
            body.length_basis.zero_()
            body.length_basis[:k].copy_(torch.from_numpy(basis))
        self.data = {rep: pose_vectors(train.local, rep) for rep in config.representations}
        rows = np.sort(np.random.default_rng(0).choice(len(train.local), min(len(train.local), config.monitor_samples),
                                                       replace=False))
        self.monitor_data = {rep: pose_vectors(train.local[rows], rep) for rep in config.representations}
        gen = torch.Generator().manual_seed(config.seed)
        for rep, x in self.data.items():
            # standardise what the priors are trained on: the rotations plus the dequantisation noise
            self.nets[f"nf_{rep}"].standardize.set_statistics(x, config.noise)
            self.nets[f"nf-prelu_{rep}"].standardize.set_statistics(x, config.noise)
            self.nets[f"vae_{rep}"].set_statistics(x, config.noise)
            noisy = x + config.noise * torch.randn(x.shape, generator=gen)
            self.nets[f"gmm_{rep}"].fit(noisy, iterations=config.gmm_iterations, seed=config.seed)
        self.gen = self.own_generator("noise", torch.Generator().manual_seed(config.seed + 1))
        self._opts = {
            name: torch.optim.Adam(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
            for name, net in self.nets.items() if name.split("_")[0] in ("nf", "nf-prelu", "vae")
        }
        self._scheds = {k: torch.optim.lr_scheduler.CosineAnnealingLR(o, config.steps) for k, o in self._opts.items()}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return self._opts

    def schedulers(self) -> dict[str, Any]:
        return self._scheds

    def train_step(self, step: int) -> dict[str, float]:
        """One Adam step of every flow (maximum likelihood, Eq. 1) and VAE on one batch. The
        dequantisation and reparametrisation noise is drawn for the global batch, so that every
        process trains on its share of the same samples."""
        cfg = self.config
        n = len(next(iter(self.data.values())))
        idx = torch.from_numpy(self.rng.integers(0, n, cfg.batch_size))
        out: dict[str, float] = {}
        for rep, data in self.data.items():
            x = self.shard(data[idx] + cfg.noise * torch.randn((cfg.batch_size, data.shape[1]), generator=self.gen))
            for kind in ("nf", "nf-prelu", "vae"):
                name = f"{kind}_{rep}"
                net = self.nets[name]
                if kind == "vae":
                    eps = self.shard(torch.randn((cfg.batch_size, net.latent_dim), generator=self.gen))
                    loss, _ = net.loss(x, eps=eps)
                else:
                    loss = -net.log_prob(x).mean()
                logs = optimizer_step({"nll": loss}, "nll", self._opts[name], self._scheds[name],
                                      clip=(net.parameters(), 10.0))
                out[f"train/{name}_nll_per_dim"] = logs["train/nll"] / data.shape[1]
        return out

    def evaluate(self) -> dict[str, float]:
        """Log-likelihood per dimension of every prior on the fixed training-subject frames
        (monitoring only; the test subjects' held-out value: ``benchmarks/prior_loglik.py``)."""
        table = loglik_table(self.nets, self.monitor_data)
        return {f"monitor_ll_per_dim/{name}": value for name, value in table.items()}

    @classmethod
    def load_predictor(cls, checkpoint: dict[str, Any]):
        from weakpose.engine.config import config_from_dict

        config = config_from_dict(PriorConfig, checkpoint["config"])
        return cls.make_predictor(
            config, _load_nets(config, checkpoint["modules"]), checkpoint.get("predictor_state", {})
        )

    @classmethod
    def make_predictor(cls, config: PriorConfig, nets: dict[str, torch.nn.Module], state: dict[str, Any]):
        from weakpose.methods.flows.fitting.predictor import FitPredictor

        return FitPredictor(bundle_from_nets(nets, config), config.fit_prior, config.fit_rep, config.fit_space,
                            sigma_kp=config.fit_sigma_kp, iterations=config.fit_iterations, chunk=config.fit_chunk)


def bundle_from_nets(nets: dict[str, torch.nn.Module], config: PriorConfig) -> PriorBundle:
    bundle = PriorBundle(body=nets["body"])
    for rep in config.representations:
        for kind in KINDS:
            m = nets[f"{kind}_{rep}"]
            freeze(m)
            bundle.priors.setdefault(rep, {})[kind] = m
    return bundle


def load_prior_run(path: str | Path) -> tuple[PriorBundle, PriorConfig]:
    """The priors and body model of a ``weakpose train prior`` run (folder or model file)."""
    from weakpose.engine.checkpoint import load_checkpoint
    from weakpose.engine.config import config_from_dict

    payload = load_checkpoint(path)
    if payload["method"] != PriorMethod.name:
        raise InputError(f"{path}: key 'method': run is {payload['method']!r}, not a 'prior' run")
    config = config_from_dict(PriorConfig, payload["config"])
    return bundle_from_nets(_load_nets(config, payload["modules"]), config), config


def loglik_table(nets: dict[str, torch.nn.Module], data: dict[str, torch.Tensor]) -> dict[str, float]:
    """Log-likelihood per dimension (:func:`heldout_loglik`) of every prior ``KIND_REP`` in ``nets``
    on the pose vectors ``data[REP]`` (clean rotations, no dequantisation noise)."""
    out = {}
    for rep, x in data.items():
        for kind in KINDS:
            net = nets[f"{kind}_{rep}"]
            was_training = net.training
            net.eval()
            out[f"{kind}_{rep}"] = heldout_loglik(net, x)
            net.train(was_training)
    return out


def _load_nets(config: PriorConfig, states: dict[str, Any]) -> dict[str, torch.nn.Module]:
    nets = PriorMethod.build_modules(config)
    for name, net in nets.items():
        # the body's surface points are derived constants (not stored; older runs stored them)
        state = {k: v for k, v in states[name].items() if not k.startswith("surface.")}
        net.load_state_dict(state)
    return nets


METHOD = PriorMethod
