"""``weakpose render``, ``detect`` and ``view`` sub-commands (listed in ``cli_plugins``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from weakpose.cli_support import declare_paths, fraction, int_at_least


def register(subparsers) -> None:
    """Add ``render``, ``detect`` and ``view`` to the ``weakpose`` command."""
    p = subparsers.add_parser(
        "render",
        help="render CMU motion as synthetic person images (contact sheet PNG and/or npz)",
        description="Render people from CMU poses: images with part masks, depth, 2D joints and visibility.",
    )
    p.add_argument(
        "--subjects",
        type=int,
        nargs="+",
        default=None,
        help="CMU subjects (default: the training subjects 1 3 5 6 7 8)",
    )
    p.add_argument(
        "--rig", choices=("h36m", "wild"), default="h36m", help="h36m: the benchmark's 4 cameras; wild: random cameras"
    )
    p.add_argument("--num", type=int_at_least(1), default=4, help="number of instants (default 4)")
    p.add_argument("--views", type=int_at_least(1), default=4, help="views per instant (default 4)")
    p.add_argument("--size", type=int_at_least(8), default=128, help="square person-crop size in pixels (default 128)")
    p.add_argument("--full", action="store_true", help="render whole camera images instead of person crops")
    p.add_argument("--seed", type=int_at_least(0), default=0)
    p.add_argument("--sheet", type=Path, default=None, help="write a PNG contact sheet here")
    p.add_argument("--palette", action="store_true", help="quantise the sheet to 256 colours (smaller file)")
    p.add_argument("--output", type=Path, default=None,
                   help="write an npz: images, parts, depth, part_names, keypoints_2d, confidence (1 = inside "
                        "the image), visible (not hidden by the body), intrinsics (crop @ K), joints_cam (mm)")
    p.add_argument("--folder", type=Path, default=None,
                   help="write every image as DIR/image_NNNNN.png and DIR/2d.npz: a 2D file with image_path, "
                        "keypoints_2d, confidence, intrinsics, box, positions_3d (camera frame, mm), the form "
                        "the image methods train from with images=DIR/2d.npz (docs/images.md)")
    p.add_argument("--data", default=None, help="data folder (default: $WEAKPOSE_DATA or ../shared/data)")
    p.set_defaults(func=_render_command)
    declare_paths(p, outputs=("sheet", "output"), output_folders=("folder",))

    d = subparsers.add_parser(
        "detect",
        help="2D keypoints (Human3.6M-17) of the person in photos or a video with MediaPipe Pose",
        description="Detect one person per image/frame with MediaPipe Pose (pip install 'weakpose[detect]').",
    )
    src = d.add_mutually_exclusive_group(required=True)
    src.add_argument("--images", type=Path, nargs="+", help="image files")
    src.add_argument("--video", type=Path, help="a video file")
    d.add_argument("--output", type=Path, required=True, help="2D keypoint npz (DESIGN.md §4)")
    d.add_argument("--min-confidence", type=fraction, default=0.5, help="MediaPipe detection confidence (default 0.5)")
    d.add_argument("--max-frames", type=int_at_least(1), default=None, help="stop after this many video frames")
    d.set_defaults(func=_detect_command)
    declare_paths(d, inputs=("images", "video"), outputs=("output",))

    v = subparsers.add_parser(
        "view",
        help="one self-contained HTML page to look at a prediction (3D skeleton you can turn, 2D over the frame)",
        description="Writes an HTML file that opens offline: the 2D keypoints over the photo or video frame, the "
                    "3D skeleton (drag to rotate, scroll to zoom), a time slider and play button for sequences, "
                    "extra hypotheses as thin lines, and joints the detector did not see drawn as open grey "
                    "markers with dashed bones (the lifter's guess). Needs plotly: pip install 'weakpose[view]'.",
        epilog="example: weakpose predict --checkpoint RUN --image photo.jpg --output pred.npz && "
               "weakpose view pred.npz --image photo.jpg --out view.html",
    )
    v.add_argument("prediction", type=Path, metavar="PRED.npz", help="prediction file (positions_3d, optional "
                   "keypoints_2d, confidence or guessed, hypotheses, frame_index, timestamp)")
    vsrc = v.add_mutually_exclusive_group()
    vsrc.add_argument("--image", type=Path, nargs="+", metavar="PHOTO",
                      help="the photo(s) the prediction was made from")
    vsrc.add_argument("--video", type=Path, metavar="CLIP", help="the video the prediction was made from")
    v.add_argument("--out", type=Path, required=True, metavar="VIEW.html", help="HTML file to write")
    v.add_argument("--max-frames", type=int_at_least(1), default=150,
                   help="show at most this many evenly spaced frames of a sequence (default 150)")
    v.add_argument("--image-size", type=int_at_least(16), default=360,
                   help="longer side (px) of the embedded frame pictures (default 360)")
    v.set_defaults(func=_view_command)
    declare_paths(v, inputs=("prediction", "image", "video"), outputs=("out",))


def _render_command(args: argparse.Namespace) -> int:
    import numpy as np

    from weakpose.data import mocap
    from weakpose.data.contracts import save_npz_atomic
    from weakpose.data.paths import data_root
    from weakpose.errors import InputError
    from weakpose.rendering.labels import PART_NAMES
    from weakpose.rendering.scenes import RenderedMotion
    from weakpose.rendering.sheet import contact_sheet, save_png

    if args.sheet is None and args.output is None and args.folder is None:
        raise InputError("command line: render needs --sheet PNG, --output NPZ and/or --folder DIR")
    subjects = tuple(args.subjects) if args.subjects else mocap.TRAIN_SUBJECTS
    src = RenderedMotion(data_root(args.data), subjects=subjects, rig=args.rig, seed=args.seed)
    scene = src.sample(args.num, num_views=args.views, crop_size=None if args.full else args.size)
    if args.sheet is not None:
        save_png(contact_sheet(scene.render, columns=4), args.sheet, palette=args.palette)
        print(f"wrote {args.sheet}")
    if args.output is not None:
        arr = scene.render.numpy()
        H, W = arr["rgb"].shape[-3:-1]
        j2d = arr["joints_2d"]
        inside = (j2d[..., 0] >= -0.5) & (j2d[..., 0] <= W - 0.5) & (j2d[..., 1] >= -0.5) & (j2d[..., 1] <= H - 0.5)
        save_npz_atomic(
            args.output, images=arr["rgb"], parts=arr["parts"], depth=arr["depth"].astype(np.float32),
            part_names=np.array(PART_NAMES), visible=arr["visible"],
            keypoints_2d=j2d.astype(np.float32), confidence=inside.astype(np.float32),
            intrinsics=arr["intrinsics"].astype(np.float32), joints_cam=arr["joints_cam"].astype(np.float32),
            subject=scene.subject,
        )
        print(f"wrote {args.output}")
    if args.folder is not None:
        from weakpose.rendering.folder import write_image_folder

        arr = scene.render.numpy()
        n = write_image_folder(args.folder, arr["rgb"].reshape(-1, *arr["rgb"].shape[-3:]),
                               arr["joints_2d"].reshape(-1, 17, 2), arr["intrinsics"].reshape(-1, 3, 3),
                               arr["joints_cam"].reshape(-1, 17, 3), np.repeat(scene.subject, args.views))
        print(f"wrote {n} images and {args.folder / '2d.npz'}")
    return 0


def _view_command(args: argparse.Namespace) -> int:
    from weakpose.inference.viewer import view_command

    return view_command(args)


def _detect_command(args: argparse.Namespace) -> int:
    from weakpose.inference.detect import detect_command

    return detect_command(args)
