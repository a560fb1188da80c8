"""End-to-end pieces shared by train and eval: benchmark splits, descriptors, candidates,
per-pair similarity matrices, localisers and their evaluation."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np

from vsc_sam.benchmark import Benchmark, BenchmarkConfig, generate_benchmark
from vsc_sam.descriptors import DescriptorExtractor
from vsc_sam.formats import CandidatePair, Match
from vsc_sam.localization.segments import Segment, segments_to_matches
from vsc_sam.metrics import (
    bootstrap_values,
    boundary_errors,
    candidate_micro_ap,
    pairwise_micro_ap,
    segment_micro_ap,
)
from vsc_sam.retrieval import ScoreNormalizer, global_k_candidates

Pair = tuple[str, str]


def load_split(cfg: BenchmarkConfig, cache_dir: str | None, progress: bool = True) -> Benchmark:
    """Generate a split, or load it from ``cache_dir`` keyed by a hash of its config."""
    if not cache_dir:
        return generate_benchmark(cfg, progress)
    key = hashlib.sha1(json.dumps(asdict(cfg), sort_keys=True).encode()).hexdigest()[:12]
    folder = Path(cache_dir) / f"split_{key}"
    if (folder / "manifest.json").is_file():
        return Benchmark.load(folder)
    bench = generate_benchmark(cfg, progress)
    bench.save(folder)
    return bench


def check_ground_truth_ids(bench: Benchmark) -> None:
    """Every GT id must name a video of the split (clear error instead of a silent 0 recall)."""
    for m in bench.ground_truth:
        if m.query_id not in bench.queries:
            raise KeyError(f"ground truth names unknown query id {m.query_id!r}")
        if m.ref_id not in bench.refs:
            raise KeyError(f"ground truth names unknown reference id {m.ref_id!r}")


def candidates(
    train: Benchmark,
    test: Benchmark,
    train_desc: dict,
    test_desc: dict,
    beta: float,
    k_per_query: int,
    pairs_per_query: int,
) -> list[CandidatePair]:
    """Score-normalised global-k candidates; the training references are the noise set."""
    noise_ids = set(train.refs)
    normalizer = ScoreNormalizer(
        np.concatenate([train_desc[r] for r in train.refs]), frozenset(noise_ids), beta=beta
    )
    normalizer.check_disjoint(test.refs)
    q = {v: normalizer.queries(test_desc[v]) for v in test.queries}
    r = {v: normalizer.refs(test_desc[v]) for v in test.refs}
    return global_k_candidates(q, r, k_per_query=k_per_query, pairs_per_query=pairs_per_query)


def top_pairs(pairs: list[CandidatePair], per_query: int) -> list[Pair]:
    by_query: dict[str, list[CandidatePair]] = {}
    for p in pairs:
        by_query.setdefault(p.query_id, []).append(p)
    out = []
    for items in by_query.values():
        out += [p.pair_id for p in sorted(items, key=lambda p: -p.score)[:per_query]]
    return out


def similarity_matrices(pairs: list[Pair], desc: dict[str, np.ndarray]) -> dict[Pair, np.ndarray]:
    """Raw cosine similarity Q R^T of L2-normalised descriptors: identical for every localiser."""
    for q, r in pairs:
        for vid in (q, r):
            if vid not in desc:
                raise KeyError(f"no descriptors for video id {vid!r}")
    return {(q, r): desc[q] @ desc[r].T for q, r in pairs}


def run_localiser(
    localiser: Callable[[np.ndarray], list[Segment]], matrices: dict[Pair, np.ndarray]
) -> tuple[list[Match], float]:
    """Predictions in seconds and mean wall time per pair (ms)."""
    predictions = []
    start = time.perf_counter()
    for (q, r), sim in matrices.items():
        predictions += segments_to_matches(localiser(sim), q, r)
    elapsed = time.perf_counter() - start
    return predictions, 1000 * elapsed / max(len(matrices), 1)


def evaluate_predictions(
    gts: list[Match], predictions: list[Match], query_ids: list[str], n_bootstrap: int, seed: int
) -> dict:
    values = bootstrap_values(gts, [predictions], query_ids, n_bootstrap, seed)[:, 0]
    lo, hi = np.quantile(values, [0.025, 0.975]) if len(values) else [np.nan, np.nan]
    return {
        "segment_micro_ap": segment_micro_ap(gts, predictions),
        "segment_micro_ap_ci95": [float(lo), float(hi)],
        "segment_micro_ap_se": float(values.std(ddof=1)) if len(values) > 1 else float("nan"),
        "pairwise_micro_ap": pairwise_micro_ap(gts, predictions),
        "boundary": boundary_errors(gts, predictions),
        "n_predictions": len(predictions),
    }


def descriptor_track_uap(gts: list[Match], pairs: list[CandidatePair]) -> float:
    return candidate_micro_ap(sorted({g.pair_id for g in gts}), pairs)


def describe(
    kind: str,
    train: Benchmark,
    splits: list[Benchmark],
    pca_dim: int,
    input_size: int,
    model_spec: str = "efficientnet-lite0",
) -> list[dict[str, np.ndarray]]:
    """Fit whitening on the training references; describe every video of each split."""
    extractor = DescriptorExtractor(kind, pca_dim, model_spec, input_size).fit(train.refs)
    return [extractor({**s.queries, **s.refs}) for s in splits]


def lookalike_fraction(bench: Benchmark, desc: dict[str, np.ndarray]) -> dict:
    """How many non-copy query frames look like a copy (issue 16): each query frame's best
    similarity to any reference frame of the split; the share of frames outside every GT
    segment whose best similarity is >= the median over frames inside one. These are labelled
    negatives although a descriptor sees them as copies (same source, similar framing)."""
    refs = np.concatenate([desc[r] for r in sorted(bench.refs)])
    copied: dict[str, set[int]] = {}
    for m in bench.ground_truth:
        frames = range(int(np.floor(m.query_start)), int(np.ceil(m.query_end)))
        copied.setdefault(m.query_id, set()).update(frames)
    inside, outside = [], []
    for q in sorted(bench.queries):
        best = (desc[q] @ refs.T).max(axis=1)
        mask = np.zeros(len(best), dtype=bool)
        mask[[t for t in copied.get(q, ()) if t < len(best)]] = True
        inside.append(best[mask])
        outside.append(best[~mask])
    inside, outside = np.concatenate(inside), np.concatenate(outside)
    if not len(inside) or not len(outside):
        return {"n_copied_frames": len(inside), "n_noncopy_frames": len(outside)}
    median = float(np.median(inside))
    return {
        "median_best_sim_copied": median,
        "fraction_noncopy_at_least_median": float(np.mean(outside >= median)),
        "n_copied_frames": int(len(inside)),
        "n_noncopy_frames": int(len(outside)),
    }
