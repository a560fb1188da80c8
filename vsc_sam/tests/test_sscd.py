"""SSCD-style descriptor: InfoNCE and KoLeo on hand-computed cases, training lowers the loss,
checkpoint -> descriptor extractor, and no train/test leakage."""

import math

import numpy as np
import pytest
import torch
from vsc_sam.benchmark import BenchmarkConfig, generate_benchmark
from vsc_sam.descriptors import DescriptorExtractor
from vsc_sam.sscd import (
    SSCDConfig,
    SSCDNet,
    ViewSampler,
    check_no_leakage,
    info_nce,
    koleo,
    sscd_loss,
    train_sscd,
    training_videos,
)


def test_info_nce_single_pair_is_zero():
    z1, z2 = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.6, 0.8]])
    # each view's only non-self candidate is its twin -> probability 1
    assert float(info_nce(z1, z2, 0.1)) == pytest.approx(0.0, abs=1e-6)


def test_info_nce_hand_computed():
    e1, e2 = [1.0, 0.0], [0.0, 1.0]
    z1, z2 = torch.tensor([e1, e2]), torch.tensor([e1, e2])
    # every view: twin logit 1/t, two orthogonal negatives with logit 0
    for t in (1.0, 0.5):
        expected = -math.log(math.exp(1 / t) / (math.exp(1 / t) + 2))
        assert float(info_nce(z1, z2, t)) == pytest.approx(expected, rel=1e-6)
    # swapped twins: positive logit 0, negatives {1/t (same vector), 0}
    z2s = torch.tensor([e2, e1])
    expected = -math.log(1 / (1 + math.exp(1.0) + 1))
    assert float(info_nce(z1, z2s, 1.0)) == pytest.approx(expected, rel=1e-6)


def test_info_nce_rejects_mismatched_batches():
    with pytest.raises(ValueError, match="equal"):
        info_nce(torch.zeros(2, 3), torch.zeros(3, 3), 0.1)


def test_koleo_known_point_sets():
    square = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    assert float(koleo(square)) == pytest.approx(-0.5 * math.log(2), rel=1e-5)
    line = torch.tensor([[0.0], [1.0], [3.0]])  # nearest-neighbour distances 1, 1, 2
    assert float(koleo(line)) == pytest.approx(-math.log(2) / 3, rel=1e-5)
    # spreading the points lowers the regulariser
    assert float(koleo(2 * line)) < float(koleo(line))
    with pytest.raises(ValueError, match=">= 2"):
        koleo(torch.zeros(1, 3))


def test_sscd_loss_combines_terms():
    z1, z2 = torch.eye(3)[:2], torch.eye(3)[:2]
    loss, parts = sscd_loss(z1, z2, 0.5, 2.0)
    assert float(loss) == pytest.approx(parts["info_nce"] + 2.0 * parts["koleo"], rel=1e-6)


def _tiny_videos(n=10, frames=4, size=24, seed=0):
    rng = np.random.default_rng(seed)
    videos = {}
    for i in range(n):
        base = rng.integers(0, 256, (6, 6, 3)).astype(np.uint8)
        img = np.kron(base, np.ones((size // 6, size // 6, 1), dtype=np.uint8))
        videos[f"R{i:06d}"] = np.stack([np.roll(img, k, 1) for k in range(frames)])
    return videos


def test_a_few_steps_lower_the_loss(tmp_path):
    torch.set_num_threads(1)
    videos = _tiny_videos()
    cfg = SSCDConfig(
        width=8, dim=16, input_size=24, steps=40, batch_size=8, lr=3e-3, koleo_weight=0.1
    )
    fixed = ViewSampler(videos, cfg, seed=123)
    batches = [fixed.batch() for _ in range(3)]

    def held_out_loss(model):
        model.eval()
        with torch.no_grad():
            return np.mean(
                [
                    float(sscd_loss(model(a), model(b), cfg.temperature, cfg.koleo_weight)[0])
                    for a, b in batches
                ]
            )

    torch.manual_seed(cfg.seed)
    before = held_out_loss(SSCDNet(cfg.width, cfg.dim))  # same init as train_sscd
    model, log = train_sscd(videos, cfg, tmp_path, progress=False)
    after = held_out_loss(model)
    assert after < before - 0.1, (before, after)
    assert log[-1]["step"] == cfg.steps
    # checkpoint -> whitened, L2-normalised descriptors
    extractor = DescriptorExtractor("sscd", pca_dim=8, model_spec=str(tmp_path)).fit(videos)
    desc = extractor({"R000000": videos["R000000"]})["R000000"]
    assert desc.shape == (4, 8)
    assert np.allclose(np.linalg.norm(desc, axis=1), 1, atol=1e-5)


def test_no_train_test_leakage(tmp_path):
    train = generate_benchmark(
        BenchmarkConfig(n_queries=6, n_refs=4, frame_size=24, positive_fraction=0.5, seed=0)
    )
    test = generate_benchmark(
        BenchmarkConfig(n_queries=6, n_refs=4, frame_size=24, seed=1, id_offset=100000)
    )
    videos = training_videos(train)
    positive = {m.query_id for m in train.ground_truth}
    assert set(videos) <= set(train.queries) | set(train.refs)
    assert set(train.refs) <= set(videos) and not positive & set(videos)
    test_ids = set(test.queries) | set(test.refs)
    assert not set(videos) & test_ids
    with pytest.raises(ValueError, match="overlap the held-out split"):
        train_sscd({**videos, **test.refs}, SSCDConfig(steps=1), forbidden_ids=test_ids)
    cfg = SSCDConfig(width=4, dim=8, input_size=24, steps=1, batch_size=4)
    train_sscd(videos, cfg, tmp_path, forbidden_ids=test_ids, progress=False)
    # the checkpoint records exactly the training ids; eval re-checks them on load
    from vsc_sam.checkpoint import read_state

    state = read_state(tmp_path)
    assert state["config"]["train_video_ids"] == sorted(videos)
    check_no_leakage(state["config"]["train_video_ids"], test_ids)
    with pytest.raises(ValueError, match="overlap"):
        check_no_leakage(state["config"]["train_video_ids"], set(train.refs))
