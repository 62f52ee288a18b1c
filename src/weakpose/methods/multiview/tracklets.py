"""Multi-view training samples from videos of people holding still while the camera moves
(MannequinChallenge-style data, Iqbal et al. 2020 §4.1).

Pipeline on per-frame 2D detections (any detector; ``weakpose detect`` writes such a file, and
``weakpose tracklets --video ...`` runs the MediaPipe wrapper on each frame itself):

1. **track** people across frames by pose similarity (greedy matching of consecutive frames by
   an OKS-like keypoint similarity, as the pose-based tracking of Xiao et al. [49] without
   optical flow), allowing gaps of up to ``max_gap`` frames;
2. **filter** poses: drop a pose with more than half of its joints below ``tau`` = 0.5
   confidence, or with a scale-pair joint (pelvis or thorax here; the paper says neck and pelvis,
   the joints Eq. 3 needs) below ``tau``;
3. drop **tracklets** shorter than ``min_length`` = 5 frames.

Each tracklet is one multi-view sample (the person is static, so its frames are views of one
pose); the output file is flat, one row per kept frame, with ``tracklet`` ids (DESIGN.md §4
keys plus ``tracklet`` and ``frame_index``), and :class:`TrackletSet` draws ``C`` random views
of a tracklet for training.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from weakpose.data.contracts import load_keypoints_2d, save_npz_atomic
from weakpose.data.npz_mmap import open_npz
from weakpose.data.sources import MultiViewSet, read_2d
from weakpose.errors import InputError
from weakpose.vision.tracking import track

TAU = 0.5
MIN_LENGTH = 5
SCALE_PAIR = (0, 8)


def keep_pose(confidence: np.ndarray, tau: float = TAU, scale_pair: tuple[int, int] = SCALE_PAIR) -> np.ndarray:
    """[..., J] confidences -> [...] bool: at most half of the joints below ``tau`` and both
    scale-pair joints at or above it (§4.1)."""
    conf = np.asarray(confidence)
    J = conf.shape[-1]
    few_low = (conf < tau).sum(-1) <= J / 2
    pair_ok = (conf[..., list(scale_pair)] >= tau).all(-1)
    return few_low & pair_ok


def build_tracklets(frame_index: np.ndarray, keypoints: np.ndarray, confidence: np.ndarray,
                    tau: float = TAU, min_length: int = MIN_LENGTH, scale_pair: tuple[int, int] = SCALE_PAIR,
                    min_similarity: float = 0.3, max_gap: int = 2) -> np.ndarray:
    """Track, filter poses and short tracklets; returns the tracklet id per detection, -1 for
    dropped detections. Ids of kept tracklets are renumbered 0..T-1 in order of appearance."""
    ids = track(frame_index, keypoints, confidence, min_similarity, max_gap)
    ids = np.where(keep_pose(confidence, tau, scale_pair), ids, -1)
    out = -np.ones_like(ids)
    new = 0
    for t in np.unique(ids[ids >= 0]):   # unique is sorted = order of first appearance
        rows = np.flatnonzero(ids == t)
        if len(rows) >= min_length:
            out[rows] = new
            new += 1
    return out


class TrackletSet:
    """Multi-view samples from a tracklet file: random ``views`` frames of one tracklet
    (:class:`weakpose.data.sources.MultiViewSet`, whose ``groups`` are the tracklets)."""

    @staticmethod
    def load(path: str | Path) -> MultiViewSet:
        arrays = open_npz(path)
        if "tracklet" not in arrays:
            raise InputError(f"{path}: key 'tracklet': missing (write the file with `weakpose tracklets`)")
        return MultiViewSet.from_keypoints(read_2d(path, arrays, multiview=True, kind="train_multiview"))


def _kept_rows(frames: np.ndarray, keypoints: np.ndarray, confidence: np.ndarray, per_sample: dict[str, np.ndarray],
               tau: float, min_length: int, first_id: int = 0) -> dict[str, np.ndarray]:
    """The rows of one detection sequence that survive tracking and filtering, with ``tracklet``
    ids starting at ``first_id`` (empty arrays when none survives)."""
    ids = build_tracklets(frames, keypoints, confidence, tau, min_length)
    keep = ids >= 0
    arrays = {k: np.asarray(v)[keep] for k, v in per_sample.items()}
    arrays.update(keypoints_2d=keypoints[keep], confidence=confidence[keep], tracklet=ids[keep] + first_id,
                  frame_index=frames[keep])
    return arrays


def _save_tracklets(output_path: str | Path, parts: list[dict[str, np.ndarray]], source: str, tau: float,
                    min_length: int) -> int:
    parts = [p for p in parts if len(p["tracklet"])]
    if not parts:
        raise InputError(f"{source}: no tracklet of at least {min_length} frames survives the filters (tau={tau})")
    keys = set.intersection(*(set(p) for p in parts))
    arrays = {k: np.concatenate([p[k] for p in parts]) for k in keys}
    save_npz_atomic(output_path, **arrays)
    return int(arrays["tracklet"].max()) + 1


def tracklet_file(
    input_path: str | Path, output_path: str | Path, tau: float = TAU, min_length: int = MIN_LENGTH
) -> int:
    """Read per-frame detections (2D keypoint file with ``frame_index``; several rows per frame
    allowed), write the kept rows with their ``tracklet`` ids. Returns the number of tracklets."""
    kp = load_keypoints_2d(input_path)
    if kp.multiview:
        raise InputError(f"{input_path}: key 'keypoints_2d': expected per-frame detections [D, J, 2]")
    frames = np.asarray(kp.extras.get("frame_index", np.arange(kp.num_samples)))
    per_sample = dict(kp.per_sample_extras())
    if kp.intrinsics is not None:
        per_sample["intrinsics"] = kp.intrinsics
    part = _kept_rows(frames, kp.keypoints_2d, kp.confidence, per_sample, tau, min_length)
    return _save_tracklets(output_path, [part], str(input_path), tau, min_length)


def video_tracklets(videos: list[str | Path], output_path: str | Path, tau: float = TAU, min_length: int = MIN_LENGTH,
                    min_confidence: float = 0.5, max_frames: int | None = None) -> int:
    """Detect the person in every frame of each video with MediaPipe Pose
    (:func:`weakpose.inference.detect.detect_video`), track and filter per video, and write
    one tracklet file (tracklets never span two videos; ``video`` = the video's index,
    ``source`` = ``PATH#frame``). Intrinsics are the detector's assumed pinhole camera
    (focal length 1.15 × the larger image side). Returns the number of tracklets."""
    from weakpose.inference.detect import detect_video

    parts, next_id = [], 0
    for v, path in enumerate(videos):
        arrays = detect_video(path, min_confidence, max_frames).keypoint_arrays()
        n = len(arrays["keypoints_2d"])
        per_sample = {k: a for k, a in arrays.items()
                      if k not in ("keypoints_2d", "confidence", "frame_index") and np.ndim(a) and len(a) == n}
        per_sample["video"] = np.full(n, v, np.int64)
        part = _kept_rows(arrays["frame_index"], arrays["keypoints_2d"], arrays["confidence"], per_sample,
                          tau, min_length, next_id)
        if len(part["tracklet"]):
            next_id = int(part["tracklet"].max()) + 1
        parts.append(part)
    return _save_tracklets(output_path, parts, ", ".join(str(v) for v in videos), tau, min_length)


def _tracklets_command(args: argparse.Namespace) -> int:
    if args.video:
        n = video_tracklets(args.video, args.output, args.tau, args.min_length, args.min_confidence, args.max_frames)
    else:
        n = tracklet_file(args.input, args.output, args.tau, args.min_length)
    print(f"wrote {args.output}: {n} tracklets")
    return 0


def register(subparsers) -> None:
    """``weakpose tracklets``: per-frame detections or videos -> multi-view tracklet file."""
    from weakpose.cli_support import declare_paths, fraction, int_at_least

    p = subparsers.add_parser("tracklets", help="multi-view samples from videos of static people (Iqbal et al. §4.1)",
                              description=__doc__.split("\n\n")[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", help="per-frame 2D detections (npz with frame_index)")
    src.add_argument("--video", nargs="+", help="video file(s) of static people and a moving camera; each frame "
                     "is detected with MediaPipe Pose (needs the 'detect' extra)")
    p.add_argument("--output", required=True, help="tracklet file to write")
    p.add_argument("--tau", type=fraction, default=TAU, help="confidence threshold (default 0.5)")
    p.add_argument("--min-length", type=int_at_least(1), default=MIN_LENGTH, help="shortest tracklet kept (default 5)")
    p.add_argument("--min-confidence", type=fraction, default=0.5, help="MediaPipe detection confidence (--video)")
    p.add_argument("--max-frames", type=int_at_least(1), default=None, help="read at most this many frames per video")
    p.set_defaults(func=_tracklets_command)
    declare_paths(p, inputs=("input", "video"), outputs=("output",))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m weakpose.methods.multiview.tracklets")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as e:
        print(f"error: {e}")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
