"""Deploy cost of a model: parameters and multiply-accumulates, with one pinned convention.

Parameters: conv and linear weights and biases, plus one value per BN channel (what survives when
the BN is folded into the preceding conv: its shift). Under that convention a fused GhostNetV3
and a GhostNetV2 with its BNs count the same. MACs: conv and linear multiply-adds only (forward
hooks on a real forward pass, so strides, groups and padding are exact).
"""

from __future__ import annotations

import torch
from torch import nn


def deploy_param_count(model: nn.Module) -> int:
    total = 0
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            total += sum(p.numel() for p in m.parameters(recurse=False))
        elif isinstance(m, nn.BatchNorm2d):
            total += m.num_features
    return total


def train_param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Conv + linear multiply-accumulates of one forward pass on a zero input of this shape."""
    macs = 0

    def conv_hook(m: nn.Conv2d, _inp: tuple, out: torch.Tensor) -> None:
        nonlocal macs
        kh, kw = m.kernel_size
        macs += out.numel() * (m.in_channels // m.groups) * kh * kw

    def linear_hook(m: nn.Linear, _inp: tuple, out: torch.Tensor) -> None:
        nonlocal macs
        macs += out.numel() * m.in_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    try:
        ref = next(model.parameters())
        model(torch.zeros(input_shape, dtype=ref.dtype, device=ref.device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return macs


def same_graph(a: nn.Module, b: nn.Module) -> bool:
    """Same tensors under the same names with the same shapes: one deploy graph, layer by layer."""
    shapes_a = {k: tuple(v.shape) for k, v in a.state_dict().items()}
    return shapes_a == {k: tuple(v.shape) for k, v in b.state_dict().items()}
