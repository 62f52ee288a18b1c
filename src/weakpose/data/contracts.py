"""Readers and writers of weakpose's npz files (DESIGN.md §4), with validation.

Every problem with an input file raises :class:`InputError` with a one-line message naming
the file, the key and the problem; the CLI prints it and exits with code 2.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from weakpose.errors import InputError  # re-exported: `from weakpose.data.contracts import InputError` keeps working
from weakpose.skeleton import H36M17_NAMES, layout_from_names, to_h36m17

_OTHER_LAYOUTS = "COCO-17, MediaPipe-33 or MPII-16 names, as in weakpose.skeleton.LAYOUTS"


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        raise InputError(f"{path}: file not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise InputError(f"{path}: not a readable npz file ({type(e).__name__}: {e})") from None


def load_npz(path: str | Path) -> dict[str, np.ndarray]:
    """All arrays of an npz file (no pickles); ``InputError`` for a missing or unreadable file."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder, expected an npz file")
    return _load_npz(path)


def _check_numeric(path: Path, key: str, a: np.ndarray) -> None:
    if a.dtype.kind not in "fiub":
        raise InputError(f"{path}: key '{key}': dtype {a.dtype} is not numeric")


def _check_finite(path: Path, key: str, a: np.ndarray, mask: np.ndarray | None = None) -> None:
    bad = ~np.isfinite(a)
    if mask is not None:
        bad &= mask
    if bad.any():
        idx = np.argwhere(bad)[0].tolist()
        raise InputError(f"{path}: key '{key}': contains NaN or inf (first at index {idx})")


@dataclass
class Keypoints2D:
    """A 2D keypoint file: ``keypoints_2d`` [N, (C,) J, 2] px, ``confidence`` [N, (C,) J],
    optional ``intrinsics`` [N, (C,) 3, 3], and every other array (passed through)."""

    keypoints_2d: np.ndarray
    confidence: np.ndarray
    intrinsics: np.ndarray | None
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    path: Path | None = None

    @property
    def num_samples(self) -> int:
        return self.keypoints_2d.shape[0]

    @property
    def multiview(self) -> bool:
        return self.keypoints_2d.ndim == 4

    def per_sample_extras(self) -> dict[str, np.ndarray]:
        """Extra arrays with one entry per sample (to be passed through to predictions)."""
        return {k: v for k, v in self.extras.items() if v.ndim >= 1 and v.shape[0] == self.num_samples}


def validate_keypoints_2d(arrays: dict[str, np.ndarray], path: Path, num_joints: int | None = 17) -> Keypoints2D:
    """Check the 2D contract; returns a :class:`Keypoints2D` (float32, confidence filled in).

    With ``num_joints = 17``, input whose ``joint_names`` are another known layout (COCO-17,
    MediaPipe-33, MPII-16: :data:`weakpose.skeleton.LAYOUTS`) is checked in its own layout,
    then converted to Human3.6M-17 with :func:`weakpose.skeleton.to_h36m17` (a joint made from
    a missing one is missing); ``joint_names`` then become the Human3.6M-17 names.
    """
    names = arrays.get("joint_names")
    layout = layout_from_names(names) if names is not None and names.ndim == 1 else None
    if num_joints == 17 and layout not in (None, "h36m17"):
        src = _validate_keypoints_2d(arrays, path, None)
        kp, conf = to_h36m17(src.keypoints_2d, src.confidence, layout)
        arrays = {**arrays, "keypoints_2d": kp, "confidence": conf, "joint_names": np.array(H36M17_NAMES)}
    return _validate_keypoints_2d(arrays, path, num_joints)


def _validate_keypoints_2d(arrays: dict[str, np.ndarray], path: Path, num_joints: int | None) -> Keypoints2D:
    if "keypoints_2d" not in arrays:
        raise InputError(f"{path}: key 'keypoints_2d': missing (keys present: {', '.join(sorted(arrays)) or 'none'})")
    kp = arrays["keypoints_2d"]
    if kp.dtype.kind not in "fiu":
        raise InputError(f"{path}: key 'keypoints_2d': dtype {kp.dtype} is not numeric")
    if kp.ndim not in (3, 4) or kp.shape[-1] != 2:
        raise InputError(f"{path}: key 'keypoints_2d': shape {kp.shape}, expected [N, J, 2] or [N, C, J, 2]")
    if kp.shape[0] == 0:
        raise InputError(f"{path}: key 'keypoints_2d': no samples")
    J = kp.shape[-2]
    names = arrays.get("joint_names")
    if names is not None and len(names) != J:
        raise InputError(f"{path}: key 'joint_names': {len(names)} names for {J} joints")
    if num_joints is not None:
        if J != num_joints:
            raise InputError(f"{path}: key 'keypoints_2d': {J} joints, expected {num_joints} (Human3.6M-17 order; "
                             f"other layouts need 'joint_names': {_OTHER_LAYOUTS})")
        if names is not None and tuple(str(n) for n in names) != H36M17_NAMES[:J]:
            raise InputError(f"{path}: key 'joint_names': neither the Human3.6M-17 order of DESIGN.md §2 nor a "
                             f"known layout ({_OTHER_LAYOUTS})")
    kp = kp.astype(np.float32)
    if "confidence" in arrays:
        conf = arrays["confidence"]
        _check_numeric(path, "confidence", conf)
        if conf.shape != kp.shape[:-1]:
            raise InputError(f"{path}: key 'confidence': shape {conf.shape}, expected {kp.shape[:-1]}")
        conf = conf.astype(np.float32)
        _check_finite(path, "confidence", conf)
        if (conf < 0).any() or (conf > 1).any():
            raise InputError(f"{path}: key 'confidence': values outside [0, 1]")
        per_sample = conf.reshape(conf.shape[0], -1).max(-1)
        if (per_sample <= 0).any():
            i = int(np.argmax(per_sample <= 0))
            raise InputError(f"{path}: key 'confidence': all-zero confidence for sample {i} (no joint observed)")
    else:
        conf = np.ones(kp.shape[:-1], np.float32)
    _check_finite(path, "keypoints_2d", kp, mask=np.broadcast_to((conf > 0)[..., None], kp.shape))
    kp = np.where((conf > 0)[..., None], kp, 0.0).astype(np.float32)
    if np.abs(kp).max() > 1e5:
        raise InputError(f"{path}: key 'keypoints_2d': values up to {np.abs(kp).max():.3g}, not plausible pixels")
    K = arrays.get("intrinsics")
    if K is not None:
        _check_numeric(path, "intrinsics", K)
        if K.shape[-2:] != (3, 3) or K.shape[:-2] not in ((), kp.shape[:-2]):
            raise InputError(f"{path}: key 'intrinsics': shape {K.shape}, expected [3, 3] or {kp.shape[:-2] + (3, 3)}")
        K = np.broadcast_to(K.astype(np.float32), kp.shape[:-2] + (3, 3)).copy()
        _check_finite(path, "intrinsics", K)
        if (K[..., 0, 0] <= 0).any() or (K[..., 1, 1] <= 0).any():
            raise InputError(f"{path}: key 'intrinsics': focal lengths must be positive")
    extras = {k: v for k, v in arrays.items() if k not in ("keypoints_2d", "confidence", "intrinsics")}
    return Keypoints2D(kp, conf, K, extras, path)


def load_keypoints_2d(path: str | Path, num_joints: int | None = 17) -> Keypoints2D:
    """Read and validate a 2D keypoint file (DESIGN.md §4)."""
    path = Path(path)
    return validate_keypoints_2d(_load_npz(path), path, num_joints)


def validate_positions_3d(a: np.ndarray, path: Path, key: str = "positions_3d", n: int | None = None) -> np.ndarray:
    """Check a ``[N, 17, 3]`` mm array: shape, finiteness and plausible units (bones 20–1000 mm)."""
    _check_numeric(path, key, a)
    if a.ndim != 3 or a.shape[-2:] != (17, 3) or a.shape[0] == 0:
        raise InputError(f"{path}: key '{key}': shape {a.shape}, expected [N, 17, 3] with N ≥ 1")
    if n is not None and a.shape[0] != n:
        raise InputError(f"{path}: key '{key}': {a.shape[0]} samples, expected {n}")
    a = a.astype(np.float32)
    _check_finite(path, key, a)
    from weakpose.skeleton import H36M17

    median_bone = float(np.median(H36M17.bone_lengths(a[: min(len(a), 1000)].astype(np.float64))))
    if not 20.0 <= median_bone <= 1000.0:
        hint = " (metres? weakpose files are in mm)" if median_bone < 20 else ""
        raise InputError(f"{path}: key '{key}': median bone length {median_bone:.3g}, not plausible millimetres{hint}")
    return a


@dataclass
class BenchmarkFile:
    """A benchmark test file: the 2D input plus ground truth and labels."""

    inputs: Keypoints2D
    positions_3d: np.ndarray
    action: np.ndarray | None
    path: Path


def load_benchmark(path: str | Path) -> BenchmarkFile:
    """Read a file holding ground-truth ``positions_3d`` [N, 17, 3] (mm) and optionally 2D."""
    path = Path(path)
    arrays = _load_npz(path)
    if "positions_3d" not in arrays:
        raise InputError(f"{path}: key 'positions_3d': missing (keys present: {', '.join(sorted(arrays))})")
    gt = validate_positions_3d(arrays["positions_3d"], path)
    inputs = validate_keypoints_2d(arrays, path) if "keypoints_2d" in arrays else None
    action = arrays.get("action")
    if action is not None and len(action) != len(gt):
        raise InputError(f"{path}: key 'action': {len(action)} labels for {len(gt)} samples")
    return BenchmarkFile(inputs, gt, action, path)


def load_predictions(path: str | Path) -> dict[str, np.ndarray]:
    """Read a prediction file: ``positions_3d`` [N, 17, 3] mm and optional ``hypotheses`` [N, H, 17, 3]."""
    path = Path(path)
    arrays = _load_npz(path)
    if "positions_3d" not in arrays:
        raise InputError(f"{path}: key 'positions_3d': missing (keys present: {', '.join(sorted(arrays))})")
    out = dict(arrays)
    out["positions_3d"] = validate_positions_3d(arrays["positions_3d"], path)
    if "hypotheses" in arrays:
        h = arrays["hypotheses"]
        _check_numeric(path, "hypotheses", h)
        if h.ndim != 4 or h.shape[0] != len(out["positions_3d"]) or h.shape[-2:] != (17, 3):
            raise InputError(f"{path}: key 'hypotheses': shape {h.shape}, expected [N, H, 17, 3]")
        _check_finite(path, "hypotheses", h)
    return out


PER_FRAME_KEYS: dict[str, tuple[int, ...]] = {"keypoints_2d": (17, 2), "confidence": (17,), "guessed": (17,),
                                              "frame_index": (), "timestamp": ()}
"""Optional per-pose keys of a prediction file (what ``predict --video`` passes through) and
their shape after the sample axis."""


def load_prediction_frames(path: str | Path) -> dict[str, np.ndarray]:
    """:func:`load_predictions` plus the optional per-pose keys (:data:`PER_FRAME_KEYS`) that
    ``weakpose view`` and ``export`` read: numeric, one entry per pose, finite frame numbers and
    times; an optional ``fps`` is one number."""
    path = Path(path)
    out = load_predictions(path)
    n = len(out["positions_3d"])
    for key, tail in PER_FRAME_KEYS.items():
        if key in out:
            a = np.asarray(out[key])
            _check_numeric(path, key, a)
            if a.shape != (n, *tail):
                raise InputError(f"{path}: key '{key}': shape {list(a.shape)}, expected {[n, *tail]}")
            if key in ("frame_index", "timestamp"):
                _check_finite(path, key, a)
    if "fps" in out:
        _check_numeric(path, "fps", np.asarray(out["fps"]))
        if np.size(out["fps"]) != 1:
            raise InputError(f"{path}: key 'fps': shape {list(np.shape(out['fps']))}, expected one number")
    return out


def save_npz_atomic(path: str | Path, **arrays: np.ndarray) -> Path:
    """Write an npz so that the file either appears complete or not at all."""
    from weakpose.atomic import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
    return Path(path)
