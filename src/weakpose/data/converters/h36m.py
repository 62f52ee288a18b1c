"""Human3.6M -> weakpose 2D/3D files (DESIGN.md §4), from the original release or VideoPose3D files.

Sources
-------
Original release (Ionescu et al., vision.imar.ro/human3.6m, licence required):
    ``<root>/S1/MyPoseFeatures/D3_Positions/<Sequence>.cdf`` — variable ``Pose`` [1, T, 96]:
    32 joints × (x, y, z) in mm, world frame (z-up), 50 fps. 2D either by projecting with the
    published cameras (:mod:`.h36m_cameras`, distortion included) or read from
    ``D2_Positions/<Sequence>.<camera id>.cdf`` (``Pose`` [1, T, 64], pixels).
VideoPose3D (Pavllo et al. 2019) preprocessed files:
    ``data_3d_h36m.npz`` — ``positions_3d``: {subject: {sequence: [T, 32, 3] metres, world}};
    ``data_2d_h36m_<source>.npz`` — ``positions_2d``: {subject: {sequence: [4 cameras × [T, 17, 2]
    px]}} and ``metadata`` (``layout_name``: ``h36m`` or ``coco``, ``num_joints``), e.g. ground
    truth (``gt``) or CPN detections (``cpn_ft_h36m_dbb``). These are pickled dicts inside npz
    files; they are read with a restricted unpickler (:mod:`weakpose.data.safe_pickle`) that builds
    only containers of arrays and refuses anything that would run code.

Conventions (as VideoPose3D, so numbers are comparable with the literature)
---------------------------------------------------------------------------
* 32 -> 17 joints: :data:`H36M32_TO_17` (the joints VideoPose3D keeps; the result is weakpose's
  Human3.6M-17 order).
* Sequence names are canonicalised: ``TakingPhoto`` -> ``Photo``, ``WalkingDog`` -> ``WalkDog``,
  (``WalkingTogether`` -> ``WalkTogether``); the action label drops the take number
  (``"Photo 1"`` -> ``"Photo"``), giving the 15 actions of :data:`ACTIONS`.
* Splits: train S1, S5, S6, S7, S8; test S9, S11.
* S11 ``Directions`` (the take without number, whose video is corrupted) is skipped, as in
  VideoPose3D, unless ``keep_corrupted=True``.
* A 2D sequence longer than its 3D sequence (detections) is cut to the 3D length; shorter is
  an error.
* ``stride``: keep every ``stride``-th frame of each sequence starting at frame 0; the
  64-frame test subsampling used by Li & Lee (and Rhodin et al., Kocabas et al.) is
  ``stride=64``.

Output (single-view, frame-major: each kept frame, then its four cameras):
``keypoints_2d`` [N, 17, 2] px, ``confidence`` [N, 17], ``intrinsics`` [N, 3, 3],
``distortion`` [N, 5] (k1 k2 k3 p1 p2; all zero when ``distortion=False``), ``positions_3d``
[N, 17, 3] mm camera frame (absolute), ``positions_world`` [N, 17, 3] mm (Human3.6M world,
z-up), ``camera_index`` [N], ``camera_id`` [N], ``image_size`` [N, 2], ``frame_index`` [N]
(frame of the 50 fps sequence), ``subject`` [N] int (9 for S9), ``action`` [N],
``sequence`` [N] (``"S9/Photo 1"``), ``joint_names``, ``protocol`` (JSON).
With ``multiview=True`` the four synchronised views of a frame form one sample:
``keypoints_2d`` [N, 4, 17, 2], ``confidence`` [N, 4, 17], ``intrinsics`` [N, 4, 3, 3],
``distortion`` [N, 4, 5], ``positions_3d`` [N, 4, 17, 3], ``camera_index`` [N, 4],
``image_size`` [N, 4, 2]; per-frame keys stay [N].
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from weakpose.data.converters._common import InputError, save_npz_atomic
from weakpose.data.converters.h36m_cameras import CAMERA_IDS, h36m_cameras
from weakpose.skeleton import H36M17_NAMES, to_h36m17

__all__ = [
    "H36M32_TO_17",
    "ACTIONS",
    "TRAIN_SUBJECTS",
    "TEST_SUBJECTS",
    "SPLITS",
    "Sequence3D",
    "canonical_sequence",
    "read_pose_cdf",
    "load_original_3d",
    "load_original_2d",
    "load_vp3d_3d",
    "load_vp3d_2d",
    "build_h36m",
    "convert_h36m_original",
    "convert_h36m_vp3d",
    "save_h36m",
]

H36M32_TO_17: tuple[int, ...] = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)
ACTIONS: tuple[str, ...] = (
    "Directions", "Discussion", "Eating", "Greeting", "Phoning", "Photo", "Posing", "Purchases",
    "Sitting", "SittingDown", "Smoking", "Waiting", "WalkDog", "Walking", "WalkTogether",
)  # fmt: skip
TRAIN_SUBJECTS: tuple[str, ...] = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS: tuple[str, ...] = ("S9", "S11")
SPLITS: dict[str, tuple[str, ...]] = {
    "train": TRAIN_SUBJECTS,
    "test": TEST_SUBJECTS,
    "all": TRAIN_SUBJECTS + TEST_SUBJECTS,
}
CORRUPTED: tuple[tuple[str, str], ...] = (("S11", "Directions"),)

_RENAMES = (("TakingPhoto", "Photo"), ("WalkingDog", "WalkDog"), ("WalkingTogether", "WalkTogether"))


@dataclass
class Sequence3D:
    """One Human3.6M take: world positions [T, 17, 3] mm (z-up) and optional 2D per camera."""

    subject: str
    name: str  # canonical, e.g. "Photo 1"
    action: str  # e.g. "Photo"
    world: np.ndarray
    keypoints_2d: list[np.ndarray] | None = None  # 4 × [T, 17, 2] px
    confidence_2d: list[np.ndarray] | None = None  # 4 × [T, 17]


def canonical_sequence(name: str) -> tuple[str, str]:
    """``"TakingPhoto 1"`` -> ``("Photo 1", "Photo")``: canonical sequence name and action.

    Raises:
        InputError: the name is not one of the 15 Human3.6M actions (with optional take number).
    """
    seq = name.strip()
    for old, new in _RENAMES:
        if seq.startswith(old):
            seq = new + seq[len(old) :]
    m = re.fullmatch(r"([A-Za-z]+)(?: (\d+))?", seq)
    if not m or m.group(1) not in ACTIONS:
        raise InputError(f"Human3.6M sequence {name!r}: not one of the actions {', '.join(ACTIONS)}")
    return seq, m.group(1)


def _subject_number(subject: str) -> int:
    m = re.fullmatch(r"S(\d+)", subject)
    if not m:
        raise InputError(f"Human3.6M subject {subject!r}: expected 'S<number>'")
    return int(m.group(1))


# --------------------------------------------------------------------------------------------
# readers


def read_pose_cdf(path: str | Path, dims: int) -> np.ndarray:
    """Read the ``Pose`` variable of a Human3.6M CDF file as [T, 32, dims] (mm or px).

    Raises:
        InputError: unreadable file, no ``Pose`` variable, or a shape other than [1, T, 32·dims].
    """
    path = Path(path)
    try:
        import cdflib
    except ImportError:  # pragma: no cover
        raise InputError(f"{path}: reading CDF files needs cdflib (pip install 'weakpose[datasets]')") from None
    try:
        f = cdflib.CDF(str(path))
        variables = f.cdf_info().zVariables + f.cdf_info().rVariables
        if "Pose" not in variables:
            raise InputError(f"{path}: key 'Pose': missing (variables: {', '.join(variables) or 'none'})")
        pose = np.asarray(f.varget("Pose"))
    except InputError:
        raise
    except Exception as e:  # cdflib raises many types on corrupt input
        raise InputError(f"{path}: not a readable CDF file ({type(e).__name__}: {e})") from None
    width = 32 * dims
    if pose.ndim == 2:
        pose = pose[None]
    if pose.ndim != 3 or pose.shape[0] != 1 or pose.shape[2] != width or pose.shape[1] == 0:
        raise InputError(f"{path}: key 'Pose': shape {pose.shape}, expected [1, T, {width}]")
    pose = pose.reshape(-1, 32, dims).astype(np.float64)
    if not np.isfinite(pose).all():
        raise InputError(f"{path}: key 'Pose': contains NaN or inf")
    return pose


def _cdf_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise InputError(f"{folder}: folder not found (expected <root>/<subject>/MyPoseFeatures/...)")
    return sorted(folder.glob("*.cdf"))


def load_original_3d(
    root: str | Path, subjects: Sequence[str], keep_corrupted: bool = False
) -> list[Sequence3D]:
    """Read ``<root>/<subject>/MyPoseFeatures/D3_Positions/*.cdf`` (world mm) and reduce to 17 joints."""
    root = Path(root)
    out = []
    for subject in subjects:
        _subject_number(subject)
        files = _cdf_files(root / subject / "MyPoseFeatures" / "D3_Positions")
        if not files:
            raise InputError(f"{root / subject / 'MyPoseFeatures' / 'D3_Positions'}: no .cdf files")
        for f in files:
            name, action = canonical_sequence(f.stem)
            if not keep_corrupted and (subject, name) in CORRUPTED:
                continue
            world = read_pose_cdf(f, 3)[:, H36M32_TO_17]
            out.append(Sequence3D(subject, name, action, world))
    return out


def load_original_2d(root: str | Path, sequences: list[Sequence3D]) -> None:
    """Attach the dataset's own 2D (``D2_Positions/<Sequence>.<camera>.cdf``) to ``sequences``.

    The file names use the original action names (``TakingPhoto 1.54138969.cdf``); they are
    matched after canonicalisation.
    """
    root = Path(root)
    index: dict[tuple[str, str, str], Path] = {}
    for subject in sorted({s.subject for s in sequences}):
        for f in _cdf_files(root / subject / "MyPoseFeatures" / "D2_Positions"):
            stem, _, cam = f.stem.rpartition(".")
            if cam not in CAMERA_IDS:
                raise InputError(f"{f}: file name must end in .<camera id> ({', '.join(CAMERA_IDS)}).cdf")
            index[(subject, canonical_sequence(stem)[0], cam)] = f
    for s in sequences:
        kps = []
        for cam in CAMERA_IDS:
            f = index.get((s.subject, s.name, cam))
            if f is None:
                raise InputError(
                    f"{root / s.subject / 'MyPoseFeatures' / 'D2_Positions'}: no file for {s.name!r} camera {cam}"
                )
            kp = read_pose_cdf(f, 2)[:, H36M32_TO_17]
            kps.append(_match_length(kp, len(s.world), f))
        s.keypoints_2d = kps
        s.confidence_2d = [np.ones(k.shape[:2]) for k in kps]


def _match_length(kp: np.ndarray, n: int, where: str | Path) -> np.ndarray:
    if len(kp) < n:
        raise InputError(f"{where}: {len(kp)} 2D frames but the 3D sequence has {n}")
    return kp[:n]


def _load_pickled_npz(path: Path, key: str) -> tuple[dict, dict | None]:
    from weakpose.data.safe_pickle import load_pickled_npz

    z = load_pickled_npz(path)
    if key not in z:
        raise InputError(f"{path}: key '{key}': missing (keys present: {', '.join(z) or 'none'})")
    data = z[key].item() if z[key].dtype == object and z[key].ndim == 0 else None
    pickled_meta = "metadata" in z and z["metadata"].dtype == object and z["metadata"].ndim == 0
    meta = z["metadata"].item() if pickled_meta else None
    if not isinstance(data, dict):
        raise InputError(f"{path}: key '{key}': expected a dict {{subject: {{sequence: array}}}}")
    return data, meta


def load_vp3d_3d(path: str | Path, subjects: Sequence[str], keep_corrupted: bool = False) -> list[Sequence3D]:
    """Read VideoPose3D's ``data_3d_h36m.npz`` (``positions_3d``, metres) for ``subjects``."""
    path = Path(path)
    data, _ = _load_pickled_npz(path, "positions_3d")
    out = []
    for subject in subjects:
        if subject not in data:
            raise InputError(f"{path}: key 'positions_3d': no subject {subject!r} (has {', '.join(map(str, data))})")
        for seq_name in sorted(data[subject]):
            name, action = canonical_sequence(seq_name)
            if not keep_corrupted and (subject, name) in CORRUPTED:
                continue
            a = np.asarray(data[subject][seq_name], dtype=np.float64)
            if a.ndim != 3 or a.shape[1:] not in ((32, 3), (17, 3)) or len(a) == 0:
                raise InputError(
                    f"{path}: key 'positions_3d[{subject}][{seq_name}]': shape {a.shape}, expected [T, 32, 3]"
                )
            if not np.isfinite(a).all():
                raise InputError(f"{path}: key 'positions_3d[{subject}][{seq_name}]': contains NaN or inf")
            if a.shape[1] == 32:
                a = a[:, H36M32_TO_17]
            if np.abs(a).max() > 50:  # the VideoPose3D file is in metres
                raise InputError(
                    f"{path}: key 'positions_3d[{subject}][{seq_name}]': values up to {np.abs(a).max():.3g}, "
                    "expected metres"
                )
            out.append(Sequence3D(subject, name, action, a * 1000.0))
    return out


def load_vp3d_2d(path: str | Path, sequences: list[Sequence3D]) -> str:
    """Attach 2D keypoints from a VideoPose3D ``data_2d_h36m_<source>.npz`` to ``sequences``.

    Layouts: ``metadata['layout_name']`` ``h36m`` (17 joints, used as is) or ``coco`` (converted
    with :func:`weakpose.skeleton.to_h36m17`). A third channel, when present, is the detection
    confidence (clipped to [0, 1]). Returns the layout name.
    """
    path = Path(path)
    data, meta = _load_pickled_npz(path, "positions_2d")
    layout = str((meta or {}).get("layout_name", "h36m")).lower()
    if layout not in ("h36m", "coco"):
        raise InputError(f"{path}: key 'metadata': layout_name {layout!r} is not 'h36m' or 'coco'")
    canon: dict[tuple[str, str], list] = {}
    for subject, seqs in data.items():
        if not isinstance(seqs, dict):
            raise InputError(f"{path}: key 'positions_2d[{subject}]': expected a dict of sequences")
        for seq_name, views in seqs.items():
            canon[(str(subject), canonical_sequence(seq_name)[0])] = views
    for s in sequences:
        key = f"positions_2d[{s.subject}][{s.name}]"
        views = canon.get((s.subject, s.name))
        if views is None:
            raise InputError(f"{path}: key '{key}': missing")
        if len(views) != len(CAMERA_IDS):
            raise InputError(f"{path}: key '{key}': {len(views)} cameras, expected {len(CAMERA_IDS)}")
        kps, confs = [], []
        for c, v in enumerate(views):
            v = np.asarray(v, dtype=np.float64)
            J = 17
            if v.ndim != 3 or v.shape[1] != J or v.shape[2] not in (2, 3):
                raise InputError(f"{path}: key '{key}[{c}]': shape {v.shape}, expected [T, 17, 2]")
            v = _match_length(v, len(s.world), f"{path}: key '{key}[{c}]'")
            if not np.isfinite(v).all():
                raise InputError(f"{path}: key '{key}[{c}]': contains NaN or inf")
            conf = np.clip(v[..., 2], 0.0, 1.0) if v.shape[2] == 3 else np.ones(v.shape[:2])
            xy = v[..., :2]
            if layout == "coco":
                xy, conf = to_h36m17(xy, conf, "coco17")
            kps.append(xy)
            confs.append(conf)
        s.keypoints_2d, s.confidence_2d = kps, confs
    return layout


# --------------------------------------------------------------------------------------------
# assembly


def build_h36m(
    sequences: list[Sequence3D],
    stride: int = 1,
    multiview: bool = False,
    distortion: bool = True,
    protocol: dict | None = None,
) -> dict[str, np.ndarray]:
    """Arrays of a weakpose file from loaded sequences (layout in the module docstring).

    2D comes from the sequences when they carry it (``D2_Positions`` or a VideoPose3D 2D file),
    else from projecting the 3D with the subject's cameras (with the lens distortion unless
    ``distortion=False``).
    """
    if stride < 1:
        raise InputError(f"stride must be >= 1, got {stride}")
    if not sequences:
        raise InputError("no Human3.6M sequence to convert")
    per_frame: dict[str, list] = {k: [] for k in ("world", "frame", "subject", "action", "sequence")}
    per_view: dict[str, list] = {k: [] for k in ("kp", "conf", "K", "dist", "cam3d", "cam_index", "cam_id", "size")}
    for s in sequences:
        cams = h36m_cameras(s.subject)
        frames = np.arange(0, len(s.world), stride)
        w = s.world[frames]
        n = len(frames)
        kp_v, conf_v, cam_v = [], [], []
        for c, cam in enumerate(cams):
            x_cam = cam.world_to_camera(w)
            if s.keypoints_2d is not None:
                kp = s.keypoints_2d[c][frames]
                conf = s.confidence_2d[c][frames] if s.confidence_2d is not None else np.ones(kp.shape[:2])
            else:
                kp = cam.project(x_cam, distortion=distortion)
                conf = np.ones(kp.shape[:2])
            kp_v.append(kp)
            conf_v.append(conf)
            cam_v.append(x_cam)
        per_view["kp"].append(np.stack(kp_v, 1))
        per_view["conf"].append(np.stack(conf_v, 1))
        per_view["cam3d"].append(np.stack(cam_v, 1))
        per_view["K"].append(np.broadcast_to(np.stack([c.K for c in cams]), (n, 4, 3, 3)))
        dist = np.stack([c.distortion if distortion else np.zeros(5) for c in cams])
        per_view["dist"].append(np.broadcast_to(dist, (n, 4, 5)))
        per_view["cam_index"].append(np.broadcast_to(np.arange(4), (n, 4)))
        per_view["cam_id"].append(np.broadcast_to(np.array(CAMERA_IDS), (n, 4)))
        per_view["size"].append(np.broadcast_to(np.array([c.image_size for c in cams]), (n, 4, 2)))
        per_frame["world"].append(w)
        per_frame["frame"].append(frames)
        per_frame["subject"].append(np.full(n, _subject_number(s.subject)))
        per_frame["action"].append(np.full(n, s.action))
        per_frame["sequence"].append(np.full(n, f"{s.subject}/{s.name}"))

    v = {k: np.concatenate(x) for k, x in per_view.items()}
    f = {k: np.concatenate(x) for k, x in per_frame.items()}
    out = {
        "keypoints_2d": v["kp"].astype(np.float32),
        "confidence": v["conf"].astype(np.float32),
        "intrinsics": v["K"].astype(np.float32),
        "distortion": v["dist"].astype(np.float32),
        "positions_3d": v["cam3d"].astype(np.float32),
        "camera_index": v["cam_index"].astype(np.int16),
        "camera_id": v["cam_id"].astype("<U8"),
        "image_size": v["size"].astype(np.int32),
    }
    frame_keys = {
        "positions_world": f["world"].astype(np.float32),
        "frame_index": f["frame"].astype(np.int32),
        "subject": f["subject"].astype(np.int16),
        "action": f["action"].astype(str),
        "sequence": f["sequence"].astype(str),
    }
    if multiview:
        # confidence 0 joints carry no information; keep them at (0, 0) as the contract says
        out["keypoints_2d"] = np.where(out["confidence"][..., None] > 0, out["keypoints_2d"], 0).astype(np.float32)
        out.update(frame_keys)
    else:
        out = {k: a.reshape((-1,) + a.shape[2:]) for k, a in out.items()}
        out["keypoints_2d"] = np.where(out["confidence"][..., None] > 0, out["keypoints_2d"], 0).astype(np.float32)
        out.update({k: np.repeat(a, 4, axis=0) for k, a in frame_keys.items()})
    proto = {
        "dataset": "human3.6m",
        "subjects": sorted({s.subject for s in sequences}, key=_subject_number),
        "stride": stride,
        "multiview": multiview,
        "distortion": distortion,
        "units": "mm",
        "camera": "opencv x-right y-down z-forward",
        "world": "Human3.6M world frame, z-up",
        "source_fps": 50,
    }
    proto.update(protocol or {})
    out["joint_names"] = np.array(H36M17_NAMES)
    out["protocol"] = np.array(json.dumps(proto))
    return out


def _subjects(split: str | None, subjects: Sequence[str] | None) -> list[str]:
    if subjects:
        return list(subjects)
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    return list(SPLITS[split])


def convert_h36m_original(
    root: str | Path,
    split: str = "all",
    subjects: Sequence[str] | None = None,
    source_2d: str = "project",
    stride: int = 1,
    multiview: bool = False,
    distortion: bool = True,
    keep_corrupted: bool = False,
    progress: Callable[[Iterable], Iterable] | None = None,
) -> dict[str, np.ndarray]:
    """Convert the original release (``D3_Positions`` CDF files; 2D projected or ``D2_Positions``).

    Args:
        root: folder with ``S1/MyPoseFeatures/D3_Positions/*.cdf`` etc.
        split: ``train`` (S1 S5 S6 S7 S8), ``test`` (S9 S11) or ``all``; ignored when ``subjects``.
        source_2d: ``project`` (published cameras) or ``d2`` (the release's ``D2_Positions``).
        stride: keep every stride-th frame (64: the test subsampling of Li & Lee).
        multiview: group the 4 synchronised views into one sample.
        distortion: apply the lens distortion when projecting.
        keep_corrupted: keep S11 ``Directions``.
        progress: optional wrapper of the subject iterator (tqdm).
    """
    if source_2d not in ("project", "d2"):
        raise InputError(f"unknown 2D source {source_2d!r}; use 'project' or 'd2'")
    subj = _subjects(split, subjects)
    it: Iterable = subj if progress is None else progress(subj)
    seqs: list[Sequence3D] = []
    for s in it:
        seqs.extend(load_original_3d(root, [s], keep_corrupted))
    if source_2d == "d2":
        load_original_2d(root, seqs)
    provenance = {"source": "original D3_Positions", "source_2d": source_2d,
                  "split": split if not subjects else "custom"}
    return build_h36m(seqs, stride, multiview, distortion, provenance)


def convert_h36m_vp3d(
    path_3d: str | Path,
    path_2d: str | Path | None = None,
    split: str = "all",
    subjects: Sequence[str] | None = None,
    stride: int = 1,
    multiview: bool = False,
    distortion: bool = True,
    keep_corrupted: bool = False,
) -> dict[str, np.ndarray]:
    """Convert VideoPose3D's ``data_3d_h36m.npz`` (+ optionally a ``data_2d_h36m_<source>.npz``).

    Without ``path_2d`` the 2D is projected with the published cameras, as VideoPose3D's own
    ``data_2d_h36m_gt.npz`` is.
    """
    subj = _subjects(split, subjects)
    seqs = load_vp3d_3d(path_3d, subj, keep_corrupted)
    layout = None
    if path_2d is not None:
        layout = load_vp3d_2d(path_2d, seqs)
    proto = {
        "source": "VideoPose3D data_3d_h36m",
        "source_2d": Path(path_2d).name if path_2d is not None else "project",
        "layout_2d": layout,
        "split": split if not subjects else "custom",
    }
    return build_h36m(seqs, stride, multiview, distortion, proto)


def save_h36m(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Write atomically."""
    save_npz_atomic(path, **arrays)
