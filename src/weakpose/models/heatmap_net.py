"""Heatmap networks by name: ResNet/SimpleBaseline and HRNet families, full size and CPU size.

``build_heatmap_net(name, num_joints, depth_maps=False)`` returns a module mapping images
[B, 3, H, W] (float, normalised by :func:`normalize_images`) to ``num_joints`` heatmaps at
stride ``.stride`` (4, or 2 for ``*-s2``), plus ``num_joints`` latent depth maps when ``depth_maps`` (Iqbal et al.: "the
network produces 2J channels ... J channels for 2D heatmaps while the remaining J channels
are regarded as latent depth maps").
"""

from __future__ import annotations

import torch
from torch import nn

from weakpose.models.backbones import hrnet
from weakpose.models.backbones.resnet import PoseResNet

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

BACKBONES: dict[str, str] = {
    "hrnet-w32": "HRNet-W32 (Iqbal et al.'s backbone), 28.5M parameters",
    "hrnet-w48": "HRNet-W48",
    "hrnet-tiny": "HRNet topology at width 8, one block per branch (CPU)",
    "resnet18": "SimpleBaseline ResNet-18", "resnet34": "SimpleBaseline ResNet-34",
    "resnet50": "SimpleBaseline ResNet-50", "resnet101": "SimpleBaseline ResNet-101",
    "resnet152": "SimpleBaseline ResNet-152",
    "resnet-tiny": "ResNet with one basic block per stage, width 16, 64-channel deconvolutions (CPU)",
    "resnet-tiny-s2": "resnet-tiny with a 4th deconvolution: heatmaps at stride 2 (CPU, finer 2D)",
}


class HeatmapNet(nn.Module):
    """A backbone with ``J`` (or ``2J`` with depth maps) output channels at stride 4."""

    def __init__(self, net: nn.Module, num_joints: int, depth_maps: bool):
        super().__init__()
        self.net = net
        self.num_joints = num_joints
        self.depth_maps = depth_maps
        self.stride = int(net.stride)  # input pixels per heatmap cell

    def forward(self, images: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        out = self.net(images)
        if self.depth_maps:
            return out[:, : self.num_joints], out[:, self.num_joints :]
        return out


def build_heatmap_net(name: str, num_joints: int = 17, depth_maps: bool = False) -> HeatmapNet:
    """A heatmap network by name (:data:`BACKBONES`)."""
    out = num_joints * (2 if depth_maps else 1)
    if name == "hrnet-w32":
        net = hrnet.PoseHRNet(out, hrnet.W32)
    elif name == "hrnet-w48":
        net = hrnet.PoseHRNet(out, hrnet.W48)
    elif name == "hrnet-tiny":
        net = hrnet.PoseHRNet(out, hrnet.TINY)
    elif name.startswith("resnet") and name[6:].isdigit():
        net = PoseResNet(out, depth=int(name[6:]))
    elif name == "resnet-tiny":
        net = PoseResNet(out, width=16, layers=[1, 1, 1, 1], block="basic", deconv_channels=64)
    elif name == "resnet-tiny-s2":
        net = PoseResNet(out, width=16, layers=[1, 1, 1, 1], block="basic", deconv_channels=64, num_deconv=4)
    else:
        raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    return HeatmapNet(net, num_joints, depth_maps)


def normalize_images(rgb: torch.Tensor) -> torch.Tensor:
    """[B, H, W, 3] RGB in [0, 1] -> [B, 3, H, W] normalised with the ImageNet statistics
    (what pretrained ResNet/HRNet weights expect)."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=rgb.dtype).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=rgb.dtype).view(1, 3, 1, 1)
    return (rgb.permute(0, 3, 1, 2) - mean) / std
