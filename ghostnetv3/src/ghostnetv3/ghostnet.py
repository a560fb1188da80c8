"""GhostNetV3: the GhostNetV2 topology with re-parameterisable Ghost modules (timm-compatible).

Layout, channel rounding and forward order follow timm's `ghostnet.py` (`ghostnetv3_*`), so
`timm_interop` can map its state dicts onto these modules and get the same logits.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ghostnetv3.reparam import GHOSTNETV3, ConvBNAct, RepConv, RepSpec

WIDTHS = (0.5, 1.0, 1.3, 1.6)
# (kernel, expansion, out channels, SE ratio, stride) per bottleneck, grouped in stages (timm)
STAGES: tuple[tuple[tuple[int, int, int, float, int], ...], ...] = (
    ((3, 16, 16, 0, 1),),
    ((3, 48, 24, 0, 2),),
    ((3, 72, 24, 0, 1),),
    ((5, 72, 40, 0.25, 2),),
    ((5, 120, 40, 0.25, 1),),
    ((3, 240, 80, 0, 2),),
    ((3, 200, 80, 0, 1), (3, 184, 80, 0, 1), (3, 184, 80, 0, 1), (3, 480, 112, 0.25, 1),
     (3, 672, 112, 0.25, 1)),
    ((5, 672, 160, 0.25, 2),),
    ((5, 960, 160, 0, 1), (5, 960, 160, 0.25, 1), (5, 960, 160, 0, 1), (5, 960, 160, 0.25, 1)),
)
NET_STRIDE = 32




def make_divisible(v: float, divisor: int = 4, round_limit: float = 0.9) -> int:
    """timm's channel rounding: nearest multiple of `divisor`, never below 90 % of v."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < round_limit * v else new_v


class SqueezeExcite(nn.Module):
    """SE with a hard-sigmoid gate; reduced width rounded to a multiple of 4 (timm `_SE_LAYER`)."""

    def __init__(self, channels: int, ratio: float) -> None:
        super().__init__()
        reduced = make_divisible(channels * ratio, 4)
        self.conv_reduce = nn.Conv2d(channels, reduced, 1, bias=True)
        self.conv_expand = nn.Conv2d(reduced, channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = F.relu(self.conv_reduce(x.mean((2, 3), keepdim=True)))
        return x * F.hardsigmoid(self.conv_expand(s))


class DFCAttention(nn.Module):
    """GhostNetV2's decoupled fully-connected attention (not re-parameterised).

    gate = sigmoid(BN(dw 5x1(BN(dw 1x5(BN(1x1(avgpool2(x)))))))), nearest-upsampled to the output.
    """

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, 1, 1, 0, bias=False), nn.BatchNorm2d(out_ch),
            nn.Conv2d(out_ch, out_ch, (1, 5), 1, (0, 2), groups=out_ch, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.Conv2d(out_ch, out_ch, (5, 1), 1, (2, 0), groups=out_ch, bias=False),
            nn.BatchNorm2d(out_ch),
        )

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        if not torch.jit.is_tracing() and min(x.shape[-2:]) < 2:
            raise ValueError(f"DFC attention got a {tuple(x.shape[-2:])} map; it pools by 2, so "
                             f"every map it sees must be at least 2x2 (input too small)")
        gate = torch.sigmoid(self.layers(F.avg_pool2d(x, 2, 2)))
        return F.interpolate(gate, size=size, mode="nearest")


class GhostModuleV3(nn.Module):
    """Primary 1x1 (re-param convs) -> cheap depthwise 3x3 (re-param convs + scale + identity);
    output = concat(primary, cheap), optionally gated by DFC attention."""

    def __init__(self, in_ch: int, out_ch: int, rep: RepSpec, act: bool = True,
                 attention: bool = False) -> None:
        super().__init__()
        self.out_ch = out_ch
        init_ch = math.ceil(out_ch / 2)
        self.primary = RepConv(in_ch, init_ch, 1, conv_branches=rep.conv_branches)
        self.cheap = RepConv(init_ch, init_ch, 3, groups=init_ch, conv_branches=rep.conv_branches,
                             scale=rep.scale, identity=rep.identity)
        self.act = nn.ReLU() if act else nn.Identity()
        self.dfc = DFCAttention(in_ch, out_ch) if attention else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.act(self.primary(x))
        x2 = self.act(self.cheap(x1))
        out = torch.cat([x1, x2], dim=1)[:, : self.out_ch]
        if self.dfc is None:
            return out
        return out * self.dfc(x, out.shape[-2:])


class GhostBottleneckV3(nn.Module):
    """ghost1 (expand, ReLU[, DFC]) -> [stride 2: re-param depthwise k x k] -> [SE] -> ghost2
    (project, linear) -> + shortcut (identity, or dw k x k + BN + 1x1 + BN)."""

    def __init__(self, in_ch: int, mid_ch: int, out_ch: int, kernel: int, stride: int,
                 se_ratio: float, rep: RepSpec, attention: bool) -> None:
        super().__init__()
        self.ghost1 = GhostModuleV3(in_ch, mid_ch, rep, act=True, attention=attention)
        self.conv_dw = (RepConv(mid_ch, mid_ch, kernel, stride, groups=mid_ch,
                                conv_branches=rep.conv_branches, scale=rep.scale)
                        if stride > 1 else None)
        self.se = SqueezeExcite(mid_ch, se_ratio) if se_ratio > 0 else nn.Identity()
        self.ghost2 = GhostModuleV3(mid_ch, out_ch, rep, act=False)
        if in_ch == out_ch and stride == 1:
            self.shortcut: nn.Module = nn.Identity()
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_ch, in_ch, kernel, stride, (kernel - 1) // 2, groups=in_ch,
                          bias=False),
                nn.BatchNorm2d(in_ch),
                nn.Conv2d(in_ch, out_ch, 1, 1, 0, bias=False),
                nn.BatchNorm2d(out_ch),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.ghost1(x)
        if self.conv_dw is not None:
            y = self.conv_dw(y)
        y = self.ghost2(self.se(y))
        return y + self.shortcut(x)


def min_input_size() -> int:
    """Smallest side for which the stride-32 map (each stride-2 layer: ceil(n / 2)) is >= 2x2."""
    n = 1
    while True:
        m = n
        for _ in range(int(math.log2(NET_STRIDE))):
            m = (m + 1) // 2
        if m >= 2:
            return n
        n += 1


class GhostNetV3(nn.Module):
    """The classifier: stem 3x3/2 -> 16 bottlenecks in 9 stages -> 1x1 ConvBNAct -> pool ->
    1x1 conv to 1280 + ReLU -> dropout -> linear. DFC attention on every bottleneck but the
    first two (as in GhostNetV2/V3)."""

    def __init__(self, width: float = 1.0, num_classes: int = 1000, in_chans: int = 3,
                 rep: RepSpec = GHOSTNETV3, drop_rate: float = 0.2) -> None:
        super().__init__()
        if width not in WIDTHS:
            raise ValueError(f"model.width {width} is not a GhostNetV3 width; expected one of "
                             f"{WIDTHS}")
        self.width, self.num_classes, self.in_chans, self.rep = width, num_classes, in_chans, rep
        self.drop_rate = drop_rate
        self.min_size = min_input_size()
        stem_ch = make_divisible(16 * width, 4)
        self.stem = ConvBNAct(in_chans, stem_ch, 3, 2)
        prev, layer_idx, stages = stem_ch, 0, []
        for stage in STAGES:
            layers = []
            for k, exp, c, se, s in stage:
                out_ch, mid_ch = make_divisible(c * width, 4), make_divisible(exp * width, 4)
                layers.append(GhostBottleneckV3(prev, mid_ch, out_ch, k, s, se, rep,
                                                attention=layer_idx > 1))
                prev, layer_idx = out_ch, layer_idx + 1
            stages.append(nn.Sequential(*layers))
        self.num_features = make_divisible(960 * width, 4)
        stages.append(nn.Sequential(ConvBNAct(prev, self.num_features, 1)))
        self.blocks = nn.Sequential(*stages)
        self.conv_head = nn.Conv2d(self.num_features, 1280, 1, bias=True)
        self.classifier = nn.Linear(1280, num_classes)

    def check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.in_chans:
            raise ValueError(f"expected input (B, {self.in_chans}, H, W), got {tuple(x.shape)}")
        if not torch.jit.is_tracing() and min(x.shape[-2:]) < self.min_size:
            raise ValueError(f"input {x.shape[-2]}x{x.shape[-1]} is too small for GhostNetV3: "
                             f"each side must be >= {self.min_size} px so the stride-32 map is "
                             f"at least 2x2 (DFC attention pools it by 2); upsample the images")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.blocks(self.stem(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.forward_features(x).mean((2, 3), keepdim=True)
        x = torch.flatten(F.relu(self.conv_head(x)), 1)  # flatten, not squeeze: batch 1 stays 2-D
        x = F.dropout(x, self.drop_rate, self.training)
        return self.classifier(x)


def ghostnetv3(width: float = 1.0, num_classes: int = 1000, in_chans: int = 3,
               rep: RepSpec = GHOSTNETV3, drop_rate: float = 0.2) -> GhostNetV3:
    return GhostNetV3(width, num_classes, in_chans, rep, drop_rate)

