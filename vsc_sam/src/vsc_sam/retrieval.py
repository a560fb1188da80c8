"""Score normalisation with a noise set; faiss candidate retrieval (global-k, max per pair)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import faiss
import numpy as np

from vsc_sam.formats import CandidatePair


@dataclass
class ScoreNormalizer:
    """CSLS-style normalisation: <[q, -beta*s(q)], [r, 1]> = <q, r> - beta * s(q).

    s(q) is the mean similarity of q to its ``k`` nearest noise frames. The noise set must not
    share videos with the evaluated references (it would subtract the true match).
    """

    noise: np.ndarray
    noise_ids: frozenset[str]
    beta: float = 1.0
    k: int = 1

    def __post_init__(self) -> None:
        self.index = faiss.IndexFlatIP(self.noise.shape[1])
        self.index.add(np.ascontiguousarray(self.noise, dtype=np.float32))

    def noise_similarity(self, x: np.ndarray) -> np.ndarray:
        sims, _ = self.index.search(np.ascontiguousarray(x, dtype=np.float32), self.k)
        return sims.mean(1)

    def check_disjoint(self, ref_ids) -> None:
        overlap = self.noise_ids & set(ref_ids)
        if overlap:
            raise ValueError(f"noise set overlaps the evaluated references: {sorted(overlap)[:5]}")

    def queries(self, q: np.ndarray) -> np.ndarray:
        bias = -self.beta * self.noise_similarity(q)
        return np.concatenate([q, bias[:, None]], axis=1).astype(np.float32)

    @staticmethod
    def refs(r: np.ndarray) -> np.ndarray:
        return np.concatenate([r, np.ones((len(r), 1), np.float32)], axis=1)


def _stack(videos: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    ids = list(videos)
    owner = np.concatenate([np.full(len(videos[v]), i) for i, v in enumerate(ids)])
    return (
        np.ascontiguousarray(np.concatenate([videos[v] for v in ids]), dtype=np.float32),
        owner,
        ids,
    )


def knn_search(queries: np.ndarray, database: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner-product k-NN with faiss Flat."""
    index = faiss.IndexFlatIP(database.shape[1])
    index.add(np.ascontiguousarray(database, dtype=np.float32))
    return index.search(np.ascontiguousarray(queries, dtype=np.float32), min(k, len(database)))


def global_k_candidates(
    query_feats: dict[str, np.ndarray],
    ref_feats: dict[str, np.ndarray],
    k_per_query: int = 1200,
    pairs_per_query: int = 25,
    max_knn: int = 2048,
) -> list[CandidatePair]:
    """Official-style "global-k" retrieval: keep the ``k_per_query * n_queries`` largest
    frame-pair similarities over all queries (a single global threshold), aggregate per video
    pair by max, keep the best ``pairs_per_query`` refs per query."""
    q, q_owner, q_ids = _stack(query_feats)
    r, r_owner, r_ids = _stack(ref_feats)
    sims, idx = knn_search(q, r, max_knn)
    budget = k_per_query * len(q_ids)
    flat = sims.ravel()
    if budget < flat.size:
        threshold = np.partition(flat, flat.size - budget)[flat.size - budget]
        keep = sims >= threshold
    else:
        keep = np.ones_like(sims, dtype=bool)
    best: dict[tuple[int, int], float] = {}
    rows, cols = np.nonzero(keep)
    for row, col in zip(rows, cols, strict=True):
        key = (int(q_owner[row]), int(r_owner[idx[row, col]]))
        value = float(sims[row, col])
        if value > best.get(key, -np.inf):
            best[key] = value
    per_query: dict[int, list[tuple[float, int]]] = defaultdict(list)
    for (qi, ri), score in best.items():
        per_query[qi].append((score, ri))
    out = []
    for qi, items in per_query.items():
        for score, ri in sorted(items, reverse=True)[:pairs_per_query]:
            out.append(CandidatePair(q_ids[qi], r_ids[ri], score))
    return out


def top_refs_by_max_similarity(
    desc: dict[str, np.ndarray], query: str, refs: list[str], k: int
) -> list[str]:
    """The ``k`` refs whose most similar frame pair with ``query`` scores highest (ties: id)."""
    scores = [(-float((desc[query] @ desc[r].T).max()), r) for r in sorted(refs)]
    return [r for _, r in sorted(scores)[:k]]
