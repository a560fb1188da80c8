"""One drafter interface for vanilla, EAGLE-2, Jakiro, Jakiro* and scripted test drafters.

The decode loop calls ``begin`` after the prefill, ``propose`` once per cycle, and ``observe``
after verification with the target features of the root and accepted slots and the tokens
that follow each of them (the accepted drafts and the new root).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from jakiro.checks import ConfigError, positive
from jakiro.draft_head import DraftHead, head_logits
from jakiro.llama import LlamaLM
from jakiro.tree import DraftTree, ancestor_mask, chain_tree, select_tree


class Drafter:
    """Base class: also the vanilla drafter (proposes the root only, one token per cycle)."""

    name = "vanilla"

    def begin(self, prompt: torch.Tensor, features: torch.Tensor, root: int) -> None:
        self.root = root

    def propose(self) -> DraftTree:
        return chain_tree(self.root, [])

    def observe(self, features: torch.Tensor, next_tokens: list[int]) -> None:
        self.root = next_tokens[-1]


@dataclass
class TreeConfig:
    top_k: int = 10
    depth: int = 5  # L: the tree has L + 1 draft levels
    total_token: int = 60  # B: tree slots including the root
    hybrid: bool = True  # Jakiro: last level from the contrastive branch (no draft forward)
    parent_rule: str = "fixed"  # "fixed" (by parent) or "official" (row j -> j-th child)
    candidates: str = "mixture"  # "mixture" or "per_expert" (Jakiro*: decoupled experts)

    def __post_init__(self) -> None:
        positive("tree", top_k=self.top_k, depth=self.depth)
        if self.total_token < 1 and self.total_token != -1:
            raise ConfigError(f"tree.total_token must be >= 1 or -1 (auto from the measured t(n) "
                              f"curve), got {self.total_token}")
        if self.parent_rule not in ("fixed", "official"):
            raise ConfigError(f"tree.parent_rule must be fixed|official, got {self.parent_rule!r}")
        if self.candidates not in ("mixture", "per_expert"):
            raise ConfigError(
                f"tree.candidates must be mixture|per_expert, got {self.candidates!r}")
        if self.hybrid and self.depth < 2:
            raise ConfigError("tree.hybrid needs depth >= 2")


class HeadDrafter(Drafter):
    """EAGLE-2 dynamic tree from a feature-level draft head, with Jakiro's hybrid last level."""

    def __init__(
        self,
        head: DraftHead,
        target: LlamaLM,
        cfg: TreeConfig,
        max_len: int,
        vocab_ids: torch.Tensor | None = None,
        name: str | None = None,
    ) -> None:
        if cfg.hybrid and head.cfg.kind != "jakiro":
            raise ValueError("tree.hybrid needs a Jakiro head (an EAGLE head has no t+2 branch)")
        if cfg.candidates == "per_expert" and head.cfg.kind != "jakiro":
            raise ValueError("tree.candidates=per_expert needs a Jakiro head")
        self.head, self.cfg = head, cfg
        self.embed = target.embed_tokens.weight
        w = target.lm_head.weight
        # Draft-time vocabulary subset: logits only over frequent tokens (lossless, cheaper).
        self.vocab_ids = None if vocab_ids is None else vocab_ids.cpu()
        self.w_draft = w if vocab_ids is None else w[vocab_ids.to(w.device)]
        self.cache = head.new_cache(max_len)
        self.name = name or head.cfg.kind
        self.forwards = 0

    # -- helpers -----------------------------------------------------------------------------
    def _topk(self, h: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        lp = torch.log_softmax(head_logits(self.w_draft, h).float(), -1)
        vals, idx = lp.topk(k, dim=-1)
        idx, vals = idx.cpu(), vals.cpu()  # tree bookkeeping lives on the CPU
        toks = idx if self.vocab_ids is None else self.vocab_ids[idx]
        return toks, vals

    def _expert_topk(self, experts: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Jakiro*: each expert proposes top-k with its own log-probs; merge, dedupe by max."""
        toks, vals = self._topk(experts, k)  # [E, n, k]
        e, n, _ = toks.shape
        out_t = torch.empty(n, k, dtype=torch.long)
        out_v = torch.empty(n, k)
        for r in range(n):
            best: dict[int, float] = {}
            for t, v in zip(toks[:, r].flatten().tolist(), vals[:, r].flatten().tolist(),
                            strict=True):
                best[t] = max(v, best.get(t, float("-inf")))
            ranked = sorted(best.items(), key=lambda kv: -kv[1])[:k]
            out_t[r] = torch.tensor([t for t, _ in ranked])
            out_v[r] = torch.tensor([v for _, v in ranked])
        return out_t, out_v

    def _run(self, feats: torch.Tensor, toks: torch.Tensor, positions: torch.Tensor | None,
             tree_mask: torch.Tensor | None, right: bool = False):  # noqa: ANN202
        self.forwards += 1
        return self.head(
            feats[None], self.embed[toks.to(self.embed.device)][None], positions, self.cache,
            tree_mask, right=right,
            experts=self.cfg.candidates == "per_expert",
        )

    # -- interface ---------------------------------------------------------------------------
    def begin(self, prompt: torch.Tensor, features: torch.Tensor, root: int) -> None:
        self.cache.truncate(0)
        self.stable = 0
        nxt = torch.cat([prompt[1:].cpu(), torch.tensor([root])])
        self.root = root
        self._extend(features, nxt)

    def observe(self, features: torch.Tensor, next_tokens: list[int]) -> None:
        self.root = next_tokens[-1]
        self._extend(features, torch.tensor(next_tokens))

    def _extend(self, features: torch.Tensor, next_tokens: torch.Tensor) -> None:
        # Drop last cycle's tree rows; the stable cache holds (f_t, x_{t+1}) pairs only.
        self.cache.truncate(self.stable)
        out = self._run(features, next_tokens, None, None)
        self.stable = self.cache.length
        self.h0 = out.left[0, -1]
        self.h0_experts = None if out.experts is None else out.experts[:, 0, -1:]

    def _level(self, h: torch.Tensor, experts: torch.Tensor | None, k: int):  # noqa: ANN202
        if experts is not None:
            return self._expert_topk(experts, k)
        return self._topk(h, k)

    def propose(self) -> DraftTree:
        cfg, k = self.cfg, self.cfg.top_k
        self.cache.truncate(self.stable)
        toks0, lp0 = self._level(self.h0[None], self.h0_experts, k)
        # Candidate lists in creation order; parents index into them (-1 = root).
        c_tok, c_par, c_score = [toks0[0]], [torch.full((k,), -1)], [lp0[0]]
        n_cand = k
        frontier = torch.arange(k)  # candidate ids of the frontier
        f_tok, f_score = toks0[0], lp0[0]
        f_feat = self.h0[None].expand(k, -1)
        f_depth = 1
        anc = torch.zeros(k, 0, dtype=torch.bool)  # frontier rows over tree rows in the cache
        tree_rows = 0
        right_tok = right_lp = None
        n_forward = cfg.depth - 1 if cfg.hybrid else cfg.depth
        for step in range(n_forward):
            dual = cfg.hybrid and step == n_forward - 1
            mask = torch.cat([anc, torch.eye(k, dtype=torch.bool)], dim=1)
            pos = torch.full((k,), self.stable - 1 + f_depth)
            out = self._run(f_feat, f_tok, pos, mask, right=dual)
            h = out.left[0]
            ex = None if out.experts is None else out.experts[:, 0]
            tok, lp = self._level(h, ex, k)  # [k, k]
            score = f_score[:, None] + lp
            c_tok.append(tok.flatten())
            c_par.append(frontier[:, None].expand(k, k).flatten())
            c_score.append(score.flatten())
            best = score.flatten().topk(k).indices
            rows = best // k
            new_frontier = n_cand + best
            n_cand += k * k
            if dual:
                right_tok, right_lp = self._topk(out.right[0], k)
            # Next frontier attends to its parent's ancestors, the parent row and itself.
            anc_full = torch.cat([anc, torch.eye(k, dtype=torch.bool)], dim=1)
            tree_rows += k
            anc = anc_full[rows]
            frontier, f_tok, f_score = new_frontier, tok.flatten()[best], score.flatten()[best]
            f_feat = h[rows.to(h.device)]
            f_depth += 1
            self._parent_rows = rows
        if cfg.hybrid:
            # Last level without a forward: grandchildren of each expanded row come from its
            # contrastive (t+2) prediction.
            if cfg.parent_rule == "fixed":
                src = self._parent_rows
            else:  # official code: row j attached under the j-th selected child
                src = torch.arange(k)
            tok = right_tok[src]
            score = f_score[:, None] + right_lp[src]
            c_tok.append(tok.flatten())
            c_par.append(frontier[:, None].expand(k, k).flatten())
            c_score.append(score.flatten())
        return select_tree(
            self.root, torch.cat(c_tok), torch.cat(c_par), torch.cat(c_score), cfg.total_token
        )


class ScriptedDrafter(Drafter):
    """Test drafter replaying a known continuation: 'oracle' (correct) or 'wrong' tokens.

    Each level holds the scripted token plus ``width - 1`` wrong siblings; ``wrong`` replaces
    the scripted token by a wrong one, so nothing is ever accepted.
    """

    def __init__(self, reference: list[int], vocab: int, depth: int, width: int = 1,
                 mode: str = "oracle", seed: int = 0) -> None:
        self.reference, self.vocab, self.depth, self.width = reference, vocab, depth, width
        self.mode = mode
        self.gen = torch.Generator().manual_seed(seed)
        self.name = f"scripted-{mode}"

    def begin(self, prompt: torch.Tensor, features: torch.Tensor, root: int) -> None:
        self.pos = prompt.numel() + 1  # index in reference of the token after the root
        self.root = root

    def observe(self, features: torch.Tensor, next_tokens: list[int]) -> None:
        self.pos += len(next_tokens)
        self.root = next_tokens[-1]

    def propose(self) -> DraftTree:
        tokens, parents = [self.root], [-1]
        node = 0
        for lvl in range(self.depth):
            i = self.pos + lvl
            if i >= len(self.reference):
                break
            right = self.reference[i]
            wrong = [(right + 1 + j) % self.vocab for j in range(self.width)]
            sibs = wrong[: self.width - 1] + ([right] if self.mode == "oracle" else [wrong[-1]])
            perm = torch.randperm(len(sibs), generator=self.gen).tolist()
            nxt = node
            for j in perm:
                tokens.append(sibs[j])
                parents.append(node)
                if sibs[j] == right:
                    nxt = len(tokens) - 1
            if nxt == node:
                break
            node = nxt
        par = torch.tensor(parents)
        return DraftTree(
            tokens=torch.tensor(tokens),
            parents=par,
            depth=ancestor_mask(par).sum(1) - 1,
            scores=torch.zeros(len(tokens)),
        )
