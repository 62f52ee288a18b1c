"""The composite's training data, by source kind, and the batches drawn from it.

:func:`training_sources` is the one place where data enter the composite. Each source kind is
optional and independent:

* ``single_2d``   single-view 2D keypoints ``[N, J, 2]`` + confidences + intrinsics (no 3D);
* ``multiview_2d`` views of the same instant (:class:`MultiViewSampler` of the CMU-WS rigs, or a
  ``--train-multiview`` :class:`~weakpose.data.sources.MultiViewSet`; no 3D, no extrinsics);
* ``unpaired_3d`` 3D poses ``[F, J, 3]`` mm that are not paired with any 2D sample;
* ``paired``      2D with their camera-frame 3D (the optional supervised share).

A user file of a kind (:class:`~weakpose.data.sources.DataSources`: ``--train-2d`` ->
``single_2d``, ``--train-multiview`` -> ``multiview_2d``, ``--train-3d`` -> ``unpaired_3d``,
``--train-paired`` -> ``paired``) replaces the CMU-WS default of that kind; a kind without a
file follows its config key: ``"cmu-train"`` (the CMU-WS training subjects, as the single-paper
methods use them, via :func:`weakpose.data.benchmark.make_split`) or ``""`` (absent). 2D files
without intrinsics get the default camera (:func:`weakpose.camera.default_intrinsics`; for
multi-view files the multiview method's :func:`~weakpose.methods.multiview.method.camera_rows`).
Test subjects are never read here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from weakpose.camera import default_intrinsics
from weakpose.data.contracts import Keypoints2D
from weakpose.data.mocap import TRAIN_SUBJECTS
from weakpose.data.noise import detector_noise
from weakpose.data.sources import DataSources, MultiViewSet
from weakpose.errors import InputError
from weakpose.methods.composite.config import CMU_TRAIN, CompositeConfig
from weakpose.methods.multiview.data import MultiViewSampler, detections_batch

#: the composite's source kind that each kind of user data file (``weakpose train --train-*``) replaces
FILE_KINDS: dict[str, str] = {"train_2d": "single_2d", "train_multiview": "multiview_2d", "train_3d": "unpaired_3d",
                              "train_paired": "paired"}


@dataclass
class Keypoints:
    """2D samples of one source: pixels, confidences, intrinsics (and 3D only for ``paired``)."""

    keypoints_2d: np.ndarray            # [N, J, 2] px
    confidence: np.ndarray              # [N, J]
    intrinsics: np.ndarray              # [N, 3, 3]
    positions_3d: np.ndarray | None = None  # [N, J, 3] camera frame mm (paired source only)

    def __len__(self) -> int:
        return len(self.keypoints_2d)

    @classmethod
    def from_file(cls, kp: Keypoints2D, positions_3d: np.ndarray | None = None) -> Keypoints:
        """A ``--train-2d`` / ``--train-paired`` file (intrinsics: the file's, else the default camera)."""
        K = kp.intrinsics
        if K is None:
            K = default_intrinsics(kp.keypoints_2d, kp.confidence, kp.extras.get("image_size"))
        return cls(kp.keypoints_2d, kp.confidence, K, None if positions_3d is None else np.asarray(positions_3d))

    def as_keypoints_2d(self) -> Keypoints2D:
        """The 2D alone (no 3D), e.g. as the ``--train-2d`` source of the in-phase NRSfM teacher."""
        return Keypoints2D(self.keypoints_2d, self.confidence, self.intrinsics)


@dataclass
class TrainingSources:
    single_2d: Keypoints | None
    multiview_2d: MultiViewSampler | MultiViewSet | None
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


def training_sources(root, cfg: CompositeConfig, files: DataSources | None = None) -> TrainingSources:
    """The four source kinds: the user's file of a kind where ``files`` has one (it replaces the
    CMU-WS default of that kind), else ``cfg``'s key (CMU-WS training subjects or absent)."""
    from weakpose.data.mocap import load_cmu
    from weakpose.methods.multiview.method import camera_rows

    files = files or DataSources()
    if cfg.rig not in ("h36m", "wild"):
        raise InputError(f"config: key 'rig': {cfg.rig!r}; expected h36m or wild")
    if cfg.noise not in ("gt", "detector"):
        raise InputError(f"config: key 'noise': {cfg.noise!r}; expected gt or detector")
    use_cmu = {kind: _check_source(kind, getattr(cfg, kind)) for kind in FILE_KINDS.values()}
    if files.train_2d is not None:
        single = Keypoints.from_file(files.train_2d)
    else:
        single = _split(root, cfg, keep_3d=False) if use_cmu["single_2d"] else None
    if files.train_multiview is not None:
        multi = camera_rows(files.train_multiview)
    else:
        multi = MultiViewSampler(root, TRAIN_SUBJECTS, stride=cfg.stride, seed=cfg.seed) if use_cmu["multiview_2d"] \
            else None
    if files.train_3d is not None:
        real = np.asarray(files.train_3d, np.float32)
    else:
        real = load_cmu(root, TRAIN_SUBJECTS).positions.astype(np.float32) if use_cmu["unpaired_3d"] else None
    if files.train_paired is not None:
        paired = Keypoints.from_file(files.train_paired.inputs, files.train_paired.positions_3d)
    else:
        paired = _split(root, cfg, keep_3d=True) if use_cmu["paired"] else None
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
        if isinstance(sources.multiview_2d, MultiViewSet):
            # detections: input and 2D label at once, phi = their confidence (0 = missing view/joint)
            b = detections_batch(*sources.multiview_2d.sample(rng, cfg.mv_batch_size, cfg.views))
        else:
            b = sources.multiview_2d.sample(rng, cfg.mv_batch_size, cfg.views, cfg.wild_fraction, cfg.noise_fraction)
        t = torch.from_numpy
        phi = torch.ones_like(t(b.confidence)) if b.label_confidence is None else t(b.label_confidence)
        multi = Views(t(b.keypoints_2d), t(b.confidence), t(b.labels_2d), phi, t(b.intrinsics))
    if "paired" in parts and sources.paired is not None:
        idx = rng.integers(0, len(sources.paired), cfg.batch_size)
        paired = _views(sources.paired, idx, rng, cfg.noise_fraction)
    if "unpaired_3d" in parts and sources.unpaired_3d is not None:
        n = (0 if single is None else len(single.keypoints_2d)) + (
            0 if multi is None else multi.keypoints_2d.shape[0] * multi.keypoints_2d.shape[1])
        real = torch.from_numpy(sources.unpaired_3d[rng.integers(0, len(sources.unpaired_3d), max(n, 2))])
    return CompositeBatch(single, multi, real, paired)
