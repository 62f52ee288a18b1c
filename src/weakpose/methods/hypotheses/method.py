"""Li & Lee, BMVC 2020: weakly supervised generative network for multiple 3D pose hypotheses.

``weakpose train hypotheses`` trains a conditional generator G(x, z), a weak-perspective camera
network and a latent encoder against an MMD-GAN critic on pose + KCS (paper Eq. 4–10), from 2D
poses of the CMU-WS training subjects and an *unpaired* set of their 3D poses aligned to a
torso template. ``weakpose predict`` writes ``hypotheses`` [N, H, 17, 3] and, in
``positions_3d``, the mean-shift mode (Eq. 11; or the zero-code pose with
``selection=zero``), rotated into the camera frame by the camera network and brought to mm by
the bone-length scale (the generator knows the pose only up to scale). See
docs/hypotheses.md; the pieces are in ``core`` (training step, predictor),
``losses`` (Eq. 4–9), ``data`` (template, normalisation) and
``meanshift`` (Eq. 11, FPS).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from weakpose.engine.config import TrainConfig
from weakpose.methods.base import Method
from weakpose.methods.hypotheses.core import (
    CollapseError,
    HypothesesCore,
    HypothesesPredictor,
    HypothesesSettings,
    TrainingData,
    build_networks,
)

__all__ = ["HypothesesConfig", "HypothesesMethod", "METHOD", "CollapseError"]


@dataclass
class HypothesesConfig(HypothesesSettings, TrainConfig):
    """Common engine settings plus :class:`HypothesesSettings` (whose defaults win)."""

    eval_every: int = 2000
    checkpoint_every: int = 1000
    log_every: int = 50
    monitor_samples: int = 1024
    # checkpoints written before two-sided training existed have a one-sided generator
    FORMER_DEFAULTS: ClassVar[dict[str, Any]] = {"camera_sides": 1}


class HypothesesMethod(Method):
    """Li & Lee 2020. Data files: ``--train-2d`` (the generator's 2D), ``--train-3d`` (the
    critic's unpaired real poses), ``--val``; a kind not given keeps its CMU-WS default."""

    name = "hypotheses"
    Config = HypothesesConfig
    data_kinds = ("train_2d", "train_3d", "val")
    single_process_reason = ("its losses are not means over independent samples (the MMD critic compares the "
                             "generated and real batches as wholes, the diversity term pairs samples), so a "
                             "batch split over processes changes the objective")

    def __init__(self, config: HypothesesConfig, data_root, device: str = "cpu", dist=None, sources=None):
        from weakpose.engine.distributed import DistInfo

        config.validate()  # before the networks are built: a bad width or side count is a config error
        super().__init__(config, data_root, device, dist or DistInfo(), sources)
        data = TrainingData.from_sources(self.data_root, config, self.sources)
        self.core = HypothesesCore(config, self.data_root, str(self.device), nets=self.nets, data=data)
        self.own_generator("core", self.core.gen)

    @classmethod
    def build_modules(cls, config: HypothesesConfig) -> dict[str, torch.nn.Module]:
        generator, critic = build_networks(config)
        return {"generator": generator, "critic": critic}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"generator": self.core.opt_g, "critic": self.core.opt_d}

    def train_step(self, step: int) -> dict[str, float]:
        return self.core.step(step)

    def predictor_state(self) -> dict[str, Any]:
        return self.core.predictor_state()

    def extra_state(self) -> dict[str, Any]:
        return self.core.extra_state()

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.core.load_extra_state(state)

    @classmethod
    def make_predictor(cls, config: HypothesesConfig, nets: dict[str, torch.nn.Module],
                       state: dict[str, Any]) -> HypothesesPredictor:
        return HypothesesPredictor(config, nets["generator"], state)

    def evaluate(self) -> dict[str, float]:
        """The engine's monitor metrics plus the diversity (Table 4's STD, template mm)."""
        out = super().evaluate()
        out["monitor/diversity_std_mm"] = self.core.diversity_mm(self.core.monitor_x, self.core.monitor_vis)
        return out


METHOD = HypothesesMethod
