"""One decode loop for Kangaroo (chain and tree), the no-adapter early exit and vanilla AR.

Invariant at the start of every cycle: every target layer has cached positions [0, L) with
L = len(tokens) - 1; the newest token (the root) is cached nowhere yet. A cycle:

1. layers [0, l) on the root -> its exit feature (these shallow layers are the draft's body);
2. draft: the drafter sees the exit features it has not seen (the root, plus an accepted token it
   missed last cycle), proposes top-1 (chain) or top-K (tree) children; layers [0, l) run on the
   new draft tokens, and a node is expanded further only while its confidence > eta and its depth
   < gamma (the second early exit; a low-confidence token is still verified);
3. verify: layers [l, N) only, on the stored exit features of the root and all draft tokens, in
   one forward (tree mask for trees);
4. accept the longest agreeing path (greedy) or run exact speculative sampling (T > 0); keep the
   accepted slots of every layer's cache and of the adapter's, drop the rest.

With no drafter it is plain autoregressive decoding through the same runtime, cache and stops.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from kangaroo.drafters import Drafter
from kangaroo.llama import LlamaLM
from kangaroo.sampling import accept_deterministic, accept_sampled, sample, warp
from kangaroo.schema import DecodeConfig
from kangaroo.tree import DraftTree


@dataclass
class Generation:
    tokens: list[int]  # new tokens only
    accepted: list[int] = field(default_factory=list)  # tokens emitted per cycle
    drafted: list[int] = field(default_factory=list)  # draft tokens per cycle
    draft_s: float = 0.0
    verify_s: float = 0.0
    total_s: float = 0.0

    @property
    def tau(self) -> float:
        """Mean tokens per cycle (= per target verification), the paper's acceptance length."""
        return sum(self.accepted) / max(len(self.accepted), 1)


def check_setup(model: LlamaLM, exit_layer: int, prompt: list[int]) -> None:
    """User errors, raised before any forward pass."""
    n = model.num_layers
    if not 1 <= exit_layer < n:
        raise ValueError(f"model.exit_layer={exit_layer}: must satisfy 1 <= exit_layer < N "
                         f"(the target has N={n} layers)")
    if not prompt:
        raise ValueError("prompt: at least one token is required")
    bad = [t for t in prompt if not 0 <= t < model.cfg.vocab_size]
    if bad:
        raise ValueError(f"prompt: token ids {bad[:4]} are outside the vocabulary "
                         f"[0, {model.cfg.vocab_size})")


class Decoder:
    """Holds one sequence's caches; ``run`` decodes it. ``mode`` is "chain" or "tree"."""

    def __init__(self, model: LlamaLM, exit_layer: int, drafter: Drafter | None,
                 dc: DecodeConfig, mode: str = "chain", eos_ids: list[int] | None = None,
                 generator: torch.Generator | None = None) -> None:
        if mode not in ("chain", "tree"):
            raise ValueError(f"decode mode {mode!r}: expected 'chain' or 'tree'")
        self.model, self.exit, self.drafter, self.dc = model, exit_layer, drafter, dc
        self.mode, self.eos = mode, set(eos_ids or [])
        self.gen = generator
        self.sampling = dc.temperature > 0
        self.width = 1 if mode == "chain" else dc.tree_top_k
        self.budget = dc.gamma if mode == "chain" else dc.tree_max_nodes

    # -- target pieces ---------------------------------------------------------------------------
    def _shallow(self, tokens: list[int], positions: list[int],
                 tree: torch.Tensor | None) -> torch.Tensor:
        dev = self.model.embed_tokens.weight.device
        ids = torch.tensor([tokens], device=dev)
        pos = torch.tensor(positions, device=dev)
        return self.model.run_layers(self.model.embed_tokens(ids), 0, self.exit, pos,
                                     self.cache, tree)

    def _deep(self, feats: torch.Tensor, positions: list[int],
              tree: torch.Tensor | None) -> torch.Tensor:
        pos = torch.tensor(positions, device=feats.device)
        h = self.model.run_layers(feats, self.exit, self.model.num_layers, pos, self.cache, tree)
        return self.model.logits(h)[0]

    # -- one sequence ----------------------------------------------------------------------------
    @torch.no_grad()
    def run(self, prompt: list[int]) -> Generation:
        check_setup(self.model, self.exit, prompt)
        t_start = time.perf_counter()
        dc = self.dc
        capacity = len(prompt) + dc.max_new_tokens + self.budget + 8
        self.cache = self.model.new_cache(capacity)
        if self.drafter is not None:
            self.drafter.reset(capacity)
        tokens = list(prompt)
        self.pending = torch.zeros(1, 0, self.model.cfg.hidden_size,
                                   dtype=self.model.embed_tokens.weight.dtype)
        if len(prompt) > 1:  # prefill all but the newest token
            positions = list(range(len(prompt) - 1))
            feats = self._shallow(prompt[:-1], positions, None)
            self._deep(feats, positions, None)
            self.pending = feats
        out = Generation([])
        while True:
            new, drafted = self._cycle(tokens, out)
            out.drafted.append(drafted)
            done = False
            emitted = 0
            for t in new:
                out.tokens.append(t)
                tokens.append(t)
                emitted += 1
                if t in self.eos or len(out.tokens) >= dc.max_new_tokens:
                    done = True
                    break
            out.accepted.append(emitted)
            if done:
                break
        out.total_s = time.perf_counter() - t_start
        return out

    def _cycle(self, tokens: list[int], out: Generation) -> tuple[list[int], int]:
        length = len(tokens) - 1
        t0 = time.perf_counter()
        tree = DraftTree(tokens[-1])
        feats = [self._shallow([tokens[-1]], [length], None)]  # root's exit feature
        t1 = time.perf_counter()
        if self.drafter is not None:
            self._draft(tree, tokens, feats, length)
        t2 = time.perf_counter()
        all_feats = torch.cat(feats, dim=1)
        chain = tree.is_chain()
        order = list(range(len(tree)))
        mask = None if chain else tree.mask(order, order)
        logits = self._deep(all_feats, [length + n.depth for n in tree.nodes], mask)
        path, emitted = self._accept(tree, logits)
        self.cache.keep(range(self.model.num_layers), length, [length + i for i in path])
        if self.drafter is not None:
            self._commit_drafter(path, all_feats, length)
        t3 = time.perf_counter()
        out.draft_s += t2 - t1
        out.verify_s += (t1 - t0) + (t3 - t2)
        return [tree.nodes[i].token for i in path[1:]] + [emitted], len(tree) - 1

    # -- drafting --------------------------------------------------------------------------------
    def _draft(self, tree: DraftTree, tokens: list[int], feats: list[torch.Tensor],
               length: int) -> None:
        d = self.drafter
        if d.uses_context:  # the root, after any accepted feature the drafter missed
            ctx = torch.cat([self.pending, feats[0]], dim=1)
            start = length + 1 - ctx.shape[1]
            logits = d.logits(ctx, torch.arange(start, length + 1), None, [tokens])[-1:]
        else:
            logits = d.logits(feats[0], torch.tensor([length]), None, [tokens])
        self.adapter_nodes = [0]  # tree nodes in the drafter cache this cycle, in slot order
        frontier, frontier_logits = [0], logits
        prefix = tokens[:-1]
        while frontier:
            children = self._propose(tree, frontier, frontier_logits)
            if not children:
                break
            rows = list(range(len(tree) - len(children), len(tree)))
            order = list(range(len(tree)))
            chain = self.width == 1
            feats.append(self._shallow([tree.nodes[c].token for c in children],
                                       [length + tree.nodes[c].depth for c in children],
                                       None if chain else tree.mask(rows, order)))
            expand = [c for c in children if tree.nodes[c].conf > self.dc.eta
                      and tree.nodes[c].depth < self.dc.gamma and len(tree) - 1 < self.budget]
            expand = sorted(expand, key=lambda c: -tree.nodes[c].score)[: self.width]
            if not expand:
                break
            self.adapter_nodes += expand
            new_feats = feats[-1][:, [rows.index(c) for c in expand]]
            mask = None if chain else tree.mask(expand, self.adapter_nodes)
            paths = [prefix + tree.path_tokens(c) for c in expand]
            frontier_logits = self.drafter.logits(
                new_feats, torch.tensor([length + tree.nodes[c].depth for c in expand]), mask,
                paths)
            frontier = expand

    def _propose(self, tree: DraftTree, frontier: list[int],
                 logits: torch.Tensor) -> list[int]:
        """Children of the frontier: top-K (or one sample at T > 0 in the chain), cut to the
        remaining budget by path score."""
        room = self.budget - (len(tree) - 1)
        cands = []
        for node, row in zip(frontier, logits, strict=True):
            q = row.float().softmax(-1)
            conf = float(q.max())
            if self.sampling and self.width == 1:
                qw = warp(row, self.dc.temperature, self.dc.top_k, self.dc.top_p)
                tok = sample(qw, self.gen)
                cands.append((tree.nodes[node].score * float(q[tok]), node, tok, conf,
                              float(q[tok]), qw))
                continue
            top = torch.topk(q, min(self.width, q.numel()))
            for p, tok in zip(top.values.tolist(), top.indices.tolist(), strict=True):
                c = p if self.width > 1 else conf
                cands.append((tree.nodes[node].score * p, node, tok, c, p, None))
        cands.sort(key=lambda c: -c[0])
        return [tree.add(node, tok, conf, p, qw) for _, node, tok, conf, p, qw in cands[:room]]

    def _commit_drafter(self, path: list[int], all_feats: torch.Tensor, length: int) -> None:
        if not self.drafter.uses_context:
            return
        slot = {n: i for i, n in enumerate(self.adapter_nodes)}
        kept = [length + slot[n] for n in path if n in slot]
        self.drafter.keep(length, kept)
        # Accepted tokens the drafter never saw (the last one when all drafts were accepted):
        # their exit features are fed first next cycle.
        missed = [n for n in path if n not in slot]
        self.pending = all_feats[:, missed]

    # -- verification ----------------------------------------------------------------------------
    def _accept(self, tree: DraftTree, logits: torch.Tensor) -> tuple[list[int], int]:
        """Walk from the root; returns (accepted node path incl. root, the target's own token)."""
        node, path = 0, [0]
        while True:
            kids = tree.nodes[node].children
            if not self.sampling:
                tok = int(logits[node].argmax())
                nxt = next((c for c in kids if tree.nodes[c].token == tok), None)
                if nxt is None:
                    return path, tok
                node = nxt
                path.append(node)
                continue
            p = warp(logits[node], self.dc.temperature, self.dc.top_k, self.dc.top_p)
            nxt = None
            for c in kids:
                child = tree.nodes[c]
                if child.q is not None:
                    ok, p = accept_sampled(p, child.q, child.token, self.gen)
                else:
                    ok, p = accept_deterministic(p, child.token, self.gen)
                if ok:
                    nxt = c
                    break
            if nxt is None:
                return path, sample(p, self.gen)
            node = nxt
            path.append(node)


def generate(model: LlamaLM, exit_layer: int, drafter: Drafter | None, prompt: list[int],
             dc: DecodeConfig, mode: str = "chain", eos_ids: list[int] | None = None,
             generator: torch.Generator | None = None) -> Generation:
    return Decoder(model, exit_layer, drafter, dc, mode, eos_ids, generator).run(prompt)
