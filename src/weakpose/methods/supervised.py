"""Fully supervised reference: the residual-MLP lifter of Martinez et al. (ICCV 2017) trained
on paired 2D–3D samples of the CMU-WS training subjects (the only model allowed 3D pairs).

Training samples are drawn on the fly (:class:`~weakpose.data.sampling.ViewSampler`): the
benchmark's h36m rig, with probability ``wild_fraction`` a random wild camera, and with
probability ``noise_fraction`` the benchmark's detector noise (so det2d inputs with missing
joints work). Input: :func:`weakpose.codec.encode_2d`. Output: root-relative camera-frame pose
in metres (×1000 -> mm); loss: mean squared error, as in Martinez et al.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from weakpose.codec import encode_2d, feature_size
from weakpose.data.contracts import Keypoints2D
from weakpose.data.sampling import PairedFileSampler, ViewSampler
from weakpose.engine.config import TrainConfig, setting
from weakpose.engine.optim import adam_with_cosine, optimizer_step
from weakpose.errors import InputError
from weakpose.methods.base import Method, batched
from weakpose.models.lifter import ResidualMLP

MM_PER_UNIT = 1000.0  # network output unit: metres


@dataclass
class SupervisedConfig(TrainConfig):
    steps: int = 12000
    batch_size: int = 256
    lr: float = 2e-3
    lr_final: float = 1e-5          # cosine decay from lr to lr_final over the run
    width: int = setting(1024, minimum=1)
    blocks: int = 2
    dropout: float = 0.25
    norm: str = "batch"             # batch | layer | none
    wild_fraction: float = 0.3      # share of samples seen by random wild cameras
    noise_fraction: float = 0.5     # share of samples with simulated detector noise
    augment: bool = True            # mirror and turn the training poses (ViewSampler.sample)
    truncate_fraction: float = 0.0  # share of samples cut by the image border (data.noise.border_truncation)
    eval_every: int = 2000
    checkpoint_every: int = 2000


class LifterPredictor:
    """2D keypoints -> root-relative camera-frame 3D (mm) with a trained lifter."""

    #: Poses per forward pass: 512 keeps the 1024-wide activations in cache (fastest on 2 cores,
    #: benchmarks/lifter_throughput.py).
    def __init__(self, net: nn.Module, batch_size: int = 512):
        self.net = net.eval()
        self.batch_size = batch_size

    def lift(self, kp: np.ndarray, conf: np.ndarray, K: np.ndarray | None) -> np.ndarray:
        with torch.no_grad():
            feats, _ = encode_2d(torch.from_numpy(kp), torch.from_numpy(conf),
                                 None if K is None else torch.from_numpy(K))
            out = self.net(feats).reshape(len(kp), -1, 3) * MM_PER_UNIT
            out = out - out[:, :1]
        return out.numpy()

    def predict(self, inputs: Keypoints2D) -> dict[str, np.ndarray]:
        if inputs.multiview:
            raise InputError(
                f"{inputs.path}: key 'keypoints_2d': multi-view input [N, C, J, 2]; the lifter takes single "
                "views [N, J, 2]"
            )
        pos = batched(self.lift, [inputs.keypoints_2d, inputs.confidence, inputs.intrinsics], self.batch_size)
        return {"positions_3d": pos.astype(np.float32)}


class SupervisedMethod(Method):
    """Data files: ``--train-paired`` (replaces the CMU-WS pairs; drawn as they are, see
    :class:`~weakpose.data.sampling.PairedFileSampler`), ``--val``."""

    name = "supervised"
    Config = SupervisedConfig
    data_kinds = ("train_paired", "val")

    def __init__(self, config: SupervisedConfig, data_root, device="cpu", dist=None, sources=None):
        from weakpose.engine.distributed import DistInfo

        super().__init__(config, data_root, device, dist or DistInfo(), sources)
        paired = self.sources.train_paired
        self.sampler = ViewSampler(self.data_root) if paired is None else PairedFileSampler(paired)
        self.model = self.nets["lifter"]
        self.opt, self.sched = adam_with_cosine(
            self.nets["lifter"].parameters(), config.lr, config.lr_final, config.steps
        )

    @classmethod
    def build_modules(cls, config: SupervisedConfig) -> dict[str, nn.Module]:
        return {
            "lifter": ResidualMLP(feature_size(17), 17 * 3, config.width, config.blocks, config.dropout, config.norm)
        }

    def optimizers(self):
        return {"adam": self.opt}

    def schedulers(self):
        return {"cosine": self.sched}

    def train_step(self, step: int) -> dict[str, float]:
        c = self.config
        b = self.shard(self.sampler.sample(self.rng, c.batch_size, c.wild_fraction, c.noise_fraction, c.augment,
                                           c.truncate_fraction))
        kp, conf, K = (torch.from_numpy(a).to(self.device) for a in (b.keypoints_2d, b.confidence, b.intrinsics))
        target = torch.from_numpy(b.positions_3d).to(self.device)
        target = (target - target[:, :1]) / MM_PER_UNIT
        feats, _ = encode_2d(kp, conf, K)
        pred = self.model(feats).reshape(len(kp), 17, 3)
        pred = pred - pred[:, :1]
        terms = {"loss": ((pred - target) ** 2).sum(-1),
                 "mpjpe_mm": (pred - target).norm(dim=-1).mean(-1).detach() * MM_PER_UNIT}
        return optimizer_step(terms, "loss", self.opt, self.sched)

    @classmethod
    def make_predictor(cls, config, nets, state) -> LifterPredictor:
        return LifterPredictor(nets["lifter"])


METHOD = SupervisedMethod
