"""KV-cached decoding for the decoder-only backbone, one context at a time.

A context's K samples share one prompt, so a batch of K needs no padding; with a latent each row
has its own prefix (a different x_T). Methods: greedy, beam (baseline only: one hypothesis),
nucleus (top_p) and temperature sampling.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from diffusiondialog.prefix_lm import PrefixLM


@dataclass(frozen=True)
class ChatDecode:
    method: str = "greedy"          # greedy | beam | sample
    top_p: float = 1.0
    temperature: float = 1.0
    beams: int = 4
    max_len: int = 24


def _start(model: PrefixLM, prompt: list[int], k: int, latent: torch.Tensor | None):
    ids = torch.tensor([prompt] * k)
    cache = model.prefix(latent) if latent is not None else None
    p = cache.get_seq_length() if cache is not None else 0
    mask = torch.ones(k, p + len(prompt), dtype=torch.long)
    logits, cache = model.step(ids, mask, cache)
    return logits, cache, mask


def _pick(logits: torch.Tensor, s: ChatDecode, gen: torch.Generator | None) -> torch.Tensor:
    if s.method == "greedy":
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / s.temperature, dim=-1)
    if s.top_p < 1.0:
        sorted_p, order = probs.sort(-1, descending=True)
        drop = sorted_p.cumsum(-1) - sorted_p >= s.top_p  # always keeps the top token
        sorted_p = sorted_p.masked_fill(drop, 0.0)
        pick = torch.multinomial(sorted_p / sorted_p.sum(-1, keepdim=True), 1, generator=gen)
        return order.gather(-1, pick).squeeze(-1)
    return torch.multinomial(probs, 1, generator=gen).squeeze(-1)


@torch.no_grad()
def sample_k(model: PrefixLM, prompt: list[int], k: int, stop: int, s: ChatDecode,
             latent: torch.Tensor | None = None, gen: torch.Generator | None = None
             ) -> list[list[int]]:
    """K continuations of one prompt (greedy or sampling); stops at `stop` or max_len."""
    logits, cache, mask = _start(model, prompt, k, latent)
    out = [[] for _ in range(k)]
    done = torch.zeros(k, dtype=torch.bool)
    for _ in range(s.max_len):
        nxt = _pick(logits, s, gen)
        for i in range(k):
            if not done[i]:
                if int(nxt[i]) == stop:
                    done[i] = True
                else:
                    out[i].append(int(nxt[i]))
        if done.all():
            break
        mask = torch.cat([mask, mask.new_ones(k, 1)], dim=1)
        logits, cache = model.step(nxt[:, None], mask, cache)
    return out


@torch.no_grad()
def beam_one(model: PrefixLM, prompt: list[int], stop: int, s: ChatDecode,
             latent: torch.Tensor | None = None) -> list[int]:
    """Beam search (length-normalised) for one prompt; `latent` is (1, slots, d) or None."""
    b = s.beams
    lat = None if latent is None else latent.expand(b, -1, -1)
    logits, cache, mask = _start(model, prompt, b, lat)
    scores = torch.full((b,), -float("inf"))
    scores[0] = 0.0  # identical beams at the start: expand only the first
    seqs: list[list[int]] = [[] for _ in range(b)]
    finished: list[tuple[float, list[int]]] = []
    for _ in range(s.max_len):
        logp = torch.log_softmax(logits.float(), -1)
        cand = (scores[:, None] + logp).view(-1)
        top, idx = cand.topk(2 * b)
        vocab = logp.shape[-1]
        keep_rows, keep_tok, keep_sc = [], [], []
        for sc, j in zip(top.tolist(), idx.tolist(), strict=True):
            row, tok = divmod(j, vocab)
            if tok == stop:
                if sc > -float("inf"):
                    finished.append((sc / (len(seqs[row]) + 1), seqs[row]))
                continue
            keep_rows.append(row)
            keep_tok.append(tok)
            keep_sc.append(sc)
            if len(keep_rows) == b:
                break
        if len(finished) >= b:
            break
        seqs = [seqs[r] + [t] for r, t in zip(keep_rows, keep_tok, strict=True)]
        scores = torch.tensor(keep_sc)
        cache.reorder_cache(torch.tensor(keep_rows))
        mask = torch.cat([mask, mask.new_ones(b, 1)], dim=1)
        logits, cache = model.step(torch.tensor(keep_tok)[:, None], mask, cache)
    if not finished:
        return seqs[0]
    return max(finished, key=lambda h: h[0])[1]
