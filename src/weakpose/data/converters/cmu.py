"""CMU motion capture (Hahne's BVH release) -> weakpose's ``cmu_h36m17.npz``.

Follows ``data/cmu/README.md`` ("How cmu_h36m17.npz was made"), rule by rule:

1. Euler channels in degrees, applied in the listed order (:mod:`weakpose.data.bvh`).
2. Frame 0 of every file (an artificial T-pose) is dropped.
3. 1 BVH unit = 1/0.45 inch = 56.444 mm (:data:`MM_PER_BVH_UNIT`).
4. Thorax repair: ``Neck``, ``LeftShoulder`` and ``RightShoulder`` get the OFFSET of ``Spine1``
   instead of zero (:func:`thorax_repaired_offsets`).
5. Joint mapping to Human3.6M-17 (:data:`H36M_FROM_BVH`; pelvis = midpoint of the hips) plus
   ``extra_positions`` (head top, CMU root, toes).
6. Cleaning at the source rate (:func:`clean_trial`). Details that the README leaves implicit and
   that reproduce the reference file exactly (checked on all 98 files,
   ``benchmarks/cmu_conversion.py``):

   * a frame is *frozen* when all its channels are 0 or equal to the previous frame's; frozen
     frames are dropped first;
   * the glitch test runs over the remaining frames: the largest displacement of any of the 17
     output joints between a kept frame and the previous kept frame, divided by the number of
     source frames between them (``max_step_mm_per_src_frame``), above 150 mm flags a jump
     between frames ``i-1`` and ``i``; the frames ``i-12 .. i+11`` (0.1 s on each side of the
     jump at 120 fps, ``round(0.1 * fps)``) are dropped;
   * the runs of consecutive remaining frames are the clips; clips shorter than 1 s (120 frames)
     are dropped.

7. Every 4th frame of each clip, starting at its first frame, is kept (120 -> 30 fps).

Actions come from a keyword rule on CMU's trial description (:func:`action_from_description`).

With ``rotations=True`` the output also holds the joint rotations of every kept frame, for
kinematic priors; see :func:`load_cmu_rotations` for the keys and :func:`repose` for forward
kinematics from them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from weakpose.data import bvh as bvhlib
from weakpose.data.converters._common import InputError, save_npz_atomic
from weakpose.skeleton import H36M17

__all__ = [
    "MM_PER_BVH_UNIT",
    "H36M_JOINT_NAMES",
    "H36M_PARENTS",
    "H36M_FROM_BVH",
    "EXTRA_FROM_BVH",
    "ACTION_NAMES",
    "CleaningConfig",
    "TrialResult",
    "read_index",
    "action_from_description",
    "thorax_repaired_offsets",
    "bvh_to_h36m17",
    "clean_trial",
    "convert_trial",
    "convert_cmu",
    "save_cmu",
    "CMURotations",
    "load_cmu_rotations",
    "rotations_from_arrays",
    "cmu_rotations",
    "repose",
]

MM_PER_BVH_UNIT: float = 25.4 / 0.45
"""CMU's ``length 0.45``: one BVH unit is 1/0.45 inch = 56.444 mm."""

H36M_JOINT_NAMES: tuple[str, ...] = tuple(H36M17.names)
H36M_PARENTS: tuple[int, ...] = tuple(int(p) for p in H36M17.parents)

# README rule 5. A tuple means the midpoint of those BVH joints.
H36M_FROM_BVH: dict[str, str | tuple[str, ...]] = {
    "pelvis": ("LeftUpLeg", "RightUpLeg"),
    "r_hip": "RightUpLeg", "r_knee": "RightLeg", "r_ankle": "RightFoot",
    "l_hip": "LeftUpLeg", "l_knee": "LeftLeg", "l_ankle": "LeftFoot",
    "spine": "Spine", "thorax": "Neck", "neck_nose": "Neck1", "head": "Head",
    "l_shoulder": "LeftArm", "l_elbow": "LeftForeArm", "l_wrist": "LeftHand",
    "r_shoulder": "RightArm", "r_elbow": "RightForeArm", "r_wrist": "RightHand",
}  # fmt: skip
EXTRA_FROM_BVH: dict[str, str] = {
    "head_top": "Head_End", "cmu_root": "Hips", "l_toe": "LeftToeBase", "r_toe": "RightToeBase",
}  # fmt: skip

THORAX_SOURCE = "Spine1"
THORAX_TARGETS = ("Neck", "LeftShoulder", "RightShoulder")

ACTION_NAMES: tuple[str, ...] = (
    "basketball", "bend_pick_up", "dance", "jump", "playground", "punch", "run", "swordplay",
    "walk", "wash",
)  # fmt: skip
# Checked in this order; the first rule whose pattern occurs in the description wins. Category
# prefixes ("playground - ...", "dance - ...") come first so "playground - forward jumps" is
# playground and "dance - ... bending back" is dance.
_ACTION_RULES: tuple[tuple[str, str], ...] = (
    ("playground", r"\bplayground\b"),
    ("basketball", r"\bbasketball\b|\bdribbl"),
    ("dance", r"\bdance\b|\bballet\b"),
    ("swordplay", r"\bsword"),
    ("punch", r"\bpunch|\bstrike\b|\bbox"),
    ("wash", r"\bwash"),
    ("bend_pick_up", r"\bbend|\bscoop|\bpick up\b"),
    ("jump", r"\bjump"),
    ("run", r"\brun\b|\bjog"),
    ("walk", r"\bwalk|\bstride\b|\bnavigate\b"),
)
OTHER_ACTION = "other"

_ACK = (
    "The data used in this project was obtained from mocap.cs.cmu.edu. "
    "The database was created with funding from NSF EIA-0196217."
)


@dataclass(frozen=True)
class CleaningConfig:
    """README rule 6-7 parameters (the reference values are the defaults)."""

    max_step_mm_per_src_frame: float = 150.0
    glitch_pad_s: float = 0.1
    min_clip_s: float = 1.0
    stride: int = 4
    drop_first_frame: bool = True
    thorax_fix: bool = True


@dataclass
class TrialResult:
    """One converted BVH trial (all arrays at the output rate, world frame, mm)."""

    trial: str
    subject: int
    description: str
    action: str
    src_fps: float
    positions: np.ndarray  # [N, 17, 3]
    extra_positions: np.ndarray  # [N, 4, 3]
    src_frame: np.ndarray  # [N] frame index in the BVH (0 = T-pose)
    clip_index: np.ndarray  # [N] clip number within the trial
    clips: list[tuple[int, int]]  # (first, last) source frame of each clip, inclusive
    stats: dict[str, int]
    rotations: np.ndarray | None = None  # [N, R, 3, 3] local rotations of the rotating joints
    root_translation: np.ndarray | None = None  # [N, 3] mm, the Hips translation channels
    skeleton: bvhlib.BVHSkeleton | None = None
    offsets_mm: np.ndarray | None = None  # [J, 3] thorax-repaired offsets, mm


# --------------------------------------------------------------------------------------------
# index and actions


def read_index(path: str | Path) -> dict[str, str]:
    """Read ``index.tsv`` (``trial<TAB>description`` lines, ``#`` comments) -> {trial: description}."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise InputError(f"{path}: cannot read trial index: {e.strerror or e}") from None
    out: dict[str, str] = {}
    for k, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) < 2:
            raise InputError(f"{path}:{k}: expected 'trial<TAB>description'")
        trial, desc = parts[0].strip(), parts[1].strip()
        if trial == "trial" and desc == "description":
            continue  # header line
        if not re.fullmatch(r"\d+_\d+", trial):
            raise InputError(f"{path}:{k}: trial name {trial!r} is not SUBJ_TRIAL")
        out[trial] = desc
    return out


def action_from_description(description: str) -> str:
    """Canonical action of a CMU trial description (keyword rule, first match wins)."""
    d = description.lower()
    for action, pattern in _ACTION_RULES:
        if re.search(pattern, d):
            return action
    return OTHER_ACTION


# --------------------------------------------------------------------------------------------
# geometry


def thorax_repaired_offsets(skeleton: bvhlib.BVHSkeleton) -> np.ndarray:
    """[J, 3] offsets where ``Neck``, ``LeftShoulder`` and ``RightShoulder`` get ``Spine1``'s offset.

    README rule 4: the release omits the thorax bone (those joints sit at ``Spine1``); the
    upper-back vector is used as the missing thorax vector. Offsets that are already non-zero are
    left alone (a release that has the bone needs no repair).
    """
    off = skeleton.offsets.copy()
    src = off[_index(skeleton, THORAX_SOURCE)]
    for name in THORAX_TARGETS:
        j = _index(skeleton, name)
        if np.allclose(off[j], 0.0):
            off[j] = src
    return off


def _index(skeleton: bvhlib.BVHSkeleton, name: str) -> int:
    try:
        return skeleton.index(name)
    except KeyError as e:
        raise InputError(str(e.args[0])) from None


def bvh_to_h36m17(world_positions: np.ndarray, skeleton: bvhlib.BVHSkeleton) -> tuple[np.ndarray, np.ndarray]:
    """Map [F, J, 3] BVH joint positions to (Human3.6M-17 [F, 17, 3], extras [F, 4, 3]) (rule 5)."""
    out = np.empty(world_positions.shape[:-2] + (17, 3), dtype=np.float64)
    for k, name in enumerate(H36M_JOINT_NAMES):
        src = H36M_FROM_BVH[name]
        if isinstance(src, tuple):
            out[..., k, :] = np.mean([world_positions[..., _index(skeleton, s), :] for s in src], axis=0)
        else:
            out[..., k, :] = world_positions[..., _index(skeleton, src), :]
    extra = world_positions[..., [_index(skeleton, s) for s in EXTRA_FROM_BVH.values()], :]
    return out, extra


def clean_trial(
    motion: np.ndarray, positions: np.ndarray, fps: float, config: CleaningConfig = CleaningConfig()
) -> tuple[np.ndarray, dict[str, int]]:
    """README rule 6: which source frames survive cleaning.

    Args:
        motion: [F, C] raw channels (frame 0 included).
        positions: [F, 17, 3] mm of the same frames.
        fps: source frame rate.
        config: thresholds.

    Returns:
        (keep [F] bool, stats with ``src_frames``, ``frozen``, ``glitch_window``, ``dropped``,
        ``clips``) where the counts exclude the T-pose frame.
    """
    F = motion.shape[0]
    first = 1 if config.drop_first_frame else 0
    valid = np.zeros(F, dtype=bool)
    valid[first:] = True
    frozen = np.zeros(F, dtype=bool)
    frozen[first:] = (motion[first:] == 0).all(axis=1)
    if F > 1:
        same = np.zeros(F, dtype=bool)
        same[1:] = (motion[1:] == motion[:-1]).all(axis=1)
        frozen[first:] |= same[first:]
    alive = valid & ~frozen

    idx = np.flatnonzero(alive)
    pad = int(round(config.glitch_pad_s * fps))
    glitch = np.zeros(F, dtype=bool)
    if idx.size > 1:
        step = np.linalg.norm(positions[idx[1:]] - positions[idx[:-1]], axis=-1).max(axis=-1)
        step = step / (idx[1:] - idx[:-1])
        for i in idx[1:][step > config.max_step_mm_per_src_frame]:
            glitch[max(i - pad, 0) : min(i + pad, F)] = True
    glitch_window = int((glitch & alive).sum())
    alive &= ~glitch

    keep = np.zeros(F, dtype=bool)
    min_len = int(round(config.min_clip_s * fps))
    n_clips = 0
    for a, b in _runs(alive):
        if b - a + 1 >= min_len:
            keep[a : b + 1] = True
            n_clips += 1
    stats = {
        "src_frames": int(valid.sum()),
        "frozen": int((frozen & valid).sum()),
        "glitch_window": glitch_window,
        "dropped": int((valid & ~keep).sum()),
        "clips": n_clips,
    }
    return keep, stats


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) inclusive index of each run of True."""
    m = np.concatenate([[False], mask, [False]]).astype(np.int8)
    d = np.diff(m)
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1) - 1
    return list(zip(starts.tolist(), ends.tolist()))


# --------------------------------------------------------------------------------------------
# conversion


def convert_trial(
    path: str | Path,
    trial: str,
    description: str,
    config: CleaningConfig = CleaningConfig(),
    rotations: bool = False,
) -> TrialResult:
    """Convert one BVH file (rules 1-7). ``trial`` is ``SUBJ_TRIAL`` (e.g. ``"01_03"``)."""
    b = bvhlib.read_bvh(path)
    skel = b.skeleton
    offsets = thorax_repaired_offsets(skel) if config.thorax_fix else skel.offsets.copy()
    local = bvhlib.local_rotations(b)
    trans = bvhlib.local_translations(b)
    world = bvhlib.forward_kinematics_from_rotations(skel.parents, offsets, local, trans) * MM_PER_BVH_UNIT
    h36m, extra = bvh_to_h36m17(world, skel)
    keep, stats = clean_trial(b.motion, h36m, _nominal_fps(b.frame_time), config)

    frames: list[np.ndarray] = []
    clip_index: list[np.ndarray] = []
    clips = _runs(keep)
    for c, (a, e) in enumerate(clips):
        f = np.arange(a, e + 1, config.stride)
        frames.append(f)
        clip_index.append(np.full(f.shape, c))
    sel = np.concatenate(frames) if frames else np.zeros(0, dtype=np.int64)
    res = TrialResult(
        trial=trial,
        subject=int(trial.split("_")[0]),
        description=description,
        action=action_from_description(description),
        src_fps=_nominal_fps(b.frame_time),
        positions=h36m[sel].astype(np.float32),
        extra_positions=extra[sel].astype(np.float32),
        src_frame=sel.astype(np.int32),
        clip_index=(np.concatenate(clip_index) if clip_index else np.zeros(0, dtype=np.int64)),
        clips=clips,
        stats=stats,
    )
    if rotations:
        rot_joints = _rotating_joints(skel)
        res.rotations = local[sel][:, rot_joints].astype(np.float32)
        res.root_translation = (trans[sel, 0] * MM_PER_BVH_UNIT).astype(np.float32)
        res.skeleton = skel
        res.offsets_mm = offsets * MM_PER_BVH_UNIT
    return res


def _nominal_fps(frame_time: float) -> float:
    """1 / frame_time, snapped to the integer it rounds from (``.0083333`` -> 120.0)."""
    fps = 1.0 / frame_time
    return float(round(fps)) if abs(fps - round(fps)) < 0.01 else fps


def _rotating_joints(skel: bvhlib.BVHSkeleton) -> list[int]:
    return [j for j, ch in enumerate(skel.channels) if any(c.endswith("rotation") for c in ch)]


def _trial_files(bvh_root: Path, trials: Iterable[str]) -> list[tuple[str, Path]]:
    out = []
    for t in trials:
        p = bvh_root / t.split("_")[0] / f"{t}.bvh"
        if p.exists():
            out.append((t, p))
    return out


def convert_cmu(
    bvh_root: str | Path,
    index: str | Path,
    trials: Sequence[str] | None = None,
    config: CleaningConfig = CleaningConfig(),
    rotations: bool = False,
    progress: Callable[[Iterable], Iterable] | None = None,
) -> dict[str, np.ndarray]:
    """Convert CMU BVH files to the arrays of ``cmu_h36m17.npz`` (see ``data/cmu/README.md``).

    Args:
        bvh_root: folder with ``<subj>/<subj>_<trial>.bvh``.
        index: ``index.tsv`` with the trial descriptions.
        trials: trials to convert (default: every trial of the index whose BVH file exists).
        config: cleaning parameters (defaults = the reference conversion).
        rotations: also return the rotation keys (:func:`load_cmu_rotations`).
        progress: optional wrapper for the file iterator (e.g. ``tqdm``).

    Returns:
        dict of arrays in the layout of the reference npz (and the ``rot_*`` keys when asked).

    Raises:
        InputError: unreadable/malformed BVH or index, a requested trial without file or
            description, no trial found, or trials of one subject with different skeletons when
            ``rotations`` is set.
    """
    bvh_root = Path(bvh_root)
    descriptions = read_index(index)
    if trials is None:
        files = _trial_files(bvh_root, sorted(descriptions))
        if not files:
            raise InputError(
                f"{bvh_root}: no BVH file of the trials listed in {index} (expected <subj>/<subj>_<trial>.bvh)"
            )
    else:
        files = []
        for t in trials:
            if t not in descriptions:
                raise InputError(f"{index}: no description for trial {t!r}")
            p = bvh_root / t.split("_")[0] / f"{t}.bvh"
            if not p.exists():
                raise InputError(f"{p}: BVH file of trial {t!r} not found")
            files.append((t, p))
    it: Iterable = files if progress is None else progress(files)
    results = [convert_trial(p, t, descriptions[t], config, rotations) for t, p in it]
    return _assemble(results, config, rotations)


def _assemble(results: list[TrialResult], config: CleaningConfig, rotations: bool) -> dict[str, np.ndarray]:
    actions = list(ACTION_NAMES)
    if any(r.action == OTHER_ACTION for r in results):
        actions.append(OTHER_ACTION)
    seq: dict[str, list] = {k: [] for k in (
        "names", "trial", "subject", "description", "action", "start", "len",
        "src_start", "src_end", "src_fps", "fps")}  # fmt: skip
    per_frame: dict[str, list] = {k: [] for k in ("positions", "extra", "subject", "seq_id", "src_frame", "action_id")}
    rot: dict[str, list] = {"rotations": [], "root": []}
    n = 0
    for r in results:
        for c, (a, e) in enumerate(r.clips):
            m = r.clip_index == c
            k = int(m.sum())
            sid = len(seq["names"])
            seq["names"].append(r.trial if len(r.clips) == 1 else f"{r.trial}#{c}")
            seq["trial"].append(r.trial)
            seq["subject"].append(r.subject)
            seq["description"].append(r.description)
            seq["action"].append(r.action)
            seq["start"].append(n)
            seq["len"].append(k)
            seq["src_start"].append(a)
            seq["src_end"].append(e)
            seq["src_fps"].append(r.src_fps)
            seq["fps"].append(r.src_fps / config.stride)
            per_frame["positions"].append(r.positions[m])
            per_frame["extra"].append(r.extra_positions[m])
            per_frame["subject"].append(np.full(k, r.subject))
            per_frame["seq_id"].append(np.full(k, sid))
            per_frame["src_frame"].append(r.src_frame[m])
            per_frame["action_id"].append(np.full(k, actions.index(r.action)))
            if rotations:
                rot["rotations"].append(r.rotations[m])
                rot["root"].append(r.root_translation[m])
            n += k

    def cat(key: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        lst = per_frame[key]
        return np.concatenate(lst).astype(dtype) if lst else np.zeros((0,) + shape, dtype=dtype)

    fps_out = {f for f in seq["fps"]}
    stats = np.array(
        [
            (
                r.trial,
                r.stats["src_frames"],
                r.stats["frozen"],
                r.stats["glitch_window"],
                r.stats["dropped"],
                r.stats["clips"],
            )
            for r in results
        ],
        dtype=[
            ("trial", "<U8"),
            ("src_frames", "<i8"),
            ("frozen", "<i8"),
            ("glitch_window", "<i8"),
            ("dropped", "<i8"),
            ("clips", "<i8"),
        ],
    )
    meta = {
        "source": "CMU Graphics Lab Motion Capture Database (mocap.cs.cmu.edu), BVH conversion by B. Hahne "
        "(cgspeed, MotionBuilder-friendly 2010 release), converted by weakpose.data.converters.cmu",
        "acknowledgement": _ACK,
        "units": "mm",
        "up_axis": "y",
        "coordinate_frame": "right-handed BVH world frame, y-up",
        "mm_per_bvh_unit": MM_PER_BVH_UNIT,
        "thorax_fix": config.thorax_fix,
        "mapping": {k: (list(v) if isinstance(v, tuple) else v) for k, v in H36M_FROM_BVH.items()},
        "pelvis": "hipmid",
        "cleaning": {
            "max_step_mm_per_src_frame": config.max_step_mm_per_src_frame,
            "glitch_pad_s": config.glitch_pad_s,
            "min_clip_s": config.min_clip_s,
        },
        "stride": config.stride,
        "extra_joints": EXTRA_FROM_BVH,
        "first_frame_dropped": config.drop_first_frame,
    }
    out: dict[str, np.ndarray] = {
        "positions": cat("positions", (17, 3), np.float32),
        "extra_positions": cat("extra", (4, 3), np.float32),
        "extra_names": np.array(list(EXTRA_FROM_BVH), dtype="<U8"),
        "subject": cat("subject", (), np.int16),
        "seq_id": cat("seq_id", (), np.int32),
        "src_frame": cat("src_frame", (), np.int32),
        "action_id": cat("action_id", (), np.int16),
        "action_names": np.array(actions),
        "seq_names": np.array(seq["names"], dtype=str),
        "seq_trial": np.array(seq["trial"], dtype=str),
        "seq_subject": np.array(seq["subject"], dtype=np.int16),
        "seq_src_start": np.array(seq["src_start"], dtype=np.int64),
        "seq_src_end": np.array(seq["src_end"], dtype=np.int64),
        "seq_description": np.array(seq["description"], dtype=str),
        "seq_action": np.array(seq["action"], dtype=str),
        "seq_start": np.array(seq["start"], dtype=np.int64),
        "seq_len": np.array(seq["len"], dtype=np.int64),
        "seq_src_fps": np.array(seq["src_fps"], dtype=np.float64),
        "seq_fps": np.array(seq["fps"], dtype=np.float64),
        "trial_stats": stats,
        "fps": np.float32(fps_out.pop() if len(fps_out) == 1 else np.nan),
        "joint_names": np.array(H36M_JOINT_NAMES),
        "parents": np.array(H36M_PARENTS, dtype=np.int16),
        "meta": np.array(json.dumps(meta)),
    }
    if rotations:
        out.update(_rotation_arrays(results, rot))
    return out


def _rotation_arrays(results: list[TrialResult], rot: dict[str, list]) -> dict[str, np.ndarray]:
    if not results:
        raise InputError("no trial converted: nothing to store rotations for")
    skel = results[0].skeleton
    assert skel is not None
    for r in results:
        if r.skeleton.names != skel.names or list(r.skeleton.parents) != list(skel.parents):
            raise InputError(f"trial {r.trial}: BVH hierarchy differs from trial {results[0].trial}'s")
    subjects = sorted({r.subject for r in results})
    subj_off: dict[int, np.ndarray] = {}
    for r in results:
        o = r.offsets_mm
        if r.subject in subj_off:
            if not np.allclose(subj_off[r.subject], o, atol=1e-6):
                raise InputError(f"trial {r.trial}: skeleton offsets differ from other trials of subject {r.subject}")
        else:
            subj_off[r.subject] = o
    rot_joints = _rotating_joints(skel)
    J = skel.num_joints
    return {
        "rot_local": np.concatenate(rot["rotations"]).astype(np.float32)
        if rot["rotations"] else np.zeros((0, len(rot_joints), 3, 3), np.float32),
        "rot_root_translation": np.concatenate(rot["root"]).astype(np.float32)
        if rot["root"] else np.zeros((0, 3), np.float32),
        "rot_joint_index": np.array(rot_joints, dtype=np.int16),
        "bvh_joint_names": np.array(skel.names),
        "bvh_parents": np.array(skel.parents, dtype=np.int16),
        "bvh_subjects": np.array(subjects, dtype=np.int16),
        "bvh_offsets": np.stack([subj_off[s] for s in subjects]).astype(np.float64).reshape(len(subjects), J, 3),
    }


def save_cmu(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Write the converted arrays atomically (no partial file on failure)."""
    save_npz_atomic(path, **arrays)


# --------------------------------------------------------------------------------------------
# rotations API


@dataclass
class CMURotations:
    """Joint rotations of a converted CMU file (see :func:`load_cmu_rotations`).

    Attributes:
        local: [N, R, 3, 3] float32 local rotation matrices of the R joints with rotation channels
            (``rot_joint_names``); the root's (``Hips``) is its world orientation.
        root_translation: [N, 3] float32 mm, the root's translation channels (world frame).
        rot_joint_index: [R] index of each rotating joint in the BVH hierarchy.
        rot_joint_names: [R] names.
        joint_names: [J] all BVH joints (end sites as ``<parent>_End``).
        parents: [J] parent index, -1 for the root.
        subjects: [S] subject numbers.
        offsets: [S, J, 3] float64 mm rest offsets per subject (thorax repair applied).
        subject: [N] subject of each frame; ``subject_index`` [N] its row in ``offsets``.
        positions: [N, 17, 3] the stored Human3.6M-17 positions, mm.
        extra_positions: [N, 4, 3], mm.
        seq_id: [N]; action_id [N]; action_names.
    """

    local: np.ndarray
    root_translation: np.ndarray
    rot_joint_index: np.ndarray
    rot_joint_names: list[str]
    joint_names: list[str]
    parents: np.ndarray
    subjects: np.ndarray
    offsets: np.ndarray
    subject: np.ndarray
    subject_index: np.ndarray
    positions: np.ndarray
    extra_positions: np.ndarray
    seq_id: np.ndarray
    action_id: np.ndarray
    action_names: list[str]

    def rot6d(self) -> np.ndarray:
        """[N, R, 6] the first two columns of each rotation matrix (Zhou et al. 2019 6D layout)."""
        import torch

        from weakpose.geometry.rotations import matrix_to_rot6d

        return matrix_to_rot6d(torch.from_numpy(np.ascontiguousarray(self.local))).numpy()


_ROT_KEYS = (
    "rot_local",
    "rot_root_translation",
    "rot_joint_index",
    "bvh_joint_names",
    "bvh_parents",
    "bvh_subjects",
    "bvh_offsets",
)


def load_cmu_rotations(path: str | Path) -> CMURotations:
    """Load the joint rotations written by ``weakpose data convert-cmu --rotations``.

    The file is the positions file of the conversion plus these keys:

    ``rot_local`` [N, R, 3, 3] float32
        local rotation of every BVH joint with rotation channels (R = 31 for CMU), in the order of
        ``rot_joint_index``; for the root it is the world orientation.
    ``rot_root_translation`` [N, 3] float32 mm
        root (``Hips``) translation channels, world frame.
    ``rot_joint_index`` [R] int16
        row of each rotating joint in ``bvh_joint_names``.
    ``bvh_joint_names`` [J], ``bvh_parents`` [J] int16
        the whole BVH hierarchy, end sites included (J = 38 for CMU).
    ``bvh_subjects`` [S] int16, ``bvh_offsets`` [S, J, 3] float64 mm
        rest offsets per subject with the thorax repair applied.

    :func:`repose` turns them back into positions: ``repose(r)`` equals ``r.positions``.

    Raises:
        InputError: missing file or keys, inconsistent shapes.
    """
    path = Path(path)
    try:
        d = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: cannot read npz: {e}") from None
    with d:
        a = {k: d[k] for k in d.files}
    return rotations_from_arrays(a, str(path))


def rotations_from_arrays(a: dict[str, np.ndarray], source: str = "<arrays>") -> CMURotations:
    """:class:`CMURotations` from the dict returned by ``convert_cmu(..., rotations=True)`` (no file)."""
    path = source
    missing = [k for k in _ROT_KEYS + ("positions", "subject") if k not in a]
    if missing:
        hint = " (convert with --rotations)" if "rot_local" in missing else ""
        raise InputError(f"{path}: key {missing[0]!r}: missing{hint}")
    N = a["positions"].shape[0]
    J = a["bvh_parents"].shape[0]
    R = a["rot_joint_index"].shape[0]
    checks = {
        "rot_local": (N, R, 3, 3),
        "rot_root_translation": (N, 3),
        "bvh_offsets": (a["bvh_subjects"].shape[0], J, 3),
        "bvh_joint_names": (J,),
    }
    for k, shp in checks.items():
        if a[k].shape != shp:
            raise InputError(f"{path}: key {k!r}: shape {a[k].shape}, expected {shp}")
    subjects = a["bvh_subjects"].astype(np.int64)
    lookup = {int(s): i for i, s in enumerate(subjects)}
    try:
        subject_index = np.array([lookup[int(s)] for s in a["subject"]], dtype=np.int64)
    except KeyError as e:
        raise InputError(f"{path}: key 'subject': subject {e.args[0]} has no offsets in 'bvh_offsets'") from None
    names = [str(x) for x in a["bvh_joint_names"]]
    rji = a["rot_joint_index"].astype(np.int64)
    return CMURotations(
        local=a["rot_local"],
        root_translation=a["rot_root_translation"],
        rot_joint_index=rji,
        rot_joint_names=[names[j] for j in rji],
        joint_names=names,
        parents=a["bvh_parents"].astype(np.int64),
        subjects=subjects,
        offsets=a["bvh_offsets"],
        subject=a["subject"].astype(np.int64),
        subject_index=subject_index,
        positions=a["positions"],
        extra_positions=a.get("extra_positions", np.zeros((N, 0, 3), np.float32)),
        seq_id=a.get("seq_id", np.zeros(N, np.int32)),
        action_id=a.get("action_id", np.zeros(N, np.int16)),
        action_names=[str(x) for x in a.get("action_names", np.array([]))],
    )


def cmu_rotations(
    cmu_dir: str | Path, subjects: Sequence[int] | None = None, config: CleaningConfig = CleaningConfig()
) -> CMURotations:
    """Convert the shipped BVH files in memory and return their rotations (no file written).

    Args:
        cmu_dir: the ``cmu`` data folder (``bvh/`` and ``index.tsv``), e.g.
            ``weakpose.data.paths.data_root() / "cmu"``.
        subjects: keep only these subjects' trials (e.g. ``weakpose.data.mocap.TRAIN_SUBJECTS``).

    About 5 s for all 98 files on one core.
    """
    cmu_dir = Path(cmu_dir)
    index = cmu_dir / "index.tsv"
    trials = sorted(read_index(index))
    if subjects is not None:
        wanted = {int(x) for x in subjects}
        trials = [t for t in trials if int(t.split("_")[0]) in wanted]
    trials = [t for t in trials if (cmu_dir / "bvh" / t.split("_")[0] / f"{t}.bvh").exists()]
    if not trials:
        raise InputError(f"{cmu_dir / 'bvh'}: no BVH file for subjects {subjects}")
    arrays = convert_cmu(cmu_dir / "bvh", index, trials=trials, config=config, rotations=True)
    return rotations_from_arrays(arrays, str(cmu_dir))


def repose(
    rotations: CMURotations,
    local: np.ndarray | None = None,
    root_translation: np.ndarray | None = None,
    frames: np.ndarray | slice | None = None,
    all_joints: bool = False,
) -> np.ndarray:
    """Forward kinematics of the stored skeleton from (possibly edited) local rotations.

    Args:
        rotations: loaded file.
        local: optional [n, R, 3, 3] replacement rotations (default: the stored ones of ``frames``).
        root_translation: optional [n, 3] mm replacement root translation.
        frames: which frames (index array / slice) to use; default all.
        all_joints: return all J BVH joints instead of Human3.6M-17.

    Returns:
        [n, 17, 3] mm Human3.6M-17 positions (or [n, J, 3] with ``all_joints``); with the stored
        rotations this equals ``rotations.positions[frames]`` up to float32 rounding.
    """
    sel = slice(None) if frames is None else frames
    loc = rotations.local[sel] if local is None else np.asarray(local)
    root = rotations.root_translation[sel] if root_translation is None else np.asarray(root_translation)
    n = loc.shape[0]
    J = len(rotations.joint_names)
    full = np.broadcast_to(np.eye(3), (n, J, 3, 3)).copy()
    full[:, rotations.rot_joint_index] = loc
    offsets = rotations.offsets[rotations.subject_index[sel]]  # [n, J, 3]
    root_idx = np.flatnonzero(rotations.parents < 0)
    trans = np.zeros((n, J, 3))
    trans[:, root_idx] = root[:, None, :]
    world = bvhlib.forward_kinematics_from_rotations(rotations.parents, offsets, full, trans)
    if all_joints:
        return world
    skel = bvhlib.BVHSkeleton(
        names=rotations.joint_names,
        parents=rotations.parents,
        offsets=rotations.offsets[0],
        channels=[()] * J,
        channel_start=np.zeros(J, dtype=np.int64),
        is_end_site=np.zeros(J, dtype=bool),
    )
    return bvh_to_h36m17(world, skel)[0]
