"""MPII Human Pose (human-pose.mpi-inf.mpg.de) -> weakpose 2D file.

Two inputs are accepted:

``mpii_human_pose_v1_u12_1.mat`` (the release)
    struct ``RELEASE`` with ``annolist(i).image.name`` and ``annolist(i).annorect(j)`` holding
    ``annopoints.point(k)`` (``x``, ``y``, ``id`` 0–15, ``is_visible``), ``scale``, ``objpos``
    (``x``, ``y``), and ``img_train(i)`` (1 = training image, 0 = test image without joints).
    People without ``annopoints`` are skipped.
The commonly used JSON (``train.json`` / ``valid.json`` of the stacked-hourglass / HRNet code)
    a list of ``{"image", "center": [x, y], "scale", "joints": 16 × [x, y], "joints_vis": 16}``.
The JSON of the Convolutional Pose Machines code (``mpii_annotations.json``)
    ``{"root": [...]}`` or a list of ``{"img_paths", "objpos": [x, y], "scale_provided",
    "joint_self": 16 × [x, y, visible], "isValidation"}``; with ``split`` ``train``/``test``
    the entries with ``isValidation`` 0/1 are kept.

Joint order (ids): 0 r_ankle, 1 r_knee, 2 r_hip, 3 l_hip, 4 l_knee, 5 l_ankle, 6 pelvis,
7 thorax, 8 upper_neck, 9 head_top, 10 r_wrist, 11 r_elbow, 12 r_shoulder, 13 l_shoulder,
14 l_elbow, 15 l_wrist (:data:`weakpose.skeleton.MPII16_NAMES`). A joint that is annotated
has confidence 1 (in the JSON: ``joints_vis > 0``; in the .mat: present in ``annopoints``);
``source_visible`` keeps the visibility flag. Human3.6M-17 via
:func:`weakpose.skeleton.to_h36m17` (layout ``mpii16``; spine = mid pelvis–thorax,
neck_nose = upper neck, head = head top). The person box is the usual square of side
``200 · scale`` px around ``objpos``/``center``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from weakpose.data.converters._common import InputError, save_npz_atomic
from weakpose.data.converters.image2d import assemble_2d

__all__ = ["convert_mpii", "save_mpii"]


def _box(center: np.ndarray, scale: float) -> np.ndarray:
    half = 100.0 * scale
    return np.array([center[0] - half, center[1] - half, 2 * half, 2 * half])


def convert_mpii(
    path: str | Path, image_root: str = "", min_joints: int = 1, split: str = "train"
) -> dict[str, np.ndarray]:
    """Convert the MPII ``.mat`` release or the JSON list format (chosen by the file suffix).

    Args:
        split: for the ``.mat`` file: ``train`` (``img_train == 1``), ``test`` or ``all``.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.suffix.lower() == ".json":
        rows, src = _read_json(path, split)
    elif path.suffix.lower() == ".mat":
        rows = _read_mat(path, split)
        src = "mat"
    else:
        raise InputError(f"{path}: expected the MPII .mat release or a .json annotation list")
    if not rows:
        raise InputError(f"{path}: no annotated person")
    kp = np.stack([r[0] for r in rows])
    conf = np.stack([r[1] for r in rows])
    vis = np.stack([r[2] for r in rows])
    paths = [str(Path(image_root) / r[3]) if image_root else r[3] for r in rows]
    boxes = np.stack([_box(r[4], r[5]) for r in rows])
    extras = {"center": np.stack([r[4] for r in rows]).astype(np.float32),
              "scale": np.array([r[5] for r in rows], np.float32)}  # fmt: skip
    return assemble_2d(
        "mpii16", kp, conf, vis, paths, np.zeros((len(rows), 2)), boxes, min_joints,
        {"dataset": "mpii", "source_file": path.name, "format": src, "split": split if src != "json" else None},
        extras, source=path,
    )  # fmt: skip


Row = tuple[np.ndarray, np.ndarray, np.ndarray, str, np.ndarray, float]


def _read_json(path: Path, split: str) -> tuple[list[Row], str]:
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not valid JSON ({e})") from None
    if isinstance(d, dict) and "root" in d:
        d = d["root"]
    if not isinstance(d, list):
        raise InputError(f"{path}: expected a JSON list of person annotations")
    if d and isinstance(d[0], dict) and "joint_self" in d[0]:
        return _read_cpm(path, d, split), "json-cpm"
    rows: list[Row] = []
    for i, a in enumerate(d):
        for k in ("image", "center", "scale", "joints", "joints_vis"):
            if not isinstance(a, dict) or k not in a:
                raise InputError(f"{path}: key '[{i}].{k}': missing")
        j = np.asarray(a["joints"], np.float64)
        v = np.asarray(a["joints_vis"], np.float64).reshape(-1)
        if j.shape != (16, 2) or v.shape != (16,):
            raise InputError(
                f"{path}: key '[{i}].joints': shape {j.shape} / joints_vis {v.shape}, expected (16, 2) / (16,)"
            )
        c = np.asarray(a["center"], np.float64)
        if c.shape != (2,):
            raise InputError(f"{path}: key '[{i}].center': expected [x, y]")
        rows.append((j, (v > 0).astype(np.float64), v > 0, str(a["image"]), c, float(a["scale"])))
    return rows, "json"


def _read_cpm(path: Path, d: list, split: str) -> list[Row]:
    if split not in ("train", "test", "all"):
        raise InputError(f"unknown MPII split {split!r}; use train, test or all")
    rows: list[Row] = []
    for i, a in enumerate(d):
        for k in ("img_paths", "objpos", "scale_provided", "joint_self"):
            if not isinstance(a, dict) or k not in a:
                raise InputError(f"{path}: key '[{i}].{k}': missing")
        val = bool(a.get("isValidation", 0))
        if (split == "train" and val) or (split == "test" and not val):
            continue
        j = np.asarray(a["joint_self"], np.float64)
        if j.shape != (16, 3):
            raise InputError(f"{path}: key '[{i}].joint_self': shape {j.shape}, expected (16, 3)")
        # a joint that is not annotated has coordinates (0, 0) in this format
        annotated = ~((j[:, 0] <= 0) & (j[:, 1] <= 0))
        rows.append((j[:, :2], annotated.astype(np.float64), (j[:, 2] > 0) & annotated, str(a["img_paths"]),
                     np.asarray(a["objpos"], np.float64), float(a["scale_provided"])))  # fmt: skip
    return rows


def _field(obj: object, name: str) -> object:
    return getattr(obj, name, None)


def _as_list(x: object) -> list:
    if x is None:
        return []
    if isinstance(x, np.ndarray):
        return list(x.ravel())
    return [x]


def _read_mat(path: Path, split: str) -> list[Row]:
    import scipy.io

    if split not in ("train", "test", "all"):
        raise InputError(f"unknown MPII split {split!r}; use train, test or all")
    try:
        m = scipy.io.loadmat(path, struct_as_record=False, squeeze_me=True)
    except Exception as e:
        raise InputError(f"{path}: not a readable .mat file ({type(e).__name__}: {e})") from None
    rel = m.get("RELEASE")
    if rel is None:
        raise InputError(f"{path}: key 'RELEASE': missing")
    annolist = _as_list(_field(rel, "annolist"))
    if not annolist:
        raise InputError(f"{path}: key 'RELEASE.annolist': missing or empty")
    train_flags = np.asarray(
        _field(rel, "img_train") if _field(rel, "img_train") is not None else np.ones(len(annolist))
    ).ravel()
    if len(train_flags) != len(annolist):
        raise InputError(f"{path}: key 'RELEASE.img_train': {len(train_flags)} flags for {len(annolist)} images")
    rows: list[Row] = []
    for i, ann in enumerate(annolist):
        if split == "train" and not train_flags[i]:
            continue
        if split == "test" and train_flags[i]:
            continue
        image = _field(ann, "image")
        name = _field(image, "name") if image is not None else None
        if not isinstance(name, str):
            raise InputError(f"{path}: key 'RELEASE.annolist({i + 1}).image.name': missing")
        for r_i, rect in enumerate(_as_list(_field(ann, "annorect"))):
            ap = _field(rect, "annopoints")
            points = _as_list(_field(ap, "point")) if ap is not None and not isinstance(ap, np.ndarray) else []
            if not points:
                continue
            kp = np.zeros((16, 2))
            conf = np.zeros(16)
            vis = np.zeros(16, bool)
            for p in points:
                try:
                    jid = int(_field(p, "id"))
                    x, y = float(_field(p, "x")), float(_field(p, "y"))
                except (TypeError, ValueError):
                    raise InputError(
                        f"{path}: key 'RELEASE.annolist({i + 1}).annorect({r_i + 1}).annopoints.point': needs id, x, y"
                    ) from None
                if not 0 <= jid < 16:
                    raise InputError(
                        f"{path}: key 'RELEASE.annolist({i + 1}).annorect({r_i + 1})': joint id {jid} outside 0..15"
                    )
                kp[jid] = (x, y)
                conf[jid] = 1.0
                v = _field(p, "is_visible")
                try:
                    vis[jid] = (
                        bool(int(v)) if v is not None and not (isinstance(v, np.ndarray) and v.size == 0) else False
                    )
                except (TypeError, ValueError):
                    vis[jid] = str(v).strip() == "1"
            objpos = _field(rect, "objpos")
            scale = _field(rect, "scale")
            if objpos is None or scale is None or isinstance(scale, np.ndarray):
                centre = kp[conf > 0].mean(0)
                scale_f = float(np.ptp(kp[conf > 0], axis=0).max() / 200.0 * 1.25) if (conf > 0).sum() > 1 else 1.0
            else:
                centre = np.array([float(_field(objpos, "x")), float(_field(objpos, "y"))])
                scale_f = float(scale)
            rows.append((kp, conf, vis, name, centre, scale_f))
    return rows


def save_mpii(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    save_npz_atomic(path, **arrays)
