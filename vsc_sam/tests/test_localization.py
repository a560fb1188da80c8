"""Localisers on hand-made similarity matrices, heat-map targets, TTA equivariance, tiling."""

import numpy as np
import pytest
import scipy.ndimage
from hypothesis import given
from hypothesis import strategies as st
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
# TN as configured in configs/eval.yaml. VCSL's TN prepends one below-threshold node to a path
# when one lies within max_step before the copy (a path's first node is not checked by C4,
# tests/test_temporal_network.py), so its starts may be up to max_step - 1 frames early.
TN = TemporalNetwork(top_k=5, min_sim=0.3, max_step=5, min_length=4)
LOCALISERS = {"tn": TN, "dp": DynamicProgramming(), "sam_post": RAW_DECODER}
START_SLACK = {"tn": TN.max_step - 1}


@pytest.mark.parametrize("name", LOCALISERS)
def test_clean_diagonal(name):
    segs = LOCALISERS[name](line_matrix(40, 50, [(5, 25, 12, 1.0, False)]))
    assert len(segs) == 1
    s, slack = segs[0], START_SLACK.get(name, 1)
    # seconds = [first, last + 1): ends are exclusive, no 1 s cut
    assert -slack <= s.q_start - 5 <= 1 and abs(s.q_end - 25) <= 1
    assert -slack <= s.r_start - 12 <= 1 and abs(s.r_end - 32) <= 1


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
    best, slack = max(segs, key=lambda s: s.q_end - s.q_start), START_SLACK.get(name, 1)
    assert -slack <= best.q_start - 5 <= 1 and abs(best.q_end - 35) <= 2
    assert -slack <= best.r_start - 4 <= 1 and abs(best.r_end - (4 + 30 * slope)) <= 2


def test_speed_penalty_applied():
    (flat,) = RAW_DECODER(line_matrix(60, 60, [(5, 35, 4, 1.0, False)]))
    (fast,) = RAW_DECODER(line_matrix(60, 60, [(5, 25, 4, 1.5, False)]))
    assert flat.score - fast.score == pytest.approx(0.05, abs=0.03)


@pytest.mark.parametrize("name", LOCALISERS)
def test_two_disjoint_diagonals(name):
    sim = line_matrix(60, 60, [(2, 17, 30, 1.0, False), (30, 50, 5, 1.0, False)])
    segs = sorted(LOCALISERS[name](sim), key=lambda s: s.q_start)
    assert len(segs) == 2
    slack = START_SLACK.get(name, 1)
    assert -slack <= segs[0].q_start - 2 <= 1 and -slack <= segs[0].r_start - 30 <= 1
    assert -slack <= segs[1].q_start - 30 <= 1 and -slack <= segs[1].r_start - 5 <= 1


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


def convolution(radius: int):
    """A non-pointwise map: (2r+1)^2 convolution with zero padding and a fixed random kernel."""
    kernel = np.random.default_rng(radius).normal(size=(2 * radius + 1,) * 2)
    return lambda x: scipy.ndimage.correlate(x.astype(np.float64), kernel, mode="constant")


def seam_margin(n: int, tile: int, overlap: int) -> int:
    """Smallest distance from a seam to the cut edge of the tiles on either side (inf: 1 tile)."""
    if n <= tile:
        return 10**9
    starts = list(range(0, n - tile, tile - overlap)) + [n - tile]
    return min((a + tile - b) // 2 for a, b in zip(starts, starts[1:], strict=False))


@given(
    h=st.integers(20, 200),
    w=st.integers(20, 200),
    tile=st.sampled_from([32, 48, 64]),
    radius=st.integers(1, 14),
)
def test_tiling_is_exact_for_a_convolution_within_half_the_overlap(h, w, tile, radius):
    # Seams: every tile keeps only rows/columns at least overlap // 2 from its cut edges, so a
    # convolution of radius <= overlap // 2 sees the same neighbourhood as on the whole matrix.
    sim = np.random.default_rng(h * 1000 + w).normal(size=(h, w)).astype(np.float32)
    conv, overlap = convolution(radius), 16
    ph, pw = (max(tile, -(-n // 8) * 8) if n > tile else tile for n in (h, w))
    full = conv(np.pad(sim, ((0, ph - h), (0, pw - w))))[:h, :w]
    tiled = tiled_apply(conv, sim, tile=tile, overlap=overlap)
    margin = min(seam_margin(ph, tile, overlap), seam_margin(pw, tile, overlap))
    assert margin >= overlap // 2
    if radius <= margin:
        assert np.allclose(tiled, full, atol=1e-9)
    else:  # a kernel wider than the margin does see a seam: the test can fail
        assert not np.allclose(tiled, full, atol=1e-9)


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
