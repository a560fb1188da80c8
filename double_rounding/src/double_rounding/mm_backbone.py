"""Bit-switchable quantized ResNet backbone for mmdet (RetinaNet) and mmseg (FPN / DeepLab heads).

`QuantResNet` builds a torchvision ResNet (unchanged at width 1.0, so an ImageNet FP32 state dict
from a local file loads before quantization), drops its classifier, makes every conv except the
stem conv bit-switchable with `convert.quantize_model` (double rounding from stored int8, per-bit
BN) and returns the stage outputs selected by `out_indices` like mmdet's `ResNet`.

mm is imported lazily: `register_mm_modules()` registers the class under the name
`DRQuantResNet` in mmdet's and mmseg's MODELS registries and `DRBitSwitchHook` in mmengine's
HOOKS; the rest of the package never needs mm. Configs call it through
`custom_imports=dict(imports=["double_rounding.mm_backbone"])` (importing this module registers
everything when mm is installed).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from double_rounding.convert import QuantSpec, quant_layers, quantize_model, set_layer_bits

DEPTHS = {18: ("BasicBlock", (2, 2, 2, 2)), 34: ("BasicBlock", (3, 4, 6, 3)),
          50: ("Bottleneck", (3, 4, 6, 3)), 101: ("Bottleneck", (3, 4, 23, 3))}
STAGE_PLANES = (64, 128, 256, 512)


def build_float_resnet(depth: int, width: float = 1.0) -> nn.Module:
    """torchvision ResNet without avgpool/fc; `width` < 1 scales every stage (tiny tests)."""
    from torchvision.models import resnet as tv

    if depth not in DEPTHS:
        raise ValueError(f"depth must be one of {sorted(DEPTHS)}, got {depth!r}")
    if not 0 < width <= 4:
        raise ValueError(f"width must be in (0, 4], got {width!r}")
    block_name, layers = DEPTHS[depth]
    block = getattr(tv, block_name)
    net = tv.ResNet(block, list(layers))
    if width != 1.0:
        planes = [max(4, int(round(p * width))) for p in STAGE_PLANES]
        net.inplanes = planes[0]
        net.conv1 = nn.Conv2d(3, planes[0], 7, 2, 3, bias=False)
        net.bn1 = nn.BatchNorm2d(planes[0])
        for i, (p, n) in enumerate(zip(planes, layers, strict=True)):
            setattr(net, f"layer{i + 1}", net._make_layer(block, p, n, stride=1 if i == 0 else 2))
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    del net.avgpool, net.fc
    return net


class QuantResNet(nn.Module):
    """Multi-precision quantized ResNet backbone with mmdet-style `out_indices`.

    bits: trained bit list (highest = stored int8 precision); active_bits: the bit-width at start
    (int for all layers, a list with one entry per quantized layer, or None = float).
    `set_bits` switches it later. frozen_stages / norm_eval behave as in mmdet's ResNet.
    """

    def __init__(self, depth: int = 18, bits: tuple[int, ...] | list[int] = (8, 6, 4, 2),
                 active_bits: int | list[int] | None = None, out_indices: tuple[int, ...] = (0, 1, 2, 3),
                 width: float = 1.0, frozen_stages: int = -1, norm_eval: bool = False,
                 pretrained: str | None = None, rule: str = "half_up",
                 transitional_bn: bool = False, init_cfg: dict | None = None) -> None:
        super().__init__()
        out_indices = tuple(out_indices)
        if not out_indices or any(i not in (0, 1, 2, 3) for i in out_indices):
            raise ValueError(f"out_indices must be a non-empty subset of (0, 1, 2, 3), got {out_indices}")
        if not -1 <= frozen_stages <= 4:
            raise ValueError(f"frozen_stages must be in [-1, 4], got {frozen_stages}")
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.init_cfg = init_cfg  # accepted for mm config compatibility; weights via `pretrained`
        body = build_float_resnet(depth, width)
        if pretrained:
            _load_pretrained(body, Path(pretrained))
        quantize_model(body, QuantSpec(list(bits), "double_rounding", rule, "auto", True,
                                       transitional_bn))
        self.body = body
        self.out_channels = [_block_out(getattr(body, f"layer{i + 1}")[-1]) for i in range(4)]
        self.set_bits(active_bits)
        self._freeze_stages()

    @property
    def bits(self) -> list[int]:
        return list(self.body.dr_spec.bits)

    @property
    def num_quant_layers(self) -> int:
        return len(quant_layers(self.body))

    def set_bits(self, bits: int | list[int] | None) -> None:
        """All quantized layers at `bits`, per-layer bits from a list, or None for float."""
        if bits is None or isinstance(bits, list | tuple):
            set_layer_bits(self.body, None if bits is None else [int(b) for b in bits])
        else:
            set_layer_bits(self.body, [int(bits)] * self.num_quant_layers)
        self.active_bits = bits

    def _freeze_stages(self) -> None:
        mods: list[nn.Module] = []
        if self.frozen_stages >= 0:
            mods += [self.body.conv1, self.body.bn1]
        mods += [getattr(self.body, f"layer{i}") for i in range(1, self.frozen_stages + 1)]
        for m in mods:
            m.eval()
            for p in m.parameters():
                p.requires_grad = False

    def train(self, mode: bool = True) -> QuantResNet:
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        return self

    def init_weights(self) -> None:
        """mm calls this after building; weights come from the constructor (`pretrained`)."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        b = self.body
        x = b.maxpool(b.relu(b.bn1(b.conv1(x))))
        outs = []
        for i in range(4):
            x = getattr(b, f"layer{i + 1}")(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)


def _block_out(block: nn.Module) -> int:
    last_bn = [m for m in block.modules() if isinstance(m, nn.BatchNorm2d)][-1]
    return last_bn.num_features


def _load_pretrained(body: nn.Module, path: Path) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"pretrained: no such file {path}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    missing, unexpected = body.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"pretrained {path} does not match the backbone: missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]} (width must be 1.0 for ImageNet weights)")


def find_backbone(model: nn.Module) -> QuantResNet:
    backbone = getattr(model, "backbone", model)
    if not isinstance(backbone, QuantResNet):
        raise TypeError(f"expected a model with a QuantResNet backbone, got {type(backbone).__name__}")
    return backbone


_REGISTERED = False


def register_mm_modules() -> bool:
    """Register `DRQuantResNet` (mmdet + mmseg MODELS) and `DRBitSwitchHook` (mmengine HOOKS).

    Returns False when mmdet/mmseg are not importable; idempotent.
    """
    global _REGISTERED
    if _REGISTERED:
        return True
    try:
        from mmdet.registry import MODELS as DET_MODELS
        from mmengine.hooks import Hook
        from mmengine.registry import HOOKS
        from mmseg.registry import MODELS as SEG_MODELS
    except ImportError:
        return False
    DET_MODELS.register_module("DRQuantResNet", module=QuantResNet, force=True)
    SEG_MODELS.register_module("DRQuantResNet", module=QuantResNet, force=True)

    class DRBitSwitchHook(Hook):
        """Cycles the backbone's bit-width over `bits` once per training iteration.

        One precision per iteration (round robin) is what fits mmengine's one-step loop; the
        classification trainer (`trainer.py`) runs Algorithm A.2's every-precision step instead.
        Validation and testing run at `eval_bits`.
        """

        def __init__(self, bits: list[int] | None = None, eval_bits: int | None = None) -> None:
            self.cycle = None if bits is None else [int(b) for b in bits]
            self.eval_bits = eval_bits
            self.history: list[int] = []  # bit-width of every training iteration

        def _backbone(self, runner) -> QuantResNet:
            model = runner.model.module if hasattr(runner.model, "module") else runner.model
            return find_backbone(model)

        def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
            bb = self._backbone(runner)
            cycle = self.cycle or bb.bits
            bb.set_bits(cycle[runner.iter % len(cycle)])
            self.history.append(int(bb.active_bits))

        def _eval(self, runner) -> None:
            bb = self._backbone(runner)
            bb.set_bits(self.eval_bits if self.eval_bits is not None else max(bb.bits))

        def before_val_epoch(self, runner) -> None:
            self._eval(runner)

        def before_test_epoch(self, runner) -> None:
            self._eval(runner)

    HOOKS.register_module("DRBitSwitchHook", module=DRBitSwitchHook, force=True)
    _REGISTERED = True
    return True


register_mm_modules()
