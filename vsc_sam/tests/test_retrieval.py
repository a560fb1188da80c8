"""Descriptors, score normalisation identity, faiss vs brute force, global-k candidates."""

import numpy as np
import pytest
from vsc_sam.descriptors import PCAWhitening, classical_features, l2_normalize
from vsc_sam.retrieval import ScoreNormalizer, global_k_candidates, knn_search


def test_score_normalisation_identity():
    rng = np.random.default_rng(0)
    q, r, noise = (l2_normalize(rng.normal(size=(n, 16)).astype(np.float32)) for n in (7, 9, 30))
    norm = ScoreNormalizer(noise, frozenset({"R900"}), beta=1.3, k=3)
    s_noise = np.sort(q @ noise.T, axis=1)[:, -3:].mean(1)
    got = norm.queries(q) @ norm.refs(r).T
    assert np.allclose(got, q @ r.T - 1.3 * s_noise[:, None], atol=1e-5)
    with pytest.raises(ValueError, match="overlaps"):
        norm.check_disjoint(["R1", "R900"])


def test_faiss_equals_brute_force():
    rng = np.random.default_rng(1)
    q, db = (
        rng.normal(size=(20, 8)).astype(np.float32),
        rng.normal(size=(100, 8)).astype(np.float32),
    )
    sims, idx = knn_search(q, db, 5)
    brute = q @ db.T
    expected = np.sort(brute, axis=1)[:, ::-1][:, :5]
    assert np.allclose(sims, expected, atol=1e-5)
    assert np.allclose(np.take_along_axis(brute, idx, 1), sims, atol=1e-5)


def test_global_k_keeps_largest_similarities_over_all_queries():
    rng = np.random.default_rng(2)
    queries = {f"Q{i}": l2_normalize(rng.normal(size=(4, 8))).astype(np.float32) for i in range(3)}
    refs = {f"R{i}": l2_normalize(rng.normal(size=(5, 8))).astype(np.float32) for i in range(6)}
    pairs = global_k_candidates(queries, refs, k_per_query=4, pairs_per_query=100)
    all_sims = np.concatenate([(queries[q] @ refs[r].T).ravel() for q in queries for r in refs])
    threshold = np.sort(all_sims)[::-1][12 - 1]  # 4 per query x 3 queries, one global threshold
    expected = {
        (q, r): float((queries[q] @ refs[r].T).max())
        for q in queries
        for r in refs
        if (queries[q] @ refs[r].T).max() >= threshold - 1e-6
    }
    assert {p.pair_id for p in pairs} == set(expected)
    for p in pairs:
        assert p.score == pytest.approx(expected[p.pair_id], abs=1e-5)


def test_pca_whitening_is_white():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(500, 10)) @ rng.normal(size=(10, 10))
    w = PCAWhitening.fit(x, 10)
    z = (x - w.mean) @ w.projection
    assert np.allclose(np.cov(z.T), np.eye(10), atol=1e-3)


def test_classical_features_flip_invariant_and_discriminative():
    rng = np.random.default_rng(4)
    a, b = (rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in range(2))
    fa, fflip, fb = classical_features(np.stack([a, a[:, ::-1].copy(), b]))
    assert np.allclose(fa, fflip, atol=1e-4)
    assert not np.allclose(fa, fb, atol=1e-2)
