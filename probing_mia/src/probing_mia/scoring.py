"""Per-token statistics of a causal LM on a text: log p(x_t | x_<t), and the mean and standard
deviation of log p under the model's own next-token distribution (Min-K%++ needs both)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from probing_mia.model import encode
from probing_mia.training import pad_batch


@dataclass
class TokenStats:
    logp: np.ndarray  # log p(x_t | x_<t) for t = 1..T-1
    mu: np.ndarray  # E_{z ~ p(.|x_<t)} log p(z | x_<t)
    sigma: np.ndarray  # Std_{z ~ p(.|x_<t)} log p(z | x_<t)

    @property
    def mean_logp(self) -> float:
        return float(self.logp.mean())


@torch.no_grad()
def token_stats(model, tokenizer, texts: list[str], max_length: int,
                batch_size: int = 16) -> list[TokenStats]:
    model.eval()
    out: list[TokenStats] = []
    for start in range(0, len(texts), batch_size):
        seqs = [encode(tokenizer, t, max_length) for t in texts[start:start + batch_size]]
        ids, mask = pad_batch(seqs, tokenizer.pad_token_id)
        logprobs = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits[:, :-1]
                                     .double(), dim=-1)
        chosen = logprobs.gather(-1, ids[:, 1:, None]).squeeze(-1)
        probs = logprobs.exp()
        mu = (probs * logprobs).sum(-1)
        sigma = ((probs * logprobs.square()).sum(-1) - mu.square()).clamp_min(0).sqrt()
        for row, seq in enumerate(seqs):
            n = len(seq) - 1
            out.append(TokenStats(chosen[row, :n].numpy(), mu[row, :n].numpy(),
                                  sigma[row, :n].numpy()))
    return out
