"""Shared output of the 2D image-dataset converters (COCO, MPII): a weakpose 2D keypoint file.

Keys (DESIGN.md §4 plus image information):
``keypoints_2d`` [N, 17, 2] px in Human3.6M-17 order (converted with
:func:`weakpose.skeleton.to_h36m17`; synthesised joints are means of their sources, with the
minimum of their confidences, so a joint made from a missing one is missing), ``confidence``
[N, 17] (1 = annotated, 0 = missing), ``source_keypoints`` [N, K, 2] and ``source_confidence``
[N, K] in the dataset's own layout, ``source_visible`` [N, K] (the dataset's visibility flag:
annotated and not occluded), ``image_path`` [N], ``image_size`` [N, 2] (w, h; 0 when unknown),
``bbox`` [N, 4] person box (x, y, w, h) px as the dataset gives it, ``box`` [N, 4] the same box as
(x0, y0, x1, y1) px (the form ``weakpose predict`` and the image methods' ``images=FILE`` read,
:mod:`weakpose.data.image_files`), ``joint_names``, ``source_joint_names`` and
``protocol`` (JSON: dataset, layout, synthesised joints, filters).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from weakpose.data.converters._common import InputError
from weakpose.skeleton import H36M17_NAMES, LAYOUTS, SYNTHESISED, to_h36m17


def xywh_to_xyxy(bbox: np.ndarray) -> np.ndarray:
    """Boxes (x, y, w, h) -> (x0, y0, x1, y1)."""
    bbox = np.asarray(bbox)
    return np.concatenate([bbox[..., :2], bbox[..., :2] + bbox[..., 2:]], -1)


def assemble_2d(
    layout: str,
    keypoints: np.ndarray,
    confidence: np.ndarray,
    visible: np.ndarray,
    image_path: list[str],
    image_size: np.ndarray,
    bbox: np.ndarray,
    min_joints: int,
    protocol: dict,
    extras: dict[str, np.ndarray] | None = None,
    source: str | Path = "",
) -> dict[str, np.ndarray]:
    """Convert to Human3.6M-17, drop people with fewer than ``min_joints`` annotated H36M joints."""
    if len(keypoints) == 0:
        raise InputError(f"{source}: no annotated person found")
    kp = np.asarray(keypoints, np.float64)
    conf = np.asarray(confidence, np.float64)
    kp = np.where(conf[..., None] > 0, kp, 0.0)
    kp17, conf17 = to_h36m17(kp, conf, layout)
    keep = (conf17 > 0).sum(-1) >= max(min_joints, 1)
    if not keep.any():
        raise InputError(f"{source}: no person with at least {max(min_joints, 1)} annotated Human3.6M-17 joints")
    proto = {
        "layout": layout,
        "synthesised_joints": list(SYNTHESISED[layout]),
        "min_joints": min_joints,
        "dropped_people": int((~keep).sum()),
        "units": "px",
    }
    proto.update(protocol)
    out = {
        "keypoints_2d": kp17[keep].astype(np.float32),
        "confidence": conf17[keep].astype(np.float32),
        "source_keypoints": kp[keep].astype(np.float32),
        "source_confidence": conf[keep].astype(np.float32),
        "source_visible": np.asarray(visible, bool)[keep],
        "image_path": np.array(image_path, dtype=str)[keep],
        "image_size": np.asarray(image_size, np.int32).reshape(-1, 2)[keep],
        "bbox": np.asarray(bbox, np.float32).reshape(-1, 4)[keep],
        "box": xywh_to_xyxy(np.asarray(bbox, np.float32).reshape(-1, 4)[keep]),
        "joint_names": np.array(H36M17_NAMES),
        "source_joint_names": np.array(LAYOUTS[layout].names),
        "protocol": np.array(json.dumps(proto)),
    }
    for k, v in (extras or {}).items():
        out[k] = np.asarray(v)[keep]
    return out
