"""CMU-WS benchmark generation, protocol v1 (DESIGN.md §5).

The same generator produces the fixed test files and, from the training subjects, the 2D (and,
for the supervised reference only, paired 3D) training data of every method.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from weakpose.camera import load_rig, project, sample_wild_cameras
from weakpose.data.mocap import center_horizontally, load_cmu
from weakpose.data.noise import border_truncation, detector_noise
from weakpose.data.paths import h36m_rig
from weakpose.skeleton import H36M17_NAMES

PROTOCOL_VERSION = 1


def _rig_arrays(root: Path, rig: str | list) -> dict[str, np.ndarray]:
    cams = load_rig(h36m_rig(root)) if rig == "h36m" else rig
    return {
        "K": np.stack([c.K for c in cams]), "R": np.stack([c.R for c in cams]),
        "t": np.stack([c.t for c in cams]),
        "image_size": np.stack([np.asarray(c.image_size, np.int32) for c in cams]),
    }


def generate(
    positions_world: np.ndarray,
    rig: str | list = "h36m",
    noise: str = "gt",
    seed: int = 0,
    multiview: bool = False,
    num_views: int = 4,
    root: Path | None = None,
) -> dict[str, np.ndarray]:
    """2D views of world poses ``[F, 17, 3]`` (already centred by :func:`center_horizontally`).

    Args:
        rig: ``"h36m"`` (the 4 cameras of ``rig_h36m.json``), ``"wild"`` (random cameras,
            one per sample, or ``num_views`` per frame when ``multiview``) or a list of
            :class:`~weakpose.camera.PerspectiveCamera`.
        noise: ``"gt"`` (exact projections) or ``"detector"`` (:func:`detector_noise`).
        multiview: ``False``: samples are (frame, camera) pairs ordered frame-major, arrays
            ``[N, J, ...]``. ``True``: one sample per frame with a view axis ``[F, C, J, ...]``.
    Returns:
        ``keypoints_2d``, ``confidence``, ``intrinsics``, ``positions_3d`` (camera frame, mm,
        absolute), ``camera_index``, ``image_size``, ``frame_index`` and, for multi-view,
        ``rotations`` / ``translations`` (extrinsics, which weakly supervised methods must not use
        unless their setting says so).
    """
    rng = np.random.default_rng(seed)
    F = len(positions_world)
    if rig == "wild":
        C = num_views if multiview else 1
        cams = sample_wild_cameras(rng, np.repeat(positions_world[:, 0], C, axis=0))
        K = cams["K"].reshape(F, C, 3, 3)
        R = cams["R"].reshape(F, C, 3, 3)
        t = cams["t"].reshape(F, C, 3)
        size = cams["image_size"].reshape(F, C, 2)
        cam_index = np.zeros((F, C), np.int16)
    else:
        if root is None and rig == "h36m":
            raise ValueError("the h36m rig needs the data root")
        r = _rig_arrays(root, rig)
        C = len(r["K"])
        K, R, t, size = (np.broadcast_to(r[k], (F,) + r[k].shape) for k in ("K", "R", "t", "image_size"))
        cam_index = np.broadcast_to(np.arange(C, dtype=np.int16), (F, C))
    X = positions_world.astype(np.float64)
    cam3d = np.einsum("fcij,fkj->fcki", R, X) + t[:, :, None, :]            # [F, C, J, 3]
    kp = project(cam3d, K)
    if noise == "gt":
        conf = np.ones(kp.shape[:-1], np.float32)
        kp = kp.astype(np.float32)
    elif noise == "detector":
        kp, conf = detector_noise(kp, rng)
    else:
        raise ValueError(f"unknown noise model {noise!r} (gt or detector)")
    out = {
        "keypoints_2d": kp, "confidence": conf, "intrinsics": K.astype(np.float32),
        "positions_3d": cam3d.astype(np.float32), "camera_index": cam_index.astype(np.int16),
        "image_size": size.astype(np.int32),
    }
    if multiview:
        out["rotations"] = R.astype(np.float32)
        out["translations"] = t.astype(np.float32)
        out["frame_index"] = np.arange(F, dtype=np.int32)
    else:
        out = {k: v.reshape((F * C,) + v.shape[2:]) for k, v in out.items()}
        out["frame_index"] = np.repeat(np.arange(F, dtype=np.int32), C)
    return out


def make_split(
    root: Path,
    subjects: tuple[int, ...] | list[int],
    rig: str = "h36m",
    noise: str = "gt",
    seed: int = 0,
    multiview: bool = False,
    stride: int = 1,
    num_views: int = 4,
) -> dict[str, np.ndarray]:
    """Benchmark-layout samples of the given subjects (every ``stride``-th frame).

    Adds ``subject``, ``action``, ``sequence``, ``joint_names`` and a JSON ``protocol`` string
    to :func:`generate`'s arrays. ``make_split(root, (2, 9), "h36m", "gt", seed=0)`` rebuilds
    ``cmu_test_h36mrig_gt2d.npz``.
    """
    mocap = load_cmu(root, subjects)
    sel = np.arange(0, len(mocap), stride)
    world = center_horizontally(mocap.positions[sel])
    out = generate(world, rig, noise, seed, multiview, num_views, root)
    frame = out["frame_index"]
    out["subject"] = mocap.subject[sel][frame].astype(np.int16)
    out["action"] = mocap.action[sel][frame].astype("<U16")
    out["sequence"] = mocap.sequence[sel][frame].astype("<U16")
    out["joint_names"] = np.asarray(H36M17_NAMES)
    out["protocol"] = np.asarray(json.dumps({
        "version": PROTOCOL_VERSION, "rig": rig if isinstance(rig, str) else "custom",
        "noise": noise, "seed": seed, "subjects": [int(s) for s in subjects], "stride": stride,
        "units": "mm", "camera": "opencv x-right y-down z-forward",
    }))
    return out


def training_monitor_split(root: Path, samples: int, seed: int = 0) -> dict[str, np.ndarray]:
    """The default training monitor (``weakpose train`` without ``--val``): ``samples`` fixed
    random frames of the **training** subjects, each seen by one random camera of the h36m rig,
    exact 2D (``keypoints_2d``, ``confidence``, ``intrinsics``) and camera-frame ``positions_3d``.

    The frames are not held out of training: the monitor tracks how well the training subjects'
    poses are recovered (for the weakly supervised methods, whose training never reads 3D, that
    is their depth from 2D), never the test subjects (DESIGN.md §5). A held-out estimate comes
    from ``--val FILE``.
    """
    from weakpose.data.mocap import TRAIN_SUBJECTS

    mocap = load_cmu(root, TRAIN_SUBJECTS)
    rng = np.random.default_rng(seed)
    frames = np.sort(rng.choice(len(mocap), min(len(mocap), samples), replace=False))
    views = generate(center_horizontally(mocap.positions[frames]), "h36m", "gt", seed, root=root)
    C = len(views["keypoints_2d"]) // len(frames)
    rows = np.arange(len(frames)) * C + rng.integers(0, C, len(frames))
    return {k: views[k][rows] for k in ("keypoints_2d", "confidence", "intrinsics", "positions_3d")}


def truncate_split(arrays: dict[str, np.ndarray], seed: int = 0) -> dict[str, np.ndarray]:
    """A single-view split with every body cut by its image border
    (:func:`~weakpose.data.noise.border_truncation` with fraction 1, generator seeded with
    ``seed + 1000`` so it does not repeat the noise draws): ``keypoints_2d`` and ``confidence``
    lose the cut joints, ``truncated`` [N, 17] marks them, and the protocol string says so."""
    rng = np.random.default_rng(seed + 1000)
    kp, conf, cut = border_truncation(arrays["keypoints_2d"], arrays["confidence"], arrays["image_size"], rng, 1.0)
    out = dict(arrays, keypoints_2d=kp, confidence=conf, truncated=cut)
    protocol = json.loads(str(arrays["protocol"]))
    protocol["truncation"] = {"fraction": 1.0, "seed": seed + 1000, "function": "weakpose.data.noise.border_truncation"}
    out["protocol"] = np.asarray(json.dumps(protocol))
    return out
