"""Frames per second of ``weakpose predict --video`` end to end (MediaPipe detection + one-person
tracking + one-euro smoothing of 2D + lifting + smoothing of 3D, npz written, no figure), and of
each stage alone, on a rendered clip of a walking test subject.

    python benchmarks/video_throughput.py [--frames 150] [--size 480] [--checkpoint RUN] [--threads 1]

Without ``--checkpoint`` a lifter of the default supervised architecture is made by one
training step (speed does not depend on the weights).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import machine

from weakpose.cli import main as weakpose
from weakpose.data.contracts import validate_keypoints_2d
from weakpose.inference.detect import detect_video
from weakpose.inference.prediction import prediction_arrays
from weakpose.inference.temporal import OneEuro, follow_one_person, smooth_keypoints_2d, smooth_positions_3d
from weakpose.inference_api import load_predictor
from weakpose.rendering.clips import write_walk_clip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--size", type=int, default=480, help="square video side (px)")
    ap.add_argument(
        "--checkpoint", default=None, help="lifter run (default: one step of the default supervised config)"
    )
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="weakpose_video_bench_"))
    clip = tmp / "walk.avi"
    write_walk_clip(clip, frames=args.frames, size=args.size)
    ckpt = args.checkpoint
    if ckpt is None:
        from weakpose.training import train

        ckpt = tmp / "lifter"
        with contextlib.redirect_stdout(io.StringIO()):
            train("supervised", ckpt, overrides=["steps=1", "eval_every=1", "checkpoint_every=1"], progress=False)
    print(f"machine: {machine()}")
    print(f"clip: {args.frames} frames, {args.size}x{args.size} px; lifter: {ckpt}")

    t = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        rc = weakpose(
            [
                "predict",
                "--checkpoint",
                str(ckpt),
                "--video",
                str(clip),
                "--output",
                str(tmp / "out.npz"),
                "--no-figure",
            ]
        )
    total = time.perf_counter() - t
    assert rc == 0
    n = len(np.load(tmp / "out.npz")["frame_index"])

    t = time.perf_counter()
    arrays = detect_video(clip).keypoint_arrays()
    t_detect = time.perf_counter() - t
    t = time.perf_counter()
    keep = follow_one_person(arrays["frame_index"], arrays["keypoints_2d"], arrays["confidence"])
    times = arrays["frame_index"][keep] / 30.0
    kp = smooth_keypoints_2d(arrays["keypoints_2d"][keep], arrays["confidence"][keep], times, OneEuro())
    t_track_2d = time.perf_counter() - t
    predictor = load_predictor(ckpt)
    inputs = validate_keypoints_2d(
        {"keypoints_2d": kp, "confidence": arrays["confidence"][keep], "intrinsics": arrays["intrinsics"][keep]}, clip
    )
    t = time.perf_counter()
    pos = prediction_arrays(predictor, inputs)["positions_3d"]  # the one path predict uses
    t_lift = time.perf_counter() - t
    t = time.perf_counter()
    smooth_positions_3d(pos, times)
    t_3d = time.perf_counter() - t

    F = args.frames
    print("| stage | seconds | frames/s |")
    print("|---|---|---|")
    for name, sec in (
        ("MediaPipe detection (video mode)", t_detect),
        ("tracking + one-euro 2D", t_track_2d),
        ("lifting", t_lift),
        ("one-euro 3D", t_3d),
    ):
        print(f"| {name} | {sec:.3f} | {F / sec:,.0f} |")
    print(
        f"| **end to end** (`predict --video --no-figure`, incl. start-up, reading, writing; {n} poses) | "
        f"{total:.2f} | **{F / total:.1f}** |"
    )


if __name__ == "__main__":
    main()
