"""What proposes the draft tokens from the exit-layer features.

* ``AdapterDrafter``: Kangaroo; the adapter (own KV cache) then the target's LM head.
* ``EarlyExitDrafter``: the no-adapter peer; the exit-layer feature straight into the target's
  final norm and LM head, so the adapter's value is measured rather than assumed.
Tests add scripted drafters (oracle, always wrong) with the same interface.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from kangaroo.adapter import Adapter
from kangaroo.llama import LlamaLM


class Drafter:
    """Interface. ``uses_context``: the drafter keeps a cache over every accepted position and
    must see each exit-layer feature once (the decode loop feeds the ones it missed)."""

    uses_context = False

    def reset(self, capacity: int) -> None:
        """Start a new sequence."""

    def logits(self, feats: torch.Tensor, positions: torch.Tensor, tree: torch.Tensor | None,
               paths: list[list[int]]) -> torch.Tensor:
        """Draft logits [n, V] for exit features ``feats`` [1, n, d]; ``paths`` are the token
        sequences ending at each of these positions (scripted drafters use them)."""
        raise NotImplementedError

    def keep(self, start: int, slots: list[int]) -> None:
        """Keep these cache slots at start, start+1, ...; drop the rest of this cycle."""


class AdapterDrafter(Drafter):
    uses_context = True

    def __init__(self, adapter: Adapter, target: LlamaLM) -> None:
        self.adapter = adapter
        self.head = target.head_weight
        self.cache = adapter.new_cache()

    def reset(self, capacity: int) -> None:
        self.cache = self.adapter.new_cache(capacity)

    @torch.no_grad()
    def logits(self, feats: torch.Tensor, positions: torch.Tensor, tree: torch.Tensor | None,
               paths: list[list[int]]) -> torch.Tensor:
        z = self.adapter(feats, positions, self.cache, tree)
        return F.linear(z[0], self.head)

    def keep(self, start: int, slots: list[int]) -> None:
        self.cache.keep(range(1), start, slots)

    @property
    def length(self) -> int:
        return self.cache.lengths[0]


class EarlyExitDrafter(Drafter):
    def __init__(self, target: LlamaLM) -> None:
        self.target = target

    @torch.no_grad()
    def logits(self, feats: torch.Tensor, positions: torch.Tensor, tree: torch.Tensor | None,
               paths: list[list[int]]) -> torch.Tensor:
        return self.target.logits(feats)[0]
