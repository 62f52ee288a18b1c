"""The multi-stage image network of Zanfir et al. §2.3 ("Network Architecture").

    image ─► [1] keypoint heatmaps ─► [2] body-part segmentation ─► [3] pose & shape stages

1. **Keypoints**: a heatmap backbone (:func:`weakpose.models.heatmap_net.build_heatmap_net`) gives J
   heatmaps at stride s; 2D joints are read by soft-argmax (:mod:`weakpose.vision.heatmaps`).
2. **Segmentation** ("processing images and the keypoint heatmaps"): a conv stack over the
   image (average-pooled to the heatmap grid) and the heatmaps gives N_b + 1 part logits
   (background + the renderer's 10 parts, the labels of the part masks).
3. **Pose and shape**: ``pose_stages`` stages, each ``pose_layers`` × [k×k conv, ``C`` maps,
   ReLU], a 1×1 conv with ``C`` maps, and a linear 1×1 conv with one map per predicted
   parameter; "two separate dense layers" on the flattened parameter maps give (z, R) and β.
   Every stage sees the image, the heatmaps, the segmentation probabilities and (after the
   first) the previous stage's parameter maps, and every stage is trained with the pose losses
   ("losses on each stage to reinforce the weights and avoid vanishing gradients").

Paper size: 5 × 7×7 convolutions with 128 maps per stage (``configs/flows_ws_image_paper.toml``);
the CPU size is 2 × 3×3 with 32 maps on 64 × 64 crops (``configs/flows_ws_image_cpu.toml``).
Choices the paper leaves open: the segmentation stage's size (same form as the pose stages),
the number of pose stages (2 on CPU, 3 at paper size), and the pooled image as the stages'
image input (the backbone's features are not exposed by the heatmap networks).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from weakpose.methods.flows.body.parts import PART_NAMES
from weakpose.methods.flows.pose_shape_net import OutputHead, PoseShapeOutput
from weakpose.models.heatmap_net import build_heatmap_net, normalize_images


@dataclass
class MultiStageOutput:
    heatmaps: Tensor                 # [B, J, h, w]
    segmentation: Tensor             # [B, N_b + 1, h, w] logits
    stages: list[PoseShapeOutput]    # one per pose stage; the last is the prediction


def _conv_stack(cin: int, channels: int, layers: int, kernel: int, cout: int) -> nn.Sequential:
    mods: list[nn.Module] = []
    for _ in range(layers):
        mods += [nn.Conv2d(cin, channels, kernel, padding=kernel // 2), nn.ReLU(inplace=True)]
        cin = channels
    mods += [nn.Conv2d(cin, channels, 1), nn.ReLU(inplace=True), nn.Conv2d(channels, cout, 1)]
    return nn.Sequential(*mods)


class PoseStage(nn.Module):
    """One 3D regressor stage: conv stack -> parameter maps -> two dense layers."""

    def __init__(self, cin: int, head: OutputHead, grid: int, channels: int, layers: int, kernel: int) -> None:
        super().__init__()
        self.head = head
        P = head.size
        self.convs = _conv_stack(cin, channels, layers, kernel, P)
        D, K = head.latent_dim, head.num_betas
        self.dense_pose = nn.Linear(P * grid * grid, D + 6)
        self.dense_shape = nn.Linear(P * grid * grid, K)
        for lin in (self.dense_pose, self.dense_shape):  # start at the flow's mode, mean shape, facing the camera
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)

    def forward(self, x: Tensor) -> tuple[Tensor, PoseShapeOutput]:
        maps = self.convs(x)
        flat = maps.flatten(1)
        pose, shape = self.dense_pose(flat), self.dense_shape(flat)
        D = self.head.latent_dim
        raw = torch.cat([pose[:, :D], shape, pose[:, D:]], 1)
        return maps, self.head(raw)


class MultiStageNet(nn.Module):
    """Image crops [B, H, W, 3] in [0, 1] -> :class:`MultiStageOutput`."""

    def __init__(self, latent_dim: int, num_betas: int, image_size: int = 64, backbone: str = "resnet-tiny",
                 seg_channels: int = 32, seg_layers: int = 2, pose_stages: int = 2, pose_channels: int = 32,
                 pose_layers: int = 2, kernel: int = 3, num_joints: int = 17) -> None:
        super().__init__()
        self.keypoints = build_heatmap_net(backbone, num_joints)
        self.stride = self.keypoints.stride
        if image_size % 32:
            raise ValueError(f"image_size must be a multiple of 32, got {image_size}")
        self.image_size = image_size
        grid = image_size // self.stride
        parts = len(PART_NAMES) + 1
        self.segmentation = _conv_stack(3 + num_joints, seg_channels, seg_layers, kernel, parts)
        head = OutputHead(latent_dim, num_betas)
        base = 3 + num_joints + parts
        self.stages = nn.ModuleList(
            PoseStage(base + (head.size if i else 0), head, grid, pose_channels, pose_layers, kernel)
            for i in range(pose_stages))

    def forward(self, rgb: Tensor) -> MultiStageOutput:
        if rgb.ndim != 4 or rgb.shape[1:] != (self.image_size, self.image_size, 3):
            raise ValueError(f"expected [B, {self.image_size}, {self.image_size}, 3] images, got {tuple(rgb.shape)}")
        x = normalize_images(rgb)
        hm = self.keypoints(x)
        img = F.avg_pool2d(x, self.stride)
        seg = self.segmentation(torch.cat([img, hm], 1))
        base = torch.cat([img, hm, seg.softmax(1)], 1)
        outs, prev = [], None
        for stage in self.stages:
            prev, out = stage(base if prev is None else torch.cat([base, prev], 1))
            outs.append(out)
        return MultiStageOutput(hm, seg, outs)


def build_multistage(config, latent_dim: int) -> MultiStageNet:
    """From a :class:`weakpose.methods.flows.ws.FlowsWSConfig` (``image_*`` keys)."""
    return MultiStageNet(latent_dim, config.num_betas, config.image_size, config.image_backbone,
                         config.image_seg_channels, config.image_seg_layers, config.image_pose_stages,
                         config.image_pose_channels, config.image_pose_layers, config.image_kernel)
