"""One factory for every network of the study: `load_model(arch, width, ...)`.

The same arch/width builds the re-parameterised model (`reparam=True`, GhostNetV3 branches) or
the plain single-branch baseline (GhostNetV2 topology for `ghostnetv3`); both fuse into the same
deploy graph, so the ablation compares training strategies at identical inference cost.
"""

from __future__ import annotations

from torch import nn

from ghostnetv3.ghostnet import GhostNetV3
from ghostnetv3.mobilenet_v2 import MobileNetV2
from ghostnetv3.reparam import PLAIN, RepSpec
from ghostnetv3.shufflenet_v2 import ShuffleNetV2

ARCHS = {"ghostnetv3": GhostNetV3, "mobilenetv2": MobileNetV2, "shufflenetv2": ShuffleNetV2}


def rep_spec(reparam: bool, conv_branches: int = 3, scale: bool = True,
             identity: bool = True) -> RepSpec:
    return RepSpec(conv_branches, scale, identity) if reparam else PLAIN


def load_model(arch: str, width: float = 1.0, num_classes: int = 1000, in_chans: int = 3,
               reparam: bool = True, conv_branches: int = 3, scale: bool = True,
               identity: bool = True, drop_rate: float = 0.2) -> nn.Module:
    if arch not in ARCHS:
        raise ValueError(f"model.arch {arch!r} is unknown; expected one of {sorted(ARCHS)}")
    model = ARCHS[arch](width=width, num_classes=num_classes, in_chans=in_chans,
                        rep=rep_spec(reparam, conv_branches, scale, identity), drop_rate=drop_rate)
    model.arch = arch
    return model
