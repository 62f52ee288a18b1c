"""Knowledge distillation from Deep NRSfM (Wang, Kong & Lucey, ICCV 2019, §4).

A student predicts per-landmark (x, y, z) in the teacher's normalised camera frame. Its
objective, Eq. 15, per sample:

    ‖f_xy − w‖₁ + L̃(f_z),   L̃(z′) = ‖B_xy φ̃(z′) − w‖₂ + β ‖φ̃(z′)‖₁   (Eq. 14; paper β = 0.3, the default)

with ``φ̃(z′)`` the teacher's code projected onto the codes whose depth is ``z′`` (Eq. 12–13)
and ``B`` the teacher's dictionary rotated by its camera (Eq. 5–7); see
:mod:`weakpose.methods.nrsfm.distill_loss`. The teacher (dictionary, cameras, codes) is frozen, its
cameras are treated as oracles (§4.1), and its global depth sign is the one chosen by
:mod:`weakpose.methods.nrsfm.teacher` without ground truth.

``loss = "weaksup"`` trains the same student with the teacher's depths as hard L1 targets
(the paper's "Weaksup-bs" baseline, §5.2).

Several teachers (``teacher = "RUN_A,RUN_B"``; not in the paper, docs/nrsfm.md "Issue 16, fourth
pass"): the depth term of Eq. 15 is averaged over the teachers, each with its own dictionary
operator, code, camera rotation and depth sign; they must share the 2D normalisation and gauge
(``center``). Weaksup-bs then takes the mean of the teachers' depths as its one hard target.

The default student takes 2D keypoints
(:class:`~weakpose.methods.nrsfm.keypoint_student.KeypointStudent`); ``variant = "image"`` trains the
paper's image-input integral-regression student
(:class:`~weakpose.methods.nrsfm.image_student.ImageStudent`) on crops of the training subjects
rendered on the fly, with the teacher run on each crop's 2D labels
(:mod:`weakpose.methods.nrsfm.distill_image`; ``configs/distill_image_cpu.toml``,
``configs/distill_image_paper.toml``).

Choices the paper leaves open: the per-sample losses are summed over joints and averaged over the
batch; the L1 on (x, y) and the depth term have equal weight (Eq. 15 has none); missing joints
are masked out of both; the student's depth is root-relative, matching the teacher's
root-relative shapes (the gauge of :mod:`weakpose.methods.nrsfm.network`), so ``φ̃`` matches ``z′``
exactly on the P−1 free joints; a relative Tikhonov ``damping`` of 1e-6 guards against
ill-conditioned rotated dictionaries.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from weakpose.data.contracts import Keypoints2D
from weakpose.data.sources import DataSources
from weakpose.engine.config import TrainConfig, setting
from weakpose.engine.optim import adam_with_cosine, optimizer_step
from weakpose.errors import InputError
from weakpose.methods.base import Method, Variants, batched, freeze
from weakpose.methods.nrsfm.codec import mirror_keypoints, mirror_poses
from weakpose.methods.nrsfm.distill_loss import DistillationOperator
from weakpose.methods.nrsfm.keypoint_student import KeypointStudent
from weakpose.methods.nrsfm.network import DeepNRSfM, gauge_matrix, reduced_gauge_basis
from weakpose.methods.nrsfm.teacher import (
    NRSfMConfig,
    NRSfMMethod,
    finalise_poses,
    global_scale,
    load_training_data,
    normalise_file,
    parse_center,
    teacher_check_warning,
    teacher_outputs,
    to_millimetres,
)


@dataclass
class DistillConfig(TrainConfig):
    """Distilled student. Defaults: CPU-sized keypoint student (~7 min on one shared core); β, width,
    step count and the detector-noise training data chosen on a held-out training subject
    (``benchmarks/nrsfm_selection.py``, docs/nrsfm.md)."""

    RENAMED_KEYS: ClassVar[dict[str, str]] = {"student": "variant"}   # former name: older configs and checkpoints load

    teacher: str = ""               # run folder (or model file) of a trained `weakpose train nrsfm`; several,
                                    # comma-separated: Eq. 15 averaged over them (not in the paper)
    variant: str = "keypoint"       # student input: keypoint | image (integral regression on rendered crops)
    loss: str = "distill"           # distill (Eq. 14-15) | weaksup (Weaksup-bs: hard L1 on teacher depth)
    reg_weight: float = 0.3         # β of Eq. 14 (paper 0.3); chosen on a held-out training subject
    damping: float = 1e-6           # relative Tikhonov term of the right inverse (Eq. 13)
    steps: int = 6000
    batch_size: int = 256
    lr: float = 1e-3
    lr_final: float = 1e-5
    width: int = setting(512, minimum=1)
    blocks: int = 2
    dropout: float = 0.25
    num_points: int = 17
    center: str = ""                # translation gauge; empty = the teacher's (the only allowed value)
    rig: str = "h36m"
    noise: str = "detector"         # keypoint student's 2D: simulated detector noise (robust to detections) | gt
                                    # (the image student ignores it: it trains on rendered crops and their labels)
    stride: int = 1
    calibration_samples: int = 8192
    xy_from_input: bool = True      # predictions keep the observed 2D of visible joints (as the teacher's)
    # not in the paper (named options, Human3.6M-17 layout; docs/nrsfm.md "Mirror options"):
    flip_distill: bool = False      # Eq. 14-15 averaged over each sample and its left-right mirror image
    flip_test: bool = False         # keypoint student: predictions averaged with the mirrored input's
    eval_every: int = 4000
    checkpoint_every: int = 2000
    # image student only (variant = "image"); rig, stride, seed above choose the rendered training data
    backbone: str = "resnet-tiny"   # weakpose.models.heatmap_net.build_heatmap_net name (paper: resnet50)
    crop_size: int = 64             # rendered crop side, multiple of 32 (paper: 256)
    softmax_lambda: float = 1.0     # heatmap softmax temperature of the integral read-out (Sun et al.: 1)
    image_samples: int = 256        # fixed rendered crops for the raw scale (training subjects) and monitoring
    images: str = ""                # 2D file with image_path (+ box): train on these photos instead of rendered crops


def load_teacher(path: str | Path) -> tuple[DeepNRSfM, NRSfMConfig, float]:
    """(network, config, depth sign) of a trained teacher run; InputError if it is not one. A
    teacher that fails the check without 3D (:func:`~weakpose.methods.nrsfm.teacher.teacher_check_warning`)
    is loaded with a warning."""
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
    freeze(net)
    state = ckpt["predictor_state"]
    warning = teacher_check_warning(float(state.get("backward_knees", 0.0)), config.max_backward_knees)
    if warning:   # runs from before the check carry no share and pass
        print(f"warning: {path}: {warning}", file=sys.stderr)
    return net, config, float(state["depth_sign"])


def teacher_runs(spec: str) -> list[str]:
    """The teacher runs of ``teacher=`` (comma-separated); InputError if there is none."""
    runs = [r.strip() for r in str(spec).split(",")]
    if not any(runs):
        raise InputError("config: key 'teacher': required (the run folder of `weakpose train nrsfm`)")
    if not all(runs):
        raise InputError(f"config: key 'teacher': {spec!r} has an empty entry (several teachers: RUN_A,RUN_B)")
    return runs


@dataclass
class FrozenTeacher:
    """One frozen Deep NRSfM teacher and what Eq. 12–15 need of it: its network, its global depth
    sign, its gauge (``center``) and the :class:`DistillationOperator` of its dictionary."""

    run: str
    net: DeepNRSfM
    depth_sign: float
    center: str | int
    operator: DistillationOperator

    @classmethod
    def load(cls, run: str, damping: float) -> FrozenTeacher:
        """The teacher run ``run`` (:func:`load_teacher`), on the CPU."""
        net, tconf, sign = load_teacher(run)
        return cls(run, net, sign, parse_center(tconf.center), None).to("cpu", damping)

    @classmethod
    def from_model(cls, net: DeepNRSfM, depth_sign: float, center: str | int, damping: float,
                   run: str = "") -> FrozenTeacher:
        """A teacher already in memory (e.g. trained in an earlier phase of the composite), frozen
        here as :func:`load_teacher` freezes a loaded one, on the device of its weights."""
        freeze(net)
        device = next(net.parameters()).device
        return cls(run, net, float(depth_sign), center, None).to(device, damping)

    @property
    def gauge(self) -> torch.Tensor:
        """[P, P] translation gauge of the teacher's shapes (:func:`~weakpose.methods.nrsfm.network.gauge_matrix`)."""
        return gauge_matrix(self.net.num_points, self.center).to(next(self.net.parameters()).device)

    def to(self, device: torch.device | str, damping: float) -> FrozenTeacher:
        """The same teacher on ``device``, with its operator built there."""
        net = self.net.to(device)
        op = DistillationOperator(net.shape_dictionary().detach(),
                                  reduced_gauge_basis(net.num_points, self.center).to(device), damping)
        return FrozenTeacher(self.run, net, self.depth_sign, self.center, op)

    @torch.no_grad()
    def batch(self, w: torch.Tensor) -> dict[str, torch.Tensor]:
        """The teacher's code φ₁, rotation R (depth sign folded in) and depths of ``w``."""
        out = teacher_outputs(self.net, w, self.depth_sign)
        return {"code": out.code, "rotation": out.rotation, "depth": out.poses[..., 2]}


def load_teachers(spec: str, damping: float) -> list[FrozenTeacher]:
    """The teachers of ``teacher=RUN[,RUN…]`` (each checked by :func:`load_teacher`, with its own
    warning); InputError unless they share the student's 2D normalisation and gauge (``center``:
    the normalisation of :func:`~weakpose.methods.nrsfm.codec.normalise_keypoints` depends on
    nothing else) and the number of points."""
    teachers = [FrozenTeacher.load(run, damping) for run in teacher_runs(spec)]
    first = teachers[0]
    for t in teachers[1:]:
        if t.center != first.center:
            raise InputError(f"{t.run}: key 'center': {str(t.center)!r} differs from the first teacher's "
                             f"{str(first.center)!r} ({first.run}); several teachers must share the 2D "
                             "normalisation and gauge")
        if t.net.num_points != first.net.num_points:
            raise InputError(f"{t.run}: key 'num_points': {t.net.num_points} differs from the first teacher's "
                             f"{first.net.num_points} ({first.run})")
    return teachers


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
                 xy_from_input: bool = True, batch_size: int = 4096, flip_test: bool = False) -> None:
        self.net = net.eval()
        self.center = center
        self.xy_from_input = xy_from_input
        self.flip_test = flip_test
        self.raw_scale = float(raw_scale)
        self.mean_bone_lengths = np.asarray(mean_bone_lengths, np.float64)
        self.batch_size = batch_size

    def normalised_poses(self, w: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """[N, P, 3] gauge-fixed camera-frame poses in the teacher's normalised units. With
        ``flip_test`` (not in the paper) the mean of the poses of ``w`` and the mirrored poses of
        its mirror image (:func:`~weakpose.methods.nrsfm.codec.mirror_keypoints`): the observed
        (x, y) are unchanged, the depth is averaged."""
        self.net.eval()
        poses = finalise_poses(batched(self.net, [w, mask], self.batch_size), w, mask, self.center,
                               self.xy_from_input)
        if self.flip_test:
            wm, mm = mirror_keypoints(w, mask)
            mirrored = finalise_poses(batched(self.net, [wm, mm], self.batch_size), wm, mm, self.center,
                                      self.xy_from_input)
            poses = 0.5 * (poses + mirror_poses(mirrored))
        return poses

    def predict(self, inputs: Keypoints2D) -> dict[str, np.ndarray]:
        nk = normalise_file(inputs, self.center, self.net.num_points)
        return to_millimetres(self.normalised_poses(nk.w, nk.mask), self.mean_bone_lengths, self.raw_scale)


class DistillMethod(Method):
    """Student trained by distillation from a frozen Deep NRSfM teacher (or Weaksup-bs): what
    both variants share. :class:`KeypointDistillMethod` (``variant = "keypoint"``) and
    :class:`~weakpose.methods.nrsfm.distill_image.ImageDistillMethod` (``variant = "image"``)
    supply the training inputs, the calibration poses and the predictor."""

    name = "distill"
    Config = DistillConfig

    def __init__(self, config: DistillConfig, data_root, device="cpu", dist=None,
                 sources: DataSources | None = None):
        from weakpose.engine.distributed import DistInfo

        if config.loss not in ("distill", "weaksup"):
            raise InputError(f"config: key 'loss': {config.loss!r}, expected distill or weaksup")
        if (config.flip_distill or config.flip_test) and config.num_points != 17:
            key = "flip_distill" if config.flip_distill else "flip_test"
            raise InputError(f"config: key '{key}': mirror images need the Human3.6M-17 layout, "
                             f"the student has {config.num_points} points")
        if config.flip_test and config.variant == "image":
            raise InputError("config: key 'flip_test': test-time mirroring is implemented for the keypoint "
                             "student only")
        if config.images and config.variant != "image":
            raise InputError("config: key 'images': photos train the image student (variant=image); "
                             "the keypoint student trains on 2D keypoints")
        teachers = load_teachers(config.teacher, config.damping)   # before the seeded start (their build draws)
        self.center = teachers[0].center
        if config.center and parse_center(config.center) != self.center:
            raise InputError(f"config: key 'center': {config.center!r} differs from the teacher's "
                             f"{str(self.center)!r}")
        super().__init__(config, data_root, device, dist or DistInfo(), sources)
        self.teachers = [t.to(self.device, config.damping) for t in teachers]
        self.load_inputs()
        self.gauge = gauge_matrix(self.teachers[0].net.num_points, self.center).to(self.device)
        self.student = self.nets["student"]
        self.opt, self.sched = adam_with_cosine(self.student.parameters(), config.lr, config.lr_final, config.steps)

    # --- what a variant supplies ------------------------------------------------------------
    def load_inputs(self) -> None:
        """Load the training inputs and set ``self.mean_bone_lengths``."""
        raise NotImplementedError

    def student_batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """One batch drawn with ``self.rng``: ``(w, mask, xy_mask, student prediction)``."""
        raise NotImplementedError

    def calibration_poses(self) -> torch.Tensor:
        """The student's normalised poses of fixed training inputs (for the raw scale)."""
        raise NotImplementedError

    # --- shared -----------------------------------------------------------------------------
    def optimizers(self):
        return {"adam": self.opt}

    def schedulers(self):
        return {"cosine": self.sched}

    def batch_loss(self, pred: torch.Tensor, w: torch.Tensor, mask: torch.Tensor,
                   xy_mask: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Eq. 15 (or Weaksup-bs) of a batch, with the frozen teacher(s) run on ``w``. Several
        teachers (not in the paper): Eq. 15 averaged over them, each with its own operator, code,
        rotation and depth sign; Weaksup-bs with the mean of their depths as the target (one
        teacher: exactly the paper's loss)."""
        c = self.config
        batches = [t.batch(w) for t in self.teachers]
        if c.loss == "weaksup":
            depth = torch.stack([b["depth"] for b in batches]).mean(0)
            return student_loss(pred, w, mask, mode="weaksup", gauge=self.gauge, teacher_depth=depth, xy_mask=xy_mask)
        terms = [student_loss(pred, w, mask, mode=c.loss, gauge=self.gauge, code=b["code"], rotation=b["rotation"],
                              operator=t.operator, reg_weight=c.reg_weight, xy_mask=xy_mask)
                 for t, b in zip(self.teachers, batches)]
        return {k: torch.stack([t[k] for t in terms]).mean(0) for k in terms[0]}

    def objective(self, pred: torch.Tensor, w: torch.Tensor, mask: torch.Tensor,
                  xy_mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The training objective of a batch: Eq. 15 (:meth:`batch_loss`). With ``flip_distill``
        (not in the paper) the mean of Eq. 15 on the batch and on its left-right mirror image, i.e.
        the mirrored student output scored under the teacher's reconstruction of the mirrored 2D.
        The teacher is not mirror-equivariant (its reconstructions of a pose and of its mirror
        image disagree in depth), so the student is pulled toward the average of the two answers;
        the objective itself is then mirror-symmetric."""
        terms = self.batch_loss(pred, w, mask, xy_mask)
        if self.config.flip_distill:
            wm, mm = mirror_keypoints(w, mask)
            xym = None if xy_mask is None else mirror_keypoints(w, xy_mask)[1]
            mirrored = self.batch_loss(mirror_poses(pred), wm, mm, xym)
            terms = {k: 0.5 * (terms[k] + mirrored[k]) for k in terms}
        return terms

    def train_step(self, step: int) -> dict[str, float]:
        w, mask, xy_mask, pred = self.student_batch()
        return optimizer_step(self.objective(pred, w, mask, xy_mask), "loss", self.opt, self.sched)

    def predictor_state(self) -> dict:
        was_training = self.student.training
        poses = self.calibration_poses()
        if was_training:
            self.student.train()
        return {"raw_scale": global_scale(poses, self.mean_bone_lengths), "center": str(self.center),
                "mean_bone_lengths": torch.as_tensor(self.mean_bone_lengths)}


class KeypointDistillMethod(DistillMethod):
    """The keypoint-input student (:class:`~weakpose.methods.nrsfm.keypoint_student.KeypointStudent`)
    on the benchmark's 2D training keypoints, or on the user's ``--train-2d`` files."""

    variant = "keypoint"
    #: ``--train-2d`` replaces the CMU-WS 2D of the keypoint student (the teacher is run on it).
    data_kinds = ("train_2d", "val")

    @classmethod
    def build_modules(cls, config: DistillConfig) -> dict[str, torch.nn.Module]:
        return {"student": KeypointStudent(config.num_points, config.width, config.blocks, config.dropout)}

    def load_inputs(self) -> None:
        d = load_training_data(self.data_root, self.config, self.center, self.device, self.sources)
        self.w, self.mask, self.mean_bone_lengths, self.calib = d.w, d.mask, d.mean_bone_lengths, d.calib

    def student_batch(self):
        idx = torch.as_tensor(self.shard(self.rng.integers(0, len(self.w), self.config.batch_size)), device=self.device)
        w, mask = self.w[idx], self.mask[idx]
        return w, mask, None, self.student(w, mask)

    def calibration_poses(self) -> torch.Tensor:
        pred = StudentPredictor(self.student, self.center, 1.0, self.mean_bone_lengths, self.config.xy_from_input,
                                flip_test=self.config.flip_test)
        return pred.normalised_poses(self.w[self.calib], self.mask[self.calib]).cpu()

    @classmethod
    def make_predictor(cls, config: DistillConfig, nets, state) -> StudentPredictor:
        return StudentPredictor(nets["student"], parse_center(state["center"]), state["raw_scale"],
                                np.asarray(state["mean_bone_lengths"]), config.xy_from_input,
                                flip_test=config.flip_test)


METHOD = Variants("distill", DistillConfig, {
    "keypoint": "weakpose.methods.nrsfm.distill:KeypointDistillMethod",
    "image": "weakpose.methods.nrsfm.distill_image:ImageDistillMethod",
})
