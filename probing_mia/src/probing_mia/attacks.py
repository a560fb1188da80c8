"""Black-box membership scores, each oriented "higher = member".

Loss: mean token log-likelihood. Zlib: that divided by the zlib-compressed byte length
(Min-K%++ repository convention). Lowercase: log-PPL(lowercased) / log-PPL(original).
Ref: ll(target) - ll(reference). Min-K%: mean of the lowest k-fraction of token log-probs.
Min-K%++: the same over z_t = (log p(x_t) - mu_t) / sigma_t. Neighbor: ll(x) minus the mean ll
of perturbed copies of x.
"""

from __future__ import annotations

import random
import re
import zlib

import numpy as np

from probing_mia.scoring import TokenStats


def loss_score(stats: TokenStats) -> float:
    return stats.mean_logp


def zlib_entropy(text: str) -> int:
    return len(zlib.compress(text.encode("utf-8")))


def zlib_score(stats: TokenStats, text: str) -> float:
    return stats.mean_logp / zlib_entropy(text)


def lowercase_score(stats: TokenStats, lower: TokenStats) -> float:
    return (-lower.mean_logp) / (-stats.mean_logp)


def ref_score(stats: TokenStats, reference: TokenStats) -> float:
    return stats.mean_logp - reference.mean_logp


def _lowest_mean(values: np.ndarray, k: float) -> float:
    count = max(1, int(len(values) * k))
    return float(np.sort(values)[:count].mean())


def mink_score(stats: TokenStats, k: float) -> float:
    return _lowest_mean(stats.logp, k)


def minkpp_score(stats: TokenStats, k: float) -> float:
    z = (stats.logp - stats.mu) / np.maximum(stats.sigma, 1e-12)
    return _lowest_mean(z, k)


def neighbor_score(stats: TokenStats, neighbours: list[TokenStats]) -> float:
    return stats.mean_logp - float(np.mean([n.mean_logp for n in neighbours]))


WORD = re.compile(r"[A-Za-z]{3,}")


class WordSwapNeighbours:
    """Offline neighbour generator (documented stand-in for the masked-LM one of the paper):
    replace a ``fraction`` of the alphabetic words of a text by words drawn, by frequency, from
    a vocabulary of non-evaluation texts. Deterministic per (seed, text index, neighbour)."""

    def __init__(self, vocabulary_texts: list[str], fraction: float, seed: int) -> None:
        self.words = [w for t in vocabulary_texts for w in WORD.findall(t)]
        if not self.words:
            raise ValueError("neighbour vocabulary is empty")
        self.fraction = fraction
        self.seed = seed

    def __call__(self, text: str, index: int, count: int) -> list[str]:
        spans = [m.span() for m in WORD.finditer(text)]
        out = []
        for j in range(count):
            rng = random.Random(self.seed * 1_000_003 + index * 1009 + j)
            n = max(1, round(len(spans) * self.fraction)) if spans else 0
            chosen = sorted(rng.sample(range(len(spans)), n)) if n else []
            pieces, last = [], 0
            for pos in chosen:
                lo, hi = spans[pos]
                pieces += [text[last:lo], rng.choice(self.words)]
                last = hi
            out.append("".join(pieces) + text[last:])
        return out
