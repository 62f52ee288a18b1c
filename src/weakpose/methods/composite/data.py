"""The composite's training data, by source kind, and the batches drawn from it.

:func:`load_sources` is the one place where data enter the composite. Each source kind is
optional and independent:

* ``single_2d``   single-view 2D keypoints ``[N, J, 2]`` + confidences + intrinsics (no 3D);
* ``multiview_2d`` synchronised views of the same instant (:class:`MultiViewSampler`; no 3D,
  no extrinsics);
* ``unpaired_3d`` 3D poses ``[F, J, 3]`` mm that are not paired with any 2D sample;
* ``paired``      2D with their camera-frame 3D (the optional supervised share).

Today every source is ``"cmu-train"`` (the CMU-WS training subjects, as the single-paper methods
use them, via :func:`weakpose.data.benchmark.make_split`) or ``""`` (absent). The typed
``--train-2d/--train-multiview/--train-3d/--train-paired`` options of the training command map
onto these four fields. Test subjects are never read here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from weakpose.data.mocap import TRAIN_SUBJECTS
from weakpose.data.noise import detector_noise
from weakpose.errors import InputError
from weakpose.methods.composite.config import CMU_TRAIN, CompositeConfig
from weakpose.methods.multiview.data import MultiViewSampler


@dataclass
class Keypoints:
    """2D samples of one source: pixels, confidences, intrinsics (and 3D only for ``paired``)."""

    keypoints_2d: np.ndarray            # [N, J, 2] px
    confidence: np.ndarray              # [N, J]
    intrinsics: np.ndarray              # [N, 3, 3]
    positions_3d: np.ndarray | None = None  # [N, J, 3] camera frame mm (paired source only)

    def __len__(self) -> int:
        return len(self.keypoints_2d)


@dataclass
class TrainingSources:
    single_2d: Keypoints | None
    multiview_2d: MultiViewSampler | None
    unpaired_3d: np.ndarray | None      # [F, J, 3] mm
    paired: Keypoints | None

    def present(self) -> set[str]:
        return {k for k in ("single_2d", "multiview_2d", "unpaired_3d", "paired") if getattr(self, k) is not None}


def _check_source(key: str, value: str) -> bool:
    if value in ("", CMU_TRAIN):
        return value == CMU_TRAIN
    raise InputError(f"config: key '{key}': {value!r}; expected {CMU_TRAIN!r} (the CMU-WS training subjects) "
                     "or '' (absent)")


def _split(root, cfg: CompositeConfig, keep_3d: bool) -> Keypoints:
    from weakpose.data.benchmark import make_split

    s = make_split(root, TRAIN_SUBJECTS, rig=cfg.rig, noise=cfg.noise, seed=cfg.seed, stride=cfg.stride)
    return Keypoints(s["keypoints_2d"].astype(np.float32), s["confidence"].astype(np.float32),
                     s["intrinsics"].astype(np.float32), s["positions_3d"].astype(np.float32) if keep_3d else None)


def load_sources(root, cfg: CompositeConfig) -> TrainingSources:
    """The four source kinds of ``cfg`` (CMU-WS training subjects or absent)."""
    from weakpose.data.mocap import load_cmu

    if cfg.rig not in ("h36m", "wild"):
        raise InputError(f"config: key 'rig': {cfg.rig!r}; expected h36m or wild")
    if cfg.noise not in ("gt", "detector"):
        raise InputError(f"config: key 'noise': {cfg.noise!r}; expected gt or detector")
    single = _split(root, cfg, keep_3d=False) if _check_source("single_2d", cfg.single_2d) else None
    multi = (MultiViewSampler(root, TRAIN_SUBJECTS, stride=cfg.stride, seed=cfg.seed)
             if _check_source("multiview_2d", cfg.multiview_2d) else None)
    real = (load_cmu(root, TRAIN_SUBJECTS).positions.astype(np.float32)
            if _check_source("unpaired_3d", cfg.unpaired_3d) else None)
    paired = _split(root, cfg, keep_3d=True) if _check_source("paired", cfg.paired) else None
    return TrainingSources(single, multi, real, paired)


@dataclass
class Views:
    """Lifter inputs of one batch part (float32 tensors): the network reads ``keypoints_2d``
    (with simulated detector noise where drawn), the weak losses use ``labels_2d`` (the source's
    own 2D) with confidence ``label_confidence``."""

    keypoints_2d: torch.Tensor          # [B, (C,) J, 2]
    confidence: torch.Tensor
    labels_2d: torch.Tensor
    label_confidence: torch.Tensor
    intrinsics: torch.Tensor            # [B, (C,) 3, 3]
    positions_3d: torch.Tensor | None = None

    @property
    def flat(self) -> Views:
        """Multi-view [B, C, ...] -> [B*C, ...]."""
        def f(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.reshape(-1, *t.shape[2:])

        return Views(*(f(getattr(self, k)) for k in self.__dataclass_fields__))


@dataclass
class CompositeBatch:
    single: Views | None
    multiview: Views | None             # [B, C, ...]
    real_3d: torch.Tensor | None        # [R, J, 3] mm, drawn independently of the 2D
    paired: Views | None


def _noisy(labels: np.ndarray, conf: np.ndarray, rng: np.random.Generator, fraction: float
           ) -> tuple[np.ndarray, np.ndarray]:
    kp, c = labels.copy(), conf.copy()
    pick = rng.random(kp.shape[0]) < fraction
    if pick.any():
        kp[pick], c_new = detector_noise(labels[pick], rng)
        c[pick] = np.minimum(c[pick], c_new)
    return kp, c


def _views(src: Keypoints, idx: np.ndarray, rng: np.random.Generator, noise_fraction: float) -> Views:
    labels, conf = src.keypoints_2d[idx], src.confidence[idx]
    kp, c = _noisy(labels, conf, rng, noise_fraction)
    t = torch.from_numpy
    return Views(t(kp), t(c), t(labels), t(conf), t(src.intrinsics[idx]),
                 None if src.positions_3d is None else t(src.positions_3d[idx]))


def draw_batch(sources: TrainingSources, cfg: CompositeConfig, rng: np.random.Generator, parts: set[str]
               ) -> CompositeBatch:
    """One batch of the source kinds in ``parts``, sampled with ``rng`` (one generator, so
    resuming and multi-process runs draw the same samples)."""
    single = multi = real = paired = None
    if "single_2d" in parts and sources.single_2d is not None:
        idx = rng.integers(0, len(sources.single_2d), cfg.batch_size)
        single = _views(sources.single_2d, idx, rng, cfg.noise_fraction)
    if "multiview_2d" in parts and sources.multiview_2d is not None:
        b = sources.multiview_2d.sample(rng, cfg.mv_batch_size, cfg.views, cfg.wild_fraction, cfg.noise_fraction)
        t = torch.from_numpy
        multi = Views(t(b.keypoints_2d), t(b.confidence), t(b.labels_2d), torch.ones_like(t(b.confidence)),
                      t(b.intrinsics))
    if "paired" in parts and sources.paired is not None:
        idx = rng.integers(0, len(sources.paired), cfg.batch_size)
        paired = _views(sources.paired, idx, rng, cfg.noise_fraction)
    if "unpaired_3d" in parts and sources.unpaired_3d is not None:
        n = (0 if single is None else len(single.keypoints_2d)) + (
            0 if multi is None else multi.keypoints_2d.shape[0] * multi.keypoints_2d.shape[1])
        real = torch.from_numpy(sources.unpaired_3d[rng.integers(0, len(sources.unpaired_3d), max(n, 2))])
    return CompositeBatch(single, multi, real, paired)
