"""``weakpose train flows-ws variant=image``: the multi-stage image network of Zanfir et al. §2.3.

The network (:mod:`weakpose.methods.flows.multistage`) reads ``image_size`` × ``image_size``
person crops rendered on the fly from the training samples
(:func:`weakpose.methods.flows.ws_rendering.render_crops`); its heatmap and segmentation stages
get their own losses and the pose losses of the keypoint network (L_fs, L_ws) apply to every pose
stage (:func:`weakpose.methods.flows.ws_rendering.stage_losses`). The schedule, prior, body model
and checkpoint layout are those of :class:`weakpose.methods.flows.ws.FlowsWSMethod`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from weakpose.data.contracts import Keypoints2D
from weakpose.errors import InputError
from weakpose.methods.flows.ws import FlowsWSConfig, FlowsWSMethod, FlowsWSPredictor
from weakpose.methods.flows.ws_data import PoseBatch, PoseSampler


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
        """Training-subject samples for the monitor (:meth:`evaluate`; never the test subjects) and
        the generator of the crops' appearance (L_BA uses the part masks of the rendered crops
        themselves, no mask pool)."""
        from weakpose.data.mocap import TRAIN_SUBJECTS
        from weakpose.data.paths import h36m_rig
        from weakpose.methods.flows.body.cmu import pose_data

        c = self.config
        self.monitor_sampler = PoseSampler(pose_data(self._rot, TRAIN_SUBJECTS), self.nets["body"],
                                           h36m_rig(self.data_root), 1.0, c.seed)
        self.render_gen = torch.Generator().manual_seed(c.seed + 11)

    def losses(self, batch: PoseBatch, fs: bool) -> dict[str, torch.Tensor]:
        """Heatmap and segmentation losses plus the pose losses on every pose stage."""
        from weakpose.methods.flows.ws_rendering import full_image_mask_pixels, render_crops, stage_losses

        c = self.config
        kp, conf, K = (torch.from_numpy(a) for a in (batch.keypoints_2d, batch.confidence, batch.intrinsics))
        crops = render_crops(batch, c.image_size, self.render_gen)
        out = self.nets["net"](crops.rgb)
        masks = full_image_mask_pixels(crops, c.mask_pixels, int(self.rng.integers(1 << 31))) if c.w_ba > 0 else None
        terms = stage_losses(out, crops, self.nets["net"].stride)
        per_stage = [self._pose_losses(o, batch, fs, kp, conf, K, masks) for o in out.stages]
        for k in per_stage[-1]:
            terms[k] = per_stage[-1][k]  # logged: the last stage
        terms["total"] = (sum(p["total"].mean() for p in per_stage) / len(per_stage)
                          + c.w_heatmap * terms["L_heatmap"] + c.w_segmentation * terms["L_segmentation"])
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
    """The image network's predictor: it takes person crops, so a 2D keypoint file is refused."""

    def predict(self, inputs: Keypoints2D) -> dict[str, np.ndarray]:
        raise InputError(f"{inputs.path}: this flows-ws run has the image network (variant = 'image'), which takes "
                         "person crops, not 2D keypoints (see weakpose.methods.flows.ws_rendering.evaluate_rendered)")
