"""The interface every trainable method implements, used by the engine and the CLI.

A method owns its networks (built from its config alone, so a checkpoint can rebuild them),
its optimisers, one training step on a batch it draws itself, and a predictor that turns a
2D keypoint file into root-relative camera-frame 3D poses in mm (DESIGN.md §4).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import torch

from weakpose.data.contracts import Keypoints2D
from weakpose.data.sources import DataSources
from weakpose.engine.config import TrainConfig
from weakpose.engine.distributed import DistInfo


class Predictor(Protocol):
    """Something that lifts a 2D keypoint file to 3D."""

    def predict(self, inputs: Keypoints2D) -> dict[str, np.ndarray]:
        """Returns at least ``positions_3d`` [N, 17, 3] (mm, camera frame, root-relative);
        multi-hypothesis methods add ``hypotheses`` [N, H, 17, 3]."""
        ...


class Method:
    """Base class of the methods in :mod:`weakpose.methods.registry`."""

    name: ClassVar[str] = ""
    Config: ClassVar[type] = TrainConfig
    #: Kinds of user data file (:data:`weakpose.data.sources.KINDS`) the method can train from;
    #: ``weakpose train`` refuses any other kind with a message naming these. A kind given
    #: replaces the CMU-WS default of that kind (the method reads ``self.sources``).
    data_kinds: ClassVar[tuple[str, ...]] = ("val",)

    def __init__(self, config: Any, data_root: Path, device: str = "cpu", dist: DistInfo = DistInfo(),
                 sources: DataSources | None = None):
        self.config = config
        self.data_root = Path(data_root)
        self.sources = sources if sources is not None else DataSources()
        self.device = torch.device(device)
        self.dist = dist
        # One generator for all data sampling, identical on every rank (see engine.distributed).
        self.rng = np.random.default_rng(config.seed)
        self.nets: dict[str, torch.nn.Module] = {
            k: m.to(self.device) for k, m in self.build_modules(config).items()
        }
        self._monitor = None

    # --- to implement -----------------------------------------------------------------------
    @classmethod
    def build_modules(cls, config: Any) -> dict[str, torch.nn.Module]:
        """The networks, built from the config alone."""
        raise NotImplementedError

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def schedulers(self) -> dict[str, Any]:
        return {}

    def train_step(self, step: int) -> dict[str, float]:
        """One optimisation step on a batch drawn with ``self.rng``; returns scalars to log."""
        raise NotImplementedError

    def predictor_state(self) -> dict[str, Any]:
        """Tensors/plain values the predictor needs besides the networks (e.g. statistics)."""
        return {}

    @classmethod
    def make_predictor(cls, config: Any, nets: dict[str, torch.nn.Module], state: dict[str, Any]) -> Predictor:
        raise NotImplementedError

    # --- provided ---------------------------------------------------------------------------
    def predictor(self) -> Predictor:
        return self.make_predictor(self.config, self.nets, self.predictor_state())

    @classmethod
    def load_predictor(cls, checkpoint: dict[str, Any]) -> Predictor:
        from weakpose.engine.config import config_from_dict

        config = config_from_dict(cls.Config, checkpoint["config"])
        nets = cls.build_modules(config)
        for name, net in nets.items():
            net.load_state_dict(checkpoint["modules"][name])
            net.eval()
        return cls.make_predictor(config, nets, checkpoint.get("predictor_state", {}))

    def monitor_set(self) -> tuple[Keypoints2D, np.ndarray]:
        """2D inputs and 3D ground truth scored while training, for monitoring only (runs are
        never selected on it; the final model is the last step's): ``monitor_samples`` fixed
        samples of the user's ``--val`` file, or by default of the training subjects seen by the
        h36m rig (:func:`weakpose.data.benchmark.training_monitor_split`). Never test subjects."""
        if self._monitor is None:
            n_max = self.config.monitor_samples
            if self.sources.val is not None:
                inp, gt = self.sources.val.inputs, self.sources.val.positions_3d
                idx = np.sort(np.random.default_rng(0).choice(len(gt), min(len(gt), n_max), replace=False))
                sub = Keypoints2D(np.asarray(inp.keypoints_2d[idx]), np.asarray(inp.confidence[idx]),
                                  None if inp.intrinsics is None else np.asarray(inp.intrinsics[idx]))
                self._monitor = (sub, np.asarray(gt[idx]))
            else:
                from weakpose.data.benchmark import training_monitor_split

                s = training_monitor_split(self.data_root, n_max)
                self._monitor = (Keypoints2D(s["keypoints_2d"], s["confidence"], s["intrinsics"]), s["positions_3d"])
        return self._monitor

    def evaluate(self) -> dict[str, float]:
        """MPJPE and PA-MPJPE of the current networks on :meth:`monitor_set`."""
        from weakpose.metrics import mpjpe, pa_mpjpe

        inputs, gt = self.monitor_set()
        for net in self.nets.values():
            net.eval()
        with torch.no_grad():
            pred = self.predictor().predict(inputs)["positions_3d"]
        for net in self.nets.values():
            net.train()
        return {"monitor/mpjpe": float(mpjpe(pred, gt).mean()), "monitor/pa_mpjpe": float(pa_mpjpe(pred, gt).mean())}


def batched(fn, arrays: list[np.ndarray], batch_size: int = 4096) -> list[np.ndarray]:
    """Apply ``fn`` (numpy in, tuple/array out) over the first axis in chunks and concatenate."""
    n = len(arrays[0])
    outs = []
    for i in range(0, n, batch_size):
        o = fn(*(a[i : i + batch_size] if a is not None else None for a in arrays))
        outs.append(o if isinstance(o, tuple) else (o,))
    return [np.concatenate(parts) for parts in zip(*outs)]
