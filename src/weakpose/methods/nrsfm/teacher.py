"""Deep NRSfM teacher (Wang, Kong & Lucey, ICCV 2019, §3): dictionaries learned from 2D alone.

Training data: the 2D keypoints of the CMU-WS training subjects (no 3D), normalised by
:mod:`weakpose.methods.nrsfm.codec`. Loss, Eq. 4 (per sample, averaged over the batch):

    ‖[D₁ φ̃₁]_{P×3} M̃ − W‖₂ + λ ‖φ̃₁‖₁,   λ = 0.01,

with missing joints masked out of the reprojection and the 2D translation eliminated (weak
perspective with translation). Because ``W`` has unit Frobenius norm this is the relative
Frobenius error of Kong & Lucey's public release plus the paper's sparsity term.

Outputs are up to scale and a depth reflection. The global reflection is fixed once, after
training, by an anatomical rule that uses no ground truth (knees bend forwards,
:func:`weakpose.methods.nrsfm.codec.knee_chirality`); the scale by the bone-length scale of
DESIGN.md §5 (``positions_3d``) and, for the "raw" result, by one global constant
(``positions_3d_raw``) fitted to the training subjects' mean bone lengths.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
import torch

from weakpose.data.contracts import Keypoints2D
from weakpose.data.sources import DataSources
from weakpose.engine.config import TrainConfig, setting
from weakpose.engine.optim import adam_with_cosine, optimizer_step
from weakpose.errors import InputError
from weakpose.geometry.scale import bone_length_scale
from weakpose.methods.base import Method, batched
from weakpose.methods.nrsfm.codec import (
    NormalisedKeypoints,
    backward_knee_share,
    knee_chirality,
    normalise_keypoints,
    reprojection_residual,
)
from weakpose.methods.nrsfm.network import DeepNRSfM, NRSfMOutput, gauge_matrix, resolve_atoms
from weakpose.skeleton import H36M17


def nrsfm_loss(
    out: NRSfMOutput, w: torch.Tensor, mask: torch.Tensor, sparsity: float = 0.01
) -> dict[str, torch.Tensor]:
    """Eq. 4, averaged over the batch: {"loss", "reprojection", "sparsity"} (scalars)."""
    reproj = reprojection_residual(out.projection, w, mask).flatten(1).norm(dim=-1).mean()
    l1 = out.code.abs().sum(-1).mean()
    return {"loss": reproj + sparsity * l1, "reprojection": reproj, "sparsity": l1}


def parse_center(center: str | int) -> str | int:
    """Config value → gauge: "mean" or a joint index."""
    if isinstance(center, int):
        return center
    if center == "mean":
        return "mean"
    try:
        return int(center)
    except ValueError as exc:
        raise ValueError(f"center: expected a joint index or 'mean', got {center!r}") from exc


def global_scale(poses: torch.Tensor, mean_bone_lengths: np.ndarray) -> float:
    """One constant c with c·poses closest (least squares over all samples and bones) to the
    mean bone lengths: the 'raw' metric scale of an up-to-scale method."""
    lengths = H36M17.bone_lengths(poses.double())
    mu = torch.as_tensor(mean_bone_lengths, dtype=torch.float64)
    return float((lengths * mu).sum() / (lengths * lengths).sum().clamp_min(1e-12))


def decide_depth_sign(poses_cam: torch.Tensor) -> float:
    """+1 or −1: the global depth sign under which most reconstructions bend their knees
    forwards (no ground truth; Human3.6M-17 layout only)."""
    score = knee_chirality(poses_cam.double())
    return 1.0 if float((score > 0).double().mean()) >= 0.5 else -1.0


def finalise_poses(poses: torch.Tensor, w: torch.Tensor, mask: torch.Tensor, center: str | int,
                   xy_from_input: bool) -> torch.Tensor:
    """Normalised camera-frame poses [N, P, 3] → gauge-fixed (root-relative or centred) poses.

    With ``xy_from_input`` the (x, y) of every visible joint is the normalised 2D input itself
    (the model's own (x, y) is kept for missing joints): the image coordinates are observed, only
    depth is inferred. The same rule is applied to the teacher and to the students.
    """
    if xy_from_input:
        xy = torch.where(mask[..., None] > 0, w.to(poses.dtype), poses[..., :2])
        poses = torch.cat([xy, poses[..., 2:]], dim=-1)
    gauge = gauge_matrix(poses.shape[1], center).to(poses.dtype)
    return torch.einsum("qp,bpc->bqc", gauge, poses)


def to_millimetres(poses: torch.Tensor, mean_bone_lengths: np.ndarray, raw_scale: float) -> dict[str, np.ndarray]:
    """Root-relative normalised poses [N, 17, 3] → {"positions_3d" (bone-length scale),
    "positions_3d_raw" (global constant scale)} in mm."""
    poses = poses.double()
    poses = poses - poses[:, :1]
    s = bone_length_scale(poses, mean_bone_lengths)
    return {
        "positions_3d": (poses * s[:, None, None]).float().numpy(),
        "positions_3d_raw": (poses * raw_scale).float().numpy(),
    }


def normalise_file(kp: Keypoints2D, center: str | int, num_points: int) -> NormalisedKeypoints:
    """Normalise a validated single-view keypoint file; InputError for layouts we cannot use."""
    if kp.multiview:
        raise InputError(f"{kp.path}: key 'keypoints_2d': multi-view input [N, C, J, 2]; Deep NRSfM lifts single views")
    if kp.keypoints_2d.shape[1] != num_points:
        raise InputError(
            f"{kp.path}: key 'keypoints_2d': {kp.keypoints_2d.shape[1]} joints, the model has {num_points}"
        )
    return normalise_keypoints(kp.keypoints_2d, kp.confidence, kp.intrinsics, center, source=str(kp.path))


@dataclass
class TeacherOutputs:
    """Teacher reconstructions in the camera frame (normalised units, depth sign applied)."""

    poses: torch.Tensor      # [N, P, 3]
    code: torch.Tensor       # [N, K₁]
    rotation: torch.Tensor   # [N, 3, 3] R of Eq. 5 with the depth sign folded into its last column


def teacher_outputs(model: DeepNRSfM, w: torch.Tensor, depth_sign: float, batch_size: int = 4096) -> TeacherOutputs:
    """Run the teacher on normalised 2D poses ``w`` [N, P, 2]."""
    from weakpose.camera import complete_rotation

    def fn(x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = model(x)
        rot = complete_rotation(out.camera.mT).mT
        rot = torch.cat([rot[..., :2], depth_sign * rot[..., 2:]], dim=-1)
        return {"poses": out.shape @ rot, "code": out.code, "rotation": rot}

    model.eval()
    res = batched(fn, [w], batch_size)
    return TeacherOutputs(poses=res["poses"], code=res["code"], rotation=res["rotation"])


def check_atoms(atoms: str) -> tuple[int, ...]:
    try:
        return resolve_atoms(atoms)
    except ValueError as exc:
        raise InputError(f"config: key 'atoms': {exc}") from exc


# --- the Method ---------------------------------------------------------------------------------


@dataclass
class NRSfMConfig(TrainConfig):
    """Deep NRSfM teacher. Defaults: CPU-sized (the paper's 6 levels; ~5 min on one free core)."""

    steps: int = 4000               # chosen on a held-out training subject (benchmarks/nrsfm_selection.py)
    batch_size: int = 256
    lr: float = 2e-3
    lr_final: float = 1e-5          # cosine decay from lr to lr_final
    atoms: str = "paper6"           # paper6 = 256,128,64,32,16,8 | release12 = 125…10 | "a,b,c"
    sparsity: float = 0.01          # λ of Eq. 4
    center: str = "0"               # translation gauge: joint index (pelvis) or "mean"
    rig: str = "h36m"               # 2D training data: make_split(TRAIN_SUBJECTS, rig, noise) unless --train-2d
    noise: str = "gt"               # gt | detector
    stride: int = 1                 # every stride-th training frame
    depth_sign_rule: str = "chirality"  # chirality (knees bend forwards) | none
    calibration_samples: int = 8192  # training 2D poses used for the depth sign and the raw scale
    xy_from_input: bool = True      # predictions keep the observed 2D of visible joints (depth is inferred)
    # teacher check, no 3D (not in the paper): share of the calibration poses whose reconstruction bends the
    # knees backwards above which the run is reported as a likely wrong-depth solution (docs/nrsfm.md)
    max_backward_knees: float = setting(0.2, minimum=0.0, maximum=1.0)
    eval_every: int = 4000
    checkpoint_every: int = 2000


def training_keypoints(root, rig: str, noise: str, seed: int, stride: int, sources: DataSources | None = None
                       ) -> dict[str, np.ndarray]:
    """2D training keypoints: the user's ``--train-2d`` files when given (only ``keypoints_2d``,
    ``confidence``, ``intrinsics`` are read; no 3D), else those of the CMU-WS training subjects
    (``rig``, ``noise``, ``seed``, ``stride``; with their 3D, which training never reads: it is
    for evaluation scripts)."""
    if sources is not None and sources.train_2d is not None:
        kp = sources.train_2d
        return {"keypoints_2d": kp.keypoints_2d, "confidence": kp.confidence, "intrinsics": kp.intrinsics}
    from weakpose.data.benchmark import make_split
    from weakpose.data.mocap import TRAIN_SUBJECTS

    return make_split(root, TRAIN_SUBJECTS, rig=rig, noise=noise, seed=seed, stride=stride)


def normalise_in_chunks(data: dict[str, np.ndarray], center: str | int, chunk: int = 1 << 16) -> NormalisedKeypoints:
    """:func:`normalise_keypoints` over ``chunk`` samples at a time, so that a large (memory-mapped)
    file is converted straight into the float32 training tensors."""
    kp, conf, K = data["keypoints_2d"], data["confidence"], data.get("intrinsics")
    n, p = kp.shape[:2]
    w, mask, scale = torch.empty(n, p, 2), torch.empty(n, p), torch.empty(n)
    for i in range(0, n, chunk):
        part = normalise_keypoints(kp[i:i + chunk], conf[i:i + chunk], None if K is None else K[i:i + chunk], center,
                                   source=f"2D training keypoints {i}..{min(i + chunk, n) - 1}")
        w[i:i + chunk], mask[i:i + chunk], scale[i:i + chunk] = part.w, part.mask, part.scale
    return NormalisedKeypoints(w=w, mask=mask, scale=scale)


@dataclass
class TrainingData:
    """What the teacher and the student train on: normalised 2D keypoints ``w`` [N, P, 2] and
    their visibility ``mask`` [N, P], the training subjects' mean bone lengths, and the fixed
    ``calib`` subset used to set the global scale."""

    w: torch.Tensor
    mask: torch.Tensor
    mean_bone_lengths: np.ndarray
    calib: torch.Tensor


def load_training_data(root, config, center: str | int, device: torch.device,
                       sources: DataSources | None = None) -> TrainingData:
    """2D keypoints of ``--train-2d`` files or of the CMU-WS training subjects as ``config`` (rig,
    noise, seed, stride, calibration_samples) asks, normalised by :func:`normalise_keypoints`."""
    from weakpose.data.statistics import training_bone_lengths

    data = training_keypoints(root, config.rig, config.noise, config.seed, config.stride, sources)
    nk = normalise_in_chunks(data, center)
    n = len(nk.w)
    calib = np.random.default_rng(config.seed + 1).choice(n, min(n, config.calibration_samples), replace=False)
    return TrainingData(
        nk.w.to(device), nk.mask.to(device), training_bone_lengths(root), torch.as_tensor(np.sort(calib))
    )


def teacher_check_warning(backward_knees: float, max_backward_knees: float) -> str:
    """The teacher check (no 3D; not in the paper): a run whose reconstructions of its training 2D
    bend the knees backwards in more than ``max_backward_knees`` of the poses very likely fits the
    2D with the wrong depth. On CMU-WS this flagged 3 of the 4 failed teachers among 9 (docs/nrsfm.md
    "Teacher check"). Returns the warning ("" if the check passes)."""
    if backward_knees <= max_backward_knees:
        return ""
    return (f"{100 * backward_knees:.0f} % of the teacher's reconstructions of its training 2D bend the knees "
            f"backwards (max_backward_knees {max_backward_knees:g}): it very likely fits the 2D with the wrong "
            "depth; train it again with another seed= (docs/nrsfm.md, 'Teacher check')")


class NRSfMPredictor:
    """2D keypoint file → camera-frame, root-relative 3D (mm) with a trained Deep NRSfM."""

    def __init__(self, model: DeepNRSfM, center: str | int, depth_sign: float, raw_scale: float,
                 mean_bone_lengths: np.ndarray, xy_from_input: bool = True, batch_size: int = 4096) -> None:
        self.model = model.eval()
        self.center = center
        self.xy_from_input = xy_from_input
        self.depth_sign = float(depth_sign)
        self.raw_scale = float(raw_scale)
        self.mean_bone_lengths = np.asarray(mean_bone_lengths, np.float64)
        self.batch_size = batch_size

    def predict(self, inputs: Keypoints2D) -> dict[str, np.ndarray]:
        nk = normalise_file(inputs, self.center, self.model.num_points)
        return to_millimetres(self.normalised_poses(nk.w, nk.mask), self.mean_bone_lengths, self.raw_scale)

    def normalised_poses(self, w: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """[N, P, 3] gauge-fixed camera-frame poses in normalised units."""
        out = teacher_outputs(self.model, w, self.depth_sign, self.batch_size)
        return finalise_poses(out.poses, w, mask, self.center, self.xy_from_input)


class NRSfMMethod(Method):
    """Deep NRSfM trained on 2D keypoints (Eq. 4). Data files: ``--train-2d`` (replaces the
    CMU-WS 2D; intrinsics optional), ``--val``."""

    name = "nrsfm"
    Config = NRSfMConfig
    data_kinds = ("train_2d", "val")

    def __init__(self, config: NRSfMConfig, data_root, device="cpu", dist=None, sources: DataSources | None = None):
        from weakpose.engine.distributed import DistInfo

        super().__init__(config, data_root, device, dist or DistInfo(), sources)
        self.center = parse_center(config.center)
        d = load_training_data(self.data_root, config, self.center, self.device, self.sources)
        self.w, self.mask, self.mean_bone_lengths, self.calib = d.w, d.mask, d.mean_bone_lengths, d.calib
        self.model = self.nets["nrsfm"]
        self.opt, self.sched = adam_with_cosine(self.model.parameters(), config.lr, config.lr_final, config.steps)

    @classmethod
    def build_modules(cls, config: NRSfMConfig) -> dict[str, torch.nn.Module]:
        if config.depth_sign_rule not in ("chirality", "none"):
            raise InputError(f"config: key 'depth_sign_rule': {config.depth_sign_rule!r}, expected chirality or none")
        return {"nrsfm": DeepNRSfM(17, check_atoms(config.atoms), parse_center(config.center))}

    def optimizers(self):
        return {"adam": self.opt}

    def schedulers(self):
        return {"cosine": self.sched}

    def train_step(self, step: int) -> dict[str, float]:
        idx = torch.as_tensor(self.shard(self.rng.integers(0, len(self.w), self.config.batch_size)), device=self.device)
        w, mask = self.w[idx], self.mask[idx]
        terms = nrsfm_loss(self.model(w), w, mask, self.config.sparsity)
        return optimizer_step(terms, "loss", self.opt, self.sched)

    def predictor_state(self) -> dict:
        """Depth sign (no ground truth) and the raw scale, from a fixed subset of training 2D."""
        was_training = self.model.training
        out = teacher_outputs(self.model, self.w[self.calib], 1.0)
        if was_training:
            self.model.train()
        sign = decide_depth_sign(out.poses.cpu()) if self.config.depth_sign_rule == "chirality" else 1.0
        w, mask = self.w[self.calib].cpu(), self.mask[self.calib].cpu()
        poses = finalise_poses(out.poses.cpu(), w, mask, self.center, self.config.xy_from_input)
        backward = backward_knee_share(out.poses.cpu() * out.poses.new_tensor([1.0, 1.0, sign]))
        return {"depth_sign": sign, "raw_scale": global_scale(poses, self.mean_bone_lengths),
                "mean_bone_lengths": torch.as_tensor(self.mean_bone_lengths), "backward_knees": backward}

    def evaluate(self) -> dict[str, float]:
        """The monitor (3D of training subjects, never used to choose anything) and the teacher
        check without 3D, ``check/backward_knees`` (:func:`teacher_check_warning`)."""
        metrics = super().evaluate()
        metrics["check/backward_knees"] = backward = self.predictor_state()["backward_knees"]
        warning = teacher_check_warning(backward, self.config.max_backward_knees)
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
        return metrics

    @classmethod
    def make_predictor(cls, config: NRSfMConfig, nets, state) -> NRSfMPredictor:
        return NRSfMPredictor(nets["nrsfm"], parse_center(config.center), state["depth_sign"], state["raw_scale"],
                              np.asarray(state["mean_bone_lengths"]), config.xy_from_input)


METHOD = NRSfMMethod
