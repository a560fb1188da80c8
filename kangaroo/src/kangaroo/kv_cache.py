"""One pre-allocated key/value cache for every layer of the target (or the adapter).

Each layer keeps its own length: while Kangaroo drafts, layers [0, l) run ahead of layers
[l, N) by the draft tokens, and verification then fills [l, N) up to the same length. Writes go
into the pre-allocated buffers in place; attention reads a view of the filled prefix, so no step
copies the cache. Rollback after a rejection only moves the length back (``truncate``); a tree
keeps its accepted path by moving those few slots forward (``keep``).
"""

from __future__ import annotations

import torch


class KVCache:
    def __init__(self, num_layers: int, capacity: int = 256) -> None:
        self.lengths = [0] * num_layers
        self.capacity = capacity
        self._k: list[torch.Tensor | None] = [None] * num_layers
        self._v: list[torch.Tensor | None] = [None] * num_layers

    def _ensure(self, layer: int, k: torch.Tensor, need: int) -> None:
        buf = self._k[layer]
        if buf is not None and buf.shape[2] >= need:
            return
        cap = max(self.capacity, need)
        while cap < need:
            cap *= 2
        shape = (k.shape[0], k.shape[1], cap, k.shape[3])
        new_k = k.new_zeros(shape)
        new_v = k.new_zeros(shape)
        n = self.lengths[layer]
        if buf is not None:  # grow (rare: capacity is sized from the request up front)
            new_k[:, :, :n] = buf[:, :, :n]
            new_v[:, :, :n] = self._v[layer][:, :, :n]
        self._k[layer], self._v[layer] = new_k, new_v
        self.capacity = cap

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor,
                                                                          torch.Tensor]:
        """Write ``k, v`` [B, H, n, D] after the layer's filled prefix; return views of all."""
        n0, n = self.lengths[layer], k.shape[2]
        self._ensure(layer, k, n0 + n)
        self._k[layer][:, :, n0 : n0 + n] = k
        self._v[layer][:, :, n0 : n0 + n] = v
        self.lengths[layer] = n0 + n
        return self._k[layer][:, :, : n0 + n], self._v[layer][:, :, : n0 + n]

    def truncate(self, layers: range, length: int) -> None:
        for layer in layers:
            self.lengths[layer] = min(self.lengths[layer], length)

    def keep(self, layers: range, start: int, slots: list[int]) -> None:
        """Keep ``slots`` (absolute, increasing, all >= start) at start, start+1, ... and drop
        every slot after them: the accepted root-to-leaf path of a verified tree."""
        for layer in layers:
            k, v = self._k[layer], self._v[layer]
            if k is not None and slots != list(range(start, start + len(slots))):
                idx = torch.tensor(slots, device=k.device)
                k[:, :, start : start + len(slots)] = k[:, :, idx]
                v[:, :, start : start + len(slots)] = v[:, :, idx]
            self.lengths[layer] = start + len(slots)

    def read(self, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
        n = self.lengths[layer]
        return self._k[layer][:, :, :n], self._v[layer][:, :, :n]
