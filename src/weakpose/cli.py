"""The ``weakpose`` command (DESIGN.md §4).

Every sub-command shares the conventions: millimetres, Human3.6M-17 joints, OpenCV camera
frame; bad input ends with a one-line ``error: FILE: key 'x': problem`` and exit code 2 and
leaves no output file behind.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from weakpose.errors import InputError

EPILOG = "Conventions: mm, Human3.6M-17 joint order, OpenCV camera frame (x right, y down, z forward)."


def _add_data_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", metavar="DIR", help="shared data folder with cmu/ and benchmark/ "
                   "(default: $WEAKPOSE_DATA, else ../shared/data beside the repository)")


def cmd_train(args: argparse.Namespace) -> int:
    from weakpose.training import train

    overrides = list(args.overrides)
    if args.teacher:
        overrides.append(f"teacher={args.teacher}")
    metrics = train(args.method, args.out, args.config, overrides, args.resume, args.data,
                    progress=not args.no_progress, stop_after=args.stop_after)
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
    out = model.predict(load_keypoints_2d(args.input))
    save_npz_atomic(args.output, **out)
    print(f"wrote {args.output}: {summary(out)}")
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
    if args.json:
        from weakpose.atomic import write_text_atomic

        write_text_atomic(args.json, json.dumps(results, indent=2))
        print(f"wrote {args.json}")
    return 0


def cmd_benchmark(args: argparse.Namespace) -> int:
    from weakpose.camera import load_rig
    from weakpose.data.benchmark import make_split
    from weakpose.data.contracts import save_npz_atomic
    from weakpose.data.paths import data_root

    root = data_root(args.data)
    rig = args.rig
    if rig not in ("h36m", "wild"):
        rig = load_rig(rig)
    arrays = make_split(root, tuple(args.subjects), rig, args.noise, args.seed, args.multiview, args.stride, args.views)
    save_npz_atomic(args.out, **arrays)
    print(f"wrote {args.out}: keypoints_2d {list(arrays['keypoints_2d'].shape)}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from weakpose.demo import run_demo

    return run_demo(args)


def build_parser() -> argparse.ArgumentParser:
    from weakpose.methods.registry import available_methods

    parser = argparse.ArgumentParser(
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
    p.add_argument("--steps", type=int, default=None, help="training steps (default: the demo config's)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("train", help="train a method", epilog=EPILOG,
                       description="Train METHOD into RUN_DIR. Without --config it trains the method's "
                       "CPU-sized default; configs/ holds full-size paper settings. RUN_DIR receives "
                       "config.json, logs/ (TensorBoard), metrics.jsonl, last.pt (resumable) and model.pt.")
    p.add_argument("method", choices=available_methods(), help="method to train")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder")
    p.add_argument("--config", metavar="FILE", help="TOML/JSON config file (keys = config fields)")
    p.add_argument("--resume", action="store_true", help="continue the interrupted run in RUN_DIR")
    p.add_argument("--teacher", metavar="RUN_DIR", help="teacher run (for `distill`)")
    p.add_argument("--stop-after", type=int, metavar="N", help="checkpoint and stop after N steps, counted over all "
                   "phases (resume later with --resume)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_data_option(p)
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. steps=500 lr=1e-4")
    p.set_defaults(func=cmd_train)

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
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("evaluate", help="score predictions against a benchmark file", epilog=EPILOG,
                       description="Prints MPJPE, N-MPJPE, PA-MPJPE (no reflections), PCK@150 and AUC overall "
                       "and per action (DESIGN.md §5); best-of-H oracle rows when the file has hypotheses.")
    p.add_argument("--pred", required=True, metavar="3D.npz", help="prediction file")
    p.add_argument("--gt", required=True, metavar="TEST.npz", help="file with ground-truth positions_3d")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.set_defaults(func=cmd_evaluate)

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
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--multiview", action="store_true", help="one sample per frame with a view axis [N, C, J, 2]")
    p.add_argument("--views", type=int, default=4, help="views per frame for --rig wild --multiview")
    p.add_argument("--stride", type=int, default=1, help="keep every STRIDE-th frame")
    p.add_argument("--out", required=True, help="npz file to write")
    p.set_defaults(func=cmd_benchmark)

    for module_name in importlib.import_module("weakpose.cli_plugins").COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name and module_name.startswith(e.name):
                continue  # plug-in not part of this installation
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
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
        return int(args.func(args) or 0)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        print(f"\ninterrupted{': ' + str(e) if str(e) else ''}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
