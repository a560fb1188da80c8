"""Localisers on hand-made similarity matrices, heat-map targets, TTA equivariance, tiling."""

import numpy as np
import pytest
from vsc_sam.localization.dynamic_programming import DynamicProgramming
from vsc_sam.localization.heatmap import copy_line_target
from vsc_sam.localization.line_decoder import LineDecoder
from vsc_sam.localization.sam_net import SAMPredictor, SAMUNet, tiled_apply
from vsc_sam.localization.temporal_network import TemporalNetwork


def line_matrix(h, w, lines, noise=0.02, seed=0, value=0.9):
    """Zero matrix + small noise with lines (qs, qe, rs, slope, reversed) of high similarity."""
    rng = np.random.default_rng(seed)
    sim = rng.normal(0.05, noise, (h, w))
    for qs, qe, rs, slope, rev in lines:
        n = qe - qs
        for k in range(n):
            t = n - 1 - k if rev else k
            sim[qs + k, int(rs + (t + 0.5) * slope)] = value
    return sim.astype(np.float32)


RAW_DECODER = LineDecoder(passes=((0.5, 0.5),))
LOCALISERS = {"tn": TemporalNetwork(), "dp": DynamicProgramming(), "sam_post": RAW_DECODER}


@pytest.mark.parametrize("name", LOCALISERS)
def test_clean_diagonal(name):
    segs = LOCALISERS[name](line_matrix(40, 50, [(5, 25, 12, 1.0, False)]))
    assert len(segs) == 1
    s = segs[0]
    # seconds = [first, last + 1): ends are exclusive, no 1 s cut
    assert abs(s.q_start - 5) <= 1 and abs(s.q_end - 25) <= 1
    assert abs(s.r_start - 12) <= 1 and abs(s.r_end - 32) <= 1


def test_decoder_exact_boundaries_and_official_cut():
    sim = line_matrix(40, 50, [(5, 25, 12, 1.0, False)])
    (s,) = RAW_DECODER(sim)
    assert (s.q_start, s.q_end, s.r_start, s.r_end) == (5, 25, 12, 32)
    (cut,) = LineDecoder(passes=((0.5, 0.5),), official_end_cut=True)(sim)
    assert (cut.q_end, cut.r_end) == (24, 31)


@pytest.mark.parametrize("slope", [1.5, 0.67])
@pytest.mark.parametrize("name", LOCALISERS)
def test_speed_change(name, slope):
    sim = line_matrix(60, 60, [(5, 35, 4, slope, False)])
    segs = LOCALISERS[name](sim)
    best = max(segs, key=lambda s: s.q_end - s.q_start)
    assert abs(best.q_start - 5) <= 1 and abs(best.q_end - 35) <= 2
    assert abs(best.r_start - 4) <= 1 and abs(best.r_end - (4 + 30 * slope)) <= 2


def test_speed_penalty_applied():
    (flat,) = RAW_DECODER(line_matrix(60, 60, [(5, 35, 4, 1.0, False)]))
    (fast,) = RAW_DECODER(line_matrix(60, 60, [(5, 25, 4, 1.5, False)]))
    assert flat.score - fast.score == pytest.approx(0.05, abs=0.03)


@pytest.mark.parametrize("name", LOCALISERS)
def test_two_disjoint_diagonals(name):
    sim = line_matrix(60, 60, [(2, 17, 30, 1.0, False), (30, 50, 5, 1.0, False)])
    segs = sorted(LOCALISERS[name](sim), key=lambda s: s.q_start)
    assert len(segs) == 2
    assert abs(segs[0].q_start - 2) <= 1 and abs(segs[0].r_start - 30) <= 1
    assert abs(segs[1].q_start - 30) <= 1 and abs(segs[1].r_start - 5) <= 1


def test_reversed_line_supported_by_decoder_only_when_enabled():
    sim = line_matrix(40, 40, [(5, 25, 8, 1.0, True)])
    (s,) = RAW_DECODER(sim)
    assert (s.q_start, s.q_end, s.r_start, s.r_end) == (5, 25, 8, 28)
    assert LineDecoder(passes=((0.5, 0.5),), allow_reversed=False)(sim) == []


def test_no_copy_no_segment():
    sim = line_matrix(40, 40, [])
    for localiser in LOCALISERS.values():
        assert localiser(sim) == []


def test_label_generator():
    t = copy_line_target((30, 30), [(5, 15, 10, 20)])
    assert t.min() >= 0 and t.max() <= 1
    for k in range(10):
        assert t[5 + k, 10 + k] == pytest.approx(1.0)
    assert t[:5].sum() == 0 and t[15:].sum() == 0 and t[:, :10].sum() == 0 and t[:, 20:].sum() == 0
    assert t[6, 13] == 0  # distance sqrt(2) >= 1
    assert t[6, 12] == pytest.approx(np.sqrt(1 - 1 / np.sqrt(2)), abs=1e-6)
    # transposing the segment transposes the target
    assert np.array_equal(copy_line_target((30, 30), [(10, 20, 5, 15)]), t.T)
    rev = copy_line_target((30, 30), [(5, 15, 10, 20)], [True])
    assert rev[5, 19] == pytest.approx(1.0) and rev[14, 10] == pytest.approx(1.0)


class Symmetric:
    """A 'model' that is transpose-symmetric: logits from x + x^T."""

    depth = 3

    def to(self, device):
        return self

    def eval(self):
        return self

    def __call__(self, x):
        import torch

        s = x + x.transpose(2, 3)
        return torch.cat([-s, s], dim=1)


def test_tta_equivariance_with_symmetric_model():
    sim = np.random.default_rng(0).normal(size=(40, 56)).astype(np.float32)
    predictor = SAMPredictor(Symmetric(), tile=64, overlap=16)
    assert np.allclose(predictor(sim), predictor(sim.T).T, atol=1e-6)


def test_tiling_equals_full_for_pointwise_map():
    sim = np.random.default_rng(1).normal(size=(300, 170)).astype(np.float32)
    tiled = tiled_apply(lambda x: np.tanh(x) * 2, sim, tile=64, overlap=16)
    assert tiled.shape == sim.shape
    assert np.allclose(tiled, np.tanh(sim) * 2, atol=1e-6)


def test_tiled_network_covers_large_matrix_and_batch_matches():
    import torch

    torch.manual_seed(0)
    predictor = SAMPredictor(SAMUNet(width=4, depth=2), tile=32, overlap=8)
    big = np.random.default_rng(2).uniform(size=(90, 70)).astype(np.float32)
    out = predictor(big)
    assert (
        out.shape == big.shape and np.isfinite(out).all() and (0 <= out).all() and (out <= 1).all()
    )
    small = [big[:20, :30], big[30:62, 10:40]]
    batched = predictor.batch(small, canvas=32)
    for s, b in zip(small, batched, strict=True):
        assert np.allclose(predictor(s), b, atol=1e-5)
