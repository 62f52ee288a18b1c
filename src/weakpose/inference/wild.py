"""``weakpose predict --checkpoint CKPT --image PHOTO | --video FILE --output 3d.npz``:
detect the person (MediaPipe Pose) -> lift its 2D with any trained weakpose lifter, or crop it
from the box of its 2D for an image model (:mod:`weakpose.inference.prediction`) -> 3D.

Writes the 3D prediction file of DESIGN.md §4 (``positions_3d`` [M, 17, 3] mm, camera
frame, root-relative) for the M frames where a person was found, passing through the 2D
detections, ``frame_index``, ``source`` and listing ``frames_without_person`` -- a frame
without a person gets no made-up pose. A figure shows the photo with its 2D skeleton and the
3D skeleton from the camera's viewpoint and from the side (PNG for a photo; GIF, or MP4 when
the figure path ends in .mp4, for a video). ``guessed`` [M, 17] marks the joints the detector
did not see (outside the picture or hidden): their 3D positions are the lifter's guess, drawn
dashed in the figure and in ``weakpose view``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from weakpose.data.contracts import save_npz_atomic, validate_keypoints_2d
from weakpose.errors import InputError
from weakpose.inference.prediction import FRAME_ASSUMED, prediction_arrays, summary
from weakpose.inference.temporal import temporal_options, video_keypoints
from weakpose.skeleton import H36M17

_LEFT = set(H36M17.left)
_RIGHT = set(H36M17.right)


def _bone_color(child: int) -> str:
    return "tab:red" if child in _LEFT else "tab:blue" if child in _RIGHT else "0.2"


def draw_prediction(
    image: np.ndarray, kp2d: np.ndarray | None, conf: np.ndarray | None, pose3d: np.ndarray | None, title: str = ""
):
    """A matplotlib figure: image with 2D skeleton | 3D front view | 3D side view.
    Left limbs red, right blue; joints with confidence 0 are not drawn in 2D, and in 3D they are
    open grey circles joined by dashed grey bones (the lifter's guess, ``guessed`` in the file)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(11, 4), gridspec_kw={"width_ratios": [1.3, 1, 1]})
    ax = axes[0]
    ax.imshow(image)
    ax.set_axis_off()
    ax.set_title(title or "2D (MediaPipe -> Human3.6M-17)", fontsize=9)
    if kp2d is None:
        ax.text(0.5, 0.5, "no person found", transform=ax.transAxes, ha="center", color="w",
                fontsize=14, bbox=dict(facecolor="k", alpha=0.6))
    else:
        for p, c in H36M17.bones:
            if conf[p] > 0 and conf[c] > 0:
                ax.plot(kp2d[[p, c], 0], kp2d[[p, c], 1], "-", color=_bone_color(c), lw=2)
        ok = conf > 0
        ax.scatter(kp2d[ok, 0], kp2d[ok, 1], s=10, c="w", edgecolors="k", zorder=3)
    for ax, (name, a, b) in zip(
        axes[1:], (("3D, camera view (x right, y down)", 0, 1), ("3D, side view (z forward, y down)", 2, 1))
    ):
        ax.set_title(name, fontsize=9)
        ax.set_aspect("equal")
        ax.invert_yaxis()
        ax.set_xlim(-1000, 1000)
        ax.set_ylim(1100, -1100)
        ax.grid(True, lw=0.3)
        ax.tick_params(labelsize=7)
        if pose3d is None:
            continue
        guessed = np.zeros(17, bool) if conf is None else conf <= 0
        for p, c in H36M17.bones:
            if guessed[p] or guessed[c]:
                ax.plot(pose3d[[p, c], a], pose3d[[p, c], b], "--", color="0.6", lw=1.5)
            else:
                ax.plot(pose3d[[p, c], a], pose3d[[p, c], b], "-", color=_bone_color(c), lw=2)
        ax.scatter(pose3d[~guessed, a], pose3d[~guessed, b], s=8, c="k", zorder=3)
        ax.scatter(pose3d[guessed, a], pose3d[guessed, b], s=14, facecolors="w", edgecolors="0.5", zorder=3,
                   label="guessed (not seen)" if guessed.any() else None)
    if conf is not None and (conf <= 0).any():
        axes[1].legend(loc="lower right", fontsize=7)
    axes[1].set_xlabel("x (mm)", fontsize=7)
    axes[2].set_xlabel("z (mm, relative to the pelvis)", fontsize=7)
    fig.tight_layout()
    return fig


def _figure_to_array(fig) -> np.ndarray:
    import matplotlib.pyplot as plt

    fig.canvas.draw()
    arr = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return arr


def _write_animation(frames: list[np.ndarray], path: Path, fps: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp" + path.suffix)
    if path.suffix.lower() == ".mp4":
        import cv2

        h, w = frames[0].shape[:2]
        vw = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        if not vw.isOpened():
            raise InputError(f"{path}: cannot write MP4 here (OpenCV without an MP4 encoder); use a .gif path")
        for f in frames:
            vw.write(np.ascontiguousarray(f[..., ::-1]))
        vw.release()
    else:
        from PIL import Image

        ims = [Image.fromarray(f).quantize(128) for f in frames]
        ims[0].save(tmp, format="GIF", save_all=True, append_images=ims[1:], duration=int(1000 / max(fps, 1)), loop=0)
    tmp.replace(path)


def predict_media(args: argparse.Namespace) -> int:
    """Entry point of ``weakpose predict --image/--video`` (see module docstring).

    Uses ``args.checkpoint``, ``args.image`` (one or more photos) or ``args.video``,
    ``args.output`` and, when present, ``args.figure`` (default: the output path with
    .png/.gif; several photos get ``_<i>`` suffixes), ``args.max_frames``,
    ``args.min_confidence``, ``args.no_figure`` and the ``--smooth`` options
    (:func:`temporal_options`). A video is tracked and smoothed around the one prediction path
    (:func:`weakpose.inference.prediction.prediction_arrays`): 2D before lifting, 3D after.
    """
    from weakpose.api import load
    from weakpose.inference.detect import detect_images, read_image, report_missing
    from weakpose.inference.prediction import takes_images

    image, video = getattr(args, "image", None), getattr(args, "video", None)
    if isinstance(image, (str, Path)):
        image = [image]
    if bool(image) == bool(video):
        raise InputError("predict: give --image PHOTO [PHOTO ...] or --video FILE (not both)")
    if getattr(args, "output", None) is None:
        raise InputError("command line: predict needs --output FILE.npz")
    output = Path(args.output)
    min_conf = getattr(args, "min_confidence", None) or 0.5
    model = load(args.checkpoint)
    figure_wanted = not getattr(args, "no_figure", False)
    smoothing = temporal_options(args)
    if image:
        run = detect_images(image, min_conf)
        frames = [read_image(p) for p in image]
        source = str(image[0])
        report_missing(run)
        arrays = run.keypoint_arrays()
    else:
        max_frames = getattr(args, "max_frames", None)
        if figure_wanted or takes_images(model.predictor):
            arrays, run, frames = video_keypoints(video, min_conf, max_frames, smoothing, keep_frames=True)
        else:
            arrays, frames = video_keypoints(video, min_conf, max_frames, smoothing), None
        source = str(video)
    observed = (arrays["confidence"] > 0).sum(-1)
    if (observed < 8).any():
        print(
            f"warning: {int((observed < 8).sum())} frame(s) show fewer than 8 of 17 joints; their unseen joints "
            "are the lifter's guess"
        )
    inputs = validate_keypoints_2d({k: v for k, v in arrays.items() if k != "keypoints_2d_detected"}, Path(source))
    photos = None if frames is None else [frames[int(f)] for f in arrays["frame_index"]]
    pred = prediction_arrays(model.predictor, inputs, photos, FRAME_ASSUMED)
    out = {**{k: v for k, v in arrays.items() if k not in pred}, **pred}
    if video and smoothing is not None:
        from weakpose.inference.temporal import smooth_positions_3d

        out["positions_3d_unsmoothed"] = out["positions_3d"]
        out["positions_3d"] = smooth_positions_3d(out["positions_3d"], out["timestamp"], smoothing)
    out["guessed"] = arrays["confidence"] <= 0   # joints the detector did not see: the lifter's guess
    save_npz_atomic(output, **out)
    print(f"wrote {output}: {summary(out)}")

    if not figure_wanted:
        return 0
    figure = getattr(args, "figure", None)
    figure = Path(figure) if figure else output.with_suffix(".png" if image else ".gif")
    index = {int(f): i for i, f in enumerate(arrays["frame_index"])}
    pics = []
    for f, img in enumerate(frames):
        i = index.get(f)
        fig = draw_prediction(
            img,
            None if i is None else arrays["keypoints_2d"][i],
            None if i is None else arrays["confidence"][i],
            None if i is None else out["positions_3d"][i],
            title=Path(run.sources[f]).name if image else f"{Path(source).name} frame {f}",
        )
        pics.append(_figure_to_array(fig))
    if image:
        from weakpose.rendering.sheet import save_png

        paths = (
            [figure]
            if len(pics) == 1
            else [figure.with_name(f"{figure.stem}_{k}{figure.suffix}") for k in range(len(pics))]
        )
        for pic, path in zip(pics, paths):
            save_png(pic, path)
            print(f"wrote {path}")
    else:
        _write_animation(pics, figure, float(arrays.get("fps", 30.0)))
        print(f"wrote {figure}")
    return 0
