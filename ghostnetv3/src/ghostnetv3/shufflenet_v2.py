"""ShuffleNetV2 with GhostNetV3-style re-parameterisable convs (the paper's transfer experiment).

Each conv+BN of a unit is a `RepConv`; the depthwise 3x3 convs also get the 1x1 scale branch and,
at stride 1, the identity BN. Stem and the last 1x1 stay plain conv+BN.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ghostnetv3.reparam import GHOSTNETV3, ConvBNAct, RepConv, RepSpec

REPEATS = (4, 8, 4)
CHANNELS = {0.5: (24, 48, 96, 192, 1024), 1.0: (24, 116, 232, 464, 1024),
            1.5: (24, 176, 352, 704, 1024), 2.0: (24, 244, 488, 976, 2048)}


def channel_shuffle(x: torch.Tensor, groups: int = 2) -> torch.Tensor:
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


def _dw(ch: int, stride: int, rep: RepSpec) -> RepConv:
    return RepConv(ch, ch, 3, stride, groups=ch, conv_branches=rep.conv_branches,
                   scale=rep.scale, identity=rep.identity)


class ShuffleUnit(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int, rep: RepSpec) -> None:
        super().__init__()
        self.stride = stride
        half = out_ch // 2
        n = rep.conv_branches
        if stride > 1:
            self.branch1 = nn.ModuleList([_dw(in_ch, stride, rep), RepConv(in_ch, half, 1, conv_branches=n)])
        else:
            self.branch1 = None
        branch_in = in_ch if stride > 1 else half
        self.branch2 = nn.ModuleList([RepConv(branch_in, half, 1, conv_branches=n),
                                      _dw(half, stride, rep), RepConv(half, half, 1, conv_branches=n)])

    def _branch2(self, x: torch.Tensor) -> torch.Tensor:
        pw1, dw, pw2 = self.branch2
        return F.relu(pw2(dw(F.relu(pw1(x)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.branch1 is None:
            left, right = x.chunk(2, dim=1)
            out = torch.cat([left, self._branch2(right)], dim=1)
        else:
            dw, pw = self.branch1
            out = torch.cat([F.relu(pw(dw(x))), self._branch2(x)], dim=1)
        return channel_shuffle(out)


class ShuffleNetV2(nn.Module):
    def __init__(self, width: float = 1.0, num_classes: int = 1000, in_chans: int = 3,
                 rep: RepSpec = GHOSTNETV3, drop_rate: float = 0.0) -> None:
        super().__init__()
        if width not in CHANNELS:
            raise ValueError(f"model.width {width} is not a ShuffleNetV2 width; expected one of "
                             f"{tuple(CHANNELS)}")
        self.width, self.num_classes, self.in_chans, self.drop_rate = width, num_classes, in_chans, drop_rate
        self.rep = rep
        ch = CHANNELS[width]
        self.stem = ConvBNAct(in_chans, ch[0], 3, 2)
        stages, prev = [], ch[0]
        for repeats, out in zip(REPEATS, ch[1:4], strict=True):
            units = [ShuffleUnit(prev, out, 2, rep)]
            units += [ShuffleUnit(out, out, 1, rep) for _ in range(repeats - 1)]
            stages.append(nn.Sequential(*units))
            prev = out
        self.stages = nn.Sequential(*stages)
        self.last = ConvBNAct(prev, ch[4], 1)
        self.classifier = nn.Linear(ch[4], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_chans:
            raise ValueError(f"expected input (B, {self.in_chans}, H, W), got {tuple(x.shape)}")
        x = F.max_pool2d(self.stem(x), 3, 2, 1)
        x = self.last(self.stages(x)).mean((2, 3))
        return self.classifier(F.dropout(x, self.drop_rate, self.training))
