"""Training and inference of Li & Lee, BMVC 2020, independent of the training engine.

:class:`HypothesesSettings` holds every default of the method once; :class:`HypothesesCore` owns the networks,
optimisers, data and one training step (paper Eq. 4–10); :class:`HypothesesPredictor` turns
2D keypoints into hypotheses, the zero-code pose and the mean-shift mode (§3.4) in the camera
frame. ``weakpose.methods.hypotheses.method`` wraps them into the engine's ``Method`` interface.

Choices the paper leaves open (also in docs/hypotheses.md):

- One generator update per critic update (the code's ``diter = 1``); each step draws
  ``batch_size`` 2D poses, duplicates them (two codes per pose, for L_reg's pairs) and
  ``2 · batch_size`` real 3D poses shuffled independently of the 2D poses (unpaired).
- The camera loss weight is 10 (the code's ``cam_weight``; the paper gives none).
- 2D-loss joint weights: 0.1 for neck and head, as in the code; 0 for missing joints.
- Learning-rate decay: ``lr · lr_decay^(step / lr_decay_steps)``, i.e. the paper's 0.94 per
  epoch with the epoch measured in *steps* of a Human3.6M epoch (``lr_decay_steps``), not in
  passes over our data: CMU-WS's epoch is ~1,600 steps, and decaying per pass over it cut the
  learning rate to 0.07× by 35k steps, where the 60k-step curve flattened (issue 16).
- Reflection-aware critic (not in the paper, off by default: ``lambda_mirror``): the critic's
  loss adds ``lambda_mirror · (−MMD²(real, mirror(real)) + λ_gp L_gp(real, mirror))`` (Eq. 8–9
  with the mirrors in place of the generated poses), so its features also tell a real
  pose from its mirror image (reflected, re-aligned to the torso template); the KCS branch is
  reflection-invariant, so only the pose branch can learn this. The generator's L_adv is
  unchanged; it is then penalised for depth-mirrored poses through the critic's features.
- Chirality input of the critic (not in the paper, off by default: ``critic_chirality``): the
  KCS branch also reads signed triple products of unit bone vectors
  (``losses.chirality_features``: limb directions in the torso frame, shoulder twist, knee and
  elbow bending side), which a depth mirror negates while the KCS matrix does not change.
- Camera-elevation prior (not in the paper, off by default: ``lambda_elevation``): L_G adds
  ``lambda_elevation · losses.camera_elevation_loss(M, y, elevation_margin)``, a hinge that
  asks the camera to look down on the torso by at least ``asin(elevation_margin)``; a depth
  mirror (y·F, M·F) reprojects identically but looks at the body from below.
- Two camera sides (not in the paper, on by default: ``camera_sides=2``; 1 is the paper): the torso template is
  planar, so M and M·F (F = diag(1, 1, −1), :func:`other_side`) project it identically and only
  the limbs tell from which side of the torso the camera looks; a camera network on the wrong
  side cannot cross over by gradient steps (issue 16: a sixth to a third of the poses). With
  ``camera_sides=2`` the generator makes one pose per side (it reads s = ±1), and per 2D pose
  the side whose poses fit the 2D better (L_2D over both codes) is the one trained
  (winner-takes-all); the other side's L_adv and L_2D count ``side_loser_weight`` times. At test
  time the side whose zero-code pose fits the 2D better is used (:func:`zero_code_fit`).
- Test-time flip choice (not in the paper, on by default: ``flip_choice``; ``false`` is the
  paper's protocol): the predictor also lifts the left-right mirrored 2D pose (x negated, left
  and right joints swapped: the 2D of the mirror-image person) and, per sample, keeps the branch
  whose zero-code pose reprojects closer to its 2D input (L_2D, Eq. 4, with its own camera);
  poses of the mirrored branch are mirrored back (:meth:`HypothesesPredictor.choose_flips`).
  A pose seen from the wrong side of the body (depth-mirrored; a sixth to a third of the poses,
  issue 16) fits the 2D worse, and the generator's side errors are not symmetric under mirroring.
- Input x, y for exact 2D (not in the paper; ``input_xy``: "exact" by default, "never" is the
  paper's output, "always"): a camera-frame pose keeps the generator's depth but takes x, y of
  its visible joints from the 2D input, scaled by least squares to the pose's own x, y
  (:func:`with_input_xy`), for the samples whose visible joints all have confidence 1 (exact or
  annotated 2D; DESIGN.md's default confidence) under "exact", for every sample under "always";
  the generated pose reprojects only up to L_2D onto its input. The template-frame pose stays
  the generator's. On held-out training subject 8 the input's x, y helped with exact 2D
  (55.4 -> 53.1 mm) and hurt with detector-noise 2D (71.2 -> 73.7 mm): "exact" is the better of
  the two on both.
- Collapse monitor (not in the paper): every ``monitor_every`` steps the STD of 10 hypotheses
  (Table 4's measure) on a fixed batch of training 2D poses and the MMD² are logged; if the STD
  falls below ``collapse_min_std_mm`` after ``collapse_warmup`` steps, or a loss is not finite,
  the networks and optimisers are restored to the last healthy state and the learning rate is
  halved; after ``collapse_max_restores`` restores training stops with :class:`CollapseError`.
"""

from __future__ import annotations

import copy
import math
import sys
from dataclasses import dataclass, field

import numpy as np
import torch

from weakpose.camera import rotation_from_2x3
from weakpose.data.contracts import Keypoints2D
from weakpose.data.sources import DataSources
from weakpose.data.statistics import mean_bone_lengths
from weakpose.engine.config import setting
from weakpose.errors import InputError
from weakpose.geometry.scale import bone_length_scale
from weakpose.methods.hypotheses import losses as L
from weakpose.methods.hypotheses.data import (
    align_to_template,
    joint_weights,
    mask_random_limb_joints,
    normalise_2d,
    torso_template,
)
from weakpose.methods.hypotheses.meanshift import hypothesis_std, mean_shift_mode
from weakpose.methods.hypotheses.networks import GenerativeLifter, PoseCritic
from weakpose.skeleton import H36M17

#: where camera-frame x, y come from the 2D input (``input_xy``): never (the paper), for exact
#: 2D samples (every visible joint at confidence 1), always
INPUT_XY = ("never", "exact", "always")


class CollapseError(RuntimeError):
    """Training of the generator collapsed (no diversity left, or non-finite losses)."""


@dataclass
class HypothesesSettings:
    """Settings of Li & Lee 2020 (the engine's ``HypothesesConfig`` adds the common ones).
    Defaults are CPU-sized; the paper-size settings are in configs/hypotheses_paper.toml
    (width 1024, latent 1024, critic 128/1024)."""

    # data (training subjects only)
    rig: str = "h36m"                 # 2D training views: "h36m" rig or "wild" cameras
    noise: str = "gt"                 # "gt" projections or simulated "detector" noise
    stride: int = 2                   # every stride-th mocap frame for the 2D training poses
    missing_joints: int = 0           # random missing limb joints per training pose (Table 3)
    seed: int = 0
    # networks (paper / code: width 1024, latent 1024, critic pose 128, kcs 1024, out 8)
    width: int = setting(256, minimum=1)
    latent_dim: int = setting(64, minimum=1)
    generator_blocks: int = setting(2, minimum=1)
    camera_blocks: int = 2
    critic_pose_width: int = setting(128, minimum=1)
    critic_kcs_width: int = setting(256, minimum=1)
    critic_blocks: int = 2
    critic_out: int = setting(8, minimum=1)
    critic_steps: int = 1             # critic updates per generator update (the code's ``diter``)
    # loss weights (paper §4: λ_gp 0.1, λ_2D 10 (20 with missing joints), λ_reg 7.5, λ_rec 10)
    lambda_2d: float = 10.0
    lambda_reg: float = 7.5
    lambda_rec: float = 10.0
    lambda_gp: float = 0.1
    lambda_cam: float = 10.0
    tau: float = 1.0
    kernel_alphas: list[float] = field(default_factory=lambda: [0.1, 1.0, 10.0])
    dot_weight: float = 1.0
    lambda_mirror: float = 0.0        # not in the paper: critic also separates real poses from their mirrors
    critic_chirality: bool = False    # not in the paper: KCS branch also reads reflection-odd triple products
    lambda_elevation: float = 0.0     # not in the paper: hinge prior that the camera looks down on the torso
    elevation_margin: float = 0.1     # sin of the elevation below which lambda_elevation's hinge acts (~6°)
    camera_sides: int = 2             # not in the paper (1): one pose per side of the torso plane, the better fit wins
    side_loser_weight: float = 0.1    # with camera_sides=2: weight of the losing side's L_adv and L_2D
    head_weight: float = 0.1
    # optimisation (paper: Adam 1e-4, decay 0.94 per epoch; code: β = (0.5, 0.9), 64 poses x 2)
    batch_size: int = 64
    steps: int = 4000
    lr: float = 1e-3                  # paper 1e-4; 10x for the ~300x shorter CPU schedule
    beta1: float = 0.5
    beta2: float = 0.9
    lr_decay: float = 0.94
    lr_decay_steps: int = 24000       # steps per decay by lr_decay: one Human3.6M epoch (~1.5M 2D poses / 64)
    # inference
    num_hypotheses: int = 10          # hypotheses written to the prediction file (best-of-10)
    meanshift_samples: int = 100      # samples the mean-shift mode is computed from
    selection: str = "meanshift"      # what goes into positions_3d: "meanshift" | "zero"
    flip_choice: bool = True          # not in the paper: also lift the mirrored 2D, keep the better 2D fit
    input_xy: str = "exact"           # not in the paper ("never"): camera-frame x, y from the input: "exact" | "always"
    bandwidth_quantile: float = 0.2
    # collapse monitor
    monitor_every: int = 250
    collapse_min_std_mm: float = 5.0
    collapse_warmup: int = 1000
    collapse_max_restores: int = 3

    def validate(self) -> None:
        if self.selection not in ("meanshift", "zero"):
            raise InputError(f"config: key 'selection': {self.selection!r} is not 'meanshift' or 'zero'")
        if self.noise not in ("gt", "detector"):
            raise InputError(f"config: key 'noise': {self.noise!r} is not 'gt' or 'detector'")
        if self.rig not in ("h36m", "wild"):
            raise InputError(f"config: key 'rig': {self.rig!r} is not 'h36m' or 'wild'")
        if not 0 <= self.missing_joints <= 8:
            raise InputError("config: key 'missing_joints': must be in 0..8")
        if self.lambda_mirror < 0:
            raise InputError("config: key 'lambda_mirror': must be >= 0 (0 = the paper's critic)")
        if self.lambda_elevation < 0:
            raise InputError("config: key 'lambda_elevation': must be >= 0 (0 = no camera prior, as the paper)")
        if not -1 < self.elevation_margin < 1:
            raise InputError("config: key 'elevation_margin': must be in (-1, 1) (the sine of an elevation)")
        if self.camera_sides not in (1, 2):
            raise InputError("config: key 'camera_sides': must be 1 (the paper) or 2")
        if self.side_loser_weight < 0:
            raise InputError("config: key 'side_loser_weight': must be >= 0")
        if self.input_xy not in INPUT_XY:
            raise InputError(f"config: key 'input_xy': {self.input_xy!r} is not one of {', '.join(INPUT_XY)}")
        if self.critic_steps < 1:
            raise InputError("config: key 'critic_steps': must be >= 1")
        if self.batch_size < 2 or self.num_hypotheses < 1 or self.meanshift_samples < 2:
            raise InputError("config: batch_size >= 2, num_hypotheses >= 1, meanshift_samples >= 2 required")


def build_networks(cfg: HypothesesSettings) -> tuple[GenerativeLifter, PoseCritic]:
    g = GenerativeLifter(17, cfg.width, cfg.latent_dim, cfg.generator_blocks, cfg.camera_blocks, cfg.camera_sides)
    chirality_dim = len(L.CHIRALITY_TRIPLES) if cfg.critic_chirality else 0
    d = PoseCritic(17, 16, cfg.critic_pose_width, cfg.critic_kcs_width, cfg.critic_out, cfg.critic_blocks,
                   chirality_dim)
    return g, d


def other_side(M: torch.Tensor) -> torch.Tensor:
    """M·F with F = diag(1, 1, −1) [..., 2, 3]: the weak-perspective camera on the other side of
    the template's torso plane (z = 0). It projects the planar torso template exactly as M does
    (the two-fold ambiguity of a plane seen by an orthographic camera) and a pose y as M projects
    its depth mirror F·y."""
    return M * torch.tensor([1.0, 1.0, -1.0], dtype=M.dtype, device=M.device)


def both_sides(net: GenerativeLifter, h: torch.Tensor, z: torch.Tensor, M: torch.Tensor, x: torch.Tensor,
               weights: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
    """A two-sided network's poses of trunk features h [B, width] and codes z for the camera M
    (side +1) and for :func:`other_side` (−1), with their per-sample L_2D against x [B, J, 2]:
    ((y₊, M, L_2D₊), (y₋, M·F, L_2D₋))."""
    ones = torch.ones(h.shape[0], device=h.device)
    y_plus, y_minus = net.generate_from_features(h, z, ones), net.generate_from_features(h, z, -ones)
    M_minus = other_side(M)
    return ((y_plus, M, L.reprojection_errors(M, y_plus, x, weights)),
            (y_minus, M_minus, L.reprojection_errors(M_minus, y_minus, x, weights)))


def pick_sides(minus: torch.Tensor, plus: tuple[torch.Tensor, ...], other: tuple[torch.Tensor, ...]
               ) -> tuple[torch.Tensor, ...]:
    """Per sample, the entries of ``other`` where ``minus`` [B] (bool), else those of ``plus``."""
    return tuple(torch.where(minus.reshape(-1, *[1] * (a.ndim - 1)), b, a) for a, b in zip(plus, other))


@torch.no_grad()
def zero_code_fit(net: GenerativeLifter, h: torch.Tensor, x: torch.Tensor, weights: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """Zero-code pose of trunk features h [B, width] with its camera and L_2D against x [B, J, 2]
    (per sample, ``weights`` [B, J]). A two-sided network (``camera_sides=2``) uses, per sample,
    the side whose zero-code pose fits better (the choice at test time; :func:`other_side`).
    Returns (y0 [B, J, 3], M [B, 2, 3], side [B] of ±1 or None for one side, L_2D [B])."""
    z = torch.zeros(h.shape[0], net.latent_dim, device=h.device)
    M = net.camera_from_features(h)
    if net.camera_sides == 1:
        y0 = net.generate_from_features(h, z)
        return y0, M, None, L.reprojection_errors(M, y0, x, weights)
    plus, minus_side = both_sides(net, h, z, M, x, weights)
    minus = minus_side[2] < plus[2]
    y0, M0, err = pick_sides(minus, plus, minus_side)
    return y0, M0, 1.0 - 2.0 * minus.to(h.dtype), err


def with_input_xy(poses: torch.Tensor, x2d: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """Camera-frame poses [B, ..., J, 3] whose visible joints take x, y from the 2D input
    x2d [B, J, 2] (root-centred, any scale) times the least-squares scale to the poses' own x, y;
    depth and missing joints unchanged. An orthographic reading of the input, as the method's
    weak-perspective camera."""
    lead = (x2d.shape[0],) + (1,) * (poses.ndim - 3)
    xin = x2d.reshape(*lead, *x2d.shape[1:]).to(poses)
    w = visible.reshape(*lead, visible.shape[1], 1).to(poses)
    a = (w * xin * poses[..., :2]).sum((-1, -2)) / (w * xin * xin).sum((-1, -2)).clamp_min(1e-12)
    xy = torch.where(w > 0, a[..., None, None] * xin, poses[..., :2])
    return torch.cat([xy, poses[..., 2:]], -1)


@dataclass
class TrainingData:
    """What the method learns from: 2D poses and an *unpaired* set of real 3D poses."""

    keypoints_2d: np.ndarray          # [N, 17, 2] px (any camera)
    confidence: np.ndarray            # [N, 17]; 0 = missing
    real_positions_mm: np.ndarray     # [F, 17, 3] mm, any frame (aligned to the template here)

    @classmethod
    def from_benchmark(cls, root, cfg: HypothesesSettings) -> TrainingData:
        """CMU-WS training subjects: 2D views (rig, noise, stride of the config) and all their
        3D frames as the unpaired critic set (the 2D views' paired 3D is never read)."""
        return cls.from_sources(root, cfg, DataSources())

    @classmethod
    def from_sources(cls, root, cfg: HypothesesSettings, sources: DataSources) -> TrainingData:
        """The user's ``--train-2d`` and ``--train-3d`` files where given, the CMU-WS defaults of
        :meth:`from_benchmark` for the kinds not given. The 2D is centred at the pelvis
        (:func:`normalise_2d`), so 2D samples whose pelvis is missing are left out (with a note)."""
        from weakpose.data.benchmark import make_split
        from weakpose.data.mocap import TRAIN_SUBJECTS, load_cmu

        if sources.train_2d is None:
            split = make_split(root, TRAIN_SUBJECTS, rig=cfg.rig, noise=cfg.noise, seed=cfg.seed, stride=cfg.stride)
            kp, conf = split["keypoints_2d"], split["confidence"]
        else:
            kp, conf = np.asarray(sources.train_2d.keypoints_2d), np.asarray(sources.train_2d.confidence)
            seen = conf[:, 0] > 0
            if not seen.any():
                raise InputError(f"{sources.train_2d.path}: key 'confidence': the pelvis (joint 0) is missing in every "
                                 "sample; hypotheses centres each 2D pose at the pelvis")
            if not seen.all():
                print(f"note: {sources.train_2d.path}: {int((~seen).sum())} of {len(seen)} samples have no pelvis "
                      "and are left out (the 2D pose is centred at the pelvis)", file=sys.stderr)
            kp, conf = np.array(kp[seen], np.float32), np.array(conf[seen], np.float32)
        real = load_cmu(root, TRAIN_SUBJECTS).positions if sources.train_3d is None else sources.train_3d
        return cls(kp, conf, real)


class HypothesesCore:
    """Networks, optimisers and data of one training run; :meth:`step` is one D + G update."""

    def __init__(self, cfg: HypothesesSettings, root, device: str = "cpu",
                 nets: dict[str, torch.nn.Module] | None = None, data: TrainingData | None = None) -> None:
        cfg.validate()
        self.cfg, self.device = cfg, torch.device(device)
        torch.manual_seed(cfg.seed)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        if data is None:
            data = TrainingData.from_benchmark(root, cfg)
        # unpaired real 3D poses, in the template frame
        self.template = torch.from_numpy(torso_template(data.real_positions_mm))
        self.mean_bones = torch.from_numpy(mean_bone_lengths(data.real_positions_mm).astype(np.float32))
        self.real3d = align_to_template(torch.from_numpy(data.real_positions_mm).double(),
                                        self.template.double()).float().to(self.device)
        x, vis = normalise_2d(torch.from_numpy(data.keypoints_2d), torch.from_numpy(data.confidence))
        self.x2d, self.vis2d = x.to(self.device), vis.to(self.device)
        self.steps_per_epoch = max(1, len(self.x2d) // cfg.batch_size)
        self._perm = torch.randperm(len(self.x2d), generator=self.gen)
        mon = torch.randperm(len(self.x2d), generator=self.gen)[:256]
        self.monitor_x, self.monitor_vis = self.x2d[mon], self.vis2d[mon]
        if nets is None:
            g, d = build_networks(cfg)
            nets = {"generator": g, "critic": d}
        self.net, self.critic = nets["generator"].to(self.device), nets["critic"].to(self.device)
        betas = (cfg.beta1, cfg.beta2)
        self.opt_g = torch.optim.Adam(self.net.parameters(), lr=cfg.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.critic.parameters(), lr=cfg.lr, betas=betas)
        self.lr_scale = 1.0
        self.restores = 0
        self._good: dict | None = None

    # ------------------------------------------------------------------ helpers
    def critic_features(self, pose: torch.Tensor) -> torch.Tensor:
        chirality = L.chirality_features(pose) if self.cfg.critic_chirality else None
        return self.critic(pose, L.kcs_matrix(pose, H36M17.bones), chirality)

    def critic_loss(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """L_D = −MMD²(real, fake) + λ_gp L_gp (Eq. 8–9), plus, with ``lambda_mirror`` > 0, the
        same terms for the real poses against their mirror images (not in the paper).
        Returns (L_D, the real–fake gradient penalty)."""
        cfg, alphas = self.cfg, self.cfg.kernel_alphas
        f_real = self.critic_features(real)
        mmd_d = L.mmd2_loss(f_real, self.critic_features(fake), alphas, cfg.dot_weight)
        gp = L.witness_gradient_penalty(self.critic_features, real, fake, alphas, cfg.dot_weight, self.gen)
        loss_d = -mmd_d + cfg.lambda_gp * gp
        if cfg.lambda_mirror > 0:
            mirror = L.mirrored_real(real, self.template.to(real))
            mmd_m = L.mmd2_loss(f_real, self.critic_features(mirror), alphas, cfg.dot_weight)
            gp_m = L.witness_gradient_penalty(self.critic_features, real, mirror, alphas, cfg.dot_weight, self.gen)
            loss_d = loss_d + cfg.lambda_mirror * (-mmd_m + cfg.lambda_gp * gp_m)
        return loss_d, gp

    def _batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, n = self.cfg.batch_size, len(self.x2d)
        k = step % self.steps_per_epoch
        if k == 0 and step > 0:
            self._perm = torch.randperm(n, generator=self.gen)
        idx = self._perm[k * b:(k + 1) * b]
        x, vis = self.x2d[idx], self.vis2d[idx]
        x, vis = mask_random_limb_joints(x, vis, self.cfg.missing_joints, self.gen)
        real = self.real3d[torch.randint(len(self.real3d), (2 * b,), generator=self.gen)]
        return torch.cat([x, x]), torch.cat([vis, vis]), real

    def _set_lr(self, step: int) -> float:
        lr = self.cfg.lr * self.cfg.lr_decay ** (step / self.cfg.lr_decay_steps) * self.lr_scale
        for opt in (self.opt_g, self.opt_d):
            for group in opt.param_groups:
                group["lr"] = lr
        return lr

    # ------------------------------------------------------------------ training
    def step(self, step: int) -> dict[str, float]:
        """One critic update (L_D = −L_adv + λ_gp L_gp) and one generator update (Eq. 10)."""
        cfg = self.cfg
        self.net.train()
        self.critic.train()
        lr = self._set_lr(step)
        x, vis, real = self._batch(step)
        b = x.shape[0] // 2
        z = torch.randn(2 * b, cfg.latent_dim, generator=self.gen).to(self.device)
        h = self.net.features(x)
        M = self.net.camera_from_features(h)
        weights = joint_weights(vis, cfg.head_weight)
        logs: dict[str, float] = {}
        if cfg.camera_sides == 1:
            y, M_side = self.net.generate_from_features(h, z), M
            l2d = L.reprojection_loss(M, y, x, weights)
        else:
            y, M_side, l2d, loser, logs["side_minus"] = self._two_sided(h, z, M, x, weights)
        alphas = cfg.kernel_alphas
        # critic: maximise MMD² between real and generated features, with gradient penalty
        # (``critic_steps`` updates on the same batch, as the code's ``diter`` loop)
        for _ in range(cfg.critic_steps):
            loss_d, gp = self.critic_loss(real, y.detach())
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
        # generator, camera and encoder: L_G = L_adv + λ2D L_2D + λcam L_cam − λreg L_reg + λrec L_rec
        adv = L.mmd2_loss(self.critic_features(real).detach(), self.critic_features(y), alphas, cfg.dot_weight)
        lcam = L.camera_loss(M)
        lreg = L.diversity_loss(y[:b], y[b:], z[:b], z[b:], cfg.tau)
        lrec = L.latent_reconstruction_loss(z, self.net.encode(y))
        loss_g = adv + cfg.lambda_2d * l2d + cfg.lambda_cam * lcam - cfg.lambda_reg * lreg + cfg.lambda_rec * lrec
        elev = L.camera_elevation_loss(M_side, y, cfg.elevation_margin)
        if cfg.lambda_elevation > 0:
            loss_g = loss_g + cfg.lambda_elevation * elev
        if cfg.camera_sides == 2 and cfg.side_loser_weight > 0:
            y_lose, l2d_lose = loser
            adv_lose = L.mmd2_loss(self.critic_features(real).detach(), self.critic_features(y_lose), alphas,
                                   cfg.dot_weight)
            loss_g = loss_g + cfg.side_loser_weight * (adv_lose + cfg.lambda_2d * l2d_lose)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        logs |= {"loss_d": loss_d.item(), "mmd2": adv.item(), "gp": gp.item(), "l2d": l2d.item(),
                "cam": lcam.item(), "reg": lreg.item(), "rec": lrec.item(), "elev": elev.item(),
                "loss_g": loss_g.item(), "lr": lr}
        if not all(math.isfinite(v) for v in logs.values()):
            return logs | self._recover(step, f"non-finite loss ({logs})")
        if cfg.monitor_every and (step + 1) % cfg.monitor_every == 0:
            logs |= self._monitor(step, logs)
        return logs

    def _two_sided(self, h: torch.Tensor, z: torch.Tensor, M: torch.Tensor, x: torch.Tensor, weights: torch.Tensor):
        """``camera_sides=2``: both sides' poses; per 2D pose (its two codes together) the side with
        the lower L_2D wins. Returns (winning poses, their cameras, their L_2D, (losing poses, their
        L_2D), share of 2D poses won by the −1 side)."""
        b = h.shape[0] // 2
        plus, minus_side = both_sides(self.net, h, z, M, x, weights)
        with torch.no_grad():
            e_plus, e_minus = plus[2], minus_side[2]
            minus = ((e_minus[:b] + e_minus[b:]) < (e_plus[:b] + e_plus[b:])).repeat(2)
        y, M_win, e = pick_sides(minus, plus, minus_side)
        y_lose, _, e_lose = pick_sides(minus, minus_side, plus)
        return y, M_win, e.mean(), (y_lose, e_lose.mean()), minus.float().mean().item()

    @torch.no_grad()
    def diversity_mm(self, x: torch.Tensor, visible: torch.Tensor, num: int = 10) -> float:
        """Table 4's STD: std of ``num`` hypotheses per joint coordinate w.r.t. the root, in mm
        of the template (template units are metres of the mean training torso), for normalised
        2D poses x [B, J, 2] with visibility [B, J] (which picks a two-sided network's side)."""
        self.net.eval()
        b = x.shape[0]
        h = self.net.features(x)
        side = zero_code_fit(self.net, h, x, joint_weights(visible, self.cfg.head_weight))[2]
        h, side = h.repeat_interleave(num, 0), None if side is None else side.repeat_interleave(num, 0)
        z = torch.randn(b * num, self.cfg.latent_dim, generator=self.gen).to(self.device)
        y = self.net.generate_from_features(h, z, side).reshape(b, num, 17, 3)
        self.net.train()
        return 1000.0 * hypothesis_std(y).mean().item()

    def _monitor(self, step: int, logs: dict[str, float]) -> dict[str, float]:
        std = self.diversity_mm(self.monitor_x, self.monitor_vis)
        out = {"diversity_std_mm": std}
        cfg = self.cfg
        if step + 1 >= cfg.collapse_warmup and std < cfg.collapse_min_std_mm:
            return out | self._recover(step, f"hypotheses collapsed: diversity STD {std:.2f} mm < "
                                             f"collapse_min_std_mm={cfg.collapse_min_std_mm} (MMD² {logs['mmd2']:.4f})")
        self._good = {"net": copy.deepcopy(self.net.state_dict()), "critic": copy.deepcopy(self.critic.state_dict()),
                      "opt_g": copy.deepcopy(self.opt_g.state_dict()), "opt_d": copy.deepcopy(self.opt_d.state_dict()),
                      "step": step}
        return out

    def _recover(self, step: int, reason: str) -> dict[str, float]:
        self.restores += 1
        if self._good is None or self.restores > self.cfg.collapse_max_restores:
            raise CollapseError(
                f"step {step + 1}: {reason}; gave up after {self.restores - 1} restores. Recover by resuming "
                "from an earlier checkpoint with a lower lr, a larger lambda_reg/lambda_rec, or a smaller "
                "lambda_2d (see docs/hypotheses.md, 'When training collapses')")
        self.net.load_state_dict(self._good["net"])
        self.critic.load_state_dict(self._good["critic"])
        self.opt_g.load_state_dict(self._good["opt_g"])
        self.opt_d.load_state_dict(self._good["opt_d"])
        self.lr_scale *= 0.5
        print(f"[hypotheses] step {step + 1}: {reason}; restored the state of step {self._good['step'] + 1} "
              f"and halved the learning rate (restore {self.restores}/{self.cfg.collapse_max_restores})", flush=True)
        return {"restored": float(self.restores)}

    # ------------------------------------------------------------------ state
    def predictor_state(self) -> dict:
        """Statistics the predictor needs besides the generator's weights."""
        return {"template": self.template.clone(), "mean_bone_lengths": self.mean_bones.clone()}

    def extra_state(self) -> dict:
        """What resuming needs besides networks, optimisers and the generator ``gen`` (declared
        to the engine by the method): the epoch's order, the learning-rate scale and the collapse
        monitor's last good state."""
        return {"lr_scale": self.lr_scale, "restores": self.restores, "perm": self._perm.clone(),
                "good": self._good}

    def load_extra_state(self, state: dict) -> None:
        self.lr_scale, self.restores = float(state["lr_scale"]), int(state["restores"])
        self._perm = state["perm"]
        self._good = state.get("good")
        if "rng" in state:  # checkpoints that kept the generator here
            self.gen.set_state(state["rng"])


class HypothesesPredictor:
    """Multi-hypothesis lifting of 2D keypoints with a trained generator (paper §3.4).

    ``predict`` returns, in mm, root-relative, **camera frame** (rotated by the camera network's
    rotation, protocol #1; the network knows the pose only up to scale, so every pose is scaled
    by the bone-length scale with the training subjects' mean bone lengths):
    ``positions_3d`` (the pose chosen by ``selection``), ``positions_3d_zero_code``,
    ``positions_3d_meanshift``, ``hypotheses`` [N, H, 17, 3] (H = ``num_hypotheses`` random codes),
    and the template-frame zero-code pose ``positions_3d_template`` with the weak-perspective
    camera ``camera_2x3``. With ``flip_choice`` (not in the paper) every output of a sample comes
    from the branch :meth:`choose_flips` keeps, and ``flip_chosen`` [N] (bool) says which samples
    were lifted from the mirrored 2D (their poses and camera mirrored back).
    """

    def __init__(self, cfg: HypothesesSettings, generator: GenerativeLifter, state: dict) -> None:
        self.cfg = cfg
        self.net = generator.eval()
        self.device = next(generator.parameters()).device
        self.mean_bones = torch.as_tensor(state["mean_bone_lengths"], dtype=torch.float32)

    def to_camera_mm(self, y: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
        """Template-frame poses [B, ..., J, 3] -> camera frame (R [B, 3, 3]) at bone-length scale, mm."""
        shape = y.shape
        yc = (y.reshape(shape[0], -1, 3) @ R.transpose(-1, -2)).reshape(shape)
        s = bone_length_scale(yc, self.mean_bones, H36M17)
        return yc * s[..., None, None]

    @torch.no_grad()
    def choose_flips(self, x: torch.Tensor, visible: torch.Tensor, batch_size: int = 4096
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Test-time flip choice (not in the paper). For normalised 2D poses x [N, J, 2] and their
        visibility [N, J]: the mirrored pose (x negated, left and right swapped) replaces x where
        its zero-code pose reprojects closer to it than x's zero-code pose to x (per-sample L_2D,
        Eq. 4, joint weights as in training). Returns (x, visible, flipped [N] bool)."""
        x_f, vis_f = H36M17.flip(x), visible[:, H36M17.flip_permutation]
        errs = []
        for xx, vv in ((x, visible), (x_f, vis_f)):
            e = []
            for i in range(0, len(xx), batch_size):
                xb = xx[i:i + batch_size].to(self.device)
                w = joint_weights(vv[i:i + batch_size].to(self.device), self.cfg.head_weight)
                e.append(zero_code_fit(self.net, self.net.features(xb), xb, w)[3].cpu())
            errs.append(torch.cat(e))
        flipped = errs[1] < errs[0]
        pick = flipped[:, None, None]
        return torch.where(pick, x_f, x), torch.where(flipped[:, None], vis_f, visible), flipped

    def predict(self, inputs: Keypoints2D) -> dict[str, np.ndarray]:
        """Lift a single-view 2D keypoint file (see the class docstring for the keys)."""
        if inputs.multiview:
            raise InputError(f"{inputs.path}: key 'keypoints_2d': multi-view input [N, C, J, 2]; "
                             "this method lifts single views [N, J, 2]")
        return self.predict_arrays(inputs.keypoints_2d, inputs.confidence)

    @torch.no_grad()
    def predict_arrays(
        self,
        keypoints_2d: np.ndarray,
        confidence: np.ndarray,
        num_hypotheses: int | None = None,
        meanshift_samples: int | None = None,
        selection: str | None = None,
        flip_choice: bool | None = None,
        input_xy: str | None = None,
        batch_size: int = 1024,
        seed: int = 0,
    ) -> dict[str, np.ndarray]:
        cfg = self.cfg
        num_h = cfg.num_hypotheses if num_hypotheses is None else num_hypotheses
        num_ms = cfg.meanshift_samples if meanshift_samples is None else meanshift_samples
        sel = cfg.selection if selection is None else selection
        flip = cfg.flip_choice if flip_choice is None else flip_choice
        xy_from = cfg.input_xy if input_xy is None else input_xy
        if xy_from not in INPUT_XY:
            raise InputError(f"input_xy: {xy_from!r} is not one of {', '.join(INPUT_XY)}")
        if sel == "meanshift" and num_ms < 2:
            raise InputError("selection 'meanshift' needs meanshift_samples >= 2")
        gen = torch.Generator().manual_seed(seed)
        kp = torch.as_tensor(np.asarray(keypoints_2d), dtype=torch.float32)
        cf = torch.as_tensor(np.asarray(confidence), dtype=torch.float32)
        if kp.ndim != 3 or kp.shape[1:] != (17, 2):
            raise InputError(f"keypoints_2d: expected [N, 17, 2], got {tuple(kp.shape)}")
        try:
            x_all, vis_all = normalise_2d(kp, cf)
        except ValueError as e:
            raise InputError(f"keypoints_2d: {e}") from None
        # samples whose x, y come from the input: every visible joint exact (confidence 1) or all
        if xy_from == "exact":
            snap_all = ((cf >= 1) | (cf <= 0)).all(1)
        else:
            snap_all = torch.full((len(cf),), xy_from == "always")
        flipped = torch.zeros(len(x_all), dtype=torch.bool)
        if flip:
            x_all, vis_all, flipped = self.choose_flips(x_all, vis_all)
        outs: dict[str, list] = {k: [] for k in ("zero", "ms", "hyp", "tpl", "cam")}
        for i in range(0, len(x_all), batch_size):
            x = x_all[i:i + batch_size].to(self.device)
            vis = vis_all[i:i + batch_size].to(self.device)
            snap = snap_all[i:i + batch_size].to(self.device)
            b = x.shape[0]
            h = self.net.features(x)
            y0, M, side, _ = zero_code_fit(self.net, h, x, joint_weights(vis, cfg.head_weight))
            R = rotation_from_2x3(M)

            outs["tpl"].append(y0)
            outs["cam"].append(M)
            outs["zero"].append(self._output_pose(y0, R, x, vis, snap))
            if num_ms > 0:
                z = torch.randn(b * num_ms, cfg.latent_dim, generator=gen).to(self.device)
                ys = self.net.generate_from_features(h.repeat_interleave(num_ms, 0), z,
                                                     _repeat(side, num_ms)).reshape(b, num_ms, 17, 3)
                mode = mean_shift_mode(ys, bandwidth_quantile=cfg.bandwidth_quantile)
                outs["ms"].append(self._output_pose(mode, R, x, vis, snap))
            if num_h > 0:
                z = torch.randn(b * num_h, cfg.latent_dim, generator=gen).to(self.device)
                yh = self.net.generate_from_features(h.repeat_interleave(num_h, 0), z,
                                                     _repeat(side, num_h)).reshape(b, num_h, 17, 3)
                outs["hyp"].append(self._output_pose(yh, R, x, vis, snap))
        res = {"positions_3d_zero_code": torch.cat(outs["zero"]),
               "positions_3d_template": 1000.0 * torch.cat(outs["tpl"]), "camera_2x3": torch.cat(outs["cam"])}
        if outs["ms"]:
            res["positions_3d_meanshift"] = torch.cat(outs["ms"])
        if outs["hyp"]:
            res["hypotheses"] = torch.cat(outs["hyp"])
        if flip:
            res = self._mirror_back(res, flipped.to(self.device))
            res["flip_chosen"] = flipped
        res["positions_3d"] = res["positions_3d_meanshift"] if sel == "meanshift" else res["positions_3d_zero_code"]
        return {k: v.cpu().numpy() if v.dtype == torch.bool else v.cpu().numpy().astype(np.float32)
                for k, v in res.items()}

    def _output_pose(self, y: torch.Tensor, R: torch.Tensor, x: torch.Tensor, visible: torch.Tensor,
                     snap: torch.Tensor) -> torch.Tensor:
        """Template-frame poses -> camera frame, mm; x, y from the input x where ``snap`` [B]."""
        p = self.to_camera_mm(y, R)
        if not bool(snap.any()):
            return p
        return torch.where(snap.reshape(-1, *[1] * (p.ndim - 1)), with_input_xy(p, x, visible), p)

    @staticmethod
    def _mirror_back(res: dict[str, torch.Tensor], flipped: torch.Tensor) -> dict[str, torch.Tensor]:
        """Outputs of the samples lifted from the mirrored 2D, mirrored back: poses (camera and
        template frame: x negated, left and right swapped) and M -> diag(−1, 1) M diag(−1, 1, 1)."""
        out = {}
        for key, v in res.items():
            if key == "camera_2x3":
                back = v * torch.tensor([[1.0, -1.0, -1.0], [-1.0, 1.0, 1.0]], dtype=v.dtype, device=v.device)
            else:
                back = H36M17.flip(v)
            out[key] = torch.where(flipped.reshape(-1, *[1] * (v.ndim - 1)), back, v)
        return out


def _repeat(side: torch.Tensor | None, num: int) -> torch.Tensor | None:
    return None if side is None else side.repeat_interleave(num, 0)
