"""Multi-view consistency with 2.5D pose (Iqbal, Molchanov & Kautz, CVPR 2020): ``weakpose train multiview``.

Keypoint-input variant (the default; the paper's heatmap network on images is ``variant=image``,
:mod:`weakpose.methods.multiview.image`, dispatched from :class:`MultiviewMethod`):
a residual MLP reads 2D keypoints + confidences (encoded by :func:`weakpose.codec.encode_2d`)
and outputs the scale-normalised relative depths ``z_rel`` (z_j - z_root over the scale-pair
distance, positive further away) and a 2D estimate of every joint, used where the input joint is
missing. The 3D pose is reconstructed analytically (Eq. 2-3,
:func:`weakpose.geometry.reconstruct_from_2p5d`) and trained with (``supervision``):

* ``fs``    L_FS (Eq. 6) = L_2D + psi L_z, psi = 5, with ground-truth relative depths (reference);
* ``ws``    L_WS (Eq. 7) = L_2D + alpha L_MC + beta L_B, alpha = 10, beta = 100, the rigid
            alignment of L_MC from a weighted Procrustes fit (Eq. 10) without gradients;
* ``ws_r``  as ``ws`` with the rig's known rotations (the paper's "WS + R");
* ``2d_only`` L_2D only; the predictor then has no depth (z_rel = 0: the depth-less baseline).

L_2D plays the role of the paper's heatmap loss L_H: squared error of the network's 2D
estimate against the 2D labels in the codec's normalised units. Every term is summed within a
multi-view sample (views, pairs, joints, limbs) and averaged over the samples of the batch, as in
:mod:`weakpose.methods.multiview.losses`.

The 2D of the multi-view samples (``labels``):

* ``detector`` (default, the paper's setting): every view of a CMU-WS sample carries the
  benchmark's detector noise (:func:`weakpose.data.noise.detector_noise`); the detections are
  input, 2D label and the 2D that L_MC / L_B reconstruct from, and the confidences phi of Eq. 8/11
  are their scores (:func:`weakpose.methods.multiview.data.as_detections`), as for tracklets and
  ``--train-multiview`` files. A missing joint (confidence 0) contributes to no term, L_2D
  included; Eq. 3 places it with the network's own (detached) 2D estimate;
* ``exact``: the annotated-2D special case (Table 1 rows with 2D = H+M, perfect labels): the
  weak losses reconstruct from the exact projections with phi = 1 while the network reads
  detector noise on ``noise_fraction`` of the views.

Detections teach the 2D estimate nothing about joints the detector missed (no target), so
detected limb ends are hidden from the input at ``input_mask`` (the detector's missing rate) and
kept as targets (:func:`weakpose.methods.multiview.data.mask_detected_joints`).

With ``reconstruct_from = "input"`` the weak losses reconstruct from the network's input instead,
an imputed (missing) joint at phi = ``imputed_confidence``; in development (bound 0.95) that let
training escape into a degenerate solution on CMU-WS (docs/multiview.md). ``"estimate"`` is the
paper's path (§3.3): the network's own 2D of every joint, differentiable (scaled by
``uv_grad``), which the predictor then also uses; it collapses in the keypoint variant (docs).

Not in the paper (``mc_scale = "bones"``, the default since issue 16): L_MC compares each view's
pose rescaled to the training subjects' mean bone lengths (:func:`bone_scaled`), because Eq. 3
sizes a view from the scale pair's two detected joints alone and their noise would otherwise
count as inconsistency of every joint; ``"pair"`` is the paper's Eq. 8 on the pair-normalised
poses. L_B always reads the pair-normalised poses.

Multi-view samples: random 4-camera wild rigs of the training subjects by default
(``wild_fraction = 1``), or the h36m rig (``wild_fraction = 0``), or a mix.

One choice the keypoint variant needs (measured in docs/multiview.md):

* the root depth z_root of Eq. 3 is a constant for autograd (``root_depth_grad = False``,
  :func:`rebuild_with_fixed_root`), and the scale pair's relative depth is bounded
  (:func:`bound_pair_depth`).

Prediction: the pose is scaled to millimetres with the training subjects' mean bone lengths
(supplementary Eq. 1, :func:`weakpose.geometry.bone_length_scale`) and returned root-relative in
the camera frame. Inputs without intrinsics get the default camera (:func:`weakpose.camera.default_intrinsics`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from weakpose.camera import default_intrinsics, normalized_coordinates
from weakpose.codec import encode_2d, feature_size
from weakpose.data.contracts import Keypoints2D
from weakpose.data.mocap import TRAIN_SUBJECTS, load_cmu
from weakpose.data.noise import DETECTOR_NOISE
from weakpose.data.sources import DataSources, MultiViewSet
from weakpose.data.statistics import mean_bone_lengths
from weakpose.engine.config import TrainConfig, setting
from weakpose.engine.distributed import DistInfo
from weakpose.engine.optim import optimizer_step
from weakpose.errors import InputError
from weakpose.geometry import bone_length_scale, reconstruct_from_2p5d
from weakpose.geometry.scale import observed_bone_weights
from weakpose.methods.base import Method, Variants, batched
from weakpose.methods.multiview.data import (
    MultiViewSampler,
    as_detections,
    concatenate_batches,
    detections_batch,
    mask_detected_joints,
)
from weakpose.methods.multiview.losses import loss_bone, loss_fs, loss_mc
from weakpose.methods.multiview.tracklets import TrackletSet
from weakpose.models.lifter import ResidualMLP
from weakpose.skeleton import H36M17

SUPERVISION = ("fs", "ws", "ws_r", "2d_only")
LABELS = ("detector", "exact")
RECONSTRUCT_FROM = ("labels", "input", "estimate")
MC_SCALE = ("pair", "bones")
J = H36M17.num_joints


@dataclass
class MultiviewConfig(TrainConfig):
    variant: str = "keypoint"        # keypoint | image (methods/multiview/image.py)
    supervision: str = "ws"          # fs | ws | ws_r | 2d_only
    steps: int = 4000
    batch_size: int = 64             # multi-view samples per step (x views poses)
    views: int = 4                   # C_n: views per sample used by L_MC (at most 4 in the paper)
    lr: float = 5e-4                 # Adam, as in the supplementary (1e-3 without dropout: seed 1 collapsed, issue 16)
    lr_final: float = 5e-5           # after lr_drop of the steps (paper: 50k of 60k)
    lr_drop: float = 0.8333
    width: int = setting(512, minimum=1)
    blocks: int = 2
    dropout: float = 0.1
    alpha: float = 10.0              # weight of L_MC (Eq. 7)
    beta: float = 100.0              # weight of L_B (Eq. 7)
    psi: float = 5.0                 # weight of L_z (Eq. 6)
    w2d: float = 10.0                # weight of the 2D term (L_H's role; our choice)
    scale_pair: tuple[int, int] = (0, 8)   # pelvis-thorax (paper: neck-pelvis)
    pair_depth_bound: float = 0.75   # |z_k - z_l| of the scale pair < this (pair lengths; see docs)
    wild_fraction: float = 1.0       # share of multi-view samples from random wild rigs (varied cameras, training
                                     # subjects); the rest from the h36m rig (issue 16: 1.0 best on validation)
    labels: str = "detector"         # 2D of the CMU-WS multi-view samples: detector (all views detector-like,
                                     # phi = confidence; the paper's default) | exact (projections, phi = 1)
    noise_fraction: float = 0.5      # labels=exact: share of views whose *input* has detector noise
    input_mask: float = DETECTOR_NOISE["missing_prob"]  # detections (labels=detector, tracklets, files): detected
                                     # limb ends hidden from the input, target kept, so the 2D estimate learns
                                     # missing joints; 0 = off
    imputed_confidence: float = 0.5  # phi of joints missing in the input
    root_depth_grad: bool = False    # back-propagate the weak losses through z_root (Eq. 3)?
    reconstruct_from: str = "labels" # 2D used by L_MC / L_B: labels | input | estimate (the network's own 2D)
    mc_scale: str = "bones"          # size of each view's pose in L_MC: bones (rescaled to the mean bone lengths; not
                                     # in the paper, chosen on held-out subject 8, issue 16) | pair (Eq. 3: pair = 1)
    uv_grad: float = 0.1             # scale of the weak losses' gradient into the network's 2D (image variant,
                                     # keypoint with reconstruct_from=estimate; paper: 1; see docs)
    stride: int = 1                  # every stride-th training frame
    tracklets: str = ""              # optional tracklet file (weakpose.methods.multiview.tracklets)
    tracklet_fraction: float = 0.25  # share of multi-view samples drawn from it
    eval_every: int = 1000
    checkpoint_every: int = 1000
    monitor_samples: int = 1024
    # --- image variant only (methods/multiview/image.py); batch_size = unlabeled multi-view samples
    backbone: str = "resnet-tiny-s2"  # models.heatmap_net name (paper: hrnet-w32)
    crop_size: int = 64              # person crops (paper: 256)
    sigma: float = 2.0               # Gaussian targets, heatmap cells
    lam: float = 50.0                # spatial-softmax temperature (supp.)
    labelled_batch: int = 32         # 2D-labelled images per step (paper: 128)
    labelled_subjects: tuple[int, ...] = (1, 3, 5)   # images with 2D labels
    labelled_rig: str = "wild"       # their cameras: wild (the MPII role) | h36m
    images: str = ""                 # 2D file with image_path (+ box): photos on disk as the 2D-labelled images
    unlabeled_subjects: tuple[int, ...] = (6, 7, 8)  # unlabeled multi-view images (h36m rig)
    unlabeled_pool: int = 512        # multi-view instants rendered once (pseudo labels fixed)
    mv_labels: bool = False          # multi-view images 2D-annotated (paper rows 2D = H+M; see docs)
    pseudo_labels: bool = True       # the tau regulariser (Iqbal §3.3)
    pseudo_tau: float = 0.5
    pretrained_2d: str = ""          # a `train multiview variant=image` run: its 2D weights (no pretrain_2d phase)
    pretrain_steps: int = 2000       # steps of the pretrain_2d phase (2D heatmap pre-training, before `steps`)
    pretrain_lr: float = 1e-3        # its Adam rate (dropped 10x after 80 % of the phase)
    monitor_instants: int = 32       # rendered test instants (x 4 views) scored while training
    test_seed: int = 2024


def bound_pair_depth(z_rel: torch.Tensor, scale_pair: tuple[int, int], bound: float) -> torch.Tensor:
    """Keep the depth difference of the scale pair (k, l) inside (-bound, bound).

    Eq. 3 fixes the pair's 3D distance to C = 1, so |z_k - z_l| < 1 is necessary for a real,
    positive root depth; an unconstrained network that crosses it (easily early in weakly
    supervised training) gets a clamped discriminant and a root depth near or behind the camera.
    Near the bound the pair lies along the viewing ray and z_root (hence the size of the whole
    pose) becomes small, which lowers L_MC without any consistency; the default bound 0.75
    keeps that shrink within sqrt(1 - 0.75^2) = 0.66; it clips the 3.8 % of CMU-WS test
    poses (h36m rig) whose torso is tilted further out of the image plane.
    ``z_l`` becomes ``z_k + bound tanh(z_l - z_k)`` (or the reverse when ``l`` is the root).
    """
    k, l = scale_pair
    if l == 0:
        k, l = l, k
    z_k = z_rel[:, k]
    bounded = z_k + bound * torch.tanh(z_rel[:, l] - z_k)
    return torch.cat([z_rel[:, :l], bounded[:, None], z_rel[:, l + 1:]], 1)


class KeypointTwoPointFive(nn.Module):
    """2D keypoints -> 2.5D pose: z_rel [N, J] and the 2D estimate [N, J, 2] in px."""

    def __init__(self, width: int = 512, blocks: int = 2, dropout: float = 0.1,
                 scale_pair: tuple[int, int] = (0, 8), pair_depth_bound: float = 0.75):
        super().__init__()
        self.mlp = ResidualMLP(feature_size(J), 3 * J, width, blocks, dropout, "batch")
        self.scale_pair = tuple(scale_pair)
        self.pair_depth_bound = pair_depth_bound

    def forward(self, kp: torch.Tensor, conf: torch.Tensor, K: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns z_rel [N, J] (root 0), uv_est [N, J, 2] px, the normalised 2D estimate
        [N, J, 2] and the codec's (center [N, 2], scale [N])."""
        feats, scale = encode_2d(kp, conf, K)
        center = feats[:, -2:]
        out = self.mlp(feats)
        z = out[:, :J]
        z_rel = bound_pair_depth(z - z[:, :1], self.scale_pair, self.pair_depth_bound)
        xy_n = feats[:, : 2 * J].reshape(-1, J, 2) + out[:, J:].reshape(-1, J, 2)
        xy = xy_n * scale[:, None, None] + center[:, None, :]
        uv = torch.stack((xy[..., 0] * K[:, 0, 0, None] + K[:, 0, 2, None],
                          xy[..., 1] * K[:, 1, 1, None] + K[:, 1, 2, None]), -1)
        return z_rel, uv, xy_n, (center, scale)


def scale_gradient(x: torch.Tensor, factor: float) -> torch.Tensor:
    """``x`` in the forward pass, ``factor`` times its gradient in the backward pass."""
    if factor == 1.0:
        return x
    return x.detach() + factor * (x - x.detach()) if factor else x.detach()


def rebuild_with_fixed_root(points: torch.Tensor, z_root: torch.Tensor, z_rel: torch.Tensor) -> torch.Tensor:
    """The same points with the root depth of Eq. 3 held constant for the relative depths:
    ``p_j = (z_root + z_rel_j) r_j`` with ``r_j = p_j / z_j`` (the ray of joint j).

    ``points`` and ``z_root`` come from :func:`weakpose.geometry.reconstruct_from_2p5d` with the
    relative depths **detached**, so they carry only the 2D's gradient: moving the 2D keeps the
    scale pair at length 1 (as Eq. 3 intends), while the relative depths reach the pose only
    through ``z_rel_j r_j``. In the keypoint variant the only thing the gradient through z_root
    could change is the relative depth of the scale pair, and there it opens a degenerate path:
    tilting the pair towards the depth axis (|z_k - z_l| -> 1) shrinks z_root and with it the
    whole pose, which lowers L_MC without learning depth (measured: the thorax depth ran to the
    bound and MPJPE rose from 93 to 230 mm within 300 steps). With z_root constant the pair's
    depths are learned like every other joint's. (Holding z_root constant for the 2D as well
    would open a 2D shortcut instead, measured in the image variant: pulling every joint's 2D
    towards the root shrinks all views alike.)
    """
    rays = points / points[..., 2:]
    return (z_root[:, None] + z_rel - z_rel[:, :1])[..., None] * rays


def estimate_2d_loss(xy_n: torch.Tensor, labels: torch.Tensor, K: torch.Tensor, center: torch.Tensor,
                     scale: torch.Tensor, labelled: torch.Tensor | None = None) -> torch.Tensor:
    """The 2D term (L_H's role) per pose [N]: squared error of the network's normalised 2D
    estimate ``xy_n`` [N, J, 2] against the 2D labels [N, J, 2] px mapped into the codec's frame
    (``center``, ``scale`` of :func:`weakpose.codec.encode_2d`), summed over the joints that
    ``labelled`` [N, J] marks (all when None; a missing detection never pulls towards (0, 0))."""
    target_n = (normalized_coordinates(labels, K) - center[:, None]) / scale[:, None, None]
    err = ((xy_n - target_n) ** 2).sum(-1)
    return (err if labelled is None else err * labelled.to(err.dtype)).sum(-1)


def weak_poses(uv: torch.Tensor, z_rel: torch.Tensor, K: torch.Tensor, scale_pair: tuple[int, int],
               root_depth_grad: bool = False) -> torch.Tensor:
    """Scale-normalised camera-frame poses [N, J, 3] of the weak losses: Eq. 2-3 from the 2D
    ``uv`` and relative depths; unless ``root_depth_grad`` the root depth is constant for the
    relative depths and a function of the 2D only (:func:`rebuild_with_fixed_root`)."""
    if root_depth_grad:
        return reconstruct_from_2p5d(uv, z_rel, K, scale_pair=tuple(scale_pair), C=1.0)[0]
    pts, z_root = reconstruct_from_2p5d(uv, z_rel.detach(), K, scale_pair=tuple(scale_pair), C=1.0)
    return rebuild_with_fixed_root(pts, z_root, z_rel)


def bone_scaled(poses: torch.Tensor, phi: torch.Tensor, mean_bones: torch.Tensor) -> torch.Tensor:
    """``mc_scale = "bones"`` (not in the paper): each view's pose [..., J, 3] times the
    least-squares factor that gives it the mean bone lengths ``mean_bones`` (supplementary Eq. 1,
    :func:`weakpose.geometry.bone_length_scale`, bones weighted by phi_j phi_j' as in Eq. 11),
    the factor a constant for autograd.

    Eq. 3 sets a view's size from the scale pair's two 2D joints alone, so detector noise on the
    pelvis or thorax gives the whole view a wrong size, which L_MC then reads as inconsistency of
    every joint; the fit over all bones averages that out. L_B keeps the pair-normalised pose.
    """
    parents, children = zip(*H36M17.bones)
    w = phi[..., list(parents)] * phi[..., list(children)]
    s = bone_length_scale(poses.detach(), mean_bones, weights=w)
    return poses * s[..., None, None]


def complete_2d(kp: torch.Tensor, conf: torch.Tensor, uv_est: torch.Tensor) -> torch.Tensor:
    """The input keypoints where observed, the network's estimate where missing (conf 0)."""
    return torch.where((conf > 0)[..., None], kp, uv_est)


class MultiviewPredictor:
    """2D keypoint file -> root-relative camera-frame 3D (mm) by 2.5D reconstruction."""

    def __init__(self, net: KeypointTwoPointFive, mean_bones_mm: np.ndarray, scale_pair: tuple[int, int],
                 depthless: bool = False, batch_size: int = 4096, refined_2d: bool = False):
        self.net = net.eval()
        # refined_2d: reconstruct from the network's 2D estimate of every joint (a model trained
        # with reconstruct_from=estimate, as the paper's network predicts its own 2D); else from
        # the input where observed and the estimate only where missing.
        self.refined_2d = refined_2d
        self.mean_bones_mm = np.asarray(mean_bones_mm, np.float32)
        self.scale_pair = tuple(scale_pair)
        self.depthless = depthless
        self.batch_size = batch_size

    def lift(self, kp: np.ndarray, conf: np.ndarray, K: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with torch.no_grad():
            kp_t, conf_t, K_t = (torch.from_numpy(np.ascontiguousarray(a)) for a in (kp, conf, K))
            z_rel, uv_est, _, _ = self.net(kp_t, conf_t, K_t)
            if self.depthless:
                z_rel = torch.zeros_like(z_rel)
            uv = uv_est if self.refined_2d else complete_2d(kp_t, conf_t, uv_est)
            pts, z_root = reconstruct_from_2p5d(uv, z_rel, K_t, scale_pair=self.scale_pair, C=1.0)
            rel = pts - pts[:, :1]
            # Supplementary Eq. 1 over the bones whose joints were observed (imputed joints are
            # less reliable; the paper's Eq. 1 has all bones, identical for complete inputs).
            s = bone_length_scale(rel, torch.from_numpy(self.mean_bones_mm),
                                  weights=observed_bone_weights(conf_t))
            pos = s[:, None, None] * rel
        return (pos.numpy().astype(np.float32), (s * z_root).numpy().astype(np.float32),
                uv.numpy().astype(np.float32))

    def predict(self, inputs: Keypoints2D) -> dict[str, np.ndarray]:
        if inputs.multiview:
            raise InputError(f"{inputs.path}: key 'keypoints_2d': multi-view input [N, C, J, 2]; "
                             "prediction takes single views [N, J, 2]")
        K = inputs.intrinsics
        if K is None:
            K = default_intrinsics(inputs.keypoints_2d, inputs.confidence, inputs.extras.get("image_size"))
        pos, root_depth, uv = batched(self.lift, [inputs.keypoints_2d, inputs.confidence, K], self.batch_size)
        # root_depth: pelvis depth (mm) at the bone-length scale; keypoints_2d_completed: the
        # input 2D with missing joints replaced by the network's estimate.
        return {"positions_3d": pos, "root_depth": root_depth, "keypoints_2d_completed": uv}


def training_bone_statistics(data_root, scale_pair: tuple[int, int], positions_3d: np.ndarray | None = None
                             ) -> tuple[np.ndarray, np.ndarray]:
    """Mean bone lengths of the training subjects (unpaired 3D: statistics only), or of the user's
    ``--train-3d`` poses ``positions_3d``, in mm (for supplementary Eq. 1) and divided per frame
    by the scale pair's length (mu of Eq. 11)."""
    train_3d = load_cmu(data_root, TRAIN_SUBJECTS).positions if positions_3d is None else positions_3d
    k, l = scale_pair
    pair = np.linalg.norm(train_3d[:, k] - train_3d[:, l], axis=-1)[:, None, None]
    return (mean_bone_lengths(train_3d).astype(np.float32),
            mean_bone_lengths(train_3d / pair).astype(np.float32))


def camera_rows(views: MultiViewSet) -> MultiViewSet:
    """A multi-view file's intrinsics, or where it has none the default camera of
    :func:`weakpose.camera.default_intrinsics` from its ``image_size`` (focal length
    ``DEFAULT_FOCAL_FACTOR`` x the larger image side, principal point at the centre); InputError
    when neither is known (Eq. 3 needs a camera)."""
    if views.intrinsics is None:
        if views.image_size is None:
            raise InputError(f"{views.path}: key 'intrinsics': missing; the 2.5D reconstruction (Eq. 3) needs the "
                             "camera (add intrinsics, or image_size to assume the default camera)")
        views.intrinsics = default_intrinsics(np.asarray(views.keypoints_2d), np.asarray(views.confidence),
                                              views.image_size)
    return views


class MultiviewMethod(Method):
    """Iqbal et al. 2020, the keypoint variant (``variant = "keypoint"``); the image variant
    subclasses it (:class:`weakpose.methods.multiview.image.ImageMultiviewMethod`). Data files:
    ``--train-multiview`` (multi-view 2D or tracklets; replaces the CMU-WS multi-view samples,
    phi = the files' confidences), ``--train-3d`` (the mean bone lengths of L_B and of the mm
    scale), ``--val``."""

    name = "multiview"
    Config = MultiviewConfig
    variant = "keypoint"
    data_kinds = ("train_multiview", "train_3d", "val")

    def __init__(self, config: MultiviewConfig, data_root, device: str = "cpu", dist: DistInfo | None = None,
                 sources: DataSources | None = None):
        self._validate(config)
        super().__init__(config, data_root, device, dist or DistInfo(), sources)
        c = config
        self.views_file = self.sources.train_multiview
        if self.views_file is not None:
            if c.supervision not in ("ws", "2d_only") or c.tracklets:
                raise InputError(f"config: key 'supervision': --train-multiview files have no 3D and no extrinsics; "
                                 f"use supervision ws (or 2d_only), not {c.supervision!r}, and no 'tracklets'")
            self.views_file = camera_rows(self.views_file)
        self.tracklets = camera_rows(TrackletSet.load(c.tracklets)) if c.tracklets else None
        # the CMU-WS multi-view samples, unless every sample comes from files
        only_files = self.views_file is not None or (self.tracklets is not None and c.tracklet_fraction >= 1)
        self.sampler = None if only_files else MultiViewSampler(
            self.data_root, TRAIN_SUBJECTS, stride=c.stride, seed=c.seed,
            keep_3d=c.supervision == "fs", keep_rotations=c.supervision == "ws_r")
        self.mean_bones_mm, norm = training_bone_statistics(self.data_root, tuple(c.scale_pair), self.sources.train_3d)
        self.mean_bones_norm = torch.as_tensor(norm, device=self.device)
        self.net = self.nets["net"]
        self.opt = torch.optim.Adam(self.net.parameters(), lr=c.lr)
        self.sched = torch.optim.lr_scheduler.MultiStepLR(
            self.opt, milestones=[max(1, int(round(c.lr_drop * c.steps)))], gamma=c.lr_final / c.lr)

    @classmethod
    def _validate(cls, c: MultiviewConfig) -> None:
        if c.tracklets and c.supervision not in ("ws", "2d_only"):
            raise InputError(f"config: key 'tracklets': tracklet videos have no 3D and no extrinsics; "
                             f"use them with supervision ws, not {c.supervision!r}")
        if c.labels not in LABELS:
            raise InputError(f"config: key 'labels': {c.labels!r} (choose {', '.join(LABELS)})")
        if c.reconstruct_from not in RECONSTRUCT_FROM:
            raise InputError(f"config: key 'reconstruct_from': {c.reconstruct_from!r} "
                             f"(choose {', '.join(RECONSTRUCT_FROM)})")
        if c.images and c.variant != "image":
            raise InputError("config: key 'images': photos are for the image variant (variant=image)")
        if c.supervision not in SUPERVISION:
            raise InputError(f"config: key 'supervision': {c.supervision!r} (choose {', '.join(SUPERVISION)})")
        if c.mc_scale not in MC_SCALE:
            raise InputError(f"config: key 'mc_scale': {c.mc_scale!r} (choose {', '.join(MC_SCALE)})")
        if not 0 <= c.input_mask < 1:
            raise InputError(f"config: key 'input_mask': {c.input_mask} (a probability in [0, 1))")
        if not 2 <= c.views <= 4:
            raise InputError(f"config: key 'views': {c.views} (multi-view consistency uses 2 to 4 views)")
        if len(c.scale_pair) != 2 or len(set(c.scale_pair)) != 2 or not all(0 <= i < J for i in c.scale_pair):
            raise InputError(f"config: key 'scale_pair': {c.scale_pair} is not two distinct joint indices")

    @classmethod
    def build_modules(cls, config: MultiviewConfig) -> dict[str, nn.Module]:
        return {"net": KeypointTwoPointFive(config.width, config.blocks, config.dropout,
                                            tuple(config.scale_pair), config.pair_depth_bound)}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"adam": self.opt}

    def schedulers(self) -> dict[str, Any]:
        return {"step": self.sched}

    def predictor_state(self) -> dict[str, Any]:
        return {"mean_bones_mm": self.mean_bones_mm.tolist()}

    @classmethod
    def make_predictor(cls, config: MultiviewConfig, nets: dict[str, nn.Module], state: dict[str, Any]
                       ) -> MultiviewPredictor:
        return MultiviewPredictor(nets["net"], np.asarray(state["mean_bones_mm"], np.float32),
                                  config.scale_pair, depthless=config.supervision == "2d_only",
                                  refined_2d=config.reconstruct_from == "estimate")

    def losses(self, batch) -> dict[str, torch.Tensor]:
        """All loss terms of one multi-view batch (see the module docstring)."""
        c = self.config
        t = lambda a: None if a is None else torch.from_numpy(a).to(self.device)  # noqa: E731
        kp, conf, labels, K = t(batch.keypoints_2d), t(batch.confidence), t(batch.labels_2d), t(batch.intrinsics)
        B, C = kp.shape[:2]
        flat = lambda x: x.reshape(B * C, *x.shape[2:])  # noqa: E731
        z_rel, uv_est, xy_n, (center, scale) = self.net(flat(kp), flat(conf), flat(K))
        # 2D term (L_H's role): the exact projections in the codec's normalised frame.
        # phi of the labels: 1 for exact projections, the detector's confidence for detections
        # (0 = missing: such a joint never contributes to L_2D, L_MC or L_B).
        label_conf = torch.ones_like(flat(conf)) if batch.label_confidence is None else flat(t(batch.label_confidence))
        l2d = estimate_2d_loss(xy_n, flat(labels), flat(K), center, scale, labelled=label_conf > 0)
        out = {"l2d": l2d.reshape(B, -1).sum(-1).mean()}
        if c.supervision == "2d_only":
            out["total"] = c.w2d * out["l2d"]
            return out
        if c.reconstruct_from == "labels":
            # The 3D poses of L_MC / L_B come from the 2D labels: the detections themselves
            # (labels=detector, phi = their confidence) or the exact projections (labels=exact,
            # phi = 1) while the network reads the noisy input. A missing label's joint is
            # placed by the network's (detached) 2D estimate; its phi is 0, so it only matters
            # where it is a scale-pair joint (Eq. 3's z_root).
            uv, phi = complete_2d(flat(labels), label_conf, uv_est.detach()), label_conf
        elif c.reconstruct_from == "estimate":
            # Iqbal et al. §3.3: the 3D of L_MC / L_B from the network's own 2D (here the input
            # refined by the network), differentiable, so that the multi-view consistency can
            # correct the 2D as well (gradient scaled by uv_grad); phi = the 2D labels' confidence.
            uv, phi = scale_gradient(uv_est, c.uv_grad), label_conf
        else:
            uv = complete_2d(flat(kp), flat(conf), uv_est)
            phi = torch.where(flat(conf) > 0, flat(conf), torch.full_like(flat(conf), c.imputed_confidence))
        if c.supervision == "fs":
            P = flat(t(batch.positions_3d))
            k, l = c.scale_pair
            s = (P[:, k] - P[:, l]).norm(dim=-1)
            z_gt = (P[..., 2] - P[:, :1, 2]) / s[:, None]
            out["lz"] = loss_fs(z_rel.reshape(B, C, J), z_gt.reshape(B, C, J))
            out["total"] = c.w2d * out["l2d"] + c.psi * out["lz"]
            return out
        poses = weak_poses(uv, z_rel, flat(K), tuple(c.scale_pair), c.root_depth_grad).reshape(B, C, J, 3)
        phi_v = phi.reshape(B, C, J)
        rot = t(batch.rotations) if c.supervision == "ws_r" else None
        out["lmc"] = loss_mc(poses if c.mc_scale == "pair" else bone_scaled(poses, phi_v, self.mean_bones_norm),
                             phi_v, rot)
        out["lb"] = loss_bone(poses, phi_v, self.mean_bones_norm)
        out["total"] = c.w2d * out["l2d"] + c.alpha * out["lmc"] + c.beta * out["lb"]
        return out

    def train_step(self, step: int) -> dict[str, float]:
        c = self.config
        hidden = lambda b: mask_detected_joints(b, self.rng, c.input_mask)  # noqa: E731  (detections)
        if self.views_file is not None:
            batch = hidden(detections_batch(*self.views_file.sample(self.rng, c.batch_size, c.views)))
        else:
            n_t = 0
            if self.tracklets is not None:
                n_t = (c.batch_size if self.sampler is None
                       else int(self.rng.binomial(c.batch_size, c.tracklet_fraction)))
            batch = None
            if n_t < c.batch_size:
                detector = c.labels == "detector"
                batch = self.sampler.sample(self.rng, c.batch_size - n_t, c.views, c.wild_fraction,
                                            1.0 if detector else c.noise_fraction)
                if detector:
                    batch = hidden(as_detections(batch))
            if n_t:
                tracked = hidden(detections_batch(*self.tracklets.sample(self.rng, n_t, c.views)))
                batch = concatenate_batches(batch, tracked)
        return optimizer_step(self.losses(self.shard(batch)), "total", self.opt, self.sched)


METHOD = Variants("multiview", MultiviewConfig, {
    "keypoint": "weakpose.methods.multiview.method:MultiviewMethod",
    "image": "weakpose.methods.multiview.image:ImageMultiviewMethod",
})
