"""Float architectures (ResNet-20 for 32x32, torchvision ResNet-18/50 and MobileNetV2) and
`load_model`, which builds one and makes it bit-switchable.

The torchvision definitions are used unchanged so that ImageNet FP32 weights (a local
state-dict file; nothing is downloaded) load before quantization, as in the paper.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from double_rounding.convert import QuantSpec, quantize_model

ARCHS = ("resnet20", "resnet18", "resnet50", "mobilenet_v2")


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            # 1x1 projection shortcut (option B) so that it is a quantizable conv like the rest
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                          nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet20(nn.Module):
    """CIFAR ResNet-20 (3 stages x 3 basic blocks, widths 16/32/64 times `width`)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3, width: float = 1.0,
                 blocks_per_stage: int = 3) -> None:
        super().__init__()
        widths = [max(4, int(round(c * width))) for c in (16, 32, 64)]
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        layers, c_in = [], widths[0]
        for stage, c_out in enumerate(widths):
            for block in range(blocks_per_stage):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(BasicBlock(c_in, c_out, stride))
                c_in = c_out
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layers(F.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


def build_float(arch: str, num_classes: int, in_channels: int = 3, width: float = 1.0,
                blocks_per_stage: int = 3) -> nn.Module:
    if arch == "resnet20":
        return ResNet20(num_classes, in_channels, width, blocks_per_stage)
    if arch in ("resnet18", "resnet50", "mobilenet_v2"):
        from torchvision import models as tv_models  # only needed for the ImageNet models

        model = getattr(tv_models, arch)(weights=None, num_classes=num_classes)
        if in_channels != 3:
            raise ValueError(f"model.in_channels must be 3 for {arch}, got {in_channels}")
        return model
    raise ValueError(f"model.arch {arch!r} is unknown; expected one of {ARCHS}")


def load_model(arch: str, bits: list[int], num_classes: int = 10, in_channels: int = 3,
               width: float = 1.0, blocks_per_stage: int = 3, pretrained: str | None = None,
               scheme: str = "double_rounding", rule: str = "half_up",
               act_signed: bool | str = "auto", lsq_grad_scale: bool = True,
               transitional_bn: bool = False) -> nn.Module:
    """Build `arch`, optionally load FP32 weights from a local file, then make it switchable."""
    model = build_float(arch, num_classes, in_channels, width, blocks_per_stage)
    if pretrained:
        path = Path(pretrained)
        if not path.is_file():
            raise FileNotFoundError(f"model.pretrained: no such file {path}")
        state = (_load_safetensors(path) if path.suffix == ".safetensors"
                 else torch.load(path, map_location="cpu", weights_only=True))
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(f"model.pretrained {path} does not match {arch}: missing "
                             f"{missing[:3]}..., unexpected {unexpected[:3]}...")
    spec = QuantSpec(list(bits), scheme, rule, act_signed, lsq_grad_scale, transitional_bn)
    quantize_model(model, spec)
    model.dr_arch = dict(arch=arch, num_classes=num_classes, in_channels=in_channels,
                         width=width, blocks_per_stage=blocks_per_stage)
    return model


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))
