"""ResNet family (He et al. 2016) with the SimpleBaseline pose head (Xiao et al. 2018), in
plain PyTorch.

Parameter names follow torchvision's ResNet (``conv1``, ``bn1``, ``layer1..4``) and the
official SimpleBaseline ``pose_resnet`` (``deconv_layers``, ``final_layer``), so ImageNet
ResNet weights or pose_resnet checkpoints load with :func:`weakpose.models.weights.load_weights`
(an ImageNet file reports its ``fc.*`` keys as unexpected and the head as missing).
Output: ``out_channels`` maps at stride 4.
"""

from __future__ import annotations

import torch
from torch import nn


def conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride, 1, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, cout: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = conv3x3(cin, cout, stride)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(cout, cout)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


RESNET_SPECS: dict[int, tuple[type, list[int]]] = {
    18: (BasicBlock, [2, 2, 2, 2]),
    34: (BasicBlock, [3, 4, 6, 3]),
    50: (Bottleneck, [3, 4, 6, 3]),
    101: (Bottleneck, [3, 4, 23, 3]),
    152: (Bottleneck, [3, 8, 36, 3]),
}


class PoseResNet(nn.Module):
    """ResNet encoder (stride 32) + ``num_deconv`` 4x4 stride-2 deconvolutions + 1x1 output.

    ``depth`` in :data:`RESNET_SPECS` or ``layers`` given explicitly (with ``block``);
    ``width`` is the first stage's channels (64 in the paper models; smaller for CPU).
    """

    def __init__(
        self,
        out_channels: int,
        depth: int = 50,
        width: int = 64,
        layers: list[int] | None = None,
        block: str | None = None,
        deconv_channels: int = 256,
        num_deconv: int = 3,
    ):
        super().__init__()
        blk, default_layers = RESNET_SPECS[depth] if layers is None else (None, layers)
        if block is not None:
            blk = {"basic": BasicBlock, "bottleneck": Bottleneck}[block]
        if blk is None:
            raise ValueError("give block='basic'|'bottleneck' with explicit layers")
        layers = default_layers
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(blk, width, layers[0])
        self.layer2 = self._make_layer(blk, width * 2, layers[1], 2)
        self.layer3 = self._make_layer(blk, width * 4, layers[2], 2)
        self.layer4 = self._make_layer(blk, width * 8, layers[3], 2)
        deconv: list[nn.Module] = []
        cin = self.inplanes
        for _ in range(num_deconv):
            deconv += [
                nn.ConvTranspose2d(cin, deconv_channels, 4, 2, 1, output_padding=0, bias=False),
                nn.BatchNorm2d(deconv_channels),
                nn.ReLU(inplace=True),
            ]
            cin = deconv_channels
        self.deconv_layers = nn.Sequential(*deconv)
        self.final_layer = nn.Conv2d(cin, out_channels, 1)
        self.stride = 32 // (2**num_deconv)
        _init(self)

    def _make_layer(self, block, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        mods = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        mods += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.final_layer(self.deconv_layers(x))


def _init(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, std=0.001) if m is getattr(
                model, "final_layer", None
            ) else nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
