"""Image variant of the multi-view method (Iqbal, Molchanov & Kautz, CVPR 2020, §3.2-3.3 and supp.).

``weakpose train multiview variant=image`` trains a heatmap network with 2J outputs on rendered
person crops (:mod:`weakpose.rendering`) of the CMU-WS training subjects:

* **2.5D read-out** (:func:`read_2p5d`): J 2D heatmaps -> spatial softmax with lambda = 50 ->
  soft-argmax (u, v) (Eq. 4); J latent depth maps -> scale-normalised relative depth as the
  heatmap-weighted sum (Eq. 5); confidences phi = the raw heatmap at (u, v) (Eq. 8's phi).
* **3D** by the analytic reconstruction of Eq. 2-3 (:func:`weakpose.geometry.reconstruct_from_2p5d`,
  shared with the keypoint variant) from the crop's 2D mapped back to the full image
  (:func:`poses_from_crops`).
* **Losses**, the keypoint variant's code (:mod:`weakpose.methods.multiview.losses`):
  L_WS = L_H + alpha L_MC + beta L_B (Eq. 7, alpha = 10, beta = 100), L_MC with the no-grad
  weighted Procrustes of Eq. 10 (``ws``) or known rotations (``ws_r``); L_FS = L_H + psi L_z
  (Eq. 6, ``fs``); ``2d_only`` = L_H alone (no L_MC; the 2D-only row, depth-less in 3D).
* **Training** (supplementary): 2D pre-training as the engine phase ``pretrain_2d``
  (:meth:`ImageMultiviewMethod.pretrain_step`; the depth-map weights are not pre-trained), then
  mixed batches of ``labelled_batch`` 2D-labelled images and ``batch_size`` unlabeled multi-view
  samples of ``views`` (C_n <= 4) views (``images = FILE.npz``: the 2D-labelled images are photos
  on disk, a 2D file with ``image_path`` as the MPII/COCO converters write,
  :mod:`weakpose.data.image_files`, for the pre-training and L_H alike; default: rendered crops of
  ``labelled_subjects``); the
  unlabeled images get pseudo 2D labels from the pre-trained 2D model where its confidence is
  > tau = 0.5, generated once at the start and kept fixed (the "additional regularisation").

Experimental split (our choice, so that "multi-view consistency lowers 2D error on unlabeled
views" can show up): 2D labels only for ``labelled_subjects`` (1, 3, 5) seen by random wild
cameras (the MPII role), unlabeled multi-view images of ``unlabeled_subjects`` (6, 7, 8)
through the h36m rig (the H36M-MV role: the paper's Table 1 rows with 2D = M, MV = H).

Choices the paper leaves open (docs/multiview.md, "Image variant"):

* L_H is the squared heatmap error **summed** over the joints and cells of an image and averaged
  over the images (like the keypoint variant's sums within a sample), so that alpha and beta keep
  their meaning next to it; joints outside the crop (and pseudo labels below tau) weigh 0.
* phi is a constant for autograd in L_MC / L_B (otherwise lowering the confidences is a way to
  lower both losses).
* The unlabeled multi-view images are a fixed pool of ``unlabeled_pool`` instants rendered once
  (scale/rotation augmentation drawn at render time), so that the pseudo labels can be generated
  once and kept fixed, as the paper does for H36M / 3DHP.
* By default (``root_depth_grad = false``) the root depth of Eq. 3 is differentiated with respect
  to the 2D but not the relative depths (:func:`poses_from_crops`), and the scale pair's depth
  difference is bounded as in the keypoint variant; L_MC moves the 2D heatmaps (§3.3) through
  the rays K^-1 [u, v, 1] and z_root, and through Eq. 5's weights.
* ``uv_grad`` (default 0.1) scales both gradient paths from L_MC / L_B into the 2D heatmaps
  (:func:`scale_gradient`; 1 = the paper's plain gradient, which wrecked the 2D at 64 px crops).
* ``mv_labels = true`` makes the multi-view images 2D-annotated (the paper's rows with
  2D = H+M): their labels replace the pseudo labels in L_H and the 3D of L_MC / L_B is
  reconstructed from them (phi = 1), as the keypoint variant's ``reconstruct_from = labels``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from weakpose.data.contracts import Keypoints2D
from weakpose.data.mocap import TRAIN_SUBJECTS
from weakpose.data.sources import DataSources
from weakpose.engine.distributed import DistInfo
from weakpose.engine.optim import optimizer_step
from weakpose.engine.phases import MAIN_PHASE, Phase
from weakpose.errors import InputError
from weakpose.geometry import bone_length_scale
from weakpose.methods.base import Method
from weakpose.methods.multiview.losses import loss_bone, loss_fs, loss_mc
from weakpose.methods.multiview.method import (
    MultiviewConfig,
    MultiviewMethod,
    bound_pair_depth,
    scale_gradient,
    training_bone_statistics,
    weak_poses,
)
from weakpose.methods.multiview.pretrain import Train2DConfig, batch_from_scene
from weakpose.models.heatmap_net import HeatmapNet, build_heatmap_net, normalize_images
from weakpose.rendering.scenes import RenderedMotion, Scene
from weakpose.vision.crops import apply_affine, color_augment
from weakpose.vision.heatmaps import (
    expected_value,
    gaussian_heatmaps,
    heatmap_loss,
    sample_heatmaps,
    soft_argmax,
    spatial_softmax,
)

J = 17


# --------------------------------------------------------------------------------------------
# Network read-out (Eq. 4, 5) and reconstruction
# --------------------------------------------------------------------------------------------
def read_2p5d(heatmaps: torch.Tensor, depth_maps: torch.Tensor, lam: float, stride: int,
              heatmap_grad: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """2.5D pose from the 2J network outputs [B, J, h, w] each.

    ``H_bar = softmax(H, lam)`` (spatial), ``(u, v) = sum_U U H_bar(U)`` in input pixels (Eq. 4),
    ``z_rel_j = sum H_bar_j * H^z_j`` (Eq. 5), and ``phi_j = H_j(u_j, v_j)`` (bilinear, clipped
    to [0, 1]; Eq. 8). Returns uv [B, J, 2], z_rel [B, J] (as read, not yet root-relative),
    phi [B, J]. ``heatmap_grad`` scales the gradient that reaches the heatmaps through Eq. 5's
    weights (1 = the plain formula).
    """
    if heatmaps.shape != depth_maps.shape:
        raise ValueError(f"heatmaps {tuple(heatmaps.shape)} and depth maps {tuple(depth_maps.shape)} differ")
    norm = spatial_softmax(heatmaps, lam)
    uv = soft_argmax(norm, stride)
    z_rel = expected_value(scale_gradient(norm, heatmap_grad), depth_maps)
    phi = sample_heatmaps(heatmaps, uv, stride).clamp(0.0, 1.0)
    return uv, z_rel, phi


class ImageTwoPointFive(nn.Module):
    """Heatmap network with 2J outputs (J heatmaps + J latent depth maps) -> 2.5D pose."""

    def __init__(self, backbone: str = "resnet-tiny-s2", lam: float = 50.0,
                 scale_pair: tuple[int, int] = (0, 8), pair_depth_bound: float = 0.75):
        super().__init__()
        self.net: HeatmapNet = build_heatmap_net(backbone, J, depth_maps=True)
        self.stride = self.net.stride
        self.lam = lam
        self.scale_pair = tuple(scale_pair)
        self.pair_depth_bound = pair_depth_bound

    def forward(self, rgb: torch.Tensor, heatmap_grad: float = 1.0) -> dict[str, torch.Tensor]:
        """rgb [B, H, W, 3] in [0, 1] -> heatmaps, depth_maps [B, J, h, w], uv [B, J, 2] (crop
        px), z_rel [B, J] (root 0, scale pair bounded), phi [B, J]. ``heatmap_grad`` scales the
        gradient from z_rel into the heatmaps (Eq. 5's weights)."""
        hm, dm = self.net(normalize_images(rgb))
        uv, z, phi = read_2p5d(hm, dm, self.lam, self.stride, heatmap_grad)
        z_rel = bound_pair_depth(z - z[:, :1], self.scale_pair, self.pair_depth_bound)
        return {"heatmaps": hm, "depth_maps": dm, "uv": uv, "z_rel": z_rel, "phi": phi}


def transfer_2d_weights(net: ImageTwoPointFive, state_2d: dict[str, torch.Tensor]) -> int:
    """Load a J-output 2D heatmap model into the 2J network: every tensor of matching shape, and
    for the output layer the first J channels (the heatmaps); the depth-map channels keep their
    initial values ("the additional weights for latent depth-maps are not pre-trained", supp.).
    Returns the number of tensors copied."""
    own = net.net.state_dict()
    n = 0
    with torch.no_grad():
        for k, v in state_2d.items():
            if k not in own:
                continue
            if own[k].shape == v.shape:
                own[k].copy_(v)
                n += 1
            elif v.dim() >= 1 and own[k].shape[0] == 2 * v.shape[0] and own[k].shape[1:] == v.shape[1:]:
                own[k][: v.shape[0]].copy_(v)
                n += 1
    return n


def poses_from_crops(uv_crop: torch.Tensor, z_rel: torch.Tensor, crop: torch.Tensor, K: torch.Tensor,
                     scale_pair: tuple[int, int], root_depth_grad: bool) -> torch.Tensor:
    """Scale-normalised camera-frame 3D [B, J, 3] (Eq. 2-3) from crop pixels.

    The crop's 2D goes back to full-image pixels through the exact inverse crop affine (crops
    may be rotated), then the shared reconstruction runs with the full camera K (equivalent to
    reconstructing with ``crop @ K``, which :func:`weakpose.camera.backproject` also inverts).

    With ``root_depth_grad`` false the root depth z_root of Eq. 3 is computed from the relative
    depths **held constant** but stays a function of the 2D: moving the 2D keeps the scale pair
    at length 1 (as Eq. 3 intends), while tilting the pair's relative depth cannot shrink the
    pose (the keypoint variant's shortcut, docs/multiview.md). Holding z_root fully constant
    instead opens a 2D shortcut: pulling every joint's 2D towards the root shrinks all views'
    poses alike and lowers L_MC (measured: 2D error 3.0 -> 4.3 px and MPJPE 181 -> 220 mm within
    500 steps). ``root_depth_grad`` true is the paper's full gradient.
    """
    return weak_poses(apply_affine(uv_crop, torch.linalg.inv(crop)), z_rel, K, scale_pair, root_depth_grad)


def inside_crop(uv: torch.Tensor, size: int) -> torch.Tensor:
    return (uv >= -0.5).all(-1) & (uv <= size - 0.5).all(-1)


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------
@dataclass
class ViewPool:
    """Fixed rendered multi-view crops [N, C, ...] (the unlabeled multi-view data or a test set).

    ``labels_2d`` / ``joints_cam`` are the renderer's exact labels: the weak modes use them only
    for evaluation, ``joints_cam`` only for the FS row, ``rotations`` only for WS + R."""

    rgb: torch.Tensor          # [N, C, S, S, 3] uint8
    crop: torch.Tensor         # [N, C, 3, 3] full image -> crop
    K: torch.Tensor            # [N, C, 3, 3] full camera intrinsics
    rotations: torch.Tensor    # [N, C, 3, 3] world -> camera
    labels_2d: torch.Tensor    # [N, C, J, 2] crop px
    joints_cam: torch.Tensor   # [N, C, J, 3] mm
    visible: torch.Tensor      # [N, C, J] bool

    @classmethod
    def from_scene(cls, scene: Scene) -> ViewPool:
        r = scene.render
        f = lambda a: torch.tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
        return cls((r.rgb * 255 + 0.5).clamp(0, 255).to(torch.uint8), f(scene.crop), f(scene.K), f(scene.R),
                   r.joints_2d, r.joints_cam, r.visible)

    @classmethod
    def render(cls, data_root, subjects, n: int, views: int, crop_size: int, seed: int, augment: bool,
               chunk: int = 64) -> ViewPool:
        src = RenderedMotion(Path(data_root), tuple(subjects), rig="h36m", seed=seed)
        parts = [cls.from_scene(src.sample(min(chunk, n - i), views, crop_size, augment=augment))
                 for i in range(0, n, chunk)]
        return cls(*(torch.cat([getattr(p, k) for p in parts]) for k in cls.__dataclass_fields__))

    def __len__(self) -> int:
        return len(self.rgb)

    def images(self, idx) -> torch.Tensor:
        return self.rgb[idx].to(torch.float32) / 255.0


def unlabeled_pool(c: MultiviewConfig, data_root) -> ViewPool:
    """The fixed unlabeled multi-view images of a config: ``unlabeled_pool`` random instants of
    ``unlabeled_subjects`` through the 4 h36m-rig cameras, scale/rotation augmentation drawn once."""
    return ViewPool.render(data_root, c.unlabeled_subjects, c.unlabeled_pool, 4, c.crop_size, c.seed + 23, augment=True)


def render_test_views(data_root, instants: int, crop_size: int, seed: int = 2024, *,
                      subjects: tuple[int, ...]) -> ViewPool:
    """A fixed image-variant evaluation set: ``instants`` random frames of ``subjects`` rendered
    through the 4 h36m-rig cameras as person crops, no augmentation. ``subjects`` has no default:
    the training monitor passes the training subjects, evaluation scripts the CMU-WS test
    subjects (2, 9), so no caller reaches the test subjects by omission."""
    return ViewPool.render(data_root, subjects, instants, 4, crop_size, seed, augment=False)


@torch.no_grad()
def run_network(net: ImageTwoPointFive, rgb_uint8: torch.Tensor, batch: int = 128) -> dict[str, torch.Tensor]:
    """uv, z_rel, phi of every image [N, S, S, 3] uint8 (eval mode, in chunks)."""
    was = net.training
    net.eval()
    outs = []
    for i in range(0, len(rgb_uint8), batch):
        o = net(rgb_uint8[i:i + batch].to(torch.float32) / 255.0)
        outs.append({k: o[k] for k in ("uv", "z_rel", "phi")})
    net.train(was)
    return {k: torch.cat([o[k] for o in outs]) for k in outs[0]}


def pseudo_labels(net: ImageTwoPointFive, rgb_uint8: torch.Tensor, tau: float = 0.5
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Pseudo 2D labels of images [N, S, S, 3]: the network's joints and a weight of 1 where its
    confidence exceeds ``tau`` (Iqbal et al. §3.3, tau = 0.5), else 0."""
    o = run_network(net, rgb_uint8)
    return o["uv"], (o["phi"] > tau).to(torch.float32)


# --------------------------------------------------------------------------------------------
# Prediction and evaluation
# --------------------------------------------------------------------------------------------
class ImagePredictor:
    """Person crops -> root-relative camera-frame 3D (mm), 2D (crop px) and confidences.

    The metric scale is the least-squares fit of the bone lengths to the training subjects'
    means (supplementary Eq. 1). ``depthless`` (the 2D-only row) sets z_rel = 0."""

    def __init__(self, net: ImageTwoPointFive, mean_bones_mm: np.ndarray, scale_pair: tuple[int, int],
                 depthless: bool = False, batch_size: int = 128, crop_size: int | None = None):
        self.net = net.eval()
        self.crop_size = crop_size  # the side of the crops it was trained on (the config's crop_size)
        self.mean_bones_mm = torch.as_tensor(np.asarray(mean_bones_mm, np.float32))
        self.scale_pair = tuple(scale_pair)
        self.depthless = depthless
        self.batch_size = batch_size

    @torch.no_grad()
    def predict_crops(self, rgb: torch.Tensor, crop: torch.Tensor, K: torch.Tensor) -> dict[str, np.ndarray]:
        """rgb [N, S, S, 3] (uint8 or float in [0, 1]); crop [N, 3, 3] full image -> crop px;
        K [N, 3, 3] the full camera. Returns ``positions_3d`` [N, J, 3] mm (camera frame,
        root-relative), ``keypoints_2d`` [N, J, 2] crop px, ``confidence`` [N, J], ``z_rel`` [N, J]."""
        rgb = torch.as_tensor(rgb)
        if rgb.ndim != 4 or rgb.shape[-1] != 3:
            raise InputError(f"images: shape {tuple(rgb.shape)} is not [N, H, W, 3]")
        u8 = rgb if rgb.dtype == torch.uint8 else (rgb.clamp(0, 1) * 255 + 0.5).to(torch.uint8)
        o = run_network(self.net, u8, self.batch_size)
        z = torch.zeros_like(o["z_rel"]) if self.depthless else o["z_rel"]
        crop, K = torch.as_tensor(crop, dtype=torch.float32), torch.as_tensor(K, dtype=torch.float32)
        pts = poses_from_crops(o["uv"], z, crop, K, self.scale_pair, True)
        rel = pts - pts[:, :1]
        s = bone_length_scale(rel, self.mean_bones_mm)
        return {"positions_3d": (s[:, None, None] * rel).numpy(), "keypoints_2d": o["uv"].numpy(),
                "confidence": o["phi"].numpy(), "z_rel": z.numpy()}

    def predict(self, inputs: Keypoints2D) -> dict[str, np.ndarray]:
        raise InputError(f"{inputs.path}: the image variant of the multi-view method reads person crops, "
                         "not 2D keypoints (give images: `weakpose predict --image`, or a 2D file with "
                         "'image_path'; see docs/images.md)")


def evaluate_views(predictor: ImagePredictor, pool: ViewPool) -> dict[str, float]:
    """3D MPJPE / PA-MPJPE (mm, bone-length scale) and 2D errors (crop px, joints inside the
    crop) of a predictor on a :class:`ViewPool` (every view of every instant)."""
    from weakpose.metrics import mpjpe, pa_mpjpe

    N, C = pool.rgb.shape[:2]
    flat = lambda a: a.reshape(N * C, *a.shape[2:])  # noqa: E731
    out = predictor.predict_crops(flat(pool.rgb), flat(pool.crop), flat(pool.K))
    gt = flat(pool.joints_cam).numpy().astype(np.float64)
    pred = out["positions_3d"].astype(np.float64)
    lab = flat(pool.labels_2d)
    err = (torch.from_numpy(out["keypoints_2d"]) - lab).norm(dim=-1)
    inside = inside_crop(lab, pool.rgb.shape[2])
    vis = flat(pool.visible) & inside
    return {"mpjpe": float(mpjpe(pred, gt).mean()), "pa_mpjpe": float(pa_mpjpe(pred, gt).mean()),
            "px": float(err[inside].mean()), "px_visible": float(err[vis].mean()),
            "px_hidden": float(err[inside & ~vis].mean()) if (inside & ~vis).any() else float("nan"),
            "pck5": float((err[inside] < 0.05 * pool.rgb.shape[2]).float().mean() * 100)}


# --------------------------------------------------------------------------------------------
# The method
# --------------------------------------------------------------------------------------------
def load_pretrained_2d(path: str | Path, backbone: str) -> dict[str, torch.Tensor]:
    """The 2D heatmap weights (a J-output :class:`HeatmapNet` state, for :func:`transfer_2d_weights`)
    of ``pretrained_2d``: a run of ``weakpose train multiview variant=image`` (its folder: the
    final ``model.pt``, else ``last.pt``; or a checkpoint file), e.g. one stopped after its
    ``pretrain_2d`` phase with ``--stop-after``. Its depth-map channels are not used. Read with
    ``weights_only=True``."""
    from weakpose.engine.checkpoint import FINAL_MODEL, LAST_CHECKPOINT, load_checkpoint

    p = Path(path)
    if not p.exists():
        raise InputError(f"config: key 'pretrained_2d': {p} does not exist")
    if p.is_dir() and not (p / FINAL_MODEL).exists():
        p = p / LAST_CHECKPOINT
    payload = load_checkpoint(p)
    cfg = payload["config"]
    if payload["method"] != "multiview" or cfg.get("variant") != "image":
        raise InputError(f"{p}: key 'method': a {payload['method']!r} run (variant {cfg.get('variant')!r}); "
                         "pretrained_2d takes a run of `weakpose train multiview variant=image`")
    if cfg.get("backbone") != backbone:
        raise InputError(f"{p}: key 'backbone': {cfg.get('backbone')!r}, this run has {backbone!r}")
    own = {k[len("net."):]: v for k, v in payload["modules"]["net"].items() if k.startswith("net.")}
    ref = build_heatmap_net(backbone, J).state_dict()
    # the output layer has 2J channels (heatmaps, then depth maps): keep the heatmaps
    return {k: (v[: ref[k].shape[0]] if ref[k].shape != v.shape else v) for k, v in own.items() if k in ref}


class ImageMultiviewMethod(MultiviewMethod):
    """``weakpose train multiview variant=image`` (see the module docstring). Two engine phases:
    ``pretrain_2d`` (``pretrain_steps`` steps of L_H on the 2D-labelled images, its own Adam at
    ``pretrain_lr``, dropped 10x after 80 % of the phase) and ``train`` (``steps`` steps of the
    weak losses), which begins by generating the fixed pseudo labels."""

    variant = "image"
    #: ``--train-3d`` only (the mean bone lengths): the network trains on rendered images, so 2D
    #: files train the keypoint variant, and the monitor renders training-subject views
    #: (:meth:`evaluate`), so ``--val`` would go unread.
    data_kinds = ("train_3d",)

    @classmethod
    def _validate(cls, c: MultiviewConfig) -> None:
        if c.tracklets:
            raise InputError("config: key 'tracklets': the image variant trains on rendered images, not tracklets")
        if c.labelled_rig not in ("wild", "h36m"):
            raise InputError(f"config: key 'labelled_rig': {c.labelled_rig!r} (wild or h36m)")
        if c.crop_size % 32:
            raise InputError(f"config: key 'crop_size': {c.crop_size} is not a multiple of 32")
        if set(c.labelled_subjects) & set(c.unlabeled_subjects) or not set(c.labelled_subjects) | set(
                c.unlabeled_subjects) <= set(TRAIN_SUBJECTS):
            raise InputError("config: keys 'labelled_subjects'/'unlabeled_subjects': must be disjoint "
                             f"training subjects {TRAIN_SUBJECTS}")
        super()._validate(c)

    def __init__(self, config: MultiviewConfig, data_root, device: str = "cpu", dist: DistInfo | None = None,
                 sources: DataSources | None = None):
        self._validate(config)
        Method.__init__(self, config, data_root, device, dist or DistInfo(), sources)
        c = config
        self.mean_bones_mm, norm = training_bone_statistics(self.data_root, tuple(c.scale_pair), self.sources.train_3d)
        self.mean_bones_norm = torch.as_tensor(norm, device=self.device)
        self.net = self.nets["net"]
        if c.pretrained_2d:
            transfer_2d_weights(self.net, load_pretrained_2d(c.pretrained_2d, c.backbone))
        self.labelled = RenderedMotion(self.data_root, tuple(c.labelled_subjects), rig=c.labelled_rig, seed=c.seed + 11)
        self.own_generator("labelled_images", self.labelled.rng)
        self.labelled_files = labelled_image_files(c)
        self.pool = unlabeled_pool(c, self.data_root)
        self.color = self.own_generator("colour", torch.Generator().manual_seed(c.seed + 37))
        # 2D pre-training: its own image stream (rendered crops, or the photos of ``images``),
        # colour augmentation and optimiser
        self.pretrain_images = RenderedMotion(self.data_root, tuple(c.labelled_subjects), rig=c.labelled_rig,
                                              seed=c.seed)
        self.own_generator("pretrain_images", self.pretrain_images.rng)
        self.pretrain_files_rng = self.own_generator("pretrain_files", np.random.default_rng(c.seed))
        self.pretrain_color = self.own_generator("pretrain_colour", torch.Generator().manual_seed(c.seed))
        self.pretrain_opt = torch.optim.Adam(self.net.parameters(), lr=c.pretrain_lr)
        self.pretrain_sched = torch.optim.lr_scheduler.MultiStepLR(
            self.pretrain_opt, [max(1, int(Train2DConfig.lr_drop_at * self.pretrain_steps()))], 0.1)
        self.pseudo_uv = self.pseudo_w = None
        self.prepared = False
        self.opt = torch.optim.Adam(self.net.parameters(), lr=c.lr)
        self.sched = torch.optim.lr_scheduler.MultiStepLR(
            self.opt, milestones=[max(1, int(round(c.lr_drop * c.steps)))], gamma=c.lr_final / c.lr)
        self._test = None

    @classmethod
    def build_modules(cls, config: MultiviewConfig) -> dict[str, nn.Module]:
        return {
            "net": ImageTwoPointFive(config.backbone, config.lam, tuple(config.scale_pair), config.pair_depth_bound)
        }

    @classmethod
    def make_predictor(
        cls, config: MultiviewConfig, nets: dict[str, nn.Module], state: dict[str, Any]
    ) -> ImagePredictor:
        return ImagePredictor(nets["net"], np.asarray(state["mean_bones_mm"], np.float32), config.scale_pair,
                              depthless=config.supervision == "2d_only", crop_size=config.crop_size)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"adam": self.opt, "pretrain_adam": self.pretrain_opt}

    def schedulers(self) -> dict[str, Any]:
        return {"step": self.sched, "pretrain_step": self.pretrain_sched}

    def sharded_batch_sizes(self) -> dict[str, int]:
        return {"batch_size": self.config.batch_size, "labelled_batch": self.config.labelled_batch}

    def pretrain_steps(self) -> int:
        """Steps of the ``pretrain_2d`` phase: none when ``pretrained_2d`` gives the weights."""
        return 0 if self.config.pretrained_2d else self.config.pretrain_steps

    def phases(self) -> tuple[Phase, ...]:
        return (Phase("pretrain_2d", self.pretrain_steps(), self.pretrain_step),
                Phase(MAIN_PHASE, self.config.steps, self.train_step, begin=self.prepare))

    # --- 2D pre-training (supplementary): L_H on the 2D-labelled images -------------------------
    def pretrain_step(self, step: int) -> dict[str, float]:
        """One step of 2D pre-training of the heatmap channels (L_H) on ``labelled_batch``
        2D-labelled images: rendered crops of the labelled subjects, or the photos of ``images``
        (scale/rotation and colour augmentation; joints unlabelled or outside the crop weigh 0).
        The depth-map channels get no gradient, so they keep their initial values ("the
        additional weights for latent depth-maps are not pre-trained", supp.). The global batch
        is drawn on every process (identically); each trains on its share, and L_H being a mean
        over images, the averaged gradients are the one-process ones."""
        c = self.config
        if self.labelled_files is not None:
            crops = self.labelled_files.sample(self.pretrain_files_rng, c.labelled_batch, c.crop_size, augment=True)
            rgb, j2d, weight = crops.rgb, crops.keypoints, crops.weight
        else:
            rgb, j2d, _ = batch_from_scene(self.pretrain_images.sample(c.labelled_batch, 1, c.crop_size, augment=True))
            weight = inside_crop(j2d, c.crop_size).float()
        rgb, j2d, weight = self.shard((color_augment(rgb, self.pretrain_color), j2d, weight))
        heatmaps, _ = self.net.net(normalize_images(rgb.to(self.device)))
        hm = c.crop_size // self.net.stride
        target = gaussian_heatmaps(j2d, hm, hm, self.net.stride, c.sigma).to(self.device)
        loss = heatmap_loss(heatmaps, target, weight.to(self.device))
        return optimizer_step({"lh_2d": loss}, "lh_2d", self.pretrain_opt, self.pretrain_sched)

    # --- the fixed pseudo labels (beginning of the train phase) ---------------------------------
    def prepare(self) -> None:
        """The pseudo labels of the unlabeled pool from the pre-trained network, once; a resumed
        run restores them from its checkpoint instead."""
        c = self.config
        if c.pseudo_labels:
            uv, w = pseudo_labels(self.net, self.pool.rgb.reshape(-1, *self.pool.rgb.shape[2:]), c.pseudo_tau)
            self.pseudo_uv = uv.reshape(*self.pool.rgb.shape[:2], J, 2)
            self.pseudo_w = w.reshape(*self.pool.rgb.shape[:2], J)
        self.prepared = True

    def extra_state(self) -> dict[str, Any]:
        """What resuming needs besides the engine's state: the fixed pseudo labels."""
        return {"prepared": self.prepared, "pseudo_uv": self.pseudo_uv, "pseudo_w": self.pseudo_w}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.prepared = bool(state.get("prepared", False))
        self.pseudo_uv, self.pseudo_w = state.get("pseudo_uv"), state.get("pseudo_w")

    # --- losses ---------------------------------------------------------------------------------
    def labelled_batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(rgb, 2D labels in crop px, per-joint weight: 0 for unlabelled joints) of the
        2D-labelled images: photos of ``images`` or rendered crops."""
        c = self.config
        if self.labelled_files is not None:
            crops = self.labelled_files.sample(self.rng, c.labelled_batch, c.crop_size)
            return color_augment(crops.rgb, self.color), crops.keypoints, (crops.confidence > 0).to(torch.float32)
        scene = self.labelled.sample(c.labelled_batch, 1, c.crop_size, augment=True)
        rgb, j2d, _ = batch_from_scene(scene)
        return color_augment(rgb, self.color), j2d, torch.ones(len(rgb), J)

    def unlabeled_batch(self) -> dict[str, torch.Tensor]:
        c = self.config
        n = self.rng.integers(0, len(self.pool), c.batch_size)
        views = np.argsort(self.rng.random((c.batch_size, self.pool.rgb.shape[1])), 1)[:, :c.views]
        take = lambda a: a[torch.as_tensor(n)[:, None], torch.as_tensor(views)]  # noqa: E731
        out = {k: take(getattr(self.pool, k)) for k in ("rgb", "crop", "K", "rotations", "joints_cam", "labels_2d")}
        B, C, S = c.batch_size, c.views, c.crop_size
        out["rgb"] = color_augment(out["rgb"].reshape(B * C, S, S, 3).to(torch.float32) / 255.0,
                                   self.color).reshape(B, C, S, S, 3)
        if self.pseudo_uv is not None:
            out["pseudo_uv"], out["pseudo_w"] = take(self.pseudo_uv), take(self.pseudo_w)
        return out

    def targets(self, uv: torch.Tensor, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.config
        hm = c.crop_size // self.net.stride
        uv, weight = uv.cpu(), weight.cpu()
        w = weight * inside_crop(uv, c.crop_size).to(weight.dtype)
        return gaussian_heatmaps(uv, hm, hm, self.net.stride, c.sigma).to(self.device), w.to(self.device)

    def losses(self, batch) -> dict[str, torch.Tensor]:
        """All loss terms of one mixed batch: ``batch = (labelled rgb, labelled 2D, their weights,
        unlabeled dict)`` (:meth:`labelled_batch`, :meth:`unlabeled_batch`: colour-augmented images)."""
        c = self.config
        rgb_l, j2d_l, w_l, mv = batch
        B, C = mv["rgb"].shape[:2]
        S = c.crop_size
        rgb_u = mv["rgb"].reshape(B * C, S, S, 3)
        n_l = len(rgb_l)
        o = self.net(torch.cat([rgb_l, rgb_u]).to(self.device), heatmap_grad=c.uv_grad)
        hm_l, hm_u = o["heatmaps"][:n_l], o["heatmaps"][n_l:]
        target, w = self.targets(j2d_l, w_l)
        out = {"lh": heatmap_loss(hm_l, target, w)}
        total = out["lh"]
        if c.mv_labels:
            # 2D-annotated multi-view images (the paper's rows with 2D = H+M)
            target_u, w_u = self.targets(mv["labels_2d"].reshape(B * C, J, 2), torch.ones(B * C, J))
            out["lh_mv"] = heatmap_loss(hm_u, target_u, w_u)
            total = total + out["lh_mv"]
        elif "pseudo_uv" in mv:
            target_u, w_u = self.targets(mv["pseudo_uv"].reshape(B * C, J, 2), mv["pseudo_w"].reshape(B * C, J))
            out["lh_pseudo"] = heatmap_loss(hm_u, target_u, w_u)
            total = total + out["lh_pseudo"]
        if c.supervision == "2d_only":
            out["total"] = total
            return out
        uv_u, z_u, phi_u = o["uv"][n_l:], o["z_rel"][n_l:], o["phi"][n_l:].detach()
        flat = lambda a: a.reshape(B * C, *a.shape[2:]).to(self.device)  # noqa: E731
        if c.supervision == "fs":
            P = flat(mv["joints_cam"])
            k, l = c.scale_pair
            z_gt = (P[..., 2] - P[:, :1, 2]) / (P[:, k] - P[:, l]).norm(dim=-1)[:, None]
            out["lz"] = loss_fs(z_u.reshape(B, C, J), z_gt.reshape(B, C, J))
            out["total"] = total + c.psi * out["lz"]
            return out
        if c.mv_labels:
            # as the keypoint variant's default: the 3D of L_MC / L_B from the 2D labels, phi = 1
            uv_u, phi_u = flat(mv["labels_2d"]), torch.ones_like(phi_u)
        uv_u = scale_gradient(uv_u, c.uv_grad)
        pts = poses_from_crops(uv_u, z_u, flat(mv["crop"]), flat(mv["K"]), tuple(c.scale_pair), c.root_depth_grad)
        poses, phi = pts.reshape(B, C, J, 3), phi_u.reshape(B, C, J)
        rot = mv["rotations"].to(self.device) if c.supervision == "ws_r" else None
        out["lmc"] = loss_mc(poses, phi, rot)
        out["lb"] = loss_bone(poses, phi, self.mean_bones_norm)
        out["total"] = total + c.alpha * out["lmc"] + c.beta * out["lb"]
        return out

    def train_step(self, step: int) -> dict[str, float]:
        """One step of the weak losses on this process's share of the mixed global batch."""
        if not self.prepared:
            self.prepare()
        terms = self.losses(self.shard((*self.labelled_batch(), self.unlabeled_batch())))
        return optimizer_step(terms, "total", self.opt, self.sched)

    # --- monitoring -----------------------------------------------------------------------------
    def evaluate(self) -> dict[str, float]:
        """3D and 2D errors on ``monitor_instants`` fixed rendered training-subject instants (x 4 views) and
        the 2D error on the unlabeled pool (against the renderer's labels, never trained on)."""
        c = self.config
        if self._test is None:
            self._test = render_test_views(self.data_root, c.monitor_instants, c.crop_size, seed=c.test_seed,
                                           subjects=TRAIN_SUBJECTS)  # monitoring: never the test subjects
        pred = self.predictor()
        res = {f"monitor/{k}": v for k, v in evaluate_views(pred, self._test).items()}
        sub = ViewPool(*(getattr(self.pool, k)[:64] for k in ViewPool.__dataclass_fields__))
        res["monitor/pool_px"] = evaluate_views(pred, sub)["px"]
        self.net.train()
        return res


def labelled_image_files(c: MultiviewConfig):
    """The ``images`` file of a config as :class:`weakpose.data.image_files.ImageFiles`, or None."""
    if not c.images:
        return None
    from weakpose.data.image_files import ImageFiles

    return ImageFiles(c.images)

