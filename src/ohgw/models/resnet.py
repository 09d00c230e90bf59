"""The CIFAR ResNet of He et al. (2016), section 4.2: 6n+2 layers, widths 16/32/64.

ResNet-20 is n = 3 (about 0.27 M parameters). Shortcuts are the paper's option A: identity, with
stride-2 subsampling and zero-padded channels where the shape changes, so they add no parameters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.stride = stride
        self.extra_channels = planes - in_planes

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1 and self.extra_channels == 0:
            return x
        x = x[:, :, :: self.stride, :: self.stride]
        half = self.extra_channels // 2
        return F.pad(x, (0, 0, 0, 0, half, self.extra_channels - half))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """A ResNet for 32x32 images with ``blocks_per_stage`` blocks in each of three stages.

    Args:
        blocks_per_stage: n; depth = 6n + 2 (3 gives ResNet-20, 1 gives ResNet-8).
        width: channels of the first stage (16 in the paper); the others are 2x and 4x.
        num_classes: outputs.
    """

    def __init__(self, blocks_per_stage: int = 3, width: int = 16, num_classes: int = 10) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        layers: list[nn.Module] = []
        in_planes = width
        for stage, planes in enumerate((width, 2 * width, 4 * width)):
            for block in range(blocks_per_stage):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(BasicBlock(in_planes, planes, stride))
                in_planes = planes
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(in_planes, num_classes)
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn(self.conv(x)))  # (N, w, 32, 32)
        out = self.layers(out)  # (N, 4w, 8, 8)
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)  # (N, 4w)
        return self.fc(out)


def resnet20(num_classes: int = 10, width: int = 16) -> CifarResNet:
    return CifarResNet(blocks_per_stage=3, width=width, num_classes=num_classes)
