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

from weakpose.cli_support import declare_paths, int_at_least

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
    p.add_argument(
        "--stride",
        type=int_at_least(1),
        default=4,
        help="keep every STRIDE-th source frame of each clip (default 4: 120 -> 30 fps)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=lambda args: _convert_cmu(args))
    declare_paths(p, inputs=("bvh_root", "index"), outputs=("out",))


# --------------------------------------------------------------------------------------------
# Human3.6M


def _h36m_common(p: Any) -> None:
    p.add_argument("--out", required=True, type=Path, help="output .npz (weakpose 2D file + positions_3d)")
    p.add_argument("--split", choices=("train", "test", "all"), default="all",
                   help="train = S1 S5 S6 S7 S8, test = S9 S11 (default: all)")
    p.add_argument("--subjects", default=None, help="comma-separated subjects (e.g. S9,S11); overrides --split")
    p.add_argument("--stride", type=int_at_least(1), default=1,
                   help="keep every STRIDE-th frame of each sequence (64: the test subsampling of Li & Lee)")
    p.add_argument("--multiview", action="store_true", help="group the 4 synchronised views of a frame into one sample")
    p.add_argument("--no-distortion", action="store_true",
                   help="project with the pinhole model only (2D consistent with 'intrinsics')")
    p.add_argument(
        "--keep-corrupted", action="store_true", help="keep S11 Directions (skipped by default, as VideoPose3D)"
    )
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
    declare_paths(p, inputs=("root",), outputs=("out",))

    p = sub.add_parser(
        "convert-h36m-vp3d",
        help="Human3.6M from VideoPose3D's data_3d_h36m.npz (+ data_2d_h36m_<source>.npz, e.g. CPN)",
        description=(
            "Convert VideoPose3D's preprocessed Human3.6M files: positions_3d {subject: {sequence: [T,32,3] m}} "
            "and optionally a 2D file positions_2d {subject: {sequence: [4 x [T,17,2] px]}} (ground truth or "
            "detections such as CPN; h36m or coco layout). Without a 2D file the 2D is projected with the "
            "published cameras. These files hold pickled dicts; they are read with a restricted unpickler "
            "that only builds containers of arrays, so a crafted file cannot run code."
        ),
    )
    p.add_argument("--positions-3d", required=True, type=Path, help="data_3d_h36m.npz")
    p.add_argument("--positions-2d", type=Path, default=None, help="data_2d_h36m_<source>.npz (optional)")
    _h36m_common(p)
    p.set_defaults(func=lambda args: _convert_h36m_vp3d(args))
    declare_paths(p, inputs=("positions_3d", "positions_2d"), outputs=("out",))


# --------------------------------------------------------------------------------------------
# MPI-INF-3DHP


def _ints(text: str | None) -> list[int] | None:
    if text is None or text == "all":
        return None
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        from weakpose.errors import InputError

        raise InputError(f"expected comma-separated numbers, got {text!r}") from None


def _convert_3dhp(args: argparse.Namespace) -> int:
    from weakpose.data.converters import mpi_inf_3dhp as m3

    if args.split == "train":
        arrays = m3.convert_3dhp_train(
            args.root, subjects=_ints(args.subjects) or list(range(1, 9)), sequences=_ints(args.sequences) or [1, 2],
            cameras=_ints(args.cameras), stride=args.stride, universal=args.universal, multiview=args.multiview,
            progress=_progress(not args.quiet, "sequences", "seq"),
        )  # fmt: skip
    else:
        seqs = [f"TS{i}" for i in (_ints(args.subjects) or range(1, 7))]
        arrays = m3.convert_3dhp_test(args.root, sequences=seqs, valid_only=not args.all_frames,
                                      universal=not args.no_universal, stride=args.stride)  # fmt: skip
    m3.save_3dhp(args.out, arrays)
    print(f"{len(set(arrays['sequence'].tolist()))} sequences, {len(arrays['keypoints_2d'])} samples")
    if not args.quiet:
        _print_summary(Path(args.out), arrays)
    return 0


def _evaluate_3dhp(args: argparse.Namespace) -> int:
    import json

    from weakpose.data.contracts import load_benchmark, load_npz, load_predictions
    from weakpose.data.converters import mpi_inf_3dhp as m3
    from weakpose.errors import InputError

    pred = load_predictions(args.pred)["positions_3d"]
    gt = load_benchmark(args.gt)
    if len(pred) != len(gt.positions_3d):
        raise InputError(f"{args.pred}: key 'positions_3d': {len(pred)} samples, {args.gt} has {len(gt.positions_3d)}")
    scenes = load_npz(args.gt).get("scene")
    res = m3.evaluate_3dhp(pred, gt.positions_3d, gt.action, scenes)
    print(f"MPI-INF-3DHP ({res['n']} samples, 14 joints, root-relative): "
          f"PCK@150 {res['pck150']:.1f}  AUC {res['auc']:.1f}  MPJPE {res['mpjpe14']:.1f} mm")  # fmt: skip
    for group in ("per_action", "per_scene"):
        for name, r in res.get(group, {}).items():
            print(f"  {name:14s} PCK {r['pck150']:5.1f}  AUC {r['auc']:5.1f}  MPJPE {r['mpjpe14']:6.1f}  (n={r['n']})")
    if args.json:
        from weakpose.atomic import write_text_atomic

        write_text_atomic(args.json, json.dumps(res, indent=1))
    return 0


def _add_3dhp(sub: Any) -> None:
    p = sub.add_parser(
        "convert-3dhp",
        help="MPI-INF-3DHP training (annot.mat) or test set (annot_data.mat) -> weakpose 2D/3D file",
        description=(
            "Convert MPI-INF-3DHP. --split train reads ROOT/S<k>/Seq<m>/annot.mat and camera.calibration "
            "(28 joints -> Human3.6M-17, camera-frame 3D, per-camera intrinsics); --split test reads "
            "ROOT/TS<k>/annot_data.mat (v5 or v7.3 via h5py), keeps valid frames, takes univ_annot3 as ground "
            "truth and estimates each sequence's intrinsics from annot2/annot3."
        ),
    )
    p.add_argument("--root", required=True, type=Path, help="folder with S1..S8 (train) or TS1..TS6 (test)")
    p.add_argument("--split", choices=("train", "test"), required=True)
    p.add_argument("--out", required=True, type=Path, help="output .npz")
    p.add_argument("--subjects", default=None, help="comma-separated subject numbers (train: 1-8, test: TS 1-6)")
    p.add_argument("--sequences", default=None, help="train only: comma-separated sequence numbers (default 1,2)")
    p.add_argument("--cameras", default="0,1,2,4,5,6,7,8",
                   help="train only: comma-separated cameras or 'all' (default: the 8 usual ones)")
    p.add_argument("--stride", type=int_at_least(1), default=1, help="keep every STRIDE-th frame")
    p.add_argument("--universal", action="store_true", help="train only: 3D from univ_annot3 instead of annot3")
    p.add_argument("--multiview", action="store_true", help="train only: one sample per frame, cameras as views")
    p.add_argument("--all-frames", action="store_true", help="test only: keep frames with valid_frame = 0 too")
    p.add_argument(
        "--no-universal", action="store_true", help="test only: ground truth from annot3 instead of univ_annot3"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=lambda args: _convert_3dhp(args))
    declare_paths(p, inputs=("root",), outputs=("out",))

    p = sub.add_parser(
        "evaluate-3dhp",
        help="PCK@150 / AUC / MPJPE on the 14 joints of the MPI-INF-3DHP protocol",
        description=(
            "Evaluate a prediction file against a converted MPI-INF-3DHP test file with the benchmark's "
            "protocol: root-relative, 14 joints, PCK at 150 mm, AUC over 0..150 mm, per activity and scene."
        ),
    )
    p.add_argument("--pred", required=True, type=Path, help="predictions (positions_3d [N, 17, 3] mm)")
    p.add_argument("--gt", required=True, type=Path, help="test file written by convert-3dhp --split test")
    p.add_argument("--json", default=None, type=Path, help="also write the results as JSON")
    p.set_defaults(func=lambda args: _evaluate_3dhp(args))
    declare_paths(p, inputs=("pred", "gt"), outputs=("json",))


# --------------------------------------------------------------------------------------------
# 2D image datasets


def _convert_coco(args: argparse.Namespace) -> int:
    from weakpose.data.converters import coco

    arrays = coco.convert_coco(args.annotations, image_root=args.image_root, min_joints=args.min_joints,
                               visible_only=args.visible_only)  # fmt: skip
    coco.save_coco(args.out, arrays)
    print(f"{len(arrays['keypoints_2d'])} people from {len(set(arrays['image_path'].tolist()))} images")
    if not args.quiet:
        _print_summary(Path(args.out), arrays)
    return 0


def _convert_mpii(args: argparse.Namespace) -> int:
    from weakpose.data.converters import mpii

    arrays = mpii.convert_mpii(
        args.annotations, image_root=args.image_root, min_joints=args.min_joints, split=args.split
    )
    mpii.save_mpii(args.out, arrays)
    print(f"{len(arrays['keypoints_2d'])} people from {len(set(arrays['image_path'].tolist()))} images")
    if not args.quiet:
        _print_summary(Path(args.out), arrays)
    return 0


def _add_image2d(sub: Any) -> None:
    for name, help_, desc, func in (
        ("convert-coco", "COCO person_keypoints_*.json -> weakpose 2D file (Human3.6M-17)",
         "Convert COCO keypoint annotations (person_keypoints_<split>.json): one sample per non-crowd person, "
         "17 COCO joints with visibility flags -> Human3.6M-17 (pelvis, spine, thorax and head synthesised), "
         "with image paths and person boxes.", _convert_coco),
        ("convert-mpii", "MPII Human Pose (.mat release or JSON) -> weakpose 2D file (Human3.6M-17)",
         "Convert MPII Human Pose annotations: the release's mpii_human_pose_v1_u12_1.mat, the JSON list used by "
         "the hourglass/HRNet code (image, center, scale, joints, joints_vis) or the CPM mpii_annotations.json "
         "(img_paths, objpos, scale_provided, joint_self, isValidation): 16 joints -> "
         "Human3.6M-17 (spine synthesised), with image paths and person boxes (200 * scale px squares).",
         _convert_mpii),
    ):  # fmt: skip
        p = sub.add_parser(name, help=help_, description=desc)
        p.add_argument("--annotations", required=True, type=Path, help="annotation file (.json, or .mat for MPII)")
        p.add_argument("--out", required=True, type=Path, help="output .npz")
        p.add_argument("--image-root", default="", help="prefix for the stored image paths")
        p.add_argument("--min-joints", type=int_at_least(1), default=1,
                       help="drop people with fewer annotated Human3.6M-17 joints (default 1)")
        if name == "convert-coco":
            p.add_argument("--visible-only", action="store_true",
                           help="treat occluded labelled joints (v=1) as missing")
        else:
            p.add_argument("--split", choices=("train", "test", "all"), default="train",
                           help=".mat / CPM JSON: img_train 1 / isValidation 0 (train), the others (test) or all")
        p.add_argument("--quiet", action="store_true", help="no summary")
        p.set_defaults(func=(lambda f: (lambda args: f(args)))(func))
        declare_paths(p, inputs=("annotations",), outputs=("out",))


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


_EXTRA_COMMANDS: list[Callable[[Any], None]] = [_add_h36m, _add_3dhp, _add_image2d]
