"""GhostNetV3 as an mmdet backbone (multi-scale features; re-param branches fused for deploy).

`GhostNetV3Backbone` wraps the classifier's stem and blocks and returns the outputs of the blocks
in `out_indices` (default: stride 8, 16 and 32). `neck_in_channels(width, out_indices)` gives the
FPN `in_channels` for a width. mm is imported lazily: importing this module registers the class as
`GhostNetV3` in mmdet's MODELS registry when mmdet is installed (configs use
`custom_imports=dict(imports=["ghostnetv3.mm_backbone"])`).
"""

from __future__ import annotations

import torch
from torch import nn

from ghostnetv3.ghostnet import STAGES, GhostNetV3, make_divisible
from ghostnetv3.models import rep_spec
from ghostnetv3.reparam import reparameterize_model
from ghostnetv3.timm_interop import load_timm_state_dict, read_weights

# network stride after each entry of `blocks` (9 stages + the final 1x1 ConvBNAct)
STRIDES = (2, 4, 4, 8, 8, 16, 16, 32, 32, 32)


def block_channels(width: float, index: int) -> int:
    if index == len(STAGES):
        return make_divisible(960 * width, 4)
    return make_divisible(STAGES[index][-1][2] * width, 4)


def neck_in_channels(width: float, out_indices: tuple[int, ...] = (4, 6, 9)) -> list[int]:
    return [block_channels(width, i) for i in out_indices]


class GhostNetV3Backbone(nn.Module):
    def __init__(self, width: float = 1.0, reparam: bool = True,
                 out_indices: tuple[int, ...] = (4, 6, 9), frozen_stages: int = -1,
                 norm_eval: bool = False, checkpoint: str | None = None,
                 init_cfg: dict | None = None) -> None:
        super().__init__()
        if not out_indices or any(not 0 <= i < len(STRIDES) for i in out_indices):
            raise ValueError(f"out_indices {out_indices} must index the {len(STRIDES)} blocks")
        net = GhostNetV3(width, num_classes=1000, in_chans=3, rep=rep_spec(reparam))
        if checkpoint:
            load_timm_state_dict(net, read_weights(checkpoint), checkpoint)
        self.width, self.out_indices = width, tuple(out_indices)
        self.frozen_stages, self.norm_eval = frozen_stages, norm_eval
        self.stem, self.blocks, self._check = net.stem, net.blocks, net.check_input
        self.out_channels = neck_in_channels(width, self.out_indices)
        self._freeze()

    def _freeze(self) -> None:
        frozen = [self.stem, *list(self.blocks)[: self.frozen_stages]] if self.frozen_stages >= 0 else []
        for module in frozen:
            module.eval()
            for p in module.parameters():
                p.requires_grad_(False)

    def train(self, mode: bool = True) -> GhostNetV3Backbone:
        super().train(mode)
        self._freeze()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        return self

    def init_weights(self) -> None:  # mmengine calls this; weights come from the constructor
        return None

    def reparameterize(self) -> GhostNetV3Backbone:
        reparameterize_model(self)
        return self

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        self._check(x)
        x = self.stem(x)
        outs = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)


def register_mm_modules() -> bool:
    """Register `GhostNetV3` in mmdet's MODELS; False when mmdet is not installed."""
    try:
        from mmdet.registry import MODELS
    except ImportError:
        return False
    if MODELS.get("GhostNetV3") is None:
        MODELS.register_module("GhostNetV3", module=GhostNetV3Backbone)
    return True


register_mm_modules()
