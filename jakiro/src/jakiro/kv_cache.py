"""Pre-allocated key/value cache with gather-compaction and truncation.

One tensor per layer for keys and one for values, shape [B, kv_heads, max_len, head_dim], and a
single length counter. A forward writes its n new rows at [length, length + n) in every layer;
the caller's model advances ``length`` once all layers are done.
"""

from __future__ import annotations

import torch


class CacheFullError(ValueError):
    pass


class KVCache:
    def __init__(
        self,
        layers: int,
        batch: int,
        kv_heads: int,
        max_len: int,
        head_dim: int,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        shape = (batch, kv_heads, max_len, head_dim)
        self.keys = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(layers)]
        self.values = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(layers)]
        self.max_len = max_len
        self.length = 0

    def write(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Store rows for ``layer`` after the current length; return keys/values seen so far."""
        n = k.shape[2]
        end = self.length + n
        if end > self.max_len:
            raise CacheFullError(
                f"KV cache: {end} positions needed but max_len is {self.max_len}; raise "
                "decode.max_length or lower max_new_tokens / tree total_token"
            )
        self.keys[layer][:, :, self.length : end] = k
        self.values[layer][:, :, self.length : end] = v
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]

    def truncate(self, length: int) -> None:
        if not 0 <= length <= self.length:
            raise ValueError(f"KV cache: cannot truncate to {length} (length {self.length})")
        self.length = length

    def compact(self, start: int, keep: torch.Tensor) -> None:
        """Keep rows ``start + keep`` (ascending slot offsets) packed at [start, start + len).

        Used after tree verification: ``start`` is the prefix length before the tree and
        ``keep`` are the tree slots of the root and the accepted nodes.
        """
        n = keep.numel()
        if start + n > self.length:
            raise ValueError("KV cache: compaction index beyond the written rows")
        if keep.tolist() == list(range(n)):  # accepted slots already packed: no copy needed
            self.length = start + n
            return
        idx = keep.to(device=self.keys[0].device, dtype=torch.long) + start
        if int(idx.max()) >= self.length:
            raise ValueError("KV cache: compaction index beyond the written rows")
        for store in (self.keys, self.values):
            for t in store:
                # index_select copies first, so overlapping source/destination is safe.
                t[:, :, start : start + n] = t.index_select(2, idx)
        self.length = start + n

    def rows(self, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.keys[layer][:, :, : self.length], self.values[layer][:, :, : self.length]
