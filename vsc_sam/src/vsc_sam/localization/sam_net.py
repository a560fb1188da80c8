"""SAM-lite: a compact U-Net that predicts the copy-line heat-map of a similarity matrix.

The paper uses an ImageNet HRNet-w18 at full resolution; no such weights exist offline, so this
is a from-scratch U-Net (full-resolution output, skip connections keep 1-pixel lines sharp).
Inference is fully convolutional, tiled for matrices larger than a tile, and averaged over the
matrix and its transpose (the paper's TTA).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class SAMUNet(nn.Module):
    """Input (B, 1, H, W) similarity, output (B, 2, H, W) logits; H, W multiples of 2**depth."""

    def __init__(self, width: int = 16, depth: int = 3):
        super().__init__()
        self.depth = depth
        chans = [width * 2**k for k in range(depth + 1)]
        self.down = nn.ModuleList(
            [_block(1, chans[0])] + [_block(chans[k - 1], chans[k]) for k in range(1, depth + 1)]
        )
        self.up = nn.ModuleList(
            [nn.ConvTranspose2d(chans[k], chans[k - 1], 2, stride=2) for k in range(depth, 0, -1)]
        )
        self.merge = nn.ModuleList(
            [_block(2 * chans[k - 1], chans[k - 1]) for k in range(depth, 0, -1)]
        )
        self.head = nn.Conv2d(chans[0], 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for k, block in enumerate(self.down):
            x = block(x if k == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        skips.pop()
        for up, merge in zip(self.up, self.merge, strict=True):
            x = merge(torch.cat([up(x), skips.pop()], dim=1))
        return self.head(x)


def soft_cross_entropy_sum(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-pixel cross-entropy against soft labels (1 - t, t), summed (the paper's reduction)."""
    logp = F.log_softmax(logits, dim=1)
    return -((1 - target) * logp[:, 0] + target * logp[:, 1]).sum()


def _tiles(n: int, tile: int, stride: int) -> list[tuple[int, int, int]]:
    """(tile start, first kept row, end of kept rows) per tile along one axis: each tile keeps
    the rows nearer to its centre than to any neighbour's, so seams sit mid-overlap."""
    if n <= tile:
        return [(0, 0, n)]
    starts = list(range(0, n - tile, stride)) + [n - tile]
    cuts = [0] + [(a + tile + b) // 2 for a, b in zip(starts, starts[1:], strict=False)] + [n]
    return [(s, cuts[k], cuts[k + 1]) for k, s in enumerate(starts)]


def tiled_apply(
    fn: Callable[[np.ndarray], np.ndarray],
    sim: np.ndarray,
    tile: int = 128,
    overlap: int = 32,
    multiple: int = 8,
) -> np.ndarray:
    """Apply a fully convolutional map ``fn`` (2-D array -> same-shape array) to a matrix of any
    size: zero-pad to a multiple of ``multiple`` (at least one tile), slide tiles overlapping by
    ``overlap`` and keep from each tile only its central part (seams mid-overlap). The result
    equals ``fn`` on the whole zero-padded matrix for every map whose output pixel depends only on
    inputs within ``overlap // 2`` pixels (a stack of convolutions of that receptive radius);
    for SAM-lite's larger receptive field it is an approximation away from the tile borders."""
    h, w = sim.shape
    ph = max(tile, -(-h // multiple) * multiple) if h > tile else tile
    pw = max(tile, -(-w // multiple) * multiple) if w > tile else tile
    padded = np.zeros((ph, pw), dtype=np.float32)
    padded[:h, :w] = sim
    out = np.zeros_like(padded)
    stride = tile - overlap
    for i, r0, r1 in _tiles(ph, tile, stride):
        for j, c0, c1 in _tiles(pw, tile, stride):
            pred = fn(padded[i : i + tile, j : j + tile])
            out[r0:r1, c0:c1] = pred[r0 - i : r1 - i, c0 - j : c1 - j]
    return out[:h, :w]


class SAMPredictor:
    """Batched heat-map inference with transpose TTA and tiling."""

    def __init__(
        self,
        model: nn.Module,
        tile: int = 128,
        overlap: int = 32,
        device: str | torch.device = "cpu",
        transpose_tta: bool = True,
    ):
        self.model = model.to(device).eval()
        self.tile, self.overlap, self.device = tile, overlap, torch.device(device)
        self.transpose_tta = transpose_tta

    @torch.no_grad()
    def _probabilities(self, tile: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(tile, dtype=np.float32))[None, None]
        batch = torch.cat([x, x.transpose(2, 3)]) if self.transpose_tta else x
        probs = torch.softmax(self.model(batch.to(self.device)), dim=1)[:, 1].float().cpu()
        if self.transpose_tta:
            return ((probs[0] + probs[1].T) / 2).numpy()
        return probs[0].numpy()

    def __call__(self, sim: np.ndarray) -> np.ndarray:
        return tiled_apply(
            self._probabilities,
            sim,
            self.tile,
            self.overlap,
            multiple=2 ** getattr(self.model, "depth", 3),
        )

    @torch.no_grad()
    def batch(self, sims: list[np.ndarray], canvas: int) -> list[np.ndarray]:
        """One forward for many matrices that fit on a ``canvas`` x ``canvas`` tile."""
        if any(max(s.shape) > canvas for s in sims):
            raise ValueError(
                f"batch inference needs every matrix <= {canvas}; use __call__ to tile"
            )
        x = torch.zeros(len(sims), 1, canvas, canvas)
        for k, s in enumerate(sims):
            x[k, 0, : s.shape[0], : s.shape[1]] = torch.from_numpy(s.astype(np.float32))
        x = x.to(self.device)
        probs = torch.softmax(self.model(x), dim=1)[:, 1]
        if self.transpose_tta:
            probs_t = torch.softmax(self.model(x.transpose(2, 3)), dim=1)[:, 1].transpose(1, 2)
            probs = (probs + probs_t) / 2
        probs = probs.float().cpu().numpy()
        return [probs[k, : s.shape[0], : s.shape[1]] for k, s in enumerate(sims)]
