"""Image-input student of Wang, Kong & Lucey (ICCV 2019, §4.4): integral regression.

The paper's student is Sun et al.'s integral regression network (ECCV 2018; a ResNet-50 on
256×256 crops). Here the backbone is any :func:`weakpose.models.heatmap_net.build_heatmap_net`
network with ``depth_maps=True``: per landmark ``j`` it outputs a heatmap ``H_j`` and a
depth map ``M_j``. With ``H̄_j = softmax(λ H_j)`` over the map (λ = 1: Sun et al.'s plain
softmax),

* ``(u_j, v_j) = Σ_U H̄_j(U) U`` — the soft-argmax, in input (crop) pixels;
* ``z_j = Σ_U H̄_j(U) M_j(U)`` — the integral depth read-out (Sun et al.'s integral over the
  depth axis, written with one depth map per joint as in the 2.5D form of Iqbal et al. Eq. 5).

Both are differentiable integrals over the normalised heatmap, so the network is trained end to
end by losses on (u, v, z) alone (no heatmap targets). ``z`` is in whatever unit the loss
gives it; the distillation uses the teacher's normalised camera units.
"""

from __future__ import annotations

import torch
from torch import nn

from weakpose.models.heatmap_net import build_heatmap_net
from weakpose.vision.heatmaps import expected_value, soft_argmax, spatial_softmax


def integral_readout(heatmaps: torch.Tensor, depth_maps: torch.Tensor, lam: float = 1.0,
                     stride: int = 4) -> torch.Tensor:
    """(u, v, z) [B, J, 3] from heatmaps and depth maps [B, J, H, W]: soft-argmax of
    ``softmax(λ H)`` (input pixels at ``stride``) and the integral of the depth maps under it."""
    if heatmaps.ndim != 4 or heatmaps.shape != depth_maps.shape:
        raise ValueError(f"expected heatmaps and depth maps [B, J, H, W] of one shape, got "
                         f"{tuple(heatmaps.shape)} and {tuple(depth_maps.shape)}")
    h = spatial_softmax(heatmaps, lam)
    return torch.cat([soft_argmax(h, stride), expected_value(h, depth_maps)[..., None]], dim=-1)


class ImageStudent(nn.Module):
    """Normalised images [B, 3, S, S] → per-landmark (u, v) in input pixels and z [B, J, 3]."""

    def __init__(self, backbone: str = "resnet-tiny", num_points: int = 17, lam: float = 1.0) -> None:
        super().__init__()
        self.num_points = int(num_points)
        self.lam = float(lam)
        self.net = build_heatmap_net(backbone, self.num_points, depth_maps=True)
        self.stride = self.net.stride

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != 3 or images.shape[2] % 32 or images.shape[3] % 32:
            raise ValueError(f"expected images [B, 3, H, W] with sides multiples of 32, got {tuple(images.shape)}")
        heatmaps, depth_maps = self.net(images)
        return integral_readout(heatmaps, depth_maps, self.lam, self.stride)
