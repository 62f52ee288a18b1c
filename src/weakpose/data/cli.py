"""``weakpose data ...``: one sub-command per dataset converter (docs/data.md).

Every command reads the original dataset files, validates them (malformed input -> a one-line
:class:`~weakpose.data.contracts.InputError`, which the ``weakpose`` command turns into exit
code 2) and writes one npz atomically, so that a failed run leaves no output file.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

__all__ = ["register"]


def _progress(enabled: bool, desc: str, unit: str) -> Callable[[Iterable], Iterable] | None:
    if not enabled:
        return None
    from tqdm import tqdm

    return lambda it: tqdm(list(it), desc=desc, unit=unit, leave=False)


def _print_summary(path: Path, arrays: dict[str, Any]) -> None:
    size = path.stat().st_size / 1e6
    keys = ", ".join(f"{k} {tuple(v.shape)}" for k, v in arrays.items() if getattr(v, "ndim", 0) >= 2)
    print(f"wrote {path} ({size:.1f} MB): {keys}")


# --------------------------------------------------------------------------------------------
# convert-cmu


def _convert_cmu(args: argparse.Namespace) -> int:
    from weakpose.data.converters import cmu

    cfg = cmu.CleaningConfig(stride=args.stride)
    trials = args.trials.split(",") if args.trials else None
    arrays = cmu.convert_cmu(
        args.bvh_root,
        args.index,
        trials=trials,
        config=cfg,
        rotations=args.rotations,
        progress=_progress(not args.quiet, "BVH files", "file"),
    )
    out = Path(args.out)
    cmu.save_cmu(out, arrays)
    st = arrays["trial_stats"]
    print(
        f"{len(st)} trials, {int(st['src_frames'].sum())} source frames, {int(st['dropped'].sum())} dropped by "
        f"cleaning, {len(arrays['seq_names'])} clips, {len(arrays['positions'])} frames at {float(arrays['fps']):g} fps"
    )
    if not args.quiet:
        _print_summary(out, arrays)
    return 0


def _add_cmu(sub: Any) -> None:
    p = sub.add_parser(
        "convert-cmu",
        help="CMU mocap BVH files -> Human3.6M-17 npz (optionally with joint rotations)",
        description=(
            "Convert CMU motion capture BVH files (Hahne's release, <subj>/<subj>_<trial>.bvh) into the "
            "weakpose mocap file: 17 Human3.6M joints in mm, world y-up, cleaned, 30 fps. Follows "
            "data/cmu/README.md (T-pose frame dropped, 56.444 mm per unit, thorax repair, cleaning, every "
            "4th frame) and reproduces data/cmu/cmu_h36m17.npz."
        ),
    )
    p.add_argument("--bvh-root", required=True, type=Path, help="folder holding <subj>/<subj>_<trial>.bvh")
    p.add_argument("--index", required=True, type=Path, help="trial descriptions, 'trial<TAB>description' lines")
    p.add_argument("--out", required=True, type=Path, help="output .npz")
    p.add_argument("--rotations", action="store_true",
                   help="also store per-frame local joint rotations and per-subject offsets "
                        "(read them with weakpose.data.converters.cmu.load_cmu_rotations)")
    p.add_argument("--trials", default=None, help="comma-separated trials to convert (default: all in the index)")
    p.add_argument("--stride", type=int, default=4, help="keep every STRIDE-th source frame of each clip (default 4: 120 -> 30 fps)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=lambda args: _convert_cmu(args))


# --------------------------------------------------------------------------------------------
# Human3.6M


def _h36m_common(p: Any) -> None:
    p.add_argument("--out", required=True, type=Path, help="output .npz (weakpose 2D file + positions_3d)")
    p.add_argument("--split", choices=("train", "test", "all"), default="all",
                   help="train = S1 S5 S6 S7 S8, test = S9 S11 (default: all)")
    p.add_argument("--subjects", default=None, help="comma-separated subjects (e.g. S9,S11); overrides --split")
    p.add_argument("--stride", type=int, default=1,
                   help="keep every STRIDE-th frame of each sequence (64: the test subsampling of Li & Lee)")
    p.add_argument("--multiview", action="store_true", help="group the 4 synchronised views of a frame into one sample")
    p.add_argument("--no-distortion", action="store_true",
                   help="project with the pinhole model only (2D consistent with 'intrinsics')")
    p.add_argument("--keep-corrupted", action="store_true", help="keep S11 Directions (skipped by default, as VideoPose3D)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")


def _h36m_summary(args: argparse.Namespace, arrays: dict) -> int:
    from weakpose.data.converters import h36m

    h36m.save_h36m(args.out, arrays)
    n_seq = len(set(arrays["sequence"].tolist()))
    print(f"{n_seq} sequences, {len(arrays['keypoints_2d'])} samples")
    if not args.quiet:
        _print_summary(Path(args.out), arrays)
    return 0


def _subjects_arg(args: argparse.Namespace) -> list[str] | None:
    return [s.strip() for s in args.subjects.split(",")] if args.subjects else None


def _convert_h36m(args: argparse.Namespace) -> int:
    from weakpose.data.converters import h36m

    arrays = h36m.convert_h36m_original(
        args.root, split=args.split, subjects=_subjects_arg(args), source_2d=args.source_2d, stride=args.stride,
        multiview=args.multiview, distortion=not args.no_distortion, keep_corrupted=args.keep_corrupted,
        progress=_progress(not args.quiet, "subjects", "subject"),
    )  # fmt: skip
    return _h36m_summary(args, arrays)


def _convert_h36m_vp3d(args: argparse.Namespace) -> int:
    from weakpose.data.converters import h36m

    arrays = h36m.convert_h36m_vp3d(
        args.positions_3d, args.positions_2d, split=args.split, subjects=_subjects_arg(args), stride=args.stride,
        multiview=args.multiview, distortion=not args.no_distortion, keep_corrupted=args.keep_corrupted,
    )  # fmt: skip
    return _h36m_summary(args, arrays)


def _add_h36m(sub: Any) -> None:
    p = sub.add_parser(
        "convert-h36m",
        help="Human3.6M original release (D3_Positions CDF) -> weakpose 2D/3D file",
        description=(
            "Convert the original Human3.6M release: ROOT/<S>/MyPoseFeatures/D3_Positions/*.cdf (32 joints, "
            "world mm) -> 17 joints, camera-frame 3D for the 4 cameras and 2D projected with the published "
            "camera parameters (lens distortion included) or read from D2_Positions. Needs cdflib "
            "(pip install 'weakpose[datasets]')."
        ),
    )
    p.add_argument("--root", required=True, type=Path, help="folder holding S1, S5, ... (each with MyPoseFeatures/)")
    p.add_argument("--source-2d", choices=("project", "d2"), default="project",
                   help="2D from projecting the 3D (default) or from the release's D2_Positions")
    _h36m_common(p)
    p.set_defaults(func=lambda args: _convert_h36m(args))

    p = sub.add_parser(
        "convert-h36m-vp3d",
        help="Human3.6M from VideoPose3D's data_3d_h36m.npz (+ data_2d_h36m_<source>.npz, e.g. CPN)",
        description=(
            "Convert VideoPose3D's preprocessed Human3.6M files: positions_3d {subject: {sequence: [T,32,3] m}} "
            "and optionally a 2D file positions_2d {subject: {sequence: [4 x [T,17,2] px]}} (ground truth or "
            "detections such as CPN; h36m or coco layout). Without a 2D file the 2D is projected with the "
            "published cameras. These files hold pickled dicts: only convert files from a trusted source."
        ),
    )
    p.add_argument("--positions-3d", required=True, type=Path, help="data_3d_h36m.npz")
    p.add_argument("--positions-2d", type=Path, default=None, help="data_2d_h36m_<source>.npz (optional)")
    _h36m_common(p)
    p.set_defaults(func=lambda args: _convert_h36m_vp3d(args))


# --------------------------------------------------------------------------------------------


def register(subparsers: Any) -> None:
    """Add ``weakpose data`` and its sub-commands to the ``weakpose`` parser."""
    data = subparsers.add_parser(
        "data",
        help="convert original dataset files into weakpose npz files",
        description="Dataset converters. Each sub-command documents its input files; see docs/data.md.",
    )
    sub = data.add_subparsers(dest="data_command", metavar="COMMAND", required=True)
    _add_cmu(sub)
    for extra in _EXTRA_COMMANDS:
        extra(sub)


_EXTRA_COMMANDS: list[Callable[[Any], None]] = [_add_h36m]
