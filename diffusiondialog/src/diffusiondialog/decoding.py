"""Batched greedy, beam and nucleus decoding with an optional latent prefix.

The decoder is re-run on the whole prefix each step (no KV cache): responses are short and this
keeps the latent-prefix path identical between training and generation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from diffusiondialog.model import DialogModel
from diffusiondialog.tokenizer import EOS, PAD


def _next_logp(model: DialogModel, seq: torch.Tensor, enc: torch.Tensor, mask: torch.Tensor,
               latent: torch.Tensor | None, step: int, min_len: int) -> torch.Tensor:
    logp = F.log_softmax(model.decode_logits(seq, enc, mask, latent)[:, -1].float(), dim=-1)
    if step < min_len:
        logp[:, EOS] = -float("inf")
    return logp


def _strip(seq: torch.Tensor) -> list[list[int]]:
    out = []
    for row in seq.tolist():
        row = row[1:]  # drop the decoder start token
        out.append(row[: row.index(EOS)] if EOS in row else row)
    return out


@torch.no_grad()
def greedy(model, enc, mask, latent=None, max_len=32, min_len=1, top_p=None, generator=None):
    """Greedy decoding, or nucleus sampling when `top_p` is given."""
    b = enc.shape[0]
    seq = torch.full((b, 1), EOS, dtype=torch.long, device=enc.device)
    done = torch.zeros(b, dtype=torch.bool, device=enc.device)
    for step in range(max_len):
        logp = _next_logp(model, seq, enc, mask, latent, step, min_len)
        nxt = logp.argmax(-1) if top_p is None else nucleus_sample(logp, top_p, generator)
        nxt = torch.where(done, torch.full_like(nxt, PAD), nxt)
        seq = torch.cat([seq, nxt[:, None]], dim=1)
        done |= nxt == EOS
        if done.all():
            break
    return _strip(seq)


def nucleus_sample(logp: torch.Tensor, top_p: float, generator=None) -> torch.Tensor:
    """Sample from the smallest set of tokens whose probability mass reaches `top_p`."""
    probs, order = logp.exp().sort(dim=-1, descending=True)
    cum = probs.cumsum(-1)
    probs = probs.masked_fill(cum - probs >= top_p, 0.0)  # always keeps the top token
    pick = torch.multinomial(probs / probs.sum(-1, keepdim=True), 1, generator=generator)
    return order.gather(-1, pick).squeeze(-1)


@torch.no_grad()
def beam_search(model, enc, mask, latent=None, beams=5, max_len=32, min_len=1,
                length_penalty=1.0) -> list[list[int]]:
    """Batched beam search; finished hypotheses are ranked by logp / length**length_penalty.

    Each example's beams share that example's encoder states and latent (repeat_interleave).
    """
    b, k = enc.shape[0], beams
    enc_k, mask_k = enc.repeat_interleave(k, 0), mask.repeat_interleave(k, 0)
    lat_k = None if latent is None else latent.repeat_interleave(k, 0)
    seq = torch.full((b * k, 1), EOS, dtype=torch.long, device=enc.device)
    scores = torch.full((b, k), -float("inf"), device=enc.device)
    scores[:, 0] = 0.0  # all beams start identical: expand only the first one
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(b)]
    for step in range(max_len):
        logp = _next_logp(model, seq, enc_k, mask_k, lat_k, step, min_len)
        vocab = logp.shape[-1]
        cand = (scores[:, :, None] + logp.view(b, k, vocab)).view(b, k * vocab)
        top, idx = cand.topk(2 * k, dim=-1)
        new_rows, new_scores = [], []
        for i in range(b):
            rows, sc = [], []
            for s, j in zip(top[i].tolist(), idx[i].tolist(), strict=True):
                beam, tok = divmod(j, vocab)
                src = seq[i * k + beam]
                if tok == EOS:
                    if len(finished[i]) < k and s > -float("inf"):
                        hyp = src[1:].tolist()
                        finished[i].append((s / (len(hyp) + 1) ** length_penalty, hyp))
                    continue
                rows.append(torch.cat([src, src.new_tensor([tok])]))
                sc.append(s)
                if len(rows) == k:
                    break
            new_rows += rows
            new_scores.append(sc)
        seq = torch.stack(new_rows)
        scores = torch.tensor(new_scores, device=enc.device)
        if all(len(f) >= k for f in finished):
            break
    out = []
    for i in range(b):
        if not finished[i]:  # nothing ended within max_len: take the best live beam
            finished[i].append((0.0, seq[i * k, 1:].tolist()))
        out.append(max(finished[i], key=lambda h: h[0])[1])
    return out
