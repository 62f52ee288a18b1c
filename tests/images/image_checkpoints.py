"""Checkpoints of the three image-input variants at tiny size, built directly (random networks,
real configs and predictor state), for the prediction tests."""

from pathlib import Path

import numpy as np
import torch

from weakpose.engine.checkpoint import save_checkpoint
from weakpose.engine.config import config_to_dict

KINDS = ("multiview", "distill", "flows-ws")


def _save(path: Path, method: str, config, nets, state) -> Path:
    with torch.no_grad():  # peaked heatmaps: a random network's 2D then spreads over the crop
        for net in nets.values():
            for name, p in net.named_parameters():
                if "final_layer" in name:
                    p.mul_(300.0)
    save_checkpoint(path / "model.pt", {"method": method, "config": config_to_dict(config), "skeleton": {},
                                        "modules": {k: v.state_dict() for k, v in nets.items()},
                                        "predictor_state": state, "step": 0})
    return path


def image_checkpoint(kind: str, path: Path, seed: int = 0) -> Path:
    """A run folder holding an image-variant model.pt: ``multiview`` (variant=image, 64 px),
    ``distill`` (variant=image, 32 px) or ``flows-ws`` (variant=image, 32 px)."""
    torch.manual_seed(seed)
    # CMU-like mean bone lengths (mm), in H36M17.bones order
    mean_bones = np.array([130, 440, 440, 130, 440, 440, 230, 250, 110, 110, 150, 280, 250, 150, 280, 250],
                          np.float32)
    if kind == "multiview":
        from weakpose.methods.multiview.method import METHOD, MultiviewConfig

        c = MultiviewConfig(variant="image", backbone="resnet-tiny", crop_size=64)
        return _save(path, "multiview", c, METHOD.method_class(c).build_modules(c),
                     {"mean_bones_mm": mean_bones.tolist()})
    if kind == "distill":
        from weakpose.methods.nrsfm.distill import METHOD, DistillConfig

        c = DistillConfig(variant="image", backbone="resnet-tiny", crop_size=32, softmax_lambda=50.0)
        return _save(path, "distill", c, METHOD.method_class(c).build_modules(c),
                     {"raw_scale": 900.0, "center": "0",
                      "mean_bone_lengths": torch.as_tensor(mean_bones, dtype=torch.float64)})
    if kind == "flows-ws":
        from flows.flows_helpers import (
            synthetic_offsets,  # tests/flows (tests/ is on sys.path under pytest)
        )
        from weakpose.methods.flows.body import cmu_tree
        from weakpose.methods.flows.body.model import BodyModel
        from weakpose.methods.flows.ws import METHOD, FlowsWSConfig

        c = FlowsWSConfig(variant="image", image_size=32, image_seg_channels=8, image_pose_channels=8,
                          image_pose_layers=1, flow_steps=1, flow_hidden=8, num_betas=2)
        nets = METHOD.method_class(c).build_modules(c)
        body = BodyModel(synthetic_offsets(), np.zeros((2, len(cmu_tree.SEGMENT_NAMES))))
        nets["body"].load_state_dict(body.state_dict())
        with torch.no_grad():  # a pose head that is not zero, so the pose depends on the image
            for stage in nets["net"].stages:
                stage.dense_pose.weight.normal_(0, 1e-3)
        return _save(path, "flows-ws", c, nets, {})
    raise ValueError(kind)
