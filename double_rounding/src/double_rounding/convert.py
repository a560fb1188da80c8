"""Turn a float network into a bit-switchable one and switch its precision.

Every Conv2d / Linear except the first conv and the last linear becomes a quantized layer; every
BatchNorm2d becomes a switchable BN. Layer order (module registration order) decides which BN
follows which conv, which the transitional BN of the mixed-precision SuperNet needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from double_rounding.layers import QuantConv2d, QuantLinear, QuantMixin, SwitchableBatchNorm2d
from double_rounding.quantizer import validate_bits


@dataclass
class QuantSpec:
    bits: list[int]
    scheme: str = "double_rounding"
    rule: str = "half_up"
    act_signed: bool | str = "auto"
    lsq_grad_scale: bool = True
    transitional_bn: bool = False


def _set_child(root: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, module)


def _quantized_copy(layer: nn.Module, spec: QuantSpec) -> nn.Module:
    if isinstance(layer, nn.Conv2d):
        new = QuantConv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                          layer.padding, layer.dilation, layer.groups, layer.bias is not None)
    else:
        new = QuantLinear(layer.in_features, layer.out_features, layer.bias is not None)
    new.load_state_dict(layer.state_dict())
    new.setup_quant(spec.bits, spec.scheme, spec.rule, spec.act_signed, spec.lsq_grad_scale)
    return new


def quantize_model(model: nn.Module, spec: QuantSpec) -> nn.Module:
    """In place: quantize inner conv/linear layers, switchable BN everywhere; returns model."""
    spec.bits = validate_bits(spec.bits)
    names = [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    convs = [n for n in names if isinstance(model.get_submodule(n), nn.Conv2d)]
    linears = [n for n in names if isinstance(model.get_submodule(n), nn.Linear)]
    keep_float = {convs[0]} if convs else set()
    if linears:
        keep_float.add(linears[-1])
    order: list[tuple[str, list[str]]] = []  # (weight layer, BNs that follow it)
    for name, module in list(model.named_modules()):
        if name in names:
            if name not in keep_float:
                _set_child(model, name, _quantized_copy(module, spec))
            order.append((name, []))
        elif isinstance(module, nn.BatchNorm2d):
            _set_child(model, name, SwitchableBatchNorm2d(module, spec.bits, spec.transitional_bn))
            if order:
                order[-1][1].append(name)
    model.dr_spec = spec
    model.dr_order = order
    return model


def quant_layers(model: nn.Module) -> list[tuple[str, QuantMixin]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, QuantMixin)]


def set_precision(model: nn.Module, bits: int | None) -> None:
    """Uniform bit-width for every quantized layer (None = float, BN 'fp')."""
    n_layers = len(quant_layers(model))
    set_layer_bits(model, None if bits is None else [bits] * n_layers)


def set_layer_bits(model: nn.Module, layer_bits: list[int] | None) -> None:
    """Per-layer bit-widths (mixed precision), in quant_layers order; None = float.

    BN keys: str(b) of the preceding weight layer, or 'a_b' with a = the previous quantized
    layer's bits when the model has transitional BN. Float layers borrow the next quantized
    layer's bits so that the stem BN still switches with the network's precision.
    """
    spec: QuantSpec = model.dr_spec
    qlayers = quant_layers(model)
    if layer_bits is not None and len(layer_bits) != len(qlayers):
        raise ValueError(f"layer_bits has {len(layer_bits)} entries, the model has "
                         f"{len(qlayers)} quantized layers")
    qindex = {name: i for i, (name, _) in enumerate(qlayers)}
    for i, (_, layer) in enumerate(qlayers):
        b = None if layer_bits is None else int(layer_bits[i])
        if b is not None:
            layer.wq.check(b)
        layer.bits = b
    prev = None
    q_seen = 0
    for name, bn_names in model.dr_order:
        if layer_bits is None:
            key = "fp"
        else:
            if name in qindex:
                b = layer_bits[qindex[name]]
                q_seen += 1
            else:
                b = layer_bits[min(q_seen, len(layer_bits) - 1)]
            key = f"{prev if prev is not None else b}_{b}" if spec.transitional_bn else str(b)
            prev = b if name in qindex else prev
        for bn_name in bn_names:
            model.get_submodule(bn_name).key = key


@torch.no_grad()
def calibrate(model: nn.Module, x: torch.Tensor, bits: list[int]) -> None:
    """Initialise every activation scale from one batch (before DDP wraps the model)."""
    was_training = model.training
    model.eval()
    for b in bits:
        set_precision(model, b)
        model(x)
    set_precision(model, None)
    model.train(was_training)


def parameter_groups(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(weights + BN parameters, quantization scales): the two optimizers of Algorithm A.2."""
    scales, weights = [], []
    for name, p in model.named_parameters():
        (scales if ".wq." in f".{name}" or ".aq." in f".{name}" else weights).append(p)
    return weights, scales
