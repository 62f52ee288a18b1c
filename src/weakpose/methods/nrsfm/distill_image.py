"""The image-input distilled student (Wang et al. 2019, §4.4): ``weakpose train distill
variant=image`` (:class:`ImageDistillMethod`), its data, units and prediction.

Training images are person crops of the CMU-WS **training** subjects rendered on the fly
(:class:`weakpose.rendering.scenes.RenderedMotion`, h36m rig, random scale/rotation/colour
augmentation), or with ``images=FILE.npz`` crops cut from photos on disk
(:mod:`weakpose.data.image_files`; joints with confidence 0 are masked for the teacher). Each
crop comes with its exact 2D labels in crop pixels and the crop's pixel-from-camera matrix
``A = T K`` (``T`` the crop affine). Nothing 3D is used for training.

Units (a choice the paper leaves open). The teacher sees the image's 2D labels in its own
normalisation (:mod:`weakpose.methods.nrsfm.codec`): normalised camera coordinates
``A⁻¹[u v 1]`` (this undoes the crop, including its rotation), centred at the root joint and
divided by the Frobenius norm, giving ``w``. The student's soft-argmax pixels ``(u, v)`` are
mapped through the *same* affine — ``A⁻¹``, then the label's origin and scale — so Eq. 15's
``‖f_xy − w‖₁`` is measured in exactly the teacher's units, and the student's depth ``z`` is in
the units of Eq. 14 (depth per unit 2D Frobenius norm). Joints whose label lies outside the crop
(rare: strong zoom plus rotation) are left out of the x, y term only (the soft-argmax cannot
reach them); the teacher's code and camera come from the complete 2D labels.

At test time the student's own ``(u, v)`` are normalised the same way (its own root and scale)
and joined with its ``z``; :func:`image_poses` can instead keep the true 2D labels and take only
the student's depth (the teacher is always given the true 2D labels).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from weakpose.data.contracts import Keypoints2D
from weakpose.errors import InputError
from weakpose.methods.base import batched
from weakpose.methods.nrsfm.codec import normalise_keypoints
from weakpose.methods.nrsfm.distill import DistillConfig, DistillMethod
from weakpose.methods.nrsfm.image_student import ImageStudent
from weakpose.methods.nrsfm.teacher import finalise_poses, parse_center, to_millimetres
from weakpose.models.heatmap_net import normalize_images
from weakpose.rendering.scenes import RenderedMotion, Scene
from weakpose.vision.crops import apply_affine, color_augment, invert_affine


@dataclass
class ImageBatch:
    """Rendered crops with their labels in the teacher's units (torch, CPU or device)."""

    images: torch.Tensor      # [B, 3, S, S] ImageNet-normalised
    uv: torch.Tensor          # [B, P, 2] 2D labels, crop pixels
    inv_intrinsics: torch.Tensor  # [B, 3, 3] A⁻¹: crop pixels → normalised camera coordinates
    w: torch.Tensor           # [B, P, 2] the labels in the teacher's normalisation
    mask: torch.Tensor        # [B, P] 1 (the 2D labels are complete)
    origin: torch.Tensor      # [B, 2] the subtracted root (normalised camera coordinates)
    scale: torch.Tensor       # [B] the divided-out Frobenius norm
    inside: torch.Tensor      # [B, P] 1 where the label lies inside the crop
    joints_cam: torch.Tensor  # [B, P, 3] camera-frame joints, mm (evaluation only, never trained on)


def normalised_from_pixels(uv: torch.Tensor, inv_intrinsics: torch.Tensor) -> torch.Tensor:
    """Crop pixels [B, P, 2] → normalised camera coordinates ``A⁻¹[u v 1]`` (any affine A)."""
    return apply_affine(uv, inv_intrinsics)


def image_batch(scene: Scene, center: str | int, generator: torch.Generator | None = None) -> ImageBatch:
    """Flatten a rendered single-view scene into an :class:`ImageBatch`; colour augmentation
    when ``generator`` is given."""
    r = scene.render
    rgb = r.rgb.reshape(-1, *r.rgb.shape[-3:])
    return image_batch_from_arrays(rgb, r.joints_2d.reshape(-1, *r.joints_2d.shape[-2:]),
                                   r.intrinsics.reshape(-1, 3, 3), center, generator,
                                   joints_cam=r.joints_cam.reshape(-1, *r.joints_cam.shape[-2:]))


def image_batch_from_crops(crops, center: str | int, generator: torch.Generator | None = None) -> ImageBatch:
    """An :class:`ImageBatch` of crops cut from image files
    (:class:`weakpose.data.image_files.ImageCrops`): unlabelled joints are masked for the
    teacher, and the crop's ``T K`` takes the place of the rendered crop's intrinsics."""
    return image_batch_from_arrays(crops.rgb, crops.keypoints, crops.pixel_from_camera, center, generator,
                                   confidence=crops.confidence)


def image_batch_from_arrays(rgb: torch.Tensor, uv: torch.Tensor, pixel_from_camera: torch.Tensor, center: str | int,
                            generator: torch.Generator | None = None, confidence: torch.Tensor | None = None,
                            joints_cam: torch.Tensor | None = None) -> ImageBatch:
    """Crops rgb [B, S, S, 3] in [0, 1], 2D labels ``uv`` [B, P, 2] crop px (``confidence`` 0 =
    unlabelled), the crops' pixel-from-camera matrices ``A`` [B, 3, 3] -> :class:`ImageBatch`;
    ``joints_cam`` (evaluation only) NaN when not given."""
    size = rgb.shape[-2]
    if generator is not None:
        rgb = color_augment(rgb, generator)
    uv = uv.float()
    a_inv = invert_affine(pixel_from_camera.double()).float()
    nc = normalised_from_pixels(uv, a_inv)
    nk = normalise_keypoints(nc.numpy(), None if confidence is None else confidence.numpy(), center=center,
                             source="training crops")
    m = nk.mask[..., None]
    origin = ((nc - nk.w * nk.scale[:, None, None]) * m).sum(1) / m.sum(1)
    inside = ((uv >= -0.5) & (uv <= size - 0.5)).all(-1).float() * nk.mask
    if joints_cam is None:
        joints_cam = torch.full((*uv.shape[:2], 3), float("nan"))
    return ImageBatch(normalize_images(rgb), uv, a_inv, nk.w, nk.mask, origin, nk.scale, inside, joints_cam.float())


def student_xyz(pred: torch.Tensor, batch: ImageBatch) -> torch.Tensor:
    """Student output (u, v in crop px, z) [B, P, 3] → (x, y, z) in the teacher's units, with
    (x, y) normalised by the *label's* origin and scale (Eq. 15's ``f_xy`` against ``w``)."""
    nc = normalised_from_pixels(pred[..., :2], batch.inv_intrinsics)
    xy = (nc - batch.origin[:, None, :]) / batch.scale[:, None, None]
    return torch.cat([xy, pred[..., 2:]], dim=-1)


def render_image_set(data_root: Path, subjects, n: int, crop_size: int, seed: int, center: str | int = 0,
                     rig: str = "h36m") -> ImageBatch:
    """A fixed set of ``n`` rendered crops (no augmentation, one random view each), e.g. of the
    test subjects (2, 9) for evaluation or of the training subjects for calibration."""
    src = RenderedMotion(data_root, tuple(subjects), rig=rig, seed=seed)
    return image_batch(src.sample(n, 1, crop_size, augment=False), center)


def student_outputs(net: ImageStudent, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """The student's (u, v, z) [N, P, 3] (u, v in crop px) for normalised images [N, 3, S, S], eval mode."""
    net.eval()
    dev = next(net.parameters()).device
    return batched(lambda x: net(x.to(dev)).cpu(), [images], batch_size)


def poses_from_outputs(pred: torch.Tensor, inv_intrinsics: torch.Tensor, center: str | int) -> torch.Tensor:
    """Gauge-fixed normalised camera-frame poses [N, P, 3] from student outputs: its own (u, v)
    through ``A⁻¹`` normalised like the teacher's input, joined with its depth ``z``."""
    nk = normalise_keypoints(normalised_from_pixels(pred[..., :2], inv_intrinsics).numpy(), center=center,
                             source="student 2D")
    return finalise_poses(torch.cat([nk.w, pred[..., 2:]], dim=-1), nk.w, nk.mask, center, xy_from_input=True)


def image_poses(net: ImageStudent, batch: ImageBatch, center: str | int, true_2d: bool = False,
                batch_size: int = 64) -> torch.Tensor:
    """Gauge-fixed normalised camera-frame poses [N, P, 3] from the student's images: its own
    (u, v) normalised like the teacher's input (or, with ``true_2d``, the 2D labels ``w``) and
    its depth ``z``."""
    pred = student_outputs(net, batch.images, batch_size)
    if not true_2d:
        return poses_from_outputs(pred, batch.inv_intrinsics, center)
    poses = torch.cat([batch.w, pred[..., 2:]], dim=-1)
    return finalise_poses(poses, batch.w, batch.mask, center, xy_from_input=True)


class ImageStudentPredictor:
    """Person crops → root-relative camera-frame 3D (mm)."""

    def __init__(self, net: ImageStudent, center: str | int, raw_scale: float, mean_bone_lengths: np.ndarray,
                 crop_size: int | None = None) -> None:
        self.net = net.eval()
        self.center = center
        self.raw_scale = float(raw_scale)
        self.mean_bone_lengths = np.asarray(mean_bone_lengths, np.float64)
        self.crop_size = crop_size  # the side of the crops it was trained on (the config's crop_size)

    def predict_images(self, batch: ImageBatch, true_2d: bool = False) -> dict[str, np.ndarray]:
        poses = image_poses(self.net, batch, self.center, true_2d)
        return to_millimetres(poses, self.mean_bone_lengths, self.raw_scale)

    def predict_crops(self, rgb: torch.Tensor, crop: torch.Tensor, K: torch.Tensor) -> dict[str, np.ndarray]:
        """rgb [N, S, S, 3] (uint8, or float in [0, 1]); crop [N, 3, 3] full image → crop px; K
        [N, 3, 3] the full camera. The crop's pixel-from-camera matrix is ``A = crop K`` (as for
        the rendered training crops), so ``A⁻¹`` takes the student's 2D to normalised camera
        coordinates. Returns ``positions_3d`` [N, P, 3] mm (camera frame, root-relative) and
        ``keypoints_2d`` [N, P, 2] crop px."""
        rgb = torch.as_tensor(rgb)
        rgb = rgb.to(torch.float32) / 255.0 if rgb.dtype == torch.uint8 else rgb.to(torch.float32)
        A = torch.as_tensor(crop, dtype=torch.float64) @ torch.as_tensor(K, dtype=torch.float64)
        pred = student_outputs(self.net, normalize_images(rgb))
        poses = poses_from_outputs(pred, invert_affine(A).float(), self.center)
        out = to_millimetres(poses, self.mean_bone_lengths, self.raw_scale)
        out["keypoints_2d"] = pred[..., :2].numpy()
        return out

    def predict(self, inputs: Keypoints2D) -> dict[str, np.ndarray]:
        raise InputError(f"{inputs.path}: key 'keypoints_2d': the image-input student predicts from images, not "
                         "2D keypoints (give images: `weakpose predict --image`, or a 2D file with 'image_path'; "
                         "see docs/images.md)")


class ImageDistillMethod(DistillMethod):
    """The image-input student (:class:`~weakpose.methods.nrsfm.image_student.ImageStudent`) on
    crops of the training subjects rendered on the fly, or with ``images=FILE`` on person crops
    cut from photos on disk (:class:`weakpose.data.image_files.ImageFiles`); the teacher reads each
    crop's 2D labels."""

    variant = "image"
    #: No data files: the student trains on rendered crops (2D files train the keypoint student)
    #: and the monitor renders training-subject crops (:meth:`evaluate`), so ``--val`` would go unread.
    data_kinds = ()

    @classmethod
    def build_modules(cls, config: DistillConfig) -> dict[str, torch.nn.Module]:
        try:
            net = ImageStudent(config.backbone, config.num_points, config.softmax_lambda)
        except ValueError as exc:
            raise InputError(f"config: key 'backbone': {exc}") from exc
        if config.crop_size <= 0 or config.crop_size % 32:
            raise InputError(f"config: key 'crop_size': {config.crop_size}, expected a positive multiple of 32")
        return {"student": net}

    def load_inputs(self) -> None:
        from weakpose.data.mocap import TRAIN_SUBJECTS
        from weakpose.data.statistics import training_bone_lengths

        c = self.config   # 'noise' is the keypoint student's: this one trains on rendered crops and their labels
        self.images = RenderedMotion(self.data_root, TRAIN_SUBJECTS, rig=c.rig, seed=c.seed, stride=c.stride)
        self.own_generator("renderer", self.images.rng)
        self.image_files = None
        if c.images:
            from weakpose.data.image_files import ImageFiles

            self.image_files = ImageFiles(c.images)
        self.mean_bone_lengths = training_bone_lengths(self.data_root)
        self._calib_images = self._monitor_images = None

    def student_batch(self):
        # the whole batch is drawn on every process (identically), each trains on its share
        c = self.config
        g = torch.Generator().manual_seed(int(self.rng.integers(2**31)))
        if self.image_files is not None:
            b = image_batch_from_crops(self.image_files.sample(self.rng, c.batch_size, c.crop_size), self.center, g)
        else:
            b = image_batch(self.images.sample(c.batch_size, 1, c.crop_size, augment=True), self.center, g)
        b = self.shard(b)
        b = ImageBatch(*(getattr(b, f).to(self.device) for f in ImageBatch.__dataclass_fields__))
        return b.w, b.mask, b.inside, student_xyz(self.student(b.images), b)

    def calibration_poses(self) -> torch.Tensor:
        return image_poses(self.student, self.calibration_images(), self.center)

    def calibration_images(self) -> ImageBatch:
        """Fixed rendered crops of the *training* subjects for the raw scale (no ground truth
        used); with ``images``, the first ``image_samples`` photos of that file."""
        from weakpose.data.mocap import TRAIN_SUBJECTS

        if self._calib_images is None and self.image_files is not None:
            rows = np.arange(min(self.config.image_samples, len(self.image_files)))
            crops = self.image_files.crops(rows, self.config.crop_size)
            self._calib_images = image_batch_from_crops(crops, self.center)
        if self._calib_images is None:
            c = self.config
            self._calib_images = render_image_set(self.data_root, TRAIN_SUBJECTS, c.image_samples, c.crop_size,
                                                  c.seed + 1, self.center, c.rig)
        return self._calib_images

    def evaluate(self) -> dict[str, float]:
        """MPJPE / PA-MPJPE on fixed rendered crops of the training subjects (monitoring only, never
        used to select a run; never the test subjects)."""
        from weakpose.data.mocap import TRAIN_SUBJECTS
        from weakpose.metrics import mpjpe, pa_mpjpe

        c = self.config
        if self._monitor_images is None:
            self._monitor_images = render_image_set(self.data_root, TRAIN_SUBJECTS,
                                                    min(c.image_samples, c.monitor_samples), c.crop_size, 123,
                                                    self.center, c.rig)
        b = self._monitor_images
        pred = self.predictor().predict_images(b)["positions_3d"]
        self.student.train()
        gt = (b.joints_cam - b.joints_cam[:, :1]).numpy()
        return {"monitor/mpjpe": float(mpjpe(pred, gt).mean()), "monitor/pa_mpjpe": float(pa_mpjpe(pred, gt).mean())}

    @classmethod
    def make_predictor(cls, config: DistillConfig, nets, state) -> ImageStudentPredictor:
        return ImageStudentPredictor(nets["student"], parse_center(state["center"]), state["raw_scale"],
                                     np.asarray(state["mean_bone_lengths"]), crop_size=config.crop_size)
