"""Training data from the user's own files: the typed data sources of ``weakpose train``
(DESIGN.md §4, docs/own-data.md).

Five kinds, one command-line option each:

============== ===================== =====================================================
kind           option                what a file holds
============== ===================== =====================================================
train_2d       ``--train-2d``        single-view 2D: ``keypoints_2d`` [N, J, 2], optional
                                     ``confidence`` [N, J], ``intrinsics``; **no 3D** is read
train_multiview ``--train-multiview`` multi-view 2D: ``keypoints_2d`` [N, C, J, 2] (a view
                                     with confidence 0 everywhere is absent), or a tracklet
                                     file of ``weakpose tracklets`` (rows [R, J, 2] grouped
                                     by ``tracklet``); **no 3D** is read
train_3d       ``--train-3d``        unpaired 3D poses ``positions_3d`` [N, 17, 3] mm, any
                                     frame (``positions``, the key of ``data convert-cmu``,
                                     is accepted as well)
train_paired   ``--train-paired``    single-view 2D with paired ``positions_3d`` [N, 17, 3]
val            ``--val``             like train_paired; used only to monitor training
============== ===================== =====================================================

A method declares the kinds it can use in :attr:`weakpose.methods.base.Method.data_kinds`; a
kind given replaces the CMU-WS default of that kind and kinds not given keep their default.
Files are validated completely before training starts (every problem is one
:class:`InputError` line); 2D in the COCO-17, MediaPipe-33 or MPII-16 order (``joint_names``)
is converted to Human3.6M-17 with :func:`weakpose.skeleton.to_h36m17`. Large files are
memory-mapped (:func:`weakpose.data.npz_mmap.open_npz`) and scanned in chunks, so a file of
millions of samples is never copied whole just to be checked. Every file is recorded (path,
sha256, samples) in the run's ``config.json``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from weakpose.data.contracts import BenchmarkFile, Keypoints2D, validate_positions_3d
from weakpose.data.npz_mmap import open_npz
from weakpose.errors import InputError
from weakpose.skeleton import LAYOUTS, to_h36m17

KINDS: tuple[str, ...] = ("train_2d", "train_multiview", "train_3d", "train_paired", "val")
#: Rows checked at once while scanning a file (bounded memory for any file size).
CHUNK = 1 << 16


def _cat(arrays: Iterable[np.ndarray]) -> np.ndarray:
    """Concatenate (memory-mapped) arrays along the sample axis into one in-memory array."""
    return np.concatenate([np.asarray(a) for a in arrays])


def option(kind: str) -> str:
    """The command-line option of a kind: ``train_2d`` -> ``--train-2d``."""
    return "--" + kind.replace("_", "-")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class SourceRecord:
    """One data file as recorded in ``config.json``."""

    kind: str
    path: str
    sha256: str
    samples: int

    def as_dict(self) -> dict:
        return {"kind": self.kind, "option": option(self.kind), "path": self.path, "sha256": self.sha256,
                "samples": self.samples}


# --- 2D ---------------------------------------------------------------------------------------


def _layout_of(names: np.ndarray, path: Path) -> str:
    names = tuple(str(n) for n in names)
    for layout in LAYOUTS.values():
        if names == layout.names:
            return layout.name
    raise InputError(f"{path}: key 'joint_names': not a known keypoint order "
                     f"({', '.join(n for n in LAYOUTS if n != 'lilee16')})")


def _to_h36m(kp: np.ndarray, conf: np.ndarray, names: np.ndarray | None, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints in their file's layout -> Human3.6M-17 (unchanged when they already are)."""
    J = kp.shape[-2]
    if names is None:
        if J != 17:
            raise InputError(f"{path}: key 'keypoints_2d': {J} joints and no 'joint_names' (without names "
                             "the order must be Human3.6M-17)")
        return kp, conf
    if len(names) != J:
        raise InputError(f"{path}: key 'joint_names': {len(names)} names for {J} joints")
    layout = _layout_of(names, path)
    if layout == "h36m17":
        return kp, conf
    clean = np.where((np.asarray(conf) > 0)[..., None], np.nan_to_num(np.asarray(kp, np.float32)), 0.0)
    out, c = to_h36m17(clean.astype(np.float32), np.asarray(conf, np.float32), layout)
    return out.astype(np.float32), c.astype(np.float32)


def _scan_2d(kp: np.ndarray, conf: np.ndarray, path: Path) -> bool:
    """Chunked checks of keypoints [N, ..., J, 2] and confidences [N, ..., J]. Returns whether
    the coordinates of missing joints need cleaning (NaN/inf there)."""
    dirty = False
    for i in range(0, len(kp), CHUNK):
        c = np.asarray(conf[i:i + CHUNK], np.float32)
        k = np.asarray(kp[i:i + CHUNK], np.float32)
        if not np.isfinite(c).all():
            raise InputError(f"{path}: key 'confidence': contains NaN or inf")
        if (c < 0).any() or (c > 1).any():
            raise InputError(f"{path}: key 'confidence': values outside [0, 1]")
        seen = c > 0
        per_sample = seen.reshape(len(c), -1).any(-1)
        if not per_sample.all():
            j = i + int(np.argmin(per_sample))
            raise InputError(f"{path}: key 'confidence': sample {j} has no observed joint (confidence 0 everywhere)")
        finite = np.isfinite(k).all(-1)
        if (~finite & seen).any():
            j = i + int(np.argwhere(~finite & seen)[0, 0])
            raise InputError(f"{path}: key 'keypoints_2d': NaN or inf at an observed joint of sample {j}")
        dirty |= bool((~finite).any())
        if np.abs(np.where(seen[..., None], k, 0)).max() > 1e5:
            raise InputError(f"{path}: key 'keypoints_2d': values beyond 1e5, not plausible pixels")
    return dirty


def _intrinsics(arrays: dict[str, np.ndarray], lead: tuple[int, ...], path: Path) -> np.ndarray | None:
    K = arrays.get("intrinsics")
    if K is None:
        return None
    if K.shape[-2:] != (3, 3) or K.shape[:-2] not in ((), lead):
        raise InputError(f"{path}: key 'intrinsics': shape {K.shape}, expected [3, 3] or {list(lead + (3, 3))}")
    if K.shape == (3, 3) or K.dtype != np.float32:
        K = np.broadcast_to(np.asarray(K, np.float32), lead + (3, 3))
    for i in range(0, len(K), CHUNK):
        k = np.asarray(K[i:i + CHUNK])
        if not np.isfinite(k).all():
            raise InputError(f"{path}: key 'intrinsics': contains NaN or inf")
        if (k[..., 0, 0] <= 0).any() or (k[..., 1, 1] <= 0).any():
            raise InputError(f"{path}: key 'intrinsics': focal lengths must be positive")
    return K


def read_2d(path: str | Path, arrays: dict[str, np.ndarray] | None = None, multiview: bool = False,
            kind: str = "train_2d") -> Keypoints2D:
    """Validate a (single- or multi-view) 2D file without copying it where it is already float32
    Human3.6M-17 with finite coordinates: the arrays stay memory maps."""
    path = Path(path)
    arrays = open_npz(path) if arrays is None else arrays
    if "keypoints_2d" not in arrays:
        raise InputError(f"{path}: key 'keypoints_2d': missing (keys present: {', '.join(sorted(arrays)) or 'none'})")
    kp = arrays["keypoints_2d"]
    if kp.dtype.kind not in "fiu" or kp.ndim not in (3, 4) or kp.shape[-1] != 2:
        raise InputError(f"{path}: key 'keypoints_2d': shape {kp.shape} ({kp.dtype}), "
                         "expected [N, J, 2] or [N, C, J, 2]")
    if kp.shape[0] == 0 or 0 in kp.shape:
        raise InputError(f"{path}: key 'keypoints_2d': no samples")
    if kp.ndim == 4 and not multiview:
        raise InputError(f"{path}: key 'keypoints_2d': multi-view shape {list(kp.shape)} given to {option(kind)} "
                         "(single view [N, J, 2]); pass it with --train-multiview")
    if kp.ndim == 3 and multiview and "tracklet" not in arrays:
        raise InputError(f"{path}: key 'keypoints_2d': single-view shape {list(kp.shape)} given to --train-multiview "
                         "(needs [N, C, J, 2], or a tracklet file with key 'tracklet'); pass it with --train-2d")
    conf = arrays.get("confidence")
    if conf is None:
        conf = np.broadcast_to(np.float32(1.0), kp.shape[:-1])
    elif conf.shape != kp.shape[:-1]:
        raise InputError(f"{path}: key 'confidence': shape {conf.shape}, expected {kp.shape[:-1]}")
    kp, conf = _to_h36m(kp, conf, arrays.get("joint_names"), path)
    dirty = _scan_2d(kp, conf, path)
    if dirty or kp.dtype != np.float32:
        kp = np.where((np.asarray(conf) > 0)[..., None], np.nan_to_num(np.asarray(kp, np.float32)), 0.0)
        kp = kp.astype(np.float32)
    if conf.dtype != np.float32:
        conf = np.asarray(conf, np.float32)
    K = _intrinsics(arrays, kp.shape[:-2], path)
    extras = {k: v for k, v in arrays.items() if k not in ("keypoints_2d", "confidence", "intrinsics")}
    return Keypoints2D(kp, conf, K, extras, path)


def concatenate_2d(parts: Sequence[Keypoints2D]) -> Keypoints2D:
    """One set from several files (a single file is returned as it is: no copy)."""
    if len(parts) == 1:
        return parts[0]
    if len({p.keypoints_2d.shape[1:] for p in parts}) > 1:
        raise InputError(f"{parts[1].path}: key 'keypoints_2d': shape {list(parts[1].keypoints_2d.shape)} does not "
                         f"match {parts[0].path}'s {list(parts[0].keypoints_2d.shape)}")
    with_k = [p.intrinsics is not None for p in parts]
    if any(with_k) and not all(with_k):
        bad = parts[with_k.index(False)]
        raise InputError(f"{bad.path}: key 'intrinsics': missing while other files of the same kind have it")
    common = set.intersection(*(set(p.per_sample_extras()) for p in parts))
    extras = {k: _cat([p.extras[k] for p in parts]) for k in common if k != "tracklet"}
    if "tracklet" in common:   # keep the tracklets of different files apart
        ids, offset = [], 0
        for p in parts:
            t = np.asarray(p.extras["tracklet"], np.int64)
            ids.append(t + offset)
            offset += int(t.max()) + 1 if len(t) else 0
        extras["tracklet"] = np.concatenate(ids)
    K = _cat([p.intrinsics for p in parts]) if all(with_k) else None
    return Keypoints2D(_cat([p.keypoints_2d for p in parts]), _cat([p.confidence for p in parts]), K, extras,
                       parts[0].path)


# --- multi-view -------------------------------------------------------------------------------


@dataclass
class MultiViewSet:
    """Multi-view 2D as rows (one view each) and groups (the present views of one sample).

    From an [N, C, J, 2] file a group is sample n's views with any confidence > 0; from a tracklet
    file it is one tracklet's frames, so groups may hold different numbers of views. Samples with
    fewer than 2 present views carry no multi-view information and are left out.
    """

    keypoints_2d: np.ndarray          # [R, J, 2] px
    confidence: np.ndarray            # [R, J]
    intrinsics: np.ndarray | None     # [R, 3, 3]
    image_size: np.ndarray | None     # [R, 2] (w, h)
    groups: list[np.ndarray]
    path: Path | None = None

    @property
    def num_samples(self) -> int:
        return len(self.groups)

    @classmethod
    def from_keypoints(cls, kp: Keypoints2D) -> MultiViewSet:
        size = kp.extras.get("image_size")
        if kp.multiview:
            N, C = kp.keypoints_2d.shape[:2]
            rows = lambda a: None if a is None else a.reshape((N * C,) + a.shape[2:])  # noqa: E731
            present = np.asarray(kp.confidence).reshape(N, C, -1).max(-1) > 0
            groups = [n * C + np.flatnonzero(present[n]) for n in range(N)]
            if size is not None and np.shape(size)[:2] != (N, C):
                size = None
            flat = Keypoints2D(rows(kp.keypoints_2d), rows(kp.confidence), rows(kp.intrinsics), {}, kp.path)
            size = rows(size)
        else:
            t = np.asarray(kp.extras["tracklet"])
            order = np.argsort(t, kind="stable")
            bounds = np.flatnonzero(np.diff(t[order])) + 1
            groups = [g for g in np.split(order, bounds) if len(g)]
            flat = kp
            if size is not None and len(size) != kp.num_samples:
                size = None
        groups = [g for g in groups if len(g) >= 2]
        if not groups:
            raise InputError(f"{kp.path}: key 'confidence': no sample with at least 2 present views "
                             "(multi-view consistency needs 2)")
        return cls(flat.keypoints_2d, flat.confidence, flat.intrinsics,
                   None if size is None else np.asarray(size), groups, kp.path)

    def __post_init__(self) -> None:
        counts = np.array([len(g) for g in self.groups])
        self._table = np.zeros((len(self.groups), counts.max()), np.int64)   # groups padded with their first row
        for i, g in enumerate(self.groups):
            self._table[i, :len(g)], self._table[i, len(g):] = g, g[0]
        self._counts = counts

    def sample(self, rng: np.random.Generator, n: int, views: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``n`` random samples of ``views`` random present views each: [n, views, J, 2],
        [n, views, J], [n, views, 3, 3]. A sample with fewer views repeats some (a repeated
        view adds nothing to L_MC: it agrees with itself)."""
        g = rng.integers(0, len(self.groups), n)
        count = self._counts[g]
        keys = rng.random((n, self._table.shape[1]))
        keys[np.arange(self._table.shape[1])[None] >= count[:, None]] = 2.0   # padding sorts last
        order = np.argsort(keys, axis=1)
        pick = order[np.arange(n)[:, None], np.arange(views)[None] % count[:, None]]
        rows = self._table[g[:, None], pick]
        K = None if self.intrinsics is None else np.asarray(self.intrinsics[rows], np.float32)
        return (np.asarray(self.keypoints_2d[rows], np.float32), np.asarray(self.confidence[rows], np.float32), K)


# --- 3D ---------------------------------------------------------------------------------------


def read_3d(path: str | Path, arrays: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Unpaired 3D poses [N, 17, 3] mm: ``positions_3d`` (any frame; a view axis is flattened) or
    ``positions`` (``weakpose data convert-cmu``)."""
    path = Path(path)
    arrays = open_npz(path) if arrays is None else arrays
    key = "positions_3d" if "positions_3d" in arrays else "positions" if "positions" in arrays else None
    if key is None:
        raise InputError(f"{path}: key 'positions_3d': missing (keys present: {', '.join(sorted(arrays)) or 'none'})")
    a = arrays[key]
    if a.ndim == 4:
        a = a.reshape((-1,) + a.shape[2:])
    if a.ndim == 3 and a.shape[0] == 0:
        raise InputError(f"{path}: key '{key}': no samples")
    return validate_positions_3d(np.asarray(a), path, key)


def read_paired(path: str | Path, kind: str = "train_paired") -> BenchmarkFile:
    """Single-view 2D with paired ``positions_3d`` [N, 17, 3] (the test-file layout)."""
    path = Path(path)
    arrays = open_npz(path)
    if "positions_3d" not in arrays:
        raise InputError(f"{path}: key 'positions_3d': missing ({option(kind)} needs 2D with paired 3D)")
    inputs = read_2d(path, arrays, multiview=False, kind=kind)
    gt = read_3d(path, {"positions_3d": arrays["positions_3d"]})
    if len(gt) != inputs.num_samples:
        raise InputError(f"{path}: key 'positions_3d': {len(gt)} samples, keypoints_2d has {inputs.num_samples}")
    action = arrays.get("action")
    return BenchmarkFile(inputs, gt, None if action is None or len(action) != len(gt) else np.asarray(action), path)


# --- all sources of one run -------------------------------------------------------------------


@dataclass
class DataSources:
    """The validated files of one training run, by kind (None/empty: the CMU-WS default)."""

    train_2d: Keypoints2D | None = None
    train_multiview: MultiViewSet | None = None
    train_3d: np.ndarray | None = None
    train_paired: BenchmarkFile | None = None
    val: BenchmarkFile | None = None
    records: list[SourceRecord] = field(default_factory=list)

    @property
    def given(self) -> tuple[str, ...]:
        return tuple(k for k in KINDS if getattr(self, k) is not None)

    def check_kinds(self, method: str, accepted: Iterable[str]) -> None:
        check_kinds(method, accepted, self.given)

    def config_entry(self) -> list[dict]:
        """What ``config.json`` records under ``data_files``."""
        return [r.as_dict() for r in self.records]


def check_kinds(method: str, accepted: Iterable[str], given: Iterable[str]) -> None:
    """InputError naming the kinds ``method`` can use when a file of another kind is given."""
    accepted = tuple(accepted)
    for kind in given:
        if kind not in KINDS:
            raise ValueError(f"unknown data kind {kind!r} (one of {', '.join(KINDS)})")
        if kind not in accepted:
            can = ", ".join(option(k) for k in accepted) or "no data files (it trains on CMU-WS only)"
            raise InputError(f"command line: {option(kind)}: `{method}` cannot train from this kind of file; "
                             f"it accepts {can}")


def load_sources(train_2d: Sequence[str | Path] = (), train_multiview: Sequence[str | Path] = (),
                 train_3d: Sequence[str | Path] = (), train_paired: Sequence[str | Path] = (),
                 val: str | Path | None = None) -> DataSources:
    """Read and validate every file (InputError on the first problem) and record them. A single
    path is accepted where a list is expected."""
    one = lambda x: [x] if isinstance(x, (str, Path)) else list(x)  # noqa: E731
    train_2d, train_multiview, train_3d, train_paired = map(one, (train_2d, train_multiview, train_3d, train_paired))
    if isinstance(val, (list, tuple)):
        if len(val) != 1:
            raise InputError("command line: --val: exactly one file")
        val = val[0]
    out = DataSources()

    def record(kind: str, path: Path, samples: int) -> None:
        out.records.append(SourceRecord(kind, str(Path(path).resolve()), sha256(path), int(samples)))

    if train_2d:
        parts = [read_2d(p) for p in train_2d]
        for p in parts:
            record("train_2d", p.path, p.num_samples)
        out.train_2d = concatenate_2d(parts)
    if train_multiview:
        parts = [read_2d(p, multiview=True, kind="train_multiview") for p in train_multiview]
        sets = [MultiViewSet.from_keypoints(p) for p in parts]
        for s in sets:
            record("train_multiview", s.path, s.num_samples)
        out.train_multiview = sets[0] if len(sets) == 1 else _concatenate_multiview(sets)
    if train_3d:
        poses = []
        for p in map(Path, train_3d):
            poses.append(read_3d(p))
            record("train_3d", p, len(poses[-1]))
        out.train_3d = poses[0] if len(poses) == 1 else np.concatenate(poses)
    if train_paired:
        files = [read_paired(p) for p in train_paired]
        for f in files:
            record("train_paired", f.path, len(f.positions_3d))
        out.train_paired = files[0] if len(files) == 1 else BenchmarkFile(
            concatenate_2d([f.inputs for f in files]), np.concatenate([f.positions_3d for f in files]), None,
            files[0].path)
    if val is not None:
        out.val = read_paired(val, "val")
        record("val", out.val.path, len(out.val.positions_3d))
    return out


def recorded_data_files(entries: list[dict]) -> dict[str, list[str] | str]:
    """``config.json``'s ``data_files`` -> the ``load_sources`` arguments that read them again."""
    files: dict[str, list[str] | str] = {}
    for e in entries:
        if e["kind"] == "val":
            files["val"] = e["path"]
        else:
            files.setdefault(e["kind"], []).append(e["path"])
    return files


def check_unchanged(recorded: list[dict], current: list[dict]) -> None:
    """On resume: the data files must be the ones the run started with (same content)."""
    key = lambda es: sorted((e["kind"], e["sha256"]) for e in es)  # noqa: E731
    if key(recorded) != key(current):
        was = ", ".join(f"{option(e['kind'])} {e['path']}" for e in recorded) or "CMU-WS defaults only"
        raise InputError(f"command line: data files differ from the run's ({was}); resume with the same files")


def _concatenate_multiview(sets: list[MultiViewSet]) -> MultiViewSet:
    with_k = [s.intrinsics is not None for s in sets]
    if any(with_k) and not all(with_k):
        raise InputError(f"{sets[with_k.index(False)].path}: key 'intrinsics': missing while other "
                         "--train-multiview files have it")
    offsets = np.cumsum([0] + [len(s.keypoints_2d) for s in sets])
    sizes = [s.image_size for s in sets]
    return MultiViewSet(_cat([s.keypoints_2d for s in sets]), _cat([s.confidence for s in sets]),
                        _cat([s.intrinsics for s in sets]) if all(with_k) else None,
                        _cat(sizes) if all(z is not None for z in sizes) else None,
                        [g + o for s, o in zip(sets, offsets) for g in s.groups], sets[0].path)


__all__ = [
    "KINDS",
    "DataSources",
    "MultiViewSet",
    "SourceRecord",
    "check_kinds",
    "check_unchanged",
    "load_sources",
    "option",
    "read_2d",
    "read_3d",
    "read_paired",
    "recorded_data_files",
]
