"""Train-time multi-branch convolutions that fuse into one conv with bias (RepVGG/MobileOne rule).

A `RepConv` sums, before any activation, `n` conv+BN branches of the same kernel, optionally a
1x1 conv+BN "scale" branch and an identity BN. With BN in eval mode each branch is an affine map
of its input, so the sum is one convolution: for conv kernel K and BN(gamma, beta, mean, var, eps),
t = gamma / sqrt(var + eps), K' = K * t (per output channel), b' = beta - mean * t. A 1x1 kernel is
zero-padded to the centre of the k x k kernel; the identity is a kernel with a single 1 at the
centre of each channel's own input slot. `reparameterize()` replaces the branches by that conv.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


class ConvBN(nn.Module):
    """Conv (no bias) followed by BatchNorm; one branch of a `RepConv`."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1,
                 padding: int | None = None) -> None:
        super().__init__()
        pad = kernel // 2 if padding is None else padding
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride, pad, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class ConvBNAct(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


@dataclass(frozen=True)
class RepSpec:
    """Which train-time branches each re-parameterisable conv gets.

    The paper's GhostNetV3: 3 conv branches, the 1x1 scale branch and the identity BN on the cheap
    depthwise op. `RepSpec(1, False, False)` is the plain GhostNetV2-topology baseline.
    """

    conv_branches: int = 3
    scale: bool = True
    identity: bool = True


GHOSTNETV3 = RepSpec(3, True, True)
PLAIN = RepSpec(1, False, False)


def fuse_bn(kernel: torch.Tensor, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Kernel and bias of `bn(conv(x))` with BN in eval mode (running statistics)."""
    t = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return kernel * t.reshape(-1, 1, 1, 1), bn.bias - bn.running_mean * t


def identity_kernel(channels: int, groups: int, kernel: int, like: torch.Tensor) -> torch.Tensor:
    """The k x k grouped-conv kernel that maps x to x: channel c reads its own input slot."""
    per_group = channels // groups
    k = torch.zeros(channels, per_group, kernel, kernel, dtype=like.dtype, device=like.device)
    idx = torch.arange(channels, device=like.device)
    k[idx, idx % per_group, kernel // 2, kernel // 2] = 1
    return k


def pad_to(kernel: torch.Tensor, size: int) -> torch.Tensor:
    """Zero-pad a centred odd kernel to size x size (a 1x1 scale branch onto a 3x3/5x5 grid)."""
    pad = (size - kernel.shape[-1]) // 2
    return F.pad(kernel, [pad, pad, pad, pad])


class RepConv(nn.Module):
    """`conv_branches` x (conv k x k + BN) [+ 1x1 conv + BN "scale"] [+ identity BN], summed.

    With conv_branches=1 and no scale/identity this is a plain conv+BN: the "plain" baseline arm
    uses exactly that, so both arms fuse into the same deploy graph.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1,
                 conv_branches: int = 3, scale: bool = False, identity: bool = False) -> None:
        super().__init__()
        if conv_branches < 1:
            raise ValueError(f"conv_branches must be >= 1, got {conv_branches}")
        if kernel % 2 == 0:
            raise ValueError(f"RepConv needs an odd kernel, got {kernel}")
        self.in_ch, self.out_ch, self.kernel = in_ch, out_ch, kernel
        self.stride, self.groups = stride, groups
        self.padding = kernel // 2
        self.convs = nn.ModuleList(ConvBN(in_ch, out_ch, kernel, stride, groups)
                                   for _ in range(conv_branches))
        # a 1x1 branch only adds something new when the main kernel is larger than 1x1
        self.scale = ConvBN(in_ch, out_ch, 1, stride, groups, 0) if scale and kernel > 1 else None
        self.identity = (nn.BatchNorm2d(out_ch)
                         if identity and in_ch == out_ch and stride == 1 else None)
        self.fused: nn.Conv2d | None = None

    @property
    def branch_counts(self) -> dict[str, int]:
        if self.fused is not None:
            return {"conv": 0, "scale": 0, "identity": 0, "fused": 1}
        return {"conv": len(self.convs), "scale": int(self.scale is not None),
                "identity": int(self.identity is not None), "fused": 0}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused is not None:
            return self.fused(x)
        # summation order as in timm's GhostModuleV3 (scale, identity, convs) so interop logits
        # agree to the last bits where possible
        out = self.scale(x) if self.scale is not None else None
        if self.identity is not None:
            out = self.identity(x) if out is None else out + self.identity(x)
        for branch in self.convs:
            out = branch(x) if out is None else out + branch(x)
        return out

    def fused_kernel_bias(self) -> tuple[torch.Tensor, torch.Tensor]:
        kernel, bias = fuse_bn(self.convs[0].conv.weight, self.convs[0].bn)
        for branch in self.convs[1:]:
            k, b = fuse_bn(branch.conv.weight, branch.bn)
            kernel, bias = kernel + k, bias + b
        if self.scale is not None:
            k, b = fuse_bn(self.scale.conv.weight, self.scale.bn)
            kernel, bias = kernel + pad_to(k, self.kernel), bias + b
        if self.identity is not None:
            ident = identity_kernel(self.out_ch, self.groups, self.kernel, kernel)
            k, b = fuse_bn(ident, self.identity)
            kernel, bias = kernel + k, bias + b
        return kernel, bias

    @torch.no_grad()
    def reparameterize(self) -> None:
        """Replace the branches by one conv with bias. Needs BN in eval mode."""
        if self.fused is not None:
            return
        if self.training:
            raise RuntimeError("reparameterize() needs BN running statistics: call model.eval() "
                               "first (fusing in train mode would bake in batch statistics)")
        kernel, bias = self.fused_kernel_bias()
        ref = self.convs[0].conv
        fused = nn.Conv2d(self.in_ch, self.out_ch, self.kernel, self.stride, self.padding,
                          groups=self.groups, bias=True).to(ref.weight.device, ref.weight.dtype)
        fused.weight.copy_(kernel)
        fused.bias.copy_(bias)
        self.fused = fused
        self.convs = nn.ModuleList()
        self.scale = None
        self.identity = None


def reparameterize_model(model: nn.Module) -> nn.Module:
    """Fuse every `RepConv` in place (model must be in eval mode); returns the model."""
    if model.training:
        raise RuntimeError("reparameterize_model() needs model.eval(): BN must use running "
                           "statistics, not batch statistics")
    for module in list(model.modules()):
        if isinstance(module, RepConv):
            module.reparameterize()
    return model


def is_fused(model: nn.Module) -> bool:
    return all(m.fused is not None for m in model.modules() if isinstance(m, RepConv))


def randomize_bn(model: nn.Module, generator: torch.Generator) -> None:
    """Random running mean/var, gamma, beta in every BN (fresh BNs make fusion tests trivial)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n, dt = m.num_features, m.weight.dtype
                m.running_mean.copy_(torch.randn(n, generator=generator, dtype=dt) * 0.5)
                m.running_var.copy_(torch.rand(n, generator=generator, dtype=dt) * 1.5 + 0.5)
                m.weight.copy_(torch.randn(n, generator=generator, dtype=dt) * 0.5 + 1.0)
                m.bias.copy_(torch.randn(n, generator=generator, dtype=dt) * 0.3)
