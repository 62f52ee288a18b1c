"""``weakpose train flows-ws``: weakly supervised network training of Zanfir et al. §2.3 (Table 2).

A network predicts the latent code z of a trained normalizing-flow prior (``prior``: a
``weakpose train prior`` run), the shape β and the root orientation from 2D keypoints
(:class:`weakpose.methods.flows.pose_shape_net.KeypointPoseShapeNet`; ``variant = "image"`` selects
the multi-stage image network of :mod:`weakpose.methods.flows.multistage`, trained by
:class:`weakpose.methods.flows.ws_image.ImageFlowsWSMethod`); the pose is θ = f⁻¹(z) and the
3D joints come from the body model's forward kinematics (:func:`~weakpose.methods.flows.pose_shape_net.decode`).

Schedule (§2.3, §3 "Fully to Weakly Supervised Transfer Learning"):

* steps ``[0, fs_steps)``: the **FS** phase on the supervised partition
  (``supervised_fraction`` of the training frames, whole clips): ``L_total = L_fs + L_ws``
  (the paper's "during fully supervised training we use L_total"; ``fs_with_ws = false`` gives
  L_fs alone);
* steps ``[fs_steps, steps)``: the **WS** phase, ``L_ws`` (Eq. 11) on all training frames, no 3D.

``supervised_fraction = 0`` is WS only (no FS phase). With ``variant = "image"`` and ``images = FILE``
(a 2D file with ``image_path``, :mod:`weakpose.data.image_files`) the WS phase trains on those
photos (:meth:`weakpose.methods.flows.ws_image.ImageFlowsWSMethod.file_image_losses`). ``init`` starts from another
``flows-ws`` run's weights (Table 2: an FS run continued by a WS run). The flow and the body
model are copied into this run's checkpoint (frozen), so ``weakpose predict`` needs only the run.
Losses: :mod:`weakpose.methods.flows.ws_losses`; data: :mod:`weakpose.methods.flows.ws_data`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from weakpose.camera import default_intrinsics
from weakpose.data.contracts import Keypoints2D
from weakpose.data.sources import DataSources
from weakpose.engine.config import TrainConfig, config_from_dict, setting
from weakpose.engine.distributed import DistInfo
from weakpose.engine.optim import adam_with_cosine, optimizer_step
from weakpose.engine.phases import MAIN_PHASE, Phase
from weakpose.engine.rng import seed_everything, set_generator_state
from weakpose.errors import InputError
from weakpose.methods.base import Method, Variants, batched, freeze
from weakpose.methods.flows.body import cmu_tree
from weakpose.methods.flows.body.model import BodyModel
from weakpose.methods.flows.body.pose import check_representation
from weakpose.methods.flows.fitting.pose_space import PoseSpace
from weakpose.methods.flows.pose_shape_net import KeypointPoseShapeNet, decode
from weakpose.methods.flows.priors.flow import FlowConfig, NormalizingFlow
from weakpose.methods.flows.restarts import RestartRecord, candidate_phase, candidate_seed, selection_score
from weakpose.methods.flows.ws_data import PoseBatch, PoseSampler, theta_vectors
from weakpose.methods.flows.ws_losses import WSWeights, fully_supervised_loss, weakly_supervised_loss


@dataclass
class FlowsWSConfig(TrainConfig):
    RENAMED_KEYS: ClassVar[dict[str, str]] = {"net": "variant"}   # former name: older configs and checkpoints load

    steps: int = 6000
    batch_size: int = 128
    lr: float = 1e-3
    lr_final: float = 1e-5
    eval_every: int = 1000
    checkpoint_every: int = 1000
    prior: str = ""                  # run folder of `weakpose train prior` (required unless `init` is given)
    init: str = ""                   # a flows-ws run to start from (its networks, flow and body model)
    rep: str = "aa"                  # rotation representation of the prior's flow
    supervised_fraction: float = 0.2  # share of the training frames with 3D (whole clips); 0 = WS only
    fs_steps: int = 3000             # steps of the FS phase; the remaining steps are WS
    fs_with_ws: bool = True          # FS phase loss L_fs + L_ws (paper) or L_fs alone
    sigma_kp: float = 5.0            # px; sets w_ψ = 2σ²/J and w_β = σ²/J of L_ws (as the fitter)
    w_ba: float = 0.0                # weight of L_BA (px); > 0 renders a mask pool
    mask_pool: int = 4096            # samples with rendered part masks (when w_ba > 0)
    mask_size: int = 128             # crop size the masks are rendered at (1 px ≈ 3.5 image px)
    mask_pixels: int = 2048          # mask pixels per sample used by L_BA (≈ all of a 128 px mask)
    noise_fraction: float = 0.0      # share of samples with the benchmark's detector noise
    restarts: int = setting(1, minimum=1)  # candidate networks (whole schedule each, seeds seed + 1000 r); the one
                                     # with the lowest L_ws on fixed training frames is kept (not in the paper;
                                     # weakpose.methods.flows.restarts); 1 = the paper's single run
    truncate_fraction: float = 0.0   # share of samples cut by the image border (data.noise.border_truncation)
    variant: str = "keypoint"        # network input: keypoint | image (multi-stage image network)
    width: int = setting(512, minimum=1)  # keypoint network: residual MLP width / blocks / dropout / norm
    blocks: int = 2
    dropout: float = 0.0
    norm: str = "batch"
    # image network (variant = "image", weakpose.methods.flows.multistage); CPU size by default
    image_size: int = 64             # rendered crop side (multiple of 32)
    image_backbone: str = "resnet-tiny"  # keypoint-heatmap stage (weakpose.models.heatmap_net)
    image_seg_channels: int = 32     # segmentation stage: maps / conv layers
    image_seg_layers: int = 2
    image_pose_stages: int = 2       # pose-and-shape stages (losses on each)
    image_pose_channels: int = 32    # maps per conv layer (paper: 128)
    image_pose_layers: int = 2       # k×k conv layers per stage (paper: 5)
    image_kernel: int = 3            # k (paper: 7)
    w_heatmap: float = 22.98         # stage 1 loss weight on L_H summed over 16 x 16 cells x 17 joints
                                     # (= the former 1e5 on the per-cell mean: 1e5 / 4352)
    w_segmentation: float = 1e3      # stage 2 loss weight (part cross-entropy)
    eval_rendered: int = 256         # image network: rendered test-subject crops scored by evaluate()
    images: str = ""                 # image network: 2D file with image_path (+ box): photos for the WS phase
    # copied from the prior run when training starts (the checkpoint rebuilds the flow from them)
    flow_kind: str = "realnvp"
    flow_steps: int = 6
    flow_hidden: int = setting(128, minimum=1)
    flow_layers: int = 2
    num_betas: int = 4


def _load_run(path: str, method: str, key: str) -> dict[str, Any]:
    from weakpose.engine.checkpoint import load_checkpoint

    try:
        payload = load_checkpoint(path)
    except FileNotFoundError:
        raise InputError(f"config: key '{key}': {path}: no run found") from None
    if payload.get("method") != method:
        raise InputError(f"config: key '{key}': {path} is a {payload.get('method')!r} run, not {method!r}")
    return payload


class FlowsWSMethod(Method):
    """The keypoint-input network (``variant = "keypoint"``); the image variant subclasses it
    (:class:`weakpose.methods.flows.ws_image.ImageFlowsWSMethod`)."""

    name = "flows-ws"
    Config = FlowsWSConfig
    variant = "keypoint"
    #: Only ``--val``: L_fs needs joint rotations, shape and root orientation besides 3D joints,
    #: and the weak phase's part-alignment masks are rendered from the body model, so
    #: ``--train-paired``/``--train-2d`` files cannot feed it (see docs/own-data.md).
    data_kinds = ("val",)

    @classmethod
    def build_modules(cls, config: FlowsWSConfig) -> dict[str, nn.Module]:
        S = len(cmu_tree.SEGMENT_NAMES)
        d = len(cmu_tree.POSED_SEGMENTS) * check_representation(config.rep)
        flow = NormalizingFlow(
            FlowConfig(d, config.flow_kind, config.flow_steps, config.flow_hidden, config.flow_layers))
        return {
            "body": BodyModel(np.zeros((S, 3)), np.zeros((config.num_betas, S))),
            "flow": flow,
            "net": cls.build_network(config, d),
        }

    @classmethod
    def build_network(cls, config: FlowsWSConfig, latent_size: int) -> nn.Module:
        """The network mapping the input to the flow's latent code, shape and root orientation."""
        return KeypointPoseShapeNet(latent_size, config.num_betas, config.width, config.blocks, config.dropout,
                                    config.norm)

    def __init__(self, config: FlowsWSConfig, data_root: Path, device: str = "cpu", dist: DistInfo = DistInfo(),
                 sources: DataSources | None = None) -> None:
        check_representation(config.rep)
        init = _load_run(config.init, self.name, "init") if config.init else None
        prior = None
        if init is not None:
            init_config = config_from_dict(FlowsWSConfig, init["config"])
            arch = ("rep", "variant", "width", "blocks", "norm") + tuple(
                k for k in init["config"] if k.startswith("image_") and config.variant == "image")
            for k in arch:
                if getattr(init_config, k) != getattr(config, k):
                    raise InputError(f"config: key '{k}': {config.init} has {getattr(init_config, k)!r}, "
                                     f"this run {getattr(config, k)!r}")
            for k in ("flow_steps", "flow_hidden", "flow_layers", "num_betas"):
                setattr(config, k, init["config"][k])
            config.flow_kind = init["config"].get("flow_kind", "realnvp")  # runs before issue 16: Real-NVP
        elif config.prior:
            prior = _load_run(config.prior, "prior", "prior")
            pc = prior["config"]
            if config.rep not in pc["representations"]:
                raise InputError(f"config: key 'rep': prior run {config.prior} has no {config.rep!r} flow")
            config.flow_steps, config.flow_hidden, config.flow_layers = (
                pc["flow_steps"],
                pc["flow_hidden"],
                pc["flow_layers"],
            )
            config.flow_kind = pc.get("flow_kind", "realnvp")  # prior runs before issue 16: Real-NVP
            config.num_betas = pc["num_betas"]
        else:
            raise InputError("config: key 'prior': required (the run folder of `weakpose train prior`)")
        if config.supervised_fraction <= 0:
            config.fs_steps = 0
        if config.restarts > 1 and (init is not None or config.variant != "keypoint"):
            raise InputError("config: key 'restarts': candidates are fresh keypoint networks; not with "
                             + ("'init'" if init is not None else f"variant={config.variant!r}"))
        super().__init__(config, data_root, device, dist, sources)
        if init is not None:
            for name, net in self.nets.items():
                net.load_state_dict(init["modules"][name])
        else:
            self.nets["body"].load_state_dict(_without_surface(prior["modules"]["body"]))
            self.nets["flow"].load_state_dict(prior["modules"][f"nf_{config.rep}"])
        for name in ("body", "flow"):
            freeze(self.nets[name])
        self.space = PoseSpace(self.nets["flow"], config.rep, latent=True)
        self.weights = WSWeights.from_sigma(self.nets["body"], self.space, config.sigma_kp, config.w_ba)
        from weakpose.methods.flows.prior import cmu_rotations

        self._rot = cmu_rotations(self.data_root)
        self.sampler = PoseSampler.from_rotations(self._rot, self.nets["body"], self.data_root,
                                                  config.supervised_fraction, config.seed)
        self.pool = None
        self.image_files = None   # the image variant's photos (``images``), set by its prepare_inputs
        if config.images and config.variant != "image":
            raise InputError("config: key 'images': photos train the image network (variant=image)")
        self.prepare_inputs()
        self.opt, self.sched = adam_with_cosine(self.nets["net"].parameters(), config.lr, config.lr_final, config.steps)
        self.restart_record = RestartRecord()

    def prepare_inputs(self) -> None:
        """With ``w_ba > 0``, the pool of samples with rendered part masks that L_BA needs."""
        c = self.config
        if c.w_ba > 0:
            from weakpose.methods.flows.ws_rendering import MaskPool

            self.pool = MaskPool(self.sampler, np.random.default_rng(c.seed + 7), c.mask_pool, c.mask_size,
                                 c.mask_pixels)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"adam": self.opt}

    def schedulers(self) -> dict[str, Any]:
        return {"cosine": self.sched}

    def draw(self, supervised: bool, rng: np.random.Generator | None = None, size: int | None = None) -> PoseBatch:
        """A training batch (``batch_size`` samples drawn with ``self.rng`` unless given)."""
        c = self.config
        rng = self.rng if rng is None else rng
        size = c.batch_size if size is None else size
        if self.pool is not None:
            return self.pool.sample(rng, size, supervised)
        return self.sampler.sample(rng, size, supervised, c.noise_fraction, truncate_fraction=c.truncate_fraction)

    def losses(self, batch: PoseBatch, fs: bool) -> dict[str, torch.Tensor]:
        """Loss terms of this process's share of a global batch (per sample, or scalars for the
        image stages); ``total`` is the phase's objective."""
        batch = self.shard(batch)
        kp, conf, K = (torch.from_numpy(a) for a in (batch.keypoints_2d, batch.confidence, batch.intrinsics))
        out = self.nets["net"](kp, conf, K)
        masks = None if self.pool is None else self.pool.masks(batch)
        return self._pose_losses(out, batch, fs, kp, conf, K, masks)

    def _pose_losses(self, out, batch: PoseBatch, fs: bool, kp, conf, K, masks) -> dict[str, torch.Tensor]:
        dec = decode(self.space, self.nets["body"], out)
        terms = weakly_supervised_loss(self.space, self.nets["body"], out, dec, kp, conf, K, self.weights, masks)
        total = terms["L_ws"]
        if fs:
            terms.update(
                fully_supervised_loss(
                    self.nets["body"],
                    out,
                    dec,
                    torch.from_numpy(batch.joints_cam),
                    theta_vectors(batch, self.config.rep),
                    torch.from_numpy(batch.global_rot),
                    torch.from_numpy(batch.beta),
                )
            )
            total = terms["L_fs"] + (total if self.config.fs_with_ws else 0.0)
        terms["total"] = total
        gt = torch.from_numpy(batch.joints_cam)
        terms["mpjpe_mm"] = (dec.joints - (gt - gt[:, :1])).norm(dim=-1).mean(-1).detach()  # logged only
        return terms

    def step_losses(self, fs: bool) -> dict[str, torch.Tensor]:
        """The loss terms of one step of the FS (``fs``) or WS phase, on drawn training samples."""
        return self.losses(self.draw(supervised=fs), fs)

    def train_step(self, step: int) -> dict[str, float]:
        fs = step < self.config.fs_steps
        terms = self.step_losses(fs)
        out = optimizer_step(terms, "total", self.opt, self.sched, clip=(self.nets["net"].parameters(), 100.0))
        out["train/phase_fs"] = float(fs)
        return out

    # --- restarts (weakpose.methods.flows.restarts; not in the paper) ----------------------
    def phases(self) -> tuple[Phase, ...]:
        """One ``train`` phase; with ``restarts = R > 1`` the phases ``candidate_0`` …
        ``candidate_{R-1}`` (the whole schedule each) and a ``train`` phase of no steps that keeps
        the candidate with the lowest L_ws on fixed training frames."""
        R = self.config.restarts
        if R == 1:
            return super().phases()
        candidates = tuple(Phase(candidate_phase(r), self.config.steps, self.train_step,
                                 begin=lambda r=r: self.begin_candidate(r)) for r in range(R))
        return (*candidates, Phase(MAIN_PHASE, 0, self.train_step, begin=self.keep_best_candidate))

    def begin_candidate(self, r: int) -> None:
        """Score the finished candidate ``r - 1``, then start candidate ``r`` exactly as a run with
        seed :func:`~weakpose.methods.flows.restarts.candidate_seed` starts: global generators,
        network initialisation, sampling generator, optimiser and schedule."""
        if r > 0:
            self.record_candidate()
        seed = candidate_seed(self.config.seed, r)
        seed_everything(seed)
        self.nets["net"].load_state_dict(type(self).build_modules(self.config)["net"].state_dict())
        set_generator_state(self.rng, np.random.default_rng(seed).bit_generator.state)
        opt, sched = adam_with_cosine(self.nets["net"].parameters(), self.config.lr, self.config.lr_final,
                                      self.config.steps)
        self.opt.load_state_dict(opt.state_dict())
        self.sched.load_state_dict(sched.state_dict())

    def record_candidate(self) -> None:
        """Score the current network (L_ws on the selection frames) and keep its weights."""
        # the monitor is logged only (never used to choose), by process 0 alone, as the engine evaluates
        monitor = Method.evaluate(self)["monitor/pa_mpjpe"] if self.dist.is_main else float("nan")
        self.restart_record.add(selection_score(self), monitor, self.nets["net"].state_dict())

    def keep_best_candidate(self) -> None:
        """Score the last candidate and continue with the lowest-scoring one."""
        self.record_candidate()
        self.nets["net"].load_state_dict(self.restart_record.take_best())

    def extra_state(self) -> dict[str, Any]:
        return {"restarts": self.restart_record.state()} if self.config.restarts > 1 else {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.restart_record = RestartRecord.from_state(state.get("restarts", {}))

    def evaluate(self) -> dict[str, float]:
        """The monitor, plus each candidate's score and which was kept (``restarts/*``)."""
        return {**super().evaluate(), **self.restart_record.scalars()}

    @classmethod
    def make_predictor(cls, config: FlowsWSConfig, nets: dict[str, nn.Module], state: dict[str, Any]):
        return FlowsWSPredictor(nets["net"], nets["flow"], nets["body"], config.rep)


def _without_surface(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in state.items() if not k.startswith("surface.")}


class FlowsWSPredictor:
    """2D keypoints -> root-relative camera-frame joints (mm) through the network, flow and FK.
    Without intrinsics the fitting predictor's default camera is assumed
    (:func:`weakpose.camera.default_intrinsics`)."""

    def __init__(self, net: nn.Module, flow: NormalizingFlow, body: BodyModel, rep: str, batch_size: int = 1024
                 ) -> None:
        self.net, self.body = net.eval(), body.eval()
        self.space = PoseSpace(flow.eval(), rep, latent=True)
        self.batch_size = batch_size

    def _run(self, kp: np.ndarray, conf: np.ndarray, K: np.ndarray):
        with torch.no_grad():
            out = self.net(torch.from_numpy(kp), torch.from_numpy(conf), torch.from_numpy(K))
            dec = decode(self.space, self.body, out)
        return dec.joints.numpy(), dec.theta.numpy(), out.beta.numpy()

    def predict(self, inputs: Keypoints2D) -> dict[str, np.ndarray]:
        if inputs.multiview:
            raise InputError(
                f"{inputs.path}: key 'keypoints_2d': multi-view input [N, C, J, 2]; flows-ws takes single views "
                "[N, J, 2]"
            )
        kp = np.asarray(inputs.keypoints_2d, np.float32)
        conf = np.asarray(inputs.confidence, np.float32)
        K = default_intrinsics(kp, conf, inputs.extras.get("image_size")) if inputs.intrinsics is None else \
            np.array(np.broadcast_to(np.asarray(inputs.intrinsics, np.float32), (len(kp), 3, 3)))
        pos, theta, beta = batched(self._run, [kp, conf, K], self.batch_size)
        return {"positions_3d": pos.astype(np.float32), "pose_params": theta.astype(np.float32),
                "betas": beta.astype(np.float32)}


METHOD = Variants("flows-ws", FlowsWSConfig, {
    "keypoint": "weakpose.methods.flows.ws:FlowsWSMethod",
    "image": "weakpose.methods.flows.ws_image:ImageFlowsWSMethod",
})
