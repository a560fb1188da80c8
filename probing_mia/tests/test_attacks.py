"""Score identities of the black-box attacks, on hand cases and on a real tiny model."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch

from probing_mia import attacks
from probing_mia.scoring import TokenStats, token_stats


def stats(logp, mu=None, sigma=None) -> TokenStats:
    logp = np.asarray(logp, dtype=float)
    return TokenStats(logp, np.zeros_like(logp) if mu is None else np.asarray(mu, float),
                      np.ones_like(logp) if sigma is None else np.asarray(sigma, float))


def test_minkpp_hand_case():
    s = stats([-1.0, -4.0, -0.5, -2.0], mu=[-2.0, -2.0, -1.0, -1.0], sigma=[1.0, 2.0, 0.5, 1.0])
    # z = [1, -1, 1, -1]; lowest 50% (2 tokens) -> mean(-1, -1) = -1
    assert attacks.minkpp_score(s, 0.5) == pytest.approx(-1.0)
    # lowest 25% -> 1 token -> -1; k=1 -> mean z = 0
    assert attacks.minkpp_score(s, 0.25) == pytest.approx(-1.0)
    assert attacks.minkpp_score(s, 1.0) == pytest.approx(0.0)
    # Min-K% on the same: sorted logp [-4, -2, -1, -0.5]; lowest 50% -> -3
    assert attacks.mink_score(s, 0.5) == pytest.approx(-3.0)
    assert attacks.mink_score(s, 1.0) == pytest.approx(attacks.loss_score(s))


def test_zlib_and_ref_ratios_on_known_strings():
    text = "abcabcabcabcabcabc"
    s = stats([-2.0, -4.0])
    assert attacks.zlib_entropy(text) == len(zlib.compress(text.encode()))
    assert attacks.zlib_score(s, text) == pytest.approx(-3.0 / len(zlib.compress(text.encode())))
    assert attacks.ref_score(s, stats([-1.0, -1.0])) == pytest.approx(-2.0)
    assert attacks.lowercase_score(s, stats([-6.0, -6.0])) == pytest.approx(2.0)
    assert attacks.neighbor_score(s, [stats([-5.0]), stats([-3.0])]) == pytest.approx(1.0)


def test_lowercase_fixed_point_on_real_model(tiny_pair):
    model, tokenizer = tiny_pair
    text = "the cat sat on the mat"
    orig, lower = token_stats(model, tokenizer, [text, text.lower()], 64)
    assert attacks.lowercase_score(orig, lower) == pytest.approx(1.0)


def test_token_stats_equal_direct_computation(tiny_pair):
    model, tokenizer = tiny_pair
    texts = ["a dog ran in the park", "we study covering spectra of complete metric spaces"]
    batched = token_stats(model, tokenizer, texts, 64, batch_size=2)
    for text, got in zip(texts, batched, strict=True):
        ids = torch.tensor([[tokenizer.bos_token_id] + tokenizer(text)["input_ids"]])
        with torch.no_grad():
            logp = torch.log_softmax(model(ids).logits[0, :-1].double(), -1)
        chosen = logp.gather(-1, ids[0, 1:, None]).squeeze(-1)
        mu = (logp.exp() * logp).sum(-1)
        var = (logp.exp() * (logp - mu[:, None]) ** 2).sum(-1)
        np.testing.assert_allclose(got.logp, chosen.numpy(), atol=1e-5)
        np.testing.assert_allclose(got.mu, mu.numpy(), atol=1e-5)
        np.testing.assert_allclose(got.sigma, var.sqrt().numpy(), atol=1e-5)


def test_neighbours_are_deterministic_and_change_the_stated_fraction():
    gen = attacks.WordSwapNeighbours(["alpha beta gamma delta epsilon"], fraction=0.25, seed=3)
    text = "one two three four five six seven eight, with punctuation."
    first = gen(text, 7, 3)
    assert first == gen(text, 7, 3) and len(set(first)) > 1
    for neighbour in first:
        # 10 alphabetic words of >= 3 letters, 25 % -> exactly 2 replaced (the vocabulary
        # shares no word with the text); punctuation and spacing are kept.
        changed = sum(a != b for a, b in zip(text.split(), neighbour.split(), strict=True))
        assert changed == 2
        assert [c for c in neighbour if not c.isalpha()] == [c for c in text if not c.isalpha()]
