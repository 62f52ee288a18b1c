"""The ``weakpose`` command (DESIGN.md §4).

Every sub-command shares the conventions: millimetres, Human3.6M-17 joints, OpenCV camera
frame; bad input ends with a one-line ``error: FILE: key 'x': problem`` and exit code 2 and
leaves no output file behind.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path

from weakpose.cli_support import (
    WeakposeParser,
    add_threads_option,
    check_declared_paths,
    configure_threads,
    declare_paths,
    int_at_least,
    nonnegative_float,
    positive_float,
)
from weakpose.errors import InputError

EPILOG = "Conventions: mm, Human3.6M-17 joint order, OpenCV camera frame (x right, y down, z forward)."


def _add_data_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", metavar="DIR", help="shared data folder with cmu/ and benchmark/ "
                   "(default: $WEAKPOSE_DATA, else ../shared/data beside the repository)")


class _DataFiles(argparse.Action):
    """``--train-2d A.npz B.npz steps=500``: file names up to the first ``key=value`` (which, with
    what follows, are config overrides); the option may be repeated."""

    def __call__(self, parser, namespace, values, option_string=None):
        values = [values] if isinstance(values, str) else list(values)
        cut = next((i for i, v in enumerate(values) if "=" in v and not Path(v).exists()), len(values))
        if cut == 0:
            parser.error(f"{option_string}: expected FILE before {values[0]}")
        files = values[:cut]
        if self.nargs is None:
            setattr(namespace, self.dest, files[0])
        else:
            setattr(namespace, self.dest, (getattr(namespace, self.dest) or []) + files)
        namespace.trailing_overrides = getattr(namespace, "trailing_overrides", []) + values[cut:]


def _add_data_file_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "training data from your own files (docs/own-data.md)",
        "Each kind given replaces the CMU-WS default of that kind; kinds not given keep it. A kind the "
        "method cannot use is refused, naming what it accepts (Method.data_kinds: supervised --train-paired; "
        "nrsfm, distill --train-2d; hypotheses --train-2d --train-3d; multiview --train-multiview --train-3d; "
        "--val all but prior; the image variants (variant=image) train on rendered crops and take none of "
        "these, except multiview's --train-3d). Files are recorded (path, sha256, samples) in RUN_DIR/config.json.")
    g.add_argument("--train-2d", nargs="+", action=_DataFiles, metavar="FILE",
                   help="single-view 2D keypoints [N, J, 2] (+confidence, intrinsics; COCO-17/MediaPipe-33/MPII-16 "
                   "joint_names are converted); no 3D is read")
    g.add_argument("--train-multiview", nargs="+", action=_DataFiles, metavar="FILE",
                   help="multi-view 2D [N, C, J, 2] (a view with confidence 0 everywhere is absent) or a "
                   "`weakpose tracklets` file; no 3D is read")
    g.add_argument("--train-3d", nargs="+", action=_DataFiles, metavar="FILE",
                   help="unpaired 3D poses positions_3d [N, 17, 3] mm (or `data convert-cmu` output)")
    g.add_argument("--train-paired", nargs="+", action=_DataFiles, metavar="FILE",
                   help="2D with paired positions_3d (test-file layout)")
    g.add_argument("--val", action=_DataFiles, metavar="FILE",
                   help="2D with positions_3d, used only to monitor training "
                   "(default: fixed samples of the CMU-WS training subjects)")


def cmd_train(args: argparse.Namespace) -> int:
    from weakpose.training import train

    overrides = list(args.overrides) + list(getattr(args, "trailing_overrides", []))
    if args.teacher:   # repeated --teacher: several teachers, the config's comma-separated list
        overrides.append("teacher=" + ",".join(args.teacher))
    from weakpose.data.sources import KINDS

    data_files = {k: getattr(args, k) for k in KINDS if getattr(args, k)}
    metrics = train(args.method, args.out, args.config, overrides, args.resume, args.data,
                    progress=not args.no_progress, stop_after=args.stop_after, data_files=data_files)
    print(json.dumps({"run": str(args.out), **metrics}, indent=2))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    if args.image or args.video:
        try:
            wild = importlib.import_module("weakpose.inference.wild")
        except ModuleNotFoundError:
            raise InputError(
                "--image/--video: the in-the-wild pipeline is not installed (pip install 'weakpose[detect]')"
            ) from None
        return wild.predict_media(args)
    if not args.input:
        raise InputError("command line: predict needs --input 2d.npz (or --image/--video)")
    from weakpose.api import load
    from weakpose.data.contracts import load_keypoints_2d, save_npz_atomic
    from weakpose.inference.prediction import summary

    if args.output is None:
        raise InputError("command line: predict needs --output FILE.npz")
    model = load(args.checkpoint)
    out = model.predict(load_keypoints_2d(args.input), progress=not args.no_progress)
    written = save_npz_atomic(args.output, **out)
    print(f"wrote {written}: {summary(out)}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from weakpose.data.contracts import load_benchmark, load_predictions
    from weakpose.metrics import evaluate_predictions, format_table

    gt = load_benchmark(args.gt)
    pred = load_predictions(args.pred)
    if len(pred["positions_3d"]) != len(gt.positions_3d):
        raise InputError(f"{args.pred}: key 'positions_3d': {len(pred['positions_3d'])} samples, "
                         f"but {args.gt} has {len(gt.positions_3d)}")
    results = evaluate_predictions(pred["positions_3d"], gt.positions_3d, gt.action, pred.get("hypotheses"))
    print(format_table(results, f"{args.pred} vs {args.gt}"))
    unseen = _unseen_joints(args.gt, gt)
    if unseen is not None:
        from weakpose.metrics import format_seen_unseen, seen_unseen_errors

        results["truncation"] = seen_unseen_errors(pred["positions_3d"], gt.positions_3d, unseen)
        print(format_seen_unseen(results["truncation"]))
    if args.json:
        from weakpose.atomic import write_text_atomic

        write_text_atomic(args.json, json.dumps(results, indent=2))
        print(f"wrote {args.json}")
    return 0


def _unseen_joints(path, gt):
    """[N, 17] joints missing from the 2D input of a benchmark file: its ``truncated`` key
    (``benchmark --truncate``), else None (detector-noise drop-outs are not truncation)."""
    import numpy as np

    with np.load(path) as z:
        if "truncated" not in z.files:
            return None
        unseen = z["truncated"]
    if unseen.shape != gt.positions_3d.shape[:2]:
        raise InputError(f"{path}: key 'truncated': shape {unseen.shape}, expected {list(gt.positions_3d.shape[:2])}")
    return unseen.astype(bool)


def cmd_benchmark(args: argparse.Namespace) -> int:
    from weakpose.camera import load_rig
    from weakpose.data.benchmark import make_split
    from weakpose.data.contracts import save_npz_atomic
    from weakpose.data.paths import data_root

    if args.truncate and args.multiview:
        raise InputError("command line: --truncate takes single-view files (no --multiview)")
    root = data_root(args.data)
    rig = args.rig
    if rig not in ("h36m", "wild"):
        rig = load_rig(rig)
    arrays = make_split(root, tuple(args.subjects), rig, args.noise, args.seed, args.multiview, args.stride, args.views)
    if args.truncate:
        from weakpose.data.benchmark import truncate_split

        arrays = truncate_split(arrays, args.seed)
    if args.drop_3d:   # 2D only: no 3D poses and no extrinsics (what a user's unlabeled data holds)
        for key in ("positions_3d", "rotations", "translations"):
            arrays.pop(key, None)
    save_npz_atomic(args.out, **arrays)
    print(f"wrote {args.out}: keypoints_2d {list(arrays['keypoints_2d'].shape)}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from weakpose.demo import run_demo

    return run_demo(args)


def build_parser() -> argparse.ArgumentParser:
    from weakpose.data.sources import KINDS
    from weakpose.methods.registry import available_methods

    parser = WeakposeParser(
        prog="weakpose",
        description="Monocular 3D human pose learned without 3D annotations of the training images.",
        epilog=EPILOG,
    )
    from weakpose import __version__

    parser.add_argument("--version", action="version", version=f"weakpose {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("demo", help="train a small reference lifter, evaluate it on the benchmark, draw a figure",
                       description="Trains the supervised reference lifter at demo size on the CMU-WS "
                       "training subjects (a few minutes on 2 CPU cores), evaluates it on the three "
                       "benchmark test files and writes a PNG of test poses.", epilog=EPILOG)
    _add_data_option(p)
    p.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    p.add_argument("--steps", type=int_at_least(1), default=None, help="training steps (default: the demo config's)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_demo)
    declare_paths(p, output_folders=("out",))

    p = sub.add_parser("train", help="train a method", epilog=EPILOG,
                       description="Train METHOD into RUN_DIR. Without --config it trains the method's "
                       "CPU-sized default; configs/ holds full-size paper settings. RUN_DIR receives "
                       "config.json, logs/ (TensorBoard), metrics.jsonl, last.pt (resumable) and model.pt.")
    p.add_argument("method", choices=available_methods(), help="method to train")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder")
    p.add_argument("--config", metavar="FILE", help="TOML/JSON config file (keys = config fields)")
    p.add_argument("--resume", action="store_true", help="continue the interrupted run in RUN_DIR")
    p.add_argument("--teacher", metavar="RUN_DIR", action="append",
                   help="teacher run (for `distill`); repeat it for several teachers (the same as "
                   "teacher=RUN_A,RUN_B): Eq. 15 averaged over them, not in the paper (docs/nrsfm.md)")
    p.add_argument("--stop-after", type=int_at_least(1), metavar="N", help="checkpoint and stop after N steps, "
                   "counted over all phases (resume later with --resume)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_data_option(p)
    _add_data_file_options(p)
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. steps=500 lr=1e-4")
    p.set_defaults(func=cmd_train)
    declare_paths(p, inputs=("config", "teacher", *KINDS), output_folders=("out",))  # KINDS: the data-file options

    p = sub.add_parser("predict", help="lift 2D keypoints (or a photo/video) to 3D with a trained model", epilog=EPILOG,
                       description="Writes positions_3d [N,17,3] (mm, camera frame, root-relative) and, for "
                       "multi-hypothesis models, hypotheses [N,H,17,3]; per-sample input arrays are passed through. "
                       "Image models (variant=image of multiview, distill and flows-ws) crop the person from each "
                       "photo: from the 2D file's 'box', else from the box of its 2D keypoints (with --image/--video: "
                       "of the detector's); their 2D file needs 'image_path' per sample.")
    p.add_argument(
        "--checkpoint", required=True, metavar="RUN_DIR|FILE", help="run folder (its model.pt) or checkpoint file"
    )
    p.add_argument("--input", metavar="2D.npz", help="2D keypoint file (DESIGN.md §4; other layouts by 'joint_names': "
                   "COCO-17, MediaPipe-33, MPII-16); for image models with 'image_path' and optional 'box' [N,4] "
                   "x0,y0,x1,y1")
    p.add_argument("--output", metavar="3D.npz", help="prediction file to write")
    p.add_argument("--image", nargs="+", metavar="PHOTO",
                   help="photo(s): detect 2D with MediaPipe, then lift (image models: crop the detected person)")
    p.add_argument("--video", metavar="FILE",
                   help="video: detect 2D per frame, then lift (image models: crop the detected person)")
    p.add_argument("--figure", metavar="PNG", help="figure/animation to write for --image/--video")
    p.add_argument("--no-figure", action="store_true", help="--image/--video: write the npz only (fastest)")
    p.add_argument("--max-frames", type=int_at_least(1), metavar="N", help="--video: stop after N frames")
    p.add_argument("--smooth", choices=["one-euro", "none"], default="one-euro",
                   help="--video: one-euro filter on the tracked 2D keypoints and the 3D joints (default), or none")
    p.add_argument("--smooth-min-cutoff", type=positive_float, metavar="HZ",
                   help="one-euro cut-off at rest (default 1.0 Hz)")
    p.add_argument("--smooth-beta", type=nonnegative_float, metavar="B",
                   help="one-euro speed coefficient (default 1.0 per body size/s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (shown for inputs over "
                   "256 samples)")
    p.set_defaults(func=cmd_predict)
    declare_paths(p, inputs=("input", "checkpoint", "image", "video"), outputs=("output", "figure"))

    p = sub.add_parser("evaluate", help="score predictions against a benchmark file", epilog=EPILOG,
                       description="Prints MPJPE, N-MPJPE, PA-MPJPE (no reflections), PA-MPJPE with "
                       "reflections (as the papers; a depth-mirrored prediction scores like the true one "
                       "there), PCK@150 and AUC overall and per action (DESIGN.md §5); best-of-H oracle "
                       "rows when the file has hypotheses.")
    p.add_argument("--pred", required=True, metavar="3D.npz", help="prediction file")
    p.add_argument("--gt", required=True, metavar="TEST.npz", help="file with ground-truth positions_3d")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.set_defaults(func=cmd_evaluate)
    declare_paths(p, inputs=("pred", "gt"), outputs=("json",))

    p = sub.add_parser(
        "benchmark",
        help="generate CMU-WS samples (protocol v1) for any subjects, rig and noise",
        epilog=EPILOG,
        description="`weakpose benchmark --subjects 2 9 --rig h36m --noise gt --seed 0 --out f.npz` "
        "rebuilds cmu_test_h36mrig_gt2d.npz.",
    )
    _add_data_option(p)
    p.add_argument(
        "--subjects", type=int, nargs="+", required=True, help="CMU subjects (train: 1 3 5 6 7 8; test: 2 9)"
    )
    p.add_argument("--rig", default="h36m", help="h36m, wild, or a rig JSON file")
    p.add_argument("--noise", default="gt", choices=["gt", "detector"], help="exact projections or detector-like noise")
    p.add_argument("--seed", type=int_at_least(0), default=0)
    p.add_argument("--multiview", action="store_true", help="one sample per frame with a view axis [N, C, J, 2]")
    p.add_argument("--views", type=int_at_least(1), default=4, help="views per frame for --rig wild --multiview")
    p.add_argument("--stride", type=int_at_least(1), default=1, help="keep every STRIDE-th frame")
    p.add_argument("--drop-3d", action="store_true", help="write 2D only: leave out positions_3d and the camera "
                   "extrinsics (unlabeled 2D for --train-2d / --train-multiview, docs/own-data.md)")
    p.add_argument("--truncate", action="store_true",
                   help="cut every body with the image border like photos do (lower body, one side, or below the "
                        "elbows; data.noise.border_truncation); the file gets 'truncated' [N, 17], and "
                        "`weakpose evaluate` then reports seen and unseen joints separately")
    p.add_argument("--out", required=True, help="npz file to write")
    p.set_defaults(func=cmd_benchmark)
    declare_paths(p, inputs=("rig",), outputs=("out",))

    for module_name in importlib.import_module("weakpose.cli_plugins").COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name and module_name.startswith(e.name):
                continue  # plug-in not part of this installation
            raise
        module.register(sub)
    add_threads_option(parser, top_level=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    """The ``weakpose`` command: exit code 0 on success, 2 for bad input (one ``error:`` line),
    1 when the system refuses a file during the work (one ``error:`` line), 130 when interrupted,
    141 when the reader of its output went away (``weakpose … | head``)."""
    try:
        return _run(argv)
    except BrokenPipeError:
        # as Unix tools do: stop quietly when stdout's reader has exited; stdout now points at
        # /dev/null so that the interpreter's last flush cannot raise again (Python docs, "Note on SIGPIPE")
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 128 + 13   # 128 + SIGPIPE, the status a shell reports for a tool killed by SIGPIPE


def _run(argv: list[str] | None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        if getattr(args, "command", None) == "train" and all("=" in e and not e.startswith("-") for e in extra):
            args.overrides = list(args.overrides) + extra     # key=value after options
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        check_declared_paths(args)
        configure_threads(args.threads)
        return int(args.func(args) or 0)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        print(f"\ninterrupted{': ' + str(e) if str(e) else ''}", file=sys.stderr)
        return 130
    except OSError as e:
        if e.filename is None or isinstance(e, BrokenPipeError):
            raise
        # the system refused a file the checks before the work could not foresee (a full disk, a
        # read-only or special file system, a file removed meanwhile): one line, exit code 1
        print(f"error: {e.filename}: {e.strerror or e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
