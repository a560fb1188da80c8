"""Bit-switchable layers: quantized conv / linear and BatchNorm with one copy per bit-width."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from double_rounding.quantizer import ActivationQuantizer, WeightQuantizer
from double_rounding.rounding import second_round_int


class QuantMixin:
    """Shared state of QuantConv2d / QuantLinear.

    `self.bits` is the layer's current bit-width (None = float). After `freeze_to_int8` the float
    weight is dropped and the forward pass uses the stored int8 tensor through the integer
    (shift) path, which is what a deployment reads from the exported checkpoint.
    """

    wq: WeightQuantizer
    aq: ActivationQuantizer

    def setup_quant(self, bits: list[int], scheme: str, rule: str, act_signed: bool | str,
                    lsq_grad_scale: bool) -> None:
        self.wq = WeightQuantizer(self.weight, bits, scheme, rule, lsq_grad_scale)
        self.aq = ActivationQuantizer(bits, act_signed, rule, lsq_grad_scale)
        self.bits: int | None = None
        self.frozen = False

    def quant_weight(self) -> torch.Tensor:
        if self.bits is None:
            if self.frozen:
                raise ValueError("a frozen int8 layer has no float weights; set a bit-width")
            return self.weight
        if self.frozen:
            self.wq.check(self.bits)
            delta = self.wq.high - self.bits
            q = second_round_int(self.stored, self.wq.high, self.bits, self.wq.rule)
            return q.to(self.wq.scale.dtype) * (self.wq.scale * 2**delta)
        return self.wq(self.weight, self.bits)

    def quant_input(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.bits is None else self.aq(x, self.bits)

    @torch.no_grad()
    def integer_weight(self, bits: int) -> torch.Tensor:
        """Integers q_bits of the current weights (training path unless frozen)."""
        if self.frozen:
            self.wq.check(bits)
            return second_round_int(self.stored, self.wq.high, bits, self.wq.rule)
        return self.wq.integers(self.weight, bits)[0].to(torch.int32)

    def freeze_to_int8(self, stored: torch.Tensor) -> None:
        if stored.dtype != torch.int8 or stored.shape != self.weight.shape:
            raise ValueError(
                f"stored weights must be int8 of shape {tuple(self.weight.shape)}, "
                f"got {stored.dtype} {tuple(stored.shape)}"
            )
        del self.weight
        self.register_buffer("stored", stored)
        self.frozen = True


class QuantConv2d(QuantMixin, nn.Conv2d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(self.quant_input(x), self.quant_weight(), self.bias, self.stride,
                        self.padding, self.dilation, self.groups)


class QuantLinear(QuantMixin, nn.Linear):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self.quant_input(x), self.quant_weight(), self.bias)


def bn_keys(bits: list[int], transitional: bool) -> list[str]:
    """'fp' for float, str(b) per bit-width, and 'a_b' pairs for transitional BN."""
    keys = ["fp"] + [str(b) for b in bits]
    if transitional:
        keys += [f"{a}_{b}" for a in bits for b in bits]
    return keys


class SwitchableBatchNorm2d(nn.Module):
    """One BatchNorm2d per key; only the active one is used and updated."""

    def __init__(self, source: nn.BatchNorm2d, bits: list[int], transitional: bool = False):
        super().__init__()
        self.bns = nn.ModuleDict()
        for key in bn_keys(bits, transitional):
            bn = nn.BatchNorm2d(source.num_features, source.eps, source.momentum,
                                source.affine, source.track_running_stats)
            bn.load_state_dict(source.state_dict())  # start every copy from the FP32 statistics
            self.bns[key] = bn
        self.key = "fp"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bns[self.key](x)
