"""HRNet (Sun et al., CVPR 2019) in plain PyTorch: the backbone of Iqbal et al. 2020 (supp. §1:
"We adopt HRNet-w32 as the back-bone").

Module and parameter names match the official ``pose_hrnet`` implementation (``conv1``,
``layer1``, ``transition1..3``, ``stage2..4``, ``final_layer``), so its checkpoints load with
:func:`weakpose.models.weights.load_weights`. Output: ``out_channels`` maps at stride 4 from
the highest-resolution branch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from weakpose.models.backbones.resnet import BasicBlock, Bottleneck, _init


@dataclass(frozen=True)
class HRNetConfig:
    """Widths and depths. ``width`` is the first branch's channels (32 for HRNet-W32); branch
    b has ``width * 2**b`` channels."""

    width: int = 32
    stem_channels: int = 64
    layer1_planes: int = 64
    layer1_blocks: int = 4
    num_blocks: int = 4
    stage_modules: tuple[int, int, int] = (1, 4, 3)


W32 = HRNetConfig()
W48 = HRNetConfig(width=48)
#: A CPU-sized HRNet with the same topology (4 branches, repeated fusion) for tests and demos.
TINY = HRNetConfig(width=8, stem_channels=32, layer1_planes=16, layer1_blocks=1, num_blocks=1, stage_modules=(1, 1, 1))


class HighResolutionModule(nn.Module):
    def __init__(
        self,
        num_branches: int,
        num_blocks: int,
        num_inchannels: list[int],
        num_channels: list[int],
        multi_scale_output: bool = True,
    ):
        super().__init__()
        self.num_inchannels = list(num_inchannels)
        self.num_branches = num_branches
        self.multi_scale_output = multi_scale_output
        self.branches = nn.ModuleList(
            [self._make_one_branch(i, num_blocks, num_channels[i]) for i in range(num_branches)]
        )
        self.fuse_layers = self._make_fuse_layers()
        self.relu = nn.ReLU(True)

    def _make_one_branch(self, i: int, blocks: int, channels: int) -> nn.Sequential:
        downsample = None
        if self.num_inchannels[i] != channels * BasicBlock.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.num_inchannels[i], channels, 1, bias=False), nn.BatchNorm2d(channels)
            )
        layers = [BasicBlock(self.num_inchannels[i], channels, 1, downsample)]
        self.num_inchannels[i] = channels
        layers += [BasicBlock(channels, channels) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def _make_fuse_layers(self) -> nn.ModuleList | None:
        if self.num_branches == 1:
            return None
        nb, inch = self.num_branches, self.num_inchannels
        fuse_layers = []
        for i in range(nb if self.multi_scale_output else 1):
            row: list[nn.Module | None] = []
            for j in range(nb):
                if j > i:
                    row.append(nn.Sequential(nn.Conv2d(inch[j], inch[i], 1, 1, 0, bias=False), nn.BatchNorm2d(inch[i]),
                                             nn.Upsample(scale_factor=2 ** (j - i), mode="nearest")))
                elif j == i:
                    row.append(None)
                else:
                    convs = []
                    for k in range(i - j):
                        if k == i - j - 1:
                            convs.append(
                                nn.Sequential(nn.Conv2d(inch[j], inch[i], 3, 2, 1, bias=False), nn.BatchNorm2d(inch[i]))
                            )
                        else:
                            convs.append(
                                nn.Sequential(
                                    nn.Conv2d(inch[j], inch[j], 3, 2, 1, bias=False),
                                    nn.BatchNorm2d(inch[j]),
                                    nn.ReLU(True),
                                )
                            )
                    row.append(nn.Sequential(*convs))
            fuse_layers.append(nn.ModuleList(row))
        return nn.ModuleList(fuse_layers)

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        if self.num_branches == 1:
            return [self.branches[0](x[0])]
        x = [b(xi) for b, xi in zip(self.branches, x)]
        out = []
        for i, row in enumerate(self.fuse_layers):
            y = x[0] if i == 0 else row[0](x[0])
            for j in range(1, self.num_branches):
                y = y + (x[j] if i == j else row[j](x[j]))
            out.append(self.relu(y))
        return out


class PoseHRNet(nn.Module):
    """HRNet for heatmaps: ``out_channels`` maps at stride 4 (1/4 of the input size)."""

    stride = 4

    def __init__(self, out_channels: int, config: HRNetConfig = W32):
        super().__init__()
        c = config
        self.config = c
        self.conv1 = nn.Conv2d(3, c.stem_channels, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c.stem_channels)
        self.conv2 = nn.Conv2d(c.stem_channels, c.stem_channels, 3, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c.stem_channels)
        self.relu = nn.ReLU(inplace=True)
        down = nn.Sequential(
            nn.Conv2d(c.stem_channels, c.layer1_planes * 4, 1, bias=False), nn.BatchNorm2d(c.layer1_planes * 4)
        )
        blocks = [Bottleneck(c.stem_channels, c.layer1_planes, 1, down)]
        blocks += [Bottleneck(c.layer1_planes * 4, c.layer1_planes) for _ in range(1, c.layer1_blocks)]
        self.layer1 = nn.Sequential(*blocks)
        pre = [c.layer1_planes * 4]
        for s, modules in zip((2, 3, 4), c.stage_modules):
            channels = [c.width * 2**b for b in range(s)]
            setattr(self, f"transition{s - 1}", self._make_transition(pre, channels))
            mods = []
            inch = list(channels)
            for m in range(modules):
                last = s == 4 and m == modules - 1
                mod = HighResolutionModule(s, c.num_blocks, inch, channels, multi_scale_output=not last)
                inch = mod.num_inchannels
                mods.append(mod)
            setattr(self, f"stage{s}", nn.Sequential(*mods))
            pre = channels
        self.final_layer = nn.Conv2d(c.width, out_channels, 1, 1, 0)
        _init(self)

    @staticmethod
    def _make_transition(pre: list[int], cur: list[int]) -> nn.ModuleList:
        layers: list[nn.Module | None] = []
        for i in range(len(cur)):
            if i < len(pre):
                layers.append(None if cur[i] == pre[i] else nn.Sequential(
                    nn.Conv2d(pre[i], cur[i], 3, 1, 1, bias=False), nn.BatchNorm2d(cur[i]), nn.ReLU(inplace=True)))
            else:
                convs = []
                for j in range(i + 1 - len(pre)):
                    cin = pre[-1]
                    cout = cur[i] if j == i - len(pre) else cin
                    convs.append(
                        nn.Sequential(
                            nn.Conv2d(cin, cout, 3, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
                        )
                    )
                layers.append(nn.Sequential(*convs))
        return nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        x = self.layer1(x)
        xs = [x]
        for s in (2, 3, 4):
            trans = getattr(self, f"transition{s - 1}")
            xs = [t(xs[-1]) if t is not None else xs[i] for i, t in enumerate(trans)]
            xs = getattr(self, f"stage{s}")(xs)
        return self.final_layer(xs[0])
