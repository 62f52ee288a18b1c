"""Exports of a prediction file: BVH (animation tools) and JSON (anything else).

**BVH.** The skeleton has the Human3.6M-17 joints with the CMU-WS training subjects' mean bone
lengths (:func:`weakpose.data.statistics.training_bone_lengths`), in a T-pose rest pose, Y up,
the person facing +Z, in centimetres. A prediction (camera frame: x right, y down, z forward;
the person faces the camera) maps to it by ``(X, Y, Z) = (x, −y, −z)``. Joint rotations come
from the 3D joints:

* a joint with one child bone turns by the smallest rotation that takes the bone's rest
  direction (carried by the parent's rotation) onto its predicted direction (no twist);
* a joint with several child bones (pelvis, thorax) gets the rotation that best fits all of
  them (Procrustes, :func:`weakpose.geometry.procrustes`): the body's orientation. Each of its
  child bones then hangs from a zero-length joint of its own (``RightHip``, ``LeftHip``,
  ``LowerBack``, ``NeckBase``, ``LeftShoulder``, ``RightShoulder``) that turns it onto the
  predicted direction, so every bone direction is reproduced exactly;
* end joints (ankles, wrists, head) carry no rotation.

Reading the file back (any BVH reader) gives the prediction with every bone set to the mean
length (:func:`with_bone_lengths`). The root (pelvis) stands ``hip_height`` above the floor
(the mean leg length) since predictions are root-relative. Rotation channels are
``Zrotation Yrotation Xrotation`` (``R = Rz Ry Rx``, degrees), converted by
:func:`weakpose.geometry.rotations.matrix_to_euler`.

**JSON.** One object: ``joint_names``, ``bones``, ``units`` (mm), ``frame`` (the camera frame
convention), ``fps`` and per frame ``frame_index``, ``timestamp`` (s), ``positions_3d``
[17][3], and when present ``keypoints_2d``, ``confidence``, ``guessed`` and ``hypotheses``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from weakpose.cli_support import declare_paths, positive_float
from weakpose.data.contracts import InputError, load_prediction_frames
from weakpose.geometry.procrustes import procrustes
from weakpose.geometry.rotations import matrix_to_euler, rotation_between
from weakpose.skeleton import H36M17

#: BVH names of the Human3.6M-17 joints.
BVH_NAMES = ("Hips", "RightUpLeg", "RightLeg", "RightFoot", "LeftUpLeg", "LeftLeg", "LeftFoot", "Spine", "Thorax",
             "Neck", "Head", "LeftArm", "LeftForeArm", "LeftHand", "RightArm", "RightForeArm", "RightHand")
#: Zero-length joints that carry the child bones of the pelvis and the thorax.
SOCKET_NAMES = {1: "RightHip", 4: "LeftHip", 7: "LowerBack", 9: "NeckBase", 11: "LeftShoulder", 14: "RightShoulder"}
#: Rest (T-pose) direction of the bone ending at each joint, BVH frame (Y up, +X = person's left).
_REST = {1: (-1, 0, 0), 2: (0, -1, 0), 3: (0, -1, 0), 4: (1, 0, 0), 5: (0, -1, 0), 6: (0, -1, 0), 7: (0, 1, 0),
         8: (0, 1, 0), 9: (0, 1, 0), 10: (0, 1, 0), 11: (1, 0, 0), 12: (1, 0, 0), 13: (1, 0, 0), 14: (-1, 0, 0),
         15: (-1, 0, 0), 16: (-1, 0, 0)}
#: camera frame (x right, y down, z forward) -> BVH frame (X right, Y up, Z towards the camera)
CAMERA_TO_BVH = np.diag([1.0, -1.0, -1.0])
MM_PER_UNIT = 10.0  # the BVH file is in centimetres


def _children(j: int) -> list[int]:
    return [c for c, p in enumerate(H36M17.parents) if p == j]


@dataclass
class BVHLayout:
    """The exported hierarchy: per BVH joint its name, parent, H36M joint (-1 for a socket),
    the H36M bone it orients (child joint, -1 for none) and its rest offset (mm, BVH frame)."""

    names: list[str]
    parents: list[int]
    h36m: list[int]
    drives: list[int]
    offsets: np.ndarray


def bvh_layout(bone_lengths: np.ndarray) -> BVHLayout:
    """The hierarchy for bone lengths ``[16]`` (mm, ``H36M17.bones`` order)."""
    length = {c: float(L) for (_, c), L in zip(H36M17.bones, bone_lengths)}
    names, parents, h36m, drives, offsets = [], [], [], [], []
    index = {}

    def add(name, parent, joint, drive, offset):
        names.append(name), parents.append(parent), h36m.append(joint), drives.append(drive), offsets.append(offset)
        return len(names) - 1

    def visit(j: int, parent: int) -> None:
        p = H36M17.parents[j]
        offset = np.zeros(3) if p < 0 else np.asarray(_REST[j], float) * length[j]
        kids = _children(j)
        index[j] = add(BVH_NAMES[j], parent, j, kids[0] if len(kids) == 1 else -1, offset)
        for c in kids:
            if len(kids) > 1:
                visit(c, add(SOCKET_NAMES[c], index[j], -1, c, np.zeros(3)))
            else:
                visit(c, index[j])

    visit(0, -1)
    return BVHLayout(names, parents, h36m, drives, np.stack(offsets))


def with_bone_lengths(positions: np.ndarray, bone_lengths: np.ndarray) -> np.ndarray:
    """Poses ``[..., 17, 3]`` with every bone's direction kept and its length set to
    ``bone_lengths`` (root-relative; what a BVH export reproduces)."""
    positions = np.asarray(positions, np.float64)
    out = np.zeros_like(positions)
    for (p, c), L in zip(H36M17.bones, bone_lengths):
        d = positions[..., c, :] - positions[..., p, :]
        n = np.linalg.norm(d, axis=-1, keepdims=True)
        out[..., c, :] = out[..., p, :] + L * d / np.maximum(n, 1e-9)
    return out


def local_rotations(layout: BVHLayout, positions: np.ndarray) -> np.ndarray:
    """Local rotations ``[F, B, 3, 3]`` of the layout's joints for poses ``[F, 17, 3]`` (mm,
    camera frame) -- the rules of the module docstring."""
    X = torch.as_tensor(np.asarray(positions, np.float64) @ CAMERA_TO_BVH.T)
    F, B = X.shape[0], len(layout.names)
    eye = torch.eye(3, dtype=X.dtype).expand(F, 3, 3)
    world: list[torch.Tensor] = []
    local: list[torch.Tensor] = []
    rest = {c: torch.tensor(_REST[c], dtype=X.dtype) for c in _REST}
    for b in range(B):
        parent = layout.parents[b]
        W_parent = eye if parent < 0 else world[parent]
        j, c = layout.h36m[b], layout.drives[b]
        kids = _children(j) if j >= 0 else []
        if c >= 0:      # one bone: smallest turn from its carried rest direction onto the prediction
            bone = X[:, c] - X[:, H36M17.parents[c]]
            W = rotation_between(W_parent @ rest[c], bone) @ W_parent
        elif len(kids) > 1:  # several bones: the rotation that fits them all
            src = torch.stack([rest[k] for k in kids]).expand(F, -1, -1)
            dst = X[:, kids] - X[:, j : j + 1]
            dst = dst / dst.norm(dim=-1, keepdim=True).clamp_min(1e-9)
            W, _, _ = procrustes(src, dst, scale=False)
        else:           # an end joint
            W = W_parent
        world.append(W)
        local.append(W_parent.transpose(-1, -2) @ W)
    return torch.stack(local, 1).numpy()


def bvh_text(positions: np.ndarray, bone_lengths: np.ndarray, frame_time: float) -> str:
    """The BVH file of poses ``[F, 17, 3]`` (mm, camera frame, root-relative)."""
    layout = bvh_layout(bone_lengths)
    R = local_rotations(layout, positions)
    euler = matrix_to_euler(torch.as_tensor(R)).numpy()          # [F, B, 3] (Z, Y, X) degrees
    leg = {c: float(L) for (_, c), L in zip(H36M17.bones, bone_lengths)}
    hip_height = (leg[2] + leg[3] + leg[5] + leg[6]) / 2
    lines = ["HIERARCHY"]

    def block(b: int, depth: int) -> None:
        pad = "  " * depth
        kind = "ROOT" if layout.parents[b] < 0 else "JOINT"
        off = layout.offsets[b] / MM_PER_UNIT
        lines.append(f"{pad}{kind} {layout.names[b]}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}  OFFSET {off[0]:.6f} {off[1]:.6f} {off[2]:.6f}")
        channels = "Zrotation Yrotation Xrotation"
        if kind == "ROOT":
            lines.append(f"{pad}  CHANNELS 6 Xposition Yposition Zposition {channels}")
        else:
            lines.append(f"{pad}  CHANNELS 3 {channels}")
        kids = [k for k, p in enumerate(layout.parents) if p == b]
        for k in kids:
            block(k, depth + 1)
        if not kids:
            lines.append(f"{pad}  End Site")
            lines.append(f"{pad}  {{")
            lines.append(f"{pad}    OFFSET 0.000000 0.000000 0.000000")
            lines.append(f"{pad}  }}")
        lines.append(f"{pad}}}")

    block(0, 0)
    F = len(positions)
    lines += ["MOTION", f"Frames: {F}", f"Frame Time: {frame_time:.6f}"]
    root = f"0.000000 {hip_height / MM_PER_UNIT:.6f} 0.000000"
    for f in range(F):
        lines.append(root + " " + " ".join(f"{v:.6f}" for v in euler[f].reshape(-1)))
    return "\n".join(lines) + "\n"


def frame_rate(arrays: dict[str, np.ndarray], default: float = 30.0) -> float:
    """Frames per second of a prediction file: its ``fps``, else from ``timestamp``, else ``default``."""
    fps, t = (np.asarray(arrays.get(key, []), np.float64).reshape(-1) for key in ("fps", "timestamp"))
    if fps.size == 1 and np.isfinite(fps[0]) and fps[0] > 0:
        return float(fps[0])
    if t.size > 1 and np.all(np.isfinite(t)) and np.all(np.diff(t) > 0):
        return float(1.0 / np.median(np.diff(t)))
    return default


def json_document(arrays: dict[str, np.ndarray], fps: float) -> dict:
    """The JSON export of a prediction file (see module docstring)."""
    pos = np.asarray(arrays["positions_3d"], np.float64)
    n = len(pos)
    index = np.asarray(arrays.get("frame_index", np.arange(n))).reshape(-1)
    times = np.asarray(arrays["timestamp"], np.float64) if "timestamp" in arrays else index / fps
    per_frame = {k: np.asarray(arrays[k]) for k in ("keypoints_2d", "confidence", "guessed", "hypotheses")
                 if k in arrays and len(arrays[k]) == n}
    frames = []
    for i in range(n):
        f = {"frame_index": int(index[i]), "timestamp": round(float(times[i]), 6),
             "positions_3d": np.round(pos[i], 3).tolist()}
        for k, v in per_frame.items():
            f[k] = v[i].astype(bool).tolist() if k == "guessed" else np.round(v[i].astype(np.float64), 3).tolist()
        frames.append(f)
    return {
        "format": "weakpose prediction 1", "joint_names": list(H36M17.names),
        "bones": [list(b) for b in H36M17.bones], "units": "mm",
        "frame": "camera (OpenCV: x right, y down, z forward), root-relative at the pelvis",
        "fps": fps, "frames": frames,
    }


def export_command(args) -> int:
    """``weakpose export PRED.npz --bvh OUT.bvh --json OUT.json``."""
    from weakpose.atomic import write_text_atomic

    if not args.bvh and not args.json:
        raise InputError("command line: export needs --bvh FILE and/or --json FILE")
    arrays = load_prediction_frames(args.prediction)
    fps = frame_rate(arrays) if args.fps is None else args.fps
    texts = {}
    if args.bvh:
        from weakpose.data.paths import data_root
        from weakpose.data.statistics import training_bone_lengths

        texts[args.bvh] = bvh_text(arrays["positions_3d"], training_bone_lengths(data_root(args.data)), 1.0 / fps)
    if args.json:
        texts[args.json] = json.dumps(json_document(arrays, fps))
    for path, text in texts.items():
        write_text_atomic(path, text)
        print(f"wrote {path}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export", help="write a prediction as BVH (animation tools) and/or JSON",
        description="BVH: a Human3.6M-17 skeleton with the training subjects' mean bone lengths (cm, Y up), joint "
                    "rotations from the predicted 3D joints (docs/images.md). JSON: joints, 2D input, guessed "
                    "joints, hypotheses and timestamps per frame (mm, camera frame).",
        epilog="example: weakpose export pred.npz --bvh pred.bvh --json pred.json")
    p.add_argument("prediction", type=Path, metavar="PRED.npz", help="prediction file (positions_3d [N, 17, 3] mm)")
    p.add_argument("--bvh", type=Path, metavar="OUT.bvh", help="BVH file to write")
    p.add_argument("--json", type=Path, metavar="OUT.json", help="JSON file to write")
    p.add_argument("--fps", type=positive_float, default=None,
                   help="frame rate (default: the file's fps, else from its timestamps, else 30)")
    p.add_argument("--data", metavar="DIR", help="shared data folder (for the training bone lengths)")
    p.set_defaults(func=export_command)
    declare_paths(p, inputs=("prediction",), outputs=("bvh", "json"))


__all__ = ["BVHLayout", "bvh_layout", "bvh_text", "with_bone_lengths", "local_rotations", "json_document",
           "frame_rate", "export_command", "register"]
