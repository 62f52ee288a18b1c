"""A general BVH (Biovision Hierarchy) reader and forward kinematics.

A BVH file has two sections:

``HIERARCHY``
    a tree of ``ROOT`` / ``JOINT`` blocks, each with an ``OFFSET x y z`` (the joint's position
    in its parent's frame in the rest pose) and ``CHANNELS n name...`` (what each column of the
    motion section means for that joint), and ``End Site`` blocks (leaf points with an offset
    but no channels).
``MOTION``
    ``Frames: F``, ``Frame Time: dt`` and then F lines of numbers, one column per channel in
    the order the channels appear in the hierarchy (depth first).

Semantics (the ones every major exporter uses, and the rule in ``data/cmu/README.md``):

* rotation channels are Euler angles in **degrees**, applied in the order they are listed, so
  ``Zrotation Yrotation Xrotation`` gives the local rotation ``R = Rz @ Ry @ Rx``;
* position channels are translations added to the offset in the parent's frame;
* ``world_pos[j] = world_pos[parent] + world_rot[parent] @ (offset[j] + translation[j])`` and
  ``world_rot[j] = world_rot[parent] @ local_rot[j]``.

End sites are kept as joints without channels, named ``<parent name>_End`` (so the head top
of the CMU skeleton is ``Head_End``).

Malformed files raise :class:`weakpose.data.contracts.InputError` with a message that names the
file and the line (``FILE:LINE: problem``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from weakpose.data.converters._common import InputError
from weakpose.geometry.rotations import euler_to_matrix

__all__ = [
    "BVH",
    "BVHSkeleton",
    "read_bvh",
    "parse_bvh",
    "local_rotations",
    "forward_kinematics",
    "forward_kinematics_from_rotations",
]

_POSITION_CHANNELS = ("Xposition", "Yposition", "Zposition")
_ROTATION_CHANNELS = ("Xrotation", "Yrotation", "Zrotation")
_VALID_CHANNELS = set(_POSITION_CHANNELS + _ROTATION_CHANNELS)


@dataclass
class BVHSkeleton:
    """The hierarchy of a BVH file.

    Attributes:
        names: joint names in file (depth-first) order; end sites are ``<parent>_End``.
        parents: parent index per joint, -1 for the root(s).
        offsets: [J, 3] rest offsets in file units (end sites included).
        channels: per joint the tuple of channel names (empty for end sites).
        channel_start: per joint the column of its first channel in the motion matrix.
        is_end_site: per joint, True for ``End Site`` blocks.
    """

    names: list[str]
    parents: np.ndarray
    offsets: np.ndarray
    channels: list[tuple[str, ...]]
    channel_start: np.ndarray
    is_end_site: np.ndarray

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @property
    def num_channels(self) -> int:
        return int(sum(len(c) for c in self.channels))

    def index(self, name: str) -> int:
        """Index of the joint called ``name`` (KeyError with the known names otherwise)."""
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"no joint {name!r} in the BVH hierarchy (joints: {', '.join(self.names)})") from None

    def children(self, j: int) -> list[int]:
        return [int(k) for k in np.flatnonzero(self.parents == j)]


@dataclass
class BVH:
    """A parsed BVH file: hierarchy, frame time and the raw motion matrix [F, C]."""

    skeleton: BVHSkeleton
    frame_time: float
    motion: np.ndarray
    path: str = field(default="<string>")

    @property
    def num_frames(self) -> int:
        return int(self.motion.shape[0])

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    def channel_values(self, joint: int) -> np.ndarray:
        """[F, n] motion columns of one joint."""
        s = int(self.skeleton.channel_start[joint])
        return self.motion[:, s : s + len(self.skeleton.channels[joint])]


def read_bvh(path: str | Path) -> BVH:
    """Read and validate a BVH file (see :func:`parse_bvh`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise InputError(f"{path}: cannot read BVH file: {e.strerror or e}") from None
    return parse_bvh(text, str(path))


_NUM_RE = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _float(tok: str, where: str) -> float:
    if not _NUM_RE.match(tok) and tok.lower() not in ("nan", "inf", "-inf"):
        raise InputError(f"{where}: expected a number, got {tok!r}")
    return float(tok)


def parse_bvh(text: str, name: str = "<string>") -> BVH:
    """Parse the text of a BVH file.

    Args:
        text: the whole file.
        name: file name used in error messages.

    Raises:
        InputError: ``"NAME:LINE: problem"`` for a malformed hierarchy, a missing or wrong
            ``Frames:`` / ``Frame Time:`` header, a motion line with the wrong number of values
            or a non-numeric value, fewer motion lines than ``Frames:`` says (truncated file), or
            non-finite values.
    """
    lines = text.splitlines()
    n_lines = len(lines)
    i = 0

    def where(k: int) -> str:
        return f"{name}:{k + 1}"

    def next_nonempty(k: int) -> int:
        while k < n_lines and not lines[k].strip():
            k += 1
        return k

    i = next_nonempty(0)
    if i >= n_lines or lines[i].strip() != "HIERARCHY":
        raise InputError(f"{where(min(i, max(n_lines - 1, 0)))}: expected 'HIERARCHY' at the start of a BVH file")
    i += 1

    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[tuple[str, ...]] = []
    is_end: list[bool] = []
    stack: list[int] = []  # joint indices of open blocks
    pending: int | None = None  # joint declared, waiting for '{'
    seen_root = False
    while True:
        i = next_nonempty(i)
        if i >= n_lines:
            raise InputError(f"{where(n_lines - 1)}: file ends inside the HIERARCHY section (no MOTION)")
        toks = lines[i].split()
        key = toks[0]
        if key in ("ROOT", "JOINT") or (key == "End" and len(toks) >= 2 and toks[1] == "Site"):
            if pending is not None:
                raise InputError(f"{where(i)}: expected '{{' after the declaration of {names[pending]!r}")
            brace = toks[-1] == "{"  # some exporters open the block on the same line
            if brace:
                toks = toks[:-1]
            if key == "ROOT":
                if stack:
                    raise InputError(f"{where(i)}: ROOT inside another joint")
                seen_root = True
            elif not stack:
                raise InputError(f"{where(i)}: {key} outside of a ROOT block")
            if len(toks) != 2:
                raise InputError(f"{where(i)}: malformed '{' '.join(toks)}' line (expected '{key} NAME')")
            if key == "End":
                jname = f"{names[stack[-1]]}_End"
                is_end.append(True)
            else:
                jname = toks[1]
                is_end.append(False)
            if jname in names:
                raise InputError(f"{where(i)}: duplicate joint name {jname!r}")
            names.append(jname)
            parents.append(stack[-1] if stack else -1)
            offsets.append([np.nan, np.nan, np.nan])
            channels.append(())
            pending = len(names) - 1
            if brace:
                stack.append(pending)
                pending = None
        elif key == "{":
            if pending is None or len(toks) != 1:
                raise InputError(f"{where(i)}: unexpected '{{'")
            stack.append(pending)
            pending = None
        elif key == "}":
            if pending is not None or not stack or len(toks) != 1:
                raise InputError(f"{where(i)}: unexpected '}}'")
            j = stack.pop()
            if np.isnan(offsets[j][0]):
                raise InputError(f"{where(i)}: joint {names[j]!r} has no OFFSET")
        elif key == "OFFSET":
            if not stack or pending is not None:
                raise InputError(f"{where(i)}: OFFSET outside of a joint block")
            if len(toks) != 4:
                raise InputError(f"{where(i)}: OFFSET needs 3 numbers, got {len(toks) - 1}")
            j = stack[-1]
            if not np.isnan(offsets[j][0]):
                raise InputError(f"{where(i)}: second OFFSET for joint {names[j]!r}")
            offsets[j] = [_float(t, where(i)) for t in toks[1:]]
        elif key == "CHANNELS":
            if not stack or pending is not None:
                raise InputError(f"{where(i)}: CHANNELS outside of a joint block")
            j = stack[-1]
            if is_end[j]:
                raise InputError(f"{where(i)}: an End Site cannot have CHANNELS")
            if len(toks) < 2 or not toks[1].isdigit():
                raise InputError(f"{where(i)}: expected 'CHANNELS N name...'")
            n = int(toks[1])
            ch = tuple(toks[2:])
            if len(ch) != n:
                raise InputError(f"{where(i)}: CHANNELS says {n} but lists {len(ch)}")
            bad = [c for c in ch if c not in _VALID_CHANNELS]
            if bad:
                raise InputError(f"{where(i)}: unknown channel {bad[0]!r}")
            if len(set(ch)) != len(ch):
                raise InputError(f"{where(i)}: repeated channel in {' '.join(ch)}")
            if channels[j]:
                raise InputError(f"{where(i)}: second CHANNELS line for joint {names[j]!r}")
            channels[j] = ch
        elif key == "MOTION":
            if stack or pending is not None:
                raise InputError(f"{where(i)}: MOTION before the hierarchy is closed ({len(stack)} open blocks)")
            if not seen_root:
                raise InputError(f"{where(i)}: no ROOT joint in the hierarchy")
            i += 1
            break
        else:
            raise InputError(f"{where(i)}: unexpected {key!r} in the HIERARCHY section")
        i += 1

    # --- MOTION header
    i = next_nonempty(i)
    if i >= n_lines:
        raise InputError(f"{where(n_lines - 1)}: file ends before 'Frames:'")
    m = re.match(r"^\s*Frames:\s*(\d+)\s*$", lines[i])
    if not m:
        raise InputError(f"{where(i)}: expected 'Frames: N'")
    n_frames = int(m.group(1))
    i = next_nonempty(i + 1)
    if i >= n_lines:
        raise InputError(f"{where(n_lines - 1)}: file ends before 'Frame Time:'")
    m = re.match(r"^\s*Frame\s+Time:\s*(\S+)\s*$", lines[i])
    if not m:
        raise InputError(f"{where(i)}: expected 'Frame Time: SECONDS'")
    frame_time = _float(m.group(1), where(i))
    if not frame_time > 0:
        raise InputError(f"{where(i)}: Frame Time must be positive, got {frame_time}")
    first_motion = i + 1

    n_ch = int(sum(len(c) for c in channels))
    body = lines[first_motion:]
    # trailing empty lines are allowed
    while body and not body[-1].strip():
        body.pop()
    if len(body) < n_frames:
        raise InputError(
            f"{where(first_motion + len(body) - 1 if body else first_motion - 1)}: truncated motion: "
            f"'Frames: {n_frames}' but only {len(body)} motion lines"
        )
    if len(body) > n_frames:
        raise InputError(
            f"{where(first_motion + n_frames)}: more motion lines ({len(body)}) than 'Frames: {n_frames}'"
        )
    motion = _parse_motion(body, n_ch, first_motion, name)

    skel = BVHSkeleton(
        names=names,
        parents=np.asarray(parents, dtype=np.int64),
        offsets=np.asarray(offsets, dtype=np.float64),
        channels=channels,
        channel_start=np.cumsum([0] + [len(c) for c in channels[:-1]]).astype(np.int64),
        is_end_site=np.asarray(is_end, dtype=bool),
    )
    return BVH(skeleton=skel, frame_time=frame_time, motion=motion, path=name)


def _parse_motion(body: list[str], n_ch: int, first_line: int, name: str) -> np.ndarray:
    """Fast path: one big split; on any mismatch, find the first bad line for the message."""
    n = len(body)
    if n == 0:
        return np.zeros((0, n_ch), dtype=np.float64)
    try:
        flat = np.array(" ".join(body).split(), dtype=np.float64)
    except ValueError:
        flat = None
    if flat is not None and flat.size == n * n_ch and np.isfinite(flat).all():
        return flat.reshape(n, n_ch)
    for k, line in enumerate(body):
        toks = line.split()
        if len(toks) != n_ch:
            raise InputError(f"{name}:{first_line + k + 1}: motion line has {len(toks)} values, expected {n_ch}")
        for t in toks:
            v = _float(t, f"{name}:{first_line + k + 1}")
            if not np.isfinite(v):
                raise InputError(f"{name}:{first_line + k + 1}: non-finite motion value {t!r}")
    raise InputError(f"{name}:{first_line + 1}: malformed motion section")  # pragma: no cover


# --------------------------------------------------------------------------------------------
# kinematics


def local_rotations(bvh: BVH) -> np.ndarray:
    """[F, J, 3, 3] local rotation of every joint (identity for joints without rotation channels)."""
    skel = bvh.skeleton
    F = bvh.num_frames
    out = np.broadcast_to(np.eye(3), (F, skel.num_joints, 3, 3)).copy()
    for j, ch in enumerate(skel.channels):
        rot = [(k, c[0]) for k, c in enumerate(ch) if c in _ROTATION_CHANNELS]
        if not rot:
            continue
        s = int(skel.channel_start[j])
        cols = [s + k for k, _ in rot]
        out[:, j] = euler_to_matrix(bvh.motion[:, cols], "".join(a for _, a in rot), degrees=True)
    return out


def local_translations(bvh: BVH) -> np.ndarray:
    """[F, J, 3] translation channels per joint (0 where a joint has none), file units."""
    skel = bvh.skeleton
    out = np.zeros((bvh.num_frames, skel.num_joints, 3))
    for j, ch in enumerate(skel.channels):
        s = int(skel.channel_start[j])
        for k, c in enumerate(ch):
            if c in _POSITION_CHANNELS:
                out[:, j, "XYZ".index(c[0])] = bvh.motion[:, s + k]
    return out


def forward_kinematics_from_rotations(
    parents: np.ndarray,
    offsets: np.ndarray,
    rotations: np.ndarray,
    translations: np.ndarray | None = None,
    return_world_rotations: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """World joint positions from local rotations (the BVH rule, README rule 1).

    Args:
        parents: [J] parent indices, parents before children, -1 for roots.
        offsets: [J, 3] or [..., J, 3] rest offsets (a per-frame offset allows per-subject skeletons
            in a batch).
        rotations: [..., J, 3, 3] local rotations.
        translations: optional [..., J, 3] translation channels (root position etc.) added to the
            offsets.

    Returns:
        positions [..., J, 3] in the units of ``offsets``; with ``return_world_rotations`` also
        [..., J, 3, 3] world rotations.
    """
    parents = np.asarray(parents)
    rotations = np.asarray(rotations, dtype=np.float64)
    batch = rotations.shape[:-3]
    J = rotations.shape[-3]
    off = np.broadcast_to(np.asarray(offsets, dtype=np.float64), batch + (J, 3))
    if translations is not None:
        off = off + translations
    pos = np.empty(batch + (J, 3))
    wrot = np.empty(batch + (J, 3, 3))
    for j in range(J):
        p = int(parents[j])
        if p < 0:
            pos[..., j, :] = off[..., j, :]
            wrot[..., j, :, :] = rotations[..., j, :, :]
        else:
            if p >= j:
                raise ValueError("parents must precede their children")
            pos[..., j, :] = pos[..., p, :] + np.einsum("...ab,...b->...a", wrot[..., p, :, :], off[..., j, :])
            wrot[..., j, :, :] = wrot[..., p, :, :] @ rotations[..., j, :, :]
    if return_world_rotations:
        return pos, wrot
    return pos


def forward_kinematics(bvh: BVH, offsets: np.ndarray | None = None) -> np.ndarray:
    """[F, J, 3] world positions of every joint and end site, in file units.

    Args:
        bvh: parsed file.
        offsets: optional [J, 3] replacement for the file's offsets (e.g. the CMU thorax repair).
    """
    skel = bvh.skeleton
    off = skel.offsets if offsets is None else np.asarray(offsets, dtype=np.float64)
    return forward_kinematics_from_rotations(skel.parents, off, local_rotations(bvh), local_translations(bvh))
