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


_EXTRA_COMMANDS: list[Callable[[Any], None]] = []
