"""MPI-INF-3DHP (Mehta et al., 3DV 2017) -> weakpose 2D/3D files, and the benchmark's PCK/AUC protocol.

Sources (vcai.mpi-inf.mpg.de/3dhp-dataset, licence required)
-------------------------------------------------------------
Training set, ``<root>/S<k>/Seq<m>/``:
    ``annot.mat`` (MATLAB v5, or v7.3/HDF5) with ``annot2`` (cell, one per camera, [T, 56] px =
    28 joints × (u, v)), ``annot3`` (cell, [T, 84] mm camera frame), ``univ_annot3`` (the same
    scaled to the height of Human3.6M's "universal" skeleton), ``cameras`` (camera numbers of the
    cells) and ``frames``; ``camera.calibration`` (text: per camera ``name``, ``size``,
    ``intrinsic`` and ``extrinsic`` as row-major 4×4 matrices, mm).
Test set, ``<root>/TS<k>/annot_data.mat`` (TS1–TS4 studio, TS5–TS6 outdoor; v5 or v7.3):
    ``annot2`` 2×17×1×T px, ``annot3`` and ``univ_annot3`` 3×17×1×T mm (camera frame), already in
    the 17-joint "relevant" order, ``valid_frame`` [T], ``activity_annotation`` [T] (1–7).
    The test set ships no calibration: the converter estimates ``fx, fy, cx, cy`` per sequence
    by linear least squares from the ``annot2``/``annot3`` pairs (the pinhole model fits them to
    a fraction of a pixel; the residual is stored in ``protocol``).

Joints: 28 -> the 17 "relevant" joints (:data:`ALL28_TO_MPI17`) -> Human3.6M-17
(:data:`MPI17_TO_H36M`): 3DHP's ``neck`` (base of the neck) is thorax, ``head`` is neck_nose and
``head_top`` is Human3.6M's head (its joint 10 is the head top), as is usual in the literature.
These layouts are not in :mod:`weakpose.skeleton` yet, so the mappings are defined here.

Protocol (``mpii_test_predictions.m``): root-relative (pelvis) ``univ_annot3``, valid frames
only; PCK = share of the 14 evaluation joints (:data:`EVAL_JOINTS_H36M`: head top, neck,
shoulders, elbows, wrists, hips, knees, ankles) within 150 mm; AUC = mean PCK over the
thresholds 0, 5, ..., 150 mm; per activity and per scene (GS / no GS / outdoor).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from weakpose.data.converters._common import InputError, save_npz_atomic
from weakpose.skeleton import H36M17_NAMES

__all__ = [
    "ALL28_NAMES",
    "MPI17_NAMES",
    "ALL28_TO_MPI17",
    "MPI17_TO_H36M",
    "ALL28_TO_H36M",
    "EVAL_JOINTS_H36M",
    "ACTIVITIES",
    "TEST_SCENES",
    "read_mat",
    "read_calibration",
    "estimate_intrinsics",
    "convert_3dhp_train",
    "convert_3dhp_test",
    "pck_auc_3dhp",
    "evaluate_3dhp",
]

ALL28_NAMES: tuple[str, ...] = (
    "spine3", "spine4", "spine2", "spine", "pelvis", "neck", "head", "head_top", "left_clavicle",
    "left_shoulder", "left_elbow", "left_wrist", "left_hand", "right_clavicle", "right_shoulder",
    "right_elbow", "right_wrist", "right_hand", "left_hip", "left_knee", "left_ankle", "left_foot",
    "left_toe", "right_hip", "right_knee", "right_ankle", "right_foot", "right_toe",
)  # fmt: skip
MPI17_NAMES: tuple[str, ...] = (
    "head_top", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
    "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee",
    "left_ankle", "pelvis", "spine", "head",
)  # fmt: skip
ALL28_TO_MPI17: tuple[int, ...] = tuple(ALL28_NAMES.index(n) for n in MPI17_NAMES)
_H36M_FROM_MPI17 = {
    "pelvis": "pelvis", "r_hip": "right_hip", "r_knee": "right_knee", "r_ankle": "right_ankle",
    "l_hip": "left_hip", "l_knee": "left_knee", "l_ankle": "left_ankle", "spine": "spine",
    "thorax": "neck", "neck_nose": "head", "head": "head_top", "l_shoulder": "left_shoulder",
    "l_elbow": "left_elbow", "l_wrist": "left_wrist", "r_shoulder": "right_shoulder",
    "r_elbow": "right_elbow", "r_wrist": "right_wrist",
}  # fmt: skip
MPI17_TO_H36M: tuple[int, ...] = tuple(MPI17_NAMES.index(_H36M_FROM_MPI17[n]) for n in H36M17_NAMES)
ALL28_TO_H36M: tuple[int, ...] = tuple(ALL28_TO_MPI17[i] for i in MPI17_TO_H36M)
#: The 14 joints of the benchmark's PCK/AUC (the first 14 "relevant" joints), as Human3.6M-17 indices.
EVAL_JOINTS_H36M: tuple[int, ...] = tuple(H36M17_NAMES.index(h) for m in MPI17_NAMES[:14]
                                          for h, mm in _H36M_FROM_MPI17.items() if mm == m)  # fmt: skip
ACTIVITIES: tuple[str, ...] = (
    "stand_walk", "exercise", "sit", "reach_crouch", "on_the_floor", "sports", "misc",
)  # fmt: skip
TEST_SCENES: dict[str, str] = {
    "TS1": "gs",
    "TS2": "gs",
    "TS3": "no_gs",
    "TS4": "no_gs",
    "TS5": "outdoor",
    "TS6": "outdoor",
}
_DEFAULT_SIZE = np.array([2048, 2048])  # the studio cameras
PCK_THRESHOLD_MM = 150.0
AUC_THRESHOLDS_MM = tuple(float(t) for t in range(0, 151, 5))
_ROOT = H36M17_NAMES.index("pelvis")


# --------------------------------------------------------------------------------------------
# reading .mat files (v5 through scipy, v7.3 through h5py), arrays in MATLAB's dimension order


def read_mat(path: str | Path, keys: Sequence[str]) -> dict[str, object]:
    """Read ``keys`` of a MATLAB file; numeric arrays keep MATLAB's dimension order and cells
    become lists of arrays, whichever the file version (v7.3 files are HDF5 and read with h5py).

    Raises:
        InputError: unreadable file or a missing key.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    try:
        import h5py

        is_hdf5 = h5py.is_hdf5(path)
    except ImportError:  # pragma: no cover
        is_hdf5 = False
    if is_hdf5:
        return _read_mat_h5(path, keys)
    import scipy.io

    try:
        m = scipy.io.loadmat(path, variable_names=list(keys))
    except NotImplementedError:  # pragma: no cover - v7.3 without h5py
        raise InputError(f"{path}: MATLAB v7.3 file: install h5py (pip install 'weakpose[datasets]')") from None
    except Exception as e:
        raise InputError(f"{path}: not a readable .mat file ({type(e).__name__}: {e})") from None
    out: dict[str, object] = {}
    for k in keys:
        if k not in m:
            raise InputError(
                f"{path}: key '{k}': missing (keys present: {', '.join(x for x in m if not x.startswith('__'))})"
            )
        v = m[k]
        out[k] = [np.asarray(c) for c in v.ravel(order="F")] if v.dtype == object else np.asarray(v)
    return out


def _read_mat_h5(path: Path, keys: Sequence[str]) -> dict[str, object]:
    import h5py

    out: dict[str, object] = {}
    try:
        with h5py.File(path, "r") as f:
            for k in keys:
                if k not in f:
                    raise InputError(
                        f"{path}: key '{k}': missing (keys present: {', '.join(x for x in f if not x.startswith('#'))})"
                    )
                d = f[k]
                if d.dtype == h5py.ref_dtype or d.dtype.kind == "O":
                    refs = np.asarray(d).T.ravel(order="F")
                    out[k] = [np.asarray(f[r]).T for r in refs]
                else:
                    out[k] = np.asarray(d).T
    except InputError:
        raise
    except Exception as e:
        raise InputError(f"{path}: not a readable MATLAB v7.3 file ({type(e).__name__}: {e})") from None
    return out


def read_calibration(path: str | Path) -> dict[int, dict[str, np.ndarray]]:
    """Parse ``camera.calibration``: {camera: {"K": 3×3, "R": 3×3, "t": [3] mm, "size": (w, h)}}."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise InputError(f"{path}: cannot read camera calibration: {e.strerror or e}") from None
    cams: dict[int, dict[str, np.ndarray]] = {}
    cur: int | None = None
    for n, line in enumerate(lines, 1):
        toks = line.split()
        if not toks or toks[0].startswith("Skeletool"):
            continue
        key = toks[0]
        try:
            if key == "name":
                cur = int(toks[1])
                cams[cur] = {}
            elif cur is None:
                continue
            elif key in ("intrinsic", "extrinsic"):
                vals = [float(t) for t in toks[1:]]
                if len(vals) != 16:
                    raise InputError(f"{path}:{n}: '{key}' needs 16 numbers (a 4x4 matrix), got {len(vals)}")
                M = np.array(vals).reshape(4, 4)
                if key == "intrinsic":
                    cams[cur]["K"] = M[:3, :3]
                else:
                    cams[cur]["R"], cams[cur]["t"] = M[:3, :3], M[:3, 3]
            elif key == "size":
                cams[cur]["size"] = np.array([int(toks[1]), int(toks[2])])
        except (ValueError, IndexError):
            raise InputError(f"{path}:{n}: malformed '{key}' line") from None
    for c, v in cams.items():
        missing = [k for k in ("K", "R", "t") if k not in v]
        if missing:
            raise InputError(f"{path}: camera {c}: no {missing[0] == 'K' and 'intrinsic' or 'extrinsic'} matrix")
    if not cams:
        raise InputError(f"{path}: no camera in the calibration file")
    return cams


def estimate_intrinsics(uv: np.ndarray, xyz: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares pinhole ``K`` from 2D/3D camera-frame correspondences ``[..., 2]``, ``[..., 3]``.

    Solves ``u = fx X/Z + cx`` and ``v = fy Y/Z + cy`` (two independent linear problems).
    Returns (K, RMS reprojection residual in px).
    """
    uv = np.asarray(uv, np.float64).reshape(-1, 2)
    xyz = np.asarray(xyz, np.float64).reshape(-1, 3)
    ok = (xyz[:, 2] > 1e-6) & np.isfinite(uv).all(1) & np.isfinite(xyz).all(1)
    if ok.sum() < 3:
        raise InputError("too few valid 2D/3D pairs to estimate the camera intrinsics")
    uv, xyz = uv[ok], xyz[ok]
    K = np.eye(3)
    res = []
    for a in range(2):
        A = np.stack([xyz[:, a] / xyz[:, 2], np.ones(len(xyz))], 1)
        sol, *_ = np.linalg.lstsq(A, uv[:, a], rcond=None)
        K[a, a], K[a, 2] = sol
        res.append(A @ sol - uv[:, a])
    rms = float(np.sqrt(np.mean(np.square(res))))
    return K, rms


# --------------------------------------------------------------------------------------------
# conversion


@dataclass
class _Views:
    kp: list[np.ndarray]
    p3: list[np.ndarray]
    K: list[np.ndarray]
    cam: list[int]


def convert_3dhp_train(
    root: str | Path,
    subjects: Sequence[int] = (1, 2, 3, 4, 5, 6, 7, 8),
    sequences: Sequence[int] = (1, 2),
    cameras: Sequence[int] | None = (0, 1, 2, 4, 5, 6, 7, 8),
    stride: int = 1,
    universal: bool = False,
    multiview: bool = False,
    progress: Callable[[Iterable], Iterable] | None = None,
) -> dict[str, np.ndarray]:
    """Convert training sequences ``<root>/S<k>/Seq<m>/annot.mat`` + ``camera.calibration``.

    Args:
        cameras: camera numbers to keep (default: the 8 cameras at chest height or lower used by
            most works; None = all in the file).
        stride: keep every stride-th frame.
        universal: take 3D from ``univ_annot3`` (Human3.6M-height skeleton) instead of ``annot3``.
        multiview: one sample per frame with the selected cameras as views.

    Output: ``keypoints_2d`` [N, 17, 2] px, ``confidence``, ``intrinsics``, ``positions_3d``
    [N, 17, 3] mm camera frame, ``camera_index``, ``image_size``, ``frame_index``, ``subject``,
    ``sequence`` (``"S1/Seq2"``), ``joint_names``, ``protocol``; with ``multiview`` the view axis
    follows N (views = ``cameras``).
    """
    if stride < 1:
        raise InputError(f"stride must be >= 1, got {stride}")
    root = Path(root)
    key3 = "univ_annot3" if universal else "annot3"
    pairs = [(s, q) for s in subjects for q in sequences]
    it: Iterable = pairs if progress is None else progress(pairs)
    blocks: list[dict[str, np.ndarray]] = []
    for s, q in it:
        folder = root / f"S{s}" / f"Seq{q}"
        annot = folder / "annot.mat"
        m = read_mat(annot, ["annot2", key3, "cameras"])
        calib = read_calibration(folder / "camera.calibration")
        cam_ids = [int(c) for c in np.asarray(m["cameras"]).ravel()]
        a2, a3 = m["annot2"], m[key3]
        if not isinstance(a2, list) or not isinstance(a3, list) or len(a2) != len(cam_ids) or len(a3) != len(cam_ids):
            raise InputError(f"{annot}: keys 'annot2'/'{key3}': expected one cell per camera ({len(cam_ids)})")
        wanted = cam_ids if cameras is None else [c for c in cameras]
        views = _Views([], [], [], [])
        T = None
        for c in wanted:
            if c not in cam_ids:
                raise InputError(f"{annot}: key 'cameras': no camera {c} (has {cam_ids})")
            if c not in calib:
                raise InputError(f"{folder / 'camera.calibration'}: no camera {c}")
            i = cam_ids.index(c)
            kp = np.asarray(a2[i], np.float64)
            p3 = np.asarray(a3[i], np.float64)
            if kp.ndim != 2 or kp.shape[1] != 56:
                raise InputError(f"{annot}: key 'annot2{{{i + 1}}}': shape {kp.shape}, expected [T, 56]")
            if p3.ndim != 2 or p3.shape[1] != 84 or len(p3) != len(kp):
                raise InputError(f"{annot}: key '{key3}{{{i + 1}}}': shape {p3.shape}, expected [{len(kp)}, 84]")
            if T is not None and len(kp) != T:
                raise InputError(f"{annot}: cameras have different frame counts ({T} vs {len(kp)})")
            T = len(kp)
            views.kp.append(kp.reshape(T, 28, 2)[:, list(ALL28_TO_H36M)])
            views.p3.append(p3.reshape(T, 28, 3)[:, list(ALL28_TO_H36M)])
            views.K.append(calib[c]["K"])
            views.cam.append(c)
        assert T is not None
        frames = np.arange(0, T, stride)
        kp = np.stack(views.kp, 1)[frames]  # [n, C, 17, 2]
        p3 = np.stack(views.p3, 1)[frames]
        n, C = kp.shape[:2]
        blocks.append({
            "keypoints_2d": kp,
            "positions_3d": p3,
            "intrinsics": np.broadcast_to(np.stack(views.K), (n, C, 3, 3)),
            "camera_index": np.broadcast_to(np.array(views.cam), (n, C)),
            "image_size": np.broadcast_to(np.array([calib[c].get("size", _DEFAULT_SIZE) for c in views.cam]),
                                          (n, C, 2)),
            "frame_index": frames,
            "subject": np.full(n, s),
            "sequence": np.full(n, f"S{s}/Seq{q}"),
        })  # fmt: skip
    proto = {"dataset": "mpi-inf-3dhp", "split": "train", "subjects": list(subjects), "sequences": list(sequences),
             "cameras": None if cameras is None else list(cameras), "stride": stride, "universal": universal,
             "multiview": multiview, "units": "mm", "camera": "opencv x-right y-down z-forward"}  # fmt: skip
    return _assemble(blocks, multiview, proto)


def _assemble(blocks: list[dict[str, np.ndarray]], multiview: bool, proto: dict) -> dict[str, np.ndarray]:
    if not blocks:
        raise InputError("no MPI-INF-3DHP sequence to convert")
    cat = {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}
    view_keys = ("keypoints_2d", "positions_3d", "intrinsics", "camera_index", "image_size")
    out: dict[str, np.ndarray] = {}
    C = cat["keypoints_2d"].shape[1]
    for k, a in cat.items():
        if k in view_keys:
            out[k] = a if multiview else a.reshape((-1,) + a.shape[2:])
        else:
            out[k] = a if multiview else np.repeat(a, C, axis=0)
    out["keypoints_2d"] = out["keypoints_2d"].astype(np.float32)
    out["positions_3d"] = out["positions_3d"].astype(np.float32)
    out["intrinsics"] = out["intrinsics"].astype(np.float32)
    out["confidence"] = np.ones(out["keypoints_2d"].shape[:-1], np.float32)
    out["camera_index"] = out["camera_index"].astype(np.int16)
    out["image_size"] = out["image_size"].astype(np.int32)
    out["frame_index"] = out["frame_index"].astype(np.int32)
    out["subject"] = out["subject"].astype(np.int16)
    out["sequence"] = out["sequence"].astype(str)
    if "action" in out:
        out["action"] = out["action"].astype(str)
    out["joint_names"] = np.array(H36M17_NAMES)
    out["protocol"] = np.array(json.dumps(proto))
    return out


def convert_3dhp_test(
    root: str | Path,
    sequences: Sequence[str] = ("TS1", "TS2", "TS3", "TS4", "TS5", "TS6"),
    valid_only: bool = True,
    universal: bool = True,
    stride: int = 1,
) -> dict[str, np.ndarray]:
    """Convert the test set ``<root>/TS<k>/annot_data.mat`` (v5 or v7.3).

    Args:
        valid_only: keep only frames with ``valid_frame`` set (the benchmark's protocol).
        universal: ground truth from ``univ_annot3`` (the benchmark's protocol) — the 2D and the
            estimated intrinsics always use ``annot3``, which is consistent with ``annot2``.

    Output as a benchmark file (DESIGN.md §4): ``keypoints_2d``, ``confidence``, ``intrinsics``
    (estimated per sequence), ``positions_3d`` mm camera frame, ``positions_3d_camera`` (from
    ``annot3``), ``action`` (activity), ``activity_id`` (1–7), ``scene``, ``frame_index``,
    ``subject`` (k of TSk), ``sequence``, ``camera_index`` (0), ``image_size``, ``joint_names``,
    ``protocol``.
    """
    if stride < 1:
        raise InputError(f"stride must be >= 1, got {stride}")
    root = Path(root)
    blocks = []
    residuals = {}
    for ts in sequences:
        m_ts = re.fullmatch(r"TS(\d+)", ts)
        if not m_ts:
            raise InputError(f"MPI-INF-3DHP test sequence {ts!r}: expected 'TS<k>'")
        path = root / ts / "annot_data.mat"
        m = read_mat(path, ["annot2", "annot3", "univ_annot3", "valid_frame", "activity_annotation"])
        arrays = {}
        for k, d in (("annot2", 2), ("annot3", 3), ("univ_annot3", 3)):
            a = np.asarray(m[k], np.float64)
            if a.ndim == 3:
                a = a[:, :, None, :]
            if a.ndim != 4 or a.shape[:3] != (d, 17, 1):
                raise InputError(f"{path}: key '{k}': shape {a.shape}, expected [{d}, 17, 1, T] (MATLAB order)")
            arrays[k] = a[:, :, 0, :].transpose(2, 1, 0)[:, list(MPI17_TO_H36M)]  # [T, 17, d] Human3.6M order
        T = len(arrays["annot2"])
        valid = np.asarray(m["valid_frame"]).ravel().astype(bool)
        act = np.asarray(m["activity_annotation"]).ravel().astype(np.int64)
        if len(valid) != T or len(act) != T or len(arrays["annot3"]) != T or len(arrays["univ_annot3"]) != T:
            raise InputError(
                f"{path}: keys 'annot2', 'annot3', 'univ_annot3', 'valid_frame', 'activity_annotation' have "
                "different frame counts"
            )
        if ((act < 1) | (act > len(ACTIVITIES))).any() and valid.any():
            bad = act[(act < 1) | (act > len(ACTIVITIES))]
            if valid[(act < 1) | (act > len(ACTIVITIES))].any():
                raise InputError(f"{path}: key 'activity_annotation': value {int(bad[0])} outside 1..{len(ACTIVITIES)}")
        frames = np.flatnonzero(valid) if valid_only else np.arange(T)
        frames = frames[::stride]
        if len(frames) == 0:
            raise InputError(f"{path}: key 'valid_frame': no valid frame")
        K, rms = estimate_intrinsics(arrays["annot2"][valid], arrays["annot3"][valid])
        residuals[ts] = round(rms, 4)
        n = len(frames)
        w = 1920 if TEST_SCENES.get(ts) == "outdoor" else 2048
        h = 1080 if TEST_SCENES.get(ts) == "outdoor" else 2048
        a_ids = act[frames]
        blocks.append({
            "keypoints_2d": arrays["annot2"][frames][:, None],
            "positions_3d": (arrays["univ_annot3"] if universal else arrays["annot3"])[frames][:, None],
            "positions_3d_camera": arrays["annot3"][frames],
            "intrinsics": np.broadcast_to(K, (n, 1, 3, 3)),
            "camera_index": np.zeros((n, 1)),
            "image_size": np.broadcast_to(np.array([w, h]), (n, 1, 2)),
            "frame_index": frames,
            "subject": np.full(n, int(m_ts.group(1))),
            "sequence": np.full(n, ts),
            "scene": np.full(n, TEST_SCENES.get(ts, "unknown")),
            "activity_id": a_ids,
            "action": np.array([ACTIVITIES[i - 1] if 1 <= i <= len(ACTIVITIES) else "invalid" for i in a_ids]),
        })  # fmt: skip
    proto = {"dataset": "mpi-inf-3dhp", "split": "test", "sequences": list(sequences), "valid_only": valid_only,
             "universal": universal, "stride": stride, "intrinsics": "least-squares from annot2/annot3",
             "intrinsics_rms_px": residuals, "eval_joints_h36m": list(EVAL_JOINTS_H36M),
             "pck_threshold_mm": PCK_THRESHOLD_MM, "units": "mm",
             "camera": "opencv x-right y-down z-forward"}  # fmt: skip
    out = _assemble(blocks, False, proto)
    out["positions_3d_camera"] = out["positions_3d_camera"].astype(np.float32)
    out["activity_id"] = out["activity_id"].astype(np.int16)
    out["scene"] = out["scene"].astype(str)
    return out


# --------------------------------------------------------------------------------------------
# evaluation protocol


def pck_auc_3dhp(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-sample 3DHP PCK (%), AUC (%) and MPJPE (mm, 14 joints) of Human3.6M-17 poses [N, 17, 3] mm.

    Root-relative at the pelvis; PCK over :data:`EVAL_JOINTS_H36M` at 150 mm, AUC = mean PCK over
    0, 5, ..., 150 mm (31 thresholds), as ``mpii_test_predictions.m``. A joint counts when its
    error is ``<=`` the threshold, as in :mod:`weakpose.metrics`.
    """
    pred = np.asarray(pred, np.float64)
    gt = np.asarray(gt, np.float64)
    if pred.shape != gt.shape or pred.shape[-2:] != (17, 3):
        raise ValueError(f"pred {pred.shape} and gt {gt.shape} must both be [N, 17, 3]")
    p = pred - pred[:, _ROOT : _ROOT + 1]
    g = gt - gt[:, _ROOT : _ROOT + 1]
    err = np.linalg.norm(p - g, axis=-1)[:, list(EVAL_JOINTS_H36M)]  # [N, 14]
    pck = 100.0 * (err <= PCK_THRESHOLD_MM).mean(-1)
    auc = 100.0 * np.mean([(err <= t).mean(-1) for t in AUC_THRESHOLDS_MM], axis=0)
    return pck, auc, err.mean(-1)


def evaluate_3dhp(
    pred: np.ndarray, gt: np.ndarray, actions: np.ndarray | None = None, scenes: np.ndarray | None = None
) -> dict:
    """Overall, per-activity and per-scene 3DHP PCK / AUC / MPJPE (frame-weighted means)."""
    pck, auc, mpjpe = pck_auc_3dhp(pred, gt)

    def summary(mask: np.ndarray) -> dict[str, float]:
        return {"pck150": float(pck[mask].mean()), "auc": float(auc[mask].mean()),
                "mpjpe14": float(mpjpe[mask].mean()), "n": int(mask.sum())}  # fmt: skip

    out: dict = summary(np.ones(len(pck), bool))
    for name, labels in (("per_action", actions), ("per_scene", scenes)):
        if labels is not None:
            labels = np.asarray(labels).astype(str)
            out[name] = {str(a): summary(labels == a) for a in sorted(set(labels.tolist()))}
    return out


def save_3dhp(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Write atomically."""
    save_npz_atomic(path, **arrays)
