"""The interface every trainable method implements, used by the engine and the CLI.

A method owns its networks (built from its config alone, so a checkpoint can rebuild them),
its optimisers, one training step on a batch it draws itself, and a predictor that turns a
2D keypoint file into root-relative camera-frame 3D poses in mm (DESIGN.md §4).

A method with a keypoint-input and an image-input variant (multiview, distill, flows-ws) is
registered as one :class:`Variants`: a config field ``variant`` picks the ``Method`` subclass.
This is the only mechanism for variants.

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

import importlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
import torch

from weakpose.data.contracts import Keypoints2D
from weakpose.data.sources import DataSources, check_kinds
from weakpose.engine.config import TrainConfig
from weakpose.engine.distributed import DistInfo, shard
from weakpose.engine.phases import MAIN_PHASE, Phase
from weakpose.engine.rng import Generator
from weakpose.errors import InputError


class Predictor(Protocol):
    """Something that lifts a 2D keypoint file to 3D."""

    def predict(self, inputs: Keypoints2D) -> dict[str, np.ndarray]:
        """Returns at least ``positions_3d`` [N, 17, 3] (mm, camera frame, root-relative);
        multi-hypothesis methods add ``hypotheses`` [N, H, 17, 3]."""
        ...


@runtime_checkable
class CropPredictor(Protocol):
    """Something that lifts person crops to 3D: the image-input variants (multi-view image
    network, image-input distilled student, flows-ws image network). ``crop_size`` is the side
    of the square crops it was trained on (``None``: this instance lifts 2D keypoints after all);
    :mod:`weakpose.inference.prediction` cuts the crops."""

    crop_size: int | None

    def predict_crops(self, rgb: torch.Tensor, crop: torch.Tensor, K: torch.Tensor) -> dict[str, np.ndarray]:
        """``rgb`` [N, S, S, 3] uint8 crops, ``crop`` [N, 3, 3] full-image px -> crop px (an
        unrotated scale and shift), ``K`` [N, 3, 3] the full image's camera. Returns at least
        ``positions_3d`` [N, 17, 3] (mm, camera frame of the full image, root-relative) and
        ``keypoints_2d`` [N, 17, 2] (crop px)."""
        ...


class Method:
    """Base class of the methods in :mod:`weakpose.methods.registry`."""

    name: ClassVar[str] = ""
    Config: ClassVar[type] = TrainConfig
    variant: ClassVar[str | None] = None   # the ``config.variant`` this class implements (see Variants)
    #: Kinds of user data file (:data:`weakpose.data.sources.KINDS`) the method can train from;
    #: ``weakpose train`` refuses any other kind with a message naming these. A kind given
    #: replaces the CMU-WS default of that kind (the method reads ``self.sources``). Each
    #: variant declares its own (see :meth:`method_class`).
    data_kinds: ClassVar[tuple[str, ...]] = ("val",)
    #: Non-empty for a method that refuses torchrun: why its step cannot be split over processes.
    single_process_reason: ClassVar[str] = ""

    def __init__(self, config: Any, data_root: Path, device: str = "cpu", dist: DistInfo = DistInfo(),
                 sources: DataSources | None = None):
        if self.variant is not None and config.variant != self.variant:
            raise ValueError(f"{type(self).__name__} implements variant {self.variant!r}, the config asks for "
                             f"{config.variant!r}; build methods through the registry's METHOD")
        self.config = config
        self.data_root = Path(data_root)
        self.sources = sources if sources is not None else DataSources()
        self.check_data_kinds(self.sources.given)
        self.device = torch.device(device)
        self.dist = dist
        self._generators: dict[str, Generator] = {}
        # One generator for all data sampling, identical on every rank (see engine.distributed).
        self.rng = self.own_generator("sampling", np.random.default_rng(config.seed))
        self.nets: dict[str, torch.nn.Module] = {
            k: m.to(self.device) for k, m in self.build_modules(config).items()
        }
        self._monitor = None

    @classmethod
    def method_class(cls, config: Any) -> type[Method]:
        """The class that trains ``config``: this one (:class:`Variants` answers the same question
        by ``config.variant``), so the trainer reads :attr:`data_kinds` the same way for both."""
        return cls

    @classmethod
    def check_data_kinds(cls, given: Iterable[str]) -> None:
        """InputError naming :attr:`data_kinds` when a data file of another kind is given."""
        check_kinds(cls.name if cls.variant is None else f"{cls.name} variant={cls.variant}", cls.data_kinds, given)

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

    def run_phases_before_training(self) -> dict[str, dict[str, float]]:
        """Run every phase before ``train`` here, without checkpoints or logs, for scripts and
        tests that then call :meth:`train_step` themselves (``weakpose train`` runs all phases
        through the engine). Returns each phase's last logged scalars."""
        last: dict[str, dict[str, float]] = {}
        for ph in self.phases():
            if ph.name == MAIN_PHASE:
                break
            if ph.begin is not None:
                ph.begin()
            for k in range(ph.steps):
                last[ph.name] = ph.step(k)
        return last

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
        # every module's own mode comes back afterwards: a frozen prior or teacher stays in eval mode
        modes = [(m, m.training) for net in self.nets.values() for m in net.modules()]
        for net in self.nets.values():
            net.eval()
        with torch.no_grad():
            pred = self.predictor().predict(inputs)["positions_3d"]
        for m, training in modes:
            m.train(training)
        return {"monitor/mpjpe": float(mpjpe(pred, gt).mean()), "monitor/pa_mpjpe": float(pa_mpjpe(pred, gt).mean())}


def freeze(net: torch.nn.Module) -> None:
    """Evaluation mode and no parameter gradients: a prior or teacher that a method trains
    against (or a network it only evaluates)."""
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)


def _concatenate(parts: list) -> Any:
    return torch.cat(parts) if isinstance(parts[0], torch.Tensor) else np.concatenate(parts)


@torch.no_grad()
def batched(fn, arrays: list, batch_size: int = 4096) -> Any:
    """Evaluate ``fn`` without gradients over the first axis of ``arrays`` (numpy arrays or
    torch tensors; ``None`` is passed through) in chunks of ``batch_size`` and concatenate.

    The result has the structure of ``fn``'s output: an array, a tuple of arrays or a dict of
    arrays (numpy or torch, concatenated as such)."""
    n = len(next(a for a in arrays if a is not None))
    outs = [fn(*(None if a is None else a[i:i + batch_size] for a in arrays)) for i in range(0, n, batch_size)]
    if isinstance(outs[0], dict):
        return {k: _concatenate([o[k] for o in outs]) for k in outs[0]}
    if isinstance(outs[0], tuple):
        return tuple(_concatenate(list(parts)) for parts in zip(*outs))
    return _concatenate(outs)


class Variants:
    """One registered method whose implementation is picked by ``config.variant``.

    The keypoint-input and image-input variants of a paper's method share a name, a config class
    and the CLI (``weakpose train multiview variant=image``) but are separate ``Method``
    subclasses (each declaring ``variant``). The registry hands out this object where it would
    hand out a ``Method`` subclass; it offers what the trainer and the loaders use: ``name``,
    ``Config``, calling it builds the method, ``load_predictor``. ``classes`` maps each variant to
    ``"module:Class"``, imported on first use, so the keypoint variant never imports the image
    stack (rendering, backbones).
    """

    def __init__(self, name: str, Config: type, classes: dict[str, str]) -> None:
        self.name, self.Config, self.classes = name, Config, dict(classes)

    def method_class(self, config: Any) -> type[Method]:
        """The ``Method`` subclass for ``config.variant``."""
        if config.variant not in self.classes:
            raise InputError(f"config: key 'variant': {config.variant!r} is not a variant of {self.name} "
                             f"(choose {', '.join(self.classes)})")
        module, _, attribute = self.classes[config.variant].partition(":")
        return getattr(importlib.import_module(module), attribute)

    def __call__(self, config: Any, *args: Any, **kwargs: Any) -> Method:
        return self.method_class(config)(config, *args, **kwargs)

    def load_predictor(self, checkpoint: dict[str, Any]) -> Predictor:
        from weakpose.engine.config import config_from_dict

        return self.method_class(config_from_dict(self.Config, checkpoint["config"])).load_predictor(checkpoint)

    def __repr__(self) -> str:
        return f"Variants({self.name!r}, {', '.join(f'{k}={v}' for k, v in self.classes.items())})"
