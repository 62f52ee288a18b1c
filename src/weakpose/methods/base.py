"""The interface every trainable method implements, used by the engine and the CLI.

A method owns its networks (built from its config alone, so a checkpoint can rebuild them),
its optimisers, one training step on a batch it draws itself, and a predictor that turns a
2D keypoint file into root-relative camera-frame 3D poses in mm (DESIGN.md §4).

What the engine promises for every method, and what a method does for it:

* **exact resume**: every random generator the method uses is declared with
  :meth:`Method.own_generator` (``self.rng`` is); the engine saves and restores them all.
  Other state that training changes outside networks, optimisers and schedulers goes through
  :meth:`Method.extra_state` / :meth:`Method.load_extra_state`.
* **multi-process training** (torchrun): the step draws the global batch with the method's
  generators (identical on every rank), keeps :meth:`Method.shard` of it, and updates through
  :func:`weakpose.engine.optim.optimizer_step` (gradients averaged over the ranks before
  clipping). :meth:`Method.sharded_batch_sizes` names the batch sizes that must split evenly.
  A method that cannot be split this way sets ``single_process_reason``.
* **phases**: :meth:`Method.phases` (default: one ``train`` phase of ``config.steps`` steps of
  :meth:`Method.train_step`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import torch

from weakpose.data.contracts import Keypoints2D
from weakpose.engine.config import TrainConfig
from weakpose.engine.distributed import DistInfo, shard
from weakpose.engine.phases import MAIN_PHASE, Phase
from weakpose.engine.rng import Generator


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
    #: Non-empty for a method that refuses torchrun: why its step cannot be split over processes.
    single_process_reason: ClassVar[str] = ""

    def __init__(self, config: Any, data_root: Path, device: str = "cpu", dist: DistInfo = DistInfo()):
        self.config = config
        self.data_root = Path(data_root)
        self.device = torch.device(device)
        self.dist = dist
        self._generators: dict[str, Generator] = {}
        # One generator for all data sampling, identical on every rank (see engine.distributed).
        self.rng = self.own_generator("sampling", np.random.default_rng(config.seed))
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

    def extra_state(self) -> dict[str, Any]:
        """State besides networks, optimisers, schedulers and generators that training changes
        and resuming needs (tensors and plain values)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`extra_state`."""

    def phases(self) -> tuple[Phase, ...]:
        """The phases of a run, in order (see :mod:`weakpose.engine.phases`)."""
        return (Phase(MAIN_PHASE, self.config.steps, self.train_step),)

    def sharded_batch_sizes(self) -> dict[str, int]:
        """Config keys and values of the global batch sizes that :meth:`shard` splits; each must
        be a multiple of the number of processes."""
        return {"batch_size": self.config.batch_size}

    # --- provided ---------------------------------------------------------------------------
    def own_generator(self, name: str, generator: Generator) -> Generator:
        """Declare a random generator the method draws from while training (numpy ``Generator``
        or ``torch.Generator``, also one inside a sampler); the engine checkpoints its state.
        Returns ``generator``."""
        if name in self._generators and self._generators[name] is not generator:
            raise ValueError(f"{type(self).__name__}: generator name {name!r} declared twice")
        self._generators[name] = generator
        return generator

    def generators(self) -> dict[str, Generator]:
        """The declared generators by name."""
        return dict(self._generators)

    def global_count(self, count: float | torch.Tensor) -> float | torch.Tensor:
        """The normaliser of a weighted mean over the global batch (``count``: the global sum of
        the weights) for one process's share: the processes' average of ``share_sum /
        global_count(count)`` is the global mean (``count`` itself in one process)."""
        return count / self.dist.world_size

    def shard(self, batch: Any) -> Any:
        """This process's share of a global batch (the whole batch in one process; see
        :func:`weakpose.engine.distributed.shard`)."""
        return shard(batch, self.dist)

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

    def monitor_set(self):
        """A fixed subset of ``cmu_test_h36mrig_gt2d.npz`` scored while training, for monitoring
        only (runs are never selected on it; the final model is the last step's)."""
        if self._monitor is None:
            from weakpose.data.contracts import load_benchmark
            from weakpose.data.paths import benchmark_file

            bench = load_benchmark(benchmark_file(self.data_root, "h36mrig_gt2d"))
            n = len(bench.positions_3d)
            idx = np.random.default_rng(0).choice(n, min(n, self.config.monitor_samples), replace=False)
            idx.sort()
            inp = bench.inputs
            sub = Keypoints2D(inp.keypoints_2d[idx], inp.confidence[idx],
                              None if inp.intrinsics is None else inp.intrinsics[idx])
            self._monitor = (sub, bench.positions_3d[idx])
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
