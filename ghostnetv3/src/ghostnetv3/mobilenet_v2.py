"""MobileNetV2 with GhostNetV3-style re-parameterisable convs (the paper's transfer experiment).

Every conv of an inverted-residual block is a `RepConv`: the 1x1 expand and project get
`conv_branches` conv branches, the depthwise 3x3 also the 1x1 scale branch and (stride 1) the
identity BN. Stem and the last 1x1 stay plain conv+BN, as in GhostNetV3.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ghostnetv3.reparam import GHOSTNETV3, ConvBNAct, RepConv, RepSpec

# expansion t, channels c, repeats n, first stride s (Sandler et al. 2018, Table 2)
SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
            (6, 160, 3, 2), (6, 320, 1, 1))


def _divisible8(v: float) -> int:
    new_v = max(8, int(v + 4) // 8 * 8)
    return new_v + 8 if new_v < 0.9 * v else new_v


class InvertedResidual(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int, expand: int, rep: RepSpec) -> None:
        super().__init__()
        mid = in_ch * expand
        self.expand = RepConv(in_ch, mid, 1, conv_branches=rep.conv_branches) if expand != 1 else None
        self.dw = RepConv(mid, mid, 3, stride, groups=mid, conv_branches=rep.conv_branches,
                          scale=rep.scale, identity=rep.identity)
        self.project = RepConv(mid, out_ch, 1, conv_branches=rep.conv_branches)
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x if self.expand is None else F.relu6(self.expand(x))
        y = self.project(F.relu6(self.dw(y)))
        return x + y if self.residual else y


class MobileNetV2(nn.Module):
    def __init__(self, width: float = 1.0, num_classes: int = 1000, in_chans: int = 3,
                 rep: RepSpec = GHOSTNETV3, drop_rate: float = 0.2) -> None:
        super().__init__()
        self.width, self.num_classes, self.in_chans, self.drop_rate = width, num_classes, in_chans, drop_rate
        self.rep = rep
        prev = _divisible8(32 * width)
        layers: list[nn.Module] = [ConvBNAct(in_chans, prev, 3, 2)]
        for t, c, n, s in SETTINGS:
            out = _divisible8(c * width)
            for i in range(n):
                layers.append(InvertedResidual(prev, out, s if i == 0 else 1, t, rep))
                prev = out
        self.num_features = _divisible8(1280 * max(1.0, width))
        layers.append(ConvBNAct(prev, self.num_features, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(self.num_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_chans:
            raise ValueError(f"expected input (B, {self.in_chans}, H, W), got {tuple(x.shape)}")
        x = torch.flatten(self.features(x).mean((2, 3)), 1)
        return self.classifier(F.dropout(x, self.drop_rate, self.training))
