"""The Python API (DESIGN.md §4): ``weakpose.load(RUN_DIR|FILE).lift(keypoints_2d)``.

```python
import weakpose
model = weakpose.load("runs/reference")     # run folder (its model.pt) or checkpoint file, any method
out = model.lift(keypoints_2d)              # [N, 17, 2] or one pose [17, 2] px, numpy in
out["positions_3d"]                         # [N, 17, 3] mm, camera frame, root-relative
```

``lift`` returns the arrays ``weakpose predict`` writes, computed by the same code
(:func:`weakpose.inference.prediction.prediction_arrays`) after the same validation as a 2D
file (:func:`weakpose.data.contracts.validate_keypoints_2d`): bad input raises
:class:`weakpose.InputError` with a one-line message. ``lift_image`` runs a model on photos
(image-input models on the person crop, keypoint lifters on MediaPipe's 2D) and ``detect``
runs the detector alone (both need the ``detect`` extra unless an image model gets a box).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from weakpose.data.contracts import Keypoints2D, validate_keypoints_2d
from weakpose.data.image_files import check_boxes
from weakpose.errors import InputError
from weakpose.inference.prediction import (
    FRAME,
    FRAME_ASSUMED,
    prediction_arrays,
    takes_images,
)
from weakpose.methods.base import Predictor

__all__ = ["InputError", "Model", "detect", "load"]

_LIFT = "lift()"


def _joint_names(joint_names: str | Sequence[str]) -> np.ndarray:
    from weakpose.skeleton import LAYOUTS

    if isinstance(joint_names, str):
        if joint_names not in LAYOUTS:
            raise InputError(f"{_LIFT}: key 'joint_names': unknown layout {joint_names!r}; known: {', '.join(LAYOUTS)}")
        return np.array(LAYOUTS[joint_names].names)
    return np.array([str(n) for n in joint_names])


def _numeric(name: str, value: Any) -> np.ndarray:
    try:
        a = np.asarray(value)
    except (ValueError, TypeError) as e:  # ragged lists and the like
        raise InputError(f"{_LIFT}: key '{name}': not an array ({type(e).__name__})") from None
    if a.dtype.kind not in "fiub":
        raise InputError(f"{_LIFT}: key '{name}': dtype {a.dtype} is not numeric")
    return a


def _camera(intrinsics) -> np.ndarray:
    """One camera [3, 3] as [1, 3, 3] float64, with positive focal lengths."""
    K = _numeric("intrinsics", intrinsics).astype(np.float64)
    if K.shape != (3, 3) or not np.isfinite(K).all() or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise InputError(f"{_LIFT}: key 'intrinsics': expected a finite [3, 3] camera with positive focal lengths, "
                         f"got shape {K.shape}")
    return K[None]


def _unbatch(out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: (v[0] if v.ndim >= 1 and v.shape[0] == 1 else v) for k, v in out.items()}


class Model:
    """A trained model loaded by :func:`load` (``method``, ``config``, ``path``)."""

    def __init__(self, predictor: Predictor, path: Path, method: str, config: dict[str, Any]):
        self.predictor = predictor
        self.path = path
        self.method = method
        self.config = config

    def __repr__(self) -> str:
        kind = "image model" if self.takes_images else "2D keypoint lifter"
        return f"weakpose.Model({self.method!r}, {kind}, {str(self.path)!r})"

    @property
    def takes_images(self) -> bool:
        """True for image-input variants: use :meth:`lift_image` (or ``lift`` with ``images=``)."""
        return takes_images(self.predictor)

    def predict(self, inputs: Keypoints2D, images: Sequence[np.ndarray] | None = None,
                progress: bool = False) -> dict[str, np.ndarray]:
        """The prediction arrays of a validated 2D input (what ``weakpose predict`` writes);
        ``progress`` shows a progress bar on long keypoint inputs."""
        return prediction_arrays(self.predictor, inputs, images, progress=progress)

    def lift(self, keypoints_2d, confidence=None, intrinsics=None, joint_names: str | Sequence[str] | None = None,
             images: Sequence | None = None) -> dict[str, np.ndarray]:
        """3D poses from 2D keypoints.

        Args:
            keypoints_2d: [N, J, 2] or one pose [J, 2], pixels (any float or int dtype);
                J = 17 in the Human3.6M-17 order unless ``joint_names`` says otherwise.
            confidence: [N, J] or [J] in [0, 1]; 0 = missing joint (default: all 1).
            intrinsics: [3, 3] or [N, 3, 3] pixel-from-camera matrix (optional; each method
                says what it assumes without).
            joint_names: another layout, converted to Human3.6M-17: a name of
                :data:`weakpose.skeleton.LAYOUTS` (``"coco17"``, ``"mediapipe33"``,
                ``"mpii16"``) or the list of joint names.
            images: for image-input models, one photo (path or RGB array) per sample; the
                person box is that of the 2D keypoints.

        Returns the arrays ``weakpose predict`` writes: ``positions_3d`` [N, 17, 3] (mm, camera
        frame, root-relative), ``hypotheses`` [N, H, 17, 3] for multi-hypothesis models, the
        method's extra outputs, the validated ``keypoints_2d``/``confidence``, ``units`` and
        ``frame``. A single pose in gives single-pose arrays out (no leading N).

        Raises:
            InputError: NaN or inf in observed joints, wrong joint count or shapes, values
                that are not pixels, confidence outside [0, 1], a sample without any joint.
        """
        kp = _numeric("keypoints_2d", keypoints_2d)
        single = kp.ndim == 2
        arrays = {"keypoints_2d": kp[None] if single else kp}
        if confidence is not None:
            conf = _numeric("confidence", confidence)
            arrays["confidence"] = conf[None] if single and conf.ndim == 1 else conf
        if intrinsics is not None:
            arrays["intrinsics"] = _numeric("intrinsics", intrinsics)
        if joint_names is not None:
            arrays["joint_names"] = _joint_names(joint_names)
        inputs = validate_keypoints_2d(arrays, _LIFT)
        photos = None
        if images is not None:
            from weakpose.vision.photos import as_rgb_image

            if not self.takes_images:
                raise InputError(f"{_LIFT}: key 'images': {self.method} run {self.path} lifts 2D keypoints, "
                                 "it reads no images")
            one = isinstance(images, (str, Path)) or (isinstance(images, np.ndarray) and images.ndim == 3)
            images = [images] if one else list(images)
            photos = [as_rgb_image(im, f"images[{i}]") for i, im in enumerate(images)]
        elif self.takes_images:
            raise InputError(f"{_LIFT}: {self.method} run {self.path} is an image model: "
                             "give images= (or use lift_image)")
        out = self.predict(inputs, photos)
        return _unbatch(out) if single else out

    def lift_image(self, image, box=None, intrinsics=None, min_confidence: float = 0.5) -> dict[str, np.ndarray]:
        """3D pose of the person in one photo (a path or an RGB array [H, W, 3]).

        Image-input models crop the person from ``box`` (x0, y0, x1, y1) px when given, else
        from the box of the detector's 2D; keypoint lifters lift the detector's 2D (MediaPipe,
        the ``detect`` extra). ``intrinsics`` [3, 3] default to the one default camera,
        :func:`weakpose.camera.image_intrinsics`. Returns single-pose arrays as
        ``weakpose predict --image`` writes them (plus ``box`` for image models).
        """
        from weakpose.camera import image_intrinsics
        from weakpose.vision.photos import as_rgb_image

        photo = as_rgb_image(image)
        size = np.array([[photo.shape[1], photo.shape[0]]])
        K = image_intrinsics(size) if intrinsics is None else _camera(intrinsics)
        if box is not None:
            if not self.takes_images:
                raise InputError(f"{_LIFT}: key 'box': {self.method} run {self.path} lifts 2D keypoints; "
                                 "a box is only for image models (leave it out: the detector finds the person)")
            from weakpose.inference.prediction import predict_images

            out = predict_images(self.predictor, [photo], check_boxes(np.reshape(box, (1, -1)), 1, _LIFT), K)
            out.update(intrinsics=K, image_size=size.astype(np.int32), units=np.array("mm"),
                       frame=np.array(FRAME_ASSUMED if intrinsics is None else FRAME))
            return _unbatch(out)
        arrays = _detect_arrays(photo, "image" if not isinstance(image, (str, Path)) else str(image), min_confidence)
        arrays["intrinsics"] = K
        out = self.predict(validate_keypoints_2d(arrays, "image"), [photo])
        if intrinsics is None:
            out["frame"] = np.array(FRAME_ASSUMED)
        return _unbatch(out)


def load(checkpoint: str | Path) -> Model:
    """A trained model from a run folder (its final ``model.pt``) or a checkpoint file, any
    method. Raises :class:`InputError` for a missing, foreign or mismatched file."""
    from weakpose.engine.checkpoint import load_checkpoint, resolve_checkpoint_path
    from weakpose.inference_api import predictor_from_payload

    payload = load_checkpoint(checkpoint)
    return Model(predictor_from_payload(payload, checkpoint), resolve_checkpoint_path(checkpoint),
                 payload["method"], dict(payload["config"]))


def _detect_arrays(photo: np.ndarray, source: str, min_confidence: float) -> dict[str, np.ndarray]:
    from weakpose.inference.detect import DetectionRun, MediaPipePoseDetector

    with MediaPipePoseDetector(min_confidence) as det:
        found = det(photo)
    run = DetectionRun([found], np.array([(photo.shape[1], photo.shape[0])], np.int32), [source])
    return {k: v for k, v in run.keypoint_arrays().items() if k not in ("frames_without_person", "num_frames")}


def detect(image_or_path, min_confidence: float = 0.5) -> dict[str, np.ndarray]:
    """MediaPipe Pose on one photo (a path or an RGB array [H, W, 3]): the 2D keypoint arrays
    of ``weakpose detect`` for it, single-pose (``keypoints_2d`` [17, 2] px Human3.6M-17,
    ``confidence`` [17], ``intrinsics`` [3, 3] assumed, ``image_size``, the raw MediaPipe-33
    landmarks), ready for ``model.lift(d["keypoints_2d"], d["confidence"], d["intrinsics"])``.
    Needs the ``detect`` extra; :class:`InputError` when it is missing or nobody is found."""
    from weakpose.vision.photos import as_rgb_image

    source = str(image_or_path) if isinstance(image_or_path, (str, Path)) else "image"
    out = _detect_arrays(as_rgb_image(image_or_path), source, min_confidence)
    return _unbatch({k: v for k, v in out.items() if k != "frame_index"})
