"""COCO keypoints (``person_keypoints_<split>.json``, cocodataset.org) -> weakpose 2D file.

The annotation file holds ``images`` (``id``, ``file_name``, ``width``, ``height``) and
``annotations`` (``image_id``, ``category_id``, ``keypoints`` = 17 × (x, y, v), ``bbox``
(x, y, w, h), ``iscrowd``, ``num_keypoints``). ``v`` is 0 (not labelled), 1 (labelled, occluded)
or 2 (labelled, visible). One sample per person annotation; crowd annotations are skipped.
Labelled joints get confidence 1 (``visible_only=True``: only ``v = 2``); the layout conversion
to Human3.6M-17 is :func:`weakpose.skeleton.to_h36m17` with layout ``coco17`` (pelvis = mid-hip,
spine = mean of hips and shoulders, thorax = mid-shoulder, neck_nose = nose, head = mid-ear).
Output keys: :mod:`weakpose.data.converters.image2d` plus ``image_id`` and ``annotation_id``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from weakpose.data.converters._common import InputError, save_npz_atomic
from weakpose.data.converters.image2d import assemble_2d

__all__ = ["convert_coco", "save_coco"]


def _load_json(path: Path) -> object:
    if not path.exists():
        raise InputError(f"{path}: file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not valid JSON ({e})") from None


def convert_coco(
    path: str | Path,
    image_root: str = "",
    min_joints: int = 1,
    visible_only: bool = False,
) -> dict[str, np.ndarray]:
    """Convert a COCO person-keypoints file.

    Args:
        path: ``person_keypoints_<split>.json``.
        image_root: prefix joined to each ``file_name`` in ``image_path`` (e.g. ``images/val2017``).
        min_joints: drop people with fewer annotated Human3.6M-17 joints (at least 1, as the 2D
            contract needs one observed joint).
        visible_only: confidence 1 only for ``v = 2`` (occluded labelled joints become missing).

    Raises:
        InputError: unreadable JSON, missing keys (``FILE: key 'annotations[3].keypoints': ...``),
            wrong keypoint counts, annotations of unknown images.
    """
    path = Path(path)
    d = _load_json(path)
    if not isinstance(d, dict):
        raise InputError(f"{path}: expected a JSON object with 'images' and 'annotations'")
    for key in ("images", "annotations"):
        if key not in d or not isinstance(d[key], list):
            raise InputError(f"{path}: key '{key}': missing or not a list")
    images: dict[int, dict] = {}
    for i, im in enumerate(d["images"]):
        for k in ("id", "file_name"):
            if not isinstance(im, dict) or k not in im:
                raise InputError(f"{path}: key 'images[{i}].{k}': missing")
        images[im["id"]] = im
    person_ids = {c["id"] for c in d.get("categories", []) if isinstance(c, dict) and c.get("name") == "person"}
    kps, confs, vis, paths, sizes, boxes, img_ids, ann_ids = [], [], [], [], [], [], [], []
    n_crowd = 0
    for i, a in enumerate(d["annotations"]):
        if not isinstance(a, dict):
            raise InputError(f"{path}: key 'annotations[{i}]': not an object")
        for k in ("image_id", "keypoints", "bbox"):
            if k not in a:
                raise InputError(f"{path}: key 'annotations[{i}].{k}': missing")
        if person_ids and a.get("category_id") not in person_ids:
            continue
        if a.get("iscrowd", 0):
            n_crowd += 1
            continue
        k = np.asarray(a["keypoints"], dtype=np.float64)
        if k.shape != (51,):
            raise InputError(f"{path}: key 'annotations[{i}].keypoints': {k.size} values, expected 51 (17 x (x, y, v))")
        b = np.asarray(a["bbox"], dtype=np.float64)
        if b.shape != (4,):
            raise InputError(f"{path}: key 'annotations[{i}].bbox': {b.size} values, expected 4 (x, y, w, h)")
        if a["image_id"] not in images:
            raise InputError(f"{path}: key 'annotations[{i}].image_id': no image with id {a['image_id']}")
        k = k.reshape(17, 3)
        v = k[:, 2]
        if not np.isin(v, (0, 1, 2)).all():
            raise InputError(f"{path}: key 'annotations[{i}].keypoints': visibility flags must be 0, 1 or 2")
        im = images[a["image_id"]]
        kps.append(k[:, :2])
        confs.append((v == 2) if visible_only else (v > 0))
        vis.append(v == 2)
        paths.append(str(Path(image_root) / im["file_name"]) if image_root else str(im["file_name"]))
        sizes.append((int(im.get("width", 0)), int(im.get("height", 0))))
        boxes.append(b)
        img_ids.append(a["image_id"])
        ann_ids.append(a.get("id", -1))
    if not kps:
        raise InputError(f"{path}: key 'annotations': no non-crowd person annotation")
    return assemble_2d(
        "coco17", np.stack(kps), np.stack(confs).astype(np.float64), np.stack(vis), paths, np.array(sizes),
        np.stack(boxes), min_joints,
        {"dataset": "coco", "source_file": path.name, "visible_only": visible_only, "skipped_crowd": n_crowd},
        {"image_id": np.array(img_ids, dtype=np.int64), "annotation_id": np.array(ann_ids, dtype=np.int64)},
        source=path,
    )  # fmt: skip


def save_coco(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    save_npz_atomic(path, **arrays)
