"""The one code path from a trained model and its input to the arrays of a prediction file
(DESIGN.md §4), shared by ``weakpose predict`` (``--input``, ``--image``, ``--video``) and the
Python API (:mod:`weakpose.api`).

Keypoint lifters get the validated 2D keypoints. Image-input models (the
:class:`~weakpose.methods.base.CropPredictor` variants: multi-view image network, image-input
distilled student, flows-ws image network) get person crops cut from the photos:

1. the person box: the 2D file's ``box`` [N, 4] (x0, y0, x1, y1) px when given, else the box of
   the 2D keypoints (a detector's or a dataset's) by :func:`weakpose.vision.crops.person_box`,
   the rule the rendered training crops are cut by;
2. the crop ``T`` of :func:`weakpose.vision.crops.crop_transform` (the box's larger side covers
   75 % of the model's crop side, no rotation), resampled from the photo
   (:func:`weakpose.vision.photos.cut_crops`);
3. the network on the crop; its 3D is reconstructed with the full photo's camera ``K`` and the
   crop affine (``T K`` is the crop's camera; the models map their crop 2D back with ``T⁻¹``),
   so ``positions_3d`` is in the photo's camera frame, root-relative, mm. The network's own 2D
   is written as ``keypoints_2d_predicted`` in photo pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from weakpose.data.contracts import Keypoints2D
from weakpose.data.image_files import image_paths, load_images, person_boxes
from weakpose.errors import InputError
from weakpose.methods.base import CropPredictor, Predictor

FRAME = "camera (OpenCV), root-relative at the pelvis"

PREDICT_BLOCK = 256
"""Samples per predictor call when a progress bar is shown: the bar's step (fitting-based
predictors take ~0.1-1 s per sample; lifters take microseconds, so blocks cost nothing)."""
FRAME_ASSUMED = "camera (OpenCV, assumed intrinsics), root-relative at the pelvis"


def takes_images(predictor: Predictor) -> bool:
    """Whether the model reads person crops (an image-input variant) rather than 2D keypoints
    (a predictor class serving both kinds, as flows-ws's, has ``crop_size`` None for keypoints)."""
    return isinstance(predictor, CropPredictor) and bool(predictor.crop_size)


def predict_images(predictor: CropPredictor, images: Sequence[np.ndarray], boxes: np.ndarray, K: np.ndarray
                   ) -> dict[str, np.ndarray]:
    """An image-input model on photos (RGB uint8) with person ``boxes`` [N, 4] and cameras ``K``
    [N, 3, 3] (see the module docstring): ``positions_3d`` and the model's other outputs,
    ``keypoints_2d_predicted`` (photo px), ``confidence_predicted`` (when the model gives one),
    ``box`` and ``crop`` (the affine used)."""
    from weakpose.vision.crops import apply_affine, crop_transform
    from weakpose.vision.photos import cut_crops

    size = predictor.crop_size
    if not size:
        raise InputError("checkpoint: the image model does not say its crop size")
    T = crop_transform(np.asarray(boxes, np.float64), size)
    rgb = cut_crops(images, T, size)
    out = {k: np.asarray(v) for k, v in predictor.predict_crops(rgb, torch.from_numpy(T), torch.from_numpy(
        np.asarray(K, np.float64))).items()}
    res = {k: v for k, v in out.items() if k not in ("keypoints_2d", "confidence")}
    to_photo = np.linalg.inv(T)
    res["keypoints_2d_predicted"] = apply_affine(out["keypoints_2d"].astype(np.float64), to_photo).astype(np.float32)
    if "confidence" in out:
        res["confidence_predicted"] = out["confidence"].astype(np.float32)
    res["box"] = np.asarray(boxes, np.float32)
    res["crop"] = T.astype(np.float32)
    return res


def predict_in_blocks(predictor: Predictor, inputs: Keypoints2D, progress: bool) -> dict[str, np.ndarray]:
    """``predictor.predict`` over blocks of :data:`PREDICT_BLOCK` samples, with a progress bar
    (predictions are per sample, so blocks give the same result as one call)."""
    from weakpose.cli_support import progress_bar

    n = inputs.num_samples
    if not progress or n <= PREDICT_BLOCK:
        return predictor.predict(inputs)
    parts = []
    with progress_bar(progress, n, "predict", "sample") as bar:
        for i in range(0, n, PREDICT_BLOCK):
            sl = slice(i, min(i + PREDICT_BLOCK, n))
            extras = {k: (v[sl] if v.ndim >= 1 and v.shape[0] == n else v) for k, v in inputs.extras.items()}
            K = inputs.intrinsics[sl] if inputs.intrinsics is not None else None
            parts.append(predictor.predict(Keypoints2D(inputs.keypoints_2d[sl], inputs.confidence[sl], K, extras,
                                                       inputs.path)))
            bar.update(sl.stop - sl.start)
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _image_inputs(inputs: Keypoints2D, images: Sequence[np.ndarray] | None
                  ) -> tuple[list[np.ndarray], np.ndarray, bool]:
    """(photos, cameras K, whether K was assumed) for an image-input model."""
    from weakpose.camera import image_intrinsics

    if inputs.multiview:
        raise InputError(f"{inputs.path}: key 'keypoints_2d': multi-view input [N, C, J, 2]; "
                         "image models take single views")
    if images is None:
        images = load_images(image_paths(inputs))
    if len(images) != inputs.num_samples:
        raise InputError(f"{inputs.path}: {len(images)} images for {inputs.num_samples} samples")
    if inputs.intrinsics is not None:
        return list(images), inputs.intrinsics, False
    sizes = np.array([(im.shape[1], im.shape[0]) for im in images])
    return list(images), image_intrinsics(sizes), True


def prediction_arrays(predictor: Predictor, inputs: Keypoints2D, images: Sequence[np.ndarray] | None = None,
                      frame: str | None = None, progress: bool = False) -> dict[str, np.ndarray]:
    """Everything a prediction file holds: the input's per-sample arrays passed through, the
    2D input, the model's outputs (``positions_3d`` [N, 17, 3] mm, camera frame, root-relative;
    ``hypotheses`` for multi-hypothesis models; ...), ``units`` and ``frame``.

    ``images`` (RGB uint8, one per sample) are used by image-input models; without them such
    a model reads the file's ``image_path``. ``frame`` overrides the frame description.
    ``progress`` shows a progress bar for keypoint inputs over :data:`PREDICT_BLOCK` samples.
    """
    assumed = False
    if takes_images(predictor):
        photos, K, assumed = _image_inputs(inputs, images)
        result = predict_images(predictor, photos, person_boxes(inputs), K)
        if assumed:
            result["intrinsics"] = K
    else:
        result = predict_in_blocks(predictor, inputs, progress)
    if "positions_3d" not in result:
        raise RuntimeError("the model returned no positions_3d")
    passthrough = {k: v for k, v in inputs.per_sample_extras().items() if k not in result and k != "positions_3d"}
    out = dict(passthrough)
    out.update(keypoints_2d=inputs.keypoints_2d, confidence=inputs.confidence)
    if inputs.intrinsics is not None:
        out["intrinsics"] = inputs.intrinsics
    out.update({k: np.asarray(v) for k, v in result.items()})
    out["units"] = np.array("mm")
    out["frame"] = np.array(frame or (FRAME_ASSUMED if assumed else FRAME))
    return out


def summary(out: dict[str, np.ndarray]) -> str:
    """One line describing a prediction's main arrays (printed by ``weakpose predict``)."""
    text = f"positions_3d {list(out['positions_3d'].shape)} mm, camera frame, root-relative"
    if "hypotheses" in out:
        text += f"; hypotheses {list(out['hypotheses'].shape)}"
    return text
