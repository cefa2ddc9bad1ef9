"""The CIFAR ResNet of He et al. (2016), "option A" form, as the real checkpoints in
``../shared/data/real_cifar10_resnets/`` were trained (written here from the paper and
that folder's README; no code of theirs).

conv1 3x3 (16) + BN, three stages of n basic blocks (16, 32, 64 channels; stride 2 at the
first block of stages 2 and 3), each conv3x3-BN-ReLU-conv3x3-BN plus an identity shortcut
(when the shape changes: subsample by 2 and zero-pad the channels, no parameters), ReLU,
global average pooling, ``linear`` 64 -> 10. n = 3: ResNet-20; n = 9: ResNet-56.

``CifarResNetHe(depth=None)`` takes its depth from the state_dict it is loaded with, so one
``--arch`` serves a folder holding ResNet-20s and ResNet-56s (the zoo verb builds every
model from the same spec).
"""

from __future__ import annotations

import re

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.pad = out_channels - in_channels if stride != 1 or in_channels != out_channels else 0
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x
        if self.stride != 1 or self.pad:
            shortcut = x[:, :, :: self.stride, :: self.stride]
            shortcut = F.pad(shortcut, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return F.relu(out + shortcut)


class CifarResNetHe(nn.Module):
    def __init__(self, depth: int | None = None, num_classes: int = 10) -> None:
        super().__init__()
        self.num_classes = num_classes
        self._build((depth - 2) // 6 if depth else 3)

    def _build(self, blocks: int) -> None:
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        channels = 16
        for stage, width in enumerate((16, 32, 64), start=1):
            layers = []
            for index in range(blocks):
                layers.append(BasicBlock(channels, width, 2 if stage > 1 and index == 0 else 1))
                channels = width
            setattr(self, f"layer{stage}", nn.Sequential(*layers))
        self.linear = nn.Linear(64, self.num_classes)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        blocks = {int(m.group(1)) for k in state_dict if (m := re.match(r"layer1\.(\d+)\.", k))}
        if blocks and max(blocks) + 1 != len(self.layer1):
            self._build(max(blocks) + 1)  # the depth the checkpoint has
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.linear(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
