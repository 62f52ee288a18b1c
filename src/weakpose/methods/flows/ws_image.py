"""``weakpose train flows-ws variant=image``: the multi-stage image network of Zanfir et al. §2.3.

The network (:mod:`weakpose.methods.flows.multistage`) reads ``image_size`` × ``image_size``
person crops rendered on the fly from the training samples
(:func:`weakpose.methods.flows.ws_rendering.render_crops`); its heatmap and segmentation stages
get their own losses and the pose losses of the keypoint network (L_fs, L_ws) apply to every pose
stage (:func:`weakpose.methods.flows.ws_rendering.stage_losses`). With ``images = FILE.npz`` (a
2D file with ``image_path``, :mod:`weakpose.data.image_files`) the WS phase trains on crops of
those photos instead (:meth:`ImageFlowsWSMethod.file_image_losses`). The schedule, prior, body
model and checkpoint layout are those of :class:`weakpose.methods.flows.ws.FlowsWSMethod`.

Prediction (:class:`ImageFlowsWSPredictor`) takes person crops (the
:class:`~weakpose.methods.base.CropPredictor` protocol of ``weakpose predict --image`` and the
Python API).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from weakpose.data.contracts import Keypoints2D
from weakpose.errors import InputError
from weakpose.methods.base import batched
from weakpose.methods.flows.pose_shape_net import decode
from weakpose.methods.flows.ws import FlowsWSConfig, FlowsWSMethod, FlowsWSPredictor
from weakpose.methods.flows.ws_data import PoseBatch, PoseSampler
from weakpose.methods.flows.ws_losses import weakly_supervised_loss
from weakpose.vision.crops import rotation_degrees
from weakpose.vision.heatmaps import decode_heatmaps


class ImageFlowsWSMethod(FlowsWSMethod):
    """``variant = "image"``: crops in, the flow's latent code, shape and root orientation out."""

    variant = "image"
    #: No data files: the crops are rendered from CMU poses through the body model, and the
    #: monitor renders training-subject crops (:meth:`evaluate`), so ``--val`` would go unread.
    data_kinds = ()

    @classmethod
    def build_network(cls, config: FlowsWSConfig, latent_size: int) -> nn.Module:
        from weakpose.methods.flows.multistage import build_multistage

        return build_multistage(config, latent_size)

    def prepare_inputs(self) -> None:
        """Training-subject samples for the monitor (:meth:`evaluate`; never the test subjects),
        the generator of the crops' appearance (L_BA uses the part masks of the rendered crops
        themselves, no mask pool) and the photos of ``images``."""
        from weakpose.data.mocap import TRAIN_SUBJECTS
        from weakpose.data.paths import h36m_rig
        from weakpose.methods.flows.body.cmu import pose_data

        c = self.config
        self.monitor_sampler = PoseSampler(pose_data(self._rot, TRAIN_SUBJECTS), self.nets["body"],
                                           h36m_rig(self.data_root), 1.0, c.seed)
        self.render_gen = self.own_generator("renderer", torch.Generator().manual_seed(c.seed + 11))
        if c.images:
            from weakpose.data.image_files import ImageFiles

            self.image_files = ImageFiles(c.images)

    def step_losses(self, fs: bool) -> dict[str, torch.Tensor]:
        """With ``images``, the WS phase trains on those photos; otherwise on rendered crops."""
        if self.image_files is not None and not fs:
            return self.file_image_losses()
        return super().step_losses(fs)

    def losses(self, batch: PoseBatch, fs: bool) -> dict[str, torch.Tensor]:
        """Heatmap and segmentation losses plus the pose losses on every pose stage. The global
        batch is rendered on every process (identically); each trains on its share."""
        from weakpose.methods.flows.ws_rendering import full_image_mask_pixels, render_crops, stage_losses

        c = self.config
        crops = render_crops(batch, c.image_size, self.render_gen)
        masks = full_image_mask_pixels(crops, c.mask_pixels, int(self.rng.integers(1 << 31))) if c.w_ba > 0 else None
        batch, crops, masks = self.shard((batch, crops, masks))
        kp, conf, K = (torch.from_numpy(a) for a in (batch.keypoints_2d, batch.confidence, batch.intrinsics))
        out = self.nets["net"](crops.rgb)
        terms = stage_losses(out, crops, self.nets["net"].stride)
        per_stage = [self._pose_losses(o, batch, fs, kp, conf, K, masks) for o in out.stages]
        for k in per_stage[-1]:
            terms[k] = per_stage[-1][k]  # logged: the last stage
        terms["total"] = (sum(p["total"].mean() for p in per_stage) / len(per_stage)
                          + c.w_heatmap * terms["L_heatmap"] + c.w_segmentation * terms["L_segmentation"])
        return terms

    def file_image_losses(self) -> dict[str, torch.Tensor]:
        """WS phase on photos from ``images``: the heatmap stage on their 2D labels and L_ws
        (Eq. 11, without L_BA: photos have no part masks; nor the segmentation stage's loss) on
        every pose stage, with the photos' 2D and cameras. Crops are not rotated, so the
        network's rotation stays in the camera frame (as for the rendered crops)."""
        from weakpose.methods.flows.ws_rendering import heatmap_stage_loss

        c = self.config
        crops = self.shard(self.image_files.sample(self.rng, c.batch_size, c.image_size, augment=False))
        out = self.nets["net"](crops.rgb)
        kp, conf, K = crops.keypoints_full, crops.confidence, crops.intrinsics
        per_stage = [weakly_supervised_loss(self.space, self.nets["body"], o, decode(self.space, self.nets["body"], o),
                                            kp, conf, K, self.weights) for o in out.stages]
        terms = {"L_heatmap": heatmap_stage_loss(out, crops.keypoints, self.nets["net"].stride, crops.weight),
                 **per_stage[-1]}
        terms["total"] = sum(p["L_ws"].mean() for p in per_stage) / len(per_stage) + c.w_heatmap * terms["L_heatmap"]
        return terms

    def evaluate(self) -> dict[str, float]:
        """MPJPE / PA-MPJPE on rendered crops of the training subjects (monitoring only, never used
        to select a run; never the test subjects)."""
        from weakpose.methods.flows.ws_rendering import evaluate_rendered

        return evaluate_rendered(self.nets["net"], self.space, self.nets["body"], self.monitor_sampler,
                                 self.config.eval_rendered, self.config.image_size)

    @classmethod
    def make_predictor(cls, config: FlowsWSConfig, nets: dict[str, nn.Module], state: dict[str, Any]):
        return ImageFlowsWSPredictor(nets["net"], nets["flow"], nets["body"], config.rep)


class ImageFlowsWSPredictor(FlowsWSPredictor):
    """The image network's predictor (a :class:`~weakpose.methods.base.CropPredictor`): it takes
    person crops, so a 2D keypoint file is refused."""

    def __init__(self, net: nn.Module, flow, body, rep: str, batch_size: int = 1024) -> None:
        super().__init__(net, flow, body, rep, batch_size)
        self.crop_size = net.image_size  # the side of the crops it was trained on

    def predict_crops(self, rgb: torch.Tensor, crop: torch.Tensor, K: torch.Tensor) -> dict[str, np.ndarray]:
        """Person crops rgb [N, S, S, 3] (uint8, or float in [0, 1]) -> the last pose stage's
        joints (``positions_3d`` mm, root-relative), θ, β, and the heatmap stage's 2D
        (``keypoints_2d`` crop px, ``confidence``).

        The network's global rotation is in the frame of the camera that took the crop. A crop
        without rotation (``crop`` a scale and shift, as in training,
        :func:`~weakpose.methods.flows.ws_rendering.render_crops`) is the same camera frame as the
        full image's, so the joints are camera-frame as they are; ``crop`` and ``K`` are checked
        for that and otherwise unused."""
        if np.abs(rotation_degrees(np.asarray(crop, np.float64))).max(initial=0.0) > 1e-6:
            raise ValueError("flows-ws image network: crops must not be rotated (trained on unrotated crops)")
        rgb = torch.as_tensor(rgb)
        rgb = rgb.to(torch.float32) / 255.0 if rgb.dtype == torch.uint8 else rgb.to(torch.float32)
        pos, theta, beta, uv, conf = (p.numpy().astype(np.float32)
                                      for p in batched(self._run_crops, [rgb], self.batch_size))
        return {"positions_3d": pos, "pose_params": theta, "betas": beta, "keypoints_2d": uv, "confidence": conf}

    def _run_crops(self, rgb: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.net(rgb)
        dec = decode(self.space, self.body, out.stages[-1])
        uv, conf = decode_heatmaps(out.heatmaps, stride=self.net.stride)
        return dec.joints, dec.theta, out.stages[-1].beta, uv, conf

    def predict(self, inputs: Keypoints2D) -> dict[str, np.ndarray]:
        raise InputError(f"{inputs.path}: this flows-ws run has the image network (variant = 'image'), which takes "
                         "person crops, not 2D keypoints (give images: `weakpose predict --image`, or a 2D file "
                         "with 'image_path'; see docs/images.md)")
