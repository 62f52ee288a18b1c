"""Knowledge distillation from Deep NRSfM (Wang, Kong & Lucey, ICCV 2019, §4).

A student predicts per-landmark (x, y, z) in the teacher's normalised camera frame. Its
objective, Eq. 15, per sample:

    ‖f_xy − w‖₁ + L̃(f_z),   L̃(z′) = ‖B_xy φ̃(z′) − w‖₂ + β ‖φ̃(z′)‖₁   (Eq. 14, β = 0.3)

with ``φ̃(z′)`` the teacher's code projected onto the codes whose depth is ``z′`` (Eq. 12–13)
and ``B`` the teacher's dictionary rotated by its camera (Eq. 5–7); see
:mod:`weakpose.methods.distill_loss`. The teacher (dictionary, cameras, codes) is frozen, its
cameras are treated as oracles (§4.1), and its global depth sign is the one chosen by
:mod:`weakpose.methods.nrsfm` without ground truth.

``loss = "weaksup"`` trains the same student with the teacher's depths as hard L1 targets
(the paper's "Weaksup-bs" baseline, §5.2). The default student takes 2D keypoints
(:class:`~weakpose.models.keypoint_student.KeypointStudent`); ``student = "image"`` trains the
paper's image-input integral-regression student
(:class:`~weakpose.models.image_student.ImageStudent`) on crops of the training subjects
rendered on the fly, with the teacher run on each crop's 2D labels
(:mod:`weakpose.methods.distill_image`; ``configs/distill_image_cpu.toml``,
``configs/distill_image_paper.toml``).

Choices the paper leaves open: the per-sample losses are summed over joints and averaged over the
batch; the L1 on (x, y) and the depth term have equal weight (Eq. 15 has none); missing joints
are masked out of both; the student's depth is root-relative, matching the teacher's
root-relative shapes (the gauge of :mod:`weakpose.models.nrsfm`), so ``φ̃`` matches ``z′``
exactly on the P−1 free joints; a relative Tikhonov ``damping`` of 1e-6 guards against
ill-conditioned rotated dictionaries.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from weakpose.data.contracts import InputError, Keypoints2D
from weakpose.engine.config import TrainConfig
from weakpose.engine.optim import adam_with_cosine, optimizer_step
from weakpose.methods.base import Method
from weakpose.methods.distill_image import (
    ImageBatch,
    ImageStudentPredictor,
    image_batch,
    image_poses,
    render_image_set,
    student_xyz,
)
from weakpose.methods.distill_loss import DistillationOperator
from weakpose.methods.nrsfm import (
    NRSfMConfig,
    NRSfMMethod,
    finalise_poses,
    global_scale,
    load_training_data,
    normalise_file,
    parse_center,
    run_batched,
    to_millimetres,
)
from weakpose.models.image_student import ImageStudent
from weakpose.models.keypoint_student import KeypointStudent
from weakpose.models.nrsfm import DeepNRSfM, camera_rotation, gauge_matrix, reduced_gauge_basis


@dataclass
class DistillConfig(TrainConfig):
    """Distilled student. Defaults: CPU-sized keypoint student (~5 min on 2 cores)."""

    teacher: str = ""               # run folder (or model file) of a trained `weakpose train nrsfm`
    student: str = "keypoint"       # keypoint | image (integral regression on rendered crops)
    loss: str = "distill"           # distill (Eq. 14-15) | weaksup (Weaksup-bs: hard L1 on teacher depth)
    reg_weight: float = 0.3         # β, the L1 regulariser weight of Eq. 14
    damping: float = 1e-6           # relative Tikhonov term of the right inverse (Eq. 13)
    steps: int = 4000
    batch_size: int = 256
    lr: float = 1e-3
    lr_final: float = 1e-5
    width: int = 256
    blocks: int = 2
    dropout: float = 0.25
    num_points: int = 17
    center: str = ""                # translation gauge; empty = the teacher's (the only allowed value)
    rig: str = "h36m"
    noise: str = "gt"
    stride: int = 1
    calibration_samples: int = 8192
    xy_from_input: bool = True      # predictions keep the observed 2D of visible joints (as the teacher's)
    eval_every: int = 4000
    checkpoint_every: int = 2000
    # image student only (student = "image"); rig, stride, seed above choose the rendered training data
    backbone: str = "resnet-tiny"   # weakpose.vision.models.build_heatmap_net name (paper: resnet50)
    crop_size: int = 64             # rendered crop side, multiple of 32 (paper: 256)
    softmax_lambda: float = 1.0     # heatmap softmax temperature of the integral read-out (Sun et al.: 1)
    image_samples: int = 256        # fixed rendered crops for the raw scale (training subjects) and monitoring


def load_teacher(path: str | Path) -> tuple[DeepNRSfM, NRSfMConfig, float]:
    """(network, config, depth sign) of a trained teacher run; InputError if it is not one."""
    from weakpose.engine.checkpoint import load_checkpoint
    from weakpose.engine.config import config_from_dict

    if not str(path):
        raise InputError("config: key 'teacher': required (the run folder of `weakpose train nrsfm`)")
    ckpt = load_checkpoint(path)
    if ckpt.get("method") != "nrsfm":
        raise InputError(f"{path}: key 'method': {ckpt.get('method')!r}, expected a Deep NRSfM ('nrsfm') run")
    config = config_from_dict(NRSfMConfig, ckpt["config"])
    net = NRSfMMethod.build_modules(config)["nrsfm"]
    net.load_state_dict(ckpt["modules"]["nrsfm"])
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net, config, float(ckpt["predictor_state"]["depth_sign"])


def student_loss(pred: torch.Tensor, w: torch.Tensor, mask: torch.Tensor, *, mode: str, gauge: torch.Tensor,
                 code: torch.Tensor | None = None, rotation: torch.Tensor | None = None,
                 operator: DistillationOperator | None = None, teacher_depth: torch.Tensor | None = None,
                 reg_weight: float = 0.3, xy_mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Eq. 15 (``mode="distill"``) or Weaksup-bs (``mode="weaksup"``), averaged over the batch.

    ``pred`` [B, P, 3] student output; ``w``/``mask`` normalised 2D. Distill needs the teacher's
    ``code`` φ [B, K], ``rotation`` R [B, 3, 3] and the :class:`DistillationOperator` of its
    dictionary; Weaksup-bs needs ``teacher_depth`` [B, P]. Both need the ``gauge``
    [P, P]: the student's depth is made root-relative (or centred) before it is scored, since the
    teacher's shapes are; the root's raw output is therefore free and ignored. ``xy_mask``
    [B, P] (default ``mask``) restricts the x, y term alone (the image student leaves out labels
    outside its crop).
    """
    xy_mask = mask if xy_mask is None else xy_mask
    l_xy = ((pred[..., :2] - w).abs() * xy_mask[..., None]).sum((1, 2))
    z = pred[..., 2] @ gauge.T                       # root-relative (or centred) depth hypothesis z′
    if mode == "distill":
        code_t = operator.project(code, rotation, z)
        l_z = operator.loss(code_t, rotation, w, mask, reg_weight)
    elif mode == "weaksup":
        l_z = ((z - teacher_depth @ gauge.T).abs() * mask).sum(-1)
    else:
        raise InputError(f"config: key 'loss': {mode!r}, expected distill or weaksup")
    return {"loss": (l_xy + l_z).mean(), "xy_l1": l_xy.mean(), "depth": l_z.mean()}


class StudentPredictor:
    """2D keypoint file → camera-frame, root-relative 3D (mm) with a trained student."""

    def __init__(self, net: KeypointStudent, center: str | int, raw_scale: float, mean_bone_lengths: np.ndarray,
                 xy_from_input: bool = True, batch_size: int = 4096) -> None:
        self.net = net.eval()
        self.center = center
        self.xy_from_input = xy_from_input
        self.raw_scale = float(raw_scale)
        self.mean_bone_lengths = np.asarray(mean_bone_lengths, np.float64)
        self.batch_size = batch_size

    def normalised_poses(self, w: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """[N, P, 3] gauge-fixed camera-frame poses in the teacher's normalised units."""
        self.net.eval()
        poses = run_batched(self.net, w, mask, batch_size=self.batch_size)
        return finalise_poses(poses, w, mask, self.center, self.xy_from_input)

    def predict(self, inputs: Keypoints2D) -> dict[str, np.ndarray]:
        nk = normalise_file(inputs, self.center, self.net.num_points)
        return to_millimetres(self.normalised_poses(nk.w, nk.mask), self.mean_bone_lengths, self.raw_scale)


class DistillMethod(Method):
    """Student trained by distillation from a frozen Deep NRSfM teacher (or Weaksup-bs)."""

    name = "distill"
    Config = DistillConfig

    def __init__(self, config: DistillConfig, data_root, device="cpu", dist=None):
        from weakpose.engine.distributed import DistInfo

        if config.student not in ("keypoint", "image"):
            raise InputError(f"config: key 'student': {config.student!r}, expected keypoint or image")
        if config.loss not in ("distill", "weaksup"):
            raise InputError(f"config: key 'loss': {config.loss!r}, expected distill or weaksup")
        teacher, tconf, sign = load_teacher(config.teacher)
        if config.center and parse_center(config.center) != parse_center(tconf.center):
            raise InputError(f"config: key 'center': {config.center!r} differs from the teacher's {tconf.center!r}")
        super().__init__(config, data_root, device, dist or DistInfo())
        self.teacher = teacher.to(self.device)
        self.depth_sign = sign
        self.center = parse_center(tconf.center)
        if config.student == "image":
            from weakpose.data.mocap import TRAIN_SUBJECTS
            from weakpose.data.statistics import training_bone_lengths
            from weakpose.rendering.scenes import RenderedMotion

            if config.noise != "gt":
                raise InputError(f"config: key 'noise': {config.noise!r}; the image student trains on exact rendered labels (gt)")
            self.images = RenderedMotion(self.data_root, TRAIN_SUBJECTS, rig=config.rig, seed=config.seed, stride=config.stride)
            self.own_generator("renderer", self.images.rng)
            self.mean_bone_lengths = training_bone_lengths(self.data_root)
            self._calib_images = self._monitor_images = None
        else:
            d = load_training_data(self.data_root, config, self.center, self.device)
            self.w, self.mask, self.mean_bone_lengths, self.calib = d.w, d.mask, d.mean_bone_lengths, d.calib
        p = self.teacher.num_points
        self.operator = DistillationOperator(self.teacher.shape_dictionary().detach(),
                                             reduced_gauge_basis(p, self.center).to(self.device), config.damping)
        self.gauge = gauge_matrix(p, self.center).to(self.device)
        self.student = self.nets["student"]
        self.opt, self.sched = adam_with_cosine(self.student.parameters(), config.lr, config.lr_final, config.steps)

    @classmethod
    def build_modules(cls, config: DistillConfig) -> dict[str, torch.nn.Module]:
        if config.student == "image":
            try:
                net = ImageStudent(config.backbone, config.num_points, config.softmax_lambda)
            except ValueError as exc:
                raise InputError(f"config: key 'backbone': {exc}") from exc
            if config.crop_size <= 0 or config.crop_size % 32:
                raise InputError(f"config: key 'crop_size': {config.crop_size}, expected a positive multiple of 32")
            return {"student": net}
        return {"student": KeypointStudent(config.num_points, config.width, config.blocks, config.dropout)}

    def optimizers(self):
        return {"adam": self.opt}

    def schedulers(self):
        return {"cosine": self.sched}

    @torch.no_grad()
    def teacher_batch(self, w: torch.Tensor) -> dict[str, torch.Tensor]:
        """The frozen teacher's code φ₁, rotation R (depth sign folded in) and depths."""
        out = self.teacher(w)
        rot = camera_rotation(out.camera)
        rot = torch.cat([rot[..., :2], self.depth_sign * rot[..., 2:]], dim=-1)
        return {"code": out.code, "rotation": rot, "depth": (out.shape @ rot)[..., 2]}

    def train_step(self, step: int) -> dict[str, float]:
        c = self.config
        if c.student == "image":
            # the whole batch is rendered on every process (identically), each trains on its share
            g = torch.Generator().manual_seed(int(self.rng.integers(2**31)))
            b = self.shard(image_batch(self.images.sample(c.batch_size, 1, c.crop_size, augment=True), self.center, g))
            b = ImageBatch(*(getattr(b, f).to(self.device) for f in ImageBatch.__dataclass_fields__))
            w, mask, xy_mask = b.w, b.mask, b.inside
            pred = student_xyz(self.student(b.images), b)
        else:
            idx = torch.as_tensor(self.shard(self.rng.integers(0, len(self.w), c.batch_size)), device=self.device)
            w, mask = self.w[idx], self.mask[idx]
            xy_mask = None
            pred = self.student(w, mask)
        t = self.teacher_batch(w)
        terms = student_loss(pred, w, mask, mode=c.loss, gauge=self.gauge, code=t["code"],
                             rotation=t["rotation"], operator=self.operator, teacher_depth=t["depth"],
                             reg_weight=c.reg_weight, xy_mask=xy_mask)
        return optimizer_step(terms, "loss", self.opt, self.sched)

    def predictor_state(self) -> dict:
        was_training = self.student.training
        if self.config.student == "image":
            poses = image_poses(self.student, self.calibration_images(), self.center)
        else:
            pred = StudentPredictor(self.student, self.center, 1.0, self.mean_bone_lengths, self.config.xy_from_input)
            poses = pred.normalised_poses(self.w[self.calib], self.mask[self.calib]).cpu()
        if was_training:
            self.student.train()
        return {"raw_scale": global_scale(poses, self.mean_bone_lengths), "center": str(self.center),
                "mean_bone_lengths": torch.as_tensor(self.mean_bone_lengths)}

    # --- image student: fixed rendered sets, resumable rendering -------------------------------
    def calibration_images(self) -> ImageBatch:
        """Fixed rendered crops of the *training* subjects for the raw scale (no ground truth used)."""
        from weakpose.data.mocap import TRAIN_SUBJECTS

        if self._calib_images is None:
            c = self.config
            self._calib_images = render_image_set(self.data_root, TRAIN_SUBJECTS, c.image_samples, c.crop_size,
                                                  c.seed + 1, self.center, c.rig)
        return self._calib_images

    def evaluate(self) -> dict[str, float]:
        """Keypoint student: the base monitor. Image student: MPJPE / PA-MPJPE on fixed rendered
        crops of the test subjects (monitoring only, never used to select a run)."""
        if self.config.student != "image":
            return super().evaluate()
        from weakpose.data.mocap import TEST_SUBJECTS
        from weakpose.metrics import mpjpe, pa_mpjpe

        c = self.config
        if self._monitor_images is None:
            self._monitor_images = render_image_set(self.data_root, TEST_SUBJECTS, min(c.image_samples, c.monitor_samples),
                                                    c.crop_size, 123, self.center, c.rig)
        b = self._monitor_images
        pred = self.predictor().predict_images(b)["positions_3d"]
        self.student.train()
        gt = (b.joints_cam - b.joints_cam[:, :1]).numpy()
        return {"monitor/mpjpe": float(mpjpe(pred, gt).mean()), "monitor/pa_mpjpe": float(pa_mpjpe(pred, gt).mean())}

    @classmethod
    def make_predictor(cls, config: DistillConfig, nets, state) -> StudentPredictor | ImageStudentPredictor:
        if config.student == "image":
            return ImageStudentPredictor(nets["student"], parse_center(state["center"]), state["raw_scale"],
                                         np.asarray(state["mean_bone_lengths"]))
        return StudentPredictor(nets["student"], parse_center(state["center"]), state["raw_scale"],
                                np.asarray(state["mean_bone_lengths"]), config.xy_from_input)


METHOD = DistillMethod
